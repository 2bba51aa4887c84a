/**
 * The client side of WAMP-SCRAM's key derivation, for making credentials (what a `scram`
 * principal stores) and for clients: the salted password by Argon2id (`@noble/hashes`, audited
 * and dependency-free, pure JavaScript) or PBKDF2-HMAC-SHA256 (WebCrypto), and the StoredKey and
 * ServerKey derived from it. The router itself never runs a KDF.
 *
 * The two Argon2id names differ in one detail, because the implementations do:
 * - `argon2id13` (the spec): SaltedPassword is the 32 raw bytes of Argon2id.
 * - `argon2id-13` (Crossbar and Autobahn|Python): SaltedPassword is the unpadded base64 text of
 *   those bytes (what argon2-cffi's encoded hash ends with), as Autobahn's client and its
 *   `derive_scram_credential` use it.
 *
 * Run it to print a principal for a password read from standard input:
 * `deno task scram-credential [--kdf argon2id-13|argon2id13|pbkdf2] [--iterations N] [--memory KiB]`.
 *
 * @module
 */

import { argon2idAsync } from "@noble/hashes/argon2.js";
import type { ScramKdf } from "../config/types.ts";
import { saslprep } from "./saslprep.ts";

const encoder = new TextEncoder();

/** Argon2id time cost of new credentials: Autobahn|Python's `derive_scram_credential`. */
export const DEFAULT_ARGON2_ITERATIONS = 4096;
/** Argon2id memory cost of new credentials (KiB): Autobahn|Python's. */
export const DEFAULT_ARGON2_MEMORY = 512;
/** PBKDF2 iterations of new credentials: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
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

/** The password's bytes after SASLprep; throws for a password SASLprep prohibits. */
function passwordBytes(password: string): Uint8Array {
  const prepared = saslprep(password);
  if (prepared === null) throw new TypeError("the password has a character SASLprep prohibits");
  return encoder.encode(prepared);
}

/** SaltedPassword = KDF(Normalize(password), salt, params): see the module text for Argon2id. */
export async function saltedPassword(
  kdf: ScramKdf,
  password: string,
  salt: Uint8Array,
  iterations: number,
  memory: number | null,
): Promise<Uint8Array> {
  const pw = passwordBytes(password);
  if (kdf === "pbkdf2") {
    const base = await crypto.subtle.importKey("raw", copy(pw), "PBKDF2", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: copy(salt), iterations },
      base,
      256,
    );
    return new Uint8Array(bits);
  }
  if (memory === null) throw new TypeError("Argon2id needs a memory cost");
  const raw = await argon2idAsync(pw, salt, { t: iterations, m: memory, p: 1, dkLen: 32 });
  if (kdf === "argon2id13") return raw;
  return encoder.encode(raw.toBase64({ omitPadding: true }));
}

/** ClientKey, StoredKey and ServerKey of a salted password. */
export async function scramKeys(salted: Uint8Array): Promise<{
  clientKey: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}> {
  const clientKey = await hmac(salted, encoder.encode("Client Key"));
  const storedKey = new Uint8Array(await crypto.subtle.digest("SHA-256", copy(clientKey)));
  const serverKey = await hmac(salted, encoder.encode("Server Key"));
  return { clientKey, storedKey, serverKey };
}

/** A credential as a `scram` principal writes it (Crossbar's keys, hex values). */
export interface ScramCredentialJson {
  kdf: ScramKdf;
  iterations: number;
  memory?: number;
  salt: string;
  "stored-key": string;
  "server-key": string;
}

/** Options of {@linkcode deriveScramCredential}. */
export interface DeriveOptions {
  /** Default `argon2id-13` (what Autobahn|Python speaks). */
  kdf?: ScramKdf;
  /** Default 4096 for Argon2id, 600000 for PBKDF2. */
  iterations?: number;
  /** Argon2id memory cost in KiB; default 512. */
  memory?: number;
  /** Default 16 random bytes. */
  salt?: Uint8Array;
}

/** The credential of `password`, ready for `auth.scram.principals[authid]` (add `role`). */
export async function deriveScramCredential(
  password: string,
  options: DeriveOptions = {},
): Promise<ScramCredentialJson> {
  const kdf = options.kdf ?? "argon2id-13";
  const argon = kdf !== "pbkdf2";
  const iterations = options.iterations ??
    (argon ? DEFAULT_ARGON2_ITERATIONS : DEFAULT_PBKDF2_ITERATIONS);
  const memory = argon ? options.memory ?? DEFAULT_ARGON2_MEMORY : null;
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(16));
  const keys = await scramKeys(await saltedPassword(kdf, password, salt, iterations, memory));
  return {
    kdf,
    iterations,
    ...(memory !== null ? { memory } : {}),
    salt: salt.toHex(),
    "stored-key": keys.storedKey.toHex(),
    "server-key": keys.serverKey.toHex(),
  };
}

if (import.meta.main) {
  const args = Deno.args;
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const kdf = (opt("kdf") ?? "argon2id-13") as ScramKdf;
  if (!["argon2id-13", "argon2id13", "pbkdf2"].includes(kdf)) {
    console.error("--kdf must be argon2id-13, argon2id13 or pbkdf2");
    Deno.exit(2);
  }
  const number = (name: string) => {
    const v = opt(name);
    return v === undefined ? undefined : Number(v);
  };
  const password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  const credential = await deriveScramCredential(password, {
    kdf,
    iterations: number("iterations"),
    memory: number("memory"),
  });
  console.log(JSON.stringify(credential, null, 2));
}
