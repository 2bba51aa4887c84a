/**
 * What bucket `sb_regs` holds (docs/cluster.md, "Calls and registrations"): one key per
 * (realm, match, procedure), whose value is the registration as the cluster agreed on it: its
 * id (derived from the key by hash, so every node names it alike), its invoke policy, when it
 * was created and its callees of every node in the cluster-wide order. Values come from peers:
 * {@link decodeRegistration} checks them.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { InvokePolicy } from "../router/dealer_types.ts";
import { POLICIES } from "../router/dealer_types.ts";
import type { SessionRef } from "../router/session_ref.ts";
import { WampError } from "../wamp/errors.ts";
import { type MatchPolicy, Uri } from "../wamp/uris.ts";
import { decode, encode } from "./codec.ts";

/**
 * The callee features the caller's dealer looks at, stored with each callee as bits (bit i:
 * this list's item i; append only, so nodes of different versions agree).
 */
export const CALLEE_FEATURES = [
  "caller_identification",
  "progressive_call_results",
  "progressive_call_invocations",
  "call_canceling",
  "call_timeout",
  "payload_passthru_mode",
] as const;

/** The bits of the callee features `session` announced. */
export function calleeFeatures(session: SessionRef): number {
  let bits = 0;
  CALLEE_FEATURES.forEach((f, i) => {
    if (session.hasFeature("callee", f)) bits |= 1 << i;
  });
  return bits;
}

/** Whether `bits` (see {@link calleeFeatures}) include `feature`. */
export function hasCalleeFeature(bits: number, feature: string): boolean {
  const i = (CALLEE_FEATURES as readonly string[]).indexOf(feature);
  return i >= 0 && (bits & (1 << i)) !== 0;
}

/**
 * The longest bucket key of a registration (characters). A NATS message names its subject in
 * one protocol line, at most 4096 bytes by default (`max_control_line`; the server drops a
 * connection past it), and a KV subject holds the key plus its bucket prefix and a reply inbox.
 */
export const MAX_KEY_LENGTH = 2048;

/** The registrations bucket. */
export const REGISTRATIONS_BUCKET = "sb_regs";

/** One callee of a registration. */
export interface CalleeWire {
  readonly node: string;
  /** The node's incarnation (a restarted node is a new one: see membership.ts). */
  readonly incarnation: string;
  readonly session: number;
  readonly authid: string;
  readonly authrole: string;
  /** The callee role features its session announced: bit i for `CALLEE_FEATURES[i]`. */
  readonly features: number;
  readonly disclose_caller: boolean;
  readonly forward_timeout: boolean;
}

/** One registration. */
export interface RegistrationWire {
  readonly id: number;
  readonly invoke: InvokePolicy;
  readonly created: string;
  readonly callees: readonly CalleeWire[];
}

/** A value of the bucket that is not a registration. */
export class RegistrationWireError extends Error {
  /** Always `RegistrationWireError`. */
  override name = "RegistrationWireError";
}

/**
 * The id of the registration of (realm, match, uri): the first 53 bits of the SHA-256 of the
 * three, plus one (so within WAMP's id range 1..2^53).
 */
export function registrationId(realm: string, match: MatchPolicy, uri: string): number {
  const digest = createHash("sha256").update(`${realm}\u0000${match}\u0000${uri}`).digest();
  const high = ((digest[0]! << 16) | (digest[1]! << 8) | digest[2]!) & 0x1fffff;
  const low = ((digest[3]! << 24) >>> 0) + ((digest[4]! << 16) | (digest[5]! << 8) | digest[6]!);
  return high * 2 ** 32 + low + 1;
}

/**
 * The bytes of a registration, at most `max` of them (the engine's payload limit).
 * @throws {WampError} `wamp.error.runtime_error` when it is larger: too many callees for one
 *   registration in the cluster (each takes about 170 bytes: some 6,000 within 1 MiB).
 */
export function encodeRegistration(reg: RegistrationWire, max: number = Infinity): Uint8Array {
  const data = encode(reg);
  if (data.byteLength <= max) return data;
  throw new WampError(
    Uri.RUNTIME_ERROR,
    `the registration would have ${reg.callees.length} callees, more than the cluster can ` +
      `store in one entry (${data.byteLength} bytes, at most ${max})`,
  );
}

function callee(v: unknown): CalleeWire {
  const c = v as Record<string, unknown>;
  if (
    typeof c !== "object" || c === null || typeof c.node !== "string" ||
    typeof c.incarnation !== "string" ||
    typeof c.session !== "number" || !Number.isSafeInteger(c.session) ||
    typeof c.authid !== "string" || typeof c.authrole !== "string" ||
    typeof c.features !== "number" || !Number.isSafeInteger(c.features) || c.features < 0 ||
    typeof c.disclose_caller !== "boolean" || typeof c.forward_timeout !== "boolean"
  ) throw new RegistrationWireError("not a callee");
  return c as unknown as CalleeWire;
}

/**
 * The registration in `bytes`.
 * @throws {RegistrationWireError} when they hold something else (or `CodecError` for bytes
 *   that are not a cluster message at all).
 */
export function decodeRegistration(bytes: Uint8Array): RegistrationWire {
  const v = decode(bytes) as Record<string, unknown>;
  if (
    typeof v !== "object" || v === null || typeof v.id !== "number" ||
    !Number.isSafeInteger(v.id) || typeof v.invoke !== "string" || !POLICIES.has(v.invoke) ||
    typeof v.created !== "string" || !Array.isArray(v.callees)
  ) throw new RegistrationWireError("not a registration");
  return { ...v, callees: v.callees.map(callee) } as unknown as RegistrationWire;
}
