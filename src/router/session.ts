/**
 * One connection's WAMP state machine: closed → established → shutting_down → closed.
 * It authenticates HELLO, hands every message of an established session to its realm, and
 * turns protocol violations into ABORT `wamp.error.protocol_violation` plus a close.
 *
 * @module
 */

import { authenticate, limitedSubject } from "../auth/authenticator.ts";
import type { AuthenticatorCall } from "../auth/dynamic.ts";
import { type Attempt, type FailureLimiter, limiterKey } from "../auth/failure_limiter.ts";
import type { AuthStep, Identity } from "../auth/step.ts";
import type { Clock, TimerId } from "../clock.ts";
import type { RouterMetrics } from "../metrics.ts";
import type { AuthConfig, AuthLimits } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { SessionMeter } from "../stats/session_stats.ts";
import type { StatsTracker } from "../stats/session_stats.ts";
import {
  type EncodeCache,
  type Peer,
  type PeerHandler,
  TOO_LARGE,
  UNENCODABLE,
} from "../transport/peer.ts";
import { isDict } from "../wamp/codec.ts";
import { ProtocolError } from "../wamp/errors.ts";
import { SequentialIds } from "../wamp/ids.ts";
import { messageName, MessageType as T } from "../wamp/message_type.ts";
import type { Args, Authenticate, Dict, Hello, Kwargs, Message } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import type { PendingCall, Registration } from "./dealer.ts";
import type { Subscription } from "./broker.ts";
import type { Realm } from "./realm.ts";

/** A publication to make when the session ends. */
export interface Testament {
  readonly topic: string;
  readonly args?: Args;
  readonly kwargs?: Kwargs;
  readonly options: Dict;
}

/** Lifecycle of a session on its connection. */
export type SessionState = "closed" | "authenticating" | "established" | "shutting_down";

/** What a session needs from the router that owns it. */
export interface SessionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The realm called `name`, if the router has it. */
  realm(name: string): Realm | undefined;
  /** A fresh global session id, unique among the router's sessions. */
  newSessionId(): number;
  /** Called when a session joins (`true`) or leaves (`false`) any realm. */
  track(session: Session, joined: boolean): void;
  /** Failed authentications per remote address and authid. */
  readonly authFailures: FailureLimiter;
  /** Calls a dynamic authenticator procedure (via the realm's service session). */
  readonly callAuthenticator: AuthenticatorCall;
  /** Router-wide counters (`/metrics`). */
  readonly metrics: RouterMetrics;
}

/** How a connection may authenticate. */
export interface AuthPolicy {
  /** The endpoint's authentication methods. */
  readonly methods: AuthConfig;
  /** Handshake limits (challenge timeout, failure rate limit). */
  readonly limits: AuthLimits;
  /** For in-process sessions only: the identity to take without negotiation. */
  readonly fixed?: { readonly authid: string; readonly authrole: string } | null;
}

/** The ABORT message of an attempt refused by the failure limiter. */
function retryLater(retryAfterMs: number): string {
  return "too many failed authentication attempts for this authid from this address; " +
    `retry later (in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s)`;
}

/**
 * Whether a HELLO that ends with ABORT `reason` counts as a failed attempt: everything but
 * the router's own trouble (an authenticator missing or broken, an internal error).
 */
function failureReason(reason: string): boolean {
  return reason !== Uri.AUTHENTICATION_FAILED && reason !== Uri.RUNTIME_ERROR;
}

/** The address part of `tcp4:1.2.3.4:5678` (failures are counted per address, not per port). */
function remoteAddress(peer: string): string {
  const i = peer.lastIndexOf(":");
  return i > 0 ? peer.slice(0, i) : peer;
}

/** Limits of a session's own handshakes. */
export interface SessionLimits {
  /**
   * How long the router waits for the client's GOODBYE reply after its own GOODBYE before it
   * closes the transport (ms).
   */
  readonly closeTimeoutMs: number;
}

const DEFAULT_LIMITS: SessionLimits = { closeTimeoutMs: 5000 };

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
}

const CLIENT_ROLES = ["publisher", "subscriber", "caller", "callee"];

let quietCounting = false;

/**
 * Runs `fn` with statistics triggers suspended: messages sent meanwhile are counted, but do
 * not fire a stats publication by themselves (used while delivering `wamp.session.on_stats`).
 */
export function withoutStatsTriggers(fn: () => void): void {
  const outer = quietCounting;
  quietCounting = true;
  try {
    fn();
  } finally {
    quietCounting = outer;
  }
}

/** A connection and the WAMP session it carries. */
export class Session implements PeerHandler {
  /** The WAMP session id while joined, else 0. */
  id = 0;
  state: SessionState = "closed";
  realm: Realm | null = null;
  authid = "";
  authrole = "";
  authmethod = "";
  authprovider = "";
  authextra: Dict = {};
  /** `HELLO.Details.roles` of the client. */
  clientRoles: Dict = {};
  /** Per-connection counters fed at the serializer boundary; null for in-process sessions. */
  readonly meter: SessionMeter | null;
  /** The session's statistics tracker while joined to a realm with `stats`. */
  stats: StatsTracker | null = null;
  /** True for the router's own service sessions (hidden from the session meta API). */
  internal = false;

  /** Subscriptions this session holds (maintained by the broker). */
  readonly subscriptions: Set<Subscription> = new Set();
  /** Registrations this session holds (maintained by the dealer). */
  readonly registrations: Set<Registration> = new Set();
  /** Calls this session made that are still open, by CALL request id (dealer). */
  readonly callsAsCaller: Map<number, PendingCall> = new Map();
  /** Invocations sent to this session that are still open, by INVOCATION id (dealer). */
  readonly callsAsCallee: Map<number, PendingCall> = new Map();
  /** Testaments (`wamp.session.add_testament`), published when the session ends. */
  readonly testaments: { detached: Testament[]; destroyed: Testament[] } = {
    detached: [],
    destroyed: [],
  };
  /** Messages waiting for a dynamic authorizer are handled in order on this chain. */
  authzChain: Promise<void> | null = null;
  /** Authorizer decisions the authorizer asked to cache, by `action uri`. */
  readonly authzCache: Map<string, { allowed: boolean; disclose: boolean }> = new Map();
  /** Router → callee INVOCATION ids (session scope). */
  readonly invocationIds: SequentialIds = new SequentialIds();

  #closed = false;
  /** Armed while a router-initiated GOODBYE waits for the client's reply. */
  #goodbyeTimer: TimerId | null = null;

  constructor(
    readonly peer: Peer,
    readonly auth: AuthPolicy,
    readonly host: SessionHost,
    readonly limits: SessionLimits = DEFAULT_LIMITS,
  ) {
    this.meter = peer.serializer ? new SessionMeter(host.clock, peer.serializer.name) : null;
  }

  /** The serializer's name, or `local` for in-process sessions. */
  get serializerName(): string {
    return this.peer.serializer?.name ?? "local";
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
   * Sends a message, counting it at the serializer boundary. Returns false if it was not sent.
   * Nothing is sent once the session has ended or while it is leaving its realm: what the
   * clean-up would send it (errors for its own calls, meta events about its own
   * subscriptions) must not follow its ABORT or GOODBYE.
   */
  send(message: Message, cache?: EncodeCache): boolean {
    if (this.#closed || this.#leaving) return false;
    const bytes = this.peer.send(message, cache);
    if (bytes === TOO_LARGE) {
      this.#undeliverable(
        message,
        Uri.PAYLOAD_SIZE_EXCEEDED,
        "is larger than the maximum message length this client's transport accepts",
      );
    } else if (bytes === UNENCODABLE) {
      this.#undeliverable(
        message,
        Uri.INVALID_ARGUMENT,
        `cannot be encoded in ${this.peer.serializer?.name}`,
      );
    }
    if (bytes < 0) return false;
    const metrics = this.host.metrics;
    metrics.count(1, this.peer.serializer?.index ?? 3, message.type, bytes);
    if (message.type === T.ERROR) metrics.error(message.error);
    else if (message.type === T.ABORT) metrics.abort(message.reason);
    const meter = this.meter;
    if (bytes > 0 && meter) {
      if (quietCounting && meter.onCounted) {
        const hook = meter.onCounted;
        meter.onCounted = null;
        meter.count(bytes);
        meter.onCounted = hook;
      } else {
        meter.count(bytes);
      }
    }
    return true;
  }

  /**
   * `message` was not sent: it is larger than this session's transport accepts (RawSocket's
   * negotiated maximum), or its payload cannot be written in this session's serializer (an
   * integer beyond 64 bits for MessagePack, a string starting with U+0000 for JSON). Nobody is
   * left waiting for it: a call whose RESULT or INVOCATION it was ends with ERROR `uri` to the
   * caller, an ERROR reply is replaced by one with `uri`, an EVENT is dropped (the transport
   * logged it), an ABORT goes out without its message, and anything else (a WELCOME, say) ends
   * the session with ABORT `uri`.
   */
  #undeliverable(message: Message, uri: string, problem: string): void {
    const why = `the ${messageName(message.type)} ${problem}`;
    switch (message.type) {
      case T.INVOCATION:
      case T.RESULT:
        this.realm?.dealer.undeliverable(this, message, uri, why);
        return;
      case T.ERROR:
        if (message.error !== uri) this.sendError(message.requestType, message.request, uri, [why]);
        return;
      case T.EVENT: // dropped, like a slow consumer's
        return;
      case T.ABORT:
        if (Object.keys(message.details).length > 0) {
          this.send({ type: T.ABORT, details: {}, reason: message.reason });
        }
        return;
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
    this.host.metrics.count(0, this.peer.serializer?.index ?? 3, message.type, bytes);
    if (bytes > 0 && this.meter) {
      if (message.type === T.HELLO && this.state === "closed") {
        const stats = this.host.realm(message.realm)?.config.stats;
        if (stats) this.meter.setRatedMessageSize(stats.rated_message_size);
      }
      this.meter.count(bytes);
    }
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
        if (msg.type === T.AUTHENTICATE && this.#pendingAuth) return this.#pendingAuth.answer(msg);
        if (msg.type === T.ABORT) return this.#clientAbort(msg);
        throw new ProtocolError(`${messageName(msg.type)} received while authenticating`);
      case "established":
        switch (msg.type) {
          case T.HELLO:
            throw new ProtocolError("HELLO received on an established session");
          case T.GOODBYE:
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
    const realm = this.host.realm(msg.realm);
    if (!realm) {
      this.abort(Uri.NO_SUCH_REALM, `no realm named "${msg.realm}" exists on this router`);
      return;
    }
    if (this.auth.fixed) {
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
    const subject = limitedSubject(msg, this.auth.methods);
    if (subject !== null) {
      const limits = this.auth.limits;
      const slot = this.host.authFailures.reserve(
        limiterKey(remoteAddress(this.peer.details.peer), subject),
        {
          maxFailures: limits.max_failures,
          windowMs: limits.failure_window * 1000,
          maxDelayMs: limits.max_delay * 1000,
          // the wait comes before the CHALLENGE: at most auth_max_delay, so that the client
          // still has time to answer within the open handshake timeout
          maxWaitMs: limits.max_delay * 1000,
        },
        this.host.clock.nowMs(),
      );
      if (!slot.ok) return this.abort(Uri.NOT_AUTHORIZED, retryLater(slot.retryAfterMs));
      this.#attempt = slot.attempt;
      if (slot.attempt.waitMs > 0) {
        this.#holdTimer = this.host.clock.setTimer(() => {
          this.#holdTimer = null;
          if (!this.#closed && this.state === "authenticating") this.#startAuth(msg, realm, roles);
        }, slot.attempt.waitMs);
        return;
      }
    }
    this.#startAuth(msg, realm, roles);
  }

  /** Authenticates HELLO (once the failure limiter gave the attempt its turn). */
  #startAuth(msg: Hello, realm: Realm, roles: Dict): void {
    const sessionId = this.host.newSessionId();
    const step = authenticate(
      msg,
      this.auth.methods,
      sessionId,
      this.host.callAuthenticator,
      { ...this.peer.details },
      { clock: this.host.clock },
    );
    if (step instanceof Promise) {
      step.then((s) => {
        if (!this.#closed && this.state === "authenticating") {
          this.#authStep(realm, roles, s, sessionId);
        }
      }, (e) => this.#internalError(e, "HELLO"));
      return;
    }
    this.#authStep(realm, roles, step, sessionId);
  }

  #authStep(realm: Realm, roles: Dict, step: AuthStep, sessionId: number): void {
    const limits = this.auth.limits;
    if (step.kind === "abort") {
      this.#settleAttempt(failureReason(step.reason) ? "failure" : "neutral");
      return this.abort(step.reason, step.message);
    }
    if (step.kind === "welcome") {
      this.#settleAttempt("success");
      return this.#welcome(realm, roles, step.identity, sessionId);
    }
    this.send({ type: T.CHALLENGE, authmethod: step.authmethod, extra: step.extra });
    if (this.#closed) return; // a CHALLENGE the transport could not carry ended the session
    const timer = this.host.clock.setTimer(() => {
      this.#pendingAuth = null;
      if (this.state === "authenticating") {
        // the clean-up counts the unanswered challenge as a failed attempt
        this.abort(
          Uri.TIMEOUT,
          `no AUTHENTICATE within ${limits.challenge_timeout} s of the CHALLENGE`,
        );
      }
    }, limits.challenge_timeout * 1000);
    this.#pendingAuth = {
      timer,
      answer: (auth: Authenticate) => {
        this.host.clock.clearTimer(timer);
        this.#pendingAuth = null;
        // settled when the check is done, even if the connection is gone by then
        this.#verifying = true;
        step.verify(auth).then((identity) => {
          this.#verifying = false;
          const f = step.failure;
          this.#settleAttempt(
            identity ? "success" : f && !failureReason(f.reason) ? "neutral" : "failure",
          );
          if (this.#closed || this.state !== "authenticating") return;
          if (!identity) {
            if (f && f.reason !== Uri.NOT_AUTHORIZED) return this.abort(f.reason, f.message);
            return this.abort(Uri.NOT_AUTHORIZED, f?.message ?? "authentication failed");
          }
          this.#welcome(realm, roles, identity, sessionId);
        }, (e) => {
          this.#verifying = false;
          this.#internalError(e, "AUTHENTICATE");
        });
      },
    };
  }

  #pendingAuth: { timer: TimerId; answer(msg: Authenticate): void } | null = null;
  /** This connection's authentication attempt while the failure limiter holds its slot. */
  #attempt: Attempt | null = null;
  /** The wait for the attempt's slot, before anything is authenticated. */
  #holdTimer: TimerId | null = null;
  /** True while an AUTHENTICATE is being checked. */
  #verifying = false;

  /** Settles this connection's attempt with the failure limiter (once). */
  #settleAttempt(outcome: "success" | "failure" | "neutral"): void {
    const attempt = this.#attempt;
    if (!attempt) return;
    this.#attempt = null;
    if (outcome === "success") attempt.succeed();
    else if (outcome === "failure") attempt.fail(this.host.clock.nowMs());
    else attempt.cancel();
  }

  /**
   * Ends the authentication handshake (timers cleared). An attempt that ends here without a
   * verified AUTHENTICATE (the connection closed, the challenge timed out, a protocol
   * violation) is one failure; one being checked is settled by its check.
   */
  #clearPendingAuth(): void {
    if (this.#pendingAuth) this.host.clock.clearTimer(this.#pendingAuth.timer);
    this.#pendingAuth = null;
    if (this.#holdTimer !== null) this.host.clock.clearTimer(this.#holdTimer);
    this.#holdTimer = null;
    if (!this.#verifying) this.#settleAttempt("failure");
  }

  #internalError(e: unknown, what: string): void {
    this.#settleAttempt("neutral");
    this.host.logger.error("internal error while authenticating", {
      what,
      error: e instanceof Error ? (e.stack ?? e.message) : String(e),
    });
    this.abort(Uri.RUNTIME_ERROR, "internal router error during authentication");
  }

  #welcome(realm: Realm, roles: Dict, identity: Identity, id = this.host.newSessionId()): void {
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
