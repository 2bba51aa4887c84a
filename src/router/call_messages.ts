/**
 * The messages the dealer builds for a call: the INVOCATION details a callee gets (caller
 * disclosure, pattern procedure, progress, forwarded timeout, `ppt_*` keys), the ERROR to a
 * caller, and the error for a message its receiver could not be sent. Pure functions.
 *
 * @module
 */

import { MessageType as T } from "../wamp/message_type.ts";
import type { Args, Dict, Invocation, Kwargs, Message } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import type { SendOutcome, SessionRef } from "./session_ref.ts";

/** Sends ERROR for a request of `session`. */
export function sendError(
  session: SessionRef,
  requestType: number,
  request: number,
  error: string,
  args?: Args,
): void {
  const msg: Message = { type: T.ERROR, requestType, request, details: {}, error };
  if (args) msg.args = args;
  session.send(msg);
}

/** The error URI and reason for a message its receiver could not be sent. */
export function notSent(what: string, outcome: SendOutcome): { uri: string; why: string } | null {
  switch (outcome) {
    case "too_large":
      return {
        uri: Uri.PAYLOAD_SIZE_EXCEEDED,
        why:
          `the ${what} is larger than the maximum message length this client's transport accepts`,
      };
    case "unencodable":
      return {
        uri: Uri.INVALID_ARGUMENT,
        why: `the ${what} cannot be encoded in the client's serializer`,
      };
    default:
      return null;
  }
}

/** What the first INVOCATION of a call says, besides its payload. */
export interface InvocationRequest {
  readonly caller: SessionRef;
  /** The procedure called (named in the details for pattern registrations). */
  readonly procedure: string;
  /** The registration's match policy. */
  readonly exact: boolean;
  /** The caller is disclosed (by the caller's request or the authorizer). */
  readonly disclose: boolean;
  /** The caller asked for progressive results. */
  readonly receiveProgress: boolean;
  /** Milliseconds left of the call's timeout (0: none). */
  readonly timeout: number;
  /** A progressive call invocation whose later chunks are still to come. */
  readonly invoking: boolean;
  /** The call's `ppt_*` keys. */
  readonly ppt: Dict | null;
}

/** One callee's REGISTER options that shape its INVOCATIONs. */
export interface CalleeOptions {
  readonly session: SessionRef;
  readonly discloseCaller: boolean;
  readonly forwardTimeout: boolean;
}

/**
 * Why `callee` cannot take the call (a feature the call needs and the callee did not
 * announce), or null.
 */
export function unsupported(callee: SessionRef, req: InvocationRequest): string | null {
  if (req.invoking && !callee.hasFeature("callee", "progressive_call_invocations")) {
    return "the callee does not support progressive call invocations";
  }
  if (req.ppt && !callee.hasFeature("callee", "payload_passthru_mode")) {
    return "the callee does not support payload passthru mode";
  }
  return null;
}

/**
 * The details of the first INVOCATION for `callee`, and whether the call gets progressive
 * results (the caller asked and the callee supports them).
 */
export function invocationDetails(
  callee: CalleeOptions,
  req: InvocationRequest,
): { details: Dict; progress: boolean } {
  // forwarded whether or not the callee announced progressive_call_results, as Crossbar does:
  // wampy's callees send progressive YIELDs without announcing the feature
  const progress = req.receiveProgress;
  const details: Dict = {};
  if (req.disclose || callee.discloseCaller) {
    details.caller = req.caller.id;
    details.caller_authid = req.caller.authid;
    details.caller_authrole = req.caller.authrole;
  }
  if (!req.exact) details.procedure = req.procedure;
  if (progress) details.receive_progress = true;
  if (req.timeout > 0 && callee.forwardTimeout) details.timeout = req.timeout;
  if (req.invoking) details.progress = true;
  if (req.ppt) Object.assign(details, req.ppt);
  return { details, progress };
}

/** An INVOCATION with `details` and the call's payload (absent parts left out). */
export function invocation(
  request: number,
  registration: number,
  details: Dict,
  args: Args | undefined,
  kwargs: Kwargs | undefined,
): Invocation {
  const inv: Invocation = { type: T.INVOCATION, request, registration, details };
  if (args !== undefined) inv.args = args;
  if (kwargs !== undefined) inv.kwargs = kwargs;
  return inv;
}

/** `message` with the `args` and `kwargs` of `from` that are present. */
export function payload<M extends object>(
  message: M,
  from: { readonly args?: Args; readonly kwargs?: Kwargs },
): M & { args?: Args; kwargs?: Kwargs } {
  const out: M & { args?: Args; kwargs?: Kwargs } = message;
  if (from.args !== undefined) out.args = from.args;
  if (from.kwargs !== undefined) out.kwargs = from.kwargs;
  return out;
}
