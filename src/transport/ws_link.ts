/**
 * The WebSocket link over the `ws` package, on a connection Switchboard accepted itself
 * (`http_server.ts` makes one per upgraded connection; `websocket.ts` defines the
 * {@linkcode WebSocketLink} it implements and the peer on top).
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { type EncodeCache, FRAME_SLOT } from "../serializer/encode_cache.ts";
import { concatInSlab } from "../serializer/slab.ts";
import type { LinkEvents, WebSocketLink } from "./websocket.ts";

const utf8Decoder = new TextDecoder();

/** The subset of a `ws` WebSocket that {@linkcode wsLink} uses. */
export interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array, options: { binary: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: Uint8Array): void;
  on(event: "message", fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "pong", fn: () => void): void;
  on(event: "close", fn: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", fn: (e: Error) => void): void;
}

/** The stream under a `ws` WebSocket: per-turn queued writes, a shutdown after a protocol error. */
export interface LinkStream {
  /** Queues bytes to leave with the rest of this turn's output in one write. */
  queue(bytes: Uint8Array): void;
  /** Bytes queued and not yet written. */
  readonly queued: number;
  end(): void;
  destroy(): void;
  once(event: "finish", fn: () => void): void;
}

/** Frames a server message the way `ws` does (`Sender.frame`, unmasked, one frame). */
export type FrameMaker = (
  data: Uint8Array,
  options: { fin: true; opcode: number; mask: false; readOnly: true; rsv1: false },
) => Uint8Array[];

const encoder = new TextEncoder();

/**
 * A `ws` WebSocket on a connection whose writes are batched per turn. Messages are framed with
 * `ws`'s own `Sender.frame` and queued on the connection, so a turn's messages leave in one
 * write without going through `ws`'s and Node's per-write bookkeeping; `ws` itself still reads
 * and answers control frames, through the same ordered writes.
 */
export function wsLink(ws: WsSocket, stream: LinkStream, frame: FrameMaker): WebSocketLink {
  return new WsLink(ws, stream, frame);
}

/** Where a `ws` socket keeps its link's events and its own close(), for the shared listeners. */
const EVENTS = Symbol("link events");
const WS_CLOSE = Symbol("ws close");

/** A `ws` socket as {@linkcode WsLink} tags it. */
type Tagged = WsSocket & {
  [EVENTS]?: LinkEvents;
  [WS_CLOSE]: WsSocket["close"];
};

// The socket's listeners and close wrapper: one function each for every connection (`ws` calls
// them with the socket as `this`), not closures made per connection (idle memory, issue 14).

function onMessage(this: Tagged, data: Buffer, isBinary: boolean): void {
  // ws has validated the text's UTF-8 already; Buffer's decoder is the faster one
  this[EVENTS]?.message(isBinary ? data : data.toString("utf8"), data.byteLength);
}

function onPong(this: Tagged): void {
  this[EVENTS]?.pong();
}

function onClose(this: Tagged, code: number, reason: Uint8Array): void {
  this[EVENTS]?.closed(code, utf8Decoder.decode(reason));
}

function onError(this: Tagged, e: Error): void {
  this[EVENTS]?.failed(e.message);
}

/**
 * `ws` answers a client's close frame (and fails the connection on a protocol error) by calling
 * the socket's own close(), but tells only once the TCP connection is gone: this wrapper tells
 * the link at once, so a session ends when its client says so, as with Deno's server.
 */
function closeAndTell(this: Tagged, code?: number, reason?: string): void {
  this[EVENTS]?.closing();
  this[WS_CLOSE](code, reason);
}

/**
 * {@linkcode wsLink}'s link: a class, so its methods live on the prototype, not in closures
 * made for every connection (idle memory, issue 14).
 */
class WsLink implements WebSocketLink {
  readonly sendsBytes = true;
  readonly #ws: Tagged;
  readonly #stream: LinkStream;
  readonly #frame: FrameMaker;

  constructor(ws: WsSocket, stream: LinkStream, frame: FrameMaker) {
    const tagged = ws as Tagged;
    tagged[WS_CLOSE] = ws.close;
    (tagged as { close: WsSocket["close"] }).close = closeAndTell;
    this.#ws = tagged;
    this.#stream = stream;
    this.#frame = frame;
  }

  get open(): boolean {
    return this.#ws.readyState === 1;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount + this.#stream.queued;
  }

  /** The whole frame of `data` in one array (header and payload, built with ws's framing). */
  #framed(opcode: number, data: Uint8Array): Uint8Array {
    return concatInSlab(
      this.#frame(data, { fin: true, opcode, mask: false, readOnly: true, rsv1: false }),
    );
  }

  send(
    text: string | null,
    bytes: Uint8Array | null,
    cache: EncodeCache | undefined,
    slot: number,
  ): void {
    let out = cache?.[FRAME_SLOT + slot] as Uint8Array | undefined;
    if (out === undefined) {
      out = text === null
        ? this.#framed(2, bytes!)
        : this.#framed(1, bytes ?? encoder.encode(text));
      if (cache) cache[FRAME_SLOT + slot] = out;
    }
    this.#stream.queue(out);
  }

  close(code: number, reason: string): void {
    this.#ws[WS_CLOSE](code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  ping(payload?: Uint8Array): boolean {
    this.#ws.ping(payload);
    return true;
  }

  shutAfterFlush(): void {
    const stream = this.#stream;
    stream.once("finish", () => stream.destroy());
    stream.end();
  }

  listen(events: LinkEvents): void {
    const ws = this.#ws;
    ws[EVENTS] = events;
    ws.on("message", onMessage);
    ws.on("pong", onPong);
    ws.on("close", onClose);
    ws.on("error", onError);
  }
}
