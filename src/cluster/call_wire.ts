/**
 * The node-to-node messages of forwarded calls (docs/cluster.md, "Calls and registrations")
 * and their checks. A peer on the bus is not trusted to be well-formed: every decoded message
 * is checked here, and one that is not of this shape is rejected as a whole.
 *
 * - To the callee's node, subject `sb.node.<callee node>.call`, in the caller node's order:
 *   `start` (a request: the reply says whether the callee's dealer took the call), then
 *   `chunk` (a later chunk of a progressive call invocation), `cancel`, `gone` (the caller
 *   left) as plain publications.
 * - Back to the caller's node, subject `sb.node.<caller node>.res`: `reply`, the RESULT or
 *   ERROR its dealer sent the caller's stand-in.
 *
 * @module
 */

import { MessageType as T } from "../wamp/message_type.ts";
import type { Call, Cancel, Dict, ErrorMessage, Result } from "../wamp/messages.ts";
import { encodeToken } from "./subjects.ts";

/** The subject prefix of node-to-node messages. */
export const NODE_PREFIX = "sb.node";

/** The subject `kind` messages for node `node` go to. */
export function nodeSubject(node: string, kind: "call" | "res"): string {
  return `${NODE_PREFIX}.${encodeToken(node)}.${kind}`;
}

/** The caller of a forwarded call, as the callee's node sees it. */
export interface CallerWire {
  readonly id: number;
  readonly authid: string;
  readonly authrole: string;
  /** The caller role features it announced, by name. */
  readonly features: readonly string[];
}

/** A message to the callee's node. */
export type ToCallee =
  | {
    readonly k: "start";
    readonly realm: string;
    readonly from: string;
    readonly caller: CallerWire;
    readonly call: Call;
    readonly disclose: boolean;
    readonly registration: number;
    readonly callee: number;
  }
  | {
    readonly k: "chunk";
    readonly realm: string;
    readonly from: string;
    readonly caller: number;
    readonly call: Call;
  }
  | {
    readonly k: "cancel";
    readonly realm: string;
    readonly from: string;
    readonly caller: number;
    readonly cancel: Cancel;
  }
  | { readonly k: "gone"; readonly realm: string; readonly from: string; readonly caller: number };

/** A RESULT or ERROR back to the caller's node. */
export interface ToCaller {
  readonly k: "reply";
  readonly realm: string;
  readonly caller: number;
  readonly msg: Result | ErrorMessage;
}

/** The reply to a `start`: taken, or refused with an error (no callee there any more...). */
export type StartReply =
  | { readonly ok: true }
  | {
    readonly ok: false;
    readonly error: string;
    readonly args?: unknown[];
    readonly kwargs?: Dict;
  };

/** A message that is not of this module's shapes. */
export class WireError extends Error {
  /** Always `WireError`. */
  override name = "WireError";
}

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function payloadOk(m: Rec): boolean {
  return (m.args === undefined || m.args === null || Array.isArray(m.args)) &&
    (m.kwargs === undefined || m.kwargs === null || isRec(m.kwargs));
}

/** Drops nil args/kwargs (msgpack writes `undefined` as nil). */
function clean<M extends Rec>(m: M): M {
  if (m.args === null || m.args === undefined) delete m.args;
  if (m.kwargs === null || m.kwargs === undefined) delete m.kwargs;
  return m;
}

function call(v: unknown): Call {
  if (
    !isRec(v) || v.type !== T.CALL || !isId(v.request) || !isRec(v.options) ||
    typeof v.procedure !== "string" || !payloadOk(v)
  ) throw new WireError("not a CALL");
  return clean(v) as unknown as Call;
}

function caller(v: unknown): CallerWire {
  if (
    !isRec(v) || !isId(v.id) || typeof v.authid !== "string" || typeof v.authrole !== "string" ||
    !Array.isArray(v.features) || !v.features.every((f) => typeof f === "string")
  ) throw new WireError("not a caller");
  return v as unknown as CallerWire;
}

/**
 * Checks a decoded message to the callee's node.
 * @throws {WireError} when it is not one.
 */
export function toCallee(v: unknown): ToCallee {
  if (!isRec(v) || typeof v.realm !== "string" || typeof v.from !== "string") {
    throw new WireError("not a call message");
  }
  switch (v.k) {
    case "start":
      if (
        typeof v.disclose !== "boolean" || !isId(v.registration) || !isId(v.callee)
      ) throw new WireError("not a call start");
      return { ...v, caller: caller(v.caller), call: call(v.call) } as ToCallee;
    case "chunk":
      if (!isId(v.caller)) throw new WireError("not a call chunk");
      return { ...v, call: call(v.call) } as ToCallee;
    case "cancel": {
      const c = v.cancel;
      if (
        !isId(v.caller) || !isRec(c) || c.type !== T.CANCEL || !isId(c.request) || !isRec(c.options)
      ) {
        throw new WireError("not a cancel");
      }
      return v as unknown as ToCallee;
    }
    case "gone":
      if (!isId(v.caller)) throw new WireError("not a gone");
      return v as unknown as ToCallee;
    default:
      throw new WireError("unknown call message");
  }
}

/**
 * Checks a decoded message to the caller's node.
 * @throws {WireError} when it is not one.
 */
export function toCaller(v: unknown): ToCaller {
  if (!isRec(v) || v.k !== "reply" || typeof v.realm !== "string" || !isId(v.caller)) {
    throw new WireError("not a call reply");
  }
  const m = v.msg;
  if (!isRec(m) || !isId(m.request) || !isRec(m.details) || !payloadOk(m)) {
    throw new WireError("not a RESULT or ERROR");
  }
  const ok = m.type === T.RESULT ||
    (m.type === T.ERROR && m.requestType === T.CALL && typeof m.error === "string");
  if (!ok) throw new WireError("not a RESULT or ERROR");
  clean(m);
  return v as unknown as ToCaller;
}

/**
 * Checks a decoded reply to a `start`.
 * @throws {WireError} when it is not one.
 */
export function startReply(v: unknown): StartReply {
  if (!isRec(v) || typeof v.ok !== "boolean") throw new WireError("not a start reply");
  if (v.ok) return { ok: true };
  if (typeof v.error !== "string" || !payloadOk(v)) throw new WireError("not a start reply");
  return clean(v) as unknown as StartReply;
}
