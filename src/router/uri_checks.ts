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
import { MessageType as T } from "../wamp/message_type.ts";
import type { Dict, Message } from "../wamp/messages.ts";
import {
  isMatchPolicy,
  isReservedUri,
  isValidUri,
  type MatchPolicy,
  patternMayMatchReserved,
  TRUSTED_ROLE,
  Uri,
} from "../wamp/uris.ts";
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
