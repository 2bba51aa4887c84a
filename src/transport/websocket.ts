/**
 * WAMP over WebSocket: a `Peer` that decodes incoming frames at the edge (size, frame type,
 * nesting, serializer, message shape) and encodes outgoing messages once per serializer, over
 * either WebSocket implementation Switchboard uses:
 *
 * - the `ws` package on connections Switchboard accepted itself (every listener it serves):
 *   frames are limited while they arrive (`maxPayload`), protocol errors end with the close
 *   codes of RFC 6455 (1002, 1007, 1009), writes of one turn are batched, and keepalive pings
 *   and the close handshake run on the injected clock (its link: `ws_link.ts`);
 * - Deno's built-in WebSocket, for a router mounted in someone else's `Deno.serve` through
 *   `Router.handler()`, where Deno's server owns the connection.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import {
  BATCHED_SUBPROTOCOLS,
  negotiateSubprotocol,
  SUBPROTOCOLS,
} from "../serializer/registry.ts";
import type { Payload, Serializer, SerializerName } from "../serializer/serializer.ts";
import { decodeMessage } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { MessageType } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import type { ConnectionCookie } from "./cookie_store.ts";
import type { Deadline } from "./deadline.ts";
import { Keepalive, type KeepaliveHooks } from "./keepalive.ts";
import { type BoundHooks, OutgoingBound, type SlowConsumerLimits } from "./outgoing_bound.ts";
import { OutgoingBatch } from "./outgoing_batch.ts";
import { batchOut, type BatchPart } from "./batch_frames.ts";
import {
  batchOverhead,
  jsonSeparatorOf,
  RECORD_SEPARATOR,
  splitBatch,
} from "../serializer/batched.ts";
import { type EncodeCache, encodeFor } from "../serializer/encode_cache.ts";
import { type Peer, type PeerHandler, type TransportDetails, UNENCODABLE } from "./peer.ts";

/** What a {@linkcode WebSocketPeer} enforces and how it keeps the connection alive. */
export interface WebSocketPeerOptions {
  /** Largest incoming WAMP message in bytes. */
  readonly maxMessageSize: number;
  /** Deepest nesting of arrays/objects accepted in an incoming message. */
  readonly maxNesting: number;
  readonly slowConsumer: SlowConsumerLimits;
  /** Milliseconds between keepalive pings (0 = none). */
  readonly pingIntervalMs: number;
  /** How long a ping may stay unanswered before the connection is dropped (ms). */
  readonly pingTimeoutMs: number;
  /** Bytes of random payload in each ping (`auto_ping_size`); 0 or absent: empty. */
  readonly pingSize?: number;
  /** How long the closing handshake may take before the connection is dropped (ms). */
  readonly closeTimeoutMs: number;
  /** Re-arms the connection's idle deadline while no session is joined (ms; 0 = none). */
  readonly idleTimeoutMs: number;
}

/** Callbacks of a {@linkcode WebSocketLink}. */
export interface LinkEvents {
  /**
   * A whole message: a string for text frames, bytes for binary ones, with its size in bytes
   * when the implementation knows it (the UTF-8 length of text), else -1.
   */
  message(data: string | Uint8Array, bytes: number): void;
  /** A pong arrived. */
  pong(): void;
  /**
   * The client started the closing handshake (or broke the protocol): no more messages come,
   * and the session ends now, before the connection is gone.
   */
  closing(): void;
  /** The connection is closed. */
  closed(code: number, reason: string): void;
  /** The implementation failed the connection (a protocol error by the client, say). */
  failed(error: string): void;
}

/** What a {@linkcode WebSocketPeer} needs from a WebSocket implementation. */
export interface WebSocketLink {
  /** True while messages can be sent. */
  readonly open: boolean;
  /** Bytes queued and not yet taken by the network. */
  readonly bufferedAmount: number;
  /** True when text frames are sent from their UTF-8 bytes (then `send` gets them). */
  readonly sendsBytes: boolean;
  /**
   * Sends one message: a text frame for `text` (with its UTF-8 bytes in `bytes` where
   * `sendsBytes`), else a binary frame of `bytes`. `cache` and `slot` are where a fan-out keeps
   * the frame, built once for every receiver on the same serializer.
   */
  send(
    text: string | null,
    bytes: Uint8Array | null,
    cache: EncodeCache | undefined,
    slot: number,
  ): void;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
  /** Drops the connection now, freeing what it had queued. */
  terminate(): void;
  /** Sends a ping (with `payload`, if any); false where the implementation pings by itself. */
  ping(payload?: Uint8Array): boolean;
  /**
   * After a protocol error (the close frame is queued): flushes what is queued, shuts the
   * connection and stops reading from it, so a client that broke the protocol cannot keep the
   * router reading what it floods.
   */
  shutAfterFlush(): void;
  /** Installs the callbacks (once). */
  listen(events: LinkEvents): void;
}

const utf8Decoder = new TextDecoder();

/** Deno's built-in WebSocket (a router mounted with `Router.handler()`). */
export function nativeLink(socket: WebSocket): WebSocketLink {
  socket.binaryType = "arraybuffer";
  return {
    get open() {
      return socket.readyState === WebSocket.OPEN;
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    sendsBytes: false,
    send(text, bytes) {
      socket.send(text ?? bytes!);
    },
    close(code, reason) {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason);
      }
    },
    terminate() {
      this.close(1011, "");
    },
    ping() {
      return false; // Deno pings by itself (upgradeWebSocket's idleTimeout)
    },
    shutAfterFlush() {
      // Deno's server closes the connection itself after a protocol error
    },
    listen(events) {
      socket.onmessage = (ev) => {
        const data: unknown = ev.data;
        if (typeof data === "string") events.message(data, -1);
        else if (data instanceof ArrayBuffer) events.message(new Uint8Array(data), data.byteLength);
        else events.failed("unsupported frame");
      };
      socket.onclose = (ev) => events.closed(ev.code, ev.reason);
      // Deno's WebSocket reports the close once the client's close frame is in: nothing to add
      socket.onerror = (ev) => events.failed(ev instanceof ErrorEvent ? ev.message : "error");
    },
  };
}

/** A close reason that fits a close frame (123 bytes of UTF-8). */
function closeReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.byteLength <= 123) return reason;
  return utf8Decoder.decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "");
}

/** A WebSocket carrying one WAMP connection. */
export class WebSocketPeer implements Peer {
  readonly details: TransportDetails;
  readonly serializer: Serializer;
  readonly cookie: ConnectionCookie | null;
  readonly #link: WebSocketLink;
  readonly #options: WebSocketPeerOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #deadline: Deadline | null;
  readonly #bound: OutgoingBound;
  #handler: PeerHandler | null = null;
  /** The keepalive pings, where `pingIntervalMs` asks for them. */
  readonly #keepalive: Keepalive | null;
  #closeTimer: TimerId | null = null;
  /** Something arrived since the last ping (a pong or any message). */
  #heard = true;
  #closed = false;
  /** The connection is gone (its close event came). */
  #gone = false;
  /** A slow consumer is being ended: nothing more is sent. */
  #givingUp = false;
  /** Outgoing messages collected for the next batch (batched subprotocols only). */
  readonly #batch: OutgoingBatch<BatchPart> | null;
  /** The JSON batch separator: the spec's until the client's first batch shows its own. */
  #separator: string | null = null;

  constructor(
    link: WebSocketLink,
    serializer: Serializer,
    options: WebSocketPeerOptions,
    details: TransportDetails,
    logger: Logger,
    clock: Clock,
    deadline: Deadline | null = null,
    cookie: ConnectionCookie | null = null,
  ) {
    this.cookie = cookie;
    this.#link = link;
    this.serializer = serializer;
    this.#options = options;
    this.details = details;
    this.#logger = logger;
    this.#clock = clock;
    this.#deadline = deadline;
    this.#batch = serializer.batched ? new OutgoingBatch((parts) => this.#sendBatch(parts)) : null;
    const hooks = new WebSocketPeer.#Hooks(this);
    this.#bound = new OutgoingBound(options.slowConsumer, clock, hooks);
    this.#keepalive = options.pingIntervalMs > 0
      ? new Keepalive(clock, options.pingIntervalMs, options.pingTimeoutMs, hooks)
      : null;
    link.listen(hooks);
  }

  /**
   * The link's events, the slow-consumer bound's and the keepalive's hooks of one peer, as one
   * object whose methods are shared by every peer (not eleven closures per connection: idle
   * memory, issue 14). Nested in the class body, so it may call the peer's private methods.
   */
  static readonly #Hooks = class implements LinkEvents, BoundHooks, KeepaliveHooks {
    constructor(readonly peer: WebSocketPeer) {}

    message(data: string | Uint8Array, bytes: number): void {
      this.peer.#onMessage(data, bytes);
    }

    pong(): void {
      this.peer.#heard = true;
      this.peer.#bound.answered();
    }

    closing(): void {
      this.peer.#onClosing();
    }

    closed(): void {
      this.peer.#onClosed();
    }

    failed(error: string): void {
      this.peer.#logger.debug("websocket failed", { peer: this.peer.details.peer, error });
      this.peer.#link.shutAfterFlush();
    }

    queued(): number {
      return this.peer.bufferedAmount;
    }

    ping(): boolean {
      return this.peer.#link.ping();
    }

    stalled(): void {
      const peer = this.peer;
      peer.#logger.info("slow consumer stayed at its queue bound without answering; closing", {
        peer: peer.details.peer,
        queued_bytes: peer.#link.bufferedAmount,
      });
      peer.#giveUp();
    }

    keepalivePing(): boolean {
      const peer = this.peer;
      if (peer.#closed) return false;
      peer.#heard = false;
      const size = peer.#options.pingSize ?? 0;
      return peer.#link.ping(size > 0 ? crypto.getRandomValues(new Uint8Array(size)) : undefined);
    }

    keepaliveAnswered(): boolean {
      return this.peer.#heard || this.peer.#closed;
    }

    keepaliveTimedOut(): void {
      this.peer.#logger.info("websocket peer did not answer a ping; closing the connection", {
        peer: this.peer.details.peer,
        timeout_ms: this.peer.#options.pingTimeoutMs,
      });
      this.peer.#terminate();
    }
  };

  /** Connects the session that handles this peer's messages and starts the keepalive. */
  attach(handler: PeerHandler): void {
    this.#handler = handler;
    this.#keepalive?.start();
  }

  get bufferedAmount(): number {
    return this.#link.bufferedAmount + (this.#batch?.pending ?? 0);
  }

  send(message: Message, cache?: EncodeCache): number {
    if (this.#closed || this.#givingUp || !this.#link.open) return -1;
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
    const link = this.#link;
    const encoded = encodeFor(this.serializer, message, cache, this.#logger, link.sendsBytes);
    if (!encoded) return UNENCODABLE;
    const { payload, bytes, utf8 } = encoded;
    if (this.#batch) {
      // counted with its framing (the length prefix or separator), as in Crossbar
      const framed = bytes + batchOverhead(this.serializer);
      this.#batch.add({ payload: utf8 ?? payload, cache }, framed);
      return framed;
    }
    if (typeof payload === "string") link.send(payload, utf8, cache, this.serializer.index);
    else link.send(null, payload, cache, this.serializer.index);
    return bytes;
  }

  /** Sends one batch (joined once per fan-out, see `batch_frames.ts`). */
  #sendBatch(parts: BatchPart[]): void {
    const link = this.#link;
    if (this.#closed || !link.open) return;
    const sep = this.#separator ?? RECORD_SEPARATOR;
    const out = batchOut(parts, this.serializer, link.sendsBytes, sep);
    link.send(out.text, out.bytes, out.cache, this.serializer.index);
  }

  /** A session joined (`true`) or left with the connection staying open (`false`). */
  established(joined: boolean): void {
    if (!this.#deadline) return;
    if (joined) this.#deadline.clear();
    else this.#deadline.arm(this.#options.idleTimeoutMs);
  }

  close(code = 1000, reason = ""): void {
    if (this.#closed || this.#closeTimer !== null) return;
    this.#keepalive?.stop();
    this.#batch?.flush();
    this.#link.close(code, closeReason(reason));
    this.#armCloseTimer();
  }

  /** Drops the connection if its closing handshake has not completed in time. */
  #armCloseTimer(): void {
    if (this.#gone || this.#closeTimer !== null) return;
    this.#closeTimer = this.#clock.setTimer(() => {
      this.#closeTimer = null;
      this.#logger.debug("closing handshake timed out; dropping the connection", {
        peer: this.details.peer,
        timeout_ms: this.#options.closeTimeoutMs,
      });
      this.#terminate();
    }, this.#options.closeTimeoutMs);
  }

  #terminate(): void {
    if (this.#gone) return;
    this.#link.terminate();
  }

  /**
   * Ends a slow consumer: nothing more is sent (the session's own ABORT would only join the
   * full queue), the session is told, and the connection is dropped with what it queued.
   */
  #giveUp(): void {
    if (this.#closed || this.#givingUp) return;
    this.#givingUp = true;
    this.#handler?.slowConsumer?.(this.bufferedAmount);
    this.#batch?.discard();
    this.#terminate();
  }

  /** The client began the close handshake: the session ends now, the socket soon. */
  #onClosing(): void {
    if (this.#closed) return;
    this.#armCloseTimer(); // ws answers the close frame itself, echoing the client's code
    this.#end();
  }

  #onClosed(): void {
    this.#gone = true;
    if (this.#closeTimer !== null) this.#clock.clearTimer(this.#closeTimer);
    this.#closeTimer = null;
    this.#end();
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keepalive?.stop();
    this.#batch?.discard();
    this.#bound.dispose();
    this.#deadline?.clear();
    this.#handler?.transportClosed();
  }

  #onMessage(data: string | Uint8Array, known: number): void {
    this.#heard = true;
    const handler = this.#handler;
    if (!handler || this.#closed) return;
    const s = this.serializer;
    let payload: Payload;
    if (typeof data === "string") {
      if (s.binary) {
        return handler.protocolViolation(
          `text frame received on ${s.subprotocol}, which uses binary frames`,
        );
      }
      payload = data;
    } else {
      if (!s.binary) {
        return handler.protocolViolation(
          `binary frame received on ${s.subprotocol}, which uses text frames`,
        );
      }
      payload = data;
    }
    const bytes = known >= 0 ? known : s.byteLength(payload);
    if (bytes > this.#options.maxMessageSize) {
      return handler.protocolViolation(
        `${
          s.batched ? "batch" : "message"
        } of ${bytes} bytes exceeds the limit of ${this.#options.maxMessageSize} bytes`,
      );
    }
    if (!s.batched) {
      const message = this.#decode(handler, payload);
      if (message) handler.receive(message, bytes);
      return;
    }
    // a batch: the whole WebSocket message within the limit (above), each message too
    if (typeof payload === "string" && this.#separator === null) {
      this.#separator = jsonSeparatorOf(payload) ?? RECORD_SEPARATOR;
    }
    let parts: Payload[];
    try {
      parts = splitBatch(s, payload, this.#options.maxMessageSize, this.#separator ?? undefined);
    } catch (e) {
      return handler.protocolViolation(
        `malformed ${s.subprotocol} batch: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    // as in Crossbar, the whole payload (framing included) is counted with its first message
    for (const [i, part] of parts.entries()) {
      const message = this.#decode(handler, part);
      if (!message) return;
      handler.receive(message, i === 0 ? bytes : 0);
      // the session may have ended the connection (GOODBYE, a refused message): stop reading
      if (this.#closed || this.#closeTimer !== null) return;
    }
  }

  /** Decodes one message, or reports the protocol violation and returns null. */
  #decode(handler: PeerHandler, payload: Payload): Message | null {
    const s = this.serializer;
    try {
      return decodeMessage(s.decode(payload, this.#options.maxNesting));
    } catch (e) {
      if (e instanceof ProtocolError) handler.protocolViolation(e.message);
      else {
        handler.protocolViolation(
          `malformed ${s.name} message: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      return null;
    }
  }
}

/** The answer to a WebSocket upgrade request that cannot be served. */
export function upgradeRefusal(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * The serializer for an upgrade request's offered subprotocols, or the 400 response that tells
 * the client what this endpoint supports.
 */
export function chooseSerializer(
  offeredHeader: string | null | undefined,
  allowed: readonly SerializerName[],
  requireSubprotocol = true,
): Serializer | Response {
  const offered = (offeredHeader ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
  const serializer = negotiateSubprotocol(offered, allowed);
  if (serializer) return serializer;
  // require_websocket_subprotocol false: an upgrade offering no subprotocol speaks JSON, as
  // Crossbar's
  if (offered.length === 0 && !requireSubprotocol && allowed.includes("json")) {
    return negotiateSubprotocol(["wamp.2.json"], ["json"])!;
  }
  const supported = [...SUBPROTOCOLS, ...BATCHED_SUBPROTOCOLS].filter((p) =>
    allowed.some((n) => p === `wamp.2.${n}` || p === `wamp.2.${n}.batched`)
  );
  return upgradeRefusal(
    400,
    `No supported WAMP subprotocol offered (offered: ${offered.join(", ") || "none"}; ` +
      `supported: ${supported.join(", ")}).\n`,
  );
}

/** The answer to a plain HTTP request on a WAMP WebSocket path. */
export function notAnUpgrade(): Response {
  return upgradeRefusal(
    400,
    "This is a WAMP WebSocket endpoint: send a WebSocket upgrade request.\n",
  );
}
