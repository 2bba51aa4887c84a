/**
 * The dealer's data model (registrations, callees, open calls, observer hooks, announced
 * features) and the interface of callees on other nodes: a {@link RemoteSessionRef} is a
 * callee whose calls the dealer hands to a {@link CallForwarder} instead of invoking it
 * itself. This module knows nothing of how calls travel (docs/cluster.md, "Calls and
 * registrations").
 *
 * @module
 */

import type { TimerId } from "../clock.ts";
import type { MatchPolicy } from "../config/types.ts";
import type { Call, Cancel, Dict } from "../wamp/messages.ts";
import type { SessionRef } from "./session_ref.ts";
import type { InvocationRequest } from "./call_messages.ts";

/** Invocation policies of shared registrations. */
export type InvokePolicy = "single" | "roundrobin" | "random" | "first" | "last";
/** The invocation policies, as REGISTER.Options.invoke names them. */
export const POLICIES: ReadonlySet<string> = new Set([
  "single",
  "roundrobin",
  "random",
  "first",
  "last",
]);

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

/** A registration's state as a cluster agreed on it, for {@linkcode Dealer.sync}. */
export interface RegistrationState {
  readonly id: number;
  readonly invoke: InvokePolicy;
  readonly created: string;
  /** Every callee, local and remote, in the agreed order. */
  readonly callees: readonly Callee[];
}

/** An open call. */
export interface PendingCall {
  readonly caller: SessionRef;
  readonly callerRequest: number;
  /** The procedure the CALL named (a progressive invocation's later chunks must name it too). */
  readonly procedure: string;
  /** The callee now serving the call (a re-routed call moves to another). */
  callee: SessionRef;
  /** The INVOCATION id the current callee knows the call by (for a forwarded call: a key of
   * this dealer's only). */
  invocation: number;
  readonly registration: Registration;
  /** The caller asked for progressive results. */
  progress: boolean;
  timer: TimerId | null;
  /** `clock.nowMs()` when the call started (for the latency histogram). */
  readonly started: number;
  /** Set by CANCEL mode `kill`: the callee's answer is forwarded when it comes. */
  killed: boolean;
  /** A progressive call invocation whose final chunk has not been sent yet. */
  invoking: boolean;
  /** `ppt_*` keys of the call, copied into INVOCATION details. */
  ppt: Dict | null;
  /** Run by the callee's node: this dealer only relays its chunks, cancels and answers. */
  forwarded: boolean;
  /**
   * What re-routing needs while the call can still move: the callees tried, the first
   * INVOCATION's request and the caller's first CALL. Null once the callee sent a progressive
   * result or got a later chunk of a progressive invocation (the call cannot move without
   * them), once a forwarded call is canceled, and on the callee's node for a call another node
   * forwarded (its `wamp.error.unavailable` goes back: the caller's node moves the call, over
   * the callees of every node).
   */
  reroute: Reroute | null;
}

/** A call's re-routing state (`Dealer`'s `#reroute`, `callee_choice.ts`). */
export interface Reroute {
  readonly tried: Set<SessionRef>;
  readonly request: InvocationRequest;
  readonly call: Call;
}

/** Hooks the realm uses to publish registration meta events (local callees only). */
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

/** A call handed to the callee's node (see {@linkcode CallForwarder.start}). */
export interface ForwardedCall {
  readonly caller: SessionRef;
  /** The caller's CALL, as it sent it. */
  readonly call: Call;
  /** Whether the caller is disclosed (its role's rule or `disclose_me`). */
  readonly disclose: boolean;
  /** The registration the caller's node resolved the procedure to. */
  readonly registration: number;
  /** The callee session (on the other node) the caller's node picked. */
  readonly callee: number;
}

/**
 * Where calls to callees of one other node go. The callee's node runs the call (timeout,
 * cancel modes, progressive results and invocations); its RESULT and ERROR come back through
 * {@linkcode Dealer.forwardedReply}, a failure to reach it through
 * {@linkcode Dealer.forwardFailed}. None of the methods may throw.
 */
export interface CallForwarder {
  /** Starts a call (its only CALL, or the first chunk of a progressive call invocation). */
  start(call: ForwardedCall): void;
  /** A later chunk of a progressive call invocation of an open forwarded call. */
  chunk(caller: SessionRef, msg: Call): void;
  /** A CANCEL of an open forwarded call. */
  cancel(caller: SessionRef, msg: Cancel): void;
  /** `caller` left: its calls at that node end there, as if canceled with `killnowait`. */
  callerGone(caller: SessionRef): void;
}

/** A session of another node, as a callee in this dealer's registrations. */
export interface RemoteSessionRef extends SessionRef {
  /** Where calls to it go. */
  readonly forwarder: CallForwarder;
}

/** True when `session` is a session of another node. */
export function isRemote(session: SessionRef): session is RemoteSessionRef {
  return (session as Partial<RemoteSessionRef>).forwarder !== undefined;
}
