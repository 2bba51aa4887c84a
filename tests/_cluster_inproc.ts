/**
 * Cluster nodes inside the test process: routers joined through the in-memory twin of NATS on a
 * FakeClock ({@link twinCluster}), or through a real nats-server ({@link natsNode}), on a
 * realm `realm1` where role `anonymous` may do everything (or with the roles a test gives it).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { WampClient } from "../src/client.ts";
import { FakeClock } from "../src/clock.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { clusterNodeOf, startClusterNode } from "../src/cluster/node.ts";
import { parseConfig } from "../src/config/config.ts";
import type { RouterConfig } from "../src/config/types.ts";
import { createRouter } from "../src/create_router.ts";
import { type Router, routerWithExtension } from "../src/router/router.ts";
import type { Args, Dict } from "../src/wamp/messages.ts";

/** A permission's `allow` granting everything. */
export const ALL = { call: true, register: true, publish: true, subscribe: true };

/** A role `name` allowed everything on every URI. */
export function allowAllRole(name: string): Record<string, unknown> {
  return { name, permissions: [{ uri: "", match: "prefix", allow: ALL }] };
}

/**
 * The node config of a test node: `realm` adds keys to `realm1` (its `roles` replace the one
 * role `anonymous`), `transports` default none.
 */
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
        roles: [allowAllRole("anonymous")],
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
  /** Advances the clock by `ms` in heartbeat-sized steps (250 ms), settling after each. */
  run(ms: number): Promise<void>;
}

/** How {@link twinCluster} joins its routers. */
export interface TwinOptions {
  /** The twin's NATS payload limit. */
  readonly maxPayload?: number;
  /** Settling also waits, each round, for every node's cluster meta state to be written. */
  readonly meta?: boolean;
  /** Once ready, the clock runs this many ms ({@link TwinCluster.run}) instead of one settle. */
  readonly warmUp?: number;
}

/** One router per name, `config(name)` each, joined on a twin (see {@link TwinOptions}). */
export async function twinCluster(
  names: readonly string[],
  config: (name: string) => RouterConfig = (name) => parseConfig(nodeConfig(name)),
  options: TwinOptions = {},
): Promise<TwinCluster> {
  const { meta = false, warmUp, ...link } = options;
  const clock = new FakeClock();
  const twin = new MemoryCluster({ clock, ...link });
  const routers = names.map((name) =>
    routerWithExtension(
      config(name),
      { clock },
      (router) => startClusterNode(router, router.config.cluster!, { link: twin.link(name) }),
    )
  );
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await twin.settle();
      if (!meta) continue;
      for (const r of routers) await clusterNodeOf(r)?.meta.settled();
      await twin.settle();
    }
  };
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 250) {
      clock.advance(250);
      await settle();
    }
  };
  try {
    await Promise.all(routers.map((r) => r.ready));
    if (warmUp === undefined) await settle();
    else await run(warmUp);
  } catch (e) {
    for (const r of routers) await r.close(0);
    throw e;
  }
  return {
    twin,
    clock,
    routers,
    settle,
    run,
    async [Symbol.asyncDispose]() {
      for (const r of routers) await r.close(0);
    },
  };
}

/** A node named `name` of the cluster of the nats-server at `url` (close it when done). */
export function natsNode(name: string, url: string): Router {
  return createRouter(nodeConfig(name, url));
}

/** The first argument of the result of `procedure` called by `client` (a session of a node). */
export async function call(
  client: WampClient,
  procedure: string,
  args: Args = [],
  kwargs?: Dict,
): Promise<unknown> {
  return (await client.call(procedure, args, kwargs)).args[0];
}

/** Asserts that `p` is rejected with the WAMP error `uri`. */
export async function rejectsWith(p: Promise<unknown>, uri: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { uri?: string }).uri, uri);
    return true;
  });
}
