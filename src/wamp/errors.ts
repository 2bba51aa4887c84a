/**
 * Typed errors, each carrying its WAMP URI.
 *
 * @module
 */

import type { Args, Kwargs } from "./messages.ts";

/** A protocol violation: the session is answered with ABORT `wamp.error.protocol_violation` and closed. */
export class ProtocolError extends Error {
  /** Always `ProtocolError`. */
  override name = "ProtocolError";
  /** The ABORT reason the session gets. */
  readonly uri = "wamp.error.protocol_violation";
}

/** An application-level error that becomes a WAMP ERROR message with `uri`. */
export class WampError extends Error {
  /** Always `WampError`. */
  override name = "WampError";
  /**
   * An error with WAMP error URI `uri`; `message` (default: the URI) becomes the single
   * positional argument of the ERROR unless `args` are given.
   */
  constructor(
    readonly uri: string,
    message?: string,
    readonly args?: Args,
    readonly kwargs?: Kwargs,
  ) {
    super(message ?? uri);
  }

  /** The payload to put on the wire: explicit args, else the message text if one was given. */
  payloadArgs(): Args | undefined {
    if (this.args) return this.args;
    return this.message !== this.uri ? [this.message] : undefined;
  }
}
