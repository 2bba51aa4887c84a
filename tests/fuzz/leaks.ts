/**
 * The leak check: once the fuzz sessions' connections are gone, the router must hold none of
 * their sessions, subscriptions, registrations, open calls or armed timers.
 *
 * @module
 */

import type { Router } from "../../mod.ts";
import { routerInternals } from "../../src/router/router.ts";
import type { SessionRef } from "../../src/router/session_ref.ts";
import { lit } from "./describe.ts";
import type { TrackingClock } from "./target.ts";

/**
 * Sessions, subscribers, callees and open calls in `realms` that should be gone (all but the
 * router's own, the bystander's and the authorizer's), and timers still armed.
 */
export function leaks(
  router: Router,
  clock: TrackingClock,
  realms: readonly string[],
  bystander: number,
  authorizer: number,
): string[] {
  const out: string[] = [];
  for (const where of clock.armed.values()) out.push(`a router timer is still armed: ${where}`);
  let joined = 0;
  for (const name of realms) {
    const realm = routerInternals(router).realm(name)!;
    const keep = (s: SessionRef) =>
      realm.isInternal(s) || s.id === bystander || s.id === authorizer;
    for (const s of realm.sessions.values()) if (!s.internal) joined++;
    for (const s of realm.sessions.values()) {
      if (!keep(s)) {
        out.push(
          `${name}: session ${s.id} (${s.state}, ${s.authmethod} ${lit(s.authid)}, ` +
            `${s.peer.details.type}/${s.serializerName} ${s.peer.details.peer}) is still joined`,
        );
      }
    }
    for (const sub of realm.broker.all()) {
      for (const s of sub.subscribers) {
        if (!keep(s)) out.push(`${name}: subscription ${lit(sub.uri)} keeps session ${s.id}`);
      }
    }
    for (const reg of realm.dealer.all()) {
      for (const c of reg.callees) {
        if (!keep(c.session)) {
          out.push(`${name}: registration ${lit(reg.uri)} keeps session ${c.session.id}`);
        }
      }
    }
    const mine = realm.sessions.get(bystander);
    const open = mine && realm.dealer.openCalls(mine);
    if (open && (open.asCallee > 0 || open.asCaller > 0)) {
      out.push(`bystander has open calls: ${open.asCallee} in, ${open.asCaller} out`);
    }
  }
  if (router.sessionCount !== joined) {
    out.push(`router.sessionCount is ${router.sessionCount}, but ${joined} sessions are joined`);
  }
  return out;
}

/** Looks at `probe` every 20 ms until `done` holds of it or `ms` have passed; returns the last
 * look (clean-up after a close takes the router a moment). */
export async function waitUntil<T>(
  probe: () => T,
  done: (t: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  let seen = probe();
  while (!done(seen) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    seen = probe();
  }
  return seen;
}
