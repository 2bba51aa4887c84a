/**
 * The tiny interface between a session and whatever carries its messages (a WebSocket, or an
 * in-process link for embedded clients and the router's own service session).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Payload, Serializer } from "../serializer/serializer.ts";
import { utf8InSlab } from "../serializer/slab.ts";
import { encodeMessage } from "../wamp/codec.ts";
import { messageName } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";

/**
 * Encodings of one outgoing message, so a message fanned out to many receivers is encoded
 * (and measured) once per serializer: slot `2 * Serializer.index` holds the payload (or
 * `null` when that serializer cannot encode it, so the failure is found and logged once, not
 * once per receiver), the next slot its size in bytes; slot {@linkcode UTF8_SLOT} keeps the
 * UTF-8 bytes of the JSON text for transports that send bytes. Start with an empty array.
 */
export type EncodeCache = (Payload | number | null | undefined)[];

/** {@linkcode EncodeCache} slot for the UTF-8 bytes of the JSON text. */
export const UTF8_SLOT = 6;
/**
 * First {@linkcode EncodeCache} slot of the transports' framed messages: a transport keeps the
 * whole frame of a fanned-out message there (slot `FRAME_SLOT + Serializer.index`), built once
 * for every receiver on that serializer.
 */
export const FRAME_SLOT = 7;

/** The UTF-8 bytes of a JSON payload, encoded once per fan-out through the cache. */
export function utf8Of(text: string, cache: EncodeCache | undefined): Uint8Array {
  const cached = cache?.[UTF8_SLOT] as Uint8Array | undefined;
  if (cached) return cached;
  const bytes = utf8InSlab(text);
  if (cache) cache[UTF8_SLOT] = bytes;
  return bytes;
}

/**
 * What the session meta API reports about a transport (`transport` in session details), in
 * the key names Autobahn/Crossbar use for `TransportDetails`.
 */
export interface TransportDetails {
  /** `websocket` or `local` (in-process). */
  readonly type: string;
  /** `tcp4:127.0.0.1:54321`, or `local` for in-process sessions. */
  readonly peer: string;
  /** `tcp`, or `function` for in-process sessions. */
  readonly channel_type?: string;
  /** `websocket`, or `native` for in-process sessions. */
  readonly channel_framing?: string;
  /** Serializer name. */
  readonly channel_serializer?: string;
  /** True for TLS transports. */
  readonly is_secure?: boolean;
  /** The negotiated WebSocket subprotocol. */
  readonly websocket_protocol?: string;
  /** The HTTP path of the WebSocket request. */
  readonly http_path?: string;
}

/** A transport as seen by a session. */
export interface Peer {
  /** The negotiated serializer; null for in-process peers, which pass messages as objects. */
  readonly serializer: Serializer | null;
  /** Details of the transport, for meta events. */
  readonly details: TransportDetails;
  /**
   * Sends one message. Returns the serialized size in bytes (0 for in-process peers, which
   * serialize nothing), {@linkcode TOO_LARGE} when the message exceeds what the other end
   * accepts (RawSocket's negotiated maximum), {@linkcode UNENCODABLE} when the serializer
   * cannot write it, or -1 when the transport is closed or the message was dropped.
   */
  send(message: Message, cache?: EncodeCache): number;
  /** Closes the transport. */
  close(code?: number, reason?: string): void;
  /** Bytes queued for sending and not yet written (0 where unknown). */
  readonly bufferedAmount: number;
  /**
   * The session joined a realm (`true`: its open handshake is complete) or left it while the
   * connection stays open (`false`: the connection is idle again and its idle deadline runs).
   */
  established?(joined: boolean): void;
}

/** {@linkcode Peer.send}'s answer for a message larger than the other end accepts. */
export const TOO_LARGE = -2;
/** {@linkcode Peer.send}'s answer for a message its serializer cannot encode (logged). */
export const UNENCODABLE = -3;

/** What a transport calls on the session it carries. */
export interface PeerHandler {
  /** A validated message arrived; `bytes` is its serialized size (0 for in-process). */
  receive(message: Message, bytes: number): void;
  /** The peer sent something that is not a valid WAMP message. */
  protocolViolation(reason: string): void;
  /** The transport is gone. */
  transportClosed(): void;
  /** The outgoing queue overflowed and the endpoint's policy is `disconnect`. */
  slowConsumer?(queuedBytes: number): void;
  /** An EVENT was dropped because the outgoing queue overflowed (policy `drop`). */
  dropped?(): void;
}

/**
 * The encoding of `message` for `serializer` and its size, taken from `cache` when another
 * receiver already encoded it (and stored there otherwise); null when it cannot be encoded
 * (logged once per message). Shared by every network transport.
 *
 * With `asBytes` (transports that write bytes), JSON text also comes as its UTF-8 bytes
 * (`utf8`), encoded once per fan-out, and its size is their length: no second pass over the
 * text to count its UTF-8 bytes.
 */
export function encodeFor(
  serializer: Serializer,
  message: Message,
  cache: EncodeCache | undefined,
  logger: Logger,
  asBytes = false,
): { payload: Payload; bytes: number; utf8: Uint8Array | null } | null {
  const slot = serializer.index * 2;
  const cached = cache?.[slot] as Payload | null | undefined;
  if (cached === null) return null;
  if (cached !== undefined) {
    const utf8 = asBytes && typeof cached === "string" ? utf8Of(cached, cache) : null;
    return { payload: cached, bytes: cache![slot + 1] as number, utf8 };
  }
  let payload: Payload;
  try {
    payload = serializer.encode(encodeMessage(message));
  } catch (e) {
    if (cache) cache[slot] = null;
    logger.error("cannot encode outgoing message", {
      type: messageName(message.type),
      serializer: serializer.name,
      error: e instanceof Error ? e.message : String(e),
    });
    return null;
  }
  let utf8: Uint8Array | null = null;
  let bytes: number;
  if (asBytes && typeof payload === "string") {
    utf8 = utf8Of(payload, cache);
    bytes = utf8.byteLength;
  } else {
    bytes = serializer.byteLength(payload);
  }
  if (cache) {
    cache[slot] = payload;
    cache[slot + 1] = bytes;
  }
  return { payload, bytes, utf8 };
}

/** The transport peer string Autobahn uses: `tcp4:1.2.3.4:5678`, `tcp6:::1:5678`, `unix:/p`. */
export function peerString(addr: Deno.Addr, host?: string): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const hostname = host ?? addr.hostname;
    const port = host !== undefined && host !== addr.hostname ? 0 : addr.port;
    return `${hostname.includes(":") ? "tcp6" : "tcp4"}:${hostname}:${port}`;
  }
  if (addr.transport === "vsock") return `vsock:${addr.cid}:${addr.port}`;
  return `unix:${(addr as Deno.UnixAddr).path}`;
}
