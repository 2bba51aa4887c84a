/**
 * The checks every routed request passes before the broker or dealer sees it: a valid match
 * policy, payload passthru only when announced, a valid URI for its policy, no reserved URI
 * (`wamp.*`, `switchboard.*`) published or registered by other roles than `trusted`, and the
 * permission.
 *
 * @module
 */

import type { Decision } from "../auth/authorizer.ts";
import type { Action } from "../config/types.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { messageName, MessageType as T } from "../wamp/message_type.ts";
import type { Call, Dict, ErrorMessage, Message } from "../wamp/messages.ts";
import {
  isMatchPolicy,
  isReservedUri,
  isValidUri,
  type MatchPolicy,
  patternMayMatchReserved,
  TRUSTED_ROLE,
  Uri,
} from "../wamp/uris.ts";
import { BROKER_FEATURES } from "./broker.ts";
import { DEALER_FEATURES } from "./dealer.ts";
import type { SessionRef } from "./session_ref.ts";

/**
 * The match policy of SUBSCRIBE/REGISTER options.
 * @throws {WampError} `invalid_argument` when it is not exact, prefix or wildcard.
 */
export function matchOption(options: Dict, what: string): MatchPolicy {
  const m = matchOf(options);
  if (m === null) {
    throw new WampError(
      Uri.INVALID_ARGUMENT,
      `${what}.Options.match must be exact, prefix or wildcard`,
    );
  }
  return m;
}

/** The match policy of SUBSCRIBE/REGISTER options, or `null` when it is invalid. */
export function matchOf(options: Dict): MatchPolicy | null {
  const m = options.match ?? "exact";
  return isMatchPolicy(m) ? m : null;
}

/**
 * Payload passthru used by a peer that did not announce it is a protocol violation.
 * @throws {ProtocolError}
 */
export function requirePassthru(session: SessionRef, role: string, options: Dict): void {
  if (options.ppt_scheme !== undefined && !session.hasFeature(role, "payload_passthru_mode")) {
    throw new ProtocolError(
      `ppt_scheme used, but the ${role} did not announce payload_passthru_mode`,
    );
  }
}

/**
 * The URI, action and match policy a message needs authorizing for, if any. A SUBSCRIBE or
 * REGISTER with an invalid `match` needs none: it is refused with `invalid_argument`.
 */
export function actionOf(msg: Message): [string, Action, MatchPolicy] | null {
  switch (msg.type) {
    case T.PUBLISH:
      return [msg.topic, "publish", "exact"];
    case T.SUBSCRIBE: {
      const match = matchOf(msg.options);
      return match === null ? null : [msg.topic, "subscribe", match];
    }
    case T.CALL:
      return [msg.procedure, "call", "exact"];
    case T.REGISTER: {
      const match = matchOf(msg.options);
      return match === null ? null : [msg.procedure, "register", match];
    }
    default:
      return null;
  }
}

/**
 * Validates `uri` for `match` (`strict` or loose rules), refuses reserved URIs to
 * non-trusted sessions for publish, and for register any pattern that could match one, and
 * checks the permission `decide()` gives.
 * @throws {WampError} `invalid_uri` or `not_authorized` (or the authorizer's error).
 */
export function checkUri(
  session: SessionRef,
  uri: string,
  match: MatchPolicy,
  action: Action,
  strict: boolean,
  decide: () => Decision,
): Decision {
  if (!isValidUri(uri, match, strict)) {
    throw new WampError(Uri.INVALID_URI, `"${uri}" is not a valid ${match} URI`);
  }
  if (
    session.authrole !== TRUSTED_ROLE &&
    ((action === "publish" && isReservedUri(uri)) ||
      (action === "register" && patternMayMatchReserved(uri, match)))
  ) {
    const what = match === "exact" ? `"${uri}" is reserved` : `${match} "${uri}" can match`;
    throw new WampError(
      Uri.INVALID_URI,
      `${what}: clients may not ${action} wamp.* or switchboard.* URIs`,
    );
  }
  const decision = decide();
  if (!decision.allowed) {
    const what = match === "exact" ? `"${uri}"` : `${match} pattern "${uri}"`;
    throw new WampError(
      decision.error ?? Uri.NOT_AUTHORIZED,
      `session is not authorized to ${action} ${what} (role "${session.authrole}")`,
    );
  }
  return decision;
}

/**
 * The checks of a CALL's options: `progress` only when the caller announced progressive call
 * invocations, passthru only when announced.
 * @throws {ProtocolError} otherwise.
 */
export function checkCallOptions(session: SessionRef, msg: Call): void {
  if (
    msg.options.progress === true &&
    !session.hasFeature("caller", "progressive_call_invocations")
  ) {
    throw new ProtocolError(
      "CALL with progress: true, but the caller did not announce progressive_call_invocations",
    );
  }
  requirePassthru(session, "caller", msg.options);
}

/**
 * The checks of an ERROR a client sends: only for INVOCATION, with a valid URI (the caller
 * gets it as is; loose rules, as for any URI).
 * @throws {ProtocolError} otherwise.
 */
export function checkClientError(msg: ErrorMessage): void {
  if (msg.requestType !== T.INVOCATION) {
    throw new ProtocolError(
      `a client may send ERROR only for INVOCATION (68), not for ${messageName(msg.requestType)}`,
    );
  }
  if (!isValidUri(msg.error, "exact", false)) {
    throw new ProtocolError(`ERROR.Error ${JSON.stringify(msg.error)} is not a valid URI`);
  }
}

/** WELCOME.Details.roles: exactly the features implemented (fewer without the meta API). */
export function routerRoles(metaApi: boolean): Dict {
  const broker: Dict = { ...BROKER_FEATURES };
  const dealer: Dict = { ...DEALER_FEATURES };
  if (!metaApi) {
    // these need the meta procedures, which are not registered without the meta API
    delete broker.session_meta_api;
    delete broker.subscription_meta_api;
    delete broker.event_history;
    delete dealer.session_meta_api;
    delete dealer.registration_meta_api;
    delete dealer.testament_meta_api;
  }
  return { broker: { features: broker }, dealer: { features: dealer } };
}
