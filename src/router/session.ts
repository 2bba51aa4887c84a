/**
 * One connection's WAMP state machine: closed → established → shutting_down → closed.
 * It authenticates HELLO, hands every message of an established session to its realm, and
 * turns protocol violations into ABORT `wamp.error.protocol_violation` plus a close.
 *
 * @module
 */

import { sessionAuthenticated } from "../auth/cookie.ts";
import type { Identity } from "../auth/step.ts";
import type { TimerId } from "../clock.ts";
import type { EncodeCache } from "../serializer/encode_cache.ts";
import { SessionMeter } from "../stats/session_stats.ts";
import { type Peer, type PeerHandler, TOO_LARGE, UNENCODABLE } from "../transport/peer.ts";
import { isDict } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { messageName, MessageType as T } from "../wamp/message_type.ts";
import type { Args, Dict, Hello, Kwargs, Message } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { DEFAULT_CLOSE_HANDSHAKE_TIMEOUT } from "../config/defaults.ts";
import type { RealmConfig } from "../config/types.ts";
import { type AuthPolicy, Handshake, type HandshakeHost } from "./handshake.ts";
import type { Delivery, SendOutcome, SessionRef } from "./session_ref.ts";

export type { AuthPolicy };

/**
 * The traffic hook at the edge between a session and its transport: every message sent
 * (`direction` 1) or received (0), with its serialized size (0 for in-process sessions).
 * `triggersStats` is false for messages that must not trigger a statistics publication (see
 * {@linkcode Delivery}). The router's metrics subscribe to it; so does the session's own
 * statistics meter.
 */
export type TrafficHook = (
  direction: 0 | 1,
  message: Message,
  bytes: number,
  serializerIndex: number,
  triggersStats: boolean,
) => void;

/** Lifecycle of a session on its connection. */
export type SessionState = "closed" | "authenticating" | "established" | "shutting_down";

/** What a session needs of the realm it joins. */
export interface SessionRealm {
  readonly name: string;
  readonly config: RealmConfig;
  /** True when sessions may join with `role`. */
  hasRole(role: string): boolean;
  /** WELCOME.Details.roles. */
  routerRoles(): Dict;
  /** The session was welcomed. */
  join(session: Session): void;
  /** The session leaves (GOODBYE, ABORT, transport loss, kill). */
  leave(session: Session): void;
  /** One message of the established session. */
  dispatch(session: Session, message: Message): void;
}

/** What a session needs from the router that owns it. */
export interface SessionHost extends HandshakeHost {
  /** The realm called `name`, if the router has it. */
  realm(name: string): SessionRealm | undefined;
  /** Called when a session joins (`true`) or leaves (`false`) any realm. */
  track(session: Session, joined: boolean): void;
  /** The router-wide traffic hook (`/metrics`). */
  readonly traffic: TrafficHook;
}

/** Limits of a session's own handshakes. */
export interface SessionLimits {
  /**
   * How long the router waits for the client's GOODBYE reply after its own GOODBYE before it
   * closes the transport (ms).
   */
  readonly closeTimeoutMs: number;
}

const DEFAULT_LIMITS: SessionLimits = { closeTimeoutMs: DEFAULT_CLOSE_HANDSHAKE_TIMEOUT };

/** Details of a session as the session meta API reports them. */
export interface SessionDetails {
  session: number;
  realm: string;
  authid: string;
  authrole: string;
  authmethod: string;
  authprovider: string;
  authextra: Dict;
  serializer: string;
  transport: Dict;
  /** The cluster node the session is joined on (only in a cluster). */
  node?: string;
}

/**
 * The length an ABORT message is cut to when the whole ABORT is larger than the client's
 * transport accepts (its RawSocket maximum is at least 512 bytes).
 */
const ABORT_MESSAGE_FALLBACK = 200;

const CLIENT_ROLES = ["publisher", "subscriber", "caller", "callee"];

/** A connection and the WAMP session it carries. */
export class Session implements PeerHandler, SessionRef {
  /** The WAMP session id while joined, else 0. */
  id = 0;
  state: SessionState = "closed";
  realm: SessionRealm | null = null;
  authid = "";
  authrole = "";
  authmethod = "";
  authprovider = "";
  authextra: Dict = {};
  /** `HELLO.Details.roles` of the client. */
  clientRoles: Dict = {};
  /**
   * Per-connection counters fed by the traffic hook; null for in-process sessions. The realm
   * the session joins reads them for its statistics.
   */
  readonly meter: SessionMeter | null;
  /** True for the router's own service sessions (hidden from the session meta API). */
  internal = false;

  #closed = false;
  /** Armed while a router-initiated GOODBYE waits for the client's reply. */
  #goodbyeTimer: TimerId | null = null;

  constructor(
    readonly peer: Peer,
    readonly auth: AuthPolicy,
    readonly host: SessionHost,
    readonly limits: SessionLimits = DEFAULT_LIMITS,
  ) {
    this.meter = peer.serializer ? new SessionMeter(host.clock, this.serializerName) : null;
  }

  /** The serializer's name (`json.batched` for a batched one), or `local` for in-process ones. */
  get serializerName(): string {
    const s = this.peer.serializer;
    return s ? (s.batched ? `${s.name}.batched` : s.name) : "local";
  }

  /** True when the client announced `feature` for `role` in HELLO. */
  hasFeature(role: string, feature: string): boolean {
    const r = this.clientRoles[role];
    if (!isDict(r)) return false;
    const f = r.features;
    return isDict(f) && f[feature] === true;
  }

  /** The session's details for the meta API. */
  details(): SessionDetails {
    return {
      session: this.id,
      realm: this.realm?.name ?? "",
      authid: this.authid,
      authrole: this.authrole,
      authmethod: this.authmethod,
      authprovider: this.authprovider,
      authextra: this.authextra,
      serializer: this.serializerName,
      transport: { ...this.peer.details },
    };
  }

  /**
   * Sends a message; the traffic hook counts it. Nothing is sent once the session has ended or
   * while it is leaving its realm: what the clean-up would send it (errors for its own calls,
   * meta events about its own subscriptions) must not follow its ABORT or GOODBYE.
   */
  send(message: Message, cache?: EncodeCache, delivery?: Delivery): SendOutcome {
    if (this.#closed || this.#leaving) return "dropped";
    const bytes = this.peer.send(message, cache);
    if (bytes === TOO_LARGE || bytes === UNENCODABLE) {
      const outcome = bytes === TOO_LARGE ? "too_large" : "unencodable";
      this.#undeliverable(message, outcome);
      return outcome;
    }
    if (bytes < 0) return "dropped";
    this.#count(1, message, bytes, delivery?.triggersStats !== false);
    return "sent";
  }

  /** One message through the traffic hook: the router's metrics, then this session's meter. */
  #count(direction: 0 | 1, message: Message, bytes: number, triggersStats: boolean): void {
    this.host.traffic(direction, message, bytes, this.peer.serializer?.index ?? 3, triggersStats);
    if (bytes > 0) this.meter?.count(bytes, triggersStats);
    // the later messages of an incoming batch: their bytes were counted with the first
    else if (bytes === 0 && this.peer.serializer?.batched) {
      this.meter?.count(0, triggersStats, false);
    }
  }

  /**
   * `message` was not sent: it is larger than this session's transport accepts (RawSocket's
   * negotiated maximum), or its payload cannot be written in this session's serializer (an
   * integer beyond 64 bits for MessagePack, a string starting with U+0000 for JSON). Nobody is
   * left waiting for it: an INVOCATION or RESULT is the dealer's (its call ends with the
   * error), an ERROR reply is replaced by one with the error, an EVENT is dropped (the
   * transport logged it), an ABORT goes out without its message, and anything else (a
   * WELCOME, say) ends the session with ABORT.
   */
  #undeliverable(message: Message, outcome: "too_large" | "unencodable"): void {
    const uri = outcome === "too_large" ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.INVALID_ARGUMENT;
    const why = `the ${messageName(message.type)} ${
      outcome === "too_large"
        ? "is larger than the maximum message length this client's transport accepts"
        : `cannot be encoded in ${this.peer.serializer?.name}`
    }`;
    switch (message.type) {
      case T.INVOCATION:
      case T.RESULT:
        return; // the dealer ends the call (see Dealer)
      case T.ERROR:
        if (message.error !== uri) this.sendError(message.requestType, message.request, uri, [why]);
        return;
      case T.EVENT: // dropped, like a slow consumer's
        return;
      case T.ABORT: {
        // the reason goes out in any case; its message, shortened to fit if it can
        const text = message.details.message;
        if (typeof text === "string" && text.length > ABORT_MESSAGE_FALLBACK) {
          let cut = ABORT_MESSAGE_FALLBACK - 1;
          if ((text.charCodeAt(cut - 1) & 0xfc00) === 0xd800) cut--; // not half a surrogate pair
          const short = `${text.slice(0, cut)}…`;
          this.send({ type: T.ABORT, details: { message: short }, reason: message.reason });
        } else if (Object.keys(message.details).length > 0) {
          this.send({ type: T.ABORT, details: {}, reason: message.reason });
        }
        return;
      }
      default:
        this.abort(uri, why);
    }
  }

  /** Sends ERROR for a request of this session. */
  sendError(requestType: number, request: number, error: string, args?: Args, kwargs?: Kwargs) {
    const msg: Message = { type: T.ERROR, requestType, request, details: {}, error };
    if (args) msg.args = args;
    if (kwargs) msg.kwargs = kwargs;
    this.send(msg);
  }

  // ---- PeerHandler -------------------------------------------------------------------

  receive(message: Message, bytes: number): void {
    if (this.#closed) return;
    if (this.meter && message.type === T.HELLO && this.state === "closed") {
      const stats = message.realm === null
        ? undefined
        : this.host.realm(message.realm)?.config.stats;
      if (stats) this.meter.setRatedMessageSize(stats.rated_message_size);
    }
    this.#count(0, message, bytes, true);
    try {
      this.#dispatch(message);
    } catch (e) {
      if (e instanceof ProtocolError) return this.protocolViolation(e.message);
      // A bug must never take the router down or leak into other sessions: log it and end
      // only this session.
      this.host.logger.error("internal error while handling a message", {
        session: this.id,
        type: messageName(message.type),
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
      this.abort(Uri.RUNTIME_ERROR, "internal router error while handling the message");
    }
  }

  protocolViolation(reason: string): void {
    if (this.#closed) return;
    this.abort(Uri.PROTOCOL_VIOLATION, reason);
  }

  transportClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearGoodbyeTimer();
    this.#clearPendingAuth();
    this.#leaveRealm();
    this.state = "closed";
  }

  // ---- lifecycle ---------------------------------------------------------------------

  /** Sends ABORT, ends the session and closes the transport. */
  abort(reason: string, message: string): void {
    if (this.#closed) return;
    this.host.logger.info("session aborted", { session: this.id, reason, detail: message });
    this.send({ type: T.ABORT, details: { message }, reason });
    // Closed before the clean-up, so nothing it causes is sent after the ABORT.
    this.#closed = true;
    this.state = "closed";
    this.#clearGoodbyeTimer();
    this.#clearPendingAuth();
    this.#leaveRealm();
    this.peer.close(1000, reason.slice(0, 120));
  }

  /**
   * Router-initiated end of the session (kill, realm close, shutdown): GOODBYE with `reason`,
   * then the session leaves its realm at once and waits for the client's GOODBYE.
   */
  goodbye(reason: string, message?: string): void {
    if (this.#closed || this.state !== "established") return;
    // The state changes before sending: over an in-process link the client's GOODBYE reply
    // arrives inside send(). Leaving after sending puts our GOODBYE in the final stats.
    this.state = "shutting_down";
    this.send({ type: T.GOODBYE, details: message ? { message } : {}, reason });
    this.#leaveRealm();
    if (this.#closed || this.state !== "shutting_down") return;
    // a client that never answers does not keep its connection
    this.#goodbyeTimer = this.host.clock.setTimer(() => {
      this.#goodbyeTimer = null;
      if (this.state !== "shutting_down") return;
      this.host.logger.info("no GOODBYE reply; closing the connection", {
        timeout_ms: this.limits.closeTimeoutMs,
      });
      this.close();
    }, this.limits.closeTimeoutMs);
  }

  #clearGoodbyeTimer(): void {
    if (this.#goodbyeTimer !== null) this.host.clock.clearTimer(this.#goodbyeTimer);
    this.#goodbyeTimer = null;
  }

  /** Closes the transport without any WAMP message. */
  close(): void {
    if (this.#closed) return;
    this.transportClosed();
    this.peer.close(1000, "closed");
  }

  get closed(): boolean {
    return this.#closed;
  }

  #dispatch(msg: Message): void {
    switch (this.state) {
      case "closed":
        if (msg.type === T.HELLO) return this.#hello(msg);
        if (msg.type === T.ABORT) return this.#clientAbort(msg);
        throw new ProtocolError(`${messageName(msg.type)} received before HELLO`);
      case "authenticating":
        if (msg.type === T.AUTHENTICATE && this.#handshake?.challenged) {
          return this.#handshake.answer(msg);
        }
        if (msg.type === T.ABORT) return this.#clientAbort(msg);
        throw new ProtocolError(`${messageName(msg.type)} received while authenticating`);
      case "established":
        switch (msg.type) {
          case T.HELLO:
            throw new ProtocolError("HELLO received on an established session");
          case T.GOODBYE:
            // logging out ends what the connection's cookie authenticates (Crossbar's rule)
            if (msg.reason === Uri.LOGOUT) this.auth.cookie?.logout();
            this.send({ type: T.GOODBYE, details: {}, reason: Uri.GOODBYE_AND_OUT });
            this.#leaveRealm();
            this.state = "closed";
            this.peer.established?.(false);
            return;
          case T.ABORT:
            return this.#clientAbort(msg);
          default:
            return this.realm!.dispatch(this, msg);
        }
      case "shutting_down":
        // We sent GOODBYE; the client's GOODBYE completes the closing handshake.
        if (msg.type === T.GOODBYE || msg.type === T.ABORT) {
          this.state = "closed";
          this.#clearGoodbyeTimer();
          this.peer.established?.(false);
        }
        return;
    }
  }

  #hello(msg: Hello): void {
    const roles = msg.details.roles;
    if (!isDict(roles) || !CLIENT_ROLES.some((r) => isDict(roles[r]))) {
      throw new ProtocolError(
        "HELLO.Details.roles must announce at least one of publisher, subscriber, caller, callee",
      );
    }
    const methods = msg.details.authmethods ?? ["anonymous"];
    if (!Array.isArray(methods) || methods.some((m) => typeof m !== "string")) {
      throw new ProtocolError("HELLO.Details.authmethods must be a list of strings");
    }
    // A HELLO without a realm leaves it to authentication (a principal's `realm`, a dynamic
    // authenticator's answer): the realm is decided once the identity is known.
    const realm = msg.realm === null ? null : this.host.realm(msg.realm);
    if (realm === undefined) {
      this.abort(Uri.NO_SUCH_REALM, `no realm named "${msg.realm}" exists on this router`);
      return;
    }
    if (this.auth.fixed) {
      if (!realm) return this.abort(Uri.NO_SUCH_REALM, "no realm requested");
      this.#welcome(realm, roles, {
        authid: this.auth.fixed.authid,
        authrole: this.auth.fixed.authrole,
        authmethod: "trusted",
        authprovider: "programcode",
        authextra: {},
      });
      return;
    }
    this.state = "authenticating";
    const handshake = new Handshake({
      host: this.host,
      auth: this.auth,
      transport: this.peer.details,
      authenticating: () => this.state === "authenticating" && !this.#closed,
      send: (m) => this.send(m),
      abort: (reason, message) => this.abort(reason, message),
      welcome: (identity, id) => this.#assignedWelcome(msg.realm, identity, roles, id),
    }, msg);
    this.#handshake = handshake;
    handshake.start();
  }

  /** The authentication of the HELLO in progress. */
  #handshake: Handshake | null = null;

  /** Ends the authentication handshake in progress, if any. */
  #clearPendingAuth(): void {
    this.#handshake?.end();
    this.#handshake = null;
  }

  /**
   * WELCOME into the realm authentication decided: the identity's assigned realm, else the one
   * HELLO named. Each method refuses a principal assigned to another realm than HELLO names
   * (like a wrong secret); this checks it again, so no method can move a session elsewhere.
   */
  #assignedWelcome(requested: string | null, identity: Identity, roles: Dict, id: number): void {
    const assigned = identity.realm ?? null;
    if (requested !== null && assigned !== null && assigned !== requested) {
      this.host.logger.error("authentication assigned another realm than HELLO named", {
        requested,
        assigned,
        authid: identity.authid,
        authmethod: identity.authmethod,
      });
      return this.abort(Uri.NOT_AUTHORIZED, "authentication failed");
    }
    const name = assigned ?? requested;
    if (name === null) {
      return this.abort(
        Uri.NO_SUCH_REALM,
        "no realm requested, and authentication assigned none",
      );
    }
    const realm = this.host.realm(name);
    if (!realm) {
      return this.abort(Uri.NO_SUCH_REALM, `no realm named "${name}" exists on this router`);
    }
    this.#welcome(realm, roles, identity, id);
  }

  #welcome(
    realm: SessionRealm,
    roles: Dict,
    identity: Identity,
    id = this.host.newSessionId(),
  ): void {
    if (!realm.hasRole(identity.authrole)) {
      this.abort(
        Uri.NO_SUCH_ROLE,
        `role "${identity.authrole}" is not defined on realm "${realm.name}"`,
      );
      return;
    }
    this.authid = identity.authid;
    this.authrole = identity.authrole;
    this.authmethod = identity.authmethod;
    this.authprovider = identity.authprovider;
    this.authextra = identity.authextra;
    this.clientRoles = roles;
    this.id = id;
    this.realm = realm;
    this.state = "established";
    // the handshake is settled: an idle session need not keep it (and its callbacks) alive
    this.#handshake = null;
    this.meter?.beginSession();
    this.send({
      type: T.WELCOME,
      session: this.id,
      details: {
        realm: realm.name,
        authid: this.authid,
        authrole: this.authrole,
        authmethod: this.authmethod,
        authprovider: this.authprovider,
        authextra: this.authextra,
        roles: realm.routerRoles(),
        agent: "Switchboard",
      },
    });
    // A WELCOME the transport could not carry has ended the session already.
    if (this.#closed) return;
    sessionAuthenticated(this.auth.cookie, identity, realm.name);
    this.peer.established?.(true);
    this.host.track(this, true);
    realm.join(this);
  }

  #clientAbort(msg: Message & { type: typeof T.ABORT }): void {
    this.host.logger.info("session aborted by the client", {
      session: this.id,
      reason: msg.reason,
      detail: typeof msg.details.message === "string" ? msg.details.message : undefined,
    });
    this.#leaveRealm();
    this.close();
  }

  /** True while the session is leaving its realm (see {@linkcode Session.send}). */
  #leaving = false;

  #leaveRealm(): void {
    const realm = this.realm;
    if (!realm) return;
    this.realm = null;
    this.#leaving = true;
    try {
      realm.leave(this);
    } finally {
      this.#leaving = false;
    }
    this.host.track(this, false);
    this.id = 0;
  }
}
