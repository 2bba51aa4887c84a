/**
 * Realms: names, roles, permissions (Crossbar's starred URIs resolved to a match policy),
 * realm options, session statistics settings and the in-memory event history store.
 *
 * Pure functions, no I/O. Defaults come from `defaults.ts`, rejected Crossbar keys from
 * `crossbar.ts`.
 *
 * @module
 */

import { isMatchPolicy, MATCH_POLICIES, TRUSTED_ROLE } from "../wamp/uris.ts";
import { REJECTED_PERMISSION_KEYS, REJECTED_REALM_OPTION_KEYS } from "./crossbar.ts";
import {
  DEFAULT_ENABLE_META_API,
  DEFAULT_EVENT_HISTORY_LIMIT,
  DEFAULT_EVENT_HISTORY_MATCH,
  DEFAULT_PERMISSION_CACHE,
  DEFAULT_PERMISSION_FLAG,
  DEFAULT_RATED_MESSAGE_SIZE,
  DEFAULT_STATS_TRIGGER_AFTER,
  DEFAULT_STATS_TRIGGER_ON_JOIN_LEAVE,
  DEFAULT_URI_CHECK,
  MAX_EVENT_HISTORY_LIMIT,
  MAX_RATED_MESSAGE_SIZE,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectArray,
  expectBoolean,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  expectString,
  has,
  indexPath,
  keyPath,
  type Obj,
  oneOf,
  own,
  type ParseContext,
} from "./kit.ts";
import { refuse } from "./refused.ts";
import type {
  Action,
  EventHistoryConfig,
  MatchPolicy,
  Permission,
  RealmConfig,
  RealmOptions,
  RoleConfig,
  StatsConfig,
} from "./types.ts";

/** Crossbar's realm name pattern. */
const REALM_NAME = /^[A-Za-z][A-Za-z\d_\-@\.]{2,254}$/;
/** Loose URI with empty components allowed (Crossbar's rule for permission URIs). */
const LOOSE_URI_EMPTY_ALLOWED = /^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$/;
const ACTIONS: readonly Action[] = ["call", "register", "publish", "subscribe"];

/**
 * `realms`: each realm, names unique.
 *
 * @param list The `realms` array.
 * @param path Its JSON path.
 */
export function parseRealms(
  list: readonly unknown[],
  path: string,
  ctx: ParseContext,
): RealmConfig[] {
  const realms: RealmConfig[] = [];
  const realmNames = new Map<string, number>();
  list.forEach((item, i) => {
    const realmPath = indexPath(path, i);
    const realm = parseRealm(item, realmPath, ctx);
    const previous = realmNames.get(realm.name);
    if (previous !== undefined) {
      throw new ConfigError(
        keyPath(realmPath, "name"),
        `duplicate realm name ${JSON.stringify(realm.name)} (already used by ${
          indexPath(path, previous)
        })`,
      );
    }
    realmNames.set(realm.name, i);
    realms.push(realm);
  });
  return realms;
}

/** One realm. */
function parseRealm(value: unknown, path: string, ctx: ParseContext): RealmConfig {
  const realm = expectObject(value, path);
  if (has(realm, "rlinks")) throw refuse(keyPath(path, "rlinks"), "router links");
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
    const role = parseRole(item, rolePath, ctx);
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

  const options = parseRealmOptions(own(realm, "options"), keyPath(path, "options"), ctx);
  const stats = has(realm, "stats") ? parseStats(realm.stats, keyPath(path, "stats"), ctx) : null;
  const history = has(realm, "store") ? parseStore(realm.store, keyPath(path, "store"), ctx) : [];
  return { name, roles, options, stats, history };
}

/** `realms[].store`: Crossbar's in-memory store with its `event-history` list. */
function parseStore(value: unknown, path: string, ctx: ParseContext): EventHistoryConfig[] {
  const store = expectObject(value, path);
  const type = expectString(expectRequired(store, "type", path), keyPath(path, "type"));
  if (type === "cfxdb") throw refuse(keyPath(path, "type"), "cfxdb store");
  checkKeys(store, path, { allowed: ["type", "limit", "event-history"] }, ctx);
  if (type !== "memory") {
    throw new ConfigError(
      keyPath(path, "type"),
      `only "memory" stores are supported, got ${JSON.stringify(type)}`,
    );
  }
  // `limit`: the limit of every entry without its own (Crossbar's default for them: 100)
  const storeLimit = has(store, "limit")
    ? historyLimit(store.limit, keyPath(path, "limit"))
    : DEFAULT_EVENT_HISTORY_LIMIT;
  const listPath = keyPath(path, "event-history");
  const list = has(store, "event-history") ? expectArray(store["event-history"], listPath) : [];
  return list.map((item, i) => {
    const itemPath = indexPath(listPath, i);
    const entry = expectObject(item, itemPath);
    checkKeys(entry, itemPath, { allowed: ["uri", "match", "limit"] });
    const uri = expectString(expectRequired(entry, "uri", itemPath), keyPath(itemPath, "uri"));
    let match: MatchPolicy = DEFAULT_EVENT_HISTORY_MATCH;
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
    const limit = has(entry, "limit")
      ? historyLimit(entry.limit, keyPath(itemPath, "limit"))
      : storeLimit;
    return { uri, match, limit };
  });
}

/** An event history limit: 1 to {@link MAX_EVENT_HISTORY_LIMIT} events. */
function historyLimit(value: unknown, path: string): number {
  const limit = expectInteger(value, path);
  if (limit < 1 || limit > MAX_EVENT_HISTORY_LIMIT) {
    throw new ConfigError(path, `must be between 1 and ${MAX_EVENT_HISTORY_LIMIT}, got ${limit}`);
  }
  return limit;
}

function parseRealmOptions(value: unknown, path: string, ctx: ParseContext): RealmOptions {
  if (value === undefined) {
    return { uri_check: DEFAULT_URI_CHECK, enable_meta_api: DEFAULT_ENABLE_META_API };
  }
  const options = expectObject(value, path);
  checkKeys(options, path, {
    allowed: ["uri_check", "enable_meta_api"],
    rejected: REJECTED_REALM_OPTION_KEYS,
  }, ctx);
  let uriCheck: RealmOptions["uri_check"] = DEFAULT_URI_CHECK;
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
    : DEFAULT_ENABLE_META_API;
  return { uri_check: uriCheck, enable_meta_api: enableMetaApi };
}

function parseStats(value: unknown, path: string, ctx: ParseContext): StatsConfig {
  const stats = expectObject(value, path);
  checkKeys(stats, path, {
    allowed: [
      "rated_message_size",
      "trigger_after_rated_messages",
      "trigger_after_duration",
      "trigger_on_join",
      "trigger_on_leave",
    ],
  }, ctx);

  let ratedMessageSize = DEFAULT_RATED_MESSAGE_SIZE;
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
    if (!has(stats, key)) return DEFAULT_STATS_TRIGGER_AFTER;
    const keyed = keyPath(path, key);
    const n = expectInteger(stats[key], keyed);
    if (n < 0) throw new ConfigError(keyed, `must be an integer >= 0 (0 disables), got ${n}`);
    return n;
  };
  const flag = (key: string): boolean =>
    has(stats, key)
      ? expectBoolean(stats[key], keyPath(path, key))
      : DEFAULT_STATS_TRIGGER_ON_JOIN_LEAVE;

  return {
    rated_message_size: ratedMessageSize,
    trigger_after_rated_messages: nonNegative("trigger_after_rated_messages"),
    trigger_after_duration: nonNegative("trigger_after_duration"),
    trigger_on_join: flag("trigger_on_join"),
    trigger_on_leave: flag("trigger_on_leave"),
  };
}

function parseRole(value: unknown, path: string, ctx: ParseContext): RoleConfig {
  const role = expectObject(value, path);
  checkKeys(role, path, { allowed: ["name", "permissions", "authorizer", "allow-by-default"] });
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
    const permission = parsePermission(item, permissionPath, ctx);
    const id = `${permission.match} ${permission.uri}`;
    const previous = seen.get(id);
    if (previous !== undefined) {
      // Crossbar keeps the later of two permissions for one URI: so does Switchboard, saying so
      ctx.warn(
        indexPath(permissionsPath, previous),
        `replaced by ${permissionPath} (the same ${permission.match} URI ${
          JSON.stringify(permission.uri)
        }): as in Crossbar, the later permission decides`,
      );
      permissions.splice(permissions.findIndex((p) => `${p.match} ${p.uri}` === id), 1);
    }
    seen.set(id, i);
    permissions.push(permission);
  });
  const authorizer = has(role, "authorizer")
    ? expectNonEmptyString(role.authorizer, keyPath(path, "authorizer"))
    : null;
  if (has(role, "allow-by-default")) {
    const keyed = keyPath(path, "allow-by-default");
    const allowAll = expectBoolean(role["allow-by-default"], keyed);
    if (has(role, "permissions") || authorizer !== null) {
      ctx.warn(
        keyed,
        `ignored, as Crossbar ignores it: a role with ${
          authorizer === null ? "permissions" : "an authorizer"
        } is decided by ${
          authorizer === null ? "them" : "it"
        } alone (a URI no permission matches is denied)`,
      );
    } else if (allowAll) permissions.push(ALLOW_EVERYTHING);
  }
  return authorizer === null ? { name, permissions } : { name, permissions, authorizer };
}

/**
 * The rule of a role without permissions or authorizer whose `allow-by-default` is true:
 * Crossbar then allows every action on every URI (and forces no disclosure).
 */
const ALLOW_EVERYTHING: Permission = Object.freeze({
  uri: "",
  match: "prefix",
  allow: Object.freeze({ call: true, register: true, publish: true, subscribe: true }),
  disclose: Object.freeze({ caller: false, publisher: false }),
  cache: DEFAULT_PERMISSION_CACHE,
});

/**
 * Resolves a starred URI (used when a permission has no explicit `match`): no `*` → exact;
 * one trailing `*` only → prefix on the text before it; otherwise wildcard with every `*` removed.
 */
export function parseStarredUri(uri: string): { uri: string; match: MatchPolicy } {
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
  for (const name of names) result[name] = DEFAULT_PERMISSION_FLAG;
  if (!has(obj, key)) return result;
  const flagsPath = keyPath(path, key);
  const flags = expectObject(obj[key], flagsPath);
  checkKeys(flags, flagsPath, { allowed: names });
  for (const name of names) {
    if (has(flags, name)) result[name] = expectBoolean(flags[name], keyPath(flagsPath, name));
  }
  return result;
}

function parsePermission(value: unknown, path: string, ctx: ParseContext): Permission {
  const permission = expectObject(value, path);
  checkKeys(permission, path, {
    allowed: ["uri", "match", "allow", "disclose", "cache", ...ACTIONS],
    rejected: REJECTED_PERMISSION_KEYS,
  }, ctx);
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
    resolved = parseStarredUri(rawUri);
  }
  const allow = parseAllow(permission, path);
  const disclose = parseFlags(permission, "disclose", path, ["caller", "publisher"] as const);
  const cache = has(permission, "cache")
    ? expectBoolean(permission.cache, keyPath(path, "cache"))
    : DEFAULT_PERMISSION_CACHE;
  return { uri: resolved.uri, match: resolved.match, allow, disclose, cache };
}

/**
 * What a permission allows: its `allow` object, or the form of Crossbar's version-1 configs
 * (`{"uri": "com.example.*", "call": true, "subscribe": true}`, the actions directly on the
 * permission), read as `crossbar upgrade` rewrites it; the two forms do not mix.
 */
function parseAllow(permission: Obj, path: string): Record<Action, boolean> {
  const flat = ACTIONS.filter((action) => has(permission, action));
  if (flat.length === 0) return parseFlags(permission, "allow", path, ACTIONS);
  if (has(permission, "allow")) {
    throw new ConfigError(
      keyPath(path, flat[0]!),
      `mixes the version-1 form ("${flat[0]}": ... on the permission) with "allow"; ` +
        `move it into "allow"`,
    );
  }
  const allow = {} as Record<Action, boolean>;
  for (const action of ACTIONS) {
    allow[action] = has(permission, action)
      ? expectBoolean(permission[action], keyPath(path, action))
      : DEFAULT_PERMISSION_FLAG;
  }
  return allow;
}

/** A role a client may be given: never the reserved `trusted`. */
export function parseRoleName(value: unknown, path: string): string {
  const role = expectNonEmptyString(value, path);
  if (role === TRUSTED_ROLE) {
    throw new ConfigError(path, 'the role "trusted" is reserved for the router\'s own sessions');
  }
  return role;
}
