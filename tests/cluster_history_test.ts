/**
 * Event history across nodes (issue 12 item 5): every node receives the publications to its
 * realm's event-history entries, whoever subscribes where, so `wamp.subscription.get_events`
 * on any node returns the events published on every node. Two routers on the in-memory twin
 * of NATS, on a FakeClock; a reload adding an entry is held too.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../src/config/config.ts";
import type { RouterConfig } from "../src/config/types.ts";
import type { Router } from "../src/router/router.ts";
import { nodeConfig, twinCluster } from "./_cluster_inproc.ts";

function config(node: string, history: unknown[]): RouterConfig {
  return parseConfig(
    nodeConfig(node, undefined, { store: { type: "memory", "event-history": history } }),
  );
}

async function eventsOn(router: Router, uri: string, match: string): Promise<unknown[]> {
  const s = await router.session("realm1", { authrole: "anonymous" });
  try {
    const sub = await s.subscribe(uri, () => {}, { match });
    const res = await s.call("wamp.subscription.get_events", [sub.id, 10]);
    return (res.args[0] as { args?: unknown[] }[]).map((e) => e.args?.[0]);
  } finally {
    await s.close();
  }
}

Deno.test("cluster: the event history of every node's publications is on every node", async () => {
  const history = [{ uri: "com.hist", match: "prefix", limit: 10 }];
  await using cluster = await twinCluster(["h1", "h2"], (name) => config(name, history));
  const { settle } = cluster;
  const [a, b] = cluster.routers as [Router, Router];
  const pa = await a.session("realm1", { authrole: "anonymous" });
  const pb = await b.session("realm1", { authrole: "anonymous" });
  // nobody subscribes anywhere while these are published
  await pa.publish("com.hist.x", ["a1"], {}, { acknowledge: true });
  await pb.publish("com.hist.y", ["b1"], {}, { acknowledge: true });
  await pa.publish("com.hist.x", ["a2"], {}, { acknowledge: true });
  await pa.publish("com.other", ["not kept"], {}, { acknowledge: true });
  await settle();
  assert.deepEqual((await eventsOn(a, "com.hist", "prefix")).sort(), ["a1", "a2", "b1"]);
  assert.deepEqual((await eventsOn(b, "com.hist", "prefix")).sort(), ["a1", "a2", "b1"]);
});

Deno.test("cluster: an event-history entry a reload adds is held across nodes from then on", async () => {
  await using cluster = await twinCluster(["h1", "h2"], (name) => config(name, []));
  const { settle } = cluster;
  const [a, b] = cluster.routers as [Router, Router];
  const added = [{ uri: "com.late", match: "exact", limit: 5 }];
  for (const [r, name] of [[a, "h1"], [b, "h2"]] as const) await r.reload(config(name, added));
  await settle();
  const pa = await a.session("realm1", { authrole: "anonymous" });
  await pa.publish("com.late", ["after reload"], {}, { acknowledge: true });
  await settle();
  assert.deepEqual(await eventsOn(b, "com.late", "exact"), ["after reload"]);
});
