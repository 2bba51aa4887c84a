/**
 * WAMP over RawSocket (TCP, TLS or Unix sockets): the 4-octet handshake with its error replies,
 * the negotiated maximum message lengths, 4-octet frame headers, and PING/PONG.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import { serializerByRawSocketId } from "../serializer/registry.ts";
import type { Payload, Serializer, SerializerName } from "../serializer/serializer.ts";
import { decodeMessage } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { messageName, MessageType } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import type { Deadline } from "./deadline.ts";
import { Keepalive } from "./keepalive.ts";
import { OutgoingBound, type SlowConsumerLimits } from "./outgoing_bound.ts";
import { type EncodeCache, encodeFor } from "../serializer/encode_cache.ts";
import {
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
const decoder = new TextDecoder("utf-8", { fatal: true });
/** Read buffers grow while reads fill them and shrink back, so an idle connection holds 1 KiB. */
const MIN_READ = 1024;
const MAX_READ = 64 * 1024;

/** The handshake reply refusing a connection because the transport is at its connection cap. */
export const MAX_CONNECTIONS_REPLY: Uint8Array = new Uint8Array([
  MAGIC,
  RawSocketError.MAX_CONNECTIONS << 4,
  0,
  0,
]);

/** The length exponent (2^(9+L)) that covers `bytes`, clamped to 0..15. */
export function lengthExponent(bytes: number): number {
  const l = Math.ceil(Math.log2(Math.max(bytes, 512))) - 9;
  return Math.min(15, Math.max(0, l));
}

/** What a RawSocket endpoint accepts and how it behaves. */
export interface RawSocketOptions {
  readonly serializers: readonly SerializerName[];
  /** Largest incoming message in bytes (announced in the handshake, rounded to 2^(9+L)). */
  readonly maxMessageSize: number;
  /** Deepest nesting of arrays/objects accepted in an incoming message. */
  readonly maxNesting: number;
  readonly slowConsumer: SlowConsumerLimits;
  /** Milliseconds between keepalive PINGs (0 = none). */
  readonly pingIntervalMs: number;
  /** How long a PING may stay unanswered (ms). */
  readonly pingTimeoutMs: number;
  /** How long a closing connection waits for its queued frames and the client's close (ms). */
  readonly closeTimeoutMs: number;
  /** Re-arms the connection's idle deadline while no session is joined (ms; 0 = none). */
  readonly idleTimeoutMs: number;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** A RawSocket connection carrying one WAMP connection. */
export class RawSocketPeer implements Peer {
  readonly details: TransportDetails;
  readonly serializer: Serializer;
  readonly #conn: Deno.Conn;
  /** Largest message the client accepts (from its handshake). */
  readonly #peerMax: number;
  /** Largest message we accept. */
  readonly #ownMax: number;
  readonly #options: RawSocketOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #deadline: Deadline | null;
  readonly #bound: OutgoingBound;
  #handler: PeerHandler | null = null;
  #queued = 0;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  /** A graceful close is under way (see {@linkcode RawSocketPeer.close}). */
  #closing = false;
  #lingerTimer: TimerId | null = null;
  /** The keepalive PINGs, where `pingIntervalMs` asks for them. */
  readonly #keepalive: Keepalive | null;
  /** Whether any frame arrived since the last PING went out. */
  #heard = true;

  constructor(
    conn: Deno.Conn,
    serializer: Serializer,
    peerMax: number,
    ownMax: number,
    details: TransportDetails,
    options: RawSocketOptions,
    logger: Logger,
    clock: Clock,
    deadline: Deadline | null = null,
  ) {
    this.#conn = conn;
    this.serializer = serializer;
    this.#peerMax = peerMax;
    this.#ownMax = ownMax;
    this.details = details;
    this.#options = options;
    this.#logger = logger;
    this.#clock = clock;
    this.#deadline = deadline;
    this.#bound = new OutgoingBound(options.slowConsumer, clock, {
      queued: () => this.#queued,
      ping: () => {
        this.#write(FRAME_PING, crypto.getRandomValues(new Uint8Array(4)));
        return true;
      },
      stalled: () => {
        this.#logger.info("slow consumer stayed at its queue bound without answering; closing", {
          peer: details.peer,
          queued_bytes: this.#queued,
        });
        this.#giveUp();
      },
    });
    this.#keepalive = options.pingIntervalMs > 0
      ? new Keepalive(clock, options.pingIntervalMs, options.pingTimeoutMs, {
        keepalivePing: () => {
          if (this.#closed || this.#closing) return false;
          this.#heard = false;
          this.#write(FRAME_PING, crypto.getRandomValues(new Uint8Array(4)));
          return true;
        },
        keepaliveAnswered: () => this.#heard || this.#closed,
        keepaliveTimedOut: () => {
          this.#logger.info("rawsocket peer did not answer PING; closing the connection", {
            peer: this.details.peer,
            timeout_ms: this.#options.pingTimeoutMs,
          });
          this.#shutdown();
        },
      })
      : null;
  }

  /** Connects the session, starts reading and, if configured, the keepalive PINGs. */
  attach(handler: PeerHandler, initial: Uint8Array): void {
    this.#handler = handler;
    this.#keepalive?.start();
    this.#read(initial).catch((e) => {
      this.#logger.debug("rawsocket read ended", { peer: this.details.peer, error: String(e) });
    }).finally(() => this.#shutdown());
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  send(message: Message, cache?: EncodeCache): number {
    if (this.#closed || this.#closing) return -1;
    switch (this.#bound.admit(message.type === MessageType.EVENT)) {
      case "drop":
        this.#handler?.dropped?.();
        return -1;
      case "end":
        this.#giveUp();
        return -1;
      case "send":
        break;
    }
    const encoded = encodeFor(this.serializer, message, cache, this.#logger, true);
    if (!encoded) return UNENCODABLE;
    const { payload, bytes, utf8 } = encoded;
    if (bytes > this.#peerMax) {
      this.#logger.warn("message larger than the client accepts was not sent", {
        peer: this.details.peer,
        type: messageName(message.type),
        bytes,
        limit: this.#peerMax,
      });
      return TOO_LARGE;
    }
    this.#write(FRAME_WAMP, utf8 ?? (payload as Uint8Array));
    return bytes;
  }

  /**
   * Ends a slow consumer: nothing more is sent (the session's own ABORT would only join the
   * full queue), the session is told, and the connection is dropped with what it queued.
   */
  #giveUp(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#handler?.slowConsumer?.(this.#queued);
    this.#shutdown();
  }

  /** A session joined (`true`) or left with the connection staying open (`false`). */
  established(joined: boolean): void {
    if (!this.#deadline) return;
    if (joined) this.#deadline.clear();
    else this.#deadline.arm(this.#options.idleTimeoutMs);
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
        while (written < total) written += await this.#conn.write(out.subarray(written));
      } catch (e) {
        this.#logger.debug("rawsocket write failed", { peer: this.details.peer, error: String(e) });
        this.#shutdown();
      } finally {
        this.#queued -= total;
      }
    });
  }

  /**
   * Closes gracefully: the frames queued so far (an ABORT, a GOODBYE) go out first, then our
   * side of the connection is shut (FIN) while the reader keeps draining what the client still
   * sends, until it closes too. Closing with unread input would reset the connection and could
   * destroy the ABORT before the client read it. A client that never closes, or never reads
   * what is queued, is cut off after the close handshake timeout.
   */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#keepalive?.stop();
    this.#lingerTimer = this.#clock.setTimer(() => {
      this.#lingerTimer = null;
      this.#shutdown();
    }, this.#options.closeTimeoutMs);
    this.#writing
      .then(() => this.#closed ? undefined : this.#conn.closeWrite())
      .catch((e) => {
        this.#logger.debug("rawsocket close failed", { peer: this.details.peer, error: String(e) });
        this.#shutdown();
      });
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keepalive?.stop();
    this.#bound.dispose();
    this.#deadline?.clear();
    if (this.#lingerTimer !== null) this.#clock.clearTimer(this.#lingerTimer);
    this.#lingerTimer = null;
    closeQuietly(this.#conn);
    this.#handler?.transportClosed();
  }

  async #read(initial: Uint8Array): Promise<void> {
    let buf = initial;
    let size = MIN_READ;
    for (;;) {
      while (buf.byteLength >= 4) {
        const type = buf[0]! & 0x07;
        if ((buf[0]! & 0xf8) !== 0) {
          this.#violation("reserved bits set in a frame header");
          return await this.#drain();
        }
        const length = (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!;
        if (type === FRAME_WAMP && length > this.#ownMax) {
          this.#violation(`message of ${length} bytes exceeds the limit of ${this.#ownMax} bytes`);
          return await this.#drain();
        }
        if (buf.byteLength < 4 + length) break;
        const body = buf.slice(4, 4 + length);
        buf = buf.subarray(4 + length);
        if (type === FRAME_PING) this.#write(FRAME_PONG, body);
        else if (type === FRAME_PONG) this.#bound.answered();
        else if (type === FRAME_WAMP) this.#deliver(body);
        else {
          this.#violation(`unknown frame type ${type}`);
          return await this.#drain();
        }
        if (this.#closed) return;
        if (this.#closing) return await this.#drain();
      }
      const chunk = new Uint8Array(size);
      const n = await this.#conn.read(chunk);
      if (n === null) return;
      this.#heard = true;
      size = n === size ? Math.min(size * 2, MAX_READ) : Math.max(MIN_READ, size >> 1);
      if (buf.byteLength === 0) {
        buf = chunk.subarray(0, n);
      } else {
        const next = new Uint8Array(buf.byteLength + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.byteLength);
        buf = next;
      }
    }
  }

  /** Reads and discards until the client closes (or the close timer cuts it off). */
  async #drain(): Promise<void> {
    const chunk = new Uint8Array(MIN_READ);
    while (!this.#closed && (await this.#conn.read(chunk)) !== null) {
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
      message = decodeMessage(s.decode(payload, this.#options.maxNesting));
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

/** What {@linkcode acceptRawSocket} needs besides the connection. */
export interface RawSocketAccept {
  readonly options: RawSocketOptions;
  readonly details: (serializer: Serializer) => TransportDetails;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly deadline: Deadline | null;
}

/**
 * Performs the RawSocket handshake on a new connection whose first octet(s) may already have
 * been read (`head`). Returns the peer, or null after replying with an error and closing.
 */
export async function acceptRawSocket(
  conn: Deno.Conn,
  accept: RawSocketAccept,
  head: Uint8Array = new Uint8Array(0),
): Promise<RawSocketPeer | null> {
  const hello = new Uint8Array(4);
  hello.set(head.subarray(0, 4));
  const rest = head.byteLength < 4 ? await readExactly(conn, 4 - head.byteLength) : null;
  if (rest) hello.set(rest, head.byteLength);
  const got = head.byteLength + (rest?.byteLength ?? 0);
  if (got < 4 || hello[0] !== MAGIC) {
    closeQuietly(conn);
    return null;
  }
  const fail = async (code: number) => {
    await conn.write(new Uint8Array([MAGIC, code << 4, 0, 0])).catch(() => 0);
    closeQuietly(conn);
    return null;
  };
  if (hello[2] !== 0 || hello[3] !== 0) return await fail(RawSocketError.RESERVED_BITS_USED);
  const serializer = serializerByRawSocketId(hello[1]! & 0x0f);
  const options = accept.options;
  if (!serializer || !options.serializers.includes(serializer.name)) {
    return await fail(RawSocketError.SERIALIZER_UNSUPPORTED);
  }
  const peerMax = 2 ** (9 + (hello[1]! >> 4));
  const ownExp = lengthExponent(options.maxMessageSize);
  await conn.write(new Uint8Array([MAGIC, (ownExp << 4) | serializer.rawSocketId, 0, 0]));
  const ownMax = Math.min(options.maxMessageSize, 2 ** (9 + ownExp));
  return new RawSocketPeer(
    conn,
    serializer,
    peerMax,
    ownMax,
    accept.details(serializer),
    options,
    accept.logger,
    accept.clock,
    accept.deadline,
  );
}
