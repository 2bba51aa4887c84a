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

/**
 * {@linkcode wsLink}'s link: a class, so its methods live on the prototype, not in closures
 * made for every connection (idle memory, issue 14).
 */
class WsLink implements WebSocketLink {
  readonly sendsBytes = true;
  readonly #ws: WsSocket;
  readonly #stream: LinkStream;
  readonly #frame: FrameMaker;
  /** `ws`'s own close(), which the socket's close() now wraps. */
  readonly #close: WsSocket["close"];
  #onClosing: (() => void) | null = null;

  constructor(ws: WsSocket, stream: LinkStream, frame: FrameMaker) {
    this.#ws = ws;
    this.#stream = stream;
    this.#frame = frame;
    // `ws` answers a client's close frame (and fails the connection on a protocol error) by
    // calling the socket's own close(), but tells only once the TCP connection is gone: the
    // wrapper learns at once, so a session ends when its client says so, as with Deno's server.
    const close = ws.close.bind(ws);
    this.#close = close;
    (ws as { close: WsSocket["close"] }).close = (code, reason) => {
      this.#onClosing?.();
      close(code, reason);
    };
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
    this.#close(code, reason);
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
    this.#onClosing = () => events.closing();
    ws.on(
      "message",
      (data, isBinary) =>
        // ws has validated the text's UTF-8 already; Buffer's decoder is the faster one
        events.message(isBinary ? data : data.toString("utf8"), data.byteLength),
    );
    ws.on("pong", () => events.pong());
    ws.on("close", (code, reason) => events.closed(code, utf8Decoder.decode(reason)));
    ws.on("error", (e) => events.failed(e.message));
  }
}
