/**
 * `ticket` authentication: HELLO names an authid, the CHALLENGE has no extra, AUTHENTICATE
 * carries the ticket. Static principals are checked here, in constant time; an unknown authid
 * and a principal bound to another realm than HELLO names fail like a wrong ticket. A
 * principal's `realm` is the session's realm (HELLO may leave it out then).
 *
 * @module
 */

import type { TicketPrincipal } from "../config/types.ts";
import type { Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { constantTimeEqual } from "./crypto.ts";
import {
  abort,
  authidOf,
  type AuthStep,
  type ChallengeStep,
  type Identity,
  joinedRealm,
} from "./step.ts";

/** The abort of a ticket HELLO without an authid. */
export const TICKET_NEEDS_AUTHID: AuthStep = abort(
  Uri.NOT_AUTHORIZED,
  "ticket authentication needs an authid",
);

/** The ticket CHALLENGE; `check` decides the ticket AUTHENTICATE carries (null: denied). */
export function ticketChallenge(
  check: (ticket: string) => Promise<Identity | null>,
): ChallengeStep {
  return {
    kind: "challenge",
    authmethod: "ticket",
    extra: {},
    verify(msg) {
      return check(msg.signature);
    },
  };
}

/** Ticket authentication of HELLO against the endpoint's static principals. */
export function staticTicket(
  hello: Hello,
  principals: ReadonlyMap<string, TicketPrincipal>,
): AuthStep {
  const authid = authidOf(hello);
  if (authid === null) return TICKET_NEEDS_AUTHID;
  const p = principals.get(authid);
  const realm = p ? joinedRealm(hello.realm, p.realm) : undefined;
  return ticketChallenge((ticket) => {
    if (!p || realm === undefined) return Promise.resolve(null);
    if (!constantTimeEqual(ticket, p.ticket)) return Promise.resolve(null);
    return Promise.resolve({
      authid,
      authrole: p.role,
      authmethod: "ticket",
      authprovider: "static",
      authextra: {},
      realm,
    });
  });
}
