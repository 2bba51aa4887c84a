/**
 * `GET /readyz` of a cluster node (issue 13 item 1): 503 with the `cluster` check while the node
 * has lost its link to the cluster engine, 200 again once it is back; `/healthz` stays 200 (the
 * node keeps serving its own clients). Driven by the in-memory twin on a FakeClock.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../src/config/config.ts";
import { nodeConfig, twinCluster } from "./_cluster_inproc.ts";

const WEB = [{
  type: "web",
  endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
  paths: { ws: { type: "websocket" } },
}];

Deno.test("cluster: /readyz is 503 naming the cluster check while the link is down, /healthz stays 200", async () => {
  await using cluster = await twinCluster(
    ["r1"],
    (name) => parseConfig(nodeConfig(name, undefined, {}, WEB)),
  );
  const { twin, routers: [router] } = cluster;
  const handler = router!.handler();
  const get = async (path: string) => {
    const res = await handler(new Request(`http://127.0.0.1/${path}`));
    return { status: res.status, body: await res.json() };
  };
  assert.deepEqual(await get("readyz"), { status: 200, body: { status: "ready" } });

  twin.disconnect("r1");
  await twin.settle();
  const down = await get("readyz");
  assert.equal(down.status, 503);
  assert.deepEqual(down.body.reasons, [
    { check: "cluster", reason: "the cluster link (NATS) is not connected" },
  ]);
  assert.equal((await get("healthz")).status, 200);

  twin.reconnect("r1");
  await twin.settle();
  assert.deepEqual(await get("readyz"), { status: 200, body: { status: "ready" } });
});
