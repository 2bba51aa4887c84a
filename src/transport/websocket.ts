/**
 * WebSocket transport: subprotocol negotiation, `Deno.upgradeWebSocket`, and a `Peer` that
 * decodes incoming frames at the edge (size limit, frame type, serializer, message shape) and
 * encodes outgoing messages once per serializer.
 *
 * @module
 */

import type { WebSocketEndpointConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { negotiateSubprotocol, SUBPROTOCOLS } from "../serializer/registry.ts";
import type { Payload, Serializer } from "../serializer/serializer.ts";
import { decodeMessage } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { MessageType } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import {
  type EncodeCache,
  encodeFor,
  type Peer,
  type PeerHandler,
  type TransportDetails,
  UNENCODABLE,
} from "./peer.ts";

/** A WebSocket carrying one WAMP connection. */
export class WebSocketPeer implements Peer {
  readonly details: TransportDetails;
  #handler: PeerHandler | null = null;

  constructor(
    readonly socket: WebSocket,
    readonly serializer: Serializer,
    readonly maxMessageSize: number,
    details: TransportDetails,
    readonly logger: Logger,
    readonly slowConsumer: WebSocketEndpointConfig["slow_consumer"] = {
      max_queue_bytes: Number.POSITIVE_INFINITY,
      max_queue_messages: Number.POSITIVE_INFINITY,
      policy: "drop",
    },
  ) {
    this.details = details;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => this.#onMessage(ev.data);
    socket.onclose = () => this.#handler?.transportClosed();
    socket.onerror = (ev) => {
      const msg = ev instanceof ErrorEvent ? ev.message : "error";
      this.logger.debug("websocket error", { peer: details.peer, error: msg });
    };
  }

  /** Connects the session that handles this peer's messages. */
  attach(handler: PeerHandler): void {
    this.#handler = handler;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** EVENTs dropped because the outgoing queue was over its bound (policy `drop`). */
  dropped = 0;

  /** Messages sent since the socket's buffer was last seen empty: an upper bound of those queued. */
  #unsent = 0;

  send(message: Message, cache?: EncodeCache): number {
    if (this.socket.readyState !== WebSocket.OPEN) return -1;
    const buffered = this.socket.bufferedAmount;
    this.#unsent = buffered === 0 ? 0 : this.#unsent;
    if (
      message.type === MessageType.EVENT &&
      (buffered > this.slowConsumer.max_queue_bytes ||
        this.#unsent >= this.slowConsumer.max_queue_messages)
    ) {
      // A stalled receiver never slows the others or grows memory without bound: its events
      // are dropped (and counted), or the session is ended, per the endpoint's policy.
      if (this.slowConsumer.policy === "disconnect") {
        this.#handler?.slowConsumer?.(this.socket.bufferedAmount);
      } else {
        this.dropped++;
        this.#handler?.dropped?.();
      }
      return -1;
    }
    const encoded = encodeFor(this.serializer, message, cache, this.logger);
    if (!encoded) return UNENCODABLE;
    const { payload, bytes } = encoded;
    this.socket.send(payload);
    this.#unsent++;
    return bytes;
  }

  close(code = 1000, reason = ""): void {
    if (
      this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING
    ) {
      this.socket.close(code, reason);
    }
  }

  #onMessage(data: unknown): void {
    const handler = this.#handler;
    if (!handler) return;
    const s = this.serializer;
    let payload: Payload;
    if (typeof data === "string") {
      if (s.binary) {
        return handler.protocolViolation(
          `text frame received on ${s.subprotocol}, which uses binary frames`,
        );
      }
      payload = data;
    } else if (data instanceof ArrayBuffer) {
      if (!s.binary) {
        return handler.protocolViolation(
          `binary frame received on ${s.subprotocol}, which uses text frames`,
        );
      }
      payload = new Uint8Array(data);
    } else {
      return handler.protocolViolation("unsupported frame");
    }
    const bytes = s.byteLength(payload);
    if (bytes > this.maxMessageSize) {
      return handler.protocolViolation(
        `message of ${bytes} bytes exceeds the limit of ${this.maxMessageSize} bytes`,
      );
    }
    let message: Message;
    try {
      message = decodeMessage(s.decode(payload));
    } catch (e) {
      if (e instanceof ProtocolError) return handler.protocolViolation(e.message);
      return handler.protocolViolation(
        `malformed ${s.name} message: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    handler.receive(message, bytes);
  }
}

/** Result of a WebSocket upgrade attempt. */
export type UpgradeResult =
  | { ok: true; response: Response; peer: WebSocketPeer }
  | { ok: false; response: Response };

/**
 * Negotiates the WAMP subprotocol and upgrades the request. Requests that are not WebSocket
 * upgrades, or offer no supported subprotocol, get HTTP 400 with a plain reason.
 */
export function upgrade(
  req: Request,
  endpoint: WebSocketEndpointConfig,
  remote: string,
  logger: Logger,
): UpgradeResult {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return {
      ok: false,
      response: new Response(
        "This is a WAMP WebSocket endpoint: send a WebSocket upgrade request.\n",
        {
          status: 400,
          headers: { "content-type": "text/plain; charset=utf-8" },
        },
      ),
    };
  }
  const offered = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const serializer = negotiateSubprotocol(offered, endpoint.serializers);
  if (!serializer) {
    const supported = SUBPROTOCOLS.filter((p) =>
      endpoint.serializers.some((n) => p === `wamp.2.${n}`)
    );
    return {
      ok: false,
      response: new Response(
        `No supported WAMP subprotocol offered (offered: ${offered.join(", ") || "none"}; ` +
          `supported: ${supported.join(", ")}).\n`,
        { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } },
      ),
    };
  }
  // Deno's own subprotocol check splits the offer on ", " only, and so refuses offers
  // written as "a,b" (Autobahn|Python sends those). We negotiate ourselves and set the
  // header on the 101 response.
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: endpoint.ping_interval });
  response.headers.set("sec-websocket-protocol", serializer.subprotocol);
  const url = new URL(req.url);
  // Deno.serve gives TLS connections https:// request URLs.
  const secure = url.protocol === "https:";
  const peer = new WebSocketPeer(
    socket,
    serializer,
    endpoint.max_message_size,
    {
      type: "websocket",
      channel_type: secure ? "tls" : "tcp",
      channel_framing: "websocket",
      channel_serializer: serializer.name,
      peer: remote,
      is_secure: secure,
      websocket_protocol: serializer.subprotocol,
      http_path: url.pathname,
    },
    logger,
    endpoint.slow_consumer,
  );
  return { ok: true, response, peer };
}
