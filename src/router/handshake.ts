/**
 * The authentication handshake of one HELLO: the failure limiter's turn (with its delay), the
 * method's CHALLENGE and its timeout, the check of AUTHENTICATE, and the attempt's outcome for
 * the limiter. It ends with a WELCOME identity or an ABORT, which the session sends.
 *
 * @module
 */

import { authenticate, limitedSubject } from "../auth/authenticator.ts";
import type { AuthenticatorCall } from "../auth/dynamic.ts";
import { type Attempt, type FailureLimiter, limiterKey } from "../auth/failure_limiter.ts";
import type { AuthStep, Identity } from "../auth/step.ts";
import type { Clock, TimerId } from "../clock.ts";
import type { AuthConfig, AuthLimits } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { ConnectionCookie } from "../transport/cookie_store.ts";
import type { TransportDetails } from "../transport/peer.ts";
import type { Authenticate, Hello, Message } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";

/** How a connection may authenticate. */
export interface AuthPolicy {
  /** The endpoint's authentication methods. */
  readonly methods: AuthConfig;
  /** Handshake limits (challenge timeout, failure rate limit). */
  readonly limits: AuthLimits;
  /** For in-process sessions only: the identity to take without negotiation. */
  readonly fixed?: { readonly authid: string; readonly authrole: string } | null;
  /** The connection's tracking cookie (cookie authentication), if it has one. */
  readonly cookie?: ConnectionCookie | null;
}

/** What a handshake needs from the router. */
export interface HandshakeHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** A fresh global session id, unique among the router's sessions. */
  newSessionId(): number;
  /** Failed authentications per remote address and authid. */
  readonly authFailures: FailureLimiter;
  /** Calls a dynamic authenticator procedure (via the realm's service session). */
  readonly callAuthenticator: AuthenticatorCall;
}

/** The session side of a handshake. */
export interface HandshakeSession {
  readonly host: HandshakeHost;
  readonly auth: AuthPolicy;
  /** The transport's details (`peer` is the remote address). */
  readonly transport: TransportDetails;
  /** True while the session still waits for this handshake's outcome. */
  authenticating(): boolean;
  send(message: Message): void;
  abort(reason: string, message: string): void;
  /** The handshake succeeded: the session joins with `identity` and id `sessionId`. */
  welcome(identity: Identity, sessionId: number): void;
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

/** One HELLO's authentication, from the limiter's turn to WELCOME or ABORT. */
export class Handshake {
  #pending: { timer: TimerId; answer(msg: Authenticate): void } | null = null;
  /** This connection's attempt while the failure limiter holds its slot. */
  #attempt: Attempt | null = null;
  /** The wait for the attempt's slot, before anything is authenticated. */
  #holdTimer: TimerId | null = null;
  /** True while an AUTHENTICATE is being checked. */
  #verifying = false;

  constructor(readonly session: HandshakeSession, readonly hello: Hello) {}

  get #host(): HandshakeHost {
    return this.session.host;
  }

  /** Takes the failure limiter's turn (waiting if it says so), then authenticates. */
  start(): void {
    const { session, hello } = this;
    const subject = limitedSubject(hello, session.auth.methods, session.auth.cookie);
    if (subject !== null) {
      const limits = session.auth.limits;
      const slot = this.#host.authFailures.reserve(
        limiterKey(remoteAddress(session.transport.peer), subject),
        {
          maxFailures: limits.max_failures,
          windowMs: limits.failure_window * 1000,
          maxDelayMs: limits.max_delay * 1000,
          // the wait comes before the CHALLENGE: at most auth_max_delay, so that the client
          // still has time to answer within the open handshake timeout
          maxWaitMs: limits.max_delay * 1000,
        },
        this.#host.clock.nowMs(),
      );
      if (!slot.ok) return session.abort(Uri.NOT_AUTHORIZED, retryLater(slot.retryAfterMs));
      this.#attempt = slot.attempt;
      if (slot.attempt.waitMs > 0) {
        this.#holdTimer = this.#host.clock.setTimer(() => {
          this.#holdTimer = null;
          if (session.authenticating()) this.#authenticate();
        }, slot.attempt.waitMs);
        return;
      }
    }
    this.#authenticate();
  }

  /** True while a CHALLENGE waits for its AUTHENTICATE. */
  get challenged(): boolean {
    return this.#pending !== null;
  }

  /** The client's AUTHENTICATE to the pending CHALLENGE. */
  answer(msg: Authenticate): void {
    this.#pending?.answer(msg);
  }

  /**
   * Ends the handshake (timers cleared). An attempt that ends here without a verified
   * AUTHENTICATE (the connection closed, the challenge timed out, a protocol violation) is one
   * failure; one being checked is settled by its check.
   */
  end(): void {
    if (this.#pending) this.#host.clock.clearTimer(this.#pending.timer);
    this.#pending = null;
    if (this.#holdTimer !== null) this.#host.clock.clearTimer(this.#holdTimer);
    this.#holdTimer = null;
    if (!this.#verifying) this.#settle("failure");
  }

  /** Authenticates HELLO (once the failure limiter gave the attempt its turn). */
  #authenticate(): void {
    const sessionId = this.#host.newSessionId();
    this.#noteUnboundChannel();
    const step = authenticate(
      this.hello,
      this.session.auth.methods,
      sessionId,
      this.#host.callAuthenticator,
      { ...this.session.transport },
      { clock: this.#host.clock, cookie: this.session.auth.cookie },
    );
    if (step instanceof Promise) {
      step.then((s) => {
        if (this.session.authenticating()) this.#step(s, sessionId);
      }, (e) => this.#internalError(e, "HELLO"));
      return;
    }
    this.#step(step, sessionId);
  }

  /**
   * A HELLO asking for `tls-unique` channel binding on a transport without TLS: there is no
   * channel to bind to, so cryptosign and scram proceed without binding (as Crossbar does); a
   * debug line says so.
   */
  #noteUnboundChannel(): void {
    const extra = this.hello.details.authextra;
    if (typeof extra !== "object" || extra === null) return;
    const binding = (extra as Record<string, unknown>).channel_binding;
    if (binding !== "tls-unique" || this.session.transport.is_secure === true) return;
    this.#host.logger.debug(
      "channel binding requested on a transport without TLS: authenticating without binding",
      { binding, peer: this.session.transport.peer },
    );
  }

  #step(step: AuthStep, sessionId: number): void {
    const session = this.session;
    const limits = session.auth.limits;
    if (step.kind === "abort") {
      this.#settle(failureReason(step.reason) ? "failure" : "neutral");
      return session.abort(step.reason, step.message);
    }
    if (step.kind === "welcome") {
      this.#settle("success");
      return session.welcome(step.identity, sessionId);
    }
    session.send({ type: T.CHALLENGE, authmethod: step.authmethod, extra: step.extra });
    if (!session.authenticating()) return; // a CHALLENGE the transport could not carry
    const timer = this.#host.clock.setTimer(() => {
      this.#pending = null;
      if (session.authenticating()) {
        // the clean-up counts the unanswered challenge as a failed attempt
        session.abort(
          Uri.TIMEOUT,
          `no AUTHENTICATE within ${limits.challenge_timeout} s of the CHALLENGE`,
        );
      }
    }, limits.challenge_timeout * 1000);
    this.#pending = {
      timer,
      answer: (auth: Authenticate) => {
        this.#host.clock.clearTimer(timer);
        this.#pending = null;
        // settled when the check is done, even if the connection is gone by then
        this.#verifying = true;
        step.verify(auth).then((identity) => {
          this.#verifying = false;
          const f = step.failure;
          this.#settle(
            identity ? "success" : f && !failureReason(f.reason) ? "neutral" : "failure",
          );
          if (!session.authenticating()) return;
          if (!identity) {
            if (f && f.reason !== Uri.NOT_AUTHORIZED) return session.abort(f.reason, f.message);
            return session.abort(Uri.NOT_AUTHORIZED, f?.message ?? "authentication failed");
          }
          session.welcome(identity, sessionId);
        }, (e) => {
          this.#verifying = false;
          this.#internalError(e, "AUTHENTICATE");
        });
      },
    };
  }

  /** Settles this connection's attempt with the failure limiter (once). */
  #settle(outcome: "success" | "failure" | "neutral"): void {
    const attempt = this.#attempt;
    if (!attempt) return;
    this.#attempt = null;
    if (outcome === "success") attempt.succeed();
    else if (outcome === "failure") attempt.fail(this.#host.clock.nowMs());
    else attempt.cancel();
  }

  #internalError(e: unknown, what: string): void {
    this.#settle("neutral");
    this.#host.logger.error("internal error while authenticating", {
      what,
      error: e instanceof Error ? (e.stack ?? e.message) : String(e),
    });
    this.session.abort(Uri.RUNTIME_ERROR, "internal router error during authentication");
  }
}
