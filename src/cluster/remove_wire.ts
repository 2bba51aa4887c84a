/**
 * The removal request between nodes (docs/cluster.md, "Sessions and the meta API"):
 * `wamp.subscription.remove_subscriber` and `wamp.registration.remove_callee` of a session of
 * another node are sent to that node on its meta subject (`sb.node.<node>.meta`, beside the
 * kill request), and the node removes its own session as it does for a local call. Values come
 * from peers: the `as…` functions check them and return null for anything else.
 *
 * @module
 */

import type { Dict } from "../wamp/messages.ts";

/** What is removed: a subscriber of a subscription, or a callee of a registration. */
export type RemoveKind = "remove_subscriber" | "remove_callee";

/** A removal request to a session's node. */
export interface RemoveRequest {
  readonly op: RemoveKind;
  readonly realm: string;
  /** The subscription or registration id (the same on every node). */
  readonly id: number;
  /** The session to remove. */
  readonly session: number;
  /** The reason sent with UNSUBSCRIBED/UNREGISTERED, if any. */
  readonly reason?: string;
}

/** The answer to a {@link RemoveRequest}: whether the session was removed. */
export interface RemoveReply {
  readonly removed: boolean;
}

function isDict(x: unknown): x is Dict {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isId(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x > 0;
}

/** True when `v` claims to be a removal request (it names an `op`), well-formed or not. */
export function isRemoveOp(v: unknown): boolean {
  return isDict(v) && v.op !== undefined;
}

/** `v` as a removal request, or null. */
export function asRemoveRequest(v: unknown): RemoveRequest | null {
  if (!isDict(v) || (v.op !== "remove_subscriber" && v.op !== "remove_callee")) return null;
  if (typeof v.realm !== "string" || !isId(v.id) || !isId(v.session)) return null;
  if (v.reason !== undefined && typeof v.reason !== "string") return null;
  return v as unknown as RemoveRequest;
}

/** `v` as a removal reply, or null. */
export function asRemoveReply(v: unknown): RemoveReply | null {
  return isDict(v) && typeof v.removed === "boolean" ? v as unknown as RemoveReply : null;
}

/** The request for removing `session` from subscription/registration `id` of `realm`. */
export function removeRequest(
  op: RemoveKind,
  realm: string,
  id: number,
  session: number,
  reason: string | undefined,
): RemoveRequest {
  return reason === undefined ? { op, realm, id, session } : { op, realm, id, session, reason };
}
