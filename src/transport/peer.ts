/**
 * The tiny interface between a session and whatever carries its messages (a WebSocket, or an
 * in-process link for embedded clients and the router's own service session).
 *
 * @module
 */

import type { EncodeCache } from "../serializer/encode_cache.ts";
import type { Serializer } from "../serializer/serializer.ts";
import type { Message } from "../wamp/messages.ts";
import type { ConnectionCookie } from "./cookie_store.ts";

export type { EncodeCache };

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
  /** The client's TLS certificate, verified against the endpoint's `ca_certificates`. */
  readonly peer_cert?: PeerCertificate;
}

/** A verified TLS client certificate, as transport details report it (Crossbar's `peer_cert`). */
export interface PeerCertificate {
  /** SHA-1 fingerprint, upper-case hex with colons. */
  readonly sha1: string;
  /** SHA-256 fingerprint, upper-case hex with colons. */
  readonly sha256: string;
  /** Subject and issuer fields (`CN`, `O`, ...). */
  readonly subject: Readonly<Record<string, string>>;
  readonly issuer: Readonly<Record<string, string>>;
  /** Serial number, hex. */
  readonly serial: string;
  /** Validity, as the certificate states it. */
  readonly not_before: string;
  readonly not_after: string;
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
  /** The connection's tracking cookie (cookie authentication); absent or null without one. */
  readonly cookie?: ConnectionCookie | null;
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
