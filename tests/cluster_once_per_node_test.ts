/**
 * Each publication crosses to an interested node exactly once (issue 12 item 1): a node whose
 * subscribers hold overlapping exact, prefix and wildcard subscriptions gets one NATS message
 * per publication (its event subscriptions share one queue group), and its broker delivers it
 * to every matching local subscription. Two nodes in this process over a real nats-server.
 */

import assert from "node:assert/strict";
import { clusterNodeOf } from "../src/cluster/node.ts";
import { natsNode } from "./_cluster_inproc.ts";
import { NatsServer } from "./_nats.ts";

Deno.test("cluster: overlapping patterns on one node get each publication once from NATS, every subscription its event", async () => {
  await using nats = await NatsServer.start();
  const a = natsNode("once-a", nats.url);
  const b = natsNode("once-b", nats.url);
  try {
    await Promise.all([a.ready, b.ready]);
    const pub = await a.session("realm1", { authrole: "anonymous" });
    const got: Record<string, number> = { exact: 0, prefix: 0, wildcard: 0, other: 0 };
    const subs = await Promise.all(
      [0, 1].map(() => b.session("realm1", { authrole: "anonymous" })),
    );
    for (const s of subs) {
      await s.subscribe("com.x.y", () => got.exact!++);
      await s.subscribe("com.x", () => got.prefix!++, { match: "prefix" });
      await s.subscribe("com..y", () => got.wildcard!++, { match: "wildcard" });
      await s.subscribe("com.z", () => got.other!++, { match: "prefix" });
    }
    const n = 50;
    for (let i = 0; i < n; i++) await pub.publish("com.x.y", [i], {}, { acknowledge: true });
    const events = clusterNodeOf(b)!.realms.get("realm1")!;
    for (let i = 0; i < 200 && events.received < n; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 100)); // room for copies that should not come
    assert.equal(events.received, n, "one delivery per publication");
    assert.equal(events.duplicates, 0, "no publication arrived twice");
    assert.deepEqual(got, { exact: 2 * n, prefix: 2 * n, wildcard: 2 * n, other: 0 });
  } finally {
    await a.close(0);
    await b.close(0);
  }
});
