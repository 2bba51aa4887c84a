/**
 * Events across router processes joined by a real nats-server, with AutobahnJS clients on
 * different nodes (`tests/_cluster.ts` starts everything and always stops it): exact, prefix
 * and wildcard subscriptions with `Details.topic`, exactly once and in publisher order, the same
 * publication id on every node, an event published right after another node's SUBSCRIBED,
 * exclusion/eligibility/disclosure by session ids of other nodes, retained events, distinct
 * session ids carrying each node's number, `/metrics` with the node label, and a SIGKILLed
 * node: the others see it go and go on routing.
 */

import assert from "node:assert/strict";
import { AutobahnClient, deadline, type SerializerId } from "./interop/common.ts";
import { DelayProxy, TestCluster } from "./_cluster.ts";

interface Got {
  args: unknown[];
  details: Record<string, unknown>;
}

/** Subscribes `c` to `topic`; returns what it receives. */
async function listen(
  c: AutobahnClient,
  topic: string,
  options: Record<string, unknown> = {},
): Promise<Got[]> {
  const got: Got[] = [];
  await c.session.subscribe(topic, (args, _kw, details) => {
    got.push({ args: args ?? [], details });
  }, options);
  return got;
}

/** Waits until `got` holds `n` items (a deadline, not a timing assertion). */
async function until(got: readonly unknown[], n: number, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (got.length < n) {
    if (Date.now() > end) throw new Error(`${what}: ${got.length} of ${n} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets stray duplicates arrive, so "exactly once" is checked after a pause. */
function pause(ms = 300): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("cluster processes: events between three nodes with AutobahnJS", async (t) => {
  await using cluster = await TestCluster.start(["n1", "n2", "n3"]);
  const join = (node: string, ser: SerializerId = "json") =>
    AutobahnClient.join(cluster.node(node).url, ser);

  await t.step("session ids are distinct and carry each node's number", async () => {
    await using a = await join("n1");
    await using b = await join("n2");
    await using c = await join("n3");
    const numbers = [a.id, b.id, c.id].map((id) => Math.floor(id / 2 ** 43));
    assert.equal(new Set(numbers).size, 3, String(numbers));
    for (const n of numbers) assert.ok(n >= 1 && n <= 1023);
  });

  await t.step(
    "exact, prefix, wildcard across nodes: once each, in order, with topic",
    async () => {
      await using pub = await join("n1");
      await using s2 = await join("n2", "msgpack");
      await using s3 = await join("n3", "cbor");
      await using near = await join("n1");
      const exact = await listen(s2, "com.ex.a.b");
      const prefix = await listen(s2, "com.ex.a", { match: "prefix" });
      const wild = await listen(s3, "com.ex..b", { match: "wildcard" });
      const prefix3 = await listen(s3, "com.", { match: "prefix" });
      const local = await listen(near, "com.ex.a.b");
      const ids: number[] = [];
      for (let i = 0; i < 100; i++) {
        const p = await pub.session.publish("com.ex.a.b", [i], { k: "v" }, { acknowledge: true });
        ids.push(p!.id);
      }
      await pub.session.publish("com.ex.z.c", ["other"], {}, { acknowledge: true });
      for (
        const [got, n, what] of [
          [exact, 100, "exact"],
          [prefix, 100, "prefix"],
          [
            wild,
            100,
            "wildcard",
          ],
          [prefix3, 101, "prefix com."],
          [local, 100, "local"],
        ] as const
      ) {
        await until(got, n, what);
      }
      await pause();
      const seq = Array.from({ length: 100 }, (_, i) => i);
      assert.deepEqual(exact.map((g) => g.args[0]), seq);
      assert.deepEqual(prefix.map((g) => g.args[0]), seq);
      assert.deepEqual(wild.map((g) => g.args[0]), seq);
      assert.deepEqual(prefix3.map((g) => g.args[0]), [...seq, "other"]);
      assert.deepEqual(
        exact.map((g) => g.details.publication),
        ids,
        "one publication id everywhere",
      );
      assert.deepEqual(wild.map((g) => g.details.publication), ids);
      assert.deepEqual(local.map((g) => g.details.publication), ids);
      assert.equal(prefix[0]!.details.topic, "com.ex.a.b");
      assert.equal(wild[0]!.details.topic, "com.ex.a.b");
      assert.equal(prefix3.at(-1)!.details.topic, "com.ex.z.c");
    },
  );

  await t.step(
    "an event published right after another node's SUBSCRIBED is delivered",
    async () => {
      await using pub = await join("n1");
      await using sub = await join("n2");
      for (let i = 0; i < 20; i++) {
        const got = await listen(sub, `com.race.t${i}`);
        await pub.session.publish(`com.race.t${i}`, [i], {}, { acknowledge: true });
        await deadline((async () => await until(got, 1, `race ${i}`))(), 10_000, `event ${i}`);
        assert.deepEqual(got.map((g) => g.args), [[i]]);
      }
    },
  );

  await t.step("exclude, eligible, exclude_me and disclosure with other nodes' ids", async () => {
    await using pub = await join("n1");
    await using b = await join("n2");
    await using b2 = await join("n2");
    await using c = await join("n3");
    const gb = await listen(b, "com.f");
    const gb2 = await listen(b2, "com.f");
    const gc = await listen(c, "com.f");
    const gp = await listen(pub, "com.f");
    const opts = (o: Record<string, unknown>) => ({ acknowledge: true, ...o });
    await pub.session.publish("com.f", ["excl"], {}, opts({ exclude: [b.id] }));
    await pub.session.publish("com.f", ["elig"], {}, opts({ eligible: [c.id, b2.id] }));
    await pub.session.publish("com.f", ["me"], {}, opts({ exclude_me: false, disclose_me: true }));
    await until(gc, 3, "c");
    await until(gb2, 3, "b2");
    await until(gb, 1, "b");
    await until(gp, 1, "publisher");
    await pause();
    assert.deepEqual(gb.map((g) => g.args[0]), ["me"]);
    assert.deepEqual(gb2.map((g) => g.args[0]), ["excl", "elig", "me"]);
    assert.deepEqual(gc.map((g) => g.args[0]), ["excl", "elig", "me"]);
    assert.deepEqual(gp.map((g) => g.args[0]), ["me"]);
    assert.equal(gc[2]!.details.publisher, pub.id);
    assert.equal(gb[0]!.details.publisher, pub.id);
    assert.equal(gc[0]!.details.publisher, undefined);
  });

  await t.step("a retained event is returned to a subscriber joining another node", async () => {
    await using pub = await join("n1");
    await pub.session.publish("com.ret.x", ["old"], {}, { retain: true, acknowledge: true });
    await pub.session.publish("com.ret.x", ["new"], {}, { retain: true, acknowledge: true });
    await using late = await join("n3");
    const got = await listen(late, "com.ret.x", { get_retained: true });
    const pattern = await listen(late, "com.ret", { match: "prefix", get_retained: true });
    await until(got, 1, "retained");
    await until(pattern, 1, "retained by prefix");
    await pause();
    assert.deepEqual(got.map((g) => [g.args, g.details.retained]), [[["new"], true]]);
    assert.deepEqual(pattern.map((g) => [g.args, g.details.topic]), [[["new"], "com.ret.x"]]);
  });

  await t.step("/metrics names the node and shows the link", async () => {
    const text = await cluster.metrics("n2");
    assert.match(text, /^switchboard_cluster_link_connected\{node="n2"\} 1$/m);
    assert.match(text, /^switchboard_cluster_nodes\{node="n2"\} 3$/m);
    assert.match(text, /^switchboard_cluster_events_received_total\{node="n2"\} [1-9]\d*$/m);
  });

  await t.step("a SIGKILLed node is seen gone; the others go on routing", async () => {
    await cluster.converged();
    await using pub = await join("n1");
    await using sub = await join("n2");
    const got = await listen(sub, "com.after");
    await cluster.kill("n3");
    await cluster.node("n1").child.output(/cluster: node down peer=n3 /, 10_000);
    await cluster.node("n2").child.output(/cluster: node down peer=n3 /, 10_000);
    await pub.session.publish("com.after", ["still"], {}, { acknowledge: true });
    await until(got, 1, "after the kill");
    assert.match(await cluster.metrics("n1"), /^switchboard_cluster_nodes\{node="n1"\} 2$/m);
  });
});

Deno.test("cluster processes: SUBSCRIBED waits until the server has the interest (a node with a slow NATS link)", async () => {
  await using cluster = await TestCluster.start(["fast"]);
  await using proxy = DelayProxy.start(cluster.nats.port, 300);
  await cluster.addNode("slow", proxy.url);
  await using pub = await AutobahnClient.join(cluster.node("fast").url, "json");
  await using sub = await AutobahnClient.join(cluster.node("slow").url, "json");
  for (let i = 0; i < 3; i++) {
    // the slow node's SUB reaches the server 300 ms after it was sent: SUBSCRIBED must wait
    const got = await listen(sub, `com.slow.t${i}`);
    await pub.session.publish(`com.slow.t${i}`, [i], {}, { acknowledge: true });
    await until(got, 1, `event ${i} published right after SUBSCRIBED`, 5000);
  }
});
