/**
 * What the broker and the dealer know of a session: who it is, what it announced, and how to
 * send it a message. A session on this router implements it; a session on another node of a
 * cluster can implement the same interface, so routing code does not change with the cluster.
 *
 * @module
 */

import type { EncodeCache } from "../serializer/encode_cache.ts";
import type { Message } from "../wamp/messages.ts";

/** What became of one message handed to {@linkcode SessionRef.send}. */
export type SendOutcome =
  /** On its way to the client. */
  | "sent"
  /** Not sent: the session has ended, or an EVENT was dropped for a slow consumer. */
  | "dropped"
  /** Not sent: larger than the client's transport accepts (RawSocket's negotiated maximum). */
  | "too_large"
  /** Not sent: the client's serializer cannot write it (an integer beyond 64 bits, say). */
  | "unencodable";

/** How a message is delivered. */
export interface Delivery {
  /**
   * False for messages that must never trigger a statistics publication by themselves (the
   * `wamp.session.on_stats` events: monitors watching each other cannot feed back into an
   * endless chain). They are still counted. Default true.
   */
  readonly triggersStats?: boolean;
}

/** A session as routing sees it. */
export interface SessionRef {
  /** The WAMP session id. */
  readonly id: number;
  readonly authid: string;
  readonly authrole: string;
  /** True when the client announced `feature` for `role` in HELLO. */
  hasFeature(role: string, feature: string): boolean;
  /**
   * Sends one message; `cache` carries its encodings from receiver to receiver of one fan-out.
   * The outcome says whether it went out; INVOCATION and RESULT outcomes are the dealer's to
   * handle (the session handles its other undeliverable messages itself).
   */
  send(message: Message, cache?: EncodeCache, delivery?: Delivery): SendOutcome;
}
