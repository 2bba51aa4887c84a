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
 * Everything started is stopped by `close()`, also when a later start fails.
 *
 * @module
 */

import { buildNodeConfig, type ConfigOverride, type JsonObject } from "./config.ts";
import { type ServerProcess, startRouter, TargetStartError } from "./targets.ts";

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
  #log = "";
  #closed = false;

  private constructor(port: number, monitorPort: number, dir: string) {
    this.port = port;
    this.monitorPort = monitorPort;
    this.#dir = dir;
    this.#child = new Deno.Command(NATS_SERVER, {
      args: [
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
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#log = (this.#log + chunk).slice(-10_000);
      }
    };
    this.#drained = Promise.all([drain(this.#child.stdout), drain(this.#child.stderr)])
      .then(() => {});
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

  /** Process id of the server. */
  get pid(): number {
    return this.#child.pid;
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

  /** Stops the server (SIGTERM, SIGKILL after 3 s) and removes its store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#child.kill("SIGTERM");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // already exited
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch (err) {
        if (!(err instanceof TypeError)) throw err;
      }
    }, 3000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#drained;
    await Deno.remove(this.#dir, { recursive: true });
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
): Promise<BenchCluster> {
  const nats = await BenchNats.start();
  const nodes = new Map<string, ServerProcess>();
  const close = async () => {
    await Promise.all([...nodes.values()].map((n) => n.close()));
    await nats.close();
  };
  try {
    for (const name of names) {
      nodes.set(name, await startRouter(clusterNodeConfig([nats.url], name, overrides)));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nats, nodes, close };
}
