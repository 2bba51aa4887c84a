/**
 * Authentication of HELLO against an endpoint's static methods: `anonymous`, `ticket`,
 * `wampcra` (plain and salted PBKDF2) and `cryptosign` (Ed25519 through WebCrypto). The method
 * is the first of the client's `authmethods` that the endpoint offers. Failures never reveal
 * whether an authid exists: unknown authids get a challenge like known ones and fail the same.
 *
 * @module
 */

import type { AuthConfig, CraUser } from "../config/types.ts";
import { serialNumber } from "../wamp/ids.ts";
import type { Authenticate, Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";

/** Who a session is, once authenticated. */
export interface Identity {
  readonly authid: string;
  readonly authrole: string;
  readonly authmethod: string;
  readonly authprovider: string;
  readonly authextra: Dict;
}

/** The outcome of HELLO. */
export type AuthStep =
  | { readonly kind: "welcome"; readonly identity: Identity }
  | {
    readonly kind: "challenge";
    readonly authmethod: string;
    readonly extra: Dict;
    /** Checks AUTHENTICATE; resolves to the identity, or null when authentication failed. */
    verify(msg: Authenticate): Promise<Identity | null>;
  }
  | { readonly kind: "abort"; readonly reason: string; readonly message: string };

const METHODS = ["anonymous", "ticket", "wampcra", "cryptosign"] as const;
type Method = typeof METHODS[number];

const encoder = new TextEncoder();

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** WAMP-CRA key: the secret, or for salted users base64(PBKDF2-HMAC-SHA256(secret, salt)) as text. */
export async function craKey(
  user: Pick<CraUser, "secret" | "salt" | "iterations" | "keylen">,
): Promise<string> {
  if (user.salt === null) return user.secret;
  const base = await crypto.subtle.importKey("raw", encoder.encode(user.secret), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: encoder.encode(user.salt),
      iterations: user.iterations,
    },
    base,
    user.keylen * 8,
  );
  return toBase64(new Uint8Array(bits));
}

/** WAMP-CRA signature: base64(HMAC-SHA256(key, challenge)). */
export async function craSign(key: string, challenge: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  return toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(challenge))));
}

/** Verifies an Ed25519 signature (`signature` 64 bytes) of `message` by `publicKey` (32 bytes). */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", copy(publicKey), { name: "Ed25519" }, false, [
    "verify",
  ]);
  return await crypto.subtle.verify("Ed25519", key, copy(signature), copy(message));
}

/** A copy backed by a plain ArrayBuffer, as WebCrypto's types ask. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/** Fake CRA salts for unknown authids, stable per authid for the life of the process. */
const fakeSalts = new Map<string, string>();

function fakeSalt(authid: string): string {
  let salt = fakeSalts.get(authid);
  if (salt === undefined) {
    if (fakeSalts.size >= 10_000) fakeSalts.clear();
    salt = toBase64(crypto.getRandomValues(new Uint8Array(12)));
    fakeSalts.set(authid, salt);
  }
  return salt;
}

function offered(auth: AuthConfig): Method[] {
  return METHODS.filter((m) => auth[m] !== null);
}

/**
 * Decides how HELLO authenticates on an endpoint. `sessionId` is the id the session will get
 * (WAMP-CRA challenges carry it).
 */
export function authenticate(hello: Hello, auth: AuthConfig, sessionId: number): AuthStep {
  const requested = hello.details.authmethods ?? ["anonymous"];
  const methods = Array.isArray(requested)
    ? requested.filter((m): m is string => typeof m === "string")
    : [];
  const available = offered(auth);
  const method = methods.find((m): m is Method => (available as string[]).includes(m));
  if (!method) {
    return {
      kind: "abort",
      reason: Uri.NO_AUTH_METHOD,
      message:
        `none of the offered authentication methods (${
          methods.join(", ") || "none"
        }) is available; ` +
        `this transport offers: ${available.join(", ") || "none"}`,
    };
  }
  const realm = hello.realm;
  const authid = typeof hello.details.authid === "string" ? hello.details.authid : null;
  const denied = (): null => null;
  switch (method) {
    case "anonymous": {
      const a = auth.anonymous!;
      return {
        kind: "welcome",
        identity: {
          authid: a.authid ?? serialNumber(),
          authrole: a.role,
          authmethod: "anonymous",
          authprovider: "static",
          authextra: {},
        },
      };
    }
    case "ticket": {
      if (authid === null) {
        return {
          kind: "abort",
          reason: Uri.NOT_AUTHORIZED,
          message: "ticket authentication needs an authid",
        };
      }
      const p = auth.ticket!.get(authid);
      return {
        kind: "challenge",
        authmethod: "ticket",
        extra: {},
        verify(msg) {
          if (!p || (p.realm !== null && p.realm !== realm)) return Promise.resolve(denied());
          if (!constantTimeEqual(msg.signature, p.ticket)) return Promise.resolve(denied());
          return Promise.resolve({
            authid,
            authrole: p.role,
            authmethod: "ticket",
            authprovider: "static",
            authextra: {},
          });
        },
      };
    }
    case "wampcra": {
      if (authid === null) {
        return {
          kind: "abort",
          reason: Uri.NOT_AUTHORIZED,
          message: "wampcra authentication needs an authid",
        };
      }
      const user = auth.wampcra!.get(authid);
      const anySalted = [...auth.wampcra!.values()].some((u) => u.salt !== null);
      const challenge = JSON.stringify({
        authid,
        authrole: user?.role ?? "user",
        authmethod: "wampcra",
        authprovider: "static",
        nonce: toBase64(crypto.getRandomValues(new Uint8Array(16))),
        timestamp: new Date().toISOString(),
        session: sessionId,
      });
      const extra: Dict = { challenge };
      if (user?.salt) {
        Object.assign(extra, { salt: user.salt, iterations: user.iterations, keylen: user.keylen });
      } else if (!user && anySalted) {
        Object.assign(extra, { salt: fakeSalt(authid), iterations: 1000, keylen: 32 });
      }
      return {
        kind: "challenge",
        authmethod: "wampcra",
        extra,
        async verify(msg) {
          if (!user || (user.realm !== null && user.realm !== realm)) return denied();
          const expected = await craSign(await craKey(user), challenge);
          if (!constantTimeEqual(msg.signature, expected)) return denied();
          return {
            authid,
            authrole: user.role,
            authmethod: "wampcra",
            authprovider: "static",
            authextra: {},
          };
        },
      };
    }
    case "cryptosign": {
      const extraIn = hello.details.authextra;
      const pubkey = typeof extraIn === "object" && extraIn !== null
        ? (extraIn as Dict).pubkey
        : undefined;
      if (typeof pubkey !== "string" || !/^[0-9a-fA-F]{64}$/.test(pubkey)) {
        return {
          kind: "abort",
          reason: Uri.NOT_AUTHORIZED,
          message: "cryptosign authentication needs authextra.pubkey (64 hex characters)",
        };
      }
      const binding = (extraIn as Dict).channel_binding;
      if (binding !== undefined && binding !== null) {
        return {
          kind: "abort",
          reason: Uri.NOT_AUTHORIZED,
          message:
            `channel binding ${JSON.stringify(binding)} is not available on this transport ` +
            "(Deno does not expose the TLS channel id); connect without channel_binding",
        };
      }
      const key = pubkey.toLowerCase();
      let principal: { authid: string; role: string; realm: string | null } | null = null;
      if (authid !== null) {
        const p = auth.cryptosign!.get(authid);
        if (p && p.authorized_keys.includes(key)) {
          principal = { authid, role: p.role, realm: p.realm };
        }
      } else {
        const matches = [...auth.cryptosign!.entries()].filter(([, p]) =>
          p.authorized_keys.includes(key)
        );
        if (matches.length === 1) {
          principal = {
            authid: matches[0][0],
            role: matches[0][1].role,
            realm: matches[0][1].realm,
          };
        }
      }
      const challenge = crypto.getRandomValues(new Uint8Array(32));
      return {
        kind: "challenge",
        authmethod: "cryptosign",
        extra: { challenge: toHex(challenge), channel_binding: null },
        async verify(msg) {
          if (!principal || (principal.realm !== null && principal.realm !== realm)) {
            return denied();
          }
          const bytes = fromHex(msg.signature);
          if (!bytes || bytes.length !== 96) return denied();
          const signature = bytes.subarray(0, 64);
          const signed = bytes.subarray(64);
          if (toHex(signed) !== toHex(challenge)) return denied();
          let ok = false;
          try {
            ok = await ed25519Verify(fromHex(key)!, signature, challenge);
          } catch (e) {
            // a malformed public key is just a failed authentication
            if (!(e instanceof Error)) throw e;
            ok = false;
          }
          if (!ok) return denied();
          return {
            authid: principal.authid,
            authrole: principal.role,
            authmethod: "cryptosign",
            authprovider: "static",
            authextra: { pubkey: key },
          };
        },
      };
    }
  }
}

/**
 * Counts failed authentications per remote address; an address with `maxFailures` failures
 * within `windowMs` is refused until the window has passed.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>();

  /** True when `address` may try to authenticate now. */
  allowed(address: string, maxFailures: number, windowMs: number, nowMs: number): boolean {
    const list = this.#prune(address, windowMs, nowMs);
    return list.length < maxFailures;
  }

  /** Records one failure of `address`. */
  fail(address: string, windowMs: number, nowMs: number): void {
    const list = this.#prune(address, windowMs, nowMs);
    list.push(nowMs);
    this.#failures.set(address, list);
  }

  #prune(address: string, windowMs: number, nowMs: number): number[] {
    const list = (this.#failures.get(address) ?? []).filter((t) => nowMs - t < windowMs);
    if (list.length === 0) this.#failures.delete(address);
    else this.#failures.set(address, list);
    return list;
  }
}
