/**
 * The session and subscription meta API across nodes, in one process: routers joined through
 * the in-memory twin of NATS (`MemoryCluster`) on a FakeClock, with in-process sessions on each.
 * `wamp.session.count/list/get` and the `kill*` procedures over the whole cluster (authrole
 * filters, "except the caller"), subscription meta procedures with the same ids on every node,
 * testaments published once (by the leaving session's node, or by one elected survivor of a
 * dead node, with `on_leave` for each of its sessions and its keys removed), re-assertion
 * after the engine comes back, hostile bucket entries and requests, and a 5,000-session churn
 * that leaves no key and no map entry behind.
 * The same over real NATS and real clients is in `cluster_meta_process_test.ts`.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { encode } from "../src/cluster/codec.ts";
import { metaSubject } from "../src/cluster/cluster_meta.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { clusterNodeOf, startClusterNode } from "../src/cluster/node.ts";
import {
  SESSIONS_BUCKET,
  subscriptionId,
  SUBSCRIPTIONS_BUCKET,
  TESTAMENTS_BUCKET,
} from "../src/cluster/session_wire.ts";
import type { WampClient } from "../src/client.ts";
import { parseConfig } from "../src/config/config.ts";
import { type Router, routerWithExtension } from "../src/router/router.ts";
import type { Args, Dict } from "../src/wamp/messages.ts";
import {
  ALL,
  allowAllRole,
  call,
  nodeConfig,
  rejectsWith,
  type TwinCluster,
  twinCluster,
} from "./_cluster_inproc.ts";

function config(node: string) {
  return parseConfig(
    nodeConfig(node, undefined, { roles: ["anonymous", "user", "monitor"].map(allowAllRole) }),
  );
}

/** A cluster of `names` whose settling includes the meta state, after 1.5 s of heartbeats. */
async function cluster(...names: string[]): Promise<TwinCluster> {
  return await twinCluster(names, config, { meta: true, warmUp: 1500 });
}

async function listen(client: WampClient, topic: string, options: Dict = {}): Promise<Args[]> {
  const got: Args[] = [];
  await client.subscribe(topic, (args) => got.push(args), options);
  return got;
}

async function keys(twin: MemoryCluster, bucket: string, probe: string): Promise<string[]> {
  return await (await twin.link(probe).bucket(bucket)).keys();
}

Deno.test("cluster meta: count, list and get see the sessions of every node, with their node and authrole filters", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const onA = await a.session("realm1", { authrole: "user", authid: "alice" });
  const onA2 = await a.session("realm1", { authrole: "anonymous", authid: "ann" });
  const onB = await b.session("realm1", { authrole: "user", authid: "bob" });
  await c.settle();
  for (const [who, router] of [["a", onA], ["b", onB]] as const) {
    assert.equal(await call(router, "wamp.session.count"), 3, `count on ${who}`);
    assert.deepEqual(
      ((await call(router, "wamp.session.list")) as number[]).sort(),
      [onA.sessionId, onA2.sessionId, onB.sessionId].sort(),
    );
    assert.equal(await call(router, "wamp.session.count", [["user"]]), 2);
    assert.deepEqual(
      (await call(router, "wamp.session.list", [["anonymous"]])) as number[],
      [onA2.sessionId],
    );
  }
  const remote = await call(onB, "wamp.session.get", [onA.sessionId]) as Dict;
  assert.equal(remote.session, onA.sessionId);
  assert.equal(remote.authid, "alice");
  assert.equal(remote.authrole, "user");
  assert.equal(remote.node, "a");
  assert.equal(remote.realm, "realm1");
  const local = await call(onB, "wamp.session.get", [onB.sessionId]) as Dict;
  assert.equal(local.node, "b");
  await rejectsWith(onB.call("wamp.session.get", [12345]), "wamp.error.no_such_session");
  // a session that leaves is gone from every node's view
  const gone = onA2.sessionId;
  await onA2.close();
  await c.settle();
  assert.equal(await call(onB, "wamp.session.count"), 2);
  await rejectsWith(onB.call("wamp.session.get", [gone]), "wamp.error.no_such_session");
  assert.equal(clusterNodeOf(b)!.meta.sessionView.size, 1);
});

Deno.test("cluster meta: kill, kill_by_authid, kill_by_authrole and kill_all reach sessions of other nodes, never the caller", async () => {
  await using c = await cluster("a", "b", "c");
  const [a, b, n3] = c.routers as [Router, Router, Router];
  const admin = await a.session("realm1", { authrole: "user", authid: "admin" });
  const closed: string[] = [];
  const watch = (client: WampClient, name: string) => {
    client.onClose = (reason) => closed.push(`${name} ${reason}`);
    return client;
  };
  const bob = watch(await b.session("realm1", { authrole: "user", authid: "bob" }), "bob");
  const bob2 = watch(await n3.session("realm1", { authrole: "user", authid: "bob" }), "bob2");
  const carl = watch(await n3.session("realm1", { authrole: "anonymous", authid: "carl" }), "carl");
  const admin2 = watch(await b.session("realm1", { authrole: "user", authid: "admin" }), "admin2");
  await c.settle();
  const bobId = bob.sessionId;
  const admin2Id = admin2.sessionId;

  assert.equal(await call(admin, "wamp.session.kill", [bobId], { reason: "com.x.out" }), null);
  await c.settle();
  assert.deepEqual(closed, ["bob com.x.out"]);
  await rejectsWith(
    admin.call("wamp.session.kill", [admin.sessionId]),
    "wamp.error.no_such_session",
  );
  await rejectsWith(admin.call("wamp.session.kill", [bobId]), "wamp.error.no_such_session");

  // by authid: the caller's own authid elsewhere is killed, the caller is not
  const ids = await call(admin, "wamp.session.kill_by_authid", ["admin"]) as number[];
  await c.settle();
  assert.deepEqual(ids, [admin2Id]);
  assert.ok(closed.includes("admin2 wamp.close.killed"));

  assert.equal(await call(admin, "wamp.session.kill_by_authrole", ["user"]), 1, "bob2 only");
  await c.settle();
  assert.ok(closed.includes("bob2 wamp.close.killed"));
  assert.equal(await call(admin, "wamp.session.count"), 2);

  assert.equal(await call(admin, "wamp.session.kill_all"), 1);
  await c.settle();
  assert.ok(closed.includes("carl wamp.close.killed"));
  assert.equal(await call(admin, "wamp.session.count"), 1);
  assert.equal(bob2.isOpen || carl.isOpen, false);
});

Deno.test("cluster meta: a monitor on one node sees on_join and on_leave of another's sessions once (on_stats across processes: cluster_process_test.ts)", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const monitor = await b.session("realm1", { authrole: "monitor" });
  const joins = await listen(monitor, "wamp.session.on_join");
  const leaves = await listen(monitor, "wamp.session.on_leave");
  const s = await a.session("realm1", { authrole: "user", authid: "u1" });
  const id = s.sessionId;
  await c.settle();
  await s.close();
  await c.settle();
  assert.equal(joins.length, 1);
  assert.equal((joins[0]![0] as Dict).session, id);
  assert.equal((joins[0]![0] as Dict).node, "a");
  assert.deepEqual(leaves, [[id]], "exactly [session_id], as Crossbar sends it");
});

Deno.test("cluster meta: subscription meta procedures see every node's subscriptions under one id", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const sa = await a.session("realm1");
  const sb = await b.session("realm1");
  const sb2 = await b.session("realm1");
  const idA = (await sa.subscribe("com.x", () => {})).id;
  const idB = (await sb.subscribe("com.x", () => {})).id;
  await sb2.subscribe("com.x", () => {});
  const prefixB = (await sb.subscribe("com.", () => {}, { match: "prefix" })).id;
  await c.run(250);
  assert.equal(idA, idB, "one id for (realm, match, uri) on every node");
  assert.equal(idA, subscriptionId("realm1", "exact", "com.x"));
  for (const who of [sa, sb]) {
    const list = await call(who, "wamp.subscription.list") as Dict;
    assert.deepEqual(list.exact, [idA]);
    assert.deepEqual(list.prefix, [prefixB]);
    assert.equal(
      await call(who, "wamp.subscription.lookup", ["com.", { match: "prefix" }]),
      prefixB,
    );
    assert.deepEqual(
      ((await call(who, "wamp.subscription.match", ["com.x"])) as number[]).sort(),
      [idA, prefixB].sort(),
    );
    assert.equal(await call(who, "wamp.subscription.count_subscribers", [idA]), 3);
    assert.deepEqual(
      ((await call(who, "wamp.subscription.list_subscribers", [idA])) as number[]).sort(),
      [sa.sessionId, sb.sessionId, sb2.sessionId].sort(),
    );
    const info = await call(who, "wamp.subscription.get", [prefixB]) as Dict;
    assert.equal(info.uri, "com.");
    assert.equal(info.match, "prefix");
  }
  // a subscriber leaving (no UNSUBSCRIBE of the last one) is seen everywhere
  await sb2.close();
  await sb.close();
  await c.run(250);
  assert.equal(await call(sa, "wamp.subscription.count_subscribers", [idA]), 1);
  await rejectsWith(sa.call("wamp.subscription.get", [prefixB]), "wamp.error.no_such_subscription");
  assert.equal(await call(sa, "wamp.subscription.lookup", ["com.", { match: "prefix" }]), null);
  assert.deepEqual(await keys(c.twin, SUBSCRIPTIONS_BUCKET, "probe").then((k) => k.length), 1);
});

Deno.test("cluster meta: a leaving session's testament is published once, by its own node", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const sub = await b.session("realm1");
  const got = await listen(sub, "com.will");
  const s = await a.session("realm1");
  await s.call("wamp.session.add_testament", ["com.will", ["bye"]]);
  await c.settle();
  assert.equal((await keys(c.twin, TESTAMENTS_BUCKET, "p1")).length, 1, "stored for a survivor");
  await s.close();
  await c.settle();
  assert.deepEqual(got, [["bye"]]);
  assert.deepEqual(await keys(c.twin, TESTAMENTS_BUCKET, "p2"), []);
  // a flushed testament is removed from the bucket too
  const s2 = await a.session("realm1");
  await s2.call("wamp.session.add_testament", ["com.will", ["no"]]);
  await c.settle();
  assert.equal(await s2.call("wamp.session.flush_testaments").then((r) => r.args[0]), 1);
  await c.settle();
  assert.deepEqual(await keys(c.twin, TESTAMENTS_BUCKET, "p3"), []);
  await s2.close();
  await c.settle();
  assert.deepEqual(got, [["bye"]]);
});

Deno.test("cluster meta: a dead node's sessions get on_leave and their testaments once, from one survivor; its keys go", async () => {
  await using c = await cluster("a", "b", "c");
  const [a, b, n3] = c.routers as [Router, Router, Router];
  const monB = await b.session("realm1", { authrole: "monitor" });
  const monC = await n3.session("realm1", { authrole: "monitor" });
  const leavesB = await listen(monB, "wamp.session.on_leave");
  const leavesC = await listen(monC, "wamp.session.on_leave");
  const willsB = await listen(monB, "com.will");
  const willsC = await listen(monC, "com.will");
  const victims = await Promise.all(
    [1, 2, 3].map((i) => a.session("realm1", { authrole: "user", authid: `v${i}` })),
  );
  const sub = (await victims[0]!.subscribe("com.y", () => {})).id;
  await victims[1]!.call("wamp.session.add_testament", ["com.will", ["v2 gone"]], {
    publish_options: { disclose_me: true },
  });
  await c.run(250);
  assert.equal(await call(monB, "wamp.session.count"), 5);
  assert.equal(await call(monB, "wamp.subscription.count_subscribers", [sub]), 1);
  c.twin.kill("a");
  // node a is dead: its router is never closed (its link's calls would never settle)
  c.routers.splice(0, 1);
  await c.run(5000);
  const ids = victims.map((v) => v.sessionId).sort();
  for (const leaves of [leavesB, leavesC]) {
    assert.deepEqual(leaves.map((l) => l[0]).sort(), ids, "on_leave once per session");
  }
  assert.deepEqual(willsB, [["v2 gone"]]);
  assert.deepEqual(willsC, [["v2 gone"]]);
  assert.equal(await call(monC, "wamp.session.count"), 2);
  await rejectsWith(monC.call("wamp.subscription.get", [sub]), "wamp.error.no_such_subscription");
  for (const bucket of [SESSIONS_BUCKET, TESTAMENTS_BUCKET, SUBSCRIPTIONS_BUCKET]) {
    const left = await keys(c.twin, bucket, `probe-${bucket}`);
    assert.ok(left.every((k) => !k.startsWith("a.")), `${bucket}: ${left}`);
  }
  const cleaned = [b, n3].map((r) => clusterNodeOf(r)!.meta.cleanedUp);
  assert.deepEqual(cleaned.sort(), [0, 1], "exactly one survivor cleaned up");
  await c.run(2000);
  assert.equal(leavesB.length, 3, "nothing more later");
});

Deno.test("cluster meta: a node back from an outage re-asserts its sessions after being taken for dead; its testament is published once", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const s = await a.session("realm1", { authrole: "user", authid: "stays" });
  await s.call("wamp.session.add_testament", ["com.will", ["once"]]);
  const mon = await b.session("realm1", { authrole: "monitor" });
  const monA = await a.session("realm1", { authrole: "monitor" });
  const leavesA = await listen(monA, "wamp.session.on_leave");
  const leavesB = await listen(mon, "wamp.session.on_leave");
  const wills = await listen(mon, "com.will");
  await c.settle();
  assert.equal(await call(mon, "wamp.session.count"), 3);
  c.twin.disconnect("a");
  await c.run(5000);
  assert.equal(await call(mon, "wamp.session.count"), 1, "taken for gone");
  assert.equal(await call(s, "wamp.session.count"), 2, "node a still serves its clients");
  assert.deepEqual(wills, [["once"]], "b published a's testament");
  assert.equal(leavesB.length, 2, "b announced a's sessions as gone");
  c.twin.reconnect("a");
  await c.run(5000);
  assert.equal(await call(mon, "wamp.session.count"), 3, "re-asserted");
  const got = await call(mon, "wamp.session.get", [s.sessionId]) as Dict;
  assert.equal(got.authid, "stays");
  assert.equal(await call(s, "wamp.session.count"), 3);
  assert.deepEqual(leavesA, [], "a, the one cut off, did not take b for dead");
  assert.equal(clusterNodeOf(a)!.meta.cleanedUp, 0);
  await s.close();
  await c.run(500);
  assert.deepEqual(wills, [["once"]], "not published again when the session leaves");
  assert.deepEqual(await keys(c.twin, TESTAMENTS_BUCKET, "p-t"), []);
  assert.equal(await call(mon, "wamp.session.count"), 2);
});

Deno.test("cluster meta: keys a node left with nobody up to see it die are cleaned up once by the nodes that start later", async () => {
  // a node "ghost" wrote a session, a subscription and a testament, then died unseen
  const clock = new FakeClock();
  const twin = new MemoryCluster({ clock });
  const ghost = twin.link("ghost-writer");
  const key = "ghost.life1.realm1.12345";
  await (await ghost.bucket(SESSIONS_BUCKET)).put(
    key,
    encode({ authid: "g", authrole: "user", details: { session: 12345, authid: "g" } }),
  );
  await (await ghost.bucket(SUBSCRIPTIONS_BUCKET)).put(
    "ghost.life1.realm1.777",
    encode({ uri: "com.g", match: "exact", created: "2020-01-01T00:00:00Z", subscribers: [12345] }),
  );
  await (await ghost.bucket(TESTAMENTS_BUCKET)).put(
    key,
    encode({
      authid: "g",
      authrole: "user",
      details: {},
      testaments: [{ topic: "com.will", args: ["ghost"], options: {} }],
    }),
  );
  await ghost.close();
  const routers = ["a", "b"].map((name) =>
    routerWithExtension(
      config(name),
      { clock },
      (router) => startClusterNode(router, router.config.cluster!, { link: twin.link(name) }),
    )
  );
  try {
    await Promise.all(routers.map((r) => r.ready));
    const [a, b] = routers as [Router, Router];
    const monA = await a.session("realm1", { authrole: "monitor" });
    const monB = await b.session("realm1", { authrole: "monitor" });
    const leaves = [
      await listen(monA, "wamp.session.on_leave"),
      await listen(monB, "wamp.session.on_leave"),
    ];
    const wills = [await listen(monA, "com.will"), await listen(monB, "com.will")];
    const settle = async () => {
      for (let i = 0; i < 5; i++) {
        await twin.settle();
        for (const r of routers) await clusterNodeOf(r)!.meta.settled();
      }
    };
    await settle();
    assert.equal(await call(monB, "wamp.session.count"), 3, "the ghost's session, at first");
    for (let t = 0; t < 12_000; t += 250) {
      clock.advance(250);
      await settle();
    }
    assert.equal(await call(monB, "wamp.session.count"), 2);
    assert.deepEqual(leaves.map((l) => l.length), [1, 1], "on_leave once, seen on both nodes");
    assert.deepEqual(leaves[0], [[12345]]);
    assert.deepEqual(wills.map((w) => w.length), [1, 1], "the testament once");
    for (const bucket of [SESSIONS_BUCKET, SUBSCRIPTIONS_BUCKET, TESTAMENTS_BUCKET]) {
      const left = await keys(twin, bucket, `probe-${bucket}`);
      assert.ok(left.every((k) => !k.startsWith("ghost.")), `${bucket}: ${left}`);
    }
    const cleaned = routers.map((r) => clusterNodeOf(r)!.meta.cleanedUp);
    assert.deepEqual(cleaned.sort(), [0, 1]);
    assert.equal(clusterNodeOf(b)!.meta.sessionView.hiddenLives, 0, "nothing kept for it");
  } finally {
    for (const r of routers) await r.close(0);
  }
});

Deno.test("cluster meta: a realm a reload adds is cluster-wide at once; one it removes leaves nothing behind", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const realms = (names: string[]) =>
    parseConfig({
      version: 2,
      workers: [{
        type: "router",
        realms: names.map((name) => ({
          name,
          roles: [{ name: "anonymous", permissions: [{ uri: "", match: "prefix", allow: ALL }] }],
        })),
      }],
    });
  await a.reload(realms(["realm1", "realm2"]));
  await b.reload(realms(["realm1", "realm2"]));
  const onA = await a.session("realm2");
  const onB = await b.session("realm2");
  await c.settle();
  assert.equal(await call(onB, "wamp.session.count"), 2);
  const gone = onA.sessionId;
  await a.reload(realms(["realm1"]));
  await c.run(3500);
  assert.equal(await call(onB, "wamp.session.count"), 1, "its sessions were closed and left");
  await rejectsWith(onB.call("wamp.session.get", [gone]), "wamp.error.no_such_session");
  assert.deepEqual([...clusterNodeOf(a)!.meta.realms.keys()], ["realm1"]);
});

Deno.test("cluster meta: hostile bucket entries and meta requests are ignored; the meta API goes on", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const probe = c.twin.link("evil");
  const sessions = await probe.bucket(SESSIONS_BUCKET);
  const subs = await probe.bucket(SUBSCRIPTIONS_BUCKET);
  await sessions.put("not-an-owner-key", encode({ authid: "x" }));
  await sessions.put("evil.life.realm1.77", new Uint8Array([0xc1, 0xff]));
  await sessions.put("evil.life.realm1.79", encode("x"));
  await sessions.put("evil.life.realm1.78", encode({ authid: 1, authrole: "x", details: {} }));
  await sessions.put("evil.life.realm1.0", encode({ authid: "x", authrole: "x", details: {} }));
  await subs.put(
    "evil.life.realm1.5",
    encode({ uri: "a", match: "nope", created: "", subscribers: [] }),
  );
  await subs.put(
    "evil.life.realm1.6",
    encode({ uri: "a", match: "exact", created: "", subscribers: ["1"] }),
  );
  for (
    const bad of [new Uint8Array([1, 2, 3]), encode({ realm: "realm1", ids: "all" }), encode([])]
  ) {
    const answer = probe.request(metaSubject("a"), bad, 100);
    await c.run(250);
    await assert.rejects(answer, /timed out/);
  }
  // a valid kill request for an id that is not there kills nothing
  const reply = await probe.request(
    metaSubject("a"),
    encode({ realm: "realm1", ids: [42], reason: "wamp.close.killed" }),
    100,
  );
  assert.ok(reply.length > 0);
  await c.settle();
  const s = await a.session("realm1");
  await b.session("realm1");
  await c.settle();
  assert.equal(await call(s, "wamp.session.count"), 2);
  assert.equal(((await call(s, "wamp.subscription.list")) as Dict & { exact: [] }).exact.length, 0);
  await probe.close();
});

Deno.test("cluster meta: a 5,000-session join/leave churn across nodes leaves no key and no map entry behind", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const mon = await b.session("realm1", { authrole: "monitor" });
  const leaves = await listen(mon, "wamp.session.on_leave");
  const nodes = [a, b];
  for (let round = 0; round < 10; round++) {
    const batch = await Promise.all(
      Array.from({ length: 500 }, (_, i) => nodes[i % 2]!.session("realm1", { authid: `c${i}` })),
    );
    await Promise.all(
      batch.slice(0, 250).map((s) => s.subscribe(`com.churn.${round % 3}`, () => {})),
    );
    await Promise.all(
      batch.slice(0, 50).map((s) => s.call("wamp.session.add_testament", ["com.churn.will"])),
    );
    await c.run(250);
    assert.equal(await call(mon, "wamp.session.count"), 501);
    await Promise.all(batch.map((s) => s.close()));
    await c.run(250);
  }
  assert.equal(leaves.length, 5000);
  assert.equal(await call(mon, "wamp.session.count"), 1);
  assert.deepEqual(
    await keys(c.twin, SESSIONS_BUCKET, "p1"),
    await keys(c.twin, SESSIONS_BUCKET, "p2"),
  );
  assert.equal((await keys(c.twin, SESSIONS_BUCKET, "p3")).length, 1, "the monitor's own");
  assert.deepEqual(await keys(c.twin, TESTAMENTS_BUCKET, "p4"), []);
  // the monitor's own on_leave subscription only
  const subsLeft = await keys(c.twin, SUBSCRIPTIONS_BUCKET, "p5");
  const onLeave = subscriptionId("realm1", "exact", "wamp.session.on_leave");
  assert.deepEqual(subsLeft.map((k) => k.split(".").at(-1)), [String(onLeave)]);
  for (const r of nodes) {
    const meta = clusterNodeOf(r)!.meta;
    assert.ok(meta.sessionView.size <= 1, String(meta.sessionView.size));
    assert.ok(meta.subscriptionView.size <= 1);
    assert.equal(meta.sessionView.hiddenLives, 0);
    // b keeps the key of the monitor's own subscription
    assert.deepEqual(meta.realms.get("realm1")!.held, {
      testaments: 0,
      subscriptions: r === b ? 1 : 0,
      dirty: 0,
    });
    assert.equal(meta.sessions.pending + meta.testaments.pending + meta.subscriptions.pending, 0);
  }
});
