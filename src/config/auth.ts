/**
 * Authentication: the methods of an endpoint's `auth` block (`anonymous`, `ticket`, `wampcra`,
 * `cryptosign`, `scram`, each static or `dynamic`, and `cookie`), their principals, and the
 * secrets they hold.
 *
 * Pure functions, no I/O. A secret written as `"$NAME"` is looked up through the
 * {@link EnvLookup} the caller passes in (see `config.ts` for which one that is), so nothing
 * here reads the environment itself.
 *
 * @module
 */

import { IGNORED_AUTH_METHODS } from "./crossbar.ts";
import {
  DEFAULT_ANONYMOUS_ROLE,
  DEFAULT_CRA_ITERATIONS,
  DEFAULT_CRA_KEYLEN,
  MAX_CRA_KEYLEN,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  describeType,
  type EnvLookup,
  expectArray,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  expectString,
  has,
  indexPath,
  keyPath,
  type Obj,
  type ParseContext,
} from "./kit.ts";
import { parseRoleName } from "./realm.ts";
import { refuse } from "./refused.ts";
import { SCRAM_CREDENTIAL_KEYS, scramCredential } from "./scram.ts";
import type {
  AnonymousAuthConfig,
  AuthConfig,
  AuthMethod,
  CraUser,
  CryptosignPrincipal,
  DynamicAuthenticator,
  ScramPrincipal,
  TicketPrincipal,
  TlsConfig,
  TlsPrincipal,
  WebSocketEndpointConfig,
} from "./types.ts";

/**
 * Looks up the environment variable `name` for a `"$NAME"` secret: its value, or undefined
 * when it is not set. It may throw (e.g. when reading is not permitted); its error's message
 * becomes part of the ConfigError for the key.
 */
export type { EnvLookup };

/**
 * `auth`: `anonymous`, `ticket`, `wampcra`, `cryptosign`, each `{"type": "static", ...}` or
 * `{"type": "dynamic", "authenticator": ...}`. Without an `auth` block the endpoint allows
 * anonymous sessions with role `anonymous` and a random authid. `env` looks up `"$NAME"`
 * secrets.
 */
export function parseAuth(
  value: unknown,
  path: string,
  ctx: ParseContext,
  tracking: CookieTracking = "none",
): AuthConfig {
  if (value === undefined) {
    return {
      anonymous: { role: DEFAULT_ANONYMOUS_ROLE, authid: null },
      ticket: null,
      wampcra: null,
      cryptosign: null,
    };
  }
  const auth = expectObject(value, path);
  checkKeys(auth, path, {
    allowed: ["anonymous", "ticket", "wampcra", "cryptosign", "scram", "tls", "cookie"],
    ignored: IGNORED_AUTH_METHODS,
  }, ctx);
  const cookie = has(auth, "cookie") && parseCookieAuth(auth, path, tracking);
  if (Object.keys(auth).length === 0) {
    throw new ConfigError(
      path,
      'must configure at least one authentication method ("anonymous", "ticket", "wampcra", "cryptosign", "scram", "cookie"), got an empty object',
    );
  }
  const dynamic: Partial<Record<AuthMethod, DynamicAuthenticator>> = {};
  const isDynamic = (method: AuthMethod): boolean => {
    if (!has(auth, method)) return false;
    const methodPath = keyPath(path, method);
    const obj = expectObject(auth[method], methodPath);
    if (obj.type === "function") {
      throw refuse(keyPath(methodPath, "type"), "function authenticator");
    }
    if (obj.type !== "dynamic") return false;
    checkKeys(obj, methodPath, {
      allowed: ["type", "authenticator", "authenticator-realm", "authenticator-role"],
    });
    const procedure = expectNonEmptyString(
      expectRequired(obj, "authenticator", methodPath),
      keyPath(methodPath, "authenticator"),
    );
    const realm = has(obj, "authenticator-realm")
      ? expectNonEmptyString(obj["authenticator-realm"], keyPath(methodPath, "authenticator-realm"))
      : null;
    // the role the authenticator is called with; `trusted` (the router's own) by default
    const role = has(obj, "authenticator-role")
      ? expectNonEmptyString(obj["authenticator-role"], keyPath(methodPath, "authenticator-role"))
      : null;
    dynamic[method] = { authenticator: procedure, realm, ...(role !== null ? { role } : {}) };
    return true;
  };
  const anonymousDynamic = isDynamic("anonymous");
  const ticketDynamic = isDynamic("ticket");
  const craDynamic = isDynamic("wampcra");
  const cryptosignDynamic = isDynamic("cryptosign");
  const scramDynamic = isDynamic("scram");
  const tlsDynamic = isDynamic("tls");
  const tls = has(auth, "tls") && !tlsDynamic
    ? parsePrincipals(auth.tls, keyPath(path, "tls"), "principals", parseTlsPrincipal)
    : null;
  const scram = has(auth, "scram") && !scramDynamic
    ? parsePrincipals(
      auth.scram,
      keyPath(path, "scram"),
      "principals",
      (v, p) => parseScramPrincipal(v, p, ctx),
    )
    : null;
  return {
    anonymous: has(auth, "anonymous") && !anonymousDynamic
      ? parseAnonymous(auth.anonymous, keyPath(path, "anonymous"))
      : null,
    ticket: has(auth, "ticket") && !ticketDynamic
      ? parsePrincipals(
        auth.ticket,
        keyPath(path, "ticket"),
        "principals",
        (v, p) => parseTicketPrincipal(v, p, ctx),
      )
      : null,
    wampcra: has(auth, "wampcra") && !craDynamic
      ? parsePrincipals(
        auth.wampcra,
        keyPath(path, "wampcra"),
        "users",
        (v, p) => parseCraUser(v, p, ctx),
      )
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
    ...(cookie ? { cookie } : {}),
    ...(scram ? { scram } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** A fingerprint of `bytes` bytes in hex, colons optional, as Node writes it (`AB:CD:...`). */
function fingerprint(value: unknown, path: string, bytes: number): string {
  const hex = expectString(value, path).replaceAll(":", "").toUpperCase();
  if (!new RegExp(`^[0-9A-F]{${bytes * 2}}$`).test(hex)) {
    throw new ConfigError(
      path,
      `must be the certificate's fingerprint: ${bytes} bytes in hex, colons allowed, got ${
        describe(value)
      }`,
    );
  }
  return hex.match(/../g)!.join(":");
}

/**
 * A `tls` principal (Crossbar's `certificate-sha1`, or `certificate-sha256`; at least one),
 * `role` and `realm`.
 */
function parseTlsPrincipal(value: unknown, path: string): TlsPrincipal {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["certificate-sha1", "certificate-sha256", "role", "realm"] });
  const sha1 = has(p, "certificate-sha1")
    ? fingerprint(p["certificate-sha1"], keyPath(path, "certificate-sha1"), 20)
    : null;
  const sha256 = has(p, "certificate-sha256")
    ? fingerprint(p["certificate-sha256"], keyPath(path, "certificate-sha256"), 32)
    : null;
  if (sha1 === null && sha256 === null) {
    throw new ConfigError(
      path,
      'must name the client certificate: "certificate-sha256" or "certificate-sha1"',
    );
  }
  return {
    sha1,
    sha256,
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
  };
}

/**
 * A `scram` principal: Crossbar's credential keys (see `scram.ts`), `role` and `realm`.
 * `stored-key` and `server-key` are read as secrets (they let whoever holds them impersonate
 * the router, and with one captured exchange the user): `"$NAME"` works, and errors name the
 * key, never the value.
 */
function parseScramPrincipal(value: unknown, path: string, ctx: ParseContext): ScramPrincipal {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: [...SCRAM_CREDENTIAL_KEYS, "role", "realm"] });
  const keys: Record<string, unknown> = { ...p };
  for (const key of ["stored-key", "server-key"]) {
    keys[key] = parseSecret(expectRequired(p, key, path), keyPath(path, key), ctx);
  }
  for (const key of ["kdf", "iterations", "salt"]) expectRequired(p, key, path);
  const credential = scramCredential(keys);
  if ("reason" in credential) {
    throw new ConfigError(keyPath(path, credential.key), credential.reason);
  }
  return {
    ...credential,
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
  };
}

/**
 * Where an endpoint's `auth` is: a WebSocket endpoint with a `cookie` block (`tracked`), one
 * without (`none`), or a RawSocket endpoint, which has no HTTP cookies (`unavailable`).
 */
export type CookieTracking = "tracked" | "none" | "unavailable";

/**
 * `auth.cookie`: `{}` (Crossbar's form) or `{"type": "static"}`. It needs the endpoint's cookie
 * tracking and a method that authenticates the first connection of a browser, whose cookie is
 * then bound (any but `anonymous`, which never binds one).
 */
function parseCookieAuth(auth: Obj, path: string, tracking: CookieTracking): true {
  const cookiePath = keyPath(path, "cookie");
  const obj = expectObject(auth.cookie, cookiePath);
  checkKeys(obj, cookiePath, { allowed: ["type"] });
  if (has(obj, "type")) expectStaticType(obj, cookiePath);
  if (tracking === "unavailable") {
    throw new ConfigError(
      cookiePath,
      "cookie authentication is only available on WebSocket endpoints (RawSocket has no HTTP cookies)",
    );
  }
  if (tracking === "none") {
    throw new ConfigError(
      cookiePath,
      'cookie authentication needs cookie tracking: add "cookie": {} (see README) to this WebSocket endpoint',
    );
  }
  if (!Object.keys(auth).some((m) => m !== "cookie" && m !== "anonymous")) {
    throw new ConfigError(
      cookiePath,
      "cookie authentication needs another method besides anonymous (ticket, wampcra, cryptosign) " +
        "to authenticate the connection whose cookie is then bound",
    );
  }
  return true;
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
  checkKeys(anonymous, anonPath, { allowed: ["type", "role", "authid", "realm"] });
  expectStaticType(anonymous, anonPath);
  const role = has(anonymous, "role")
    ? parseRoleName(anonymous.role, keyPath(anonPath, "role"))
    : DEFAULT_ANONYMOUS_ROLE;
  const authid = has(anonymous, "authid")
    ? expectNonEmptyString(anonymous.authid, keyPath(anonPath, "authid"))
    : null;
  if (!has(anonymous, "realm")) return { role, authid };
  return { role, authid, realm: expectNonEmptyString(anonymous.realm, keyPath(anonPath, "realm")) };
}

/**
 * A secret: a string, or `"$NAME"` or `"${NAME}"` (Crossbar's form) to read it from the
 * environment variable NAME when the config loads, through `env` (the process environment for `parseConfig` by default and for
 * `loadConfigFile`, which needs `--allow-env=NAME`), so configs can be committed without
 * secrets.
 *
 * Every key that holds a secret (a ticket principal's `ticket`, a wampcra user's `secret`) is
 * read with this function, and the objects around them with {@link describeType}: its errors
 * name the key and say what kind of value was found (`got a number`), never the value, because
 * config errors reach logs, the CLI and the caller of `switchboard.reload_config`. `$NAME`
 * variable names are not secret and are printed.
 */
function parseSecret(value: unknown, path: string, ctx: ParseContext): string {
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(
      path,
      `must be a non-empty string (the secret, or "$ENV_VAR" to read it from the environment), got ${
        describeType(value)
      }`,
    );
  }
  const name = envReference(value, path);
  if (name === null) return value;
  let found: string | undefined;
  try {
    found = ctx.env(name);
  } catch (e) {
    throw new ConfigError(
      path,
      `cannot read environment variable ${name}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (found === undefined || found === "") {
    throw new ConfigError(path, `environment variable ${name} is not set`);
  }
  return found;
}

/** An environment variable name: a letter or `_`, then letters, digits and `_`. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment variable a secret names: `"$NAME"` (Switchboard's form) and `"${NAME}"`
 * (Crossbar's) both do; null for a literal secret. A `"${...}"` whose inside is not a variable
 * name is an error rather than a literal, so that a mistyped reference never becomes the
 * secret itself.
 */
function envReference(value: string, path: string): string | null {
  if (value.startsWith("${") && value.endsWith("}")) {
    const name = value.slice(2, -1);
    if (ENV_NAME.test(name)) return name;
    throw new ConfigError(
      path,
      '"${...}" must name an environment variable (letters, digits and "_", not starting with a digit)',
    );
  }
  return value.startsWith("$") && ENV_NAME.test(value.slice(1)) ? value.slice(1) : null;
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

function parseTicketPrincipal(value: unknown, path: string, ctx: ParseContext): TicketPrincipal {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["ticket", "role", "realm"] });
  return {
    ticket: parseSecret(expectRequired(p, "ticket", path), keyPath(path, "ticket"), ctx),
    role: parseRoleName(expectRequired(p, "role", path), keyPath(path, "role")),
    realm: principalRealm(p, path),
  };
}

function parseCraUser(value: unknown, path: string, ctx: ParseContext): CraUser {
  const p = expectObject(value, path);
  checkKeys(p, path, { allowed: ["secret", "role", "realm", "salt", "iterations", "keylen"] });
  const salted = has(p, "salt") || has(p, "iterations") || has(p, "keylen");
  let salt: string | null = null;
  let iterations = DEFAULT_CRA_ITERATIONS;
  let keylen = DEFAULT_CRA_KEYLEN;
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
      if (keylen < 1 || keylen > MAX_CRA_KEYLEN) {
        throw new ConfigError(
          keyPath(path, "keylen"),
          `must be between 1 and ${MAX_CRA_KEYLEN}, got ${keylen}`,
        );
      }
    }
  }
  return {
    secret: parseSecret(expectRequired(p, "secret", path), keyPath(path, "secret"), ctx),
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

/**
 * `tls` authentication (static or dynamic) on any of `endpoints` (JSON path → endpoint) needs
 * client certificates: the transport's `endpoint.tls.ca_certificates`.
 */
export function checkTlsAuth(
  endpoints: readonly (readonly [string, WebSocketEndpointConfig])[],
  tls: TlsConfig | null,
  transportPath: string,
): void {
  for (const [path, endpoint] of endpoints) {
    if (!endpoint.auth.tls && !endpoint.auth.dynamic?.tls) continue;
    if (tls?.ca_certificates) continue;
    throw new ConfigError(
      keyPath(keyPath(path, "auth"), "tls"),
      tls
        ? `TLS client certificate authentication needs client certificates: add "ca_certificates" (the CA certificates they are verified against) to ${transportPath}.endpoint.tls`
        : `TLS client certificate authentication needs a TLS endpoint with "ca_certificates": ${transportPath}.endpoint has no "tls"`,
    );
  }
}
