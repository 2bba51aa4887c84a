/**
 * Config validation: turns a Crossbar-shaped node config
 * (`{"version": 2, "workers": [{"type": "router", "realms": [...], "transports": [...]}]}`)
 * into a fully resolved {@link RouterConfig}, or throws one {@link ConfigError} naming the JSON
 * path of the first problem found and the reason.
 *
 * Every key Switchboard does not implement is rejected, never silently ignored. Within one
 * object, unknown or unsupported keys are reported before bad values, and values are checked in
 * a fixed order, so the same input always yields the same error.
 *
 * @module
 */

import { parseOriginPattern } from "../http/origin.ts";
import { jsonSyntaxError } from "./json_syntax.ts";
import type { SerializerName } from "../serializer/serializer.ts";
import { TrustedProxies } from "../transport/forwarded.ts";
import { isMatchPolicy, MATCH_POLICIES, TRUSTED_ROLE } from "../wamp/uris.ts";
import type {
  Action,
  AnonymousAuthConfig,
  AuthConfig,
  AuthMethod,
  BridgeConfig,
  CraUser,
  CryptosignPrincipal,
  DynamicAuthenticator,
  EventHistoryConfig,
  MatchPolicy,
  Permission,
  RawSocketEndpointConfig,
  RawSocketTransportConfig,
  RealmConfig,
  RealmOptions,
  RoleConfig,
  RouterConfig,
  StatsConfig,
  TcpEndpointConfig,
  TicketPrincipal,
  TlsConfig,
  TransportConfig,
  UniversalTransportConfig,
  WebServicesConfig,
  WebSocketEndpointConfig,
  WebSocketTransportConfig,
  WebTransportConfig,
} from "./types.ts";

/**
 * A config that cannot be used. `path` is the JSON path of the offending value
 * (e.g. `workers[0].realms[0].stats.trigger_on_joins`), `(root)` for the whole document and
 * `(file)` for problems reading or parsing the file; `reason` says what was expected and what
 * was found. The message is `"<path>: <reason>"`.
 */
export class ConfigError extends Error {
  /** Always `"ConfigError"`. */
  override name = "ConfigError";
  /** JSON path of the offending value, `(root)` or `(file)`. */
  readonly path: string;
  /** What was expected and what was found. */
  readonly reason: string;

  /**
   * Creates an error whose message is `"<path>: <reason>"`.
   *
   * @param path JSON path of the offending value.
   * @param reason What was expected and what was found.
   * @param options Standard error options (e.g. the underlying `cause`).
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`${path}: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }
}

/** Largest allowed `rated_message_size`: 2^30. */
const MAX_RATED_MESSAGE_SIZE = 2 ** 30;
/**
 * Default `max_message_size` of an endpoint: 1 MiB. A message is decoded, routed and encoded
 * on the event loop in one go, so its size bounds how long one client can stall every other
 * session (README, "Limits and protections", has the measured cost).
 */
const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;
/** Default `max_nesting`: arrays/objects nested deeper are refused at decode. */
const DEFAULT_MAX_NESTING = 64;
/**
 * Largest allowed `max_nesting`: below the depth every serializer can still encode (the
 * MessagePack encoder stops at 1100 levels), so what is accepted can be delivered to all.
 */
const MAX_MAX_NESTING = 1000;
/** Default `open_handshake_timeout` (ms): TCP accept to WAMP session established. */
const DEFAULT_OPEN_HANDSHAKE_TIMEOUT = 10_000;
/** Default `close_handshake_timeout` (ms). */
const DEFAULT_CLOSE_HANDSHAKE_TIMEOUT = 5_000;
/** Default `slow_consumer_timeout` (ms). */
const DEFAULT_SLOW_CONSUMER_TIMEOUT = 10_000;
/** Default `max_connections` of a transport. */
const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Crossbar's realm name pattern. */
const REALM_NAME = /^[A-Za-z][A-Za-z\d_\-@\.]{2,254}$/;
/** Loose URI with empty components allowed (Crossbar's rule for permission URIs). */
const LOOSE_URI_EMPTY_ALLOWED = /^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$/;
/** A `web` transport path key: one segment without slashes (or `/` for the root). */
const WEB_PATH_SEGMENT = /^[A-Za-z0-9_\-]+$/;
/** Path keys that print without brackets. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Root path in errors. */
const ROOT = "(root)";

const ACTIONS: readonly Action[] = ["call", "register", "publish", "subscribe"];
/** Default bound of a session's outgoing WebSocket buffer before slow-consumer handling. */
const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024;
/** Default bound, in messages, of a session's outgoing queue. */
const DEFAULT_MAX_QUEUE_MESSAGES = 100_000;
const SERIALIZERS: readonly SerializerName[] = ["json", "msgpack", "cbor"];
/** Crossbar serializers Switchboard does not speak. */
const UNSUPPORTED_SERIALIZERS: readonly string[] = ["ubjson", "flatbuffers"];
/** Crossbar auth methods Switchboard does not implement yet. */
const UNIMPLEMENTED_AUTH_METHODS: readonly string[] = ["scram", "cookie", "tls"];
/** Crossbar transport types Switchboard does not implement yet. */
const UNIMPLEMENTED_TRANSPORTS: readonly string[] = [
  "mqtt",
  "flashpolicy",
  "stream_testee",
  "websocket.testee",
];
/** Crossbar worker types Switchboard does not implement. */
const UNIMPLEMENTED_WORKERS: readonly string[] = [
  "container",
  "guest",
  "proxy",
  "websocket-testee",
  "xbrmm",
  "hostmonitor",
  "marketplace",
];
/** Hosts that bind every interface of their address family. */
const WILDCARD_HOSTS: readonly string[] = ["0.0.0.0", "::"];

/** Keys of one object level: the accepted ones and those rejected with a specific reason. */
interface KeySpec {
  readonly allowed: readonly string[];
  readonly rejected?: Readonly<Record<string, string>>;
}

/** Appends an object key to a JSON path. */
function keyPath(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path === ROOT ? "" : path}[${JSON.stringify(key)}]`;
  return path === ROOT ? key : `${path}.${key}`;
}

/** Appends an array index to a JSON path. */
function indexPath(path: string, index: number): string {
  return path === ROOT ? `[${index}]` : `${path}[${index}]`;
}

/** Short description of a found value for error reasons. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      const text = value.length > 60 ? `${value.slice(0, 57)}...` : value;
      return `string ${JSON.stringify(text)}`;
    }
    case "number":
      return Number.isInteger(value) ? `${value}` : `non-integer ${value}`;
    case "boolean":
      return `boolean ${value}`;
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/**
 * The kind of a found value and nothing of its content, for reasons about keys that may hold
 * secrets (`got a number`): see {@link parseSecret}.
 */
function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value === "" ? "an empty string" : "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/** A plain JSON-like object. */
type Obj = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The own property `key` of `obj`, or `undefined` when absent. */
function own(obj: Obj, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function has(obj: Obj, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** `show` describes a wrong value: {@link describeType} where the value may be a secret. */
function expectObject(value: unknown, path: string, show = describe): Obj {
  if (!isObject(value)) throw new ConfigError(path, `must be an object, got ${show(value)}`);
  return value;
}

function expectArray(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(path, `must be an array, got ${describe(value)}`);
  }
  return value;
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== "string") {
    throw new ConfigError(path, `must be a string, got ${describe(value)}`);
  }
  return value;
}

function expectNonEmptyString(value: unknown, path: string): string {
  const text = expectString(value, path);
  if (text.length === 0) throw new ConfigError(path, 'must be a non-empty string, got ""');
  return text;
}

function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") {
    throw new ConfigError(path, `must be a boolean (true or false), got ${describe(value)}`);
  }
  return value;
}

function expectInteger(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ConfigError(path, `must be an integer, got ${describe(value)}`);
  }
  return value;
}

function expectRequired(obj: Obj, key: string, path: string): unknown {
  if (!has(obj, key)) throw new ConfigError(keyPath(path, key), "is required but missing");
  return obj[key];
}

/** Rejects keys that are not in `spec.allowed`, with the specific reason for known ones. */
function checkKeys(obj: Obj, path: string, spec: KeySpec): void {
  for (const key of Object.keys(obj)) {
    const rejected = spec.rejected;
    if (rejected !== undefined && Object.hasOwn(rejected, key)) {
      throw new ConfigError(keyPath(path, key), rejected[key]);
    }
    if (!spec.allowed.includes(key)) {
      const expected = spec.allowed.length === 0 ? "none" : spec.allowed.join(", ");
      throw new ConfigError(
        keyPath(path, key),
        `unknown key, not supported by Switchboard (supported keys here: ${expected})`,
      );
    }
  }
}

/** `"a", "b" or "c"` for reasons. */
function oneOf(values: readonly string[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length <= 1
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------
// Top level and worker

/**
 * Validates a Crossbar-shaped node config and resolves every default.
 *
 * Accepted shape: `{"version"?: 2, "workers": [{"type": "router", "id"?: string,
 * "realms": [...], "transports"?: [...]}]}` with exactly one worker, of type `router`.
 * Zero transports are allowed (a router embedded in another program).
 *
 * @param input The parsed JSON document.
 * @returns The resolved configuration.
 * @throws {ConfigError} For the first problem found, naming its JSON path.
 */
export function parseConfig(input: unknown): RouterConfig {
  const root = expectObject(input, ROOT);
  checkKeys(root, ROOT, {
    allowed: ["version", "workers"],
    rejected: {
      controller: "the node controller is not implemented by Switchboard; remove this key",
    },
  });
  if (has(root, "version")) {
    const version = root.version;
    if (version !== 2) {
      throw new ConfigError(
        "version",
        `must be 2 (Crossbar config version), got ${describe(version)}`,
      );
    }
  }
  const workers = expectArray(expectRequired(root, "workers", ROOT), "workers");
  if (workers.length === 0) {
    throw new ConfigError("workers", 'must contain exactly one worker of type "router", got none');
  }
  const config = parseWorker(workers[0], "workers[0]");
  if (workers.length > 1) {
    throw new ConfigError(
      "workers[1]",
      `only one worker (of type "router") is supported, got ${workers.length} workers`,
    );
  }
  return config;
}

function parseWorker(value: unknown, path: string): RouterConfig {
  const worker = expectObject(value, path);
  const type = expectString(expectRequired(worker, "type", path), keyPath(path, "type"));
  if (type !== "router") {
    const reason = UNIMPLEMENTED_WORKERS.includes(type)
      ? `worker type ${JSON.stringify(type)} is not implemented by Switchboard; only "router" is`
      : `must be "router", got ${describe(type)}`;
    throw new ConfigError(keyPath(path, "type"), reason);
  }
  checkKeys(worker, path, {
    allowed: ["type", "id", "realms", "transports"],
    rejected: {
      options: "worker options are not supported by Switchboard",
      components: "router components are not implemented by Switchboard",
      connections: "router connections are not implemented by Switchboard",
    },
  });
  if (has(worker, "id")) expectString(worker.id, keyPath(path, "id"));

  const realmsPath = keyPath(path, "realms");
  const realmList = expectArray(expectRequired(worker, "realms", path), realmsPath);
  const realms: RealmConfig[] = [];
  const realmNames = new Map<string, number>();
  realmList.forEach((item, i) => {
    const realmPath = indexPath(realmsPath, i);
    const realm = parseRealm(item, realmPath);
    const previous = realmNames.get(realm.name);
    if (previous !== undefined) {
      throw new ConfigError(
        keyPath(realmPath, "name"),
        `duplicate realm name ${JSON.stringify(realm.name)} (already used by ${
          indexPath(realmsPath, previous)
        })`,
      );
    }
    realmNames.set(realm.name, i);
    realms.push(realm);
  });

  const transportsPath = keyPath(path, "transports");
  const transportList = has(worker, "transports")
    ? expectArray(worker.transports, transportsPath)
    : [];
  const transports: TransportConfig[] = transportList.map((item, i) =>
    parseTransport(item, indexPath(transportsPath, i))
  );
  checkEndpointCollisions(transports, transportsPath);
  return { realms, transports };
}

// ---------------------------------------------------------------------------------------------
// Realms, roles, permissions

function parseRealm(value: unknown, path: string): RealmConfig {
  const realm = expectObject(value, path);
  checkKeys(realm, path, { allowed: ["name", "roles", "options", "stats", "store"] });

  const namePath = keyPath(path, "name");
  const name = expectString(expectRequired(realm, "name", path), namePath);
  if (!REALM_NAME.test(name)) {
    throw new ConfigError(
      namePath,
      `invalid realm name ${
        JSON.stringify(name)
      }: must be 3 to 255 characters, start with a letter and contain only letters, digits, _, -, @ and .`,
    );
  }

  const rolesPath = keyPath(path, "roles");
  const roleList = has(realm, "roles") ? expectArray(realm.roles, rolesPath) : [];
  const roles: RoleConfig[] = [];
  const roleNames = new Map<string, number>();
  roleList.forEach((item, i) => {
    const rolePath = indexPath(rolesPath, i);
    const role = parseRole(item, rolePath);
    const previous = roleNames.get(role.name);
    if (previous !== undefined) {
      throw new ConfigError(
        keyPath(rolePath, "name"),
        `duplicate role name ${JSON.stringify(role.name)} (already used by ${
          indexPath(rolesPath, previous)
        })`,
      );
    }
    roleNames.set(role.name, i);
    roles.push(role);
  });

  const options = parseRealmOptions(own(realm, "options"), keyPath(path, "options"));
  const stats = has(realm, "stats") ? parseStats(realm.stats, keyPath(path, "stats")) : null;
  const history = has(realm, "store") ? parseStore(realm.store, keyPath(path, "store")) : [];
  return { name, roles, options, stats, history };
}

/** `realms[].store`: Crossbar's in-memory store with its `event-history` list. */
function parseStore(value: unknown, path: string): EventHistoryConfig[] {
  const store = expectObject(value, path);
  checkKeys(store, path, { allowed: ["type", "event-history"] });
  const type = expectString(expectRequired(store, "type", path), keyPath(path, "type"));
  if (type !== "memory") {
    throw new ConfigError(
      keyPath(path, "type"),
      `only "memory" stores are supported, got ${JSON.stringify(type)}`,
    );
  }
  const listPath = keyPath(path, "event-history");
  const list = has(store, "event-history") ? expectArray(store["event-history"], listPath) : [];
  return list.map((item, i) => {
    const itemPath = indexPath(listPath, i);
    const entry = expectObject(item, itemPath);
    checkKeys(entry, itemPath, { allowed: ["uri", "match", "limit"] });
    const uri = expectString(expectRequired(entry, "uri", itemPath), keyPath(itemPath, "uri"));
    let match: MatchPolicy = "exact";
    if (has(entry, "match")) {
      const m = expectString(entry.match, keyPath(itemPath, "match"));
      if (m !== "exact" && m !== "prefix" && m !== "wildcard") {
        throw new ConfigError(
          keyPath(itemPath, "match"),
          `must be exact, prefix or wildcard, got ${JSON.stringify(m)}`,
        );
      }
      match = m;
    }
    let limit = 100;
    if (has(entry, "limit")) {
      limit = expectInteger(entry.limit, keyPath(itemPath, "limit"));
      if (limit < 1 || limit > 1_000_000) {
        throw new ConfigError(
          keyPath(itemPath, "limit"),
          `must be between 1 and 1000000, got ${limit}`,
        );
      }
    }
    return { uri, match, limit };
  });
}

function parseRealmOptions(value: unknown, path: string): RealmOptions {
  if (value === undefined) return { uri_check: "loose", enable_meta_api: true };
  const options = expectObject(value, path);
  checkKeys(options, path, {
    allowed: ["uri_check", "enable_meta_api"],
    rejected: {
      bridge_meta_api: "bridging the meta API is not supported by Switchboard",
      event_dispatching_chunk_size: "event_dispatching_chunk_size is not supported by Switchboard",
    },
  });
  let uriCheck: RealmOptions["uri_check"] = "loose";
  if (has(options, "uri_check")) {
    const check = options.uri_check;
    if (check !== "loose" && check !== "strict") {
      throw new ConfigError(
        keyPath(path, "uri_check"),
        `must be "loose" or "strict", got ${describe(check)}`,
      );
    }
    uriCheck = check;
  }
  const enableMetaApi = has(options, "enable_meta_api")
    ? expectBoolean(options.enable_meta_api, keyPath(path, "enable_meta_api"))
    : true;
  return { uri_check: uriCheck, enable_meta_api: enableMetaApi };
}

function parseStats(value: unknown, path: string): StatsConfig {
  const stats = expectObject(value, path);
  checkKeys(stats, path, {
    allowed: [
      "rated_message_size",
      "trigger_after_rated_messages",
      "trigger_after_duration",
      "trigger_on_join",
      "trigger_on_leave",
    ],
  });

  let ratedMessageSize = 512;
  if (has(stats, "rated_message_size")) {
    const sizePath = keyPath(path, "rated_message_size");
    const size = expectInteger(stats.rated_message_size, sizePath);
    if (size < 1 || size > MAX_RATED_MESSAGE_SIZE || (size & (size - 1)) !== 0) {
      throw new ConfigError(
        sizePath,
        `must be a power of two between 1 and ${MAX_RATED_MESSAGE_SIZE}, got ${size}`,
      );
    }
    ratedMessageSize = size;
  }
  const nonNegative = (key: string): number => {
    if (!has(stats, key)) return 0;
    const keyed = keyPath(path, key);
    const n = expectInteger(stats[key], keyed);
    if (n < 0) throw new ConfigError(keyed, `must be an integer >= 0 (0 disables), got ${n}`);
    return n;
  };
  const flag = (key: string): boolean =>
    has(stats, key) ? expectBoolean(stats[key], keyPath(path, key)) : true;

  return {
    rated_message_size: ratedMessageSize,
    trigger_after_rated_messages: nonNegative("trigger_after_rated_messages"),
    trigger_after_duration: nonNegative("trigger_after_duration"),
    trigger_on_join: flag("trigger_on_join"),
    trigger_on_leave: flag("trigger_on_leave"),
  };
}

function parseRole(value: unknown, path: string): RoleConfig {
  const role = expectObject(value, path);
  checkKeys(role, path, { allowed: ["name", "permissions", "authorizer"] });
  if (has(role, "permissions") && has(role, "authorizer")) {
    throw new ConfigError(
      keyPath(path, "authorizer"),
      "a role has either permissions or an authorizer, not both",
    );
  }
  const namePath = keyPath(path, "name");
  const name = expectNonEmptyString(expectRequired(role, "name", path), namePath);
  if (name === TRUSTED_ROLE) {
    throw new ConfigError(
      namePath,
      'role name "trusted" is reserved for the router\'s internal sessions',
    );
  }
  const permissionsPath = keyPath(path, "permissions");
  const list = has(role, "permissions") ? expectArray(role.permissions, permissionsPath) : [];
  const permissions: Permission[] = [];
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    const permissionPath = indexPath(permissionsPath, i);
    const permission = parsePermission(item, permissionPath);
    const id = `${permission.match} ${permission.uri}`;
    const previous = seen.get(id);
    if (previous !== undefined) {
      throw new ConfigError(
        keyPath(permissionPath, "uri"),
        `duplicate permission for ${permission.match} URI ${
          JSON.stringify(permission.uri)
        } (already given by ${indexPath(permissionsPath, previous)})`,
      );
    }
    seen.set(id, i);
    permissions.push(permission);
  });
  const authorizer = has(role, "authorizer")
    ? expectNonEmptyString(role.authorizer, keyPath(path, "authorizer"))
    : null;
  return authorizer === null ? { name, permissions } : { name, permissions, authorizer };
}

/**
 * Resolves a starred URI (used when a permission has no explicit `match`): no `*` → exact;
 * one trailing `*` only → prefix on the text before it; otherwise wildcard with every `*` removed.
 */
function resolveStarredUri(uri: string): { uri: string; match: MatchPolicy } {
  const stars = uri.split("*").length - 1;
  if (stars === 0) return { uri, match: "exact" };
  if (stars === 1 && uri.endsWith("*")) return { uri: uri.slice(0, -1), match: "prefix" };
  return { uri: uri.replaceAll("*", ""), match: "wildcard" };
}

/** Crossbar's permission URI check: loose, empty components allowed, one trailing `*` ignored. */
function isValidPermissionUri(uri: string): boolean {
  const stripped = uri.endsWith("*") ? uri.slice(0, -1) : uri;
  return LOOSE_URI_EMPTY_ALLOWED.test(stripped);
}

function parseFlags<K extends string>(
  obj: Obj,
  key: string,
  path: string,
  names: readonly K[],
): Record<K, boolean> {
  const result = {} as Record<K, boolean>;
  for (const name of names) result[name] = false;
  if (!has(obj, key)) return result;
  const flagsPath = keyPath(path, key);
  const flags = expectObject(obj[key], flagsPath);
  checkKeys(flags, flagsPath, { allowed: names });
  for (const name of names) {
    if (has(flags, name)) result[name] = expectBoolean(flags[name], keyPath(flagsPath, name));
  }
  return result;
}

function parsePermission(value: unknown, path: string): Permission {
  const permission = expectObject(value, path);
  checkKeys(permission, path, {
    allowed: ["uri", "match", "allow", "disclose", "cache"],
    rejected: {
      validate: 'payload validation ("validate") is not supported by Switchboard',
    },
  });
  const uriPath = keyPath(path, "uri");
  const rawUri = expectString(expectRequired(permission, "uri", path), uriPath);
  if (!isValidPermissionUri(rawUri)) {
    throw new ConfigError(
      uriPath,
      `invalid permission URI ${
        JSON.stringify(rawUri)
      }: components may not contain whitespace, "." or "#" (empty components mark wildcards)`,
    );
  }
  let resolved: { uri: string; match: MatchPolicy };
  if (has(permission, "match")) {
    const match = permission.match;
    if (!isMatchPolicy(match)) {
      throw new ConfigError(
        keyPath(path, "match"),
        `must be ${oneOf(MATCH_POLICIES)}, got ${describe(match)}`,
      );
    }
    // An explicit policy takes the URI literally, as Crossbar does.
    resolved = { uri: rawUri, match: match as MatchPolicy };
  } else {
    resolved = resolveStarredUri(rawUri);
  }
  const allow = parseFlags(permission, "allow", path, ACTIONS);
  const disclose = parseFlags(permission, "disclose", path, ["caller", "publisher"] as const);
  const cache = has(permission, "cache")
    ? expectBoolean(permission.cache, keyPath(path, "cache"))
    : false;
  return { uri: resolved.uri, match: resolved.match, allow, disclose, cache };
}

// ---------------------------------------------------------------------------------------------
// Transports

/** Keys of a WebSocket endpoint (a `websocket` transport or a `web` path). */
const WEBSOCKET_KEYS: readonly string[] = ["serializers", "auth", "options"];
const WEBSOCKET_REJECTED: Readonly<Record<string, string>> = {
  url: '"url" is not supported by Switchboard',
  debug: '"debug" is not supported by Switchboard',
};

function parseTransport(value: unknown, path: string): TransportConfig {
  const transport = expectObject(value, path);
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(transport, "type", path), typePath);
  if (type === "universal") return parseUniversal(transport, path);
  if (type !== "websocket" && type !== "web" && type !== "rawsocket") {
    const reason = UNIMPLEMENTED_TRANSPORTS.includes(type)
      ? `transport type ${
        JSON.stringify(type)
      } is not implemented yet; use "websocket", "web" or "rawsocket"`
      : `must be "websocket", "web" or "rawsocket", got ${describe(type)}`;
    throw new ConfigError(typePath, reason);
  }
  if (type === "rawsocket") {
    checkKeys(transport, path, {
      allowed: ["type", "id", "endpoint", "serializers", "auth", "options"],
    });
    if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
    const endpoint = withoutTls(
      parseEndpoint(expectRequired(transport, "endpoint", path), keyPath(path, "endpoint"), true),
      path,
      "rawsocket",
    );
    const rawsocket: RawSocketTransportConfig = {
      type,
      endpoint,
      websocket: null,
      rawsocket: parseWebSocketEndpoint(transport, path, "rawsocket"),
    };
    return rawsocket;
  }
  if (type === "websocket") {
    checkKeys(transport, path, {
      allowed: ["type", "id", "endpoint", ...WEBSOCKET_KEYS],
      rejected: WEBSOCKET_REJECTED,
    });
  } else {
    checkKeys(transport, path, {
      allowed: ["type", "id", "endpoint", "paths", "metrics", "status"],
    });
  }
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = parseEndpoint(
    expectRequired(transport, "endpoint", path),
    keyPath(path, "endpoint"),
  );
  if (type === "websocket") {
    const websocket: WebSocketTransportConfig = {
      type,
      endpoint,
      websocket: parseWebSocketEndpoint(transport, path),
      paths: new Map<string, never>(),
    };
    return websocket;
  }
  const { paths, bridges } = parseWebPaths(transport, path);
  const metricsPath = parseServicePath(
    own(transport, "metrics"),
    keyPath(path, "metrics"),
    "metrics",
  );
  const statusPath = parseServicePath(own(transport, "status"), keyPath(path, "status"), "status");
  for (const [key, p] of [["metrics", metricsPath], ["status", statusPath]] as const) {
    if (p !== null && paths.has(p)) {
      throw new ConfigError(
        keyPath(path, key),
        `the ${key} path "/${p}" is already a WebSocket path; choose another with {"path": ...}`,
      );
    }
  }
  if (metricsPath !== null && metricsPath === statusPath) {
    throw new ConfigError(
      keyPath(path, "status"),
      `the status page and the metrics share the path "/${statusPath}"`,
    );
  }
  for (const [key, p] of [["metrics", metricsPath], ["status", statusPath]] as const) {
    if (p !== null && bridges.has(p)) {
      throw new ConfigError(
        keyPath(path, key),
        `the ${key} path "/${p}" is already an HTTP bridge path`,
      );
    }
  }
  const web: WebTransportConfig = {
    type,
    endpoint,
    websocket: null,
    paths,
    bridges,
    metrics_path: metricsPath,
    status_path: statusPath,
  };
  return web;
}

/**
 * `metrics` / `status` of a `web` transport: `false` (off) or `{"path": "<segment>"}`; on by
 * default at `/metrics` and `/status`.
 */
function parseServicePath(value: unknown, path: string, fallback: string): string | null {
  if (value === undefined) return fallback;
  if (value === false) return null;
  const obj = expectObject(value, path);
  checkKeys(obj, path, { allowed: ["path"] });
  if (!has(obj, "path")) return fallback;
  const p = expectNonEmptyString(obj.path, keyPath(path, "path")).replace(/^\/+|\/+$/g, "");
  if (!WEB_PATH_SEGMENT.test(p)) {
    throw new ConfigError(
      keyPath(path, "path"),
      `must be one path segment such as "metrics", got ${describe(obj.path)}`,
    );
  }
  return p;
}

/**
 * `endpoint`: `{type: "tcp", port, interface?, version?}`. Without `interface` the transport
 * listens on all interfaces, as Crossbar does: `0.0.0.0`, or `::` when `version` is 6.
 */
function parseEndpoint(value: unknown, path: string): TcpEndpointConfig;
function parseEndpoint(
  value: unknown,
  path: string,
  unixAllowed: true,
): TcpEndpointConfig | RawSocketEndpointConfig;
function parseEndpoint(
  value: unknown,
  path: string,
  unixAllowed = false,
): TcpEndpointConfig | RawSocketEndpointConfig {
  const endpoint = expectObject(value, path);
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(endpoint, "type", path), typePath);
  if (type === "unix" && unixAllowed) {
    checkKeys(endpoint, path, { allowed: ["type", "path", "max_connections"] });
    const socketPath = expectNonEmptyString(
      expectRequired(endpoint, "path", path),
      keyPath(path, "path"),
    );
    return {
      host: "",
      port: 0,
      tls: null,
      unix: socketPath,
      max_connections: maxConnections(endpoint, path),
    };
  }
  if (type !== "tcp") {
    const reason = type === "unix"
      ? 'endpoint type "unix" is only available for rawsocket transports; use "tcp"'
      : `must be "tcp"${unixAllowed ? ' or "unix"' : ""}, got ${describe(type)}`;
    throw new ConfigError(typePath, reason);
  }
  checkKeys(endpoint, path, {
    allowed: ["type", "port", "interface", "version", "tls", "max_connections"],
  });
  const port = checkPort(expectRequired(endpoint, "port", path), keyPath(path, "port"));
  let version = 4;
  if (has(endpoint, "version")) {
    const v = endpoint.version;
    if (v !== 4 && v !== 6) {
      throw new ConfigError(keyPath(path, "version"), `must be 4 or 6, got ${describe(v)}`);
    }
    version = v;
  }
  const host = has(endpoint, "interface")
    ? expectNonEmptyString(endpoint.interface, keyPath(path, "interface"))
    : version === 6
    ? "::"
    : "0.0.0.0";
  const tls = has(endpoint, "tls") ? parseTls(endpoint.tls, keyPath(path, "tls")) : null;
  return { host, port, tls, max_connections: maxConnections(endpoint, path) };
}

/**
 * `endpoint` of a `rawsocket` or `universal` transport, neither of which has TLS.
 *
 * @param endpoint The parsed endpoint.
 * @param path The transport's JSON path.
 * @param type The transport type, for the reason.
 */
function withoutTls<E extends TcpEndpointConfig>(
  endpoint: E,
  path: string,
  type: string,
): E & { readonly tls: null } {
  const { tls } = endpoint;
  if (tls) {
    throw new ConfigError(
      keyPath(path, "endpoint.tls"),
      `TLS is not available for ${type} transports`,
    );
  }
  return { ...endpoint, tls };
}

/** `endpoint.max_connections`: a positive integer, default 10000. */
function maxConnections(endpoint: Obj, path: string): number {
  if (!has(endpoint, "max_connections")) return DEFAULT_MAX_CONNECTIONS;
  const keyed = keyPath(path, "max_connections");
  const n = expectInteger(endpoint.max_connections, keyed);
  if (n < 1) throw new ConfigError(keyed, `must be a positive number of connections, got ${n}`);
  return n;
}

/** `endpoint.tls`: `{"certificate": "<PEM file>", "key": "<PEM file>"}` (read when serving). */
function parseTls(value: unknown, path: string): TlsConfig {
  const tls = expectObject(value, path);
  checkKeys(tls, path, { allowed: ["certificate", "key"] });
  const certificate = expectNonEmptyString(
    expectRequired(tls, "certificate", path),
    keyPath(path, "certificate"),
  );
  const key = expectNonEmptyString(expectRequired(tls, "key", path), keyPath(path, "key"));
  return { certificate, key };
}

function checkPort(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(
      path,
      `must be an integer port between 0 and 65535 (0 = any free port), got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Reads the WebSocket keys (`serializers`, `auth`, `options`) of an already key-checked object.
 * RawSocket endpoints share the shape, but send keepalive PINGs only when
 * `auto_ping_interval` is set: Autobahn|Python's RawSocket clients do not answer PING (the
 * asyncio one raises, the Twisted one misreads the frame), and Crossbar never sends one.
 */
function parseWebSocketEndpoint(
  obj: Obj,
  path: string,
  kind: "websocket" | "rawsocket" = "websocket",
): WebSocketEndpointConfig {
  const options = own(obj, "options");
  const parsed = parseWebSocketOptions(options, keyPath(path, "options"));
  const pingsSet = isObject(options) && has(options, "auto_ping_interval");
  return {
    serializers: parseSerializers(own(obj, "serializers"), keyPath(path, "serializers")),
    auth: parseAuth(own(obj, "auth"), keyPath(path, "auth")),
    ...parsed,
    ping_interval: kind === "rawsocket" && !pingsSet ? 0 : parsed.ping_interval,
  };
}

function parseSerializers(value: unknown, path: string): readonly SerializerName[] {
  if (value === undefined) return [...SERIALIZERS];
  const list = expectArray(value, path);
  if (list.length === 0) {
    throw new ConfigError(path, `must list at least one of ${oneOf(SERIALIZERS)}, got []`);
  }
  const result: SerializerName[] = [];
  list.forEach((item, i) => {
    const itemPath = indexPath(path, i);
    const name = expectString(item, itemPath);
    if (!(SERIALIZERS as readonly string[]).includes(name)) {
      const reason = UNSUPPORTED_SERIALIZERS.includes(name)
        ? `serializer ${JSON.stringify(name)} is not supported by Switchboard; use ${
          oneOf(SERIALIZERS)
        }`
        : `must be ${oneOf(SERIALIZERS)}, got ${describe(name)}`;
      throw new ConfigError(itemPath, reason);
    }
    const serializer = name as SerializerName;
    if (result.includes(serializer)) {
      throw new ConfigError(itemPath, `duplicate serializer ${JSON.stringify(name)}`);
    }
    result.push(serializer);
  });
  return result;
}

/**
 * `auth`: only `anonymous` (`{type: "static", role?, authid?}`). Without an `auth` block the
 * endpoint allows anonymous sessions with role `anonymous` and a random authid.
 */
function parseAuth(value: unknown, path: string): AuthConfig {
  if (value === undefined) {
    return {
      anonymous: { role: "anonymous", authid: null },
      ticket: null,
      wampcra: null,
      cryptosign: null,
    };
  }
  const auth = expectObject(value, path);
  const rejected: Record<string, string> = {};
  for (const method of UNIMPLEMENTED_AUTH_METHODS) {
    rejected[method] = `authentication method ${JSON.stringify(method)} is not implemented yet`;
  }
  checkKeys(auth, path, { allowed: ["anonymous", "ticket", "wampcra", "cryptosign"], rejected });
  if (Object.keys(auth).length === 0) {
    throw new ConfigError(
      path,
      'must configure at least one authentication method ("anonymous", "ticket", "wampcra", "cryptosign"), got an empty object',
    );
  }
  const dynamic: Partial<Record<AuthMethod, DynamicAuthenticator>> = {};
  const isDynamic = (method: AuthMethod): boolean => {
    if (!has(auth, method)) return false;
    const methodPath = keyPath(path, method);
    const obj = expectObject(auth[method], methodPath);
    if (obj.type !== "dynamic") return false;
    checkKeys(obj, methodPath, { allowed: ["type", "authenticator", "authenticator-realm"] });
    const procedure = expectNonEmptyString(
      expectRequired(obj, "authenticator", methodPath),
      keyPath(methodPath, "authenticator"),
    );
    const realm = has(obj, "authenticator-realm")
      ? expectNonEmptyString(obj["authenticator-realm"], keyPath(methodPath, "authenticator-realm"))
      : null;
    dynamic[method] = { authenticator: procedure, realm };
    return true;
  };
  const anonymousDynamic = isDynamic("anonymous");
  const ticketDynamic = isDynamic("ticket");
  const craDynamic = isDynamic("wampcra");
  const cryptosignDynamic = isDynamic("cryptosign");
  return {
    anonymous: has(auth, "anonymous") && !anonymousDynamic
      ? parseAnonymous(auth.anonymous, keyPath(path, "anonymous"))
      : null,
    ticket: has(auth, "ticket") && !ticketDynamic
      ? parsePrincipals(auth.ticket, keyPath(path, "ticket"), "principals", parseTicketPrincipal)
      : null,
    wampcra: has(auth, "wampcra") && !craDynamic
      ? parsePrincipals(auth.wampcra, keyPath(path, "wampcra"), "users", parseCraUser)
      : null,
    cryptosign: has(auth, "cryptosign") && !cryptosignDynamic
      ? parsePrincipals(
        auth.cryptosign,
        keyPath(path, "cryptosign"),
        "principals",
        parseCryptosignPrincipal,
      )
      : null,
    ...(Object.keys(dynamic).length > 0 ? { dynamic } : {}),
  };
}

function expectStaticType(obj: Obj, path: string): void {
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(obj, "type", path), typePath);
  if (type !== "static") {
    const reason = `must be "static" or "dynamic", got ${describe(type)}`;
    throw new ConfigError(typePath, reason);
  }
}

function parseAnonymous(value: unknown, anonPath: string): AnonymousAuthConfig {
  const anonymous = expectObject(value, anonPath);
  checkKeys(anonymous, anonPath, { allowed: ["type", "role", "authid"] });
  expectStaticType(anonymous, anonPath);
  const role = has(anonymous, "role")
    ? parseRoleName(anonymous.role, keyPath(anonPath, "role"))
    : "anonymous";
  const authid = has(anonymous, "authid")
    ? expectNonEmptyString(anonymous.authid, keyPath(anonPath, "authid"))
    : null;
  return { role, authid };
}

/** A role a client may be given: never the reserved `trusted`. */
function parseRoleName(value: unknown, path: string): string {
  const role = expectNonEmptyString(value, path);
  if (role === TRUSTED_ROLE) {
    throw new ConfigError(path, 'the role "trusted" is reserved for the router\'s own sessions');
  }
  return role;
}

/**
 * A secret: a string, or `"$NAME"` to read it from the environment variable NAME when the
 * config loads (needs `--allow-env=NAME`), so configs can be committed without secrets.
 *
 * Every key that holds a secret (a ticket principal's `ticket`, a wampcra user's `secret`) is
 * read with this function, and the objects around them with {@link describeType}: its errors
 * name the key and say what kind of value was found (`got a number`), never the value, because
 * config errors reach logs, the CLI and the caller of `switchboard.reload_config`. `$NAME`
 * variable names are not secret and are printed.
 */
function parseSecret(value: unknown, path: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(
      path,
      `must be a non-empty string (the secret, or "$ENV_VAR" to read it from the environment), got ${
        describeType(value)
      }`,
    );
  }
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
  if (!m) return value;
  let env: string | undefined;
  try {
    env = Deno.env.get(m[1]);
  } catch (e) {
    throw new ConfigError(
      path,
      `cannot read environment variable ${m[1]}: ${
        e instanceof Error ? e.message : String(e)
      } (run with --allow-env=${m[1]})`,
    );
  }
  if (env === undefined || env === "") {
    throw new ConfigError(path, `environment variable ${m[1]} is not set`);
  }
  return env;
}

function parsePrincipals<T>(
  value: unknown,
  path: string,
  listKey: string,
  parseOne: (value: unknown, path: string) => T,
): ReadonlyMap<string, T> {
  const method = expectObject(value, path);
  checkKeys(method, path, { allowed: ["type", listKey] });
  expectStaticType(method, path);
  const listPath = keyPath(path, listKey);
  // Principals hold secrets: a principal written as a bare string is likely its secret.
  const list = expectObject(expectRequired(method, listKey, path), listPath, describeType);
  const out = new Map<string, T>();
  for (const authid of Object.keys(list)) {
    if (authid === "") throw new ConfigError(listPath, "an authid must not be empty");
    const principalPath = keyPath(listPath, authid);
    out.set(
      authid,
      parseOne(expectObject(list[authid], principalPath, describeType), principalPath),
    );
  }
  return out;
}

function principalRealm(obj: Obj, path: string): string | null {
  if (!has(obj, "realm")) return null;
  const realm = expectNonEmptyString(obj.realm, keyPath(path, "realm"));
  return realm;
}

function parseTicketPrincipal(value: unknown, path: string): TicketPrincipal {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["ticket", "role", "realm"] });
  return {
    ticket: parseSecret(expectRequired(p, "ticket", path), keyPath(path, "ticket")),
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
  };
}

function parseCraUser(value: unknown, path: string): CraUser {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["secret", "role", "realm", "salt", "iterations", "keylen"] });
  const salted = has(p, "salt") || has(p, "iterations") || has(p, "keylen");
  let salt: string | null = null;
  let iterations = 1000;
  let keylen = 32;
  if (salted) {
    salt = expectNonEmptyString(expectRequired(p, "salt", path), keyPath(path, "salt"));
    if (has(p, "iterations")) {
      iterations = expectInteger(p.iterations, keyPath(path, "iterations"));
      if (iterations < 1) {
        throw new ConfigError(keyPath(path, "iterations"), `must be at least 1, got ${iterations}`);
      }
    }
    if (has(p, "keylen")) {
      keylen = expectInteger(p.keylen, keyPath(path, "keylen"));
      if (keylen < 1 || keylen > 1024) {
        throw new ConfigError(keyPath(path, "keylen"), `must be between 1 and 1024, got ${keylen}`);
      }
    }
  }
  return {
    secret: parseSecret(expectRequired(p, "secret", path), keyPath(path, "secret")),
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
    salt,
    iterations,
    keylen,
  };
}

function parseCryptosignPrincipal(value: unknown, path: string): CryptosignPrincipal {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["authorized_keys", "role", "realm"] });
  const keysPath = keyPath(path, "authorized_keys");
  const keys = expectArray(expectRequired(p, "authorized_keys", path), keysPath).map((k, i) => {
    const key = expectString(k, indexPath(keysPath, i)).toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(key)) {
      throw new ConfigError(
        indexPath(keysPath, i),
        "must be an Ed25519 public key as 64 hex characters",
      );
    }
    return key;
  });
  if (keys.length === 0) throw new ConfigError(keysPath, "must list at least one public key");
  return {
    authorized_keys: keys,
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
  };
}

/** WebSocket `options`: `max_message_size` and the authentication handshake limits. */
function parseWebSocketOptions(
  value: unknown,
  path: string,
): Omit<WebSocketEndpointConfig, "serializers" | "auth"> {
  const options = value === undefined ? {} : expectObject(value, path);
  checkKeys(options, path, {
    allowed: [
      "max_message_size",
      "auth_challenge_timeout",
      "auth_max_failures",
      "auth_failure_window",
      "auth_max_delay",
      "max_queue_bytes",
      "max_queue_messages",
      "slow_consumer",
      "slow_consumer_timeout",
      "auto_ping_interval",
      "auto_ping_timeout",
      "max_nesting",
      "open_handshake_timeout",
      "close_handshake_timeout",
      "trusted_proxies",
    ],
  });
  const positive = (key: string, fallback: number, what: string): number => {
    if (!has(options, key)) return fallback;
    const n = expectInteger(options[key], keyPath(path, key));
    if (n < 1) throw new ConfigError(keyPath(path, key), `must be a positive ${what}, got ${n}`);
    return n;
  };
  /** A duration in milliseconds; 0 allowed (off) where `zeroOff`. */
  const millis = (key: string, fallback: number, zeroOff: boolean): number => {
    if (!has(options, key)) return fallback;
    const keyed = keyPath(path, key);
    const n = expectInteger(options[key], keyed);
    if (n < (zeroOff ? 0 : 1)) {
      throw new ConfigError(
        keyed,
        `must be ${zeroOff ? "0 (off) or " : ""}a positive number of milliseconds, got ${n}`,
      );
    }
    return n;
  };
  const pingSeconds = pingInterval(
    own(options, "auto_ping_interval"),
    keyPath(path, "auto_ping_interval"),
  );
  const openHandshake = millis("open_handshake_timeout", DEFAULT_OPEN_HANDSHAKE_TIMEOUT, true);
  // A delayed authentication attempt must be able to finish before the open handshake deadline
  // closes its connection: the delay is capped at the deadline less 2 s (or half the deadline,
  // when that is longer), so short Crossbar-style timeouts need no second setting.
  const maxDelay = Math.min(
    positive("auth_max_delay", 8, "number of seconds"),
    openHandshake > 0 ? Math.max(openHandshake / 2, openHandshake - 2000) / 1000 : Infinity,
  );
  let maxNesting = DEFAULT_MAX_NESTING;
  if (has(options, "max_nesting")) {
    const keyed = keyPath(path, "max_nesting");
    maxNesting = expectInteger(options.max_nesting, keyed);
    if (maxNesting < 4 || maxNesting > MAX_MAX_NESTING) {
      throw new ConfigError(keyed, `must be between 4 and ${MAX_MAX_NESTING}, got ${maxNesting}`);
    }
  }
  return {
    max_message_size: positive("max_message_size", DEFAULT_MAX_MESSAGE_SIZE, "number of bytes"),
    max_nesting: maxNesting,
    open_handshake_timeout: openHandshake,
    close_handshake_timeout: millis(
      "close_handshake_timeout",
      DEFAULT_CLOSE_HANDSHAKE_TIMEOUT,
      false,
    ),
    ping_timeout: millis("auto_ping_timeout", Math.max(pingSeconds, 1) * 1000, false),
    trusted_proxies: parseTrustedProxies(
      own(options, "trusted_proxies"),
      keyPath(path, "trusted_proxies"),
    ),
    auth_limits: {
      challenge_timeout: positive("auth_challenge_timeout", 10, "number of seconds"),
      max_failures: positive("auth_max_failures", 5, "number of failures"),
      failure_window: positive("auth_failure_window", 60, "number of seconds"),
      max_delay: maxDelay,
    },
    slow_consumer: {
      max_queue_bytes: positive("max_queue_bytes", DEFAULT_MAX_QUEUE_BYTES, "number of bytes"),
      max_queue_messages: positive(
        "max_queue_messages",
        DEFAULT_MAX_QUEUE_MESSAGES,
        "number of messages",
      ),
      policy: slowConsumerPolicy(own(options, "slow_consumer"), keyPath(path, "slow_consumer")),
      timeout: millis("slow_consumer_timeout", DEFAULT_SLOW_CONSUMER_TIMEOUT, false),
    },
    ping_interval: pingSeconds,
  };
}

/** `trusted_proxies`: a list of IP addresses and CIDR ranges. */
function parseTrustedProxies(value: unknown, path: string): readonly string[] {
  if (value === undefined) return [];
  const list = expectArray(value, path);
  return list.map((item, i) => {
    const itemPath = indexPath(path, i);
    const entry = expectNonEmptyString(item, itemPath);
    try {
      new TrustedProxies([entry]);
    } catch {
      throw new ConfigError(
        itemPath,
        `must be an IP address or CIDR range (e.g. "10.0.0.1", "10.0.0.0/8", "fd00::/8"), got ${
          describe(entry)
        }`,
      );
    }
    return entry;
  });
}

/** What happens to a slow consumer: `drop` its EVENTs (default) or `disconnect` it. */
function slowConsumerPolicy(value: unknown, path: string): "drop" | "disconnect" {
  if (value === undefined) return "drop";
  if (value !== "drop" && value !== "disconnect") {
    throw new ConfigError(path, `must be "drop" or "disconnect", got ${describe(value)}`);
  }
  return value;
}

/** Crossbar's `auto_ping_interval` (milliseconds, 0 = off) as whole seconds. */
function pingInterval(value: unknown, path: string): number {
  if (value === undefined) return 30;
  const ms = expectInteger(value, path);
  if (ms < 0) {
    throw new ConfigError(path, `must be 0 (off) or a positive number of milliseconds, got ${ms}`);
  }
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
}

/**
 * `paths` of a `web` transport: key = one path segment without slashes (`/` = the root, resolved
 * as the empty string), value = a WebSocket endpoint with `type: "websocket"`.
 */
function parseWebPaths(
  transport: Obj,
  path: string,
): Pick<WebServicesConfig, "paths" | "bridges"> {
  const pathsPath = keyPath(path, "paths");
  const paths = expectObject(expectRequired(transport, "paths", path), pathsPath);
  const result = new Map<string, WebSocketEndpointConfig>();
  const bridges = new Map<string, BridgeConfig>();
  for (const key of Object.keys(paths)) {
    const itemPath = keyPath(pathsPath, key);
    if (key !== "/" && !WEB_PATH_SEGMENT.test(key)) {
      throw new ConfigError(
        itemPath,
        `invalid path ${
          JSON.stringify(key)
        }: must be "/" or one path segment of letters, digits, "-" and "_"`,
      );
    }
    const service = expectObject(paths[key], itemPath);
    const typePath = keyPath(itemPath, "type");
    const type = expectString(expectRequired(service, "type", itemPath), typePath);
    if (type === "publisher" || type === "caller") {
      bridges.set(key === "/" ? "" : key, parseBridge(service, itemPath, type));
      continue;
    }
    if (type !== "websocket") {
      throw new ConfigError(typePath, `path type ${JSON.stringify(type)} is not implemented yet`);
    }
    checkKeys(service, itemPath, {
      allowed: ["type", ...WEBSOCKET_KEYS],
      rejected: WEBSOCKET_REJECTED,
    });
    result.set(key === "/" ? "" : key, parseWebSocketEndpoint(service, itemPath));
  }
  if (result.size === 0 && bridges.size === 0) {
    throw new ConfigError(
      pathsPath,
      "must contain at least one websocket, publisher or caller path, got none",
    );
  }
  return { paths: result, bridges };
}

/**
 * `universal`: RawSocket and HTTP/WebSocket on one port, told apart by the first octet
 * (Crossbar's shape: `rawsocket` endpoint settings, `websocket` paths, `web.paths` services).
 */
function parseUniversal(transport: Obj, path: string): UniversalTransportConfig {
  checkKeys(transport, path, {
    allowed: ["type", "id", "endpoint", "rawsocket", "websocket", "web", "metrics", "status"],
  });
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = withoutTls(
    parseEndpoint(expectRequired(transport, "endpoint", path), keyPath(path, "endpoint")),
    path,
    "universal",
  );
  let rawsocket: WebSocketEndpointConfig | null = null;
  if (has(transport, "rawsocket")) {
    const rsPath = keyPath(path, "rawsocket");
    const rs = expectObject(transport.rawsocket, rsPath);
    checkKeys(rs, rsPath, { allowed: ["serializers", "auth", "options"] });
    rawsocket = parseWebSocketEndpoint(rs, rsPath, "rawsocket");
  }
  // `websocket` is a map of paths like a web transport's `paths` of type websocket
  const wsPaths: Record<string, unknown> = {};
  if (has(transport, "websocket")) {
    const wsPath = keyPath(path, "websocket");
    const ws = expectObject(transport.websocket, wsPath);
    for (const key of Object.keys(ws)) {
      const item = expectObject(ws[key], keyPath(wsPath, key));
      wsPaths[key] = { type: "websocket", ...item };
    }
  }
  let webPaths: Obj = {};
  if (has(transport, "web")) {
    const webPath = keyPath(path, "web");
    const web = expectObject(transport.web, webPath);
    checkKeys(web, webPath, { allowed: ["paths"] });
    webPaths = has(web, "paths") ? expectObject(web.paths, keyPath(webPath, "paths")) : {};
  }
  for (const key of Object.keys(webPaths)) {
    if (Object.hasOwn(wsPaths, key)) {
      throw new ConfigError(
        keyPath(path, `web.paths.${key}`),
        `path "${key}" is also a websocket path`,
      );
    }
  }
  const merged = { ...wsPaths, ...webPaths };
  let paths: ReadonlyMap<string, WebSocketEndpointConfig> = new Map();
  let bridges: ReadonlyMap<string, BridgeConfig> = new Map();
  if (Object.keys(merged).length > 0) ({ paths, bridges } = parseWebPaths({ paths: merged }, path));
  if (!rawsocket && paths.size === 0 && bridges.size === 0) {
    throw new ConfigError(
      path,
      "a universal transport needs rawsocket settings or at least one path",
    );
  }
  return {
    type: "universal",
    endpoint,
    websocket: null,
    rawsocket,
    paths,
    bridges,
    metrics_path: parseServicePath(own(transport, "metrics"), keyPath(path, "metrics"), "metrics"),
    status_path: parseServicePath(own(transport, "status"), keyPath(path, "status"), "status"),
  };
}

/**
 * A `publisher` / `caller` path: the HTTP bridge (`POST` JSON to publish or call), with
 * `options.post_body_limit`, `options.allowed_origins` and `options.allow_null_origin`.
 */
function parseBridge(service: Obj, path: string, kind: "publisher" | "caller"): BridgeConfig {
  checkKeys(service, path, { allowed: ["type", "realm", "role", "options"] });
  const realm = expectNonEmptyString(
    expectRequired(service, "realm", path),
    keyPath(path, "realm"),
  );
  const role = parseRoleName(expectRequired(service, "role", path), keyPath(path, "role"));
  let postBodyLimit = 65536;
  let allowedOrigins: string[] | null = null;
  let allowNullOrigin = false;
  if (has(service, "options")) {
    const optionsPath = keyPath(path, "options");
    const options = expectObject(service.options, optionsPath);
    checkKeys(options, optionsPath, {
      allowed: ["post_body_limit", "allowed_origins", "allow_null_origin"],
    });
    if (has(options, "post_body_limit")) {
      postBodyLimit = expectInteger(
        options.post_body_limit,
        keyPath(optionsPath, "post_body_limit"),
      );
      if (postBodyLimit < 1) {
        throw new ConfigError(
          keyPath(optionsPath, "post_body_limit"),
          `must be a positive number of bytes, got ${postBodyLimit}`,
        );
      }
    }
    if (has(options, "allowed_origins")) {
      allowedOrigins = parseAllowedOrigins(
        options.allowed_origins,
        keyPath(optionsPath, "allowed_origins"),
      );
    }
    if (has(options, "allow_null_origin")) {
      allowNullOrigin = expectBoolean(
        options.allow_null_origin,
        keyPath(optionsPath, "allow_null_origin"),
      );
    }
  }
  return {
    kind,
    realm,
    role,
    post_body_limit: postBodyLimit,
    allowed_origins: allowedOrigins,
    allow_null_origin: allowNullOrigin,
  };
}

/** `allowed_origins`: a list of origins in Crossbar's form (see `src/http/origin.ts`). */
function parseAllowedOrigins(value: unknown, path: string): string[] {
  const list = expectArray(value, path);
  const seen = new Map<string, number>();
  return list.map((item, i) => {
    const itemPath = indexPath(path, i);
    const text = expectNonEmptyString(item, itemPath);
    const pattern = parseOriginPattern(text);
    if (typeof pattern === "string") {
      throw new ConfigError(itemPath, `${pattern}, got ${describe(text)}`);
    }
    const key = text.toLowerCase();
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new ConfigError(
        itemPath,
        `duplicate origin ${JSON.stringify(text)} (already given by ${indexPath(path, previous)})`,
      );
    }
    seen.set(key, i);
    return text;
  });
}

/**
 * Two transports may not listen on the same port (port 0 = ephemeral never collides) of the
 * same host; a wildcard host (`0.0.0.0`, `::`) collides with every host on that port.
 */
function checkEndpointCollisions(transports: readonly TransportConfig[], path: string): void {
  transports.forEach((t, i) => {
    if (t.endpoint.port === 0) return;
    for (let j = 0; j < i; j++) {
      const other = transports[j].endpoint;
      if (other.port !== t.endpoint.port) continue;
      if (
        other.host === t.endpoint.host || WILDCARD_HOSTS.includes(other.host) ||
        WILDCARD_HOSTS.includes(t.endpoint.host)
      ) {
        throw new ConfigError(
          keyPath(indexPath(path, i), "endpoint"),
          `endpoint ${t.endpoint.host} port ${t.endpoint.port} collides with ${
            indexPath(path, j)
          } (${other.host} port ${other.port})`,
        );
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// File loading and overrides

/**
 * Reads, parses and validates a config file (needs `--allow-read` for `path`).
 *
 * @param path File name of a JSON node config.
 * @returns The resolved configuration.
 * @throws {ConfigError} With path `(file)` when the file cannot be read or is not valid JSON
 * (the reason names the file and, for JSON, the line and column, never the file's text), or as
 * {@link parseConfig} throws.
 */
export async function loadConfigFile(path: string): Promise<RouterConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "file not found"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError("(file)", `cannot read config file ${JSON.stringify(path)}: ${detail}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // V8's message quotes the text around the error, which may be a secret: report where the
    // error is instead, found by our own scanner, and keep V8's error out of the cause too.
    const at = jsonSyntaxError(text);
    const reason = `invalid JSON in ${JSON.stringify(path)}: ${
      at ? `${at.problem} at line ${at.line}, column ${at.column}` : "not a JSON document"
    }`;
    throw new ConfigError("(file)", reason, { cause: new SyntaxError(reason) });
  }
  return parseConfig(json);
}

/** `t` listening on `host` and `port`, of the same transport type. */
function relocated<T extends TransportConfig>(t: T, host: string, port: number): T {
  return { ...t, endpoint: { ...t.endpoint, host, port } };
}

/** Command-line overrides of the first transport's listening address. */
export interface ConfigOverrides {
  /** Replaces the first transport's endpoint host. */
  readonly host?: string;
  /** Replaces the first transport's endpoint port (0 = any free port). */
  readonly port?: number;
}

/**
 * Returns a copy of `config` whose first transport listens on `o.host` / `o.port` where given.
 * With neither given the config is returned unchanged.
 *
 * @param config A resolved configuration.
 * @param o The overrides.
 * @returns The new configuration (the input is not modified).
 * @throws {ConfigError} When an override is given but there is no transport (path
 * `workers[0].transports`), when `o.host` is empty or `o.port` is not an integer 0..65535
 * (path `(override).host` / `(override).port`), or when the new endpoint collides with another
 * transport.
 */
export function applyOverrides(config: RouterConfig, o: ConfigOverrides): RouterConfig {
  if (o.host === undefined && o.port === undefined) return config;
  const transportsPath = "workers[0].transports";
  const first = config.transports[0];
  if (first === undefined) {
    throw new ConfigError(
      transportsPath,
      "cannot apply the host/port override: the config has no transport",
    );
  }
  const host = o.host === undefined
    ? first.endpoint.host
    : expectNonEmptyString(o.host, "(override).host");
  const port = o.port === undefined ? first.endpoint.port : checkPort(o.port, "(override).port");
  const transports = [relocated(first, host, port), ...config.transports.slice(1)];
  checkEndpointCollisions(transports, transportsPath);
  return { ...config, transports };
}

/**
 * The endpoint a router serves when it has no transport configured for a request (a router
 * mounted with `Router.handler()` and no transports): every serializer, anonymous
 * authentication with role `anonymous`, every option at its default.
 */
export const DEFAULT_ENDPOINT: WebSocketEndpointConfig = parseWebSocketEndpoint({}, "(default)");
