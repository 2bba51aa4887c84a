/**
 * Origin checks for browser requests (the HTTP bridge, WebSocket upgrades' `allowed_origins`):
 * which `Origin` header values a path accepts, from a list of allowed origins in Crossbar's
 * form, and whether a request is same-origin. Pure functions, no I/O.
 *
 * An allowed origin is `scheme://host[:port]` (no path), or `*` alone for any origin. A `*`
 * inside the host matches any run of host characters, dots included, as Crossbar's
 * `allowed_origins` does (`https://*.example.com` matches `https://a.b.example.com`, not
 * `https://example.com`); `:*` as the port matches any port. Scheme and port must match
 * otherwise; a missing port is the scheme's default (80 for http/ws, 443 for https/wss). Unlike
 * Autobahn's patterns (a regular expression over `scheme://host:port`), a `*` never spans the
 * host into the port, and a pattern without a port matches the default port (Autobahn needs
 * `https://*.example.com:443` or `...:*` there). The origin `null` (sandboxed frames, `file:`
 * pages, some redirects; a `file://` origin counts as `null`, as in Autobahn) is never matched
 * by a pattern, not even by `*`: it is allowed only when the policy says so.
 *
 * @module
 */

/** An origin or an allowed-origin pattern, taken apart. */
interface OriginParts {
  /** Lower-case scheme without `://`. */
  readonly scheme: string;
  /** Lower-case host (IPv6 in brackets). */
  readonly host: string;
  /** Explicit port, else the scheme's default, else null. */
  readonly port: number | null;
}

/** One entry of an allowed-origins list. */
export type OriginPattern =
  | { readonly any: true }
  | {
    readonly any: false;
    readonly scheme: string;
    readonly host: RegExp;
    /** The port, or `"any"` for a pattern ending in `:*`. */
    readonly port: number | null | "any";
  };

/** What a path accepts from browsers. */
export interface OriginPolicy {
  /** The allowed origins; null: only same-origin requests. */
  readonly allowed: readonly OriginPattern[] | null;
  /** Whether `Origin: null` is accepted. */
  readonly allowNull: boolean;
}

/**
 * The verdict on one request:
 * - `none`: no `Origin` header (curl, backends): allowed, no CORS headers needed;
 * - `same`: same-origin (only when the policy has no allowed list): allowed;
 * - `cross`: an allowed cross-origin request: allowed, answer with CORS headers;
 * - `denied`: an `Origin` that is not allowed.
 */
export type OriginVerdict = "none" | "same" | "cross" | "denied";

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };
/** `scheme://host[:port]` as browsers serialize origins (RFC 6454), hosts in ASCII. */
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i;
/** The same with `*` allowed in a (non-IPv6) host, and as the whole port. */
const PATTERN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._*-]+)(?::(\d{1,5}|\*))?$/i;
/** A `Host` header: host and optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i;

function portOf(scheme: string, port: string | undefined): number | null | undefined {
  if (port === undefined) return DEFAULT_PORTS[scheme] ?? null;
  const n = Number(port);
  return n <= 65535 ? n : undefined;
}

function parts(text: string, syntax: RegExp): OriginParts | null {
  const m = syntax.exec(text);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const port = portOf(scheme, m[3]);
  if (port === undefined) return null;
  return { scheme, host: m[2]!.toLowerCase(), port };
}

/**
 * Parses one allowed-origin entry.
 *
 * @param text `*`, or `scheme://host[:port]` with optional `*` in the host.
 * @returns The pattern, or a string saying why the entry is not one.
 */
export function parseOriginPattern(text: string): OriginPattern | string {
  if (text === "*") return { any: true };
  const anyPort = text.endsWith(":*");
  const p = parts(anyPort ? text.slice(0, -2) : text, PATTERN);
  if (!p) {
    return 'must be "*" or an origin "scheme://host[:port]" (no path; "*" only inside the host; port at most 65535)';
  }
  const host = new RegExp(
    `^${p.host.replace(/[.+?^${}()|[\]\\-]/g, "\\$&").replaceAll("*", "[a-z0-9._-]*")}$`,
  );
  return { any: false, scheme: p.scheme, host, port: anyPort ? "any" : p.port };
}

/**
 * A policy from config values (already validated).
 *
 * @param allowed The allowed-origin entries, or null for same-origin only.
 * @param allowNull Whether `Origin: null` is accepted.
 * @throws {TypeError} For an entry {@link parseOriginPattern} rejects.
 */
export function originPolicy(allowed: readonly string[] | null, allowNull: boolean): OriginPolicy {
  const patterns = allowed?.map((text) => {
    const p = parseOriginPattern(text);
    if (typeof p === "string") throw new TypeError(`allowed origin ${JSON.stringify(text)} ${p}`);
    return p;
  }) ?? null;
  return { allowed: patterns, allowNull };
}

/** True when the origin `o` names the host of the `Host` header `host` (same host and port). */
function sameOrigin(o: OriginParts, host: string | null): boolean {
  if (host === null) return false;
  const m = HOST.exec(host);
  if (!m) return false;
  const port = portOf(o.scheme, m[2]);
  return m[1]!.toLowerCase() === o.host && port === o.port;
}

function matches(p: OriginPattern, o: OriginParts): boolean {
  if (p.any) return true;
  return p.scheme === o.scheme && (p.port === "any" || p.port === o.port) && p.host.test(o.host);
}

/**
 * Decides whether a request may proceed.
 *
 * @param policy The path's policy.
 * @param origin The request's `Origin` header, or null when it has none.
 * @param host The request's `Host` header, or null.
 */
export function checkOrigin(
  policy: OriginPolicy,
  origin: string | null,
  host: string | null,
): OriginVerdict {
  if (origin === null) return "none";
  // browsers send `file://` for local pages (Chrome) where others send `null`: the same origin
  if (origin === "null" || /^file:\/\//i.test(origin)) return policy.allowNull ? "cross" : "denied";
  const o = parts(origin, ORIGIN);
  if (!o) return "denied";
  if (policy.allowed === null) return sameOrigin(o, host) ? "same" : "denied";
  return policy.allowed.some((p) => matches(p, o)) ? "cross" : "denied";
}
