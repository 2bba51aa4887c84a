/**
 * `deno task bench:cluster`: the cluster benchmark of issue 12, in one run.
 *
 * Processes (all on this machine): one nats-server (`-js`, monitoring port on), two router nodes
 * of one cluster (`bench-a`, `bench-b`: `router_server.ts` with the bench config and a `cluster`
 * block) and, as the reference, the single-node router (the same config without the block). This
 * process is the load generator (every client). All stay up for the whole run and are stopped at
 * the end, also on failure.
 *
 * Loads (`cluster_loads.ts`): `fanout` (1 publisher → 10 subscribers, 128 B, window 32, as in
 * `deno task bench`), `fanout-w256` (the same with window 256: deep enough that the processes,
 * not the round trip, bound the rate), `rpc` (8 callers × 4 calls in flight → 1 echoing callee,
 * 128 B), `fanout-mixed` (`fanout` with the subscribers' match policies exact, prefix and wildcard
 * in turn, every pattern matching every event: overlapping patterns on a node must still take one
 * NATS message per node), `rpc-1x1` (1 caller, 1 call in flight: the unloaded round trip) and `nats-1x1` (plain
 * nats.js request → reply between two connections, no router: the floor a cross-node call adds to
 * a single-node one, placement `bare`). Placements:
 *
 * - `single`: every client on the single-node router (no cluster; the reference);
 * - `local`: every client on node A of the cluster;
 * - `cross`: the publisher/callers on A, the subscribers/callee on B;
 * - `split` (fan-out only): the publisher on A, the subscribers alternately on B and A (5 + 5),
 *   for the scale-out figure.
 *
 * Each round measures every row once (the row order reverses every other round); the tables give
 * medians over rounds: deliveries per second, p50/p99 latency (publish → EVENT at each
 * subscriber; CALL → RESULT), the cores each process used, and for the cluster rows the NATS
 * messages per publication (call) that the nats-server received (`in`) and sent (`out`), read
 * from its `/varz` before and after the window, less the idle rate (heartbeats, KV re-writes)
 * measured before the first round. Fan-out rows check the count: in = 1 and out = the number of
 * other nodes with subscribers (one per interested node, never one per subscriber).
 *
 * Flags: `--quick` (1 round, 0.2 s warm-up + 0.5 s), `--rounds N` (3), `--duration S` (2),
 * `--warmup S` (0.5), `--serializer LIST` (json; json,msgpack,cbor), `--case LIST` (load names,
 * or `load/placement`, e.g. `fanout,rpc/cross`), `--json`, `--cpu-prof DIR` (a V8 CPU profile of
 * each router process, nodes and single-node router, into DIR, written when they stop; summarize
 * with `profile_summary.ts`).
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Serializer } from "../src/serializer/serializer.ts";
import {
  type ClusterRow,
  FANOUT_WINDOWS,
  NODE_A,
  NODE_B,
  PAYLOAD,
  type Ports,
  type RowResult,
  type Sample,
  selectRows,
  subscriberPorts,
} from "./cluster_cases.ts";
import {
  type PlacedLoad,
  prepareNatsRoundTrip,
  preparePlacedPubSub,
  preparePlacedRpc,
} from "./cluster_loads.ts";
import {
  checks,
  fmtCpu,
  fmtMs,
  fmtPer,
  fmtRate,
  natsCountOk,
  printReport,
  summarize,
} from "./cluster_report.ts";
import { type BenchCluster, startBenchCluster } from "./cluster_targets.ts";
import { buildNodeConfig } from "./config.ts";
import { BENCH_SERIALIZERS } from "./serializers.ts";
import { ownCpuSeconds, type ServerProcess, startRouter } from "./targets.ts";

interface Options {
  readonly rows: ClusterRow[];
  readonly serializers: Array<[string, Serializer]>;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly json: boolean;
  /** `--cpu-prof`: directory for the router processes' CPU profiles (absolute). */
  readonly cpuProfDir: string | undefined;
}

function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      case: { type: "string" },
      serializer: { type: "string" },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      json: { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick;
  const serializers = (values.serializer ?? "json").split(",").map((name): [string, Serializer] => {
    const s = BENCH_SERIALIZERS.get(name.trim());
    if (s === undefined) throw new Error(`--serializer: unknown serializer '${name}'`);
    return [name.trim(), s];
  });
  return {
    rows: selectRows(values.case),
    serializers,
    rounds: Math.round(positiveNumber("--rounds", values.rounds, quick ? 1 : 3)),
    durationS: positiveNumber("--duration", values.duration, quick ? 0.5 : 2),
    warmupS: positiveNumber("--warmup", values.warmup, quick ? 0.2 : 0.5),
    json: values.json,
    // the children run with another working directory, and create it themselves
    cpuProfDir: values["cpu-prof"] === undefined ? undefined : resolve(values["cpu-prof"]),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(text: string): void {
  console.error(text);
}

/** The 1-minute load average, or null when `--allow-sys=loadavg` is not granted. */
function loadAverage(): number[] | null {
  try {
    return Deno.loadavg();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return null;
    }
    throw err;
  }
}

async function cpuOf(server: ServerProcess): Promise<number | null> {
  try {
    return await server.cpuSeconds();
  } catch (err) {
    // CPU figures are diagnostics only: the measurement stands without them.
    log(`  warning: no CPU reading: ${(err as Error).message}`);
    return null;
  }
}

/** The running processes of a run. */
interface Servers {
  readonly single: ServerProcess;
  readonly cluster: BenchCluster;
  readonly ports: Ports;
  /** Idle NATS messages per second (in, out) measured before the first round. */
  readonly idle: { in: number; out: number };
}

function prepare(row: ClusterRow, ser: Serializer, servers: Servers): Promise<PlacedLoad> {
  const { placement } = row;
  const { ports } = servers;
  if (row.load === "nats-1x1") {
    return prepareNatsRoundTrip(servers.cluster.nats.url, { inFlight: 1, payloadBytes: PAYLOAD });
  }
  const near = placement === "single" ? ports.single : ports.a;
  const far = placement === "single" ? ports.single : placement === "local" ? ports.a : ports.b;
  const window = FANOUT_WINDOWS[row.load];
  if (window !== undefined) {
    return preparePlacedPubSub(ser, {
      publisherPort: near,
      subscriberPorts: subscriberPorts(placement, ports),
      payloadBytes: PAYLOAD,
      window,
      mixed: row.load === "fanout-mixed",
    });
  }
  const [callers, inFlight] = row.load === "rpc" ? [8, 4] : [1, 1];
  return preparePlacedRpc(ser, {
    callerPort: near,
    calleePort: far,
    callers,
    inFlight,
    payloadBytes: PAYLOAD,
  });
}

async function measure(
  row: ClusterRow,
  ser: Serializer,
  servers: Servers,
  options: Options,
  round: number,
): Promise<Sample> {
  const clustered = row.placement !== "single";
  const routers: Array<[string, ServerProcess]> = row.placement === "bare"
    ? []
    : clustered
    ? [["A", servers.cluster.nodes.get(NODE_A)!], ["B", servers.cluster.nodes.get(NODE_B)!]]
    : [["single", servers.single]];
  const nats = servers.cluster.nats;
  const cpus = () =>
    Promise.all([
      clustered ? nats.cpuSeconds() : Promise.resolve(null),
      ...routers.map(([, s]) => cpuOf(s)),
    ]);
  const load = await prepare(row, ser, servers);
  try {
    // NATS messages are counted over the load's whole life, from before its first publication
    // (call) to after the last has arrived, so none is in flight at either reading.
    const v0 = clustered ? await nats.varz() : null;
    const v0At = performance.now();
    load.start();
    await sleep(options.warmupS * 1000);
    const c0 = await cpus();
    const d0 = load.deliveries();
    const n0 = load.sent();
    const t0 = performance.now();
    const l0 = ownCpuSeconds();
    load.latency.start();
    await sleep(options.durationS * 1000);
    load.latency.stop();
    const d1 = load.deliveries();
    const n1 = load.sent();
    const t1 = performance.now();
    const l1 = ownCpuSeconds();
    const c1 = await cpus();
    await load.stop();
    const v1 = clustered ? await nats.varz() : null;
    const lifeS = (performance.now() - v0At) / 1000;
    const seconds = (t1 - t0) / 1000;
    const [p50 = null, p99 = null] = load.latency.quantiles([0.5, 0.99]);
    const total = load.sent();
    const per = (a: number | undefined, b: number | undefined, idle: number) =>
      a === undefined || b === undefined || total <= 0 ? null : (b - a - idle * lifeS) / total;
    const routerCpu: Record<string, number | null> = {};
    for (const [i, [name]] of routers.entries()) {
      const a = c0[i + 1] ?? null;
      const b = c1[i + 1] ?? null;
      routerCpu[name] = a === null || b === null ? null : (b - a) / seconds;
    }
    return {
      round,
      rate: (d1 - d0) / seconds,
      sentRate: (n1 - n0) / seconds,
      p50,
      p99,
      routerCpu,
      loadgenCpu: (l1 - l0) / seconds,
      natsIn: per(v0?.inMsgs, v1?.inMsgs, servers.idle.in),
      natsOut: per(v0?.outMsgs, v1?.outMsgs, servers.idle.out),
      natsCpu: c0[0] == null || c1[0] == null ? null : (c1[0] - c0[0]) / seconds,
    };
  } finally {
    await load.close();
  }
}

/** Starts the single-node router, the cluster, and measures NATS's idle message rate. */
async function startServers(cpuProfDir: string | undefined): Promise<Servers> {
  const start = cpuProfDir === undefined ? {} : { cpuProfDir };
  const single = await startRouter(buildNodeConfig([]), start);
  let cluster: BenchCluster;
  try {
    cluster = await startBenchCluster([NODE_A, NODE_B], [], start);
  } catch (err) {
    await single.close();
    throw err;
  }
  try {
    // Let the nodes find each other (heartbeats every second), then count the idle traffic.
    await sleep(1500);
    const v0 = await cluster.nats.varz();
    const t0 = performance.now();
    await sleep(2000);
    const v1 = await cluster.nats.varz();
    const s = (performance.now() - t0) / 1000;
    return {
      single,
      cluster,
      ports: {
        single: single.port,
        a: cluster.nodes.get(NODE_A)!.port,
        b: cluster.nodes.get(NODE_B)!.port,
      },
      idle: { in: (v1.inMsgs - v0.inMsgs) / s, out: (v1.outMsgs - v0.outMsgs) / s },
    };
  } catch (err) {
    await Promise.all([single.close(), cluster.close()]);
    throw err;
  }
}

async function runRows(options: Options, servers: Servers): Promise<RowResult[]> {
  const results: RowResult[] = [];
  for (const [serializer] of options.serializers) {
    for (const row of options.rows) results.push({ ...row, serializer, samples: [], errors: [] });
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const [serName, ser] of options.serializers) {
      const rows = results.filter((r) => r.serializer === serName);
      for (const r of round % 2 === 1 ? rows : [...rows].reverse()) {
        const label = `${r.load}/${r.placement}`;
        try {
          const s = await measure(r, ser, servers, options, round);
          r.samples.push(s);
          log(
            `round ${round}/${options.rounds}  ${label.padEnd(16)} ${serName.padEnd(7)} ` +
              `${fmtRate(s.rate).padStart(8)}/s  p50 ${fmtMs(s.p50)} p99 ${fmtMs(s.p99)} ms  ` +
              `cpu ${fmtCpu(s.routerCpu)} loadgen ${s.loadgenCpu.toFixed(2)}` +
              (s.natsCpu === null ? "" : ` nats ${s.natsCpu.toFixed(2)}`) +
              (s.natsIn === null ? "" : `  nats in/out per msg ${fmtPer(s.natsIn, s.natsOut)}`),
          );
        } catch (err) {
          // Recorded and printed with the results; the other rows still run.
          const message = err instanceof Error ? err.message : String(err);
          r.errors.push(`round ${round}: ${message}`);
          log(`round ${round}/${options.rounds}  ${label} ${serName} FAILED: ${message}`);
        }
      }
    }
  }
  return results;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`bench:cluster: ${(err as Error).message} (see bench/cluster_run.ts)`);
    return 2;
  }
  const before = loadAverage();
  log(
    `bench:cluster: ${options.rows.map((r) => `${r.load}/${r.placement}`).join(", ")} × ` +
      `${options.serializers.map(([n]) => n).join("/")}; ${options.rounds} round(s), ` +
      `${options.warmupS} s warm-up + ${options.durationS} s each`,
  );
  const startedAt = performance.now();
  const servers = await startServers(options.cpuProfDir);
  let results: RowResult[];
  try {
    log(
      `bench:cluster: nats-server ${servers.cluster.nats.url}, nodes A ${servers.ports.a}, ` +
        `B ${servers.ports.b}, single ${servers.ports.single}; idle NATS ` +
        `${servers.idle.in.toFixed(1)} in / ${servers.idle.out.toFixed(1)} out per s`,
    );
    results = await runRows(options, servers);
  } finally {
    await Promise.all([servers.single.close(), servers.cluster.close()]);
  }
  const after = loadAverage();
  log(`bench:cluster: finished in ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  if (options.json) {
    console.log(JSON.stringify(
      {
        settings: {
          rounds: options.rounds,
          durationS: options.durationS,
          warmupS: options.warmupS,
          serializers: options.serializers.map(([n]) => n),
        },
        loadAverage: { before, after },
        idleNatsPerSecond: servers.idle,
        rows: results.map((r) => {
          const { rate, p50, p99, natsIn, natsOut } = summarize(r);
          return { ...r, median: { rate, p50, p99, natsIn, natsOut } };
        }),
        targets: checks(results, options.serializers.map(([n]) => n)),
      },
      null,
      2,
    ));
  } else {
    printReport(results, {
      rounds: options.rounds,
      durationS: options.durationS,
      warmupS: options.warmupS,
      serializers: options.serializers.map(([n]) => n),
      idle: servers.idle,
      load: { before, after },
    });
  }
  const wrongCount = results.map(summarize).some((s) => natsCountOk(s) === false);
  return wrongCount ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
