/**
 * Remote procedure calls for one realm: registrations keyed by (procedure, match) with shared
 * invocation policies, CALL → INVOCATION → YIELD/ERROR → RESULT/ERROR routing, progressive
 * results, cancelation, dealer-side timeouts, call re-routing (`reroute.ts`) and cleanup when
 * callers or callees leave.
 *
 * @module
 */

import { type Clock, isoTime, MAX_TIMER_MS, type TimerId } from "../clock.ts";
import type { MatchPolicy } from "../config/types.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { freshId, SequentialIds } from "../wamp/ids.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Call, Cancel, Dict, ErrorMessage, Invocation, Yield } from "../wamp/messages.ts";
import { pptKeys } from "../wamp/ppt.ts";
import { UriIndex } from "../wamp/uri_index.ts";
import { Uri } from "../wamp/uris.ts";
import {
  invocation,
  invocationDetails,
  type InvocationRequest,
  notSent,
  sendError,
  unsupported,
} from "./call_messages.ts";
import { nextCallee, pickCallee } from "./callee_choice.ts";
import type { SessionRef } from "./session_ref.ts";

/** A session's side of the dealer. */
interface SessionCalls {
  readonly registrations: Set<Registration>;
  /** Calls it made that are still open, by CALL request id. */
  readonly asCaller: Map<number, PendingCall>;
  /** Invocations sent to it that are still open, by INVOCATION id. */
  readonly asCallee: Map<number, PendingCall>;
  /** Router → callee INVOCATION ids (session scope). */
  readonly invocationIds: SequentialIds;
}

/** Invocation policies of shared registrations. */
export type InvokePolicy = "single" | "roundrobin" | "random" | "first" | "last";
const POLICIES: ReadonlySet<string> = new Set(["single", "roundrobin", "random", "first", "last"]);

/** One callee of a registration, with its REGISTER options. */
export interface Callee {
  readonly session: SessionRef;
  readonly discloseCaller: boolean;
  readonly forwardTimeout: boolean;
}

/** A registration: one per (procedure, match), holding its callees in registration order. */
export interface Registration {
  readonly id: number;
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly invoke: InvokePolicy;
  readonly created: string;
  readonly callees: Callee[];
  next: number;
}

/** An open call. */
export interface PendingCall {
  readonly caller: SessionRef;
  readonly callerRequest: number;
  /** The procedure the CALL named (a progressive invocation's later chunks must name it too). */
  readonly procedure: string;
  /** The callee now serving the call (a re-routed call moves to another). */
  callee: SessionRef;
  /** The INVOCATION id the current callee knows the call by. */
  invocation: number;
  readonly registration: Registration;
  /** The caller asked for progressive results and the current callee supports them. */
  progress: boolean;
  timer: TimerId | null;
  /** `clock.nowMs()` when the call started (for the latency histogram). */
  readonly started: number;
  /** Set by CANCEL mode `kill`: the callee's answer is forwarded when it comes. */
  killed: boolean;
  /** A progressive call invocation whose final chunk has not been sent yet. */
  invoking: boolean;
  /** `ppt_*` keys of the call, copied into INVOCATION details. */
  readonly ppt: Dict | null;
  /**
   * What re-routing needs while the call can still move: the callees tried and the first
   * INVOCATION's request and payload. Null once the callee sent a progressive result or got a
   * later chunk of a progressive invocation (the call cannot move without them).
   */
  reroute: Reroute | null;
}

/** A call's re-routing state (see `reroute.ts`). */
interface Reroute {
  readonly tried: Set<SessionRef>;
  readonly request: InvocationRequest;
  readonly args: Call["args"];
  readonly kwargs: Call["kwargs"];
}

/** Hooks the realm uses to publish registration meta events. */
export interface DealerObserver {
  onCreate?(session: SessionRef, reg: Registration): void;
  onRegister?(session: SessionRef, reg: Registration): void;
  onUnregister?(session: SessionRef, reg: Registration): void;
  onDelete?(session: SessionRef, reg: Registration): void;
  /** A call ended with its final RESULT or ERROR after `ms` milliseconds. */
  onCallDone?(ms: number): void;
}

/** Features this dealer implements, as announced in WELCOME. */
export const DEALER_FEATURES = {
  caller_identification: true,
  pattern_based_registration: true,
  shared_registration: true,
  progressive_call_results: true,
  progressive_call_invocations: true,
  call_canceling: true,
  call_timeout: true,
  call_reroute: true,
  session_meta_api: true,
  registration_meta_api: true,
  registration_revocation: true,
  testament_meta_api: true,
  payload_passthru_mode: true,
} as const;

/** The dealer of one realm. */
export class Dealer {
  readonly #index = new UriIndex<Registration>();
  readonly #byId = new Map<number, Registration>();
  /**
   * Per caller, the request ids of progressive call invocations that were refused or ended
   * before the caller's final chunk: their remaining chunks are dropped, never a new call.
   */
  readonly #abandoned = new WeakMap<SessionRef, Set<number>>();
  /** Per session: its registrations, open calls and INVOCATION ids (written by the dealer only). */
  readonly #sessions = new Map<SessionRef, SessionCalls>();

  constructor(readonly clock: Clock, readonly observer: DealerObserver = {}) {}

  /** The dealer's state of `session` (created on first use). */
  #of(session: SessionRef): SessionCalls {
    let mine = this.#sessions.get(session);
    if (!mine) {
      mine = {
        registrations: new Set(),
        asCaller: new Map(),
        asCallee: new Map(),
        invocationIds: new SequentialIds(),
      };
      this.#sessions.set(session, mine);
    }
    return mine;
  }

  /** The registrations `session` is a callee of. */
  registrationsOf(session: SessionRef): readonly Registration[] {
    return [...this.#sessions.get(session)?.registrations ?? []];
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

  /** The registration with `id`. */
  get(id: number): Registration | undefined {
    return this.#byId.get(id);
  }

  /** The registration for (uri, match). */
  lookup(uri: string, match: MatchPolicy): Registration | undefined {
    return this.#index.get(uri, match);
  }

  /** The registration a CALL to `procedure` would use. */
  match(procedure: string): Registration | undefined {
    return this.#index.best(procedure)?.value;
  }

  /** All registrations. */
  all(): IterableIterator<Registration> {
    return this.#byId.values();
  }

  /**
   * Registers `session` for (uri, match).
   * @throws {WampError} `procedure_already_exists`, `procedure_exists_with_different_invocation_policy`,
   *   `invalid_argument`.
   */
  register(session: SessionRef, uri: string, match: MatchPolicy, options: Dict): Registration {
    const invoke = options.invoke ?? "single";
    if (typeof invoke !== "string" || !POLICIES.has(invoke)) {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        `REGISTER.Options.invoke must be one of single, roundrobin, random, first, last`,
      );
    }
    const callee: Callee = {
      session,
      discloseCaller: options.disclose_caller === true,
      forwardTimeout: options.forward_timeout === true,
    };
    let reg = this.#index.get(uri, match);
    if (reg) {
      if (reg.invoke === "single") {
        throw new WampError(
          Uri.PROCEDURE_ALREADY_EXISTS,
          `procedure "${uri}" is already registered`,
        );
      }
      if (reg.invoke !== invoke) {
        throw new WampError(
          Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
          `procedure "${uri}" is registered with invoke "${reg.invoke}", not "${invoke}"`,
        );
      }
      if (reg.callees.some((c) => c.session === session)) return reg;
      reg.callees.push(callee);
      this.#of(session).registrations.add(reg);
      this.observer.onRegister?.(session, reg);
      return reg;
    }
    reg = {
      id: freshId(this.#byId),
      uri,
      match,
      invoke: invoke as InvokePolicy,
      created: isoTime(this.clock),
      callees: [callee],
      next: 0,
    };
    this.#index.set(uri, match, reg);
    this.#byId.set(reg.id, reg);
    this.#of(session).registrations.add(reg);
    this.observer.onCreate?.(session, reg);
    this.observer.onRegister?.(session, reg);
    return reg;
  }

  /**
   * Removes `session` as a callee of registration `id`.
   * @throws {WampError} `wamp.error.no_such_registration`.
   */
  unregister(session: SessionRef, id: number): Registration {
    const reg = this.#byId.get(id);
    if (!reg || !reg.callees.some((c) => c.session === session)) {
      throw new WampError(Uri.NO_SUCH_REGISTRATION, `no registration with id ${id}`);
    }
    this.#removeCallee(session, reg);
    return reg;
  }

  #removeCallee(session: SessionRef, reg: Registration): void {
    const i = reg.callees.findIndex((c) => c.session === session);
    if (i >= 0) reg.callees.splice(i, 1);
    this.#sessions.get(session)?.registrations.delete(reg);
    this.observer.onUnregister?.(session, reg);
    if (reg.callees.length === 0) {
      this.#index.delete(reg.uri, reg.match);
      this.#byId.delete(reg.id);
      this.observer.onDelete?.(session, reg);
    }
  }

  #pick(reg: Registration): Callee {
    const picked = pickCallee(reg.invoke, reg.callees, reg.next, Math.random);
    reg.next = picked.position;
    return picked.callee;
  }

  /**
   * Routes a CALL to a callee.
   * @throws {WampError} `wamp.error.no_such_procedure`, `wamp.error.invalid_argument`.
   */
  call(caller: SessionRef, msg: Call, disclose: boolean): void {
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
      this.#start(caller, msg, disclose);
    } catch (e) {
      if (msg.options.progress === true) this.#abandon(caller, msg.request);
      throw e;
    }
  }

  /** Starts a new call: the only CALL of a request id, or the first chunk of a progressive one. */
  #start(caller: SessionRef, msg: Call, disclose: boolean): void {
    const ppt = pptKeys(msg.options);
    const found = this.#index.best(msg.procedure);
    if (!found) {
      throw new WampError(Uri.NO_SUCH_PROCEDURE, `no callee registered for "${msg.procedure}"`);
    }
    const timeout = msg.options.timeout ?? 0;
    if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0) {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        "CALL.Options.timeout must be a non-negative integer (milliseconds)",
      );
    }
    const reg = found.value;
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
    const callee = this.#pick(reg);
    const refused = unsupported(callee.session, request);
    if (refused) throw new WampError(Uri.FEATURE_NOT_SUPPORTED, refused);
    const { details, progress } = invocationDetails(callee, request);
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
      reroute: { tried: new Set(), request, args: msg.args, kwargs: msg.kwargs },
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

  /** A further chunk of a progressive call invocation: same callee, same INVOCATION id. */
  #continueInvocation(p: PendingCall, msg: Call): void {
    p.reroute = null;
    const more = msg.options.progress === true;
    if (!more) p.invoking = false;
    const details: Dict = more ? { progress: true } : {};
    if (p.ppt) Object.assign(details, p.ppt);
    const inv: Invocation = {
      type: T.INVOCATION,
      request: p.invocation,
      registration: p.registration.id,
      details,
    };
    if (msg.args !== undefined) inv.args = msg.args;
    if (msg.kwargs !== undefined) inv.kwargs = msg.kwargs;
    this.#invoke(p, inv);
  }

  /**
   * Router-initiated removal of a callee (`wamp.registration.remove_callee`): the session gets
   * `UNREGISTERED [0, {registration, reason}]` if it announced `registration_revocation`.
   */
  revoke(session: SessionRef, reg: Registration, reason?: string): void {
    if (!reg.callees.some((c) => c.session === session)) return;
    this.#removeCallee(session, reg);
    if (session.hasFeature("callee", "registration_revocation")) {
      const details: Dict = { registration: reg.id };
      if (reason) details.reason = reason;
      session.send({ type: T.UNREGISTERED, request: 0, details });
    }
  }

  #end(p: PendingCall): void {
    if (p.invoking) this.#abandon(p.caller, p.callerRequest);
    this.#sessions.get(p.caller)?.asCaller.delete(p.callerRequest);
    this.#sessions.get(p.callee)?.asCallee.delete(p.invocation);
    if (p.timer !== null) this.clock.clearTimer(p.timer);
    p.timer = null;
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
    const result = {
      type: T.RESULT,
      request: p.callerRequest,
      details,
      args: msg.args,
      kwargs: msg.kwargs,
    };
    if (result.args === undefined) delete result.args;
    if (result.kwargs === undefined) delete result.kwargs;
    const failed = notSent("RESULT", p.caller.send(result));
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
    const ppt = pptKeys(msg.details);
    p.caller.send({
      type: T.ERROR,
      requestType: T.CALL,
      request: p.callerRequest,
      details: ppt ?? {},
      error: msg.error,
      ...(msg.args !== undefined ? { args: msg.args } : {}),
      ...(msg.kwargs !== undefined ? { kwargs: msg.kwargs } : {}),
    });
  }

  /**
   * The current callee answered `wamp.error.unavailable`: the call moves to the next callee
   * (`reroute.ts`) with a fresh INVOCATION and what is left of its timeout, or, when every
   * callee has been tried, ends with `wamp.error.no_available_callee`.
   */
  #reroute(p: PendingCall, r: Reroute): void {
    this.#sessions.get(p.callee)?.asCallee.delete(p.invocation);
    r.tried.add(p.callee);
    const reg = p.registration;
    const elapsed = this.clock.nowMs() - p.started;
    const left = r.request.timeout > 0 ? Math.max(1, r.request.timeout - elapsed) : 0;
    const request = { ...r.request, timeout: left };
    const next = nextCallee(
      reg.invoke,
      reg.callees,
      reg.next,
      r.tried,
      (c) => unsupported(c.session, request) === null,
      Math.random,
    );
    if (!next) {
      this.#end(p);
      this.observer.onCallDone?.(elapsed);
      sendError(p.caller, T.CALL, p.callerRequest, Uri.NO_AVAILABLE_CALLEE, [
        `every callee of "${reg.uri}" is unavailable`,
      ]);
      return;
    }
    if (reg.invoke === "roundrobin") reg.next = next.position;
    const { details, progress } = invocationDetails(next.callee, request);
    p.callee = next.callee.session;
    p.progress = progress;
    p.invocation = this.#of(p.callee).invocationIds.next();
    this.#of(p.callee).asCallee.set(p.invocation, p);
    this.#invoke(p, invocation(p.invocation, reg.id, details, r.args, r.kwargs));
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

  /** Cleans up after a leaving session: its registrations, its calls and calls made to it. */
  removeSession(session: SessionRef): void {
    const mine = this.#sessions.get(session);
    if (!mine) return;
    for (const p of [...mine.asCaller.values()]) {
      this.#end(p);
      this.#interrupt(p, "killnowait", Uri.CANCELED);
    }
    for (const p of [...mine.asCallee.values()]) {
      this.#end(p);
      sendError(p.caller, T.CALL, p.callerRequest, Uri.CANCELED, [
        "the callee left before answering",
      ]);
    }
    for (const reg of [...mine.registrations]) this.#removeCallee(session, reg);
    this.#sessions.delete(session);
  }
}
