/**
 * `wamp.subscription.remove_subscriber` and `wamp.registration.remove_callee` of sessions of
 * other nodes, in one process: routers joined through the in-memory twin of NATS
 * (`MemoryCluster`) on a FakeClock. The session's own node removes it (events stop reaching it,
 * every node's meta API and dealer see it gone, a `single` registration can be taken again),
 * the session stays open; unknown sessions, sessions not in the subscription/registration, a
 * gone node, and malformed requests on the meta subject. The same across processes with
 * AutobahnJS (UNSUBSCRIBED/UNREGISTERED with the reason) is in
 * `cluster_remove_process_test.ts`.
 */

import assert from "node:assert/strict";
import { decode, encode } from "../src/cluster/codec.ts";
import { metaSubject } from "../src/cluster/cluster_meta.ts";
import { clusterNodeOf } from "../src/cluster/node.ts";
import { registrationId } from "../src/cluster/registration_wire.ts";
import { subscriptionId } from "../src/cluster/session_wire.ts";
import type { Router } from "../src/router/router.ts";
import type { Args } from "../src/wamp/messages.ts";
import { call, rejectsWith, type TwinCluster, twinCluster } from "./_cluster_inproc.ts";

/** A cluster of `names` whose settling includes the meta state, after 1.5 s of heartbeats. */
async function cluster(...names: string[]): Promise<TwinCluster> {
  return await twinCluster(names, undefined, { meta: true, warmUp: 1500 });
}

Deno.test("cluster remove: remove_subscriber of a session of another node is done by its node", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const admin = await a.session("realm1");
  const pub = await a.session("realm1");
  const gone: Args[] = [];
  const kept: Args[] = [];
  const victim = await b.session("realm1");
  const other = await b.session("realm1");
  const sub = await victim.subscribe("com.r.topic", (args) => gone.push(args));
  await other.subscribe("com.r.topic", (args) => kept.push(args));
  await c.run(250);
  assert.equal(sub.id, subscriptionId("realm1", "exact", "com.r.topic"));
  assert.equal(await call(admin, "wamp.subscription.count_subscribers", [sub.id]), 2);

  assert.equal(
    await call(admin, "wamp.subscription.remove_subscriber", [sub.id, victim.sessionId], {
      reason: "com.r.out",
    }),
    null,
  );
  await c.run(250);
  for (const who of [admin, victim]) {
    assert.deepEqual(await call(who, "wamp.subscription.list_subscribers", [sub.id]), [
      other.sessionId,
    ]);
  }
  await pub.publish("com.r.topic", ["after"], {}, { acknowledge: true });
  await c.settle();
  assert.deepEqual(gone, [], "the removed subscriber gets no more events");
  assert.deepEqual(kept, [["after"]]);
  assert.ok(victim.isOpen, "the session stays open");
  // a second time: the session is no longer subscribed
  await rejectsWith(
    admin.call("wamp.subscription.remove_subscriber", [sub.id, victim.sessionId]),
    "wamp.error.no_such_session",
  );
  assert.equal(clusterNodeOf(b)!.meta.removalsAnswered, 2);
});

Deno.test("cluster remove: remove_callee of a callee of another node leaves the registration everywhere", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const admin = await a.session("realm1");
  const calleeB = await b.session("realm1");
  const calleeA = await a.session("realm1");
  const rr = await calleeB.register("com.r.rr", () => "b", { invoke: "roundrobin" });
  await calleeA.register("com.r.rr", () => "a", { invoke: "roundrobin" });
  const single = await calleeB.register("com.r.single", () => "b");
  await c.run(250);
  assert.equal(rr.id, registrationId("realm1", "exact", "com.r.rr"));
  assert.equal(await call(admin, "wamp.registration.count_callees", [rr.id]), 2);

  assert.equal(
    await call(admin, "wamp.registration.remove_callee", [rr.id, calleeB.sessionId], {
      reason: "com.r.out",
    }),
    null,
  );
  await c.run(250);
  for (const who of [admin, calleeB]) {
    assert.deepEqual(await call(who, "wamp.registration.list_callees", [rr.id]), [
      calleeA.sessionId,
    ]);
  }
  for (let i = 0; i < 4; i++) assert.equal(await call(calleeB, "com.r.rr"), "a");

  // the single registration's only callee removed: it can be taken on another node
  await call(admin, "wamp.registration.remove_callee", [single.id, calleeB.sessionId]);
  await c.run(250);
  await rejectsWith(admin.call("com.r.single"), "wamp.error.no_such_procedure");
  const taker = await a.session("realm1");
  await taker.register("com.r.single", () => "a");
  await c.run(250);
  assert.equal(await call(calleeB, "com.r.single"), "a");
  assert.ok(calleeB.isOpen, "the session stays open");
  await rejectsWith(
    admin.call("wamp.registration.remove_callee", [rr.id, calleeB.sessionId]),
    "wamp.error.no_such_session",
  );
});

Deno.test("cluster remove: unknown sessions, sessions not in it and a gone node answer no_such_session", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const admin = await a.session("realm1");
  const subscriber = await a.session("realm1");
  const bystander = await b.session("realm1");
  const onB = await b.session("realm1");
  const sub = await subscriber.subscribe("com.r.x", () => {});
  const reg = await subscriber.register("com.r.p", () => null);
  await onB.subscribe("com.r.x", () => {});
  await onB.register("com.r.q", () => null);
  await c.run(250);
  const cases: [string, Args][] = [
    ["wamp.subscription.remove_subscriber", [sub.id, 424242]],
    ["wamp.subscription.remove_subscriber", [sub.id, bystander.sessionId]],
    ["wamp.registration.remove_callee", [reg.id, 424242]],
    ["wamp.registration.remove_callee", [reg.id, bystander.sessionId]],
    ["wamp.registration.remove_callee", [reg.id, onB.sessionId]],
  ];
  for (const [procedure, args] of cases) {
    await rejectsWith(admin.call(procedure, args), "wamp.error.no_such_session");
  }
  // unknown subscription/registration ids answer as they did
  await rejectsWith(
    admin.call("wamp.subscription.remove_subscriber", [999, onB.sessionId]),
    "wamp.error.no_such_subscription",
  );
  await rejectsWith(
    admin.call("wamp.registration.remove_callee", [999, onB.sessionId]),
    "wamp.error.no_such_registration",
  );
  assert.equal(await call(admin, "wamp.subscription.count_subscribers", [sub.id]), 2);

  // node b dies: before it is declared down, its sessions are still in a's view, but nobody
  // answers on its subject
  c.twin.kill("b");
  // node b is dead: its router is never closed (its link's calls would never settle)
  c.routers.splice(1, 1);
  await rejectsWith(
    admin.call("wamp.subscription.remove_subscriber", [sub.id, onB.sessionId]),
    "wamp.error.no_such_session",
  );
  // once it is declared down, they are unknown sessions
  await c.run(5000);
  await rejectsWith(
    admin.call("wamp.registration.remove_callee", [reg.id, onB.sessionId]),
    "wamp.error.no_such_session",
  );
  assert.equal(await call(admin, "wamp.subscription.count_subscribers", [sub.id]), 1);
  assert.ok(subscriber.isOpen && admin.isOpen);
});

Deno.test("cluster remove: malformed removal requests on the meta subject are dropped; the node goes on", async () => {
  await using c = await cluster("a", "b");
  const [a, b] = c.routers as [Router, Router];
  const s = await a.session("realm1");
  const sub = await s.subscribe("com.r.m", () => {});
  await c.run(250);
  const probe = c.twin.link("evil");
  const bad = [
    { op: "remove_subscriber" },
    { op: "remove_subscriber", realm: "realm1", id: "x", session: s.sessionId },
    { op: "remove_subscriber", realm: "realm1", id: sub.id, session: -1 },
    { op: "remove_subscriber", realm: "realm1", id: sub.id, session: s.sessionId, reason: 7 },
    { op: "remove_everything", realm: "realm1", id: sub.id, session: s.sessionId },
    { op: null, realm: 1 },
  ];
  for (const request of bad) {
    const answer = probe.request(metaSubject("a"), encode(request), 100);
    await c.run(250);
    await assert.rejects(answer, /timed out/, JSON.stringify(request));
  }
  assert.equal(clusterNodeOf(a)!.meta.removalsAnswered, 0);
  // well-formed, but for nothing that is there: answered, nothing removed
  for (
    const request of [
      { op: "remove_subscriber", realm: "nope", id: sub.id, session: s.sessionId },
      { op: "remove_callee", realm: "realm1", id: sub.id, session: s.sessionId },
      { op: "remove_subscriber", realm: "realm1", id: sub.id, session: 77 },
    ]
  ) {
    const reply = await probe.request(metaSubject("a"), encode(request), 100);
    assert.deepEqual(decode(reply), { removed: false });
  }
  const other = await b.session("realm1");
  await c.settle();
  assert.equal(await call(other, "wamp.subscription.count_subscribers", [sub.id]), 1);
  // and a real one still works
  await call(other, "wamp.subscription.remove_subscriber", [sub.id, s.sessionId]);
  await c.run(250);
  assert.equal(await call(other, "wamp.subscription.lookup", ["com.r.m"]), null);
  await probe.close();
});
