/**
 * What a fuzz session knows (its request ids, the subscriptions, registrations, invocations,
 * calls and sessions it has seen) and the id and URI choices aimed with it.
 *
 * @module
 */

import type { Rng } from "./rng.ts";
import { uri, weirdId } from "./values.ts";

/** What a fuzz session knows, to aim ids at real subscriptions, registrations and calls. */
export interface FuzzState {
  request: number;
  subs: number[];
  regs: number[];
  invocations: number[];
  calls: number[];
  sessions: number[];
  /** REGISTER / SUBSCRIBE request id → URI, until the reply. */
  pending: Map<number, string>;
  /** URIs this session registered / subscribed, to call and publish to itself. */
  ownProcedures: string[];
  ownTopics: string[];
  /** While true, ids stay in range and messages keep their shape (mostly non-fatal input). */
  soft: boolean;
  /** HELLO.Details.roles of the session (soft messages use only announced features). */
  roles: Record<string, unknown>;
}

export function freshState(): FuzzState {
  return {
    request: 0,
    subs: [],
    regs: [],
    invocations: [],
    calls: [],
    sessions: [],
    pending: new Map(),
    ownProcedures: [],
    ownTopics: [],
    soft: false,
    roles: {},
  };
}

export function requestId(rng: Rng, st: FuzzState): unknown {
  const r = rng.int(100);
  if (r < 82 || (st.soft && r < 94)) return ++st.request;
  if (r < 94) return Math.max(1, st.request);
  return weirdId(rng);
}

/** An id from `pool` most of the time (always one draw, so the stream does not depend on it). */
export function knownId(rng: Rng, pool: number[], soft = false): unknown {
  const r = rng.int(100);
  const x = rng.next();
  if (r < 60 && pool.length > 0) return pool[Math.floor(x * pool.length)];
  if (r < 72 || (soft && r >= 86)) return 1 + Math.floor(x * 2 ** 53);
  if (r < 86) return 1 + Math.floor(x * 5);
  return weirdId(rng);
}

/** An id from `pool`; random ones only when it is empty. */
export function poolId(rng: Rng, pool: number[]): unknown {
  const x = rng.next();
  return pool.length > 0 ? pool[Math.floor(x * pool.length)] : 1 + Math.floor(x * 2 ** 53);
}

/** A URI for a message: often one this session uses, else any. */
export function targetUri(rng: Rng, own: string[]): string {
  const x = rng.next();
  return own.length > 0 && rng.chance(0.4) ? own[Math.floor(x * own.length)]! : uri(rng);
}
