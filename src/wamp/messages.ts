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
  /** Positional payload. */
  args?: Args;
  /** Keyword payload. */
  kwargs?: Kwargs;
}

/** HELLO `[1, Realm, Details]`: a client asks to join a realm. */
export interface Hello {
  /** The message type code. */
  type: typeof T.HELLO;
  /**
   * The realm's URI, or null when HELLO leaves it to authentication (Crossbar's clients send
   * null when the principal's realm decides).
   */
  realm: string | null;
  /** The message's Details dictionary. */
  details: Dict;
}
/** WELCOME `[2, Session, Details]`: the router accepts the session. */
export interface Welcome {
  /** The message type code. */
  type: typeof T.WELCOME;
  /** The session id. */
  session: number;
  /** The message's Details dictionary. */
  details: Dict;
}
/** ABORT `[3, Details, Reason]`: a session ends before or instead of its start. */
export interface Abort extends Payload {
  /** The message type code. */
  type: typeof T.ABORT;
  /** The message's Details dictionary. */
  details: Dict;
  /** The reason URI. */
  reason: string;
}
/** CHALLENGE `[4, AuthMethod, Extra]`: the router asks the client to authenticate. */
export interface Challenge {
  /** The message type code. */
  type: typeof T.CHALLENGE;
  /** The authentication method. */
  authmethod: string;
  /** Method-specific data. */
  extra: Dict;
}
/** AUTHENTICATE `[5, Signature, Extra]`: the client's answer to a CHALLENGE. */
export interface Authenticate {
  /** The message type code. */
  type: typeof T.AUTHENTICATE;
  /** The client's answer (a ticket, an HMAC, a signature). */
  signature: string;
  /** Method-specific data. */
  extra: Dict;
}
/** GOODBYE `[6, Details, Reason]`: either side ends an established session. */
export interface Goodbye {
  /** The message type code. */
  type: typeof T.GOODBYE;
  /** The message's Details dictionary. */
  details: Dict;
  /** The reason URI. */
  reason: string;
}
/** ERROR `[8, Request.Type, Request, Details, Error, ...]`: a request failed. */
export interface ErrorMessage extends Payload {
  /** The message type code. */
  type: typeof T.ERROR;
  /** The type code of the failed request. */
  requestType: number;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Details dictionary. */
  details: Dict;
  /** The error URI. */
  error: string;
}
/** PUBLISH `[16, Request, Options, Topic, ...]`. */
export interface Publish extends Payload {
  /** The message type code. */
  type: typeof T.PUBLISH;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
  /** The topic URI. */
  topic: string;
}
/** PUBLISHED `[17, PUBLISH.Request, Publication]`: an acknowledged publication. */
export interface Published {
  /** The message type code. */
  type: typeof T.PUBLISHED;
  /** The request id this message belongs to. */
  request: number;
  /** The publication id. */
  publication: number;
}
/** SUBSCRIBE `[32, Request, Options, Topic]`. */
export interface Subscribe {
  /** The message type code. */
  type: typeof T.SUBSCRIBE;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
  /** The topic URI. */
  topic: string;
}
/** SUBSCRIBED `[33, SUBSCRIBE.Request, Subscription]`. */
export interface Subscribed {
  /** The message type code. */
  type: typeof T.SUBSCRIBED;
  /** The request id this message belongs to. */
  request: number;
  /** The subscription id. */
  subscription: number;
}
/** UNSUBSCRIBE `[34, Request, SUBSCRIBED.Subscription]`. */
export interface Unsubscribe {
  /** The message type code. */
  type: typeof T.UNSUBSCRIBE;
  /** The request id this message belongs to. */
  request: number;
  /** The subscription id. */
  subscription: number;
}
/** UNSUBSCRIBED `[35, UNSUBSCRIBE.Request, Details?]`. */
export interface Unsubscribed {
  /** The message type code. */
  type: typeof T.UNSUBSCRIBED;
  /** The request id this message belongs to. */
  request: number;
  /** Only in the router-initiated (revocation) form, where `request` is 0. */
  details?: Dict;
}
/** EVENT `[36, Subscription, Publication, Details, ...]`. */
export interface Event extends Payload {
  /** The message type code. */
  type: typeof T.EVENT;
  /** The subscription id. */
  subscription: number;
  /** The publication id. */
  publication: number;
  /** The message's Details dictionary. */
  details: Dict;
}
/** CALL `[48, Request, Options, Procedure, ...]`. */
export interface Call extends Payload {
  /** The message type code. */
  type: typeof T.CALL;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
  /** The procedure URI. */
  procedure: string;
}
/** CANCEL `[49, CALL.Request, Options]`. */
export interface Cancel {
  /** The message type code. */
  type: typeof T.CANCEL;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
}
/** RESULT `[50, CALL.Request, Details, ...]`. */
export interface Result extends Payload {
  /** The message type code. */
  type: typeof T.RESULT;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Details dictionary. */
  details: Dict;
}
/** REGISTER `[64, Request, Options, Procedure]`. */
export interface Register {
  /** The message type code. */
  type: typeof T.REGISTER;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
  /** The procedure URI. */
  procedure: string;
}
/** REGISTERED `[65, REGISTER.Request, Registration]`. */
export interface Registered {
  /** The message type code. */
  type: typeof T.REGISTERED;
  /** The request id this message belongs to. */
  request: number;
  /** The registration id. */
  registration: number;
}
/** UNREGISTER `[66, Request, REGISTERED.Registration]`. */
export interface Unregister {
  /** The message type code. */
  type: typeof T.UNREGISTER;
  /** The request id this message belongs to. */
  request: number;
  /** The registration id. */
  registration: number;
}
/** UNREGISTERED `[67, UNREGISTER.Request, Details?]`. */
export interface Unregistered {
  /** The message type code. */
  type: typeof T.UNREGISTERED;
  /** The request id this message belongs to. */
  request: number;
  /** Only in the router-initiated (revocation) form, where `request` is 0. */
  details?: Dict;
}
/** INVOCATION `[68, Request, REGISTERED.Registration, Details, ...]`. */
export interface Invocation extends Payload {
  /** The message type code. */
  type: typeof T.INVOCATION;
  /** The request id this message belongs to. */
  request: number;
  /** The registration id. */
  registration: number;
  /** The message's Details dictionary. */
  details: Dict;
}
/** INTERRUPT `[69, INVOCATION.Request, Options]`. */
export interface Interrupt {
  /** The message type code. */
  type: typeof T.INTERRUPT;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
  options: Dict;
}
/** YIELD `[70, INVOCATION.Request, Options, ...]`. */
export interface Yield extends Payload {
  /** The message type code. */
  type: typeof T.YIELD;
  /** The request id this message belongs to. */
  request: number;
  /** The message's Options dictionary. */
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
