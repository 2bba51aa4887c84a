/**
 * A cluster for tests: one nats-server (`_nats.ts`, JetStream on) and N router processes, each
 * started as a user starts a node (`deno run main.ts --config c.json --port 0 --node nX
 * --cluster nats://…`) with the permissions of `deno task start`. Each node's WebSocket URL is
 * read from its start-up line. `kill(name)` SIGKILLs one node; disposing the cluster
 * (`await using`) kills every node and the server and removes the temporary files, whatever
 * the test did.
 *
 * @module
 */

import { Child, CLI_PERMISSIONS } from "./_process.ts";
import { NatsServer } from "./_nats.ts";

/** The node config every node of a test cluster reads (the cluster block comes from flags). */
export function clusterNodeConfig(realm: Record<string, unknown> = {}): Record<string, unknown> {
  const all = { call: true, register: true, publish: true, subscribe: true };
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [{
          name: "anonymous",
          permissions: [{ uri: "", match: "prefix", allow: all }],
        }],
        ...realm,
      }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 8080 },
        paths: { ws: { type: "websocket", serializers: ["json", "msgpack", "cbor"] } },
      }],
    }],
  };
}

/** One router process of the cluster. */
export interface ClusterNodeProcess {
  readonly name: string;
  /** `ws://127.0.0.1:<port>/ws`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`, for `/metrics`. */
  readonly http: string;
  readonly child: Child;
}

/** Options of {@link TestCluster.start}. */
export interface TestClusterOptions {
  /** The node config (default {@link clusterNodeConfig}). */
  readonly config?: Record<string, unknown>;
  /** Extra command-line flags of every node. */
  readonly flags?: readonly string[];
}

/** A nats-server and router processes. */
export class TestCluster implements AsyncDisposable {
  readonly nats: NatsServer;
  readonly nodes: Map<string, ClusterNodeProcess> = new Map();
  readonly #dir: string;
  readonly #configFile: string;
  readonly #flags: readonly string[];

  private constructor(nats: NatsServer, dir: string, flags: readonly string[]) {
    this.nats = nats;
    this.#dir = dir;
    this.#configFile = `${dir}/node.json`;
    this.#flags = flags;
  }

  /** Starts a nats-server and one node per name, and waits until each listens. */
  static async start(names: readonly string[], options: TestClusterOptions = {}) {
    const nats = await NatsServer.start();
    const dir = await Deno.makeTempDir({ prefix: "sb-cluster-" });
    const cluster = new TestCluster(nats, dir, options.flags ?? []);
    try {
      await Deno.writeTextFile(
        cluster.#configFile,
        JSON.stringify(options.config ?? clusterNodeConfig()),
      );
      await Promise.all(names.map((n) => cluster.addNode(n)));
    } catch (e) {
      await cluster[Symbol.asyncDispose]();
      throw e;
    }
    return cluster;
  }

  /**
   * Starts one more node named `name` and waits until it listens; `servers`: its `--cluster`
   * list (default this cluster's nats-server).
   */
  async addNode(name: string, servers: string = this.nats.url): Promise<ClusterNodeProcess> {
    const child = new Child(
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...CLI_PERMISSIONS,
          "main.ts",
          "--config",
          this.#configFile,
          "--port",
          "0",
          "--node",
          name,
          "--cluster",
          servers,
          ...this.#flags,
        ],
        cwd: new URL("..", import.meta.url).pathname,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
    );
    const placeholder = { name, url: "", http: "", child };
    this.nodes.set(name, placeholder);
    const line = await child.stdoutLine(/listening on ws:\/\//);
    const url = line.match(/(ws:\/\/127\.0\.0\.1:\d+\/ws)/)![1]!;
    const node = { name, url, http: url.replace(/^ws/, "http").replace(/\/ws$/, ""), child };
    this.nodes.set(name, node);
    return node;
  }

  /** The node called `name`. */
  node(name: string): ClusterNodeProcess {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  /** Waits until every running node has heard from every other (its log says `node up`). */
  async converged(ms = 10_000): Promise<void> {
    const names = [...this.nodes.keys()];
    await Promise.all(
      names.flatMap((a) =>
        names.filter((b) => b !== a).map((b) =>
          this.node(a).child.output(new RegExp(`cluster: node up peer=${b} `), ms)
        )
      ),
    );
  }

  /** SIGKILLs node `name` (a crash) and waits for it to be gone. */
  async kill(name: string): Promise<void> {
    const node = this.node(name);
    this.nodes.delete(name);
    await node.child[Symbol.asyncDispose]();
  }

  /** The `/metrics` text of node `name`. */
  async metrics(name: string): Promise<string> {
    const res = await fetch(`${this.node(name).http}/metrics`);
    return await res.text();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const nodes = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(nodes.map((n) => n.child[Symbol.asyncDispose]()));
    await this.nats[Symbol.asyncDispose]();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort` that holds every byte from the client to
 * the server for `delayMs` (order kept; the other direction is not delayed): a node behind it
 * reaches NATS late, so what it announces (a subscription) lands at the server late too.
 */
export class DelayProxy implements AsyncDisposable {
  readonly port: number;
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  private constructor(listener: Deno.Listener, targetPort: number, delayMs: number) {
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept(targetPort, delayMs);
  }

  /** Starts the proxy. */
  static start(targetPort: number, delayMs: number): DelayProxy {
    return new DelayProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), targetPort, delayMs);
  }

  /** `nats://127.0.0.1:<port>` of the proxy. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async #accept(targetPort: number, delayMs: number): Promise<void> {
    for await (const client of this.#listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch (e) {
        client.close();
        // A server that is stopping can also reset a connection it accepted from its backlog.
        if (
          e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.ConnectionReset
        ) {
          continue;
        }
        throw e;
      }
      this.#conns.add(client);
      this.#conns.add(server);
      const task = Promise.all([
        this.#pipe(client, server, delayMs),
        this.#pipe(server, client, 0),
      ]).then(() => {});
      this.#tasks.add(task);
    }
  }

  /** Copies `from` to `to`, each chunk `delayMs` after it arrived; closes both at the end. */
  async #pipe(from: Deno.Conn, to: Deno.Conn, delayMs: number): Promise<void> {
    const queue: { at: number; data: Uint8Array }[] = [];
    let ended = false;
    const signal: { wake: (() => void) | null } = { wake: null };
    const writer = (async () => {
      for (;;) {
        const next = queue.shift();
        if (!next) {
          if (ended) return;
          await new Promise<void>((r) => signal.wake = r);
          continue;
        }
        const wait = next.at - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        let off = 0;
        while (off < next.data.length) off += await to.write(next.data.subarray(off));
      }
    })();
    try {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        queue.push({ at: Date.now() + delayMs, data: buf.slice(0, n) });
        signal.wake?.();
      }
    } catch (e) {
      if (
        !(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.ConnectionReset ||
          e instanceof Deno.errors.Interrupted)
      ) {
        throw e;
      }
    } finally {
      ended = true;
      signal.wake?.();
    }
    try {
      await writer;
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.BrokenPipe)) throw e;
    }
    for (const c of [from, to]) {
      if (this.#conns.delete(c)) c.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) c.close();
    this.#conns.clear();
    await this.#accepting.catch((e) => {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    });
    await Promise.allSettled([...this.#tasks]);
  }
}
