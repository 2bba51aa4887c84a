/**
 * Events across nodes, in one process: two or three routers joined through the in-memory twin
 * of NATS (`MemoryCluster`) on a FakeClock, with in-process sessions on each. What a subscriber
 * on one node gets from a publisher on another: exact, prefix and wildcard subscriptions
 * (`Details.topic`), exactly once (also when several of its node's subscriptions match), in
 * publisher order, with exclusion, eligibility and disclosure by session ids of other nodes,
 * retained events, and nothing after the interest is gone; hostile bus messages are ignored.
 * The same over real NATS and real clients is in `cluster_process_test.ts`.
 */

import assert from "node:assert/strict";
import { encode } from "../src/cluster/codec.ts";
import { EVENT_PREFIX } from "../src/cluster/events.ts";
import { nodeNumberOf } from "../src/cluster/membership.ts";
import { clusterNodeOf } from "../src/cluster/node.ts";
import { eventSubject } from "../src/cluster/subjects.ts";
import type { WampClient } from "../src/client.ts";
import { parseConfig } from "../src/config/config.ts";
import { type Router, routerInternals } from "../src/router/router.ts";
import type { Args, Dict } from "../src/wamp/messages.ts";
import { ALL, allowAllRole, nodeConfig, type TwinCluster, twinCluster } from "./_cluster_inproc.ts";

function config(node: string, stats = false) {
  return parseConfig(nodeConfig(node, undefined, {
    ...(stats ? { stats: { trigger_on_join: true, trigger_on_leave: true } } : {}),
    roles: [
      allowAllRole("anonymous"),
      {
        name: "partial",
        permissions: [
          { uri: "", match: "prefix", allow: { ...ALL, subscribe: false } },
          { uri: "com.", match: "prefix", allow: ALL },
          { uri: "com.secret.", match: "prefix", allow: { ...ALL, subscribe: false } },
        ],
      },
    ],
  }));
}

async function cluster(...names: string[]): Promise<TwinCluster> {
  return await clusterWith(false, names);
}

async function clusterWith(stats: boolean, names: string[]): Promise<TwinCluster> {
  return await twinCluster(names, (name) => config(name, stats));
}

interface Got {
  args: Args;
  details: Dict;
}

async function listen(
  client: WampClient,
  topic: string,
  options: Dict = {},
): Promise<Got[]> {
  const got: Got[] = [];
  await client.subscribe(topic, (args, _kw, details) => got.push({ args, details }), options);
  return got;
}

Deno.test("cluster events: exact, prefix and wildcard subscriptions on another node, with Details.topic", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1", { authrole: "anonymous" });
  const sub = await b.session("realm1", { authrole: "anonymous" });
  const local = await a.session("realm1", { authrole: "anonymous" });
  const exact = await listen(sub, "com.app.x");
  const prefix = await listen(sub, "com.ap", { match: "prefix" });
  const wild = await listen(sub, "com..x", { match: "wildcard" });
  const other = await listen(sub, "org.", { match: "prefix" });
  const near = await listen(local, "com.app.x");
  const id = await pub.publish("com.app.x", [1], undefined, { acknowledge: true });
  await pub.publish("com.apq.y", [2]);
  await pub.publish("net.app.x", [3]);
  await c.settle();
  assert.deepEqual(exact, [{ args: [1], details: {} }]);
  assert.deepEqual(prefix.map((g) => [g.args, g.details.topic]), [[[1], "com.app.x"], [
    [2],
    "com.apq.y",
  ]]);
  assert.deepEqual(wild.map((g) => [g.args, g.details.topic]), [[[1], "com.app.x"]]);
  assert.deepEqual(other, []);
  assert.deepEqual(near, [{ args: [1], details: {} }], "the local subscriber too, once");
  // every node names the publication with the publisher's id
  const ev = await listen(sub, "com.id");
  const evLocal = await listen(local, "com.id");
  const pid = await pub.publish("com.id", [], undefined, { acknowledge: true });
  await c.settle();
  assert.equal(typeof id, "number");
  assert.equal(ev.length, 1);
  assert.equal(evLocal.length, 1);
  // the EVENT's publication id is not exposed by WampClient's handler: compare via the counter
  assert.ok(pid !== undefined);
  assert.equal(clusterNodeOf(b)!.realms.get("realm1")!.received, 3);
});

Deno.test("cluster events: one delivery per subscription even when several of a node's NATS subscriptions match", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const sub = await b.session("realm1");
  const s2 = await b.session("realm1");
  const exact = await listen(sub, "com.x.y");
  const prefix = await listen(sub, "com.x", { match: "prefix" });
  const prefix2 = await listen(s2, "com.", { match: "prefix" });
  const wild = await listen(s2, "com..y", { match: "wildcard" });
  for (let i = 0; i < 20; i++) await pub.publish("com.x.y", [i]);
  await c.settle();
  const seq = Array.from({ length: 20 }, (_, i) => [i]);
  assert.deepEqual(exact.map((g) => g.args), seq);
  assert.deepEqual(prefix.map((g) => g.args), seq);
  assert.deepEqual(prefix2.map((g) => g.args), seq);
  assert.deepEqual(wild.map((g) => g.args), seq, "in publisher order, exactly once");
});

Deno.test("cluster events: exclude, eligible, exclude_me and disclosure with session ids of other nodes", async () => {
  await using c = await cluster("a", "b", "c");
  const [a, b, n3] = c.routers as [Router, Router, Router];
  const pub = await a.session("realm1", { authrole: "anonymous", authid: "alice" });
  const onB = await b.session("realm1", { authrole: "anonymous", authid: "bob" });
  const onB2 = await b.session("realm1", { authrole: "anonymous", authid: "bea" });
  const onC = await n3.session("realm1", { authrole: "anonymous", authid: "carl" });
  // session ids carry the node number of their node
  const numbers = c.routers.map((r) => routerInternals(r).status().number);
  assert.equal(nodeNumberOf(pub.sessionId), numbers[0]);
  assert.equal(nodeNumberOf(onB.sessionId), numbers[1]);
  assert.equal(nodeNumberOf(onC.sessionId), numbers[2]);
  const gb = await listen(onB, "t");
  const gb2 = await listen(onB2, "t");
  const gc = await listen(onC, "t");
  const gp = await listen(pub, "t");
  await pub.publish("t", ["excl"], undefined, { exclude: [onB.sessionId] });
  await pub.publish("t", ["elig"], undefined, { eligible: [onC.sessionId, onB2.sessionId] });
  await pub.publish("t", ["authid"], undefined, { exclude_authid: ["carl"] });
  await pub.publish("t", ["me"], undefined, { exclude_me: false, disclose_me: true });
  await c.settle();
  assert.deepEqual(gb.map((g) => g.args[0]), ["elig", "authid", "me"].filter((x) => x !== "elig"));
  assert.deepEqual(gb2.map((g) => g.args[0]), ["excl", "elig", "authid", "me"]);
  assert.deepEqual(gc.map((g) => g.args[0]), ["excl", "elig", "me"]);
  assert.deepEqual(gp.map((g) => g.args[0]), ["me"]);
  const disclosed = gc.at(-1)!.details;
  assert.equal(disclosed.publisher, pub.sessionId);
  assert.equal(disclosed.publisher_authid, "alice");
  assert.equal(disclosed.publisher_authrole, "anonymous");
  assert.equal(gc[0]!.details.publisher, undefined, "not disclosed unless asked");
});

Deno.test("cluster events: a subscriber whose role covers a pattern only in part gets only the topics it may receive", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1", { authrole: "anonymous" });
  const sub = await b.session("realm1", { authrole: "partial" });
  const got = await listen(sub, "com.", { match: "prefix" });
  await pub.publish("com.open.x", [1]);
  await pub.publish("com.secret.x", [2]);
  await c.settle();
  assert.deepEqual(got.map((g) => g.args), [[1]]);
});

Deno.test("cluster events: nothing crosses once the interest is gone; a new subscription brings it back", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const sub = await b.session("realm1");
  const events = clusterNodeOf(b)!.realms.get("realm1")!;
  const got: unknown[] = [];
  const s = await sub.subscribe("t.x", (args) => got.push(args[0]));
  await pub.publish("t.x", [1]);
  await c.settle();
  await s.unsubscribe();
  await c.settle();
  const before = events.received;
  await pub.publish("t.x", [2]);
  await c.settle();
  assert.equal(events.received, before, "the NATS subscription is gone");
  await listen(sub, "t.", { match: "prefix" });
  await sub.subscribe("t.x", (args) => got.push(args[0]));
  await pub.publish("t.x", [3]);
  await c.settle();
  assert.deepEqual(got, [1, 3]);
});

Deno.test("cluster events: retained events reach a get_retained subscriber on another node", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1", { authrole: "anonymous", authid: "alice" });
  await pub.publish("r.one", [1], undefined, { retain: true, acknowledge: true });
  await pub.publish("r.one", [2], undefined, { retain: true, acknowledge: true });
  await pub.publish("r.two", [3], undefined, {
    retain: true,
    disclose_me: true,
    acknowledge: true,
  });
  await c.settle();
  const sub = await b.session("realm1");
  const exact = await listen(sub, "r.one", { get_retained: true });
  const prefix = await listen(sub, "r.", { match: "prefix", get_retained: true });
  const none = await listen(sub, "r.one");
  await c.settle();
  assert.deepEqual(exact.map((g) => [g.args, g.details.retained]), [[[2], true]]);
  assert.deepEqual(
    prefix.map((g) => [g.args, g.details.topic]).sort((x, y) =>
      String(x[1]).localeCompare(String(y[1]))
    ),
    [[[2], "r.one"], [[3], "r.two"]],
  );
  assert.equal(prefix.find((g) => g.details.topic === "r.two")!.details.publisher, pub.sessionId);
  assert.deepEqual(none, [], "without get_retained nothing");
  // an eligible-only retained event: for its session only, on whichever node
  const carl = await b.session("realm1", { authid: "carl" });
  await pub.publish("r.one", [4], undefined, {
    retain: true,
    eligible: [carl.sessionId],
    acknowledge: true,
  });
  await c.settle();
  const late = await listen(await b.session("realm1"), "r.one", { get_retained: true });
  const mine = await listen(carl, "r.one", { get_retained: true });
  await c.settle();
  assert.deepEqual(late.map((g) => g.args), [[2]]);
  assert.deepEqual(mine.map((g) => g.args), [[4]]);
  // the publisher's own node reads the cluster's copy too; exclude_me holds for its own event
  const self = await listen(pub, "r.two", { get_retained: true });
  const other = await listen(await a.session("realm1"), "r.two", { get_retained: true });
  await c.settle();
  assert.deepEqual(self, []);
  assert.deepEqual(other.map((g) => g.args), [[3]]);
});

Deno.test("cluster events: while NATS is out of reach local subscriptions work at once; afterwards events cross again", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const sub = await b.session("realm1");
  const near = await b.session("realm1");
  c.twin.disconnect("b");
  await c.settle();
  const got = await listen(sub, "d.x");
  await near.publish("d.x", ["local"]);
  await c.settle();
  assert.deepEqual(got.map((g) => g.args[0]), ["local"]);
  c.twin.reconnect("b");
  await c.settle();
  await pub.publish("d.x", ["remote"]);
  await c.settle();
  assert.deepEqual(got.map((g) => g.args[0]), ["local", "remote"]);
});

Deno.test("cluster events: a retained event published while NATS is out of reach reaches the cluster when it is back", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const cut = await b.session("realm1");
  const pa = await a.session("realm1");
  c.twin.disconnect("b");
  await c.settle();
  await cut.publish("cut.x", [1], undefined, { retain: true, acknowledge: true });
  await cut.publish("cut.x", [2], undefined, { retain: true, acknowledge: true });
  // both nodes retain on cut.z while apart: b's write lands after a's, so b's wins
  await pa.publish("cut.z", ["a"], undefined, { retain: true, acknowledge: true });
  await cut.publish("cut.z", ["b"], undefined, { retain: true, acknowledge: true });
  const near = await listen(await b.session("realm1"), "cut.x", { get_retained: true });
  const far = await listen(await a.session("realm1"), "cut.x", { get_retained: true });
  await c.settle();
  assert.deepEqual(near.map((g) => g.args), [[2]], "the cut-off node's own broker has it");
  assert.deepEqual(far, [], "the other node cannot have it yet");
  const events = clusterNodeOf(b)!.realms.get("realm1")!;
  assert.equal(events.unstoredRetained, 2);
  // back, and at once gone again: the write fails and the events are kept for the next time
  c.twin.reconnect("b");
  c.twin.disconnect("b");
  await c.settle();
  await c.settle(); // the failed bucket calls
  assert.equal(events.unstoredRetained, 2);
  c.twin.reconnect("b");
  await c.settle();
  assert.equal(events.unstoredRetained, 0);
  const later = await listen(await a.session("realm1"), "cut.x", { get_retained: true });
  const z = await listen(await a.session("realm1"), "cut.z", { get_retained: true });
  const zb = await listen(await b.session("realm1"), "cut.z", { get_retained: true });
  await c.settle();
  assert.deepEqual(later.map((g) => g.args), [[2]]);
  assert.deepEqual(z.map((g) => g.args), [["b"]]);
  assert.deepEqual(zb.map((g) => g.args), [["b"]]);
});

Deno.test("cluster events: hostile messages on event subjects are ignored; routing goes on", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const sub = await b.session("realm1");
  const got = await listen(sub, "h.", { match: "prefix" });
  const evil = c.twin.link("evil");
  const subject = eventSubject(EVENT_PREFIX, "realm1", "h.x");
  const record = {
    publication: 5,
    topic: "h.x",
    options: {},
    publisher: { id: 1, authid: "x", authrole: "y" },
    disclose: false,
    triggersStats: true,
  };
  evil.publish(subject, new Uint8Array([0xc1, 0xc1]));
  evil.publish(subject, encode([1, 2, 3]));
  evil.publish(subject, encode({ ...record, publication: "x" }));
  evil.publish(subject, encode({ ...record, topic: "h.other" })); // not the subject's topic
  evil.publish(subject, encode({ ...record, options: { exclude: "nope" } }));
  evil.publish(subject, encode({ ...record, args: { not: "a list" } }));
  await c.settle();
  assert.equal(got.length, 0);
  await pub.publish("h.x", ["fine"]);
  await c.settle();
  assert.deepEqual(got.map((g) => g.args), [["fine"]]);
});

Deno.test("cluster events: an acknowledged retained publication is readable on every node at once", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const sub = await b.session("realm1");
  for (let i = 0; i < 5; i++) {
    await pub.publish("ra.x", [i], undefined, { retain: true, acknowledge: true });
    // no settle(): PUBLISHED came only once the cluster had stored it
    const got = await listen(sub, "ra.x", { get_retained: true });
    assert.deepEqual(got.map((g) => g.args), [[i]]);
  }
});

Deno.test("cluster events: session meta events of one node reach a monitor on another", async () => {
  await using c = await clusterWith(true, ["a", "b"]);
  const [a, b] = c.routers as [Router, Router];
  const monitor = await b.session("realm1");
  const joins = await listen(monitor, "wamp.session.on_join");
  const stats = await listen(monitor, "wamp.session.on_stats");
  const leaves = await listen(monitor, "wamp.session.on_leave");
  const user = await a.session("realm1", { authrole: "anonymous", authid: "ann" });
  const id = user.sessionId;
  await c.settle();
  await user.close();
  await c.settle();
  assert.deepEqual(joins.map((g) => (g.args[0] as Dict).session), [id]);
  assert.equal((joins[0]!.args[0] as Dict).authid, "ann");
  assert.deepEqual(leaves.map((g) => g.args[0]), [id]);
  // in-process sessions are not metered: on_stats across nodes is in cluster_process_test.ts
  assert.equal(stats.length, 0);
  assert.equal(
    nodeNumberOf(joins[0]!.details.publisher as number),
    routerInternals(a).status().number,
  );
});

Deno.test("cluster events: a leaving session's testament reaches subscribers on another node", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const watcher = await b.session("realm1");
  const got = await listen(watcher, "com.will");
  const dying = await a.session("realm1");
  await dying.call("wamp.session.add_testament", ["com.will", ["bye"], { who: "me" }]);
  await dying.close();
  await c.settle();
  assert.deepEqual(got.map((g) => g.args), [["bye"]]);
});

Deno.test("cluster events: a reload keeps the cluster the node started with", async () => {
  await using c = await cluster("a", "b");
  const [a] = c.routers as [Router, Router];
  const before = a.config.cluster;
  // the file now names no node: parsing it picks a random name, which must not replace "a"
  await a.reload(parseConfig({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [] }],
      cluster: { type: "nats", servers: ["nats://127.0.0.1:4222"] },
    }],
  }));
  assert.deepEqual(a.config.cluster, before);
  assert.equal(a.config.cluster!.node, "a");
  // and a realm added by the reload gets its cluster link
  await a.reload(parseConfig({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [] }, { name: "realm2", roles: [] }],
    }],
  }));
  assert.equal(a.config.cluster!.node, "a");
  assert.ok(clusterNodeOf(a)!.realms.has("realm2"));
});

Deno.test("cluster events: subscription churn across nodes leaves nothing behind", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const pub = await a.session("realm1");
  const events = clusterNodeOf(b)!.realms.get("realm1")!;
  let delivered = 0;
  for (let round = 0; round < 50; round++) {
    const clients = await Promise.all([1, 2, 3].map(() => b.session("realm1")));
    const subs = await Promise.all(clients.flatMap((cl, i) => [
      cl.subscribe(`churn.t${round % 7}`, () => delivered++),
      cl.subscribe(`churn.`, () => delivered++, { match: "prefix" }),
      cl.subscribe(`churn..x${i}`, () => delivered++, { match: "wildcard" }),
    ]));
    assert.ok(events.held.subjects >= 2);
    await pub.publish(`churn.t${round % 7}`, [round]);
    await c.settle();
    // half unsubscribe, the other half just leave
    for (const s of subs.slice(0, 4)) await s.unsubscribe();
    for (const cl of clients) await cl.close();
    await c.settle();
    assert.deepEqual(events.held, { interests: 0, subjects: 0 }, `round ${round}`);
  }
  assert.equal(delivered, 50 * 6, "each round: 3 exact + 3 prefix subscribers");
  assert.deepEqual(
    [...routerInternals(b).realm("realm1")!.broker.all()].filter((s) => !s.uri.startsWith("wamp.")),
    [],
  );
});
