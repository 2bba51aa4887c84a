/**
 * One readonly shape per WAMP message, tagged by `type`. The codec turns wire arrays into
 * these after validating them; the router core only ever sees `Message`.
 *
 * @module
 */

import type { MessageType as T } from "./message_type.ts";

/** A WAMP dictionary (Details / Options). */
export type Dict = Record<string, unknown>;
/** Positional payload. */
export type Args = unknown[];
/** Keyword payload. */
export type Kwargs = Dict;

/** Fields shared by messages that may carry a payload. */
export interface Payload {
  args?: Args;
  kwargs?: Kwargs;
}

export interface Hello {
  type: typeof T.HELLO;
  realm: string;
  details: Dict;
}
export interface Welcome {
  type: typeof T.WELCOME;
  session: number;
  details: Dict;
}
export interface Abort extends Payload {
  type: typeof T.ABORT;
  details: Dict;
  reason: string;
}
export interface Challenge {
  type: typeof T.CHALLENGE;
  authmethod: string;
  extra: Dict;
}
export interface Authenticate {
  type: typeof T.AUTHENTICATE;
  signature: string;
  extra: Dict;
}
export interface Goodbye {
  type: typeof T.GOODBYE;
  details: Dict;
  reason: string;
}
export interface ErrorMessage extends Payload {
  type: typeof T.ERROR;
  requestType: number;
  request: number;
  details: Dict;
  error: string;
}
export interface Publish extends Payload {
  type: typeof T.PUBLISH;
  request: number;
  options: Dict;
  topic: string;
}
export interface Published {
  type: typeof T.PUBLISHED;
  request: number;
  publication: number;
}
export interface Subscribe {
  type: typeof T.SUBSCRIBE;
  request: number;
  options: Dict;
  topic: string;
}
export interface Subscribed {
  type: typeof T.SUBSCRIBED;
  request: number;
  subscription: number;
}
export interface Unsubscribe {
  type: typeof T.UNSUBSCRIBE;
  request: number;
  subscription: number;
}
export interface Unsubscribed {
  type: typeof T.UNSUBSCRIBED;
  request: number;
  /** Only in the router-initiated (revocation) form, where `request` is 0. */
  details?: Dict;
}
export interface Event extends Payload {
  type: typeof T.EVENT;
  subscription: number;
  publication: number;
  details: Dict;
}
export interface Call extends Payload {
  type: typeof T.CALL;
  request: number;
  options: Dict;
  procedure: string;
}
export interface Cancel {
  type: typeof T.CANCEL;
  request: number;
  options: Dict;
}
export interface Result extends Payload {
  type: typeof T.RESULT;
  request: number;
  details: Dict;
}
export interface Register {
  type: typeof T.REGISTER;
  request: number;
  options: Dict;
  procedure: string;
}
export interface Registered {
  type: typeof T.REGISTERED;
  request: number;
  registration: number;
}
export interface Unregister {
  type: typeof T.UNREGISTER;
  request: number;
  registration: number;
}
export interface Unregistered {
  type: typeof T.UNREGISTERED;
  request: number;
  /** Only in the router-initiated (revocation) form, where `request` is 0. */
  details?: Dict;
}
export interface Invocation extends Payload {
  type: typeof T.INVOCATION;
  request: number;
  registration: number;
  details: Dict;
}
export interface Interrupt {
  type: typeof T.INTERRUPT;
  request: number;
  options: Dict;
}
export interface Yield extends Payload {
  type: typeof T.YIELD;
  request: number;
  options: Dict;
}

/** Every WAMP message. */
export type Message =
  | Hello
  | Welcome
  | Abort
  | Challenge
  | Authenticate
  | Goodbye
  | ErrorMessage
  | Publish
  | Published
  | Subscribe
  | Subscribed
  | Unsubscribe
  | Unsubscribed
  | Event
  | Call
  | Cancel
  | Result
  | Register
  | Registered
  | Unregister
  | Unregistered
  | Invocation
  | Interrupt
  | Yield;
