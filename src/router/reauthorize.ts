/**
 * Authorizing a realm's subscriptions and registrations again after its permissions changed
 * (a configuration reload): what is no longer allowed is revoked.
 *
 * @module
 */

import type { Decision } from "../auth/authorizer.ts";
import type { Action } from "../config/types.ts";
import { type MatchPolicy, TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import type { Broker } from "./broker.ts";
import type { Dealer } from "./dealer.ts";
import type { Session } from "./session.ts";

/** How a session's permission is decided at once (static roles; dynamic ones from cache). */
export type DecideNow = (
  session: Session,
  uri: string,
  action: Action,
  match: MatchPolicy,
) => Decision;

/**
 * Authorizes every subscription and registration of every session with a static role again
 * under the current permissions: what is no longer allowed is revoked (the session gets
 * UNSUBSCRIBED / UNREGISTERED if it announced revocation; the meta events fire), and pattern
 * subscriptions are filtered or not as their coverage now says. Sessions of the `trusted`
 * role and of roles with a dynamic authorizer (`isDynamic`) keep theirs.
 */
export function reauthorize(
  sessions: readonly Session[],
  broker: Broker,
  dealer: Dealer,
  isDynamic: (role: string) => boolean,
  decideNow: DecideNow,
): void {
  const decisions = new Map<string, Decision>();
  const decide = (session: Session, uri: string, match: MatchPolicy, action: Action) => {
    const key = `${session.authrole}\n${action} ${match} ${uri}`;
    let d = decisions.get(key);
    if (d === undefined) decisions.set(key, d = decideNow(session, uri, action, match));
    return d;
  };
  for (const s of sessions) {
    if (s.authrole === TRUSTED_ROLE || isDynamic(s.authrole)) continue;
    for (const sub of broker.subscriptionsOf(s)) {
      const d = decide(s, sub.uri, sub.match, "subscribe");
      if (d.allowed) broker.setFiltered(s, sub, d.filtered === true);
      else broker.revoke(s, sub, Uri.NOT_AUTHORIZED);
    }
    for (const reg of dealer.registrationsOf(s)) {
      if (!decide(s, reg.uri, reg.match, "register").allowed) {
        dealer.revoke(s, reg, Uri.NOT_AUTHORIZED);
      }
    }
  }
}
