/**
 * Tests of the benchmark harness: the relay process (pub/sub fan-out, RPC routing by caller
 * header, echo), the bench WAMP client's framing through the relay, config overrides and the
 * case filter.
 *
 * Run: `deno test --allow-net=127.0.0.1 --allow-read --allow-run --allow-env bench/bench_test.ts`
 *
 * @module
 */

import type { Payload, Serializer } from "../src/serializer/serializer.ts";
import { CASES, COMPARISONS, selectCases, STATS_ON } from "./cases.ts";
import {
  buildNodeConfig,
  type JsonObject,
  OverrideError,
  parseOverride,
  setPath,
} from "./config.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import { backgroundSubscriptions, inBatches, openIdle } from "./loads.ts";
import { percentile, prepareLatency, runStorm } from "./session_loads.ts";
import { startRelay, startRouter } from "./targets.ts";
import { WampClient } from "./wamp_client.ts";
import { connectWebSocket, type WsMessage } from "./ws_client.ts";

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  actual:   ${a}\n  expected: ${e}`);
}

/** A JSON serializer local to the test, so it does not depend on `src/serializer/json.ts`. */
const testJson: Serializer = {
  name: "json",
  subprotocol: "wamp.2.json",
  rawSocketId: 1,
  binary: false,
  index: 0,
  encode: (m) => JSON.stringify(m),
  decode: (p: Payload) => JSON.parse(typeof p === "string" ? p : new TextDecoder().decode(p)),
  byteLength: (p) => typeof p === "string" ? new TextEncoder().encode(p).length : p.length,
};

function collect(n: number): { got: WsMessage[]; done: Promise<void>; push(m: WsMessage): void } {
  const got: WsMessage[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  return {
    got,
    done,
    push(m) {
      got.push(m);
      if (got.length === n) resolve();
    },
  };
}

Deno.test("relay: each publisher frame reaches every subscriber, text and binary", async () => {
  const relay = await startRelay();
  try {
    const subs = await Promise.all(
      [0, 1, 2].map(() =>
        connectWebSocket({ port: relay.port, path: "/sub/t1", protocols: ["wamp.2.json"] })
      ),
    );
    const other = await connectWebSocket({ port: relay.port, path: "/sub/t2" });
    const pub = await connectWebSocket({ port: relay.port, path: "/pub/t1" });
    await Promise.all([...subs, other, pub].map((ws) => ws.ping()));
    assertEquals(subs[0]!.protocol, "wamp.2.json", "relay accepts the offered subprotocol");
    const sinks = subs.map((ws) => {
      const c = collect(2);
      ws.onmessage = c.push;
      return c;
    });
    let leaked = 0;
    other.onmessage = () => leaked++;
    pub.send('[16,1,{},"t",[0]]');
    pub.send(new Uint8Array(5000).fill(7));
    await Promise.all(sinks.map((s) => s.done));
    for (const s of sinks) {
      assertEquals(s.got[0], '[16,1,{},"t",[0]]');
      const bin = s.got[1];
      assert(bin instanceof Uint8Array && bin.length === 5000 && bin[4999] === 7, "binary frame");
    }
    await pub.ping();
    assertEquals(leaked, 0, "other channels receive nothing");
    await Promise.all([...subs, other, pub].map((ws) => ws.close()));
  } finally {
    await relay.close();
  }
});

Deno.test("relay: each RESULT goes back to the caller that sent the CALL", async () => {
  const relay = await startRelay();
  try {
    const callee = await connectWebSocket({ port: relay.port, path: "/callee/r1" });
    callee.onmessage = (data) => {
      assert(typeof data === "string", "text frame for JSON");
      const m = testJson.decode(data.slice(8)) as unknown[];
      callee.send(data.slice(0, 8) + testJson.encode([50, m[1], {}, m[4]]));
    };
    const callers = await Promise.all([0, 1, 2, 3].map(async () => {
      const ws = await connectWebSocket({ port: relay.port, path: "/caller/r1" });
      return WampClient.attach(ws, testJson);
    }));
    await Promise.all([callee, ...callers.map((c) => c.transport)].map((ws) => ws.ping()));
    const results = await Promise.all(
      callers.flatMap((c, i) => [0, 1, 2].map((k) => c.call("p", [i, k]))),
    );
    assertEquals(
      results.map((r) => r.args),
      [0, 1, 2, 3].flatMap((i) => [0, 1, 2].map((k) => [i, k])),
      "args echoed to the right caller",
    );
    await Promise.all([callee, ...callers.map((c) => c.transport)].map((ws) => ws.close()));
  } finally {
    await relay.close();
  }
});

Deno.test("relay: binary RPC header and echo path; idle connections in batches", async () => {
  const relay = await startRelay();
  try {
    const callee = await connectWebSocket({ port: relay.port, path: "/callee/r2" });
    const seen: number[] = [];
    callee.onmessage = (data) => {
      assert(data instanceof Uint8Array, "binary frame");
      seen.push(new DataView(data.buffer, data.byteOffset).getUint32(0));
      callee.send(data); // header + body back: the caller gets the body
    };
    const caller = await connectWebSocket({ port: relay.port, path: "/caller/r2" });
    await Promise.all([callee.ping(), caller.ping()]);
    const back = collect(1);
    caller.onmessage = back.push;
    caller.send(new Uint8Array([1, 2, 3]));
    await back.done;
    assertEquals([...(back.got[0] as Uint8Array)], [1, 2, 3]);
    assertEquals(seen.length, 1);
    const idle = await inBatches(
      20,
      8,
      () => openIdle({ target: "relay", port: relay.port }, testJson),
    );
    assertEquals(idle.length, 20);
    await Promise.all([callee, caller, ...idle].map((ws) => ws.close()));
  } finally {
    await relay.close();
  }
});

Deno.test("relay: an unknown path is closed with 4404; control commands answer", async () => {
  const relay = await startRelay();
  try {
    const ws = await connectWebSocket({ port: relay.port, path: "/nope" });
    const info = await ws.closed;
    assertEquals(info.code, 4404);
    assert(await relay.gc(), "relay runs with --expose-gc");
    const rss = await relay.rss();
    assert(rss.kb > 1000, `plausible RSS, got ${rss.kb} KiB`);
    assert((await relay.cpuSeconds()) > 0, "cpu time reported");
    const heap = await relay.heap();
    assert(heap.heapUsed > 0 && heap.external >= 0, `heap figures, got ${JSON.stringify(heap)}`);
    let refused: unknown = null;
    try {
      await relay.heapSnapshot();
    } catch (err) {
      refused = err;
    }
    assert(
      refused instanceof Error && refused.message.includes("BENCH_HEAP_SNAPSHOT_DIR"),
      "no heap snapshot without a directory",
    );
  } finally {
    await relay.close();
  }
});

Deno.test("config overrides set nested paths and create missing objects", () => {
  const config = buildNodeConfig([
    { path: "workers[0].realms[0].stats.trigger_after_rated_messages", value: 10 },
    parseOverride("workers[0].realms[0].options.enable_meta_api=false"),
    parseOverride("workers[0].realms[0].name=realm2"),
  ]);
  const realm = ((config.workers as JsonObject[])[0]!.realms as JsonObject[])[0]!;
  assertEquals(realm.stats, { trigger_after_rated_messages: 10 });
  assertEquals(realm.options, { enable_meta_api: false });
  assertEquals(realm.name, "realm2");
  let error: unknown = null;
  try {
    setPath(config, "version[0]", 1);
  } catch (err) {
    error = err;
  }
  assert(error instanceof OverrideError, "indexing a number is an error");
});

Deno.test("case filter: names, prefixes, opt-in cases and unknown names", () => {
  const all = selectCases(undefined).map((c) => c.name);
  assert(!all.includes("fanout-manysubs"), "opt-in case not run by default");
  assert(all.includes("fanout") && all.includes("rpc"), "default cases");
  assertEquals(selectCases("fanout-4k,rpc").map((c) => c.name), ["fanout-4k", "rpc"]);
  assert(
    all.includes("fanout-stats") && all.includes("fanout-subs-1k") &&
      all.includes("fanout-subs-10k") && all.includes("fanout-rawsocket") &&
      all.includes("fanout-stalled") && all.includes("fanout-batched"),
    "statistics, many-subscription, RawSocket, slow-consumer and batched variants run by default",
  );
  assertEquals(
    selectCases("fanout*").map((c) => c.name),
    [
      "fanout",
      "fanout-rawsocket",
      "fanout-batched",
      "fanout-stats",
      "fanout-subs-1k",
      "fanout-subs-10k",
      "fanout-stalled",
      "fanout-4k",
      "fanout-4k-mounted",
      "fanout-manysubs",
    ],
  );
  let error: unknown = null;
  try {
    selectCases("nosuch");
  } catch (err) {
    error = err;
  }
  assert(error instanceof Error && error.message.includes("nosuch"), "unknown case named");
});

Deno.test("fanout-stats: the fanout load on a realm with the issue's stats object", () => {
  const byName = (name: string) => CASES.find((c) => c.name === name)!;
  const stats = byName("fanout-stats");
  assertEquals(stats.load, byName("fanout").load, "same load as fanout");
  assertEquals(stats.targets, ["router"]);
  const config = buildNodeConfig(stats.routerOverrides ?? []);
  const realm = ((config.workers as JsonObject[])[0]!.realms as JsonObject[])[0]!;
  assertEquals(realm.stats, {
    rated_message_size: 512,
    trigger_after_rated_messages: 100,
    trigger_after_duration: 0,
    trigger_on_join: true,
    trigger_on_leave: true,
  });
  assertEquals(realm.stats, STATS_ON);
  for (const cmp of COMPARISONS) {
    for (const name of [...cmp.cases, cmp.ratio.numerator, cmp.ratio.denominator]) {
      assert(CASES.some((c) => c.name === name && !c.optIn), `${cmp.title}: ${name} is default`);
    }
  }
});

Deno.test("background subscriptions: counts, distinct, none matches the topic, similar ones", () => {
  const topic = "bench.pubsub.t7xabc";
  const specs = backgroundSubscriptions(topic, {
    exact: 1000,
    prefix: 100,
    wildcard: 100,
    sessions: 10,
  });
  const count = (m: string) => specs.filter((s) => s.match === m).length;
  assertEquals([count("exact"), count("prefix"), count("wildcard")], [1000, 100, 100]);
  assertEquals(new Set(specs.map((s) => `${s.match} ${s.uri}`)).size, specs.length, "distinct");
  for (const s of specs) assert(!uriMatches(s.uri, s.match, topic), `${s.uri} must not match`);
  const similar = (m: string) =>
    specs.filter((s) => s.match === m && s.uri.startsWith("bench.pubsub.")).length;
  assert(similar("prefix") >= 50, "prefix patterns sharing the topic's first components");
  assert(similar("wildcard") >= 25, "wildcard patterns sharing the topic's first components");
  assert(specs.some((s) => s.match === "prefix" && s.uri.startsWith(topic)), "topic is a prefix");
  assert(
    specs.some((s) =>
      s.match === "wildcard" && s.uri.startsWith("bench.") && s.uri.split(".").length === 3
    ),
    "a wildcard pattern as long as the topic, sharing its first component",
  );
});

Deno.test("percentile: nearest rank of sorted values", () => {
  assertEquals(percentile([], 0.5), null);
  assertEquals(percentile([7], 0.99), 7);
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assertEquals(percentile(xs, 0.5), 50);
  assertEquals(percentile(xs, 0.99), 99);
  assertEquals(percentile(xs, 1), 100);
});

/** Runs the latency load for 150 ms at 400 calls/s: calls complete, each with its time. */
async function latencySmoke(endpoint: { target: "router" | "relay"; port: number }): Promise<void> {
  const load = await prepareLatency(endpoint, testJson, {
    kind: "latency",
    callsPerSecond: 400,
    callers: 2,
    payloadBytes: 16,
  });
  try {
    load.start();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await load.stop();
    assert(load.deliveries() > 0, "calls completed");
    assertEquals(load.latencies.length, load.deliveries(), "one round trip time per call");
    assert(load.latencies.every((ms) => ms >= 0), "round trip times are durations");
  } finally {
    await load.close();
  }
}

Deno.test("session storm and latency loads run against the relay", async () => {
  const relay = await startRelay();
  try {
    const endpoint = { target: "relay" as const, port: relay.port };
    let started = 0;
    const storm = await runStorm(
      endpoint,
      testJson,
      { kind: "storm", sessions: 12, concurrency: 5 },
      () => Promise.resolve(void started++),
    );
    assertEquals(storm.sessions, 12);
    assertEquals(started, 1, "onStart runs once, before the timed part");
    assert(storm.seconds > 0, "timed");
    await storm.close();

    await latencySmoke(endpoint);
  } finally {
    await relay.close();
  }
});

Deno.test("mounted cases: the base cases' loads against the router's Deno.serve mount, which serves WAMP", async () => {
  const byName = (name: string) => CASES.find((c) => c.name === name)!;
  for (const base of ["session-storm", "rpc-latency", "fanout-4k"]) {
    const mounted = byName(`${base}-mounted`);
    assertEquals(mounted.load, byName(base).load, `${base}-mounted: same load`);
    assertEquals([mounted.mounted, mounted.targets], [true, ["router"]]);
  }
  const router = await startRouter(buildNodeConfig([]));
  try {
    const port = router.ports.mounted;
    assert(port !== undefined && port !== router.ports.websocket, "a port of its own");
    const endpoint = { target: "router" as const, port };
    const storm = await runStorm(
      endpoint,
      testJson,
      { kind: "storm", sessions: 6, concurrency: 3 },
      () => Promise.resolve(),
    );
    assertEquals(storm.sessions, 6, "WAMP sessions opened on the mount");
    await storm.close();
    await latencySmoke(endpoint);
  } finally {
    await router.close();
  }
});
