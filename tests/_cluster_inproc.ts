/**
 * Cluster nodes inside the test process: routers joined through the in-memory twin of NATS on a
 * FakeClock ({@link twinCluster}), or through a real nats-server ({@link natsNode}), on a
 * realm `realm1` where role `anonymous` may do everything.
 *
 * @module
 */

import { FakeClock } from "../src/clock.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { startClusterNode } from "../src/cluster/node.ts";
import { parseConfig } from "../src/config/config.ts";
import type { RouterConfig } from "../src/config/types.ts";
import { createRouter } from "../src/create_router.ts";
import { type Router, routerWithExtension } from "../src/router/router.ts";

const ALL = { call: true, register: true, publish: true, subscribe: true };

/** The node config of a test node: `realm` adds keys to `realm1`, `transports` default none. */
export function nodeConfig(
  node: string,
  servers: string = "nats://127.0.0.1:4222",
  realm: Record<string, unknown> = {},
  transports: unknown[] = [],
): Record<string, unknown> {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [{ name: "anonymous", permissions: [{ uri: "", match: "prefix", allow: ALL }] }],
        ...realm,
      }],
      transports,
      cluster: { type: "nats", servers: [servers], node },
    }],
  };
}

/** Routers of one cluster on the in-memory twin; disposing closes them. */
export interface TwinCluster extends AsyncDisposable {
  readonly twin: MemoryCluster;
  readonly clock: FakeClock;
  readonly routers: Router[];
  /** Lets the twin deliver everything in flight (a few rounds). */
  settle(): Promise<void>;
}

/** One router per name, `config(name)` each, joined on a twin (`maxPayload`: its NATS limit). */
export async function twinCluster(
  names: readonly string[],
  config: (name: string) => RouterConfig = (name) => parseConfig(nodeConfig(name)),
  options: { readonly maxPayload?: number } = {},
): Promise<TwinCluster> {
  const clock = new FakeClock();
  const twin = new MemoryCluster({ clock, ...options });
  const routers = names.map((name) =>
    routerWithExtension(
      config(name),
      { clock },
      (router) => startClusterNode(router, router.config.cluster!, { link: twin.link(name) }),
    )
  );
  const settle = async () => {
    for (let i = 0; i < 5; i++) await twin.settle();
  };
  try {
    await Promise.all(routers.map((r) => r.ready));
    await settle();
  } catch (e) {
    for (const r of routers) await r.close(0);
    throw e;
  }
  return {
    twin,
    clock,
    routers,
    settle,
    async [Symbol.asyncDispose]() {
      for (const r of routers) await r.close(0);
    },
  };
}

/** A node named `name` of the cluster of the nats-server at `url` (close it when done). */
export function natsNode(name: string, url: string): Router {
  return createRouter(nodeConfig(name, url));
}
