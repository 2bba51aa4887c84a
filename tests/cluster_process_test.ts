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
import { clusterNodeConfig, DelayProxy, TestCluster } from "./_cluster.ts";

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

  await t.step(
    "an acknowledged retained publication is readable from another node at once",
    async () => {
      await using pub = await join("n1");
      await using sub = await join("n2");
      for (let i = 0; i < 30; i++) {
        await pub.session.publish("com.ret.now", [i], {}, { retain: true, acknowledge: true });
        const got = await listen(sub, "com.ret.now", { get_retained: true });
        await until(got, 1, `retained ${i}`);
        assert.deepEqual(got[0]!.args, [i], `retained event ${i}`);
      }
    },
  );

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

Deno.test("cluster processes: a monitor on one node sees on_join, on_stats and on_leave of another node's sessions", async () => {
  const stats = { trigger_on_join: true, trigger_on_leave: true, trigger_after_rated_messages: 0 };
  await using cluster = await TestCluster.start(["m1", "m2"], {
    config: clusterNodeConfig({ stats }),
  });
  await using monitor = await AutobahnClient.join(cluster.node("m1").url, "json");
  const joins = await listen(monitor, "wamp.session.on_join");
  const figures = await listen(monitor, "wamp.session.on_stats");
  const leaves = await listen(monitor, "wamp.session.on_leave");
  const user = await AutobahnClient.join(cluster.node("m2").url, "msgpack");
  const id = user.id;
  await user.close();
  await until(leaves, 1, "on_leave");
  await until(figures, 2, "on_stats");
  await pause();
  assert.deepEqual(joins.map((g) => (g.args[0] as Record<string, unknown>).session), [id]);
  assert.deepEqual(leaves.map((g) => g.args[0]), [id]);
  const about = figures.map((g) => g.args[0] as Record<string, unknown>);
  assert.deepEqual(about.map((x) => x.session), [id, id], "join and final statistics");
  assert.equal((figures[1]!.args[1] as Record<string, unknown>).last, true);
});

/** Waits until `probe` holds, polling (a deadline, not a timing assertion). */
async function eventually(probe: () => Promise<boolean>, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("cluster processes: NATS killed and restarted: local routing goes on, /metrics shows it, events cross again", async () => {
  await using cluster = await TestCluster.start(["k1", "k2"]);
  await using pub = await AutobahnClient.join(cluster.node("k1").url, "json");
  await using far = await AutobahnClient.join(cluster.node("k2").url, "json");
  await using near = await AutobahnClient.join(cluster.node("k1").url, "json");
  const remote = await listen(far, "com.outage");
  const local = await listen(near, "com.outage");
  await pub.session.publish("com.outage", ["before"], {}, { acknowledge: true });
  await until(remote, 1, "before the outage");
  await cluster.nats.kill();
  const linked = (node: string, up: 0 | 1) => async () =>
    new RegExp(`^switchboard_cluster_link_connected\\{node="${node}"\\} ${up}$`, "m")
      .test(await cluster.metrics(node));
  await eventually(linked("k1", 0), "k1 shows the loss");
  await pub.session.publish("com.outage", ["during"], {}, { acknowledge: true });
  await pub.session.publish("com.outage.ret", ["cut off"], {}, { retain: true, acknowledge: true });
  const localDuring = await listen(near, "com.outage.local");
  await pub.session.publish("com.outage.local", ["sub made during"], {}, { acknowledge: true });
  await until(localDuring, 1, "a subscription made during the outage works locally");
  await until(local, 2, "local delivery during the outage");
  assert.match(
    await cluster.metrics("k1"),
    /^switchboard_cluster_link_disconnects_total\{node="k1"\} [1-9]/m,
  );
  await cluster.nats.restart();
  await eventually(linked("k1", 1), "k1 reconnected");
  await eventually(linked("k2", 1), "k2 reconnected");
  // nats.js subscribed again: the subscription made before the outage gets events again
  await eventually(async () => {
    await pub.session.publish("com.outage", ["after"], {}, { acknowledge: true });
    await pause(100);
    return remote.some((g) => g.args[0] === "after");
  }, "events cross again");
  assert.ok(!remote.some((g) => g.args[0] === "during"), "what was published meanwhile is lost");
  // but not what was retained meanwhile: k1 stored it when NATS was back
  await eventually(async () => {
    await using late = await AutobahnClient.join(cluster.node("k2").url, "json");
    const got = await listen(late, "com.outage.ret", { get_retained: true });
    await pause(100);
    return got.length === 1 && got[0]!.args[0] === "cut off";
  }, "the retained event of the outage on the other node");
  assert.deepEqual(local.slice(0, 2).map((g) => g.args[0]), ["before", "during"]);
});
