/**
 * The router's own HTTP services on a `web` or `universal` transport: `metrics`, `status`,
 * `healthz` and `readyz`. Each is on by default at its own path segment, `false` turns it off,
 * and `{"path": "<segment>"}` moves it. No two services, and no service and a WebSocket or HTTP
 * bridge path, may share a path.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import {
  DEFAULT_HEALTHZ_PATH,
  DEFAULT_METRICS_PATH,
  DEFAULT_READYZ_PATH,
  DEFAULT_STATUS_PATH,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectNonEmptyString,
  expectObject,
  has,
  keyPath,
  type Obj,
  own,
} from "./kit.ts";

/** One path segment (the root `""` is not a service path). */
const SERVICE_PATH_SEGMENT = /^[A-Za-z0-9_\-]+$/;

/** The service keys of a `web` / `universal` transport, in the order they are checked. */
export const SERVICE_KEYS = ["metrics", "status", "healthz", "readyz"] as const;

/** Each service's path, or null when it is off. */
export interface ServicePaths {
  /** `metrics`: Prometheus text. */
  readonly metrics_path: string | null;
  /** `status`: the live status page. */
  readonly status_path: string | null;
  /** `healthz`: the liveness probe. */
  readonly healthz_path: string | null;
  /** `readyz`: the readiness probe. */
  readonly readyz_path: string | null;
}

const DEFAULTS: Readonly<Record<(typeof SERVICE_KEYS)[number], string>> = {
  metrics: DEFAULT_METRICS_PATH,
  status: DEFAULT_STATUS_PATH,
  healthz: DEFAULT_HEALTHZ_PATH,
  readyz: DEFAULT_READYZ_PATH,
};

/**
 * Reads `metrics`, `status`, `healthz` and `readyz` of the transport at `path`, and refuses a
 * service path that another service, a WebSocket path (`paths`) or an HTTP bridge path
 * (`bridges`) already uses.
 */
export function parseServicePaths(
  transport: Obj,
  path: string,
  paths: ReadonlyMap<string, unknown>,
  bridges: ReadonlyMap<string, unknown>,
  services: ReadonlyMap<string, { readonly type: string }> = new Map(),
): ServicePaths {
  const taken = new Map<string, string>();
  const out: Record<string, string | null> = {};
  for (const key of SERVICE_KEYS) {
    const p = parseServicePath(own(transport, key), keyPath(path, key), DEFAULTS[key]);
    out[`${key}_path`] = p;
    if (p === null) continue;
    if (paths.has(p)) {
      throw new ConfigError(
        keyPath(path, key),
        `the ${key} path "/${p}" is already a WebSocket path; choose another with {"path": ...}`,
      );
    }
    if (bridges.has(p)) {
      throw new ConfigError(
        keyPath(path, key),
        `the ${key} path "/${p}" is already an HTTP bridge path`,
      );
    }
    const service = services.get(p);
    if (service !== undefined) {
      throw new ConfigError(
        keyPath(path, key),
        `the ${key} path "/${p}" is already a ${service.type} path; choose another with ` +
          `{"path": ...} or turn it off with false`,
      );
    }
    const other = taken.get(p);
    if (other !== undefined) {
      throw new ConfigError(keyPath(path, key), `the ${key} and ${other} share the path "/${p}"`);
    }
    taken.set(p, key);
  }
  return out as unknown as ServicePaths;
}

/** One service key: `false` (off) or `{"path": "<segment>"}`; absent: on at `fallback`. */
function parseServicePath(value: unknown, path: string, fallback: string): string | null {
  if (value === undefined) return fallback;
  if (value === false) return null;
  const obj = expectObject(value, path);
  checkKeys(obj, path, { allowed: ["path"] });
  if (!has(obj, "path")) return fallback;
  const p = expectNonEmptyString(obj.path, keyPath(path, "path")).replace(/^\/+|\/+$/g, "");
  if (!SERVICE_PATH_SEGMENT.test(p)) {
    throw new ConfigError(
      keyPath(path, "path"),
      `must be one path segment such as "${fallback}", got ${describe(obj.path)}`,
    );
  }
  return p;
}
