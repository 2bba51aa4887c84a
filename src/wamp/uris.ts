/**
 * WAMP URI checks (wamp-router-spec.md §4) and the reserved error / close URIs (§8).
 *
 * Pure functions, no I/O. The regular expressions are compiled once at module load.
 *
 * @module
 */

/** URI matching policy of a permission, subscription or registration. */
export type MatchPolicy = "exact" | "prefix" | "wildcard";

/** Every match policy, in the spec's order. */
export const MATCH_POLICIES: readonly MatchPolicy[] = Object.freeze([
  "exact",
  "prefix",
  "wildcard",
]);

/** True when `value` names a match policy. */
export function isMatchPolicy(value: unknown): value is MatchPolicy {
  return value === "exact" || value === "prefix" || value === "wildcard";
}

/**
 * The role of the router's own sessions (its service sessions, in-process sessions opened by
 * the embedding program unless they ask for another): no configuration can give it to a client.
 */
export const TRUSTED_ROLE = "trusted";

/** Loose, non-empty components: exact URIs (PUBLISH topic, CALL procedure, exact SUBSCRIBE/REGISTER). */
const LOOSE_NON_EMPTY = /^([^\s.#]+\.)*([^\s.#]+)$/;
/** Loose, empty components allowed anywhere: wildcard patterns. */
const LOOSE_EMPTY_ALLOWED = /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/;
/** Loose, only the last component may be empty: prefix patterns. */
const LOOSE_LAST_EMPTY = /^([^\s.#]+\.)*([^\s.#]*)$/;
/** Strict (lower-case letters, digits, `_`), non-empty components. */
const STRICT_NON_EMPTY = /^([0-9a-z_]+\.)*([0-9a-z_]+)$/;
/** Strict, empty components allowed anywhere. */
const STRICT_EMPTY_ALLOWED = /^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$/;
/** Strict, only the last component may be empty. */
const STRICT_LAST_EMPTY = /^([0-9a-z_]+\.)*([0-9a-z_]*)$/;

/**
 * Whether `uri` is well formed for the given match policy.
 *
 * - `exact`: every component non-empty (`a.b.c`).
 * - `prefix`: only the last component may be empty (`a.b.` and `""` are valid).
 * - `wildcard`: any component may be empty (`a..c`, `.b`, `""` are valid).
 *
 * Components never contain `.`, `#` or whitespace. With `strict` they consist only of
 * `0-9`, `a-z` and `_`.
 *
 * @param uri the URI or pattern to check
 * @param match the match policy the URI is used with
 * @param strict `true` for the realm option `uri_check: "strict"`, `false` for `loose`
 * @returns `true` when the URI is valid
 */
export function isValidUri(uri: string, match: MatchPolicy, strict: boolean): boolean {
  const slot = (match === "exact" ? 0 : match === "prefix" ? 2 : 4) + (strict ? 1 : 0);
  // the URI last found valid for the same rules: publishers send the same topic again and
  // again, and comparing strings is cheaper than the pattern (2.5 % of the router's CPU on
  // fan-in, `deno task bench --case fanin --cpu-prof`)
  if (lastValid[slot] === uri) return true;
  let valid: boolean;
  switch (match) {
    case "exact":
      valid = (strict ? STRICT_NON_EMPTY : LOOSE_NON_EMPTY).test(uri);
      break;
    case "prefix":
      valid = (strict ? STRICT_LAST_EMPTY : LOOSE_LAST_EMPTY).test(uri);
      break;
    case "wildcard":
      valid = (strict ? STRICT_EMPTY_ALLOWED : LOOSE_EMPTY_ALLOWED).test(uri);
      break;
  }
  if (valid) lastValid[slot] = uri;
  return valid;
}

/** Per match policy and strictness, the URI {@linkcode isValidUri} last found valid. */
const lastValid: (string | null)[] = [null, null, null, null, null, null];

/**
 * Whether the first component of `uri` is reserved: `wamp` (the spec's) or `switchboard`
 * (this router's management procedures, as Crossbar reserves `crossbar`).
 *
 * @param uri the URI to check
 * @returns `true` for reserved URIs
 */
export function isReservedUri(uri: string): boolean {
  return uri === "wamp" || uri.startsWith("wamp.") || uri === "switchboard" ||
    uri.startsWith("switchboard.");
}

/** The first components that make a URI reserved (see {@link isReservedUri}). */
const RESERVED_ROOTS: readonly string[] = ["wamp", "switchboard"];

/**
 * Whether a subscription or registration on (`uri`, `match`) could match some reserved
 * concrete URI (see {@link isReservedUri}), whether or not such a URI is in use.
 *
 * - `exact`: the URI itself is reserved.
 * - `prefix` (a plain string prefix): the prefix is reserved, or it is a prefix of `wamp` or
 *   `switchboard` (`""`, `w`, `wam`, `switch`, ...). `wampx` is not: no URI starting with it
 *   has `wamp` as its first component.
 * - `wildcard`: its first component is empty (it matches `wamp.<...>` of its length) or
 *   reserved (`wamp..list`).
 *
 * @param uri the URI or pattern, valid for `match`
 * @param match its match policy
 * @returns `true` when some reserved URI matches
 */
export function patternMayMatchReserved(uri: string, match: MatchPolicy): boolean {
  switch (match) {
    case "exact":
      return isReservedUri(uri);
    case "prefix":
      return isReservedUri(uri) || RESERVED_ROOTS.some((root) => root.startsWith(uri));
    case "wildcard": {
      const dot = uri.indexOf(".");
      const first = dot === -1 ? uri : uri.slice(0, dot);
      return first === "" || RESERVED_ROOTS.includes(first);
    }
  }
}

/** WAMP error URIs (ERROR / ABORT reasons) and close URIs (GOODBYE / ABORT reasons). */
export const Uri = {
  /** Action denied by permissions. */
  NOT_AUTHORIZED: "wamp.error.not_authorized",
  /** Malformed URI, or a non-trusted publish/register on a reserved `wamp.*` URI. */
  INVALID_URI: "wamp.error.invalid_uri",
  /** CALL with no matching registration. */
  NO_SUCH_PROCEDURE: "wamp.error.no_such_procedure",
  /** REGISTER on an existing `single` registration. */
  PROCEDURE_ALREADY_EXISTS: "wamp.error.procedure_already_exists",
  /** REGISTER with an `invoke` policy different from the existing registration's. */
  PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY:
    "wamp.error.procedure_exists_with_different_invocation_policy",
  /** UNREGISTER of an unknown or foreign registration; registration meta procedures. */
  NO_SUCH_REGISTRATION: "wamp.error.no_such_registration",
  /** UNSUBSCRIBE of an unknown or foreign subscription; subscription meta procedures. */
  NO_SUCH_SUBSCRIPTION: "wamp.error.no_such_subscription",
  /** Session meta procedures with an unknown session id. */
  NO_SUCH_SESSION: "wamp.error.no_such_session",
  /** ABORT reason for a session whose outgoing queue overflowed (policy `disconnect`). */
  SLOW_CONSUMER: "wamp.error.slow_consumer",
  /** The router (or a callee) failed while handling a request. */
  RUNTIME_ERROR: "wamp.error.runtime_error",
  /** Payload validation failure. */
  INVALID_ARGUMENT: "wamp.error.invalid_argument",
  /** Call canceled (CANCEL, callee gone, call timeout). */
  CANCELED: "wamp.error.canceled",
  /** A call could not reach the node of its callee (cluster; spec: a network failure). */
  NETWORK_FAILURE: "wamp.error.network_failure",
  /** Call timeout (spec). */
  TIMEOUT: "wamp.error.timeout",
  /** ABORT reason for protocol errors. */
  PROTOCOL_VIOLATION: "wamp.error.protocol_violation",
  /** HELLO for an unknown realm. */
  NO_SUCH_REALM: "wamp.error.no_such_realm",
  /** Authenticated role not defined on the realm. */
  NO_SUCH_ROLE: "wamp.error.no_such_role",
  /** No authid could be assigned. */
  NO_SUCH_PRINCIPAL: "wamp.error.no_such_principal",
  /** None of the offered authmethods is configured. */
  NO_AUTH_METHOD: "wamp.error.no_auth_method",
  /** The authenticator itself failed. */
  AUTHENTICATION_FAILED: "wamp.error.authentication_failed",
  /** The authorizer itself failed. */
  AUTHORIZATION_FAILED: "wamp.error.authorization_failed",
  /** Message too big for the transport limit. */
  PAYLOAD_SIZE_EXCEEDED: "wamp.error.payload_size_exceeded",
  /** Feature used towards a peer that did not announce it. */
  FEATURE_NOT_SUPPORTED: "wamp.error.feature_not_supported",
  /** Option rejected by policy. */
  OPTION_NOT_ALLOWED: "wamp.error.option_not_allowed",
  /** `disclose_me` rejected by policy. */
  OPTION_DISALLOWED_DISCLOSE_ME: "wamp.error.option_disallowed.disclose_me",
  /** Bad testament scope (meta API). */
  TESTAMENT_ERROR: "wamp.error.testament_error",
  /** A callee cannot serve this invocation now: the dealer moves the call (call re-routing). */
  UNAVAILABLE: "wamp.error.unavailable",
  /** Every callee of the registration answered `wamp.error.unavailable` (call re-routing). */
  NO_AVAILABLE_CALLEE: "wamp.error.no_available_callee",
  /** Event history not enabled (meta API). */
  HISTORY_UNAVAILABLE: "wamp.error.history_unavailable",
  /** Close reason: the router shuts down. */
  SYSTEM_SHUTDOWN: "wamp.close.system_shutdown",
  /** Close reason: the realm is closed. */
  CLOSE_REALM: "wamp.close.close_realm",
  /** GOODBYE reply reason. */
  GOODBYE_AND_OUT: "wamp.close.goodbye_and_out",
  /** Close reason: the session was killed (meta API). */
  KILLED: "wamp.close.killed",
  /** Normal close reason. */
  NORMAL: "wamp.close.normal",
  /** Close reason: logout. */
  LOGOUT: "wamp.close.logout",
} as const;

/** Any of the URIs in {@link Uri}. */
export type WampUri = typeof Uri[keyof typeof Uri];
