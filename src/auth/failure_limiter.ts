/**
 * Failed authentications counted per key, a key being one (remote address, authid) pair: the
 * first `maxFailures` failures within `windowMs` are free; beyond them every attempt of the key
 * waits, 1 s after the first further failure, then 2 s, 4 s … up to `maxDelayMs`. Attempts of
 * one key are serialized into slots: each reserves the next free one (an attempt not yet
 * settled counts as a failure), so parallel connections cannot raise the rate. An attempt whose
 * slot is more than `maxWaitMs` away is refused at once. A success resets the key.
 *
 * Pure logic: time is passed in. At most `maxKeys` keys are kept (idle ones are dropped first,
 * then the least recently used), so a client spraying authids cannot grow it without bound.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The limits of one endpoint (`auth_max_failures`, `auth_failure_window`, `auth_max_delay`). */
export interface LimiterPolicy {
  /** Failures within the window that cost no delay. */
  readonly maxFailures: number;
  /** Milliseconds over which failures are counted. */
  readonly windowMs: number;
  /** Longest delay between two attempts of a key, in milliseconds. */
  readonly maxDelayMs: number;
  /** An attempt whose slot is farther away than this (milliseconds) is refused. */
  readonly maxWaitMs: number;
}

/** The delay after the first failure beyond the free ones; it doubles with every further one. */
const BASE_DELAY_MS = 1000;

/** Default bound of the number of keys kept. */
export const DEFAULT_MAX_KEYS = 100_000;

/** Keys longer than this are kept as a SHA-256 digest. */
const MAX_KEY_LENGTH = 256;

/** Idle keys examined (and dropped) per reservation, oldest first. */
const SWEEP_PER_RESERVE = 2;

/** Idle keys looked for before the least recently used key is evicted. */
const SWEEP_WHEN_FULL = 16;

/** The key of `subject` (an authid, or a cryptosign public key) connecting from `address`. */
export function limiterKey(address: string, subject: string): string {
  const key = JSON.stringify([address, subject]);
  if (key.length <= MAX_KEY_LENGTH) return key;
  return "sha256:" + createHash("sha256").update(key).digest("hex");
}

/** The wait an attempt of a key with `n` failures (settled and pending) is given. */
export function delayAfter(n: number, policy: LimiterPolicy): number {
  if (n < policy.maxFailures) return 0;
  const doublings = Math.min(n - policy.maxFailures, 40);
  return Math.min(BASE_DELAY_MS * 2 ** doublings, policy.maxDelayMs);
}

/** Failures worth keeping: with more, the delay is at its maximum anyway. */
function keptFailures(policy: LimiterPolicy): number {
  const doublings = Math.ceil(Math.log2(Math.max(1, policy.maxDelayMs / BASE_DELAY_MS)));
  return policy.maxFailures + doublings + 1;
}

/** One authentication attempt that holds a slot until it is settled (once; later calls do nothing). */
export interface Attempt {
  /** Milliseconds the attempt must wait for its slot before it proceeds. */
  readonly waitMs: number;
  /** True once settled. */
  readonly settled: boolean;
  /** The attempt authenticated: its key is reset. */
  succeed(): void;
  /** The attempt failed (or ended without authenticating) at `nowMs`: one failure of its key. */
  fail(nowMs: number): void;
  /** The attempt ended for a reason that is not the client's: it neither fails nor succeeds. */
  cancel(): void;
}

/** The answer to a reservation. */
export type Reservation =
  | { readonly ok: true; readonly attempt: Attempt }
  | {
    readonly ok: false;
    /** Milliseconds after which an attempt would get a slot close enough again. */
    readonly retryAfterMs: number;
  };

interface Entry {
  readonly key: string;
  /** Times of failures, oldest first (those out of the window are dropped when seen). */
  failures: number[];
  /** Attempts with a slot, not settled yet. */
  pending: number;
  /** The time of the last slot given. */
  lastSlot: number;
  windowMs: number;
  kept: number;
  /** Neighbours in the order of use (least recently used first). */
  older: Entry | null;
  newer: Entry | null;
}

/** Failed authentications per key, with delays and slots (see the module doc). */
export class FailureLimiter {
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;
  /** The least and the most recently used entry. */
  #oldest: Entry | null = null;
  #newest: Entry | null = null;

  constructor(maxKeys = DEFAULT_MAX_KEYS) {
    this.#maxKeys = Math.max(1, maxKeys);
  }

  /** Keys currently kept. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The failures of `key` within the window at `nowMs` (at most as many as make the longest
   * delay) plus its pending attempts.
   */
  failures(key: string, nowMs: number): number {
    const e = this.#entries.get(key);
    if (!e) return 0;
    this.#prune(e, nowMs);
    return e.failures.length + e.pending;
  }

  /**
   * Reserves the next free slot of `key` for an attempt at `nowMs`: the attempt waits
   * `attempt.waitMs` and must be settled; or it is refused, when its slot would be more than
   * `policy.maxWaitMs` away (then nothing changes for the key).
   */
  reserve(key: string, policy: LimiterPolicy, nowMs: number): Reservation {
    this.#sweep(nowMs, SWEEP_PER_RESERVE, key);
    let entry = this.#entries.get(key);
    if (entry) this.#prune(entry, nowMs);
    const n = entry ? entry.failures.length + entry.pending : 0;
    // the wait is computed, not derived as slot - now: with fractional milliseconds that
    // difference can come out a hair over the delay (1000.0000000000001) and refuse an attempt
    // whose wait is exactly the maximum
    const waitMs = Math.max(0, (entry?.lastSlot ?? nowMs) - nowMs) + delayAfter(n, policy);
    const slot = nowMs + waitMs;
    if (waitMs > policy.maxWaitMs) return { ok: false, retryAfterMs: waitMs - policy.maxWaitMs };
    entry = entry ? this.#touch(entry) : this.#insert(key, nowMs);
    entry.pending++;
    entry.lastSlot = slot;
    entry.windowMs = policy.windowMs;
    entry.kept = keptFailures(policy);
    return { ok: true, attempt: this.#attempt(key, entry, waitMs) };
  }

  #attempt(key: string, reserved: Entry, waitMs: number): Attempt {
    let settled = false;
    const release = (): Entry | undefined => {
      const current = this.#entries.get(key);
      if (current === reserved) reserved.pending--;
      return current;
    };
    return {
      waitMs,
      get settled() {
        return settled;
      },
      succeed: () => {
        if (settled) return;
        settled = true;
        const current = this.#entries.get(key);
        if (current) this.#remove(current);
      },
      fail: (nowMs) => {
        if (settled) return;
        settled = true;
        // the key may have been reset (a success) or evicted meanwhile: count on what is there
        const entry = release() ?? this.#insert(key, nowMs);
        entry.windowMs = reserved.windowMs;
        entry.kept = reserved.kept;
        entry.failures.push(nowMs);
        if (entry.failures.length > entry.kept) entry.failures.shift();
        this.#touch(entry);
      },
      cancel: () => {
        if (settled) return;
        settled = true;
        release();
      },
    };
  }

  /** Drops failures that left the window. */
  #prune(e: Entry, nowMs: number): void {
    let i = 0;
    while (i < e.failures.length && e.failures[i]! + e.windowMs <= nowMs) i++;
    if (i > 0) e.failures.splice(0, i);
  }

  /** True when `e` no longer affects anything: no failure in its window, nothing pending. */
  #idle(e: Entry, nowMs: number): boolean {
    return e.pending === 0 && e.lastSlot <= nowMs &&
      (e.failures.length === 0 || e.failures[e.failures.length - 1]! + e.windowMs <= nowMs);
  }

  /** Marks `e` as the most recently used. */
  #touch(e: Entry): Entry {
    if (this.#newest === e) return e;
    this.#unlink(e);
    this.#append(e);
    return e;
  }

  #insert(key: string, nowMs: number): Entry {
    if (this.#entries.size >= this.#maxKeys) {
      this.#sweep(nowMs, SWEEP_WHEN_FULL, key);
      if (this.#entries.size >= this.#maxKeys && this.#oldest) this.#remove(this.#oldest);
    }
    const e: Entry = {
      key,
      failures: [],
      pending: 0,
      lastSlot: nowMs,
      windowMs: 0,
      kept: 0,
      older: null,
      newer: null,
    };
    this.#entries.set(key, e);
    this.#append(e);
    return e;
  }

  #remove(e: Entry): void {
    this.#unlink(e);
    this.#entries.delete(e.key);
  }

  #append(e: Entry): void {
    e.older = this.#newest;
    e.newer = null;
    if (this.#newest) this.#newest.newer = e;
    else this.#oldest = e;
    this.#newest = e;
  }

  #unlink(e: Entry): void {
    if (e.older) e.older.newer = e.newer;
    else if (this.#oldest === e) this.#oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else if (this.#newest === e) this.#newest = e.older;
    e.older = null;
    e.newer = null;
  }

  /** Drops idle keys among the `count` least recently used ones (never `keep`). */
  #sweep(nowMs: number, count: number, keep: string): void {
    let e = this.#oldest;
    for (let i = 0; e !== null && i < count; i++) {
      const next = e.newer;
      if (e.key !== keep && this.#idle(e, nowMs)) this.#remove(e);
      e = next;
    }
  }
}
