/**
 * The router's open connections: every session it attached to a network peer or opened in
 * process, the EVENTs dropped for slow consumers, and the wait for GOODBYE replies on close.
 * The only writer of the connection set.
 *
 * @module
 */

import { WampClient } from "../client.ts";
import type { Clock } from "../clock.ts";
import { DEFAULT_ENDPOINT } from "../config/config.ts";
import type { WebSocketEndpointConfig } from "../config/types.ts";
import { linkedPeers } from "../transport/local.ts";
import type { Peer, PeerHandler } from "../transport/peer.ts";
import type { Message } from "../wamp/messages.ts";
import { TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import { Session, type SessionHost } from "./session.ts";

/** Options for an in-process session. */
export interface LocalSessionOptions {
  /** Role of the session; default `trusted` (the embedding program is trusted). */
  authrole?: string;
  /** Authid; default `local-<n>`. */
  authid?: string;
}

const NO_AUTH = { anonymous: null, ticket: null, wampcra: null, cryptosign: null } as const;

/** What a network session's handler reports to {@linkcode Connections}. */
interface HandlerOwner {
  /** An EVENT to the session was dropped (slow consumer, policy `drop`). */
  dropped(): void;
  /** The session's transport closed (after the session was told); `release` frees its slot. */
  closed(session: Session, release: () => void): void;
}

/**
 * The transport's handler of one network session. A class, so an idle connection carries one
 * small object instead of five closures (idle memory, issue 14).
 */
class NetworkHandler implements PeerHandler {
  constructor(
    readonly session: Session,
    readonly owner: HandlerOwner,
    readonly bound: WebSocketEndpointConfig["slow_consumer"],
    readonly release: () => void,
  ) {}

  receive(message: Message, bytes: number): void {
    this.session.receive(message, bytes);
  }

  protocolViolation(reason: string): void {
    this.session.protocolViolation(reason);
  }

  dropped(): void {
    this.owner.dropped();
  }

  slowConsumer(queued: number): void {
    const { max_queue_bytes: bytes, max_queue_messages: messages } = this.bound;
    this.session.abort(
      Uri.SLOW_CONSUMER,
      `the session's outgoing queue exceeded its bound (${bytes} bytes or ${messages} messages; ${queued} bytes queued)`,
    );
  }

  transportClosed(): void {
    this.session.transportClosed();
    this.owner.closed(this.session, this.release);
  }
}

/** The sessions of a router's connections, network and in-process. */
export class Connections {
  readonly #sessions = new Set<Session>();
  readonly #host: SessionHost;
  readonly #clock: Clock;
  readonly #closing: () => boolean;
  #localCount = 0;
  #dropped = 0;
  /** Called whenever a network session's transport closes (`waitForGoodbyes` listens). */
  #closed: (() => void) | null = null;

  constructor(host: SessionHost, clock: Clock, closing: () => boolean) {
    this.#host = host;
    this.#clock = clock;
    this.#closing = closing;
  }

  /** EVENTs dropped so far because a subscriber's outgoing queue was full. */
  get droppedEvents(): number {
    return this.#dropped;
  }

  /** Bytes written to the sessions' transports but not yet taken by the network. */
  get queuedBytes(): number {
    let queued = 0;
    for (const s of this.#sessions) queued += s.peer.bufferedAmount;
    return queued;
  }

  /** Creates the session for a network peer and connects the two. */
  attach(
    peer: Peer,
    endpoint: WebSocketEndpointConfig,
    connect: (handler: PeerHandler) => void,
    release: () => void,
  ): void {
    if (this.#closing()) {
      peer.close(1001, "router shutting down");
      return release();
    }
    const session = new Session(
      peer,
      { methods: endpoint.auth, limits: endpoint.auth_limits, cookie: peer.cookie ?? null },
      this.#host,
      { closeTimeoutMs: endpoint.close_handshake_timeout },
    );
    connect(new NetworkHandler(session, this.#owner, endpoint.slow_consumer, release));
    this.#sessions.add(session);
  }

  /** What every network session's handler reports back (one object for all of them). */
  readonly #owner: HandlerOwner = {
    dropped: () => void this.#dropped++,
    closed: (session, release) => {
      this.#sessions.delete(session);
      release();
      this.#closed?.();
    },
  };

  /** An in-process session (a client without a socket), not yet joined. */
  connectLocal(options: LocalSessionOptions, internal: boolean): WampClient {
    const { peer, link, connect } = linkedPeers();
    const authrole = options.authrole ?? TRUSTED_ROLE;
    const authid = options.authid ?? `local-${++this.#localCount}`;
    const session = new Session(
      peer,
      { methods: NO_AUTH, limits: DEFAULT_ENDPOINT.auth_limits, fixed: { authid, authrole } },
      this.#host,
    );
    session.internal = internal;
    const client = new WampClient(link);
    connect({
      receive: (m, b) => session.receive(m, b),
      protocolViolation: (r) => session.protocolViolation(r),
      transportClosed: () => {
        session.transportClosed();
        this.#sessions.delete(session);
      },
    });
    this.#sessions.add(session);
    return client;
  }

  /**
   * Waits up to `graceMs` (on the clock) until no network session is still open, as the
   * clients' GOODBYE replies arrive after a shutdown GOODBYE.
   */
  async waitForGoodbyes(graceMs: number): Promise<void> {
    const waiting = () =>
      [...this.#sessions].some((s) => !s.internal && !s.closed && s.state !== "closed");
    if (!waiting() || graceMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimer(() => {
        this.#closed = null;
        resolve();
      }, graceMs);
      this.#closed = () => {
        if (waiting()) return;
        this.#clock.clearTimer(timer);
        this.#closed = null;
        resolve();
      };
      // replies that arrive as GOODBYE (not a closed transport) are checked on each close
      // and once more here, in case every session already answered
      this.#closed();
    });
  }

  /** Closes every connection's session. */
  closeAll(): void {
    for (const s of [...this.#sessions]) s.close();
    this.#sessions.clear();
  }
}
