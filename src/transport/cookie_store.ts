/**
 * The tracking cookies of one WebSocket endpoint, for cookie authentication: which cookie a
 * connection's upgrade request presented or was given, and which cookies are bound to an
 * identity.
 *
 * What an attacker cannot do:
 * - **Choose a cookie** (fixation): an id is only ever bound when this store issued it on the
 *   same connection's upgrade response (random, 6 bits per character, at least 22 characters).
 *   A presented id that is not bound gets a fresh one; a bound id presented on a connection
 *   that then authenticates by another method is unbound, never bound again.
 * - **Fill the store**: nothing is stored before a successful authentication binds an id
 *   (unauthenticated connections cost no entry), at most `maxCookies` ids are bound (the oldest
 *   binding goes first) and at most `maxPerAuthid` per authid and realm, so one account cannot
 *   push out the others.
 * - **Use a cookie past its `Max-Age`**: a binding ends `maxAgeSeconds` after its id was
 *   issued, by the router's {@linkcode Clock}.
 *
 * @module
 */

import type { Clock } from "../clock.ts";

/** How an endpoint's cookies are made (from its `cookie` config). */
export interface CookieOptions {
  readonly name: string;
  /** Characters of an id (base64url alphabet: 6 random bits each). */
  readonly length: number;
  readonly maxAgeSeconds: number;
  readonly maxCookies: number;
  readonly maxPerAuthid: number;
  /** `Secure`: null sets it on TLS connections only. */
  readonly secure: boolean | null;
  readonly httpOnly: boolean;
  readonly sameSite: "Strict" | "Lax" | "None";
}

/** Who a cookie authenticates as. */
export interface CookieBinding {
  readonly authid: string;
  readonly authrole: string;
  /** The method that authenticated the connection the cookie was bound on. */
  readonly authmethod: string;
  readonly authextra: Readonly<Record<string, unknown>>;
  /** The realm the session joined: the cookie authenticates on this realm only. */
  readonly realm: string;
}

/** A connection's cookie, as its sessions use it. */
export interface ConnectionCookie {
  /** Who the cookie this connection presented authenticates as now, or null. */
  binding(): CookieBinding | null;
  /**
   * A session on this connection authenticated by another method: the cookie issued on this
   * connection is bound to it; a cookie the connection presented is unbound (never rebound).
   */
  authenticated(binding: CookieBinding): void;
  /** The session logged out (`wamp.close.logout`): this connection's cookie is unbound. */
  logout(): void;
}

/** What an upgrade request gets. */
export interface CookieVisit {
  readonly cookie: ConnectionCookie;
  /** The `Set-Cookie` header value of the upgrade response, or null for none. */
  readonly setCookie: string | null;
}

interface Entry {
  readonly binding: CookieBinding;
  readonly expiresAt: number;
  readonly owner: string;
}

const ID_CHARS = /^[A-Za-z0-9_-]+$/;

/** The values of cookie `name` in a `Cookie` header (at most `max`). */
function cookieValues(header: string, name: string, max: number): string[] {
  const out: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    out.push(part.slice(eq + 1).trim());
    if (out.length >= max) break;
  }
  return out;
}

/** The cookies of one endpoint. */
export class CookieStore {
  readonly #options: CookieOptions;
  readonly #clock: Clock;
  /** Bound ids, oldest binding first. */
  readonly #entries = new Map<string, Entry>();
  /** Bound ids per authid and realm, oldest first. */
  readonly #owners = new Map<string, Set<string>>();

  constructor(options: CookieOptions, clock: Clock) {
    this.#options = options;
    this.#clock = clock;
  }

  /** Bound cookies now (expired ones may still count until they are looked at). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * An upgrade request with `Cookie` header `header` on a connection (`secure`: TLS), for the
   * WebSocket path `path`: the connection's cookie, and the `Set-Cookie` value when the request
   * presented no bound cookie.
   */
  visit(header: string | null | undefined, secure: boolean, path: string): CookieVisit {
    const presented = this.#presented(header);
    if (presented !== null) {
      return { cookie: this.#connection(presented, null, 0), setCookie: null };
    }
    const o = this.#options;
    const id = this.#newId();
    const attributes = [`${o.name}=${id}`, `Max-Age=${o.maxAgeSeconds}`, `Path=${path || "/"}`];
    if (o.httpOnly) attributes.push("HttpOnly");
    // browsers drop SameSite=None cookies without Secure
    if ((o.secure ?? secure) || o.sameSite === "None") attributes.push("Secure");
    attributes.push(`SameSite=${o.sameSite}`);
    return {
      cookie: this.#connection(null, id, this.#clock.nowMs()),
      setCookie: attributes.join("; "),
    };
  }

  /** The first bound, unexpired id of the header's values of our cookie, or null. */
  #presented(header: string | null | undefined): string | null {
    if (!header) return null;
    for (const value of cookieValues(header, this.#options.name, 8)) {
      if (value.length === this.#options.length && ID_CHARS.test(value) && this.#lookup(value)) {
        return value;
      }
    }
    return null;
  }

  #newId(): string {
    const n = this.#options.length;
    const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil((n * 6) / 8)));
    return bytes.toBase64({ alphabet: "base64url", omitPadding: true }).slice(0, n);
  }

  /** The entry of `id` when it is bound and not expired (an expired one is dropped). */
  #lookup(id: string): Entry | null {
    const entry = this.#entries.get(id);
    if (!entry) return null;
    if (this.#clock.nowMs() >= entry.expiresAt) {
      this.#remove(id);
      return null;
    }
    return entry;
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    const owned = this.#owners.get(entry.owner);
    owned?.delete(id);
    if (owned?.size === 0) this.#owners.delete(entry.owner);
  }

  #bind(id: string, binding: CookieBinding, issuedAt: number): void {
    this.#remove(id);
    const o = this.#options;
    const owner = `${binding.realm}\u0000${binding.authid}`;
    let owned = this.#owners.get(owner);
    while (owned && owned.size >= o.maxPerAuthid) this.#remove(owned.values().next().value!);
    while (this.#entries.size >= o.maxCookies) this.#remove(this.#entries.keys().next().value!);
    owned = this.#owners.get(owner);
    if (!owned) this.#owners.set(owner, owned = new Set());
    owned.add(id);
    this.#entries.set(id, { binding, expiresAt: issuedAt + o.maxAgeSeconds * 1000, owner });
  }

  /** A connection that presented bound id `presented`, or was issued `issued` at `issuedAt`. */
  #connection(presented: string | null, issued: string | null, issuedAt: number): ConnectionCookie {
    // deno-lint-ignore no-this-alias
    const store = this;
    return {
      binding() {
        return presented === null ? null : (store.#lookup(presented)?.binding ?? null);
      },
      authenticated(binding) {
        if (presented !== null) store.#remove(presented);
        else if (issued !== null) store.#bind(issued, binding, issuedAt);
      },
      logout() {
        if (presented !== null) store.#remove(presented);
        if (issued !== null) store.#remove(issued);
      },
    };
  }
}
