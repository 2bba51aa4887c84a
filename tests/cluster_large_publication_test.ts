/**
 * A publication larger than the cluster engine carries (NATS `max_payload`) does not end its
 * publisher's session: its own node's subscribers get it, an acknowledged publisher gets ERROR
 * `wamp.error.payload_size_exceeded`, the other nodes go on receiving the publications that fit,
 * and `/metrics` counts it. Two routers on the in-memory twin with a 2,000-byte payload limit.
 */

import assert from "node:assert/strict";
import type { Router } from "../src/router/router.ts";
import { WampError } from "../src/wamp/errors.ts";
import { twinCluster } from "./_cluster_inproc.ts";

Deno.test("cluster: a publication too large to cross is delivered locally, ERROR to an acknowledged publisher, the session lives", async () => {
  await using cluster = await twinCluster(["big1", "big2"], undefined, { maxPayload: 2000 });
  const { settle } = cluster;
  const [a, b] = cluster.routers as [Router, Router];
  const far: string[] = [];
  const near: string[] = [];
  const remote = await b.session("realm1", { authrole: "anonymous" });
  await remote.subscribe("com.big", (args) => far.push(String(args[0]).slice(0, 5)));
  const pub = await a.session("realm1", { authrole: "anonymous" });
  await pub.subscribe("com.big", (args) => near.push(String(args[0]).slice(0, 5)), {});
  await settle();

  await assert.rejects(
    pub.publish("com.big", ["large".repeat(1000)], {}, { acknowledge: true, exclude_me: false }),
    (e: unknown) => e instanceof WampError && e.uri === "wamp.error.payload_size_exceeded",
  );
  // unacknowledged: no answer, and still no session ended
  await pub.publish("com.big", ["quiet".repeat(1000)], {}, { exclude_me: false });
  await pub.publish("com.big", ["small"], {}, { acknowledge: true, exclude_me: false });
  await settle();
  assert.deepEqual(near, ["large", "quiet", "small"], "the node's own subscribers get all three");
  assert.deepEqual(far, ["small"], "the other node gets what fits");
  assert.match(a.metricsText(), /switchboard_cluster_events_too_large_total\{node="big1"\} 2/);

  // a meta event too large to cross (on_join of a session with a 3,000-byte authid): the
  // session joins, the node's own monitors get it, nothing is thrown into the join
  const joins: unknown[] = [];
  await pub.subscribe("wamp.session.on_join", (args) => joins.push(args[0]));
  const long = await a.session("realm1", { authrole: "anonymous", authid: "x".repeat(3000) });
  await settle();
  assert.equal(joins.length, 1);
  assert.ok(long.sessionId > 0);
});
