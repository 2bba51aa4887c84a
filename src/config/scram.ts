/**
 * WAMP-SCRAM credentials as Crossbar writes them (`kdf`, `iterations`, `memory`, `salt`,
 * `stored-key`, `server-key`, hex for the binary values): the check shared by static principals
 * in the config (`auth.scram.principals[authid]`) and the answers of dynamic authenticators.
 * Pure functions, no I/O.
 *
 * @module
 */

import {
  MAX_SCRAM_ITERATIONS,
  MAX_SCRAM_MEMORY,
  MAX_SCRAM_SALT,
  MIN_SCRAM_MEMORY,
  MIN_SCRAM_SALT,
} from "./defaults.ts";
import type { ScramCredential, ScramKdf } from "./types.ts";

/** The KDF names accepted: Crossbar's `argon2id-13`, the spec's `argon2id13`, and `pbkdf2`. */
export const SCRAM_KDFS: readonly ScramKdf[] = ["argon2id-13", "argon2id13", "pbkdf2"];

/** The credential keys of a principal or an authenticator's answer. */
export const SCRAM_CREDENTIAL_KEYS = [
  "kdf",
  "iterations",
  "memory",
  "salt",
  "stored-key",
  "server-key",
] as const;

/** A problem with one key of a credential: the key and the reason (never its value). */
export interface CredentialProblem {
  readonly key: (typeof SCRAM_CREDENTIAL_KEYS)[number];
  readonly reason: string;
}

/** True for Argon2id (either name). */
export function isArgon2(kdf: ScramKdf): boolean {
  return kdf !== "pbkdf2";
}

function hexBytes(value: unknown, min: number, max: number): Uint8Array | null {
  if (typeof value !== "string" || !/^(?:[0-9a-fA-F]{2})+$/.test(value)) return null;
  const n = value.length / 2;
  return n < min || n > max ? null : Uint8Array.fromHex(value);
}

/**
 * The credential of `obj`, or the first problem with it. `stored-key` and `server-key` are
 * given already resolved (a config's `$ENV` secrets); their problems never quote them.
 */
export function scramCredential(
  obj: Readonly<Record<string, unknown>>,
): ScramCredential | CredentialProblem {
  const kdf = obj.kdf;
  if (typeof kdf !== "string" || !(SCRAM_KDFS as readonly string[]).includes(kdf)) {
    return { key: "kdf", reason: `must be "argon2id-13", "argon2id13" or "pbkdf2"` };
  }
  const iterations = obj.iterations;
  if (
    typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1 ||
    iterations > MAX_SCRAM_ITERATIONS
  ) {
    return {
      key: "iterations",
      reason: `must be an integer between 1 and ${MAX_SCRAM_ITERATIONS}`,
    };
  }
  let memory: number | null = null;
  if (isArgon2(kdf as ScramKdf)) {
    const m = obj.memory;
    if (
      typeof m !== "number" || !Number.isInteger(m) || m < MIN_SCRAM_MEMORY || m > MAX_SCRAM_MEMORY
    ) {
      return {
        key: "memory",
        reason:
          `must be Argon2's memory cost in KiB, an integer between ${MIN_SCRAM_MEMORY} and ${MAX_SCRAM_MEMORY}`,
      };
    }
    memory = m;
  } else if (obj.memory !== undefined && obj.memory !== null && typeof obj.memory !== "number") {
    return { key: "memory", reason: "must be a number or null (PBKDF2 does not use it)" };
  }
  const salt = hexBytes(obj.salt, MIN_SCRAM_SALT, MAX_SCRAM_SALT);
  if (!salt) {
    return {
      key: "salt",
      reason: `must be hex, ${MIN_SCRAM_SALT} to ${MAX_SCRAM_SALT} bytes (a random salt per user)`,
    };
  }
  const storedKey = hexBytes(obj["stored-key"], 32, 32);
  if (!storedKey) return { key: "stored-key", reason: "must be 64 hex characters (32 bytes)" };
  const serverKey = hexBytes(obj["server-key"], 32, 32);
  if (!serverKey) return { key: "server-key", reason: "must be 64 hex characters (32 bytes)" };
  return { kdf: kdf as ScramKdf, iterations, memory, salt, storedKey, serverKey };
}
