/**
 * {@link createRouter}: the one way to build a router from a config, with or without a cluster.
 * A config without a `cluster` block gives the single-node router, and no cluster module is
 * loaded; with one, the cluster node (`cluster/node.ts`, and through it nats.js) is loaded by a
 * dynamic import and installed on the router's extension points before its realms start.
 *
 * @module
 */

import { parseConfig, readEnvironment } from "./config/config.ts";
import { isObject } from "./config/kit.ts";
import type { RouterConfig } from "./config/types.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Router, type RouterOptions, routerWithExtension } from "./router/router.ts";

/** True for a config `parseConfig` / `loadConfigFile` returned (not a node config document). */
function isParsed(config: unknown): config is RouterConfig {
  return isObject(config) && !Object.hasOwn(config, "workers") &&
    Array.isArray(config.realms) && Array.isArray(config.transports);
}

/**
 * Creates a router from a Crossbar-shaped node config object, validated exactly like a config
 * file (`"$NAME"` secrets are read from the process environment), or from a configuration
 * `parseConfig` or `loadConfigFile` already resolved.
 *
 * With a worker-level `cluster` block the router is one node of a cluster: it connects to the
 * NATS servers and joins the other nodes before its realms start and before
 * {@linkcode Router.serve} listens. When NATS cannot be reached, {@linkcode Router.ready} and
 * `serve()` reject with a `ClusterStartError` naming the servers.
 *
 * @param config A node config document, or a resolved {@linkcode RouterConfig}.
 * @param options Logger and clock.
 * @returns The router (its realms start at once, or once the cluster is joined).
 * @throws {ConfigError} naming the offending key, for an invalid document.
 *
 * @example A node of a cluster
 * ```ts ignore
 * import { createRouter } from "./mod.ts";
 *
 * const router = createRouter({
 *   version: 2,
 *   workers: [{
 *     type: "router",
 *     realms: [{ name: "realm1", roles: [] }],
 *     transports: [{ type: "websocket", endpoint: { type: "tcp", port: 8081 } }],
 *     cluster: { type: "nats", servers: ["nats://127.0.0.1:4222"], node: "n1" },
 *   }],
 * });
 * await router.serve(); // rejects with ClusterStartError when NATS is out of reach
 * ```
 */
export function createRouter(config: unknown, options: RouterOptions = {}): Router {
  const parsed = isParsed(config) ? config : parseConfig(config, { env: readEnvironment });
  const cluster = parsed.cluster;
  if (!cluster) return new Router(parsed, options);
  const logger = nodeLogger(options.logger ?? silentLogger, cluster.node);
  return routerWithExtension(parsed, { ...options, logger }, async (router) => {
    const { startClusterNode } = await import("./cluster/node.ts");
    return await startClusterNode(router, cluster);
  });
}

/** `logger` with `node=<name>` on every line, so the lines of a cluster's nodes tell apart. */
export function nodeLogger(logger: Logger, node: string): Logger {
  const at = (fields?: Record<string, unknown>) => ({ ...fields, node });
  return {
    error: (m, f) => logger.error(m, at(f)),
    warn: (m, f) => logger.warn(m, at(f)),
    info: (m, f) => logger.info(m, at(f)),
    debug: (m, f) => logger.debug(m, at(f)),
  };
}
