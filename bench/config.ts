/**
 * The router configuration the benchmark runs with, and overrides applied to it.
 *
 * The config is Crossbar-shaped (`{version: 2, workers: [{type: "router", realms, transports}]}`):
 * one realm `realm1` whose `anonymous` role may do everything, a WebSocket transport and a
 * RawSocket transport (TCP), both on 127.0.0.1 with port 0 (the system picks one), offering
 * JSON, MessagePack and CBOR, with the same anonymous auth. The bench's `router_server.ts`
 * passes it to `createRouter` and reports the ports bound.
 *
 * @module
 */

/** A JSON object (the node config and its parts). */
export type JsonObject = { [key: string]: JsonValue };
/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** Path of the benchmark realm inside the node config, for overrides such as `--stats`. */
export const REALM_PATH = "workers[0].realms[0]";

/** A fresh copy of the benchmark's node config (no `stats`: statistics off). */
export function benchNodeConfig(): JsonObject {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [{
          name: "anonymous",
          permissions: [{
            uri: "",
            match: "prefix",
            allow: { call: true, register: true, publish: true, subscribe: true },
            disclose: { caller: false, publisher: false },
            cache: true,
          }],
        }],
      }],
      transports: [{
        type: "websocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        serializers: ["json", "msgpack", "cbor"],
        auth: { anonymous: { type: "static", role: "anonymous" } },
      }, {
        type: "rawsocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        serializers: ["json", "msgpack", "cbor"],
        auth: { anonymous: { type: "static", role: "anonymous" } },
      }],
    }],
  };
}

/** Raised for a malformed override path or value. */
export class OverrideError extends Error {
  override name = "OverrideError";
}

/** Splits `a.b[0].c` into `["a", "b", 0, "c"]`. */
export function parsePath(path: string): Array<string | number> {
  const parts: Array<string | number> = [];
  const re = /([^.[\]]+)|\[(\d+)\]/gy;
  let at = 0;
  while (at < path.length) {
    if (path[at] === "." && at > 0) at++;
    re.lastIndex = at;
    const m = re.exec(path);
    if (m === null) throw new OverrideError(`bad config path '${path}' at offset ${at}`);
    parts.push(m[1] !== undefined ? m[1] : Number(m[2]));
    at = re.lastIndex;
  }
  if (parts.length === 0) throw new OverrideError("empty config path");
  return parts;
}

/**
 * Sets `value` at `path` (e.g. `workers[0].realms[0].stats.trigger_after_rated_messages`),
 * creating missing objects along the way.
 */
export function setPath(root: JsonObject, path: string, value: JsonValue): void {
  const parts = parsePath(path);
  let node: JsonValue = root;
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i]!;
    const last = i === parts.length - 1;
    if (typeof key === "number") {
      if (!Array.isArray(node)) throw new OverrideError(`'${path}': not an array before [${key}]`);
      if (last) node[key] = value;
      else node = node[key] ?? (node[key] = {});
    } else {
      if (typeof node !== "object" || node === null || Array.isArray(node)) {
        throw new OverrideError(`'${path}': not an object before '${key}'`);
      }
      const obj: JsonObject = node;
      if (last) obj[key] = value;
      else node = obj[key] ?? (obj[key] = {});
    }
  }
}

/** One override: a path and the JSON value to put there. */
export interface ConfigOverride {
  /** Path from the node config root. */
  readonly path: string;
  /** Value to set. */
  readonly value: JsonValue;
}

/** Parses a `PATH=JSON` override (a value that is not valid JSON is taken as a string). */
export function parseOverride(text: string): ConfigOverride {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new OverrideError(`override '${text}' is not PATH=VALUE`);
  const path = text.slice(0, eq);
  parsePath(path);
  const rawValue = text.slice(eq + 1);
  let value: JsonValue;
  try {
    value = JSON.parse(rawValue);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    value = rawValue;
  }
  return { path, value };
}

/** The override `--stats N` stands for: a stats trigger every N rated messages. */
export function statsOverride(ratedMessages: number): ConfigOverride {
  return { path: `${REALM_PATH}.stats.trigger_after_rated_messages`, value: ratedMessages };
}

/** The benchmark config with `overrides` applied in order. */
export function buildNodeConfig(overrides: readonly ConfigOverride[]): JsonObject {
  const config = benchNodeConfig();
  for (const o of overrides) setPath(config, o.path, o.value);
  return config;
}
