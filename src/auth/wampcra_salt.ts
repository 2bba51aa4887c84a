/**
 * Deterministic WAMP-CRA salts, so that a static endpoint's challenges do not tell which
 * authids exist. When any user of an endpoint is salted, users without a salt of their own and
 * unknown authids get one derived from their authid: HMAC-SHA256 of the authid under a key
 * that is the SHA-256 of the endpoint's secrets, written like the configured salts, with their
 * most common PBKDF2 parameters. The same config gives the same salts in every process; nothing
 * is kept per authid.
 *
 * @module
 */

import type { CraUser } from "../config/types.ts";
import { type CraPrimitives, webCryptoCra } from "./wampcra_primitives.ts";

const encoder = new TextEncoder();

/** How synthesized salts are written: base64 of `bytes` bytes, or `length` characters of `alphabet`. */
export type SaltFormat =
  | { readonly kind: "base64"; readonly bytes: number }
  | { readonly kind: "chars"; readonly alphabet: string; readonly length: number };

const range = (from: string, to: string): string =>
  String.fromCharCode(
    ...Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) =>
      from.charCodeAt(0) + i),
  );
const DIGITS = range("0", "9");
const LOWER = range("a", "z");
const UPPER = range("A", "Z");
/** Candidate alphabets, smallest first; the first that covers the configured salts is used. */
const ALPHABETS = [
  DIGITS,
  DIGITS + "abcdef",
  DIGITS + "ABCDEF",
  DIGITS + LOWER,
  DIGITS + UPPER,
  DIGITS + LOWER + UPPER,
  UPPER + LOWER + DIGITS + "-_",
  UPPER + LOWER + DIGITS + "+/",
  range("!", "~"),
];
const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;
/** One HMAC block gives 32 bytes; a block index is one byte. */
const MAX_BLOCKS = 255;
/** Salts used when no configured salt gives a format (base64 of 12 bytes, 16 characters). */
const DEFAULT_FORMAT: SaltFormat = { kind: "base64", bytes: 12 };

/** The most common value of `values` (ties: the one seen first), or undefined for none. */
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

/**
 * The format of synthesized salts, copied from the configured ones: the most common length,
 * padded base64 of the same number of bytes when they are padded base64, else characters of
 * the smallest usual alphabet that covers them.
 */
function saltFormat(salts: readonly string[]): SaltFormat {
  const length = mostCommon(salts, (s) => String(s.length));
  if (length === undefined) return DEFAULT_FORMAT;
  const typical = salts.filter((s) => s.length === length.length);
  if (typical.every((s) => PADDED_BASE64.test(s))) {
    const pad = typical[0]!.endsWith("==") ? 2 : 1;
    return { kind: "base64", bytes: Math.min((length.length / 4) * 3 - pad, MAX_BLOCKS * 32) };
  }
  const alphabet = ALPHABETS.find((a) => typical.every((s) => [...s].every((c) => a.includes(c))));
  return {
    kind: "chars",
    alphabet: alphabet ?? ALPHABETS.at(-1)!,
    length: Math.min(length.length, (MAX_BLOCKS * 32) / 4),
  };
}

/** Bytes of HMAC output a salt of `format` takes (four per character: negligible bias). */
function bytesNeeded(format: SaltFormat): number {
  return format.kind === "base64" ? format.bytes : format.length * 4;
}

function encodeSalt(bytes: Uint8Array, format: SaltFormat): string {
  if (format.kind === "base64") return bytes.subarray(0, format.bytes).toBase64();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = "";
  for (let i = 0; i < format.length; i++) {
    out += format.alphabet[view.getUint32(i * 4) % format.alphabet.length];
  }
  return out;
}

/** Domain separation of the endpoint key's uses. */
const SALT_DOMAIN = 1;
const DUMMY_DOMAIN = 2;

/**
 * What a static WAMP-CRA endpoint's challenges share: whether it is salted, the PBKDF2
 * parameters and salt format of synthesized salts, the salt key and the dummy secret. A pure
 * function of the configured users (the same for every process with that config).
 */
export class CraEndpoint {
  /** True when any user is salted: then every challenge carries a salt. */
  readonly salted: boolean;
  /** PBKDF2 parameters of synthesized salts: the most common among the salted users. */
  readonly iterations: number;
  readonly keylen: number;
  readonly format: SaltFormat;
  readonly #key: CryptoKey;
  readonly #blocks: number;
  /** The secret unknown authids are checked with (no signature can match: the authid is unknown). */
  readonly dummySecret: string;

  private constructor(
    users: readonly CraUser[],
    key: CryptoKey,
    dummySecret: string,
  ) {
    const salted = users.filter((u) => u.salt !== null);
    this.salted = salted.length > 0;
    const params = mostCommon(salted, (u) => `${u.iterations}/${u.keylen}`);
    this.iterations = params?.iterations ?? 1000;
    this.keylen = params?.keylen ?? 32;
    this.format = saltFormat(salted.map((u) => u.salt!));
    this.#blocks = Math.ceil(bytesNeeded(this.format) / 32);
    this.#key = key;
    this.dummySecret = dummySecret;
  }

  /** Builds the endpoint of `users`; the key is SHA-256 of the authids and secrets, sorted. */
  static async create(users: ReadonlyMap<string, CraUser>): Promise<CraEndpoint> {
    const sorted = [...users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const canonical = JSON.stringify([
      "switchboard wampcra salt key v1",
      sorted.map(([authid, u]) => [authid, u.secret]),
    ]);
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(canonical));
    const key = await crypto.subtle.importKey(
      "raw",
      digest,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const dummy = await webCryptoCra.saltBlock(key, new Uint8Array([DUMMY_DOMAIN]));
    return new CraEndpoint([...users.values()], key, dummy.toBase64());
  }

  /** The deterministic salt of `authid` (HMAC-SHA256 under the endpoint key, in `format`). */
  async saltOf(authid: string, primitives: CraPrimitives = webCryptoCra): Promise<string> {
    const id = encoder.encode(authid);
    const out = new Uint8Array(this.#blocks * 32);
    for (let i = 0; i < this.#blocks; i++) {
      const data = new Uint8Array(id.length + 2);
      data[0] = SALT_DOMAIN;
      data[1] = i;
      data.set(id, 2);
      out.set(await primitives.saltBlock(this.#key, data), i * 32);
    }
    return encodeSalt(out, this.format);
  }
}

const endpoints = new WeakMap<ReadonlyMap<string, CraUser>, Promise<CraEndpoint>>();

/**
 * The endpoint of a configured users map, built once per map (a config object; it holds
 * nothing per authid, so nothing that grows or can be flushed by clients).
 */
export function craEndpoint(users: ReadonlyMap<string, CraUser>): Promise<CraEndpoint> {
  let endpoint = endpoints.get(users);
  if (!endpoint) {
    endpoint = CraEndpoint.create(users);
    endpoints.set(users, endpoint);
    // a failed build is not kept (callers still get its rejection)
    endpoint.then(undefined, () => endpoints.delete(users));
  }
  return endpoint;
}
