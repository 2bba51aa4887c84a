/**
 * The WAMP messages the status page sends and handles, typed, with the router's own
 * message-type table. Outgoing messages are their wire arrays; incoming ones are decoded
 * from JSON as leniently as the page always read them: missing or malformed details and
 * payloads become `{}` / `[]`, reasons and error URIs are turned into strings, and a message
 * whose ids are not numbers is ignored (it cannot belong to anything the page asked for).
 *
 * @module
 */

import { MessageType } from "../../wamp/message_type.ts";

/** A WAMP dictionary (Details / Options). */
export type Dict = Record<string, unknown>;

// ---- sent ------------------------------------------------------------------------------

/** `[HELLO, Realm, Details]` */
export type Hello = [type: typeof MessageType.HELLO, realm: string, details: Dict];
/** `[GOODBYE, Details, Reason]` */
export type Goodbye = [type: typeof MessageType.GOODBYE, details: Dict, reason: string];
/** `[SUBSCRIBE, Request, Options, Topic]` */
export type Subscribe = [
  type: typeof MessageType.SUBSCRIBE,
  request: number,
  options: Dict,
  topic: string,
];
/** `[CALL, Request, Options, Procedure, Arguments]` */
export type Call = [
  type: typeof MessageType.CALL,
  request: number,
  options: Dict,
  procedure: string,
  args: unknown[],
];
/** Everything the page sends. */
export type Outgoing = Hello | Goodbye | Subscribe | Call;

// ---- received --------------------------------------------------------------------------

export interface Welcome {
  type: typeof MessageType.WELCOME;
  session: number;
  details: Dict;
}
export interface Abort {
  type: typeof MessageType.ABORT;
  details: Dict;
  reason: string;
}
export interface GoodbyeReceived {
  type: typeof MessageType.GOODBYE;
  details: Dict;
  reason: string;
}
/** ERROR for one of the page's requests (SUBSCRIBE or CALL). */
export interface ErrorReply {
  type: typeof MessageType.ERROR;
  request: number;
  error: string;
  args: unknown[];
  kwargs: Dict;
}
export interface Subscribed {
  type: typeof MessageType.SUBSCRIBED;
  request: number;
  subscription: number;
}
export interface Result {
  type: typeof MessageType.RESULT;
  request: number;
  args: unknown[];
  kwargs: Dict;
}
export interface EventMessage {
  type: typeof MessageType.EVENT;
  subscription: number;
  args: unknown[];
  kwargs: Dict;
}
/** Every message the page acts on. */
export type Incoming =
  | Welcome
  | Abort
  | GoodbyeReceived
  | ErrorReply
  | Subscribed
  | Result
  | EventMessage;

/** `v` if it is a dictionary, else `{}`. */
export function dict(v: unknown): Dict {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Dict : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * Decodes one text frame: the message if the page acts on it, `"ignored"` for a WAMP message
 * it does not act on, `null` for something that is not a WAMP message at all.
 */
export function decode(data: string): Incoming | "ignored" | null {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    msg = null;
  }
  if (!Array.isArray(msg) || typeof msg[0] !== "number") return null;
  const number = (i: number) => typeof msg[i] === "number";
  switch (msg[0]) {
    case MessageType.WELCOME:
      if (!number(1)) return "ignored";
      return { type: MessageType.WELCOME, session: msg[1], details: dict(msg[2]) };
    case MessageType.ABORT:
      return { type: MessageType.ABORT, details: dict(msg[1]), reason: String(msg[2]) };
    case MessageType.GOODBYE:
      return { type: MessageType.GOODBYE, details: dict(msg[1]), reason: String(msg[2]) };
    case MessageType.ERROR:
      if (!number(2)) return "ignored";
      return {
        type: MessageType.ERROR,
        request: msg[2],
        error: String(msg[4]),
        args: list(msg[5]),
        kwargs: dict(msg[6]),
      };
    case MessageType.SUBSCRIBED:
      if (!number(1) || !number(2)) return "ignored";
      return { type: MessageType.SUBSCRIBED, request: msg[1], subscription: msg[2] };
    case MessageType.RESULT:
      if (!number(1)) return "ignored";
      return {
        type: MessageType.RESULT,
        request: msg[1],
        args: list(msg[3]),
        kwargs: dict(msg[4]),
      };
    case MessageType.EVENT:
      if (!number(1)) return "ignored";
      return {
        type: MessageType.EVENT,
        subscription: msg[1],
        args: list(msg[4]),
        kwargs: dict(msg[5]),
      };
    default:
      return "ignored";
  }
}
