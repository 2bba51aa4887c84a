/**
 * Authentication of HELLO against an endpoint's static methods: `anonymous`, `ticket`,
 * `wampcra` (plain and salted PBKDF2) and `cryptosign` (Ed25519 through WebCrypto). The method
 * is the first of the client's `authmethods` that the endpoint offers. Failures never reveal
 * whether an authid exists: unknown authids get a challenge like known ones and fail the same.
 *
 * @module
 */

import type { AuthConfig, CraUser, DynamicAuthenticator } from "../config/types.ts";
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
    /** After a failed `verify`: the reason to abort with, when not `wamp.error.not_authorized`. */
    readonly failure?: { readonly reason: string; readonly message: string } | null;
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
  // WebCrypto refuses an empty HMAC key. HMAC pads every key shorter than the hash's block
  // with zero bytes, so one zero byte is the same key (and gives Python's hmac result).
  const raw = key === "" ? new Uint8Array(1) : encoder.encode(key);
  const k = await crypto.subtle.importKey(
    "raw",
    raw,
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

/** The abort for a method that identifies principals by authid when HELLO names none. */
function needsAuthid(method: string): AuthStep {
  return {
    kind: "abort",
    reason: Uri.NOT_AUTHORIZED,
    message: `${method} authentication needs an authid`,
  };
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
  return METHODS.filter((m) => auth[m] !== null || auth.dynamic?.[m] !== undefined);
}

/**
 * Calls a dynamic authenticator procedure on `realm` with positional `args`; resolves to the
 * first result argument, rejects with a `WampError` carrying the procedure's error URI.
 */
export type AuthenticatorCall = (
  realm: string,
  procedure: string,
  args: unknown[],
) => Promise<unknown>;

/**
 * Builds the WAMP-CRA challenge step for `authid` (user undefined: unknown authid, fails later;
 * its challenge then copies `decoy`'s role and PBKDF2 parameters, with a fake stable salt).
 */
function craStep(
  authid: string,
  user: Omit<CraUser, "realm"> & { realm: string | null } | undefined,
  decoy: Pick<CraUser, "role" | "salt" | "iterations" | "keylen"> | undefined,
  realm: string,
  sessionId: number,
  provider: string,
  authextra: Dict = {},
): AuthStep {
  const challenge = JSON.stringify({
    authid,
    authrole: (user ?? decoy)?.role ?? "user",
    authmethod: "wampcra",
    authprovider: provider,
    nonce: toBase64(crypto.getRandomValues(new Uint8Array(16))),
    timestamp: new Date().toISOString(),
    session: sessionId,
  });
  const extra: Dict = { challenge };
  if (user?.salt) {
    Object.assign(extra, { salt: user.salt, iterations: user.iterations, keylen: user.keylen });
  } else if (!user && decoy?.salt) {
    Object.assign(extra, {
      salt: fakeSalt(authid),
      iterations: decoy.iterations,
      keylen: decoy.keylen,
    });
  }
  return {
    kind: "challenge",
    authmethod: "wampcra",
    extra,
    async verify(msg) {
      // Unknown authids do the same key derivation (with the decoy's fake salt) as real ones,
      // so the time to answer does not tell whether the authid exists.
      const keyOf = user ??
        {
          secret: authid,
          salt: extra.salt as string | null ?? null,
          iterations: decoy?.iterations ?? 1000,
          keylen: decoy?.keylen ?? 32,
        };
      const expected = await craSign(await craKey(keyOf), challenge);
      if (!user || (user.realm !== null && user.realm !== realm)) return null;
      if (!constantTimeEqual(msg.signature, expected)) return null;
      return {
        authid,
        authrole: user.role,
        authmethod: "wampcra",
        authprovider: provider,
        authextra,
      };
    },
  };
}

/** The client's cryptosign public key from HELLO, or the abort step explaining what is wrong. */
function cryptosignKey(hello: Hello): string | AuthStep {
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
      message: `channel binding ${JSON.stringify(binding)} is not available on this transport ` +
        "(Deno does not expose the TLS channel id); connect without channel_binding",
    };
  }
  return pubkey.toLowerCase();
}

/** Builds the cryptosign challenge step (principal null: unknown key, fails later). */
function cryptosignStep(
  principal: { authid: string; role: string; realm: string | null; authextra?: Dict } | null,
  key: string,
  realm: string,
  provider: string,
): AuthStep {
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  return {
    kind: "challenge",
    authmethod: "cryptosign",
    extra: { challenge: toHex(challenge), channel_binding: null },
    async verify(msg) {
      if (!principal || (principal.realm !== null && principal.realm !== realm)) return null;
      const bytes = fromHex(msg.signature);
      if (!bytes || bytes.length !== 96) return null;
      const signature = bytes.subarray(0, 64);
      const signed = bytes.subarray(64);
      if (toHex(signed) !== toHex(challenge)) return null;
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
        authid: principal.authid,
        authrole: principal.role,
        authmethod: "cryptosign",
        authprovider: provider,
        authextra: { pubkey: key, ...(principal.authextra ?? {}) },
      };
    },
  };
}

/** The client's methods from HELLO (strings only; none given means `anonymous`). */
function requestedMethods(hello: Hello): string[] {
  const requested = hello.details.authmethods ?? ["anonymous"];
  return Array.isArray(requested)
    ? requested.filter((m): m is string => typeof m === "string")
    : [];
}

/** The method HELLO authenticates with on `auth`: the client's first that is offered. */
function chooseMethod(hello: Hello, auth: AuthConfig): Method | undefined {
  const available: readonly string[] = offered(auth);
  return requestedMethods(hello).find((m): m is Method => available.includes(m));
}

/**
 * Who HELLO tries to authenticate as, for the failure limiter: its `authid` (empty when it
 * has none), or for cryptosign without an authid the public key; null when the attempt is not
 * limited (anonymous, or no method in common).
 */
export function limitedSubject(hello: Hello, auth: AuthConfig): string | null {
  const method = chooseMethod(hello, auth);
  if (method === undefined || method === "anonymous") return null;
  const authid = hello.details.authid;
  if (typeof authid === "string") return authid;
  if (method === "cryptosign") {
    const extra = hello.details.authextra;
    const pubkey = typeof extra === "object" && extra !== null ? (extra as Dict).pubkey : null;
    if (typeof pubkey === "string") return pubkey.toLowerCase();
  }
  return "";
}

/**
 * Decides how HELLO authenticates on an endpoint. `sessionId` is the id the session will get
 * (WAMP-CRA challenges carry it).
 */
export function authenticate(
  hello: Hello,
  auth: AuthConfig,
  sessionId: number,
  call: AuthenticatorCall | null = null,
  transport: Dict = {},
): AuthStep | Promise<AuthStep> {
  const methods = requestedMethods(hello);
  const available = offered(auth);
  const method = chooseMethod(hello, auth);
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
  const dynamic = auth.dynamic?.[method];
  if (dynamic) {
    if (!call) {
      return {
        kind: "abort",
        reason: Uri.AUTHENTICATION_FAILED,
        message: "no dynamic authenticator is available",
      };
    }
    return dynamicStep(method, hello, dynamic, call, sessionId, transport);
  }
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
        return needsAuthid("ticket");
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
        return needsAuthid("wampcra");
      }
      const user = auth.wampcra!.get(authid);
      // unknown authids are challenged like a configured user: the first salted one, else the first
      const users = [...auth.wampcra!.values()];
      const decoy = users.find((u) => u.salt !== null) ?? users[0];
      return craStep(authid, user, decoy, realm, sessionId, "static");
    }
    case "cryptosign": {
      const key = cryptosignKey(hello);
      if (typeof key !== "string") return key;
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
      return cryptosignStep(principal, key, realm, "static");
    }
  }
}

/** What a dynamic authenticator answered: a role, or a principal dictionary. */
interface Answer {
  role: string;
  authid?: string;
  realm?: string;
  extra: Dict;
  raw: Dict;
}

function parseAnswer(value: unknown): Answer | null {
  if (typeof value === "string" && value !== "") return { role: value, extra: {}, raw: {} };
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const d = value as Dict;
  if (typeof d.role !== "string" || d.role === "" || d.role === "trusted") return null;
  if (d.authid !== undefined && typeof d.authid !== "string") return null;
  if (d.realm !== undefined && typeof d.realm !== "string") return null;
  const extra = d.extra ?? {};
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) return null;
  return {
    role: d.role,
    authid: d.authid as string | undefined,
    realm: d.realm as string | undefined,
    extra: extra as Dict,
    raw: d,
  };
}

/** The error of a failed authenticator call as an abort step (its URI passes through). */
function callFailed(e: unknown): AuthStep {
  const uri =
    typeof e === "object" && e !== null && typeof (e as { uri?: unknown }).uri === "string"
      ? (e as { uri: string }).uri
      : Uri.AUTHENTICATION_FAILED;
  if (uri === Uri.NO_SUCH_PROCEDURE || uri === "wamp.error.canceled" || uri === Uri.RUNTIME_ERROR) {
    return {
      kind: "abort",
      reason: Uri.AUTHENTICATION_FAILED,
      message: "the authenticator is not available or failed",
    };
  }
  return {
    kind: "abort",
    reason: uri,
    message: e instanceof Error ? e.message : "authentication denied",
  };
}

const BAD_ANSWER: AuthStep = {
  kind: "abort",
  reason: Uri.AUTHENTICATION_FAILED,
  message: "the authenticator gave an invalid answer",
};

/**
 * Dynamic authentication, as Crossbar calls it: `authenticate(realm, authid, details)` on a
 * procedure registered by a trusted component. For `anonymous` and `wampcra`/`cryptosign` the
 * call happens at HELLO (the answer supplies the role and the secret or public key); for
 * `ticket` it happens at AUTHENTICATE with `details.ticket`.
 */
async function dynamicStep(
  method: Method,
  hello: Hello,
  dyn: DynamicAuthenticator,
  call: AuthenticatorCall,
  sessionId: number,
  transport: Dict,
): Promise<AuthStep> {
  const realm = hello.realm;
  const authid = typeof hello.details.authid === "string" ? hello.details.authid : null;
  const where = dyn.realm ?? realm;
  const details: Dict = {
    session: sessionId,
    authmethod: method,
    authid,
    authrole: hello.details.authrole ?? null,
    authextra: hello.details.authextra ?? {},
    transport,
  };
  const ask = async (extraDetails: Dict = {}): Promise<Answer | AuthStep> => {
    let value: unknown;
    try {
      value = await call(where, dyn.authenticator, [realm, authid, {
        ...details,
        ...extraDetails,
      }]);
    } catch (e) {
      return callFailed(e);
    }
    const answer = parseAnswer(value);
    if (!answer || (answer.realm !== undefined && answer.realm !== realm)) return BAD_ANSWER;
    return answer;
  };
  const identity = (a: Answer, id: string | null, m: string): Identity => ({
    authid: a.authid ?? id ?? serialNumber(),
    authrole: a.role,
    authmethod: m,
    authprovider: "dynamic",
    authextra: a.extra,
  });
  switch (method) {
    case "anonymous": {
      const a = await ask();
      return "kind" in a ? a : { kind: "welcome", identity: identity(a, null, "anonymous") };
    }
    case "ticket": {
      if (authid === null) {
        return needsAuthid("ticket");
      }
      let failure: { reason: string; message: string } | null = null;
      return {
        kind: "challenge",
        authmethod: "ticket",
        extra: {},
        async verify(msg) {
          const a = await ask({ ticket: msg.signature });
          if ("kind" in a) {
            if (a.kind === "abort") failure = { reason: a.reason, message: a.message };
            return null;
          }
          return identity(a, authid, "ticket");
        },
        get failure() {
          return failure;
        },
      };
    }
    case "wampcra": {
      if (authid === null) {
        return needsAuthid("wampcra");
      }
      const a = await ask();
      if ("kind" in a) return a;
      const secret = a.raw.secret;
      if (typeof secret !== "string" || secret === "") return BAD_ANSWER;
      const salted = a.raw.salt !== undefined;
      const iterations = a.raw.iterations ?? 1000;
      const keylen = a.raw.keylen ?? 32;
      if (
        salted &&
        (typeof a.raw.salt !== "string" || typeof iterations !== "number" ||
          typeof keylen !== "number")
      ) return BAD_ANSWER;
      const user = {
        secret,
        role: a.role,
        realm: null,
        salt: salted ? a.raw.salt as string : null,
        iterations: iterations as number,
        keylen: keylen as number,
      };
      return craStep(a.authid ?? authid, user, undefined, realm, sessionId, "dynamic", a.extra);
    }
    case "cryptosign": {
      const key = cryptosignKey(hello);
      if (typeof key !== "string") return key;
      const a = await ask();
      if ("kind" in a) return a;
      const keys = Array.isArray(a.raw.authorized_keys)
        ? (a.raw.authorized_keys as unknown[]).map((k) => String(k).toLowerCase())
        : typeof a.raw.pubkey === "string"
        ? [a.raw.pubkey.toLowerCase()]
        : [];
      const principal = keys.includes(key)
        ? { authid: a.authid ?? authid ?? key, role: a.role, realm: null, authextra: a.extra }
        : null;
      return cryptosignStep(principal, key, realm, "dynamic");
    }
  }
}
