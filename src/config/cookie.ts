/**
 * Cookie tracking of a WebSocket endpoint: its `cookie` block, in Crossbar's shape (`name`,
 * `length`, `max_age`, `store`, `secure`, `http_strict`, `same_site`) plus the store bounds
 * Switchboard adds (`max_cookies`, `max_cookies_per_authid`).
 *
 * The store is always in memory. Crossbar's `file` and `database` stores are accepted with a
 * warning (their `filename`/`path` are checked, never opened): the cookies are then lost at
 * restart, as with `purge_on_startup`, and their browsers authenticate again. Pure functions,
 * no I/O.
 *
 * @module
 */

import {
  DEFAULT_COOKIE_LENGTH,
  DEFAULT_COOKIE_MAX_AGE,
  DEFAULT_COOKIE_NAME,
  DEFAULT_COOKIE_SAME_SITE,
  DEFAULT_MAX_COOKIES,
  DEFAULT_MAX_COOKIES_PER_AUTHID,
  MAX_COOKIE_LENGTH,
  MAX_COOKIE_MAX_AGE,
  MIN_COOKIE_LENGTH,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectBoolean,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  expectString,
  has,
  keyPath,
  type Obj,
  type ParseContext,
} from "./kit.ts";
import type { CookieConfig } from "./types.ts";

/** Crossbar's rule for cookie names. */
const COOKIE_NAME = /^[a-z][a-z0-9_]+$/;
const SAME_SITE = ["Strict", "Lax", "None"] as const;

/** An integer key of `obj` between `min` and `max`, or `fallback` when absent. */
function bounded(obj: Obj, key: string, path: string, fallback: number, min: number, max: number) {
  if (!has(obj, key)) return fallback;
  const keyed = keyPath(path, key);
  const n = expectInteger(obj[key], keyed);
  if (n < min || n > max) {
    throw new ConfigError(keyed, `must be between ${min} and ${max}, got ${n}`);
  }
  return n;
}

/** `store`: `{"type": "memory"}`, or Crossbar's `file`/`database` store, kept in memory too. */
function parseStore(value: unknown, path: string, ctx: ParseContext): void {
  const store = expectObject(value, path);
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(store, "type", path), typePath);
  if (type === "memory") return checkKeys(store, path, { allowed: ["type"] }, ctx);
  if (type === "file" || type === "database") {
    const file = type === "file" ? "filename" : "path";
    checkKeys(store, path, {
      allowed: ["type", file, "purge_on_startup"],
      ignored: type === "database"
        ? Object.fromEntries(
          ["maxsize", "readonly", "sync"].map((k) => [k, "no effect: the store is in memory"]),
        )
        : {},
    }, ctx);
    expectNonEmptyString(expectRequired(store, file, path), keyPath(path, file));
    if (has(store, "purge_on_startup")) {
      expectBoolean(store.purge_on_startup, keyPath(path, "purge_on_startup"));
    }
    ctx.warn(
      typePath,
      `a "${type}" cookie store is kept in memory by Switchboard: "${file}" is neither read nor ` +
        "written, and cookies are lost at restart (as with purge_on_startup), so their browsers " +
        "authenticate again",
    );
    return;
  }
  throw new ConfigError(typePath, `must be "memory", "file" or "database", got ${describe(type)}`);
}

/**
 * The `cookie` block of a WebSocket endpoint at `path`. `offered` tells whether the endpoint's
 * `auth` offers `cookie`: without it Switchboard sets no cookie (it never uses the cookie as an
 * authid, as Crossbar does for anonymous sessions), so the block is checked and warned about,
 * and null is returned.
 */
export function parseCookie(
  value: unknown,
  path: string,
  ctx: ParseContext,
  offered: boolean,
): CookieConfig | null {
  const cookie = expectObject(value, path);
  checkKeys(cookie, path, {
    allowed: [
      "name",
      "length",
      "max_age",
      "store",
      "secure",
      "http_strict",
      "same_site",
      "max_cookies",
      "max_cookies_per_authid",
    ],
  }, ctx);
  let name = DEFAULT_COOKIE_NAME;
  if (has(cookie, "name")) {
    name = expectString(cookie.name, keyPath(path, "name"));
    if (!COOKIE_NAME.test(name)) {
      throw new ConfigError(
        keyPath(path, "name"),
        `must match ${COOKIE_NAME.source} (a lower-case letter, then lower-case letters, digits ` +
          `or "_"), got ${describe(name)}`,
      );
    }
  }
  const length = bounded(
    cookie,
    "length",
    path,
    DEFAULT_COOKIE_LENGTH,
    MIN_COOKIE_LENGTH,
    MAX_COOKIE_LENGTH,
  );
  const maxAge = bounded(cookie, "max_age", path, DEFAULT_COOKIE_MAX_AGE, 1, MAX_COOKIE_MAX_AGE);
  const maxCookies = bounded(cookie, "max_cookies", path, DEFAULT_MAX_COOKIES, 1, 10_000_000);
  const perAuthid = bounded(
    cookie,
    "max_cookies_per_authid",
    path,
    DEFAULT_MAX_COOKIES_PER_AUTHID,
    1,
    maxCookies,
  );
  if (has(cookie, "store")) parseStore(cookie.store, keyPath(path, "store"), ctx);
  const secure = has(cookie, "secure")
    ? expectBoolean(cookie.secure, keyPath(path, "secure"))
    : null;
  const httpStrict = has(cookie, "http_strict")
    ? expectBoolean(cookie.http_strict, keyPath(path, "http_strict"))
    : true;
  let sameSite: CookieConfig["same_site"] = DEFAULT_COOKIE_SAME_SITE;
  if (has(cookie, "same_site")) {
    const v = cookie.same_site;
    if (typeof v !== "string" || !(SAME_SITE as readonly string[]).includes(v)) {
      throw new ConfigError(
        keyPath(path, "same_site"),
        `must be "Strict", "Lax" or "None", got ${describe(v)}`,
      );
    }
    sameSite = v as CookieConfig["same_site"];
  }
  if (!offered) {
    ctx.warn(
      path,
      'cookie tracking has no effect without "cookie" in this endpoint\'s auth: Switchboard sets ' +
        "no cookie then (it does not use the cookie as an authid)",
    );
    return null;
  }
  return {
    name,
    length,
    max_age: maxAge,
    max_cookies: maxCookies,
    max_cookies_per_authid: perAuthid,
    secure,
    http_strict: httpStrict,
    same_site: sameSite,
  };
}
