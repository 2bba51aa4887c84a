/**
 * A one-shot deadline on an injected {@linkcode Clock}: armed, re-armed or cleared as a
 * connection moves through its handshake, it calls its action once if it expires.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";

/** A re-armable one-shot timer. */
export class Deadline {
  readonly #clock: Clock;
  readonly #expired: () => void;
  #timer: TimerId | null = null;
  #at = 0;

  /**
   * @param clock the time source
   * @param expired called once when an armed deadline passes
   */
  constructor(clock: Clock, expired: () => void) {
    this.#clock = clock;
    this.#expired = expired;
  }

  /** True while armed. */
  get armed(): boolean {
    return this.#timer !== null;
  }

  /** Arms (or re-arms) the deadline `ms` from now; 0 or less clears it. */
  arm(ms: number): void {
    this.armAt(this.#clock.nowMs() + ms, ms > 0);
  }

  /**
   * Arms (or re-arms) the deadline for the monotonic time `at` (ms); past times expire at once.
   *
   * Moving an armed deadline later keeps its timer: when that fires before the new time, it
   * sets one for the rest. A connection re-arms its deadline at each handshake step, mostly to
   * the same or a later time, and each new timer cost a `clearTimeout` and a `setTimeout`
   * (6 % of the router's CPU in a session storm, `deno task bench --case session-storm
   * --cpu-prof`).
   */
  armAt(at: number, enabled = true): void {
    if (!enabled) return this.clear();
    if (this.#timer !== null && at >= this.#at) {
      this.#at = at;
      return;
    }
    this.clear();
    this.#at = at;
    this.#start();
  }

  /** Sets the timer for `#at`. */
  #start(): void {
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = null;
      if (this.#clock.nowMs() < this.#at) return this.#start(); // moved later meanwhile
      this.#expired();
    }, Math.max(0, this.#at - this.#clock.nowMs()));
  }

  /** The monotonic time (ms) the deadline is armed for, or null when not armed. */
  get at(): number | null {
    return this.#timer === null ? null : this.#at;
  }

  /** Disarms the deadline. */
  clear(): void {
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
  }
}
