/**
 * One fuzz run against one router: the target and how to reach it, the seed, and what the
 * sessions of the current batch report (failures, replays, outcome counts, leftovers).
 *
 * @module
 */

import type { Keys } from "./auth.ts";
import type { Replay } from "./report.ts";
import type { Endpoint, FuzzTarget } from "./target.ts";

/** What a leak report tells about the session that left something behind. */
export interface SessionStory {
  readonly where: string;
  readonly hello: unknown[] | null;
  readonly transcript: readonly string[];
}

export interface FuzzEnv {
  readonly target: FuzzTarget;
  readonly endpoint: Endpoint;
  /** The cryptosign principal's key (the config authorizes its public half). */
  readonly keys: Keys;
  /** The run's seed: each session's stream derives from it. */
  readonly seed: number;
  /** How long closed sessions may take to disappear from the router. */
  readonly cleanupMs: number;
  /** Session id of realm2's in-process authorizer (fuzz sessions there may kill it). */
  readonly authorizer: number;
  /** `<batch>:<session>` or `all`: sessions whose transcripts are printed. */
  readonly trace: string | undefined;
  /** Print outcome counts after each batch. */
  readonly verbose: boolean;
  readonly failures: string[];
  /** Failures worth replaying alone on a fresh session. */
  readonly replays: Replay[];
  /** Outcome counts, printed when verbose. */
  readonly counts: Map<string, number>;
  /** Leftovers already reported (they stay, and would fail every later batch again). */
  readonly reportedLeftovers: Set<string>;
  /** RawSocket fuzz sessions by the peer address the router sees, to explain leftovers. */
  readonly peers: Map<string, SessionStory>;
}

export function fuzzEnv(options: {
  target: FuzzTarget;
  endpoint: Endpoint;
  keys: Keys;
  seed: number;
  cleanupMs: number;
  authorizer: number;
  trace?: string;
  verbose?: boolean;
}): FuzzEnv {
  return {
    trace: undefined,
    verbose: false,
    ...options,
    failures: [],
    replays: [],
    counts: new Map(),
    reportedLeftovers: new Set(),
    peers: new Map(),
  };
}

export function count(env: FuzzEnv, key: string): void {
  env.counts.set(key, (env.counts.get(key) ?? 0) + 1);
}

/** How failures name the run, so that it can be repeated. */
export function seedText(seed: number): string {
  return `FUZZ_SEED=${seed}`;
}
