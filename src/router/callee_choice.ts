/**
 * Which callee of a registration gets a call: the invocation policy's pick for a new call
 * ({@linkcode pickCallee}), and the next callee for a re-routed one ({@linkcode nextCallee}).
 *
 * Call re-routing (WAMP advanced profile, "Call Re-Routing"): a callee that answers an
 * INVOCATION with `wamp.error.unavailable` has the call moved to another callee of the same
 * registration, chosen by the registration's invocation policy as if the callees already tried
 * did not exist. Each callee is tried at most once per call; when none is left the caller gets
 * `wamp.error.no_available_callee`. "Next" per policy:
 *
 * - `single`: there is no other callee: `no_available_callee` at once.
 * - `roundrobin`: the next untried callee in the registration's queue, from the round-robin
 *   position (which the first pick already moved past the unavailable callee), wrapping
 *   around; the position then moves past the chosen callee, as for a fresh call.
 * - `random`: a callee drawn at random among the untried ones (never the same one again).
 * - `first`: the earliest-registered untried callee: the one registered after the one that
 *   was unavailable.
 * - `last`: the latest-registered untried callee: the one registered right before the one that
 *   was unavailable.
 *
 * Callees that registered while the call was being moved are untried, and so can be chosen;
 * callees that cannot take the call (a feature it needs, see `call_messages.ts`) are skipped.
 * Pure: the dealer applies the result.
 *
 * @module
 */

import type { SessionRef } from "./session_ref.ts";

/** The part of a registration's callee the choice reads. */
export interface RerouteCallee {
  readonly session: SessionRef;
}

/**
 * The callee a new call goes to under `policy` (`single` and `first`: the earliest registered,
 * `last`: the latest, `random`, `roundrobin`: the one at the round-robin position), with the
 * registration's new round-robin position.
 */
export function pickCallee<C extends RerouteCallee>(
  policy: string,
  callees: readonly C[],
  position: number,
  random: () => number,
): { callee: C; position: number } {
  switch (policy) {
    case "last":
      return { callee: callees[callees.length - 1]!, position };
    case "random":
      return { callee: callees[Math.floor(random() * callees.length)]!, position };
    case "roundrobin":
      return {
        callee: callees[position % callees.length]!,
        position: (position + 1) % callees.length,
      };
    default:
      return { callee: callees[0]!, position };
  }
}

/**
 * The callee a re-routed call goes to, with the registration's new round-robin position, or
 * null when every callee has been tried (or none of the rest can take the call).
 */
export function nextCallee<C extends RerouteCallee>(
  policy: string,
  callees: readonly C[],
  position: number,
  tried: ReadonlySet<SessionRef>,
  eligible: (callee: C) => boolean,
  random: () => number,
): { callee: C; position: number } | null {
  const usable = (c: C) => !tried.has(c.session) && eligible(c);
  switch (policy) {
    case "roundrobin": {
      const n = callees.length;
      for (let k = 0; k < n; k++) {
        const i = (position + k) % n;
        const c = callees[i]!;
        if (usable(c)) return { callee: c, position: (i + 1) % n };
      }
      return null;
    }
    case "random": {
      const left = callees.filter(usable);
      if (left.length === 0) return null;
      return { callee: left[Math.floor(random() * left.length)]!, position };
    }
    case "first": {
      const c = callees.find(usable);
      return c ? { callee: c, position } : null;
    }
    case "last": {
      const c = callees.findLast(usable);
      return c ? { callee: c, position } : null;
    }
    default:
      return null;
  }
}
