/**
 * `deno task bench`: Switchboard against a bare WebSocket relay, measured in the same run.
 *
 * The load generator is this process; each server under test runs in its own child process
 * (`targets.ts`). Every throughput case runs over JSON and MessagePack, for several rounds,
 * router and relay interleaved (the order alternates per round); the report gives for each
 * the median deliveries per second of both and their ratio. The idle-memory case starts a
 * fresh process per target and reports RSS growth per idle session.
 *
 * Router-only variants of a case (`targets: ["router"]` in `cases.ts`) are compared with their
 * base case's router figure in the tables of `COMPARISONS` (statistics overhead, routing cost
 * vs subscriptions, RawSocket vs WebSocket: `fanout-rawsocket` runs the `fanout` load on the
 * same router process over its RawSocket transport). Each round runs every case for one serializer, then the next serializer;
 * even rounds reverse both the case order and the router/relay order, so a variant and its base
 * case run close together and neither always goes first.
 *
 * Flags:
 *   --quick            1 round, 0.2 s warm-up + 0.5 s per measurement, 1,000 idle sessions
 *   --case LIST        comma-separated case names (`fan*` for a prefix); default: all but opt-in
 *   --serializer LIST  json,msgpack (default both)
 *   --targets LIST     router,relay (default both)
 *   --rounds N         rounds per case (default 3)
 *   --duration S       measured seconds per measurement (default 2)
 *   --warmup S         warm-up seconds before each measurement (default 0.5)
 *   --sessions N       idle sessions for the memory case (default 5,000)
 *   --stats N          router config: realms[0].stats.trigger_after_rated_messages = N
 *   --set PATH=JSON    router config override, repeatable (path from the node config root)
 *   --cpu-prof DIR     write a V8 CPU profile of each router process into DIR (written when
 *                      the process ends; summarize with bench/profile_summary.ts)
 *   --heap-snapshot DIR  idle-memory: write a V8 heap snapshot of the router after GC, before
 *                      and after opening the sessions, into DIR
 *   --json             print one JSON document instead of tables
 *   --list             list the cases and exit
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Serializer } from "../src/serializer/serializer.ts";
import {
  type BenchCase,
  CASES,
  type Comparison,
  COMPARISONS,
  type MemoryLoad,
  selectCases,
  type StormLoad,
} from "./cases.ts";
import { buildNodeConfig, type ConfigOverride, parseOverride, statsOverride } from "./config.ts";
import {
  type Endpoint,
  inBatches,
  openIdle,
  type PreparedLoad,
  preparePubSub,
  prepareRpc,
} from "./loads.ts";
import { percentile, prepareLatency, runStorm } from "./session_loads.ts";
import { BENCH_SERIALIZERS } from "./serializers.ts";
import {
  openFileLimit,
  ownCpuSeconds,
  type ServerProcess,
  type StartOptions,
  startTarget,
  type TargetName,
  TargetStartError,
} from "./targets.ts";
import type { WampTransport } from "./wamp_client.ts";

/** Resolved command-line options. */
interface Options {
  readonly cases: BenchCase[];
  readonly serializers: Array<[string, Serializer]>;
  readonly targets: TargetName[];
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly sessions: number | null;
  readonly quick: boolean;
  readonly json: boolean;
  readonly overrides: ConfigOverride[];
  /** `--cpu-prof`: directory for the router processes' CPU profiles. */
  readonly cpuProfDir: string | undefined;
  /** `--heap-snapshot`: directory for the idle-memory router's heap snapshots. */
  readonly heapSnapshotDir: string | undefined;
}

/** One measurement. */
interface Sample {
  readonly round: number;
  /** Deliveries per second over the measured window. */
  readonly rate: number;
  readonly deliveries: number;
  readonly seconds: number;
  /** CPU use of the server process during the window, in cores (1.0 = one core busy). */
  readonly serverCpu: number | null;
  /** CPU use of the load generator (this process) during the window, in cores. */
  readonly loadgenCpu: number;
  /**
   * Longest event-loop stall of the load generator in the window beyond a 50 ms tick; large
   * values mean the machine (or this process) stalled and the sample is suspect.
   */
  readonly loadgenMaxLagMs: number;
  /** Latency cases: median round trip time of the calls completed in the window, in ms. */
  readonly p50Ms?: number;
  /** Latency cases: 99th percentile round trip time, in ms. */
  readonly p99Ms?: number;
  /**
   * Storm cases: the server's CPU time per session from the start of the timed storm until its
   * sessions are closed and 0.5 s passed (open and close), in µs.
   */
  readonly lifecycleCpuUs?: number;
}

/** Results of one throughput case over one serializer. */
interface ThroughputResult {
  readonly case: string;
  readonly description: string;
  /** The case's load kind (`latency` results get their own table). */
  readonly kind: string;
  readonly serializer: string;
  /** Targets the case ran against (router-only variants: just the router). */
  readonly targets: TargetName[];
  readonly samples: Record<TargetName, Sample[]>;
  readonly median: Record<TargetName, number | null>;
  /** router median / relay median. */
  readonly ratio: number | null;
  /** Median over rounds of router/relay measured back to back in the same round. */
  readonly pairedRatio: number | null;
  /** Measurements that failed (the run goes on without them). */
  readonly errors: string[];
}

/** One comparison table's row: router medians of several cases over one serializer. */
interface ComparisonResult {
  readonly title: string;
  readonly serializer: string;
  /** Router median per case (null: not run or no sample). */
  readonly medians: Record<string, number | null>;
  readonly ratioLabel: string;
  /** numerator case's router median ÷ denominator case's router median. */
  readonly ratio: number | null;
  /** Median over rounds of numerator ÷ denominator router samples of the same round. */
  readonly pairedRatio: number | null;
  /** Rounds with both samples. */
  readonly pairedRounds: number;
  /**
   * Like `pairedRatio`, but of deliveries per second of router CPU (rate ÷ server cpu): the
   * router's cost per delivery, which depends less on how much CPU other work left it.
   */
  readonly pairedCpuRatio: number | null;
}

/** Result of the idle-memory case for one target. */
interface MemoryResult {
  readonly target: TargetName;
  readonly serializer: string;
  readonly sessions: number;
  readonly rssBeforeKb: number;
  readonly rssAfterKb: number;
  readonly kbPerSession: number;
  /** Growth of the V8 heap (`heapUsed`, after GC) per session, in bytes. */
  readonly heapBytesPerSession: number;
  /** Growth of V8 external memory (buffers) per session, in bytes. */
  readonly externalBytesPerSession: number;
  /** `--heap-snapshot`: the snapshots written (before, after). */
  readonly snapshots?: readonly string[];
  /** `proc`: VmRSS of /proc/<pid>/status; `self-report`: the child's Deno.memoryUsage().rss. */
  readonly rssSource: "proc" | "self-report";
  readonly gc: boolean;
  /** Sessions whose first open attempt failed and were opened on a second try. */
  readonly retries: number;
  readonly note?: string;
}

const HELP = `deno task bench [flags]   (see the module doc of bench/run.ts)
  --quick  --case LIST  --serializer LIST  --targets LIST  --rounds N  --duration S
  --warmup S  --sessions N  --stats N  --set PATH=JSON (repeatable)  --cpu-prof DIR
  --heap-snapshot DIR  --json  --list`;

function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number`);
  return n;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      case: { type: "string" },
      serializer: { type: "string" },
      targets: { type: "string" },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      sessions: { type: "string" },
      stats: { type: "string" },
      set: { type: "string", multiple: true },
      "cpu-prof": { type: "string" },
      "heap-snapshot": { type: "string" },
      json: { type: "boolean", default: false },
      list: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  if (values.list) {
    for (const c of CASES) {
      console.log(`${c.name.padEnd(18)} ${c.description}${c.optIn ? "  (opt-in)" : ""}`);
    }
    return null;
  }
  const quick = values.quick;
  const serializers = (values.serializer ?? [...BENCH_SERIALIZERS.keys()].join(","))
    .split(",").map((name): [string, Serializer] => {
      const s = BENCH_SERIALIZERS.get(name.trim());
      if (s === undefined) throw new Error(`--serializer: unknown serializer '${name}'`);
      return [name.trim(), s];
    });
  const targets = (values.targets ?? "router,relay").split(",").map((t): TargetName => {
    const name = t.trim();
    if (name !== "router" && name !== "relay") throw new Error(`--targets: unknown '${name}'`);
    return name;
  });
  const overrides: ConfigOverride[] = [];
  if (values.stats !== undefined) {
    const n = Number(values.stats);
    if (!Number.isInteger(n) || n < 0) throw new Error("--stats: expected an integer ≥ 0");
    overrides.push(statsOverride(n));
  }
  for (const text of values.set ?? []) overrides.push(parseOverride(text));
  return {
    cases: selectCases(values.case),
    serializers,
    targets,
    rounds: Math.round(positiveNumber("--rounds", values.rounds, quick ? 1 : 3)),
    durationS: positiveNumber("--duration", values.duration, quick ? 0.5 : 2),
    warmupS: positiveNumber("--warmup", values.warmup, quick ? 0.2 : 0.5),
    sessions: values.sessions === undefined
      ? null
      : Math.round(positiveNumber("--sessions", values.sessions, 1)),
    quick,
    json: values.json,
    overrides,
    cpuProfDir: absoluteDir(values["cpu-prof"]),
    heapSnapshotDir: absoluteDir(values["heap-snapshot"]),
  };
}

/**
 * A directory flag made absolute (the children run with another working directory). The
 * children create it (this process has no write permission).
 */
function absoluteDir(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : resolve(raw);
}

/** Start options of a target: profiling flags apply to the router only. */
function startOptionsFor(target: TargetName, options: Options, memory = false): StartOptions {
  if (target !== "router") return {};
  return {
    ...(options.cpuProfDir === undefined ? {} : { cpuProfDir: options.cpuProfDir }),
    ...(!memory || options.heapSnapshotDir === undefined
      ? {}
      : { heapSnapshotDir: options.heapSnapshotDir }),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function log(text: string): void {
  console.error(text);
}

/** CPU seconds of a server, or null (with a warning) when it does not answer in time. */
async function serverCpu(server: ServerProcess): Promise<number | null> {
  try {
    return await server.cpuSeconds();
  } catch (err) {
    // CPU figures are diagnostics only: the measurement stands without them.
    log(`  warning: no CPU reading from ${server.name}: ${(err as Error).message}`);
    return null;
  }
}

/** Tracks the longest event-loop delay of this process beyond a 50 ms tick. */
function lagMonitor(): { stop(): number } {
  const tick = 50;
  let max = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last - tick);
    last = now;
  }, tick);
  return {
    stop() {
      clearInterval(timer);
      return max;
    },
  };
}

/** Server processes, started on first use and kept for the whole run (one per router config). */
class ServerPool {
  readonly #servers = new Map<string, ServerProcess>();
  readonly #failed = new Map<string, string>();
  readonly #options: Options;

  constructor(options: Options) {
    this.#options = options;
  }

  /** The server for a target and config, or the reason it is unavailable. */
  async get(target: TargetName, config: unknown): Promise<ServerProcess | string> {
    const key = target === "router" ? `router ${JSON.stringify(config)}` : "relay";
    const known = this.#servers.get(key);
    if (known !== undefined) return known;
    const failed = this.#failed.get(key);
    if (failed !== undefined) return failed;
    try {
      const server = await startTarget(target, config, startOptionsFor(target, this.#options));
      this.#servers.set(key, server);
      return server;
    } catch (err) {
      if (!(err instanceof TargetStartError)) throw err;
      this.#failed.set(key, err.message);
      log(`\n*** ${target} target unavailable; its cells stay empty.\n${err.message}\n`);
      return err.message;
    }
  }

  /** Stops every server. */
  async close(): Promise<void> {
    await Promise.all([...this.#servers.values()].map((s) => s.close()));
    this.#servers.clear();
  }
}

function routerConfigFor(c: BenchCase, options: Options): unknown {
  return buildNodeConfig([...options.overrides, ...(c.routerOverrides ?? [])]);
}

async function measureThroughput(
  server: ServerProcess,
  ser: Serializer,
  c: BenchCase,
  options: Options,
  round: number,
): Promise<Sample> {
  const transport = c.transport ?? "websocket";
  const listener = c.mounted ? "mounted" : transport;
  const port = server.ports[listener];
  if (port === undefined) throw new Error(`${server.name} reported no ${listener} port`);
  const endpoint = { target: server.name, port, transport, batched: c.batched ?? false };
  if (c.load.kind === "storm") {
    return await measureStorm(server, endpoint, ser, c.load, options, round);
  }
  let load: PreparedLoad;
  let latencies: readonly number[] | null = null;
  if (c.load.kind === "pubsub") load = await preparePubSub(endpoint, ser, c.load);
  else if (c.load.kind === "rpc") load = await prepareRpc(endpoint, ser, c.load);
  else if (c.load.kind === "latency") {
    const prepared = await prepareLatency(endpoint, ser, c.load);
    latencies = prepared.latencies;
    load = prepared;
  } else throw new Error(`case ${c.name} is not a throughput case`);
  try {
    load.start();
    await sleep(options.warmupS * 1000);
    const d0 = load.deliveries();
    const t0 = performance.now();
    const l0 = ownCpuSeconds();
    const lag = lagMonitor();
    const s0 = await serverCpu(server);
    await sleep(options.durationS * 1000);
    const d1 = load.deliveries();
    const t1 = performance.now();
    const l1 = ownCpuSeconds();
    const loadgenMaxLagMs = lag.stop();
    const s1 = await serverCpu(server);
    await load.stop();
    const seconds = (t1 - t0) / 1000;
    const window = latencies?.slice(d0, d1).sort((a, b) => a - b) ?? [];
    const p50 = percentile(window, 0.5);
    const p99 = percentile(window, 0.99);
    return {
      ...(p50 === null || p99 === null ? {} : { p50Ms: p50, p99Ms: p99 }),
      round,
      rate: (d1 - d0) / seconds,
      deliveries: d1 - d0,
      seconds,
      serverCpu: s0 === null || s1 === null ? null : (s1 - s0) / seconds,
      loadgenCpu: (l1 - l0) / seconds,
      loadgenMaxLagMs,
    };
  } finally {
    await load.close();
  }
}

/** Sessions opened before the timed storm, to warm the code paths up. */
const STORM_WARMUP_SESSIONS = 200;

/**
 * The session storm: sessions opened per second (`rate`), the server's CPU over the timed part;
 * a warm-up storm of {@linkcode STORM_WARMUP_SESSIONS} first. The sessions are closed after.
 */
async function measureStorm(
  server: ServerProcess,
  endpoint: Endpoint,
  ser: Serializer,
  load: StormLoad,
  options: Options,
  round: number,
): Promise<Sample> {
  if (options.warmupS > 0) {
    const warm = await runStorm(endpoint, ser, {
      ...load,
      sessions: Math.min(load.sessions, STORM_WARMUP_SESSIONS),
    });
    await warm.close();
    await sleep(200);
  }
  let s0: number | null = null;
  let l0 = 0;
  const lag = lagMonitor();
  const storm = await runStorm(endpoint, ser, load, async () => {
    s0 = await serverCpu(server);
    l0 = ownCpuSeconds();
  });
  const l1 = ownCpuSeconds();
  const loadgenMaxLagMs = lag.stop();
  const s1 = await serverCpu(server);
  await storm.close();
  // let the server finish ending the sessions before the next measurement
  await sleep(500);
  const s2 = await serverCpu(server);
  const seconds = storm.seconds;
  return {
    ...(s0 === null || s2 === null ? {} : { lifecycleCpuUs: (s2 - s0) / storm.sessions * 1e6 }),
    round,
    rate: storm.sessions / seconds,
    deliveries: storm.sessions,
    seconds,
    serverCpu: s0 === null || s1 === null ? null : (s1 - s0) / seconds,
    loadgenCpu: (l1 - l0) / seconds,
    loadgenMaxLagMs,
  };
}

/** The `--targets` a case runs against (router-only cases: the router, if selected). */
function targetsFor(c: BenchCase, options: Options): TargetName[] {
  return options.targets.filter((t) => c.targets?.includes(t) ?? true);
}

async function runThroughput(options: Options, pool: ServerPool): Promise<ThroughputResult[]> {
  const cases = options.cases.filter((c) =>
    c.load.kind !== "memory" && targetsFor(c, options).length > 0
  );
  const results = new Map<string, ThroughputResult>();
  for (const [serName] of options.serializers) {
    for (const c of cases) {
      results.set(`${c.name}/${serName}`, {
        case: c.name,
        description: c.description,
        kind: c.load.kind,
        serializer: serName,
        targets: targetsFor(c, options),
        samples: { router: [], relay: [] },
        median: { router: null, relay: null },
        ratio: null,
        pairedRatio: null,
        errors: [],
      });
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    const forward = round % 2 === 1;
    const caseOrder = forward ? cases : [...cases].reverse();
    for (const [serName, ser] of options.serializers) {
      for (const c of caseOrder) {
        const result = results.get(`${c.name}/${serName}`)!;
        const order = forward ? result.targets : [...result.targets].reverse();
        for (const target of order) {
          const server = await pool.get(target, routerConfigFor(c, options));
          if (typeof server === "string") continue;
          let sample: Sample;
          try {
            sample = await measureThroughput(server, ser, c, options, round);
          } catch (err) {
            // Recorded and printed with the results; the other measurements still run.
            const message = err instanceof Error ? err.message : String(err);
            result.errors.push(`round ${round}, ${target}: ${message}`);
            log(
              `round ${round}/${options.rounds}  ${c.name} ${serName} ${target} FAILED: ${message}`,
            );
            continue;
          }
          result.samples[target].push(sample);
          log(
            `round ${round}/${options.rounds}  ${c.name.padEnd(16)} ${serName.padEnd(8)} ` +
              `${target.padEnd(6)} ${fmtRate(sample.rate).padStart(9)}/s  ` +
              `cpu server ${sample.serverCpu?.toFixed(2) ?? "n/a"} ` +
              `loadgen ${sample.loadgenCpu.toFixed(2)}` +
              (sample.serverCpu === null || sample.rate <= 0
                ? ""
                : `  server CPU ${(sample.serverCpu / sample.rate * 1e6).toFixed(1)} µs each`) +
              (sample.lifecycleCpuUs === undefined
                ? ""
                : ` (open + close ${sample.lifecycleCpuUs.toFixed(0)} µs)`) +
              (sample.loadgenMaxLagMs > 100
                ? `  (loadgen stalled ${sample.loadgenMaxLagMs.toFixed(0)} ms)`
                : ""),
          );
        }
      }
    }
  }
  return [...results.values()].map((r) => {
    const router = median(r.samples.router.map((s) => s.rate));
    const relay = median(r.samples.relay.map((s) => s.rate));
    const paired: number[] = [];
    for (const a of r.samples.router) {
      const b = r.samples.relay.find((x) => x.round === a.round);
      if (b !== undefined && b.rate > 0) paired.push(a.rate / b.rate);
    }
    return {
      ...r,
      median: { router, relay },
      ratio: router !== null && relay !== null && relay > 0 ? router / relay : null,
      pairedRatio: median(paired),
    };
  });
}

/** The rows of one comparison table, from the router samples of the cases it names. */
function compare(
  comparison: Comparison,
  throughput: readonly ThroughputResult[],
  serializers: readonly string[],
): ComparisonResult[] {
  const run = new Set(throughput.filter((r) => r.samples.router.length > 0).map((r) => r.case));
  const { numerator, denominator, label } = comparison.ratio;
  if (!run.has(numerator) || !run.has(denominator)) return [];
  return serializers.map((serializer) => {
    const find = (name: string) =>
      throughput.find((r) => r.case === name && r.serializer === serializer);
    const medians: Record<string, number | null> = {};
    for (const name of comparison.cases) medians[name] = find(name)?.median.router ?? null;
    const num = medians[numerator]!;
    const den = medians[denominator]!;
    const paired: number[] = [];
    const pairedCpu: number[] = [];
    const numSamples = find(numerator)?.samples.router ?? [];
    const denSamples = find(denominator)?.samples.router ?? [];
    for (const a of numSamples) {
      const b = denSamples.find((x) => x.round === a.round);
      if (b === undefined || b.rate <= 0) continue;
      paired.push(a.rate / b.rate);
      if (a.serverCpu !== null && b.serverCpu !== null && a.serverCpu > 0 && b.serverCpu > 0) {
        pairedCpu.push((a.rate / a.serverCpu) / (b.rate / b.serverCpu));
      }
    }
    return {
      title: comparison.title,
      serializer,
      medians,
      ratioLabel: label,
      ratio: num !== null && den !== null && den > 0 ? num / den : null,
      pairedRatio: median(paired),
      pairedRounds: paired.length,
      pairedCpuRatio: median(pairedCpu),
    };
  });
}

async function measureMemory(
  target: TargetName,
  ser: [string, Serializer],
  load: MemoryLoad,
  sessions: number,
  config: unknown,
  note: string | undefined,
  options: Options,
): Promise<MemoryResult | string> {
  let server: ServerProcess;
  const startOptions = startOptionsFor(target, options, true);
  try {
    server = await startTarget(target, config, startOptions);
  } catch (err) {
    if (!(err instanceof TargetStartError)) throw err;
    log(`\n*** ${target} target unavailable for idle-memory.\n${err.message}\n`);
    return err.message;
  }
  const sockets: WampTransport[] = [];
  try {
    await sleep(300);
    const gc = await server.gc();
    const before = await server.rss();
    const heapBefore = await server.heap();
    const snapshots: string[] = [];
    if (startOptions.heapSnapshotDir !== undefined) snapshots.push(await server.heapSnapshot());
    const endpoint = { target, port: server.port };
    let retries = 0;
    const open = async (): Promise<WampTransport> => {
      try {
        return await openIdle(endpoint, ser[1]);
      } catch (err) {
        // One retry: on a loaded machine a handshake can miss its deadline.
        retries++;
        log(`  idle-memory ${target}: retrying a session (${(err as Error).message})`);
        return await openIdle(endpoint, ser[1]);
      }
    };
    await inBatches(sessions, load.batch, async () => void sockets.push(await open()));
    await sleep(500);
    await server.gc();
    await sleep(100);
    const after = await server.rss();
    const heapAfter = await server.heap();
    if (startOptions.heapSnapshotDir !== undefined) snapshots.push(await server.heapSnapshot());
    const rssBeforeKb = before.kb;
    const rssAfterKb = after.kb;
    const result: MemoryResult = {
      target,
      serializer: ser[0],
      sessions,
      rssBeforeKb,
      rssAfterKb,
      kbPerSession: (rssAfterKb - rssBeforeKb) / sessions,
      heapBytesPerSession: (heapAfter.heapUsed - heapBefore.heapUsed) / sessions,
      externalBytesPerSession: (heapAfter.external - heapBefore.external) / sessions,
      ...(snapshots.length === 0 ? {} : { snapshots }),
      rssSource: after.source,
      gc,
      retries,
      ...(note === undefined ? {} : { note }),
    };
    log(
      `idle-memory ${
        target.padEnd(6)
      } ${sessions} sessions: RSS ${rssBeforeKb} → ${rssAfterKb} KiB` +
        ` = ${result.kbPerSession.toFixed(2)} KiB/session${gc ? " (after GC)" : ""}, heap ` +
        `${result.heapBytesPerSession.toFixed(0)} B/session, external ` +
        `${result.externalBytesPerSession.toFixed(0)} B/session`,
    );
    return result;
  } finally {
    // Stop the server first: the idle sockets then end on EOF instead of 5,000 close handshakes.
    await server.close();
    await Promise.all(sockets.map((ws) => ws.close(1000, "", 1000)));
  }
}

async function runMemory(
  options: Options,
): Promise<{ results: MemoryResult[]; errors: string[] }> {
  const results: MemoryResult[] = [];
  const errors: string[] = [];
  const c = options.cases.find((x) => x.load.kind === "memory");
  if (c === undefined || c.load.kind !== "memory") return { results, errors };
  let sessions = options.sessions ?? (options.quick ? 1000 : c.load.sessions);
  let note: string | undefined;
  const limit = await openFileLimit();
  // This process holds one descriptor per session; the server child (same limit) one too.
  const reserve = 200;
  if (limit !== null && sessions + reserve > limit) {
    note = `open-file limit ${limit} too low for ${sessions} sessions; ran ${limit - reserve}` +
      ` (raise it with 'ulimit -n ${sessions + 1024}' before 'deno task bench')`;
    log(`note: ${note}`);
    sessions = Math.max(1, limit - reserve);
  }
  const ser = options.serializers[0]!;
  for (const target of options.targets) {
    try {
      const r = await measureMemory(
        target,
        ser,
        c.load,
        sessions,
        routerConfigFor(c, options),
        note,
        options,
      );
      if (typeof r === "string") errors.push(`${target}: did not start`);
      else results.push(r);
    } catch (err) {
      // Recorded and printed with the results; the run's other figures still count.
      const message = err instanceof Error ? err.message : String(err);
      errors.push(`${target}: ${message}`);
      log(`idle-memory ${target} FAILED: ${message}`);
    }
  }
  return { results, errors };
}

function fmtRate(rate: number | null): string {
  if (rate === null) return "n/a";
  return rate >= 10_000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0);
}

function printTables(
  throughput: readonly ThroughputResult[],
  comparisons: readonly ComparisonResult[],
  memory: readonly MemoryResult[],
  options: Options,
): void {
  if (throughput.length > 0) {
    console.log(
      `\nDeliveries per second, median of ${options.rounds} round(s) of ${options.durationS} s ` +
        `(router and relay interleaved in the same run)`,
    );
    const head = [
      "case",
      "serializer",
      "router",
      "relay",
      "ratio",
      "router cpu",
      "relay cpu",
      "router µs",
      "relay µs",
    ];
    const rows = throughput.map((r) => {
      // "-": the case does not run against that target (router-only variants).
      const ran = (t: TargetName) => r.targets.includes(t);
      const both = ran("router") && ran("relay");
      return [
        r.case,
        r.serializer,
        ran("router") ? fmtRate(r.median.router) : "-",
        ran("relay") ? fmtRate(r.median.relay) : "-",
        !both ? "-" : r.ratio === null ? "n/a" : r.ratio.toFixed(2),
        ran("router") ? cpuCell(r.samples.router) : "-",
        ran("relay") ? cpuCell(r.samples.relay) : "-",
        ran("router") ? cpuPerDelivery(r.samples.router) : "-",
        ran("relay") ? cpuPerDelivery(r.samples.relay) : "-",
      ];
    });
    printRows([head, ...rows]);
    console.log(
      "µs = median server CPU time per delivery (per session for storm cases): cores used ÷ rate," +
        " which other work on the machine disturbs less than the rate",
    );
    console.log(
      "cpu = median cores used by server/loadgen in the window; both well under 1.0 means the" +
        " machine was busy with other work (or the load is latency-bound): compare ratios only",
    );
    if (throughput.some((r) => r.kind === "storm")) {
      console.log("storm cases: sessions opened per second (not deliveries)");
    }
    if (throughput.some((r) => r.kind === "latency")) {
      console.log("latency cases: calls per second at the fixed rate; round trip times below");
    }
    if (throughput.some((r) => r.targets.length < options.targets.length)) {
      console.log("-  = router-only variant of another case: see the comparison tables below");
    }
    for (const r of throughput) {
      for (const e of r.errors) console.log(`FAILED ${r.case}/${r.serializer} ${e}`);
    }
  }
  printLatency(throughput);
  for (const comparison of COMPARISONS) {
    const rows = comparisons.filter((x) => x.title === comparison.title);
    if (rows.length === 0) continue;
    console.log(`\n${comparison.title} (router deliveries per second, medians of the same run)`);
    printRows([
      [
        "serializer",
        ...comparison.cases,
        comparison.ratio.label,
        "per-round median",
        "per CPU-s",
      ],
      ...rows.map((x) => [
        x.serializer,
        ...comparison.cases.map((name) => fmtRate(x.medians[name]!)),
        x.ratio === null ? "n/a" : x.ratio.toFixed(3),
        x.pairedRatio === null ? "n/a" : `${x.pairedRatio.toFixed(3)} (${x.pairedRounds})`,
        x.pairedCpuRatio === null ? "n/a" : x.pairedCpuRatio.toFixed(3),
      ]),
    ], 1);
    console.log(
      `${comparison.ratio.label} = ${comparison.ratio.numerator} ÷ ` +
        `${comparison.ratio.denominator} (medians); per-round median = median of that ratio` +
        " within each round (rounds used)",
    );
    console.log(
      "per CPU-s = the same per-round median of deliveries per router CPU-second (the cost per" +
        " delivery; a busy machine disturbs it less)",
    );
    for (const line of comparison.note) console.log(line);
    if (options.overrides.length > 0) {
      console.log("note: the global router overrides of this run apply to every column");
    }
  }
  if (memory.length > 0) {
    console.log("\nIdle memory (fresh process, RSS after GC)");
    printRows([
      [
        "target",
        "sessions",
        "RSS before KiB",
        "RSS after KiB",
        "KiB/session",
        "heap B/s",
        "ext B/s",
      ],
      ...memory.map((m) => [
        m.target,
        String(m.sessions),
        String(m.rssBeforeKb),
        String(m.rssAfterKb),
        m.kbPerSession.toFixed(2),
        m.heapBytesPerSession.toFixed(0),
        m.externalBytesPerSession.toFixed(0),
      ]),
    ]);
    console.log("heap/ext B/s = growth of V8 heapUsed / external memory per session (after GC)");
    for (const m of memory) {
      for (const path of m.snapshots ?? []) console.log(`heap snapshot: ${path}`);
    }
    for (const m of memory) if (m.note !== undefined) console.log(`note: ${m.note}`);
  }
}

/** The latency cases' round trip times: medians over rounds of each round's p50 and p99. */
function printLatency(throughput: readonly ThroughputResult[]): void {
  const rows = throughput.filter((r) => r.kind === "latency");
  if (rows.length === 0) return;
  const ms = (samples: readonly Sample[], key: "p50Ms" | "p99Ms") =>
    median(samples.flatMap((s) => s[key] === undefined ? [] : [s[key]!]));
  const cell = (x: number | null) => x === null ? "n/a" : x.toFixed(2);
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b <= 0 ? "n/a" : (a / b).toFixed(2);
  console.log("\nRPC latency (ms, median over rounds of each round's percentile)");
  printRows([
    ["case", "serializer", "router p50", "router p99", "relay p50", "relay p99", "p50 ×", "p99 ×"],
    ...rows.map((r) => {
      const a50 = ms(r.samples.router, "p50Ms");
      const a99 = ms(r.samples.router, "p99Ms");
      const b50 = ms(r.samples.relay, "p50Ms");
      const b99 = ms(r.samples.relay, "p99Ms");
      return [
        r.case,
        r.serializer,
        cell(a50),
        cell(a99),
        cell(b50),
        cell(b99),
        ratio(a50, b50),
        ratio(a99, b99),
      ];
    }),
  ]);
  console.log("× = router ÷ relay (target ≤ 1.1)");
}

/** Median server CPU µs per delivery of the samples. */
function cpuPerDelivery(samples: readonly Sample[]): string {
  const m = median(
    samples.flatMap((x) => x.serverCpu === null || x.rate <= 0 ? [] : [x.serverCpu / x.rate * 1e6]),
  );
  return m === null ? "n/a" : m.toFixed(2);
}

function cpuCell(samples: readonly Sample[]): string {
  const s = median(samples.flatMap((x) => x.serverCpu === null ? [] : [x.serverCpu]));
  const l = median(samples.map((x) => x.loadgenCpu));
  return s === null || l === null ? "n/a" : `${s.toFixed(2)}/${l.toFixed(2)}`;
}

/** Prints a table; the first `leftColumns` columns are left-aligned, the others right-aligned. */
function printRows(rows: readonly string[][], leftColumns = 2): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [n, row] of rows.entries()) {
    console.log(
      row.map((cell, i) => i < leftColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))
        .join("  "),
    );
    if (n === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (options === null) return 0;
  log(
    `bench: ${options.cases.map((c) => c.name).join(", ")} × ` +
      `${options.serializers.map(([n]) => n).join("/")}; targets ${options.targets.join(", ")}; ` +
      `${options.rounds} round(s), ${options.warmupS} s warm-up + ${options.durationS} s each` +
      (options.overrides.length > 0
        ? `; router overrides ${JSON.stringify(options.overrides)}`
        : ""),
  );
  const startedAt = performance.now();
  const pool = new ServerPool(options);
  let throughput: ThroughputResult[];
  try {
    throughput = await runThroughput(options, pool);
  } finally {
    await pool.close();
  }
  const { results: memory, errors: memoryErrors } = await runMemory(options);
  const serializerNames = options.serializers.map(([n]) => n);
  const comparisons = COMPARISONS.flatMap((c) => compare(c, throughput, serializerNames));
  log(`bench: finished in ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  if (options.json) {
    console.log(JSON.stringify(
      {
        settings: {
          rounds: options.rounds,
          durationS: options.durationS,
          warmupS: options.warmupS,
          targets: options.targets,
          overrides: options.overrides,
        },
        throughput,
        comparisons,
        memory,
        memoryErrors,
      },
      null,
      2,
    ));
  } else {
    printTables(throughput, comparisons, memory, options);
    for (const e of memoryErrors) console.log(`FAILED idle-memory ${e}`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
