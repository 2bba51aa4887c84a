/**
 * The router worker's `cluster` block (docs/cluster.md): which engine, its servers, this
 * node's name and the failure-detection timing. Without the block the router is a single
 * node and no cluster code is loaded. The command line's `--node` and `--cluster` land here
 * through {@link overrideCluster}. Pure functions, no I/O (a default node name is random).
 *
 * @module
 */

import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_NODE_NAME_PREFIX,
  DEFAULT_NODE_TIMEOUT,
  MAX_CLUSTER_TIMING,
  MAX_NODE_NAME_LENGTH,
  MIN_HEARTBEAT_INTERVAL,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectArray,
  expectInteger,
  expectObject,
  expectRequired,
  expectString,
  has,
  indexPath,
  keyPath,
  type ParseContext,
} from "./kit.ts";
import type { ClusterConfig } from "./types.ts";

const NODE_NAME = /^[A-Za-z0-9_-]+$/;
const SCHEMES = ["nats:", "tls:"];

/** A random node name: {@link DEFAULT_NODE_NAME_PREFIX} and 8 hexadecimal digits. */
export function randomNodeName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return DEFAULT_NODE_NAME_PREFIX + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `value` as a node name, or a ConfigError at `path`. */
export function checkNodeName(value: unknown, path: string): string {
  const name = expectString(value, path);
  if (!NODE_NAME.test(name) || name.length > MAX_NODE_NAME_LENGTH) {
    throw new ConfigError(
      path,
      `must be 1 to ${MAX_NODE_NAME_LENGTH} characters of A-Z, a-z, 0-9, "_" and "-", got ${
        describe(value)
      }`,
    );
  }
  return name;
}

/** `value` as a NATS server URL (`nats://host[:port]` or `tls://host[:port]`). */
export function checkServerUrl(value: unknown, path: string): string {
  const text = expectString(value, path);
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null; // reported below, with what was found
  }
  if (
    url === null || !SCHEMES.includes(url.protocol) || url.hostname === "" ||
    (url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== ""
  ) {
    throw new ConfigError(
      path,
      `must be a NATS server URL nats://HOST[:PORT] or tls://HOST[:PORT], got ${describe(value)}`,
    );
  }
  return text;
}

/** `value` as a non-empty list of server URLs. */
export function checkServers(value: unknown, path: string): string[] {
  const list = expectArray(value, path);
  if (list.length === 0) throw new ConfigError(path, "must name at least one NATS server");
  return list.map((v, i) => checkServerUrl(v, indexPath(path, i)));
}

function timing(obj: Readonly<Record<string, unknown>>, key: string, path: string, dflt: number) {
  if (!has(obj, key)) return dflt;
  const p = keyPath(path, key);
  const ms = expectInteger(obj[key], p);
  if (ms < MIN_HEARTBEAT_INTERVAL || ms > MAX_CLUSTER_TIMING) {
    throw new ConfigError(
      p,
      `must be ${MIN_HEARTBEAT_INTERVAL}..${MAX_CLUSTER_TIMING} (milliseconds), got ${ms}`,
    );
  }
  return ms;
}

/** Parses a worker's `cluster` block at `path`. */
export function parseCluster(value: unknown, path: string, ctx?: ParseContext): ClusterConfig {
  const obj = expectObject(value, path);
  checkKeys(obj, path, {
    allowed: ["type", "servers", "node", "heartbeat_interval", "node_timeout"],
  }, ctx);
  const type = expectString(expectRequired(obj, "type", path), keyPath(path, "type"));
  if (type !== "nats") {
    throw new ConfigError(keyPath(path, "type"), `must be "nats", got ${describe(type)}`);
  }
  const servers = checkServers(expectRequired(obj, "servers", path), keyPath(path, "servers"));
  const node = has(obj, "node") ? checkNodeName(obj.node, keyPath(path, "node")) : randomNodeName();
  const heartbeat_interval = timing(obj, "heartbeat_interval", path, DEFAULT_HEARTBEAT_INTERVAL);
  const node_timeout = timing(obj, "node_timeout", path, DEFAULT_NODE_TIMEOUT);
  if (node_timeout <= heartbeat_interval) {
    throw new ConfigError(
      keyPath(path, "node_timeout"),
      `must be longer than heartbeat_interval (${heartbeat_interval} ms), got ${node_timeout}`,
    );
  }
  return { type, servers, node, heartbeat_interval, node_timeout };
}

/**
 * `cluster` with the command line's `--node` and `--cluster` applied: `servers` (a list
 * already split at commas) replaces `servers`, or creates the block when there is none;
 * `node` replaces the name, and needs a block (or `servers`).
 * @throws {ConfigError} at `(override).node` / `(override).cluster`.
 */
export function overrideCluster(
  cluster: ClusterConfig | undefined,
  o: { readonly node?: string; readonly servers?: readonly string[] },
): ClusterConfig | undefined {
  if (o.node === undefined && o.servers === undefined) return cluster;
  const servers = o.servers === undefined
    ? undefined
    : checkServers([...o.servers], "(override).cluster");
  const node = o.node === undefined ? undefined : checkNodeName(o.node, "(override).node");
  if (cluster === undefined && servers === undefined) {
    throw new ConfigError(
      "(override).node",
      "--node needs a cluster: the config has no cluster block, and no --cluster URL was given",
    );
  }
  const base: ClusterConfig = cluster ?? {
    type: "nats",
    servers: [],
    node: randomNodeName(),
    heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
    node_timeout: DEFAULT_NODE_TIMEOUT,
  };
  return { ...base, ...(servers ? { servers } : {}), ...(node ? { node } : {}) };
}
