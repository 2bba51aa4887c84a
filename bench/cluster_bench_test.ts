/**
 * Tests of the cluster benchmark's pieces (no timing assertions): the row table and placements,
 * the latency quantiles, and a smoke run of the cluster target — a nats-server and two router
 * nodes start, a fan-out from node A reaches subscribers on node B (exact, prefix and wildcard
 * subscriptions, all matching), nats-server counts one message in and one out per publication
 * (not one per subscriber or per pattern), and every process stops.
 *
 * Run: `deno test --allow-net=127.0.0.1 --allow-read --allow-run --allow-env --allow-write=/tmp
 * bench/cluster_bench_test.ts`
 *
 * @module
 */

import {
  CLUSTER_ROWS,
  type ClusterLoadName,
  expectedNats,
  type Placement,
  selectRows,
  subscriberPorts,
  SUBSCRIBERS,
} from "./cluster_cases.ts";
import {
  LatencySamples,
  MIXED_MATCHES,
  mixedSubscription,
  preparePlacedPubSub,
} from "./cluster_loads.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import { BenchNats, clusterNodeConfig, startBenchCluster } from "./cluster_targets.ts";
import { BENCH_SERIALIZERS } from "./serializers.ts";

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  actual:   ${a}\n  expected: ${e}`);
}

/** True once nothing listens on `port`. A connection reset counts as "not yet": a server
 * that is closing its listener can still accept from the backlog and then reset. */
async function refused(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return true;
    if (err instanceof Deno.errors.ConnectionReset) return false;
    throw err;
  }
}

Deno.test("cluster rows: filter by load and load/placement; unknown names are refused", () => {
  assertEquals(selectRows(undefined).length, CLUSTER_ROWS.length, "default: every row");
  assertEquals(
    selectRows("rpc").map((r) => r.placement),
    ["single", "local", "cross"],
    "a load name picks its placements",
  );
  assertEquals(selectRows("cluster-fanout/split,rpc/cross"), [
    { load: "fanout", placement: "split" },
    { load: "rpc", placement: "cross" },
  ], "load/placement, with the cluster- prefix of --case");
  let message = "";
  try {
    selectRows("fanout/nowhere");
  } catch (err) {
    message = (err as Error).message;
  }
  assert(message.includes("no such row"), `unknown row refused: '${message}'`);
});

Deno.test("cluster placements: where the subscribers connect, the NATS count expected", () => {
  const ports = { single: 1, a: 2, b: 3 };
  assertEquals(subscriberPorts("single", ports), new Array(SUBSCRIBERS).fill(1), "single");
  assertEquals(subscriberPorts("local", ports), new Array(SUBSCRIBERS).fill(2), "local: A");
  assertEquals(subscriberPorts("cross", ports), new Array(SUBSCRIBERS).fill(3), "cross: B");
  const split = subscriberPorts("split", ports);
  assertEquals(split.filter((p) => p === 2).length, SUBSCRIBERS / 2, "split: half on A");
  assertEquals(split.filter((p) => p === 3).length, SUBSCRIBERS / 2, "split: half on B");
  const nats = (load: ClusterLoadName, placement: Placement) => expectedNats({ load, placement });
  assertEquals(nats("fanout", "single"), null, "no NATS without a cluster");
  assertEquals(nats("fanout", "local"), { in: 1, out: 0 }, "nobody else listens");
  assertEquals(nats("fanout", "cross"), { in: 1, out: 1 }, "one node listens");
  assertEquals(nats("fanout-w256", "split"), { in: 1, out: 1 }, "one other node");
  assertEquals(nats("nats-1x1", "bare"), { in: 2, out: 2 }, "request and reply");
  assertEquals(nats("rpc", "cross"), null, "a call's count is reported, not checked");
});

Deno.test("mixed fan-out: exact, prefix and wildcard in turn, each matching the topic", () => {
  const topic = "bench.cluster.t1x2";
  const subs = Array.from({ length: 6 }, (_, i) => mixedSubscription(topic, i));
  assertEquals(subs.map((x) => x.match), [...MIXED_MATCHES, ...MIXED_MATCHES], "in turn");
  assertEquals(subs[2], { uri: "bench.cluster.", match: "wildcard" }, "last component empty");
  for (const x of subs) assert(uriMatches(x.uri, x.match, topic), `${x.match} ${x.uri} matches`);
});

Deno.test("latency samples: quantiles of what was recorded while on", () => {
  const s = new LatencySamples();
  s.add(1000); // not recording yet
  assertEquals(s.quantiles([0.5]), [null], "nothing recorded");
  s.start();
  for (let i = 100; i >= 1; i--) s.add(i);
  s.stop();
  s.add(5000);
  assertEquals(s.count, 100, "only the samples while on");
  assertEquals(s.quantiles([0.5, 0.99, 0]), [51, 100, 1], "p50, p99, min");
  s.start();
  assertEquals(s.count, 0, "start() forgets the last window");
});

Deno.test("cluster config: the bench config with a cluster block naming the node", () => {
  const c = clusterNodeConfig(["nats://127.0.0.1:1"], "n1") as {
    workers: Array<{ cluster: unknown; transports: unknown[] }>;
  };
  assertEquals(c.workers[0]!.cluster, {
    type: "nats",
    servers: ["nats://127.0.0.1:1"],
    node: "n1",
  }, "worker-level block");
  assertEquals(c.workers[0]!.transports.length, 2, "the bench transports stay");
});

Deno.test({
  name:
    "cluster target: two nodes and nats-server start, a fan-out crosses once per node, all stop",
  async fn() {
    const cluster = await startBenchCluster(["smoke-a", "smoke-b"]);
    const ports = [...cluster.nodes.values()].map((n) => n.port);
    const natsPort = cluster.nats.port;
    const storeDir = cluster.nats.storeDir;
    try {
      const [a, b] = ports as [number, number];
      const load = await preparePlacedPubSub(BENCH_SERIALIZERS.get("json")!, {
        publisherPort: a,
        subscriberPorts: new Array(SUBSCRIBERS).fill(b),
        payloadBytes: 16,
        window: 8,
        // Exact, prefix and wildcard subscriptions on B, all matching: still one message per node.
        mixed: true,
      });
      try {
        const v0 = await cluster.nats.varz();
        load.start();
        while (load.sent() < 2000) await new Promise((r) => setTimeout(r, 10));
        await load.stop();
        const v1 = await cluster.nats.varz();
        const sent = load.sent();
        assertEquals(load.deliveries(), sent * SUBSCRIBERS, "every subscriber got every event");
        // Heartbeats add a few messages per second; one per subscriber would be ~10 per event.
        const perIn = (v1.inMsgs - v0.inMsgs) / sent;
        const perOut = (v1.outMsgs - v0.outMsgs) / sent;
        assert(perIn >= 1 && perIn < 1.2, `one message in per publication, got ${perIn}`);
        assert(perOut >= 1 && perOut < 1.2, `one message out per publication, got ${perOut}`);
      } finally {
        await load.close();
      }
    } finally {
      await cluster.close();
    }
    for (const port of [...ports, natsPort]) assert(await refused(port), `port ${port} closed`);
    let gone = false;
    try {
      await Deno.stat(storeDir);
    } catch (err) {
      gone = err instanceof Deno.errors.NotFound;
    }
    assert(gone, "the JetStream store is removed");
  },
});

Deno.test("nats-server does not outlive a benchmark killed with SIGKILL; its store goes too", async () => {
  const module = new URL("./cluster_targets.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { BenchNats } from ${JSON.stringify(module)};
       const n = await BenchNats.start();
       console.log(JSON.stringify({ port: n.port, dir: n.storeDir, pid: n.pid }));
       await new Promise(() => {});`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const { port, dir, pid } = JSON.parse(text) as { port: number; dir: string; pid: number };
  assert(pid > 0, "the shell reported nats-server's pid");
  assert(!(await refused(port)), "nats-server listens");
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  // Bounded wait for the outcome (no timing assertion: 20 s is far beyond what it takes).
  let closed = false;
  for (let i = 0; i < 400 && !closed; i++) {
    closed = await refused(port);
    if (!closed) await new Promise((r) => setTimeout(r, 50));
  }
  assert(closed, `nats-server on port ${port} stopped after its parent was killed`);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    try {
      await Deno.stat(dir);
      await new Promise((r) => setTimeout(r, 50));
    } catch (err) {
      gone = err instanceof Deno.errors.NotFound;
    }
  }
  assert(gone, "its store was removed");
});

Deno.test("BenchNats: /varz counters and the server's own CPU time", async () => {
  const nats = await BenchNats.start();
  try {
    const v = await nats.varz();
    assert(v.inMsgs >= 0 && v.outMsgs >= 0, "counters");
    const cpu = await nats.cpuSeconds();
    assert(cpu !== null && cpu >= 0, `cpu seconds of pid ${nats.pid}: ${cpu}`);
  } finally {
    await nats.close();
  }
});
