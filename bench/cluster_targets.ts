/**
 * Servers of the cluster benchmark (`cluster_run.ts`): one nats-server and router processes.
 *
 * - {@linkcode BenchNats}: `nats-server -js` on 127.0.0.1 at a free port, with its HTTP monitoring
 *   port (`-m`) open so the benchmark can read `/varz` (`in_msgs`, `out_msgs`: the messages the
 *   server received from and sent to clients) and count the NATS messages per publication. Its
 *   JetStream store is a fresh temporary directory, removed when it stops, so no bucket of an
 *   earlier run is seen.
 * - {@linkcode startBenchCluster}: the nats-server and one router child per node name, each the
 *   bench's `router_server.ts` with the bench config (`config.ts`) plus a worker-level `cluster`
 *   block naming the node. Started through `targets.ts` like every bench router, so each follows
 *   the control protocol of `server_control.ts` and exits when its stdin closes.
 *
 * Everything started is stopped by `close()`, also when a later start fails. If this process ends
 * without it (Ctrl-C, a crash, SIGKILL), every child sees its stdin close and stops all the same:
 * the routers by the control protocol, nats-server through the shell it runs under, which also
 * removes the store.
 *
 * @module
 */

import { buildNodeConfig, type ConfigOverride, type JsonObject } from "./config.ts";
import { type ServerProcess, type StartOptions, startRouter, TargetStartError } from "./targets.ts";

/** Where the Debian package installs the server. */
export const NATS_SERVER = "/usr/sbin/nats-server";

/** A port nothing listens on right now: bound at port 0, then released. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Counters of nats-server's `/varz` the benchmark uses. */
export interface Varz {
  /** Messages received from clients (the nodes). */
  readonly inMsgs: number;
  /** Messages sent to clients. */
  readonly outMsgs: number;
  readonly inBytes: number;
  readonly outBytes: number;
  /** The server's own CPU figure (percent of one core), as `/varz` reports it. */
  readonly cpu: number;
}

/** A nats-server child with JetStream and HTTP monitoring on. */
export class BenchNats {
  readonly port: number;
  readonly monitorPort: number;
  readonly #dir: string;
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;
  readonly #pid: Promise<number>;
  #serverPid = 0;
  #log = "";
  #closed = false;

  private constructor(port: number, monitorPort: number, dir: string) {
    this.port = port;
    this.monitorPort = monitorPort;
    this.#dir = dir;
    // nats-server runs under a small shell that stops it and removes its store when its stdin
    // closes (close() below, or this process ending in any way), like the router children of
    // server_control.ts, so no server outlives the benchmark. The shell prints the server's pid
    // first; the server's own output follows.
    this.#child = new Deno.Command("sh", {
      args: [
        "-c",
        'dir="$1"; shift; "$@" & pid=$!; echo "$pid"; read -r _; kill "$pid"; wait "$pid"; ' +
        'rm -rf "$dir"',
        "sh",
        dir,
        NATS_SERVER,
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "-m",
        String(monitorPort),
        "-sd",
        dir,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let gotPid!: (pid: number) => void;
    this.#pid = new Promise((resolve) => (gotPid = resolve));
    const drain = async (stream: ReadableStream<Uint8Array>, firstLinePid: boolean) => {
      let first = firstLinePid;
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        let text = chunk;
        if (first) {
          const nl = text.indexOf("\n");
          if (nl >= 0) {
            gotPid(Number(text.slice(0, nl)));
            text = text.slice(nl + 1);
            first = false;
          }
        }
        this.#log = (this.#log + text).slice(-10_000);
      }
      if (first) gotPid(0);
    };
    this.#drained = Promise.all([
      drain(this.#child.stdout, true),
      drain(this.#child.stderr, false),
    ]).then(() => {});
  }

  /**
   * Starts a server and waits until `/varz` answers (the client port listens before that).
   *
   * @throws {TargetStartError} when it does not come up within 15 s (the message has its log).
   */
  static async start(): Promise<BenchNats> {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sb-bench-nats-" });
    const nats = new BenchNats(freePort(), freePort(), dir);
    let exited = false;
    nats.#child.status.then(() => (exited = true));
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline) {
      try {
        await nats.varz();
        nats.#serverPid = await nats.#pid;
        return nats;
      } catch (err) {
        // Not up yet (connection refused): try again shortly.
        if (!(err instanceof TypeError)) throw err;
      }
      await sleep(25);
    }
    const log = nats.#log;
    await nats.close();
    throw new TargetStartError(`nats-server did not start on port ${nats.port}\n${log}`);
  }

  /** The address nodes connect to. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The JetStream store directory (removed by `close()`). */
  get storeDir(): string {
    return this.#dir;
  }

  /** Process id of nats-server itself. */
  get pid(): number {
    return this.#serverPid;
  }

  /** Reads `/varz` of the monitoring port. */
  async varz(): Promise<Varz> {
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/varz`);
    const v = await res.json() as Record<string, unknown>;
    const num = (key: string): number => {
      const x = v[key];
      if (typeof x !== "number") throw new Error(`nats-server /varz: no number '${key}'`);
      return x;
    };
    return {
      inMsgs: num("in_msgs"),
      outMsgs: num("out_msgs"),
      inBytes: num("in_bytes"),
      outBytes: num("out_bytes"),
      cpu: num("cpu"),
    };
  }

  /**
   * CPU time of the server so far (user + system), in seconds: fields 14 and 15 of
   * `/proc/<pid>/stat`, read by `cat` (Deno reads `/proc/<pid>` only with `--allow-all`), in
   * clock ticks of 1/100 s (Linux's `USER_HZ`). Null when that fails.
   */
  async cpuSeconds(): Promise<number | null> {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${this.pid}/stat`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const text = new TextDecoder().decode(out.stdout);
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  }

  /**
   * Stops the server: closes the shell's stdin, so it stops nats-server (SIGTERM) and removes the
   * store; kills the shell if it has not ended within 5 s.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#child.stdin.close();
    } catch (err) {
      // The shell may already be gone; its exit status below tells what happened.
      if (!(err instanceof Error)) throw err;
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch (err) {
        if (!(err instanceof TypeError)) throw err; // already exited
      }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#drained;
    // The shell removed it, unless it was killed.
    await Deno.remove(this.#dir, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}

/** The bench node config with a cluster block: node `node` of the cluster at `servers`. */
export function clusterNodeConfig(
  servers: readonly string[],
  node: string,
  overrides: readonly ConfigOverride[] = [],
): JsonObject {
  const config = buildNodeConfig(overrides);
  const worker = (config.workers as JsonObject[])[0]!;
  worker.cluster = { type: "nats", servers: [...servers], node };
  return config;
}

/** A nats-server and one router process per node. */
export interface BenchCluster {
  readonly nats: BenchNats;
  /** Node processes by name, in the order given. */
  readonly nodes: ReadonlyMap<string, ServerProcess>;
  /** Stops every node, then the nats-server. */
  close(): Promise<void>;
}

/**
 * Starts a nats-server and a router process per name (in order, so their start-ups do not
 * compete for the two cores), each a node of the cluster.
 *
 * @throws {TargetStartError} when a process does not start; whatever had started is stopped.
 */
export async function startBenchCluster(
  names: readonly string[],
  overrides: readonly ConfigOverride[] = [],
  start: StartOptions = {},
): Promise<BenchCluster> {
  const nats = await BenchNats.start();
  const nodes = new Map<string, ServerProcess>();
  const close = async () => {
    await Promise.all([...nodes.values()].map((n) => n.close()));
    await nats.close();
  };
  try {
    for (const name of names) {
      nodes.set(name, await startRouter(clusterNodeConfig([nats.url], name, overrides), start));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nats, nodes, close };
}
