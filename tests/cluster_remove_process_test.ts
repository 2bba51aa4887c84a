/**
 * `wamp.subscription.remove_subscriber` and `wamp.registration.remove_callee` of sessions of
 * another node, across router processes joined by a real nats-server (`tests/_cluster.ts`
 * starts everything and always stops it), with AutobahnJS clients: the removed session gets
 * UNSUBSCRIBED/UNREGISTERED with the reason from its own node (AutobahnJS announces the
 * revocation features), events and calls no longer reach it, the session stays open, and a
 * session of a SIGKILLed node answers `no_such_session`. In one process on the in-memory twin:
 * `cluster_remove_test.ts`.
 */

import assert from "node:assert/strict";
import { AutobahnClient, deadline } from "./interop/common.ts";
import { TestCluster } from "./_cluster.ts";

interface AbSubscription {
  id: number;
  active: boolean;
  on_unsubscribe: Promise<unknown>;
}
interface AbRegistration {
  id: number;
  active: boolean;
  on_unregister: Promise<unknown>;
}

/**
 * Waits until `probe` holds, polling (a deadline, not a timing assertion); a probe that rejects
 * (the meta API's view of another node is eventually consistent) counts as not yet.
 */
async function eventually(probe: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await Promise.resolve().then(probe).catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function errorOf(e: unknown): string | undefined {
  return (e as { error?: string }).error;
}

Deno.test("cluster remove processes: remove_subscriber and remove_callee of another node's sessions", async (t) => {
  await using cluster = await TestCluster.start(["r1", "r2"]);
  await cluster.converged();
  const join = (node: string) => AutobahnClient.join(cluster.node(node).url, "json");
  await using admin = await join("r1");
  await using far = await join("r2");

  await t.step("remove_subscriber: UNSUBSCRIBED with the reason, no more events", async () => {
    const events: unknown[] = [];
    const s = await far.session.subscribe("com.rm.topic", (args) => {
      events.push(args);
    }) as unknown as AbSubscription;
    await eventually(
      async () => (await admin.session.call("wamp.subscription.count_subscribers", [s.id])) === 1,
      "the subscriber seen on r1",
    );
    await admin.session.call("wamp.subscription.remove_subscriber", [s.id, far.id], {
      reason: "com.rm.revoked",
    });
    assert.equal(await deadline(s.on_unsubscribe, 5000, "on_unsubscribe"), "com.rm.revoked");
    assert.equal(s.active, false);
    await eventually(
      async () => (await admin.session.call("wamp.subscription.lookup", ["com.rm.topic"])) === null,
      "the subscription gone on r1",
    );
    await admin.session.publish("com.rm.topic", ["after"], {}, { acknowledge: true });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(events, []);
    assert.ok(far.session.isOpen, "the session stays open");
  });

  await t.step("remove_callee: UNREGISTERED with the reason, calls go elsewhere", async () => {
    await using near = await join("r1");
    const reg = await far.session.register("com.rm.proc", () => "r2", {
      invoke: "roundrobin",
    }) as unknown as AbRegistration;
    await near.session.register("com.rm.proc", () => "r1", { invoke: "roundrobin" });
    await eventually(
      async () => (await admin.session.call("wamp.registration.count_callees", [reg.id])) === 2,
      "both callees seen on r1",
    );
    await admin.session.call("wamp.registration.remove_callee", [reg.id, far.id], {
      reason: "com.rm.revoked",
    });
    assert.equal(await deadline(reg.on_unregister, 5000, "on_unregister"), "com.rm.revoked");
    assert.equal(reg.active, false);
    await eventually(
      async () => (await admin.session.call("wamp.registration.count_callees", [reg.id])) === 1,
      "one callee left on r1",
    );
    for (let i = 0; i < 4; i++) assert.equal(await admin.session.call("com.rm.proc"), "r1");
    await assert.rejects(
      admin.session.call("wamp.registration.remove_callee", [reg.id, far.id]),
      (e: unknown) => errorOf(e) === "wamp.error.no_such_session",
    );
    assert.ok(far.session.isOpen, "the session stays open");
  });

  await t.step("a session of a SIGKILLed node: no_such_session", async () => {
    const s = await far.session.subscribe("com.rm.dead", () => {}) as unknown as AbSubscription;
    await using near = await join("r1");
    await near.session.subscribe("com.rm.dead", () => {});
    await eventually(
      async () => (await admin.session.call("wamp.subscription.count_subscribers", [s.id])) === 2,
      "both subscribers seen on r1",
    );
    // r2 answered the two removals (and the failed second remove_callee)
    const metrics = await cluster.metrics("r2");
    assert.match(metrics, /^switchboard_cluster_remove_requests_total\{node="r2"\} 3$/m);
    const farId = far.id; // gone with its session once its node is killed
    await cluster.kill("r2");
    await assert.rejects(
      admin.session.call("wamp.subscription.remove_subscriber", [s.id, farId]),
      (e: unknown) => {
        assert.equal(errorOf(e), "wamp.error.no_such_session", JSON.stringify(e));
        return true;
      },
    );
    assert.ok(admin.session.isOpen);
  });
});
