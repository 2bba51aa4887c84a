/**
 * Event history across node processes (issue 12 item 5), with AutobahnJS: events published on
 * two nodes while nobody subscribes are returned by `wamp.subscription.get_events` on a third.
 */

import assert from "node:assert/strict";
import { AutobahnClient } from "./interop/common.ts";
import { clusterNodeConfig, TestCluster } from "./_cluster.ts";

Deno.test("cluster processes: get_events on one node returns the history published on the others", async () => {
  const config = clusterNodeConfig({
    store: { type: "memory", "event-history": [{ uri: "com.hist", match: "prefix", limit: 20 }] },
  });
  await using cluster = await TestCluster.start(["e1", "e2", "e3"], { config });
  await using p1 = await AutobahnClient.join(cluster.node("e1").url, "json");
  await using p2 = await AutobahnClient.join(cluster.node("e2").url, "msgpack");
  for (const [c, tag] of [[p1, "from-e1"], [p2, "from-e2"]] as const) {
    for (let i = 0; i < 3; i++) {
      await c.session.publish(`com.hist.${tag}`, [`${tag}-${i}`], {}, { acknowledge: true });
    }
  }
  await using reader = await AutobahnClient.join(cluster.node("e3").url, "cbor");
  const sub = await reader.session.subscribe("com.hist", () => {}, { match: "prefix" });
  const want = ["from-e1-0", "from-e1-1", "from-e1-2", "from-e2-0", "from-e2-1", "from-e2-2"];
  let got: string[] = [];
  const end = Date.now() + 10_000; // a deadline for the watch to catch up, not a timing check
  while (Date.now() < end) {
    const id = (sub as { id: number }).id;
    const events = await reader.session.call("wamp.subscription.get_events", [id, 20]);
    got = (events as { args?: string[] }[]).map((e) => e.args?.[0] ?? "").sort();
    if (got.length >= want.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(got, want);
});
