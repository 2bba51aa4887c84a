/**
 * WAMP over RawSocket (TCP or Unix sockets): the 4-octet handshake with its error replies, the
 * negotiated maximum message lengths, 4-octet frame headers, and PING/PONG.
 *
 * @module
 */

import type { WebSocketEndpointConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { serializerByRawSocketId } from "../serializer/registry.ts";
import type { Payload, Serializer } from "../serializer/serializer.ts";
import { decodeMessage } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { messageName, MessageType } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import {
  type EncodeCache,
  encodeFor,
  type Peer,
  type PeerHandler,
  TOO_LARGE,
  type TransportDetails,
  UNENCODABLE,
} from "./peer.ts";

/** Handshake error codes (the high nibble of the error reply's second octet). */
export const RawSocketError = {
  SERIALIZER_UNSUPPORTED: 1,
  MAX_LENGTH_UNACCEPTABLE: 2,
  RESERVED_BITS_USED: 3,
  MAX_CONNECTIONS: 4,
} as const;

const MAGIC = 0x7f;
const FRAME_WAMP = 0;
const FRAME_PING = 1;
const FRAME_PONG = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
/** EncodeCache slot for the UTF-8 bytes of the JSON text (only JSON encodes to text). */
const UTF8_SLOT = 6;

/** The UTF-8 bytes of a JSON payload, encoded once per fan-out through the cache. */
function utf8(text: string, cache: EncodeCache | undefined): Uint8Array {
  const cached = cache?.[UTF8_SLOT] as Uint8Array | undefined;
  if (cached) return cached;
  const bytes = encoder.encode(text);
  if (cache) cache[UTF8_SLOT] = bytes;
  return bytes;
}

/** The length exponent (2^(9+L)) that covers `bytes`, clamped to 0..15. */
export function lengthExponent(bytes: number): number {
  const l = Math.ceil(Math.log2(Math.max(bytes, 512))) - 9;
  return Math.min(15, Math.max(0, l));
}

/** How long a closing RawSocket connection waits for its queued frames and the client's close. */
const CLOSE_LINGER_MS = 2000;

/** A RawSocket connection carrying one WAMP connection. */
export class RawSocketPeer implements Peer {
  readonly details: TransportDetails;
  #handler: PeerHandler | null = null;
  #queued = 0;
  #queuedFrames = 0;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  /** A graceful close is under way (see {@linkcode RawSocketPeer.close}). */
  #closing = false;
  #lingerTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly conn: Deno.Conn,
    readonly serializer: Serializer,
    /** Largest message the client accepts (from its handshake). */
    readonly peerMax: number,
    /** Largest message we accept. */
    readonly ownMax: number,
    details: TransportDetails,
    readonly logger: Logger,
    readonly slowConsumer: WebSocketEndpointConfig["slow_consumer"],
    /** Seconds between keepalive PINGs (`auto_ping_interval`); 0 = none. */
    readonly pingInterval = 0,
  ) {
    this.details = details;
  }

  #pingTimer: ReturnType<typeof setInterval> | null = null;
  /** Whether any frame arrived since the last PING went out. */
  #heard = true;

  /** Connects the session, starts reading and, if configured, the keepalive PINGs. */
  attach(handler: PeerHandler, initial: Uint8Array): void {
    this.#handler = handler;
    if (this.pingInterval > 0) {
      this.#pingTimer = setInterval(() => this.#keepalive(), this.pingInterval * 1000);
    }
    this.#read(initial).catch((e) => {
      this.logger.debug("rawsocket read ended", { peer: this.details.peer, error: String(e) });
    }).finally(() => this.#shutdown());
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  send(message: Message, cache?: EncodeCache): number {
    if (this.#closed || this.#closing) return -1;
    if (
      message.type === MessageType.EVENT &&
      (this.#queued > this.slowConsumer.max_queue_bytes ||
        this.#queuedFrames >= this.slowConsumer.max_queue_messages)
    ) {
      if (this.slowConsumer.policy === "disconnect") this.#handler?.slowConsumer?.(this.#queued);
      else this.#handler?.dropped?.();
      return -1;
    }
    const encoded = encodeFor(this.serializer, message, cache, this.logger);
    if (!encoded) return UNENCODABLE;
    const { payload, bytes } = encoded;
    if (bytes > this.peerMax) {
      this.logger.warn("message larger than the client accepts was not sent", {
        peer: this.details.peer,
        type: messageName(message.type),
        bytes,
        limit: this.peerMax,
      });
      return TOO_LARGE;
    }
    const body = typeof payload === "string" ? utf8(payload, cache) : payload;
    this.#write(FRAME_WAMP, body);
    return bytes;
  }

  #pending: { type: number; body: Uint8Array }[] = [];
  #pendingBytes = 0;

  /**
   * Queues one frame. Frames queued in the same turn go out in one write, after the writes
   * already in progress, so order is kept and a fan-out costs one system call per receiver.
   */
  #write(type: number, body: Uint8Array): void {
    const size = 4 + body.byteLength;
    this.#queued += size;
    this.#queuedFrames++;
    this.#pending.push({ type, body });
    this.#pendingBytes += size;
    if (this.#pending.length > 1) return;
    this.#writing = this.#writing.then(async () => {
      const frames = this.#pending;
      const total = this.#pendingBytes;
      this.#pending = [];
      this.#pendingBytes = 0;
      try {
        if (this.#closed) return;
        const out = new Uint8Array(total);
        let at = 0;
        for (const f of frames) {
          out[at] = f.type;
          out[at + 1] = (f.body.byteLength >>> 16) & 0xff;
          out[at + 2] = (f.body.byteLength >>> 8) & 0xff;
          out[at + 3] = f.body.byteLength & 0xff;
          out.set(f.body, at + 4);
          at += 4 + f.body.byteLength;
        }
        let written = 0;
        while (written < total) written += await this.conn.write(out.subarray(written));
      } catch (e) {
        this.logger.debug("rawsocket write failed", { peer: this.details.peer, error: String(e) });
        this.close();
      } finally {
        this.#queued -= total;
        this.#queuedFrames -= frames.length;
      }
    });
  }

  /**
   * Closes gracefully: the frames queued so far (an ABORT, a GOODBYE) go out first, then our
   * side of the connection is shut (FIN) while the reader keeps draining what the client still
   * sends, until it closes too. Closing with unread input would reset the connection and could
   * destroy the ABORT before the client read it. A client that never closes, or never reads
   * what is queued, is cut off after {@linkcode CLOSE_LINGER_MS}.
   */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#lingerTimer = setTimeout(() => this.#shutdown(), CLOSE_LINGER_MS);
    this.#writing
      .then(() => this.#closed ? undefined : this.conn.closeWrite())
      .catch((e) => {
        this.logger.debug("rawsocket close failed", { peer: this.details.peer, error: String(e) });
        this.#shutdown();
      });
  }

  /**
   * Every `pingInterval`: a connection that sent nothing (not even the PONG to the previous
   * PING) since the last one is dead and is closed; otherwise another PING goes out.
   */
  #keepalive(): void {
    if (!this.#heard) {
      this.logger.info("rawsocket peer did not answer PING; closing the connection", {
        peer: this.details.peer,
        interval_s: this.pingInterval,
      });
      return this.#shutdown();
    }
    this.#heard = false;
    this.#write(FRAME_PING, crypto.getRandomValues(new Uint8Array(4)));
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pingTimer !== null) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = null;
    try {
      this.conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
    this.#handler?.transportClosed();
  }

  async #read(initial: Uint8Array): Promise<void> {
    let buf = initial;
    const chunk = new Uint8Array(64 * 1024);
    for (;;) {
      while (buf.byteLength >= 4) {
        const type = buf[0] & 0x07;
        if ((buf[0] & 0xf8) !== 0) {
          this.#violation("reserved bits set in a frame header");
          return await this.#drain(chunk);
        }
        const length = (buf[1] << 16) | (buf[2] << 8) | buf[3];
        if (type === FRAME_WAMP && length > this.ownMax) {
          this.#violation(`message of ${length} bytes exceeds the limit of ${this.ownMax} bytes`);
          return await this.#drain(chunk);
        }
        if (buf.byteLength < 4 + length) break;
        const body = buf.slice(4, 4 + length);
        buf = buf.subarray(4 + length);
        if (type === FRAME_PING) this.#write(FRAME_PONG, body);
        else if (type === FRAME_PONG) continue;
        else if (type === FRAME_WAMP) this.#deliver(body);
        else {
          this.#violation(`unknown frame type ${type}`);
          return await this.#drain(chunk);
        }
        if (this.#closed) return;
        if (this.#closing) return await this.#drain(chunk);
      }
      const n = await this.conn.read(chunk);
      if (n === null) return;
      this.#heard = true;
      const next = new Uint8Array(buf.byteLength + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.byteLength);
      buf = next;
    }
  }

  /** Reads and discards until the client closes (or the close timer cuts it off). */
  async #drain(chunk: Uint8Array): Promise<void> {
    while (!this.#closed && (await this.conn.read(chunk)) !== null) {
      // discarded: the session has ended
    }
  }

  #violation(reason: string): void {
    this.#handler?.protocolViolation(reason);
  }

  #deliver(body: Uint8Array): void {
    const handler = this.#handler!;
    const s = this.serializer;
    let message: Message;
    let payload: Payload;
    try {
      payload = s.binary ? body : decoder.decode(body);
      message = decodeMessage(s.decode(payload));
    } catch (e) {
      if (e instanceof ProtocolError) return handler.protocolViolation(e.message);
      return handler.protocolViolation(
        `malformed ${s.name} message: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    handler.receive(message, body.byteLength);
  }
}

/** Reads exactly `n` bytes (or fewer if the connection ends). */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) break;
    at += got;
  }
  return out.subarray(0, at);
}

/**
 * Performs the RawSocket handshake on a new connection whose first octet(s) may already have
 * been read (`head`). Returns the peer, or null after replying with an error and closing.
 */
export async function acceptRawSocket(
  conn: Deno.Conn,
  endpoint: WebSocketEndpointConfig,
  remote: string,
  logger: Logger,
  head: Uint8Array = new Uint8Array(0),
): Promise<RawSocketPeer | null> {
  const rest = await readExactly(conn, 4 - head.byteLength);
  const hello = new Uint8Array(4);
  hello.set(head);
  hello.set(rest, head.byteLength);
  if (head.byteLength + rest.byteLength < 4 || hello[0] !== MAGIC) {
    conn.close();
    return null;
  }
  const fail = async (code: number) => {
    await conn.write(new Uint8Array([MAGIC, code << 4, 0, 0])).catch(() => 0);
    conn.close();
    return null;
  };
  if (hello[2] !== 0 || hello[3] !== 0) return await fail(RawSocketError.RESERVED_BITS_USED);
  const serializer = serializerByRawSocketId(hello[1] & 0x0f);
  if (!serializer || !endpoint.serializers.includes(serializer.name)) {
    return await fail(RawSocketError.SERIALIZER_UNSUPPORTED);
  }
  const peerMax = 2 ** (9 + (hello[1] >> 4));
  const ownExp = lengthExponent(endpoint.max_message_size);
  await conn.write(new Uint8Array([MAGIC, (ownExp << 4) | serializer.rawSocketId, 0, 0]));
  const ownMax = Math.min(endpoint.max_message_size, 2 ** (9 + ownExp));
  return new RawSocketPeer(
    conn,
    serializer,
    peerMax,
    ownMax,
    {
      type: "rawsocket",
      channel_type: conn.localAddr.transport === "unix" ? "unix" : "tcp",
      channel_framing: "rawsocket",
      channel_serializer: serializer.name,
      peer: remote,
      is_secure: false,
    },
    logger,
    endpoint.slow_consumer,
    endpoint.ping_interval,
  );
}
