/**
 * `cryptosign` (Ed25519) authentication: HELLO's `authextra.pubkey` selects the principal (by
 * `authid` when given, else by key), the CHALLENGE carries 32 random bytes in hex, and
 * AUTHENTICATE returns hex(signature ‖ challenge). An unknown key is challenged like a known
 * one and fails at AUTHENTICATE.
 *
 * Channel binding: `tls-unique` is the only type known. On a TLS connection it is refused (Deno
 * does not expose the TLS channel id); on a connection without TLS there is no channel to bind
 * to, so authentication proceeds without binding, as Crossbar does: the CHALLENGE echoes
 * `channel_binding: "tls-unique"` and the client signs the challenge itself.
 *
 * @module
 */

import type { CryptosignPrincipal } from "../config/types.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { ed25519Verify, fromHex } from "./crypto.ts";
import { abort, authidOf, type AuthStep, joinedRealm } from "./step.ts";

/** The principal a public key was found for: who the session will be once it signs. */
export interface KeyOwner {
  readonly authid: string;
  readonly role: string;
  /** When set, the principal joins this realm (and no other). */
  readonly realm: string | null;
  /** Added to the WELCOME's authextra, after `pubkey`. */
  readonly authextra?: Dict;
}

/** HELLO's `authextra.pubkey`, unchecked: undefined when authextra is not an object. */
function pubkeyOf(hello: Hello): unknown {
  const extra = hello.details.authextra;
  return typeof extra === "object" && extra !== null ? (extra as Dict).pubkey : undefined;
}

/**
 * Who a cryptosign HELLO without an authid is counted as by the failure limiter: its public
 * key in lower case, or null when HELLO has no pubkey string.
 */
export function cryptosignSubject(hello: Hello): string | null {
  const pubkey = pubkeyOf(hello);
  return typeof pubkey === "string" ? pubkey.toLowerCase() : null;
}

/** The client's public key from HELLO (lower case), or the abort step explaining what is wrong. */
export function cryptosignKey(hello: Hello): string | AuthStep {
  const pubkey = pubkeyOf(hello);
  if (typeof pubkey !== "string" || !/^[0-9a-fA-F]{64}$/.test(pubkey)) {
    return abort(
      Uri.NOT_AUTHORIZED,
      "cryptosign authentication needs authextra.pubkey (64 hex characters)",
    );
  }
  return pubkey.toLowerCase();
}

/** The only channel binding type WAMP-cryptosign knows. */
const TLS_UNIQUE = "tls-unique";

/**
 * The channel binding a cryptosign HELLO asks for on a transport (`is_secure` in its details):
 * null for none, `tls-unique` on a transport without TLS (there is no channel to bind to, so
 * nothing is bound, as in Crossbar), or the abort step: another type, or `tls-unique` on TLS,
 * whose channel id Deno does not expose.
 */
export function cryptosignBinding(
  hello: Hello,
  transport: Dict,
): { readonly binding: string | null } | AuthStep {
  const extra = hello.details.authextra;
  const binding = typeof extra === "object" && extra !== null
    ? (extra as Dict).channel_binding ?? null
    : null;
  if (binding === null) return { binding: null };
  if (binding !== TLS_UNIQUE) {
    return abort(
      Uri.NOT_AUTHORIZED,
      `channel binding ${JSON.stringify(binding)} is not supported; use "tls-unique" or none`,
    );
  }
  if (transport.is_secure === true) {
    return abort(
      Uri.NOT_AUTHORIZED,
      'channel binding "tls-unique" is not available on this TLS transport (Deno does not ' +
        "expose the TLS channel id); connect without channel_binding",
    );
  }
  return { binding: TLS_UNIQUE };
}

/**
 * The cryptosign CHALLENGE for `key`; `owner` null (an unknown key) and an owner bound to
 * another realm than `realm` (HELLO's; null: none named) fail at AUTHENTICATE like a wrong
 * signature. `binding` is what
 * {@linkcode cryptosignBinding} allowed: echoed in the CHALLENGE, never bound (the client signs
 * the challenge itself).
 */
export function cryptosignChallenge(
  owner: KeyOwner | null,
  key: string,
  realm: string | null,
  provider: string,
  binding: string | null = null,
): AuthStep {
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  return {
    kind: "challenge",
    authmethod: "cryptosign",
    extra: { challenge: challenge.toHex(), channel_binding: binding },
    async verify(msg) {
      const joined = owner ? joinedRealm(realm, owner.realm) : undefined;
      if (!owner || joined === undefined) return null;
      const bytes = fromHex(msg.signature);
      if (!bytes || bytes.length !== 96) return null;
      const signature = bytes.subarray(0, 64);
      const signed = bytes.subarray(64);
      if (signed.toHex() !== challenge.toHex()) return null;
      let ok = false;
      try {
        ok = await ed25519Verify(fromHex(key)!, signature, challenge);
      } catch (e) {
        // a malformed public key is just a failed authentication
        if (!(e instanceof Error)) throw e;
        ok = false;
      }
      if (!ok) return null;
      return {
        authid: owner.authid,
        authrole: owner.role,
        authmethod: "cryptosign",
        authprovider: provider,
        authextra: { pubkey: key, ...(owner.authextra ?? {}) },
        realm: joined,
      };
    },
  };
}

/**
 * Cryptosign authentication of HELLO against the endpoint's static principals; `transport`
 * (its `is_secure`) decides whether a channel binding can be granted.
 */
export function staticCryptosign(
  hello: Hello,
  principals: ReadonlyMap<string, CryptosignPrincipal>,
  transport: Dict = {},
): AuthStep {
  const key = cryptosignKey(hello);
  if (typeof key !== "string") return key;
  const bound = cryptosignBinding(hello, transport);
  if ("kind" in bound) return bound;
  const authid = authidOf(hello);
  let owner: KeyOwner | null = null;
  if (authid !== null) {
    const p = principals.get(authid);
    if (p && p.authorized_keys.includes(key)) owner = { authid, role: p.role, realm: p.realm };
  } else {
    const matches = [...principals.entries()].filter(([, p]) => p.authorized_keys.includes(key));
    if (matches.length === 1) {
      const [id, p] = matches[0]!;
      owner = { authid: id, role: p.role, realm: p.realm };
    }
  }
  return cryptosignChallenge(owner, key, hello.realm, "static", bound.binding);
}
