/**
 * `GET /readyz` of a cluster node (issue 13 item 1): 503 with the `cluster` check while the node
 * has lost its link to the cluster engine, 200 again once it is back; `/healthz` stays 200 (the
 * node keeps serving its own clients). Driven by the in-memory twin on a FakeClock.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { startClusterNode } from "../src/cluster/node.ts";
import { parseConfig } from "../src/config/config.ts";
import { routerWithExtension } from "../src/router/router.ts";

function config(node: string) {
  return parseConfig({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [] }] }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
        paths: { ws: { type: "websocket" } },
      }],
      cluster: { type: "nats", servers: ["nats://127.0.0.1:4222"], node },
    }],
  });
}

Deno.test("cluster: /readyz is 503 naming the cluster check while the link is down, /healthz stays 200", async () => {
  const clock = new FakeClock();
  const twin = new MemoryCluster({ clock });
  const router = routerWithExtension(
    config("r1"),
    { clock },
    (r) => startClusterNode(r, r.config.cluster!, { link: twin.link("r1") }),
  );
  try {
    await router.ready;
    const handler = router.handler();
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
  } finally {
    await router.close(0);
  }
});
