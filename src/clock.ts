/**
 * Time source for everything that measures or schedules, so tests can drive time by hand.
 *
 * @module
 */

/** Opaque timer handle. */
export type TimerId = number;

/**
 * Largest delay one `setTimer` call may be given: `setTimeout` fires at once (after 1 ms)
 * for anything longer, so longer delays are armed in steps.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A clock: wall time in nanoseconds and one-shot timers. */
export interface Clock {
  /** Wall-clock time, integer nanoseconds since the Unix epoch. */
  nowNs(): bigint;
  /** Monotonic milliseconds, for measuring durations. */
  nowMs(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown ids are ignored. */
  clearTimer(id: TimerId): void;
}

const originNs = BigInt(Date.now()) * 1_000_000n;
const originMs = performance.now();

/** The clock's wall time as an ISO-8601 UTC string (millisecond precision). */
export function isoTime(clock: Clock): string {
  return new Date(Number(clock.nowNs() / 1_000_000n)).toISOString();
}

/** The real clock: `Date.now()` anchored, advanced by `performance.now()` for sub-ms precision. */
export const systemClock: Clock = {
  nowNs() {
    const elapsed = performance.now() - originMs;
    return originNs + BigInt(Math.round(elapsed * 1_000_000));
  },
  nowMs() {
    return performance.now();
  },
  setTimer(fn, ms) {
    return setTimeout(fn, ms) as unknown as TimerId;
  },
  clearTimer(id) {
    clearTimeout(id as unknown as ReturnType<typeof setTimeout>);
  },
};

/** A manual clock for tests: time moves only through `advance()`. */
export class FakeClock implements Clock {
  #ms: number;
  #epochNs: bigint;
  #nextId = 1;
  #timers = new Map<TimerId, { at: number; fn: () => void }>();

  /** A clock at `startMs` on its monotonic scale, `epochNs` on the wall clock. */
  constructor(startMs = 0, epochNs = 1_700_000_000_000_000_000n) {
    this.#ms = startMs;
    this.#epochNs = epochNs;
  }

  nowNs(): bigint {
    return this.#epochNs + BigInt(Math.round(this.#ms * 1_000_000));
  }
  nowMs(): number {
    return this.#ms;
  }
  setTimer(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#ms + Math.max(0, ms), fn });
    return id;
  }
  clearTimer(id: TimerId): void {
    this.#timers.delete(id);
  }
  /** Number of timers still pending. */
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#ms + ms;
    for (;;) {
      let next: [TimerId, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#ms = next[1].at;
      next[1].fn();
    }
    this.#ms = end;
  }
}
