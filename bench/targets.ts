/**
 * Servers under test, each started as its own child process.
 *
 * - `relay`: the bare `Deno.serve` + `Deno.upgradeWebSocket` baseline (`relay.ts`).
 * - `router`: Switchboard, started by `router_server.ts` with a node config passed as JSON.
 *
 * This is the one place that knows how the router is started; adapt {@linkcode startRouter} and
 * `router_server.ts` when the router's public API changes. Both children follow the control
 * protocol of `server_control.ts` (port announcement on stdout, `gc` on stdin, exit on EOF).
 *
 * @module
 */

import { HEAP_SNAPSHOT_ENV } from "./server_control.ts";
import type { TransportKind } from "./wamp_client.ts";

/** Which server a measurement runs against. */
export type TargetName = "router" | "relay";

/** A running server child process. */
export interface ServerProcess {
  /** `router` or `relay`. */
  readonly name: TargetName;
  /** Listening (WebSocket) port on 127.0.0.1. */
  readonly port: number;
  /**
   * Port of each transport the server listens on, by type (the relay: `websocket` only; the
   * router: also `rawsocket` when its config has one, and `mounted`: the router mounted in
   * `Deno.serve` through `router.handler()`, so on Deno's own WebSocket).
   */
  readonly ports: Readonly<Partial<Record<ListenerKind, number>>>;
  /** Process id of the child (the Deno process itself). */
  readonly pid: number;
  /** Runs a full GC in the child; false when the child has no `gc()`. */
  gc(): Promise<boolean>;
  /**
   * Resident set size of the child in KiB: `VmRSS` of `/proc/<pid>/status` when this process
   * may read it (Deno allows that only with `--allow-all`), else the child's own report
   * (`Deno.memoryUsage().rss`).
   */
  rss(): Promise<RssReading>;
  /** CPU time of the child so far (user + system), in seconds, as the child reports it. */
  cpuSeconds(): Promise<number>;
  /** The child's `Deno.memoryUsage()` (bytes): V8 heap used and external memory. */
  heap(): Promise<HeapReading>;
  /**
   * Writes a V8 heap snapshot of the child (only when started with `heapSnapshotDir`); returns
   * its path.
   */
  heapSnapshot(): Promise<string>;
  /** Ends the child: closes its stdin, then kills it if it has not exited within 3 s. */
  close(): Promise<void>;
}

/** A resident-set-size reading and where it came from. */
export interface RssReading {
  readonly kb: number;
  readonly source: "proc" | "self-report";
}

/** The child's own `Deno.memoryUsage()` figures, in bytes. */
export interface HeapReading {
  readonly heapUsed: number;
  readonly external: number;
}

/**
 * A listener of a server: a transport type, or `mounted` (the router's WebSocket transport
 * served by `Deno.serve` through `router.handler()`, which a WebSocket client reaches).
 */
export type ListenerKind = TransportKind | "mounted";

/** Options shared by both targets. */
export interface StartOptions {
  /** Start the child with `--v8-flags=--expose-gc` so `gc()` works. Default true. */
  readonly exposeGc?: boolean;
  /** How long to wait for the port announcement; default 30 s. */
  readonly startTimeoutMs?: number;
  /**
   * Write a V8 CPU profile of the child into this directory (`--cpu-prof --cpu-prof-dir`): one
   * `CPU.<time>.<pid>.cpuprofile` per process, written when the child exits (through
   * `Deno.exit`, on end of its stdin). Summarize it with `profile_summary.ts`.
   */
  readonly cpuProfDir?: string;
  /**
   * Let the child write V8 heap snapshots into this directory on the `snapshot` control
   * command (the child also gets `--allow-write` for that directory).
   */
  readonly heapSnapshotDir?: string;
}

/** Raised when a child server fails to start. */
export class TargetStartError extends Error {
  override name = "TargetStartError";
}

import process from "node:process";

/** How long a child may take to answer a control command. */
const COMMAND_TIMEOUT_MS = 30_000;

const BENCH_DIR = new URL(".", import.meta.url);
/** Permissions of the server children: the loopback network only, plus what the router reads. */
const CHILD_PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-read", "--allow-env"];

/** Starts the bare relay baseline in a child process. */
export function startRelay(options: StartOptions = {}): Promise<ServerProcess> {
  return spawnServer("relay", "relay.ts", [], options);
}

/**
 * Starts the Switchboard router in a child process with the given Crossbar-shaped node config.
 *
 * @throws {TargetStartError} when the router does not come up (e.g. `mod.ts` not there yet); the
 *   message carries the tail of the child's stderr.
 */
export function startRouter(config: unknown, options: StartOptions = {}): Promise<ServerProcess> {
  return spawnServer("router", "router_server.ts", [JSON.stringify(config)], options);
}

/** Starts the named target; `config` is only used by the router. */
export function startTarget(
  name: TargetName,
  config: unknown,
  options: StartOptions = {},
): Promise<ServerProcess> {
  return name === "router" ? startRouter(config, options) : startRelay(options);
}

/**
 * Reads `VmRSS` of a process in KiB, or returns null when Deno refuses the read (`/proc` needs
 * `--allow-all`).
 */
export async function readProcRssKb(pid: number): Promise<number | null> {
  let status: string;
  try {
    status = await Deno.readTextFile(`/proc/${pid}/status`);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return null;
    }
    throw err;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** User + system CPU time of this process in seconds. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * Soft limit on open files of this process (children inherit it), or null if unknown. Asks
 * `sh -c 'ulimit -n'` (covered by `--allow-run`), since `/proc/self/limits` needs `--allow-all`.
 */
export async function openFileLimit(): Promise<number | null> {
  const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stderr: "inherit" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || text === "") return null;
  return text === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(text);
}

/** Splits a byte stream into text lines. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
  }
  if (pending !== "") yield pending;
}

async function spawnServer(
  name: TargetName,
  script: string,
  args: readonly string[],
  options: StartOptions,
): Promise<ServerProcess> {
  const flags = [...CHILD_PERMISSIONS];
  if (options.exposeGc ?? true) flags.push("--v8-flags=--expose-gc");
  if (options.cpuProfDir !== undefined) {
    flags.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`);
  }
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (options.heapSnapshotDir !== undefined) {
    flags.push(`--allow-write=${options.heapSnapshotDir}`);
    env[HEAP_SNAPSHOT_ENV] = options.heapSnapshotDir;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL(script, BENCH_DIR).pathname, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const stdin = child.stdin.getWriter();

  // Keep the last stderr lines for error messages; after start-up, forward them prefixed.
  const stderrTail: string[] = [];
  let started = false;
  const stderrDone = (async () => {
    for await (const line of lines(child.stderr)) {
      if (started) {
        console.error(`[${name}] ${line}`);
      } else {
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
      }
    }
  })();

  // stdout: JSON lines; the first with `port` is the announcement, later ones answer commands.
  const replies: Array<Record<string, unknown>> = [];
  const waiter: { wake: (() => void) | null } = { wake: null };
  let stdoutEnded = false;
  const stdoutDone = (async () => {
    for await (const line of lines(child.stdout)) {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
        console.error(`[${name}] (stdout) ${line}`);
        continue;
      }
      if (typeof value === "object" && value !== null) {
        replies.push(value as Record<string, unknown>);
        waiter.wake?.();
      }
    }
    stdoutEnded = true;
    waiter.wake?.();
  })();

  const nextReply = async (
    timeoutMs: number,
    what: string,
    id: number | null = null,
  ): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    // Answers to earlier commands that timed out arrive late: drop them.
    const stale = () => id !== null && replies.length > 0 && replies[0]!.id !== id;
    while (replies.length === 0 || stale()) {
      if (stale()) {
        replies.shift();
        continue;
      }
      if (stdoutEnded) throw new TargetStartError(`${name} exited while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new TargetStartError(`${name}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiter.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiter.wake = null;
    }
    return replies.shift()!;
  };

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await stdin.close();
    } catch (err) {
      // The child may already be gone; its exit status below tells what happened.
      if (!(err instanceof Error)) throw err;
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch (err) {
        if (!(err instanceof TypeError)) throw err; // already exited
      }
    }, 3000);
    await child.status;
    clearTimeout(timer);
    await Promise.all([stdoutDone, stderrDone]);
  };

  let port: number;
  const ports: Partial<Record<ListenerKind, number>> = {};
  try {
    const hello = await nextReply(options.startTimeoutMs ?? 30_000, "port announcement");
    if (typeof hello.port !== "number") {
      throw new TargetStartError(`${name}: unexpected first line ${JSON.stringify(hello)}`);
    }
    port = hello.port;
    // `ports` (router): one port per transport type; without it, the one port is WebSocket.
    const announced = typeof hello.ports === "object" && hello.ports !== null
      ? hello.ports as Record<string, unknown>
      : { websocket: port };
    for (const kind of ["websocket", "rawsocket", "mounted"] as const) {
      const p = announced[kind];
      if (typeof p === "number") ports[kind] = p;
    }
  } catch (err) {
    await close();
    const status = await child.status;
    await stderrDone;
    const tail = stderrTail.join("\n").trim();
    throw new TargetStartError(
      `${name} did not start (${(err as Error).message}; exit code ${status.code})` +
        (tail === "" ? "" : `\n--- ${name} stderr (tail) ---\n${tail}`),
    );
  }
  started = true;
  for (const line of stderrTail) console.error(`[${name}] ${line}`);

  // One command at a time; each carries an id that its reply echoes.
  let lastCommand: Promise<unknown> = Promise.resolve();
  let nextId = 1;
  const command = (text: string): Promise<Record<string, unknown>> => {
    const run = async () => {
      const id = nextId++;
      await stdin.write(new TextEncoder().encode(`${text} ${id}\n`));
      return await nextReply(COMMAND_TIMEOUT_MS, `reply to '${text}'`, id);
    };
    const result = lastCommand.then(run, run);
    lastCommand = result;
    return result;
  };
  const numberOf = (r: Record<string, unknown>, key: string): number => {
    const v = r[key];
    if (typeof v !== "number") throw new Error(`${name}: bad reply ${JSON.stringify(r)}`);
    return v;
  };

  return {
    name,
    port,
    ports,
    pid: child.pid,
    async gc() {
      return (await command("gc")).gc === true;
    },
    async rss() {
      const kb = await readProcRssKb(child.pid);
      if (kb !== null) return { kb, source: "proc" };
      return {
        kb: Math.round(numberOf(await command("rss"), "rss") / 1024),
        source: "self-report",
      };
    },
    async cpuSeconds() {
      return numberOf(await command("cpu"), "cpu");
    },
    async heap() {
      const r = await command("heap");
      return { heapUsed: numberOf(r, "heapUsed"), external: numberOf(r, "external") };
    },
    async heapSnapshot() {
      const r = await command("snapshot");
      if (typeof r.path !== "string") {
        throw new Error(`${name}: no heap snapshot: ${JSON.stringify(r)}`);
      }
      return r.path;
    },
    close,
  };
}
