/**
 * Remote procedure calls for one realm: registrations keyed by (procedure, match) with shared
 * invocation policies, CALL → INVOCATION → YIELD/ERROR → RESULT/ERROR routing, progressive
 * results, cancelation, dealer-side timeouts, call re-routing (`callee_choice.ts`) and cleanup
 * when callers or callees leave. In a
 * cluster, callees of other nodes sit in the registrations as `RemoteSessionRef`s: a call the
 * policy gives to one is forwarded to its node, which runs it (dealer_types.ts).
 *
 * @module
 */

import { type Clock, MAX_TIMER_MS } from "../clock.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { SequentialIds } from "../wamp/ids.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type {
  Args,
  Call,
  Cancel,
  Dict,
  ErrorMessage,
  Invocation,
  Result,
  Yield,
} from "../wamp/messages.ts";
import { pptKeys } from "../wamp/ppt.ts";
import { Uri } from "../wamp/uris.ts";
import {
  type Callee,
  type CallForwarder,
  type DealerObserver,
  isRemote,
  type PendingCall,
  type Registration,
  type RemoteSessionRef,
  type Reroute,
} from "./dealer_types.ts";
import {
  invocation,
  invocationDetails,
  type InvocationRequest,
  notSent,
  payload,
  sendError,
  unsupported,
} from "./call_messages.ts";
import { nextCallee } from "./callee_choice.ts";
import { DealerRegistrations } from "./dealer_registrations.ts";
import { Registrations } from "./registrations.ts";
import type { SessionRef } from "./session_ref.ts";

export type {
  Callee,
  CallForwarder,
  DealerObserver,
  ForwardedCall,
  InvokePolicy,
  PendingCall,
  Registration,
  RegistrationState,
  RemoteSessionRef,
} from "./dealer_types.ts";
export { DEALER_FEATURES, isRemote } from "./dealer_types.ts";

/** A session's side of the dealer. */
interface SessionCalls {
  /** Calls it made that are still open, by CALL request id. */
  readonly asCaller: Map<number, PendingCall>;
  /** Invocations sent to it that are still open, by INVOCATION id. */
  readonly asCallee: Map<number, PendingCall>;
  /** Router → callee INVOCATION ids (session scope). */
  readonly invocationIds: SequentialIds;
  /** The forwarders its calls went to (told when it leaves). */
  readonly forwarders: Set<CallForwarder>;
}

/** The dealer of one realm: its calls (its registrations: {@link DealerRegistrations}). */
export class Dealer extends DealerRegistrations {
  /**
   * Per caller, the request ids of progressive call invocations that were refused or ended
   * before the caller's final chunk: their remaining chunks are dropped, never a new call.
   */
  readonly #abandoned = new WeakMap<SessionRef, Set<number>>();
  /** Per session: its registrations, open calls and INVOCATION ids (written by the dealer only). */
  readonly #sessions = new Map<SessionRef, SessionCalls>();

  constructor(readonly clock: Clock, readonly observer: DealerObserver = {}) {
    super(new Registrations(clock, observer));
  }

  /** The dealer's state of `session` (created on first use). */
  #of(session: SessionRef): SessionCalls {
    let mine = this.#sessions.get(session);
    if (!mine) {
      mine = {
        asCaller: new Map(),
        asCallee: new Map(),
        invocationIds: new SequentialIds(),
        forwarders: new Set(),
      };
      this.#sessions.set(session, mine);
    }
    return mine;
  }

  /** True while `caller` has an open call with CALL request id `request`. */
  hasOpenCall(caller: SessionRef, request: number): boolean {
    return this.#sessions.get(caller)?.asCaller.has(request) === true;
  }

  /** How many calls `session` has open, as caller and as callee. */
  openCalls(session: SessionRef): { asCaller: number; asCallee: number } {
    const mine = this.#sessions.get(session);
    return { asCaller: mine?.asCaller.size ?? 0, asCallee: mine?.asCallee.size ?? 0 };
  }

  #abandon(caller: SessionRef, request: number): void {
    let set = this.#abandoned.get(caller);
    if (!set) this.#abandoned.set(caller, set = new Set());
    set.add(request);
  }

  /**
   * Routes a CALL to a callee.
   * @throws {WampError} `wamp.error.no_such_procedure`, `wamp.error.invalid_argument`.
   */
  call(caller: SessionRef, msg: Call, disclose: boolean): void {
    this.#call(caller, msg, disclose, null);
  }

  /**
   * Routes a CALL another node forwarded (`caller` stands for its caller) to the callee that
   * node picked, a local session of registration `registration`; later chunks and CANCELs of
   * the call come through {@linkcode call} and {@linkcode cancel} as for a local caller.
   * @throws {WampError} `wamp.error.no_such_procedure` when that callee is no longer
   *   registered there, and what {@linkcode call} throws.
   */
  callFor(
    caller: SessionRef,
    msg: Call,
    disclose: boolean,
    registration: number,
    callee: number,
  ): void {
    if (this.#sessions.get(caller)?.asCaller.has(msg.request)) {
      return this.#call(caller, msg, disclose, null);
    }
    const reg = this.regs.get(registration);
    const target = reg?.callees.find((c) => c.session.id === callee && !isRemote(c.session));
    if (!reg || !target) {
      if (msg.options.progress === true) this.#abandon(caller, msg.request);
      throw new WampError(
        Uri.NO_SUCH_PROCEDURE,
        `no callee registered for "${msg.procedure}" (it left the node it was on)`,
      );
    }
    this.#call(caller, msg, disclose, { reg, callee: target });
  }

  #call(
    caller: SessionRef,
    msg: Call,
    disclose: boolean,
    target: { reg: Registration; callee: Callee } | null,
  ): void {
    const open = this.#sessions.get(caller)?.asCaller.get(msg.request);
    if (open) {
      if (!open.invoking) {
        throw new ProtocolError(`CALL request id ${msg.request} is already in use by an open call`);
      }
      if (msg.procedure !== open.procedure) {
        throw new ProtocolError(
          `a progressive CALL chunk must name the call's procedure "${open.procedure}", ` +
            `not "${msg.procedure}"`,
        );
      }
      return this.#continueInvocation(open, msg);
    }
    const abandoned = this.#abandoned.get(caller);
    if (abandoned?.has(msg.request)) {
      if (msg.options.progress !== true) abandoned.delete(msg.request);
      return;
    }
    try {
      this.#start(caller, msg, disclose, target);
    } catch (e) {
      if (msg.options.progress === true) this.#abandon(caller, msg.request);
      throw e;
    }
  }

  /** Starts a new call: the only CALL of a request id, or the first chunk of a progressive one. */
  #start(
    caller: SessionRef,
    msg: Call,
    disclose: boolean,
    target: { reg: Registration; callee: Callee } | null,
  ): void {
    const ppt = pptKeys(msg.options);
    const reg = target?.reg ?? this.regs.match(msg.procedure);
    if (!reg) {
      if (!target && msg.options.progress !== true && this.onMiss?.(caller, msg, disclose)) return;
      throw new WampError(Uri.NO_SUCH_PROCEDURE, `no callee registered for "${msg.procedure}"`);
    }
    const timeout = msg.options.timeout ?? 0;
    if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0) {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        "CALL.Options.timeout must be a non-negative integer (milliseconds)",
      );
    }
    const request: InvocationRequest = {
      caller,
      procedure: msg.procedure,
      exact: reg.match === "exact",
      disclose,
      receiveProgress: msg.options.receive_progress === true,
      timeout,
      invoking: msg.options.progress === true,
      ppt,
    };
    const callee = target?.callee ?? this.regs.pick(reg);
    const refused = unsupported(callee.session, request);
    if (refused) throw new WampError(Uri.FEATURE_NOT_SUPPORTED, refused);
    const { details, progress } = invocationDetails(callee, request);
    if (isRemote(callee.session)) {
      const reroute = { tried: new Set<SessionRef>(), request, call: msg };
      return this.#forward(caller, reg, callee.session, progress, reroute);
    }
    const pending: PendingCall = {
      caller,
      callerRequest: msg.request,
      procedure: msg.procedure,
      callee: callee.session,
      invocation: this.#of(callee.session).invocationIds.next(),
      registration: reg,
      progress,
      timer: null,
      started: this.clock.nowMs(),
      killed: false,
      invoking: request.invoking,
      ppt,
      forwarded: false,
      // a call another node forwarded is moved by that node
      reroute: target ? null : { tried: new Set(), request, call: msg },
    };
    this.#of(caller).asCaller.set(msg.request, pending);
    this.#of(callee.session).asCallee.set(pending.invocation, pending);
    if (timeout > 0) {
      this.#armTimeout(pending, timeout, timeout);
    }
    this.#invoke(pending, invocation(pending.invocation, reg.id, details, msg.args, msg.kwargs));
  }

  /**
   * Sends an INVOCATION (or a later chunk of a progressive one); one the callee cannot be sent
   * (too large for its transport, not encodable in its serializer) ends the call with that
   * error to the caller.
   */
  #invoke(p: PendingCall, inv: Invocation): void {
    const failed = notSent("INVOCATION", p.callee.send(inv));
    if (!failed) return;
    this.#end(p);
    sendError(p.caller, T.CALL, p.callerRequest, failed.uri, [failed.why]);
  }

  /** Hands a new call to the node of its callee, which runs it. */
  #forward(
    caller: SessionRef,
    reg: Registration,
    callee: RemoteSessionRef,
    progress: boolean,
    reroute: Reroute,
  ): void {
    const msg = reroute.call;
    const pending: PendingCall = {
      caller,
      callerRequest: msg.request,
      procedure: msg.procedure,
      callee,
      invocation: 0,
      registration: reg,
      progress,
      timer: null,
      started: this.clock.nowMs(),
      killed: false,
      invoking: reroute.request.invoking,
      ppt: reroute.request.ppt,
      forwarded: true,
      reroute,
    };
    this.#of(caller).asCaller.set(msg.request, pending);
    this.#handOn(pending, callee, msg);
  }

  /** Makes `callee`, of another node, serve `p` from `msg` (its CALL, or a moved call's). */
  #handOn(p: PendingCall, callee: RemoteSessionRef, msg: Call): void {
    p.callee = callee;
    p.forwarded = true;
    p.invocation = this.#of(callee).invocationIds.next();
    this.#of(callee).asCallee.set(p.invocation, p);
    this.#of(p.caller).forwarders.add(callee.forwarder);
    callee.forwarder.start({
      caller: p.caller,
      call: msg,
      disclose: p.reroute?.request.disclose ?? false,
      registration: p.registration.id,
      callee: callee.id,
    });
  }

  /**
   * The RESULT or ERROR of a forwarded call, as the callee's node sent it for `caller` (its
   * request id is the caller's). Answers to calls that already ended here are dropped.
   */
  forwardedReply(caller: SessionRef, msg: Result | ErrorMessage): void {
    const p = this.#sessions.get(caller)?.asCaller.get(msg.request);
    if (!p?.forwarded || !isRemote(p.callee)) return;
    if (msg.type === T.ERROR && msg.error === Uri.UNAVAILABLE && p.reroute) {
      return this.#reroute(p, p.reroute);
    }
    const progressive = msg.type === T.RESULT && msg.details.progress === true;
    if (progressive) p.reroute = null;
    if (!progressive) {
      this.#end(p);
      this.observer.onCallDone?.(this.clock.nowMs() - p.started);
    }
    const failed = notSent(msg.type === T.RESULT ? "RESULT" : "ERROR", caller.send(msg));
    if (!failed) return;
    if (progressive) {
      this.#end(p);
      p.callee.forwarder.cancel(caller, {
        type: T.CANCEL,
        request: p.callerRequest,
        options: { mode: "killnowait" },
      });
    }
    sendError(caller, T.CALL, p.callerRequest, failed.uri, [failed.why]);
  }

  /** A forwarded call could not be handed on (its node is gone, or refused it): ERROR. */
  forwardFailed(caller: SessionRef, request: number, error: string, args?: Args): void {
    const p = this.#sessions.get(caller)?.asCaller.get(request);
    if (!p?.forwarded) return;
    this.#end(p);
    sendError(caller, T.CALL, request, error, args);
  }

  /** A further chunk of a progressive call invocation: same callee, same INVOCATION id. */
  #continueInvocation(p: PendingCall, msg: Call): void {
    p.reroute = null;
    const more = msg.options.progress === true;
    if (!more) p.invoking = false;
    if (p.forwarded) {
      if (isRemote(p.callee)) p.callee.forwarder.chunk(p.caller, msg);
      return;
    }
    const details: Dict = more ? { progress: true } : {};
    if (p.ppt) Object.assign(details, p.ppt);
    this.#invoke(p, invocation(p.invocation, p.registration.id, details, msg.args, msg.kwargs));
  }

  #end(p: PendingCall): void {
    if (p.invoking) this.#abandon(p.caller, p.callerRequest);
    this.#sessions.get(p.caller)?.asCaller.delete(p.callerRequest);
    this.#release(p);
    if (p.timer !== null) this.clock.clearTimer(p.timer);
    p.timer = null;
  }

  /** Takes `p` off its current callee's open invocations. */
  #release(p: PendingCall): void {
    const callee = this.#sessions.get(p.callee);
    callee?.asCallee.delete(p.invocation);
    // A callee of another node has no state here beyond its open calls.
    if (p.forwarded && callee?.asCallee.size === 0) this.#sessions.delete(p.callee);
  }

  #interrupt(p: PendingCall, mode: string, reason?: string): boolean {
    if (!p.callee.hasFeature("callee", "call_canceling")) return false;
    const options: Dict = { mode };
    if (reason) options.reason = reason;
    p.callee.send({ type: T.INTERRUPT, request: p.invocation, options });
    return true;
  }

  /** Arms `p`'s call timeout: `left` of `total` ms, in steps no timer can overflow. */
  #armTimeout(p: PendingCall, left: number, total: number): void {
    const step = Math.min(left, MAX_TIMER_MS);
    p.timer = this.clock.setTimer(() => {
      if (left > step) this.#armTimeout(p, left - step, total);
      else this.#timedOut(p, total);
    }, step);
  }

  #timedOut(p: PendingCall, ms: number): void {
    p.timer = null;
    this.#end(p);
    this.#interrupt(p, "killnowait", Uri.CANCELED);
    sendError(p.caller, T.CALL, p.callerRequest, Uri.CANCELED, [
      `call timed out after ${ms} ms`,
    ]);
  }

  /** A callee's YIELD. Late answers to ended invocations are dropped. */
  yield(callee: SessionRef, msg: Yield): void {
    const p = this.#sessions.get(callee)?.asCallee.get(msg.request);
    if (!p) return this.#unknownInvocation(callee, msg.request, "YIELD");
    const progressive = msg.options.progress === true;
    if (progressive && !p.progress) return; // the caller did not ask for progressive results
    if (!progressive) {
      this.#end(p);
      this.observer.onCallDone?.(this.clock.nowMs() - p.started);
    }
    const details: Dict = progressive ? { progress: true } : {};
    const ppt = pptKeys(msg.options);
    if (progressive) p.reroute = null;
    if (ppt) {
      if (!p.caller.hasFeature("caller", "payload_passthru_mode")) {
        if (progressive) return;
        sendError(p.caller, T.CALL, p.callerRequest, Uri.FEATURE_NOT_SUPPORTED, [
          "the result uses payload passthru mode, which the caller does not support",
        ]);
        return;
      }
      Object.assign(details, ppt);
    }
    const failed = notSent(
      "RESULT",
      p.caller.send(payload({ type: T.RESULT, request: p.callerRequest, details }, msg)),
    );
    if (!failed) return;
    // A RESULT the caller cannot be sent ends its call with the error instead; a callee still
    // producing progressive results is told to stop.
    if (progressive) {
      this.#end(p);
      this.#interrupt(p, "killnowait", failed.uri);
    }
    sendError(p.caller, T.CALL, p.callerRequest, failed.uri, [failed.why]);
  }

  /** A callee's ERROR for an INVOCATION. */
  error(callee: SessionRef, msg: ErrorMessage): void {
    const p = this.#sessions.get(callee)?.asCallee.get(msg.request);
    if (!p) return this.#unknownInvocation(callee, msg.request, "ERROR");
    if (msg.error === Uri.UNAVAILABLE && p.reroute && !p.killed) return this.#reroute(p, p.reroute);
    this.#end(p);
    this.observer.onCallDone?.(this.clock.nowMs() - p.started);
    const details = pptKeys(msg.details) ?? {};
    const error = { type: T.ERROR, requestType: T.CALL, request: p.callerRequest, details };
    p.caller.send(payload({ ...error, error: msg.error }, msg));
  }

  /**
   * `wamp.error.unavailable`: to the next callee by policy with the time left (a callee of
   * another node: forwarded there, which then enforces the time left), else no_available_callee.
   */
  #reroute(p: PendingCall, r: Reroute): void {
    this.#release(p);
    r.tried.add(p.callee);
    const reg = p.registration;
    const elapsed = this.clock.nowMs() - p.started;
    const left = r.request.timeout > 0 ? Math.max(1, r.request.timeout - elapsed) : 0;
    const request = { ...r.request, timeout: left };
    const eligible = (c: Callee) => unsupported(c.session, request) === null;
    const next = nextCallee(reg.invoke, reg.callees, reg.next, r.tried, eligible, Math.random);
    if (!next) {
      this.#end(p);
      this.observer.onCallDone?.(elapsed);
      return sendError(p.caller, T.CALL, p.callerRequest, Uri.NO_AVAILABLE_CALLEE, [
        `every callee of "${reg.uri}" is unavailable`,
      ]);
    }
    if (reg.invoke === "roundrobin") reg.next = next.position;
    const { details, progress } = invocationDetails(next.callee, request);
    p.progress = progress;
    const session = next.callee.session;
    if (isRemote(session)) {
      if (p.timer !== null) this.clock.clearTimer(p.timer);
      p.timer = null;
      const options = left > 0 ? { ...r.call.options, timeout: left } : r.call.options;
      return this.#handOn(p, session, { ...r.call, options });
    }
    p.callee = session;
    p.forwarded = false;
    p.invocation = this.#of(session).invocationIds.next();
    this.#of(session).asCallee.set(p.invocation, p);
    if (left > 0 && p.timer === null) this.#armTimeout(p, left, r.request.timeout);
    this.#invoke(p, invocation(p.invocation, reg.id, details, r.call.args, r.call.kwargs));
  }

  #unknownInvocation(callee: SessionRef, request: number, what: string): void {
    // Ids at or below the last one issued belong to invocations that already ended
    // (canceled, timed out): their late answers are dropped, as the spec asks.
    if (request > (this.#sessions.get(callee)?.invocationIds.last ?? 0)) {
      throw new ProtocolError(`${what} for INVOCATION ${request}, which was never sent`);
    }
  }

  /** A caller's CANCEL. Unknown or finished calls are ignored. */
  cancel(caller: SessionRef, msg: Cancel): void {
    const p = this.#sessions.get(caller)?.asCaller.get(msg.request);
    if (!p || p.killed) return;
    const mode = msg.options.mode ?? "killnowait";
    if (mode !== "skip" && mode !== "kill" && mode !== "killnowait") {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        `CANCEL.Options.mode must be skip, kill or killnowait`,
      );
    }
    // The callee's node runs the call and answers the CANCEL (with the call's ERROR).
    if (p.forwarded) {
      p.reroute = null; // a canceled call does not move
      return isRemote(p.callee) ? p.callee.forwarder.cancel(caller, msg) : undefined;
    }
    const canInterrupt = p.callee.hasFeature("callee", "call_canceling");
    if (mode === "kill" && canInterrupt) {
      p.killed = true;
      this.#interrupt(p, "kill", Uri.CANCELED);
      return;
    }
    this.#end(p);
    if (mode !== "skip") this.#interrupt(p, "killnowait", Uri.CANCELED);
    sendError(caller, T.CALL, p.callerRequest, Uri.CANCELED, ["call canceled by the caller"]);
  }

  /**
   * The node behind `forwarder` is gone: its callees leave every registration here and the
   * calls forwarded to them end with ERROR.
   */
  removeForwarder(forwarder: CallForwarder): void {
    const gone = new Set<SessionRef>();
    const mine = (s: SessionRef) => isRemote(s) && s.forwarder === forwarder;
    for (const s of this.#sessions.keys()) if (mine(s)) gone.add(s);
    for (const reg of this.regs.all()) {
      for (const c of reg.callees) if (mine(c.session)) gone.add(c.session);
    }
    for (const s of gone) this.removeSession(s);
  }

  /** Cleans up after a leaving session: its registrations, its calls and calls made to it. */
  removeSession(session: SessionRef): void {
    const mine = this.#sessions.get(session);
    if (!mine) return this.regs.removeSession(session);
    for (const p of [...mine.asCaller.values()]) {
      this.#end(p);
      if (!p.forwarded) this.#interrupt(p, "killnowait", Uri.CANCELED);
    }
    for (const forwarder of mine.forwarders) forwarder.callerGone(session);
    for (const p of [...mine.asCallee.values()]) {
      this.#end(p);
      sendError(p.caller, T.CALL, p.callerRequest, Uri.CANCELED, [
        "the callee left before answering",
      ]);
    }
    this.regs.removeSession(session);
    this.#sessions.delete(session);
  }
}
