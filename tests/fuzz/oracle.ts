/**
 * The oracle: what the router may send a fuzz session. Every message must be of a router-to-client
 * type, decode as well formed with valid error and close URIs, and answer a request the session
 * really sent; an ABORT needs a `wamp.error.*` reason (never `runtime_error`) and a
 * `details.message`; some CALLs must be answered before the session ends.
 *
 * @module
 */

import type { Serializer } from "../../src/serializer/serializer.ts";
import { decodeMessage } from "../../src/wamp/codec.ts";
import { isValidUri } from "../../src/wamp/uris.ts";
import { errText, lit } from "./describe.ts";
import { BYSTANDER_PROC } from "./scenario.ts";
import { META_PROCEDURES } from "./values.ts";
import type { Payload, Wire } from "./wire.ts";

const ROUTER_TO_CLIENT = new Set([2, 3, 4, 6, 8, 17, 33, 35, 36, 50, 65, 67, 68, 69]);

/** Problems with a message the router sent, or null when it is well formed. */
export function malformed(m: unknown[]): string | null {
  if (!ROUTER_TO_CLIENT.has(m[0] as number)) return `the router sent message type ${lit(m[0])}`;
  try {
    decodeMessage(m);
  } catch (e) {
    return `the router sent a malformed message (${errText(e)})`;
  }
  if (m[0] === 3 || m[0] === 8) {
    const reason = m[0] === 3 ? m[2] : m[4];
    if (typeof reason !== "string" || !isValidUri(reason, "exact", false)) {
      return `the router sent an error/close URI that is not a valid URI: ${lit(reason)}`;
    }
  }
  return null;
}

/** What is wrong with an ABORT from the router, as [kind, detail] failures. */
export function abortProblems(m: unknown[]): [string, string][] {
  const out: [string, string][] = [];
  const details = m[1] as Record<string, unknown>;
  const reason = m[2];
  if (typeof reason !== "string" || !reason.startsWith("wamp.error.")) {
    out.push(["abort reason", `ABORT reason is not a wamp.error.* URI: ${lit(m)}`]);
  } else if (typeof details.message !== "string") {
    out.push(["abort message", `ABORT without a details.message string: ${lit(m)}`]);
  }
  if (reason === "wamp.error.runtime_error") {
    out.push(["runtime_error", `internal router error: ${lit(m)}`]);
  }
  return out;
}

/**
 * Whether a CALL of `procedure` from a session joined to `realm` must be answered: one to the
 * bystander's exact registration in realm1 or to the router's own procedures (nobody can take
 * those over; any other procedure may belong to a fuzz callee that never answers).
 */
export function mustBeAnswered(procedure: string, realm: unknown): boolean {
  return (procedure === BYSTANDER_PROC && realm === "realm1") ||
    META_PROCEDURES.includes(procedure);
}

/** Whether an ERROR answering a CALL of `procedure` is an internal error of a router procedure. */
export function routerProcedureFailed(m: unknown[], procedure: string | null | undefined): boolean {
  return m[1] === 48 && m[4] === "wamp.error.runtime_error" && typeof procedure === "string" &&
    (procedure.startsWith("wamp.") || procedure.startsWith("switchboard."));
}

/** The requests a session sent, decoded from the wire as the router will decode them, so that
 * each reply can be checked to answer one of them. */
export class RequestLedger {
  /** CALL request id → procedure, or null once the id was used by more than one CALL. */
  readonly callProcedures = new Map<number, string | null>();
  /** Request ids this session sent, by message type. */
  readonly requests = new Map<number, Set<number>>();

  /** Notes a wire unit the session sent; returns its message type when it decodes as a
   * message (corrupted or foreign bytes may still make a valid ABORT or GOODBYE). */
  note(wire: Wire, ser: Serializer): unknown {
    let payload: Payload | null = null;
    if (wire.frame === "rawsocket") {
      const b = wire.data as Uint8Array;
      const length = (b[1]! << 16) | (b[2]! << 8) | b[3]!;
      if (b[0] === 0 && b.length === 4 + length) {
        payload = ser.binary ? b.subarray(4) : new TextDecoder().decode(b.subarray(4));
      }
    } else if ((wire.frame === "text") === !ser.binary) {
      payload = wire.data;
    }
    if (payload === null) return undefined;
    let m: unknown;
    try {
      m = ser.decode(payload);
    } catch {
      return undefined;
    }
    if (!Array.isArray(m)) return undefined;
    if (typeof m[0] !== "number" || typeof m[1] !== "number") return m[0];
    if (![16, 32, 34, 48, 64, 66].includes(m[0])) return m[0];
    if (m[0] === 48) {
      const unique = !this.callProcedures.has(m[1]) && typeof m[3] === "string";
      this.callProcedures.set(m[1], unique ? m[3] as string : null);
    }
    let ids = this.requests.get(m[0]);
    if (!ids) this.requests.set(m[0], ids = new Set());
    ids.add(m[1]);
    return m[0];
  }

  /** A reply must answer a request of this session of the matching type. */
  stray(m: unknown[]): string | null {
    const replyTo: Record<number, number> = { 17: 16, 33: 32, 35: 34, 50: 48, 65: 64, 67: 66 };
    let type: number;
    let request: unknown;
    if (m[0] === 8) {
      type = m[1] as number;
      request = m[2];
    } else if ((m[0] as number) in replyTo) {
      type = replyTo[m[0] as number]!;
      request = m[1];
      if ((m[0] === 35 || m[0] === 67) && request === 0) return null; // revocation
    } else {
      return null;
    }
    if (this.requests.get(type)?.has(request as number)) return null;
    return `the router answered request ${lit(request)} of type ${type}, which this session ` +
      `never sent: ${lit(m)}`;
  }
}

/** Request ids of probe PUBLISHes start here (far above the ids the generators count up). */
export const PROBE_BASE = 2 ** 52;

/**
 * The probe sent after each message of a joined session: an acknowledged PUBLISH whose
 * PUBLISHED (or ERROR) shows the router has handled everything before it, so each reply is
 * attributed to the message that caused it.
 */
export function probe(request: number): unknown[] {
  return [16, request, { acknowledge: true }, "com.fuzz.probe"];
}
