/**
 * WAMP-SCRAM (the WAMP spec's SCRAM-SHA-256 profile, with Argon2id or PBKDF2 as the KDF, which
 * only the client runs): HELLO carries the authid and a base64 client nonce, the CHALLENGE the
 * combined nonce, the salt and the KDF parameters, AUTHENTICATE the base64 ClientProof, and
 * WELCOME the ServerSignature for the client to check (`authextra.verifier`, and
 * `scram_server_signature` as Autobahn|Python reads it).
 *
 * The router stores StoredKey and ServerKey only. It checks the proof by recovering the client
 * key: SHA-256(HMAC(StoredKey, AuthMessage) XOR ClientProof) must equal StoredKey, compared in
 * constant time.
 *
 * Two AuthMessage forms are accepted, since the spec and the implementations in use differ in
 * its channel-binding part: the spec's `c=` + base64(gs2 header) (`c=biws` without binding, as
 * in RFC 5802 and RFC 7677's test vectors) and Autobahn|Python's and Crossbar's empty `c=`
 * (only without channel binding). Both are computed for every AUTHENTICATE, whichever matches.
 *
 * Unknown authids are challenged like real ones, as the spec suggests and WAMP-CRA does here:
 * a salt derived from the authid (HMAC-SHA256 under a key that is the SHA-256 of the endpoint's
 * credentials, so it is the same in every process with that config, and as long as the
 * configured salts), the most common KDF parameters, and the same verification work against a
 * dummy key, which then fails like a wrong password.
 *
 * Channel binding: `tls-unique` is the only type known. On a TLS connection it is refused (Deno
 * does not expose the TLS channel binding data); on a connection without TLS there is no channel
 * to bind to, so authentication proceeds without binding, as cryptosign does: the client's
 * `channel_binding`/`cbind_data` enter the AuthMessage as sent and are not compared with
 * anything.
 *
 * @module
 */

import { MAX_SCRAM_CLIENT_NONCE, MIN_SCRAM_CLIENT_NONCE } from "../config/defaults.ts";
import { isArgon2 } from "../config/scram.ts";
import type { ScramCredential, ScramPrincipal } from "../config/types.ts";
import type { Authenticate, Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { constantTimeEqual } from "./crypto.ts";
import { saslprep } from "./saslprep.ts";
import {
  abort,
  authidOf,
  type AuthStep,
  type ChallengeStep,
  type Identity,
  joinedRealm,
} from "./step.ts";

const encoder = new TextEncoder();

/** The names HELLO may ask for WAMP-SCRAM by: Crossbar's and Autobahn's, and the spec's. */
export const SCRAM_METHOD_NAMES: readonly string[] = ["scram", "wamp-scram"];

/** The only channel binding type WAMP-SCRAM knows here. */
const TLS_UNIQUE = "tls-unique";

const CANONICAL_BASE64 =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;

/** The bytes of canonical, padded base64 `text` (RFC 4648, no whitespace), or null. */
export function fromBase64(text: unknown): Uint8Array | null {
  if (typeof text !== "string" || text === "" || !CANONICAL_BASE64.test(text)) return null;
  const bytes = Uint8Array.fromBase64(text);
  // non-canonical trailing bits do not survive the round trip
  return bytes.toBase64() === text ? bytes : null;
}

/** The name HELLO asked for WAMP-SCRAM by (its first of `scram` and `wamp-scram`). */
export function scramMethodName(hello: Hello): string {
  const methods = Array.isArray(hello.details.authmethods) ? hello.details.authmethods : [];
  return methods.find((m): m is string => SCRAM_METHOD_NAMES.includes(m as string)) ?? "scram";
}

function abortScram(message: string): AuthStep {
  return abort(Uri.NOT_AUTHORIZED, message);
}

/** What HELLO contributes: authid, client nonce and the requested channel binding. */
export interface ScramHello {
  readonly method: string;
  readonly authid: string;
  /** SASLprep of the authid, for the AuthMessage. */
  readonly username: string;
  readonly clientNonce: string;
  readonly binding: string | null;
}

/** HELLO's WAMP-SCRAM part, or the ABORT for what is wrong with it. */
export function scramHello(hello: Hello, transport: Dict): ScramHello | AuthStep {
  const authid = authidOf(hello);
  if (authid === null) return abortScram("scram authentication needs an authid");
  const username = saslprep(authid);
  if (username === null) return abortScram("the authid has a character SASLprep prohibits");
  const raw = hello.details.authextra;
  const extra: Dict = typeof raw === "object" && raw !== null && !Array.isArray(raw)
    ? raw as Dict
    : {};
  const nonce = fromBase64(extra.nonce);
  if (!nonce || nonce.length < MIN_SCRAM_CLIENT_NONCE || nonce.length > MAX_SCRAM_CLIENT_NONCE) {
    return abortScram(
      `scram authentication needs authextra.nonce: ${MIN_SCRAM_CLIENT_NONCE} to ${MAX_SCRAM_CLIENT_NONCE} random bytes in canonical base64`,
    );
  }
  const binding = extra.channel_binding ?? null;
  if (binding !== null) {
    if (binding !== TLS_UNIQUE) {
      return abortScram(
        `channel binding ${JSON.stringify(binding)} is not supported; use "tls-unique" or none`,
      );
    }
    if (transport.is_secure === true) {
      return abortScram(
        'channel binding "tls-unique" is not available on this TLS transport (Deno does not ' +
          "expose the TLS channel binding data); connect without channel_binding",
      );
    }
  }
  return {
    method: scramMethodName(hello),
    authid,
    username,
    clientNonce: extra.nonce as string,
    binding: binding as string | null,
  };
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    copy(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, copy(data)));
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", copy(data)));
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/** RFC 5802's saslname: `,` and `=` escaped. */
function escapeName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

/** What the AuthMessage is built from. */
export interface AuthMessageParts {
  readonly username: string;
  readonly clientNonce: string;
  readonly serverNonce: string;
  /** The salt, base64 as the CHALLENGE sent it. */
  readonly salt: string;
  readonly iterations: number;
  /** AUTHENTICATE's `channel_binding` (null: none). */
  readonly binding: string | null;
  /** AUTHENTICATE's `cbind_data`, decoded (null: none). */
  readonly bindingData: Uint8Array | null;
}

/**
 * The AuthMessages a proof may sign: the spec's (RFC 5802 syntax, `c=` the base64 of the gs2
 * header and binding data) and, without channel binding, Autobahn|Python's and Crossbar's
 * (`c=` empty, the name not escaped).
 */
export function authMessages(p: AuthMessageParts): string[] {
  const serverFirst = `r=${p.serverNonce},s=${p.salt},i=${p.iterations}`;
  const flag = p.binding === null ? "n" : `p=${p.binding}`;
  const header = encoder.encode(`${flag},,`);
  const input = new Uint8Array(header.length + (p.bindingData?.length ?? 0));
  input.set(header);
  if (p.bindingData) input.set(p.bindingData, header.length);
  const spec = `n=${escapeName(p.username)},r=${p.clientNonce},${serverFirst},` +
    `c=${input.toBase64()},r=${p.serverNonce}`;
  if (p.binding !== null || p.bindingData !== null) return [spec];
  return [spec, `n=${p.username},r=${p.clientNonce},${serverFirst},c=,r=${p.serverNonce}`];
}

/**
 * Checks `proof` against `storedKey` for each AuthMessage (all of them, whichever matches);
 * returns the ServerSignature (base64) of the one it signs, or null.
 */
export async function checkProof(
  proof: Uint8Array,
  messages: readonly string[],
  credential: Pick<ScramCredential, "storedKey" | "serverKey">,
): Promise<string | null> {
  let signed: string | null = null;
  const stored = credential.storedKey.toHex();
  for (const message of messages) {
    const clientSignature = await hmac(credential.storedKey, encoder.encode(message));
    const clientKey = clientSignature.map((b, i) => b ^ (proof[i] ?? 0));
    const recovered = await sha256(clientKey);
    if (constantTimeEqual(recovered.toHex(), stored) && signed === null) signed = message;
  }
  if (signed === null) return null;
  return (await hmac(credential.serverKey, encoder.encode(signed))).toBase64();
}

/** The CHALLENGE of `hello` for `credential`; `accept` false fails every proof (unknown authid). */
export function scramChallenge(
  hello: ScramHello,
  credential: ScramCredential,
  accept: boolean,
  identity: () => Identity,
): ChallengeStep {
  const serverNonce = hello.clientNonce + crypto.getRandomValues(new Uint8Array(16)).toBase64();
  const salt = credential.salt.toBase64();
  const extra: Dict = {
    nonce: serverNonce,
    salt,
    kdf: credential.kdf,
    iterations: credential.iterations,
  };
  // Autobahn|Python reads a memory of null as a number and fails: PBKDF2 challenges have none
  if (isArgon2(credential.kdf)) extra.memory = credential.memory;
  return {
    kind: "challenge",
    authmethod: hello.method,
    extra,
    async verify(msg: Authenticate) {
      const proof = fromBase64(msg.signature);
      const e = msg.extra ?? {};
      if (!proof || proof.length !== 32) return null;
      if (e.nonce !== undefined && e.nonce !== serverNonce) return null;
      const binding = e.channel_binding ?? null;
      if (binding !== hello.binding) return null;
      let bindingData: Uint8Array | null = null;
      if (binding !== null) {
        bindingData = e.cbind_data === undefined || e.cbind_data === null
          ? null
          : fromBase64(e.cbind_data);
        if (bindingData === null && e.cbind_data !== undefined && e.cbind_data !== null) {
          return null;
        }
      } else if (e.cbind_data !== undefined && e.cbind_data !== null) return null;
      const messages = authMessages({
        username: hello.username,
        clientNonce: hello.clientNonce,
        serverNonce,
        salt,
        iterations: credential.iterations,
        binding: hello.binding,
        bindingData,
      });
      const signature = await checkProof(proof, messages, credential);
      if (signature === null || !accept) return null;
      const who = identity();
      return {
        ...who,
        authextra: { ...who.authextra, verifier: signature, scram_server_signature: signature },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Static principals, and what unknown authids are challenged with

/** The most common value of `values` by `key` (ties: the first seen). */
function mostCommon<T>(values: readonly T[], key: (v: T) => string): T | undefined {
  const counts = new Map<string, { value: T; n: number }>();
  for (const v of values) {
    const k = key(v);
    const c = counts.get(k);
    if (c) c.n++;
    else counts.set(k, { value: v, n: 1 });
  }
  let best: { value: T; n: number } | undefined;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  return best?.value;
}

/** What a static endpoint's challenges of unknown authids use. */
interface ScramEndpoint {
  readonly key: Uint8Array;
  /** The KDF parameters and salt length of unknown authids' challenges. */
  readonly kdf: ScramCredential["kdf"];
  readonly iterations: number;
  readonly memory: number | null;
  readonly saltLength: number;
  /** Keys no proof is checked against successfully (the authid is unknown). */
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

const endpoints = new WeakMap<ReadonlyMap<string, ScramPrincipal>, Promise<ScramEndpoint>>();

async function buildEndpoint(principals: ReadonlyMap<string, ScramPrincipal>) {
  const sorted = [...principals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const key = await sha256(encoder.encode(JSON.stringify([
    "switchboard scram salt key v1",
    sorted.map(([id, p]) => [id, p.storedKey.toHex(), p.serverKey.toHex(), p.salt.toHex()]),
  ])));
  const all = [...principals.values()];
  const params = mostCommon(all, (p) => `${p.kdf}/${p.iterations}/${p.memory}`);
  const saltLength = mostCommon(all, (p) => String(p.salt.length))?.salt.length ?? 16;
  return {
    key,
    kdf: params?.kdf ?? "argon2id-13",
    iterations: params?.iterations ?? 4096,
    memory: params ? params.memory : 512,
    saltLength,
    storedKey: await hmac(key, encoder.encode("dummy stored key")),
    serverKey: await hmac(key, encoder.encode("dummy server key")),
  } satisfies ScramEndpoint;
}

function scramEndpoint(principals: ReadonlyMap<string, ScramPrincipal>): Promise<ScramEndpoint> {
  let endpoint = endpoints.get(principals);
  if (!endpoint) {
    endpoint = buildEndpoint(principals);
    endpoints.set(principals, endpoint);
    endpoint.then(undefined, () => endpoints.delete(principals));
  }
  return endpoint;
}

/** The salt of unknown `authid`: the same for every attempt, as long as real ones. */
async function syntheticSalt(endpoint: ScramEndpoint, authid: string): Promise<Uint8Array> {
  const blocks = Math.ceil(endpoint.saltLength / 32);
  const out = new Uint8Array(blocks * 32);
  for (let i = 0; i < blocks; i++) {
    out.set(await hmac(endpoint.key, encoder.encode(`salt ${i}\u0000${authid}`)), i * 32);
  }
  return out.subarray(0, endpoint.saltLength);
}

/**
 * WAMP-SCRAM authentication of HELLO against the endpoint's static principals; `transport` is
 * the connection's details (`is_secure`). Unknown authids, and principals bound to another
 * realm, are challenged like the others and fail at AUTHENTICATE like a wrong password.
 */
export async function staticScram(
  hello: Hello,
  principals: ReadonlyMap<string, ScramPrincipal>,
  transport: Dict,
): Promise<AuthStep> {
  const parsed = scramHello(hello, transport);
  if ("kind" in parsed) return parsed;
  const endpoint = await scramEndpoint(principals);
  // derived for every authid, known or not: the same work
  const synthetic = await syntheticSalt(endpoint, parsed.authid);
  const p = principals.get(parsed.authid);
  const credential: ScramCredential = p ?? {
    kdf: endpoint.kdf,
    iterations: endpoint.iterations,
    memory: endpoint.memory,
    salt: synthetic,
    storedKey: endpoint.storedKey,
    serverKey: endpoint.serverKey,
  };
  const realm = p ? joinedRealm(hello.realm, p.realm) : undefined;
  return scramChallenge(parsed, credential, realm !== undefined, () => ({
    authid: parsed.authid,
    authrole: p!.role,
    authmethod: parsed.method,
    authprovider: "static",
    authextra: {},
    realm,
  }));
}
