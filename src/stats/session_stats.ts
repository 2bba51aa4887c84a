/**
 * Session statistics: the per-connection counter (`SessionMeter`) fed at the serializer
 * boundary, and the per-session trigger logic (`StatsTracker`) that turns it into
 * `wamp.session.on_stats` snapshots.
 *
 * Pure logic: time comes from an injected {@linkcode Clock}, publishing goes through a
 * callback, nothing here touches sockets. Semantics follow `decisions.md`:
 *
 * - every message in both directions counts 1 message, its byte length, and
 *   `ceil(bytes / rated_message_size)` rated messages (at least 1);
 * - each snapshot covers the window since the previous one and then resets it (deltas);
 * - `cycle` counts snapshots per connection, starting at 1;
 * - triggers (rated count, duration timer) share one window: whichever fires first
 *   publishes and restarts both; overshoot is not carried over;
 * - publishing is deferred to a queued task, so a session subscribed to its own stats
 *   cannot recurse.
 *
 * @module
 */

import { type Clock, MAX_TIMER_MS, type TimerId } from "../clock.ts";
import { DEFAULT_RATED_MESSAGE_SIZE, MAX_RATED_MESSAGE_SIZE } from "../config/defaults.ts";
import type { StatsConfig } from "../config/types.ts";

/** The `stats` argument of a `wamp.session.on_stats` event: exactly these nine keys. */
export interface StatsSnapshot {
  /** Bytes of serialized WAMP messages in the window, both directions summed. */
  bytes: number;
  /** Ordinal of this snapshot on the connection, from 1. */
  cycle: number;
  /** Window length in integer nanoseconds. */
  duration: number;
  /** True on the first snapshot taken for the current WAMP session. */
  first: boolean;
  /** True only on the final snapshot of a session. */
  last: boolean;
  /** WAMP messages in the window, both directions summed. */
  messages: number;
  /** Rated messages in the window, both directions summed. */
  rated_messages: number;
  /** Serializer name of the connection (`json`, `msgpack`, `cbor`). */
  serializer: string;
  /** Start of the window, integer nanoseconds since the Unix epoch. */
  timestamp: bigint;
}

/** Raised for an invalid argument: a bad byte count or rated message size. */
export class StatsArgumentError extends RangeError {
  override name = "StatsArgumentError";
}

/** Raised when a {@linkcode StatsTracker} is used out of order (e.g. `join()` twice). */
export class StatsStateError extends Error {
  override name = "StatsStateError";
}

/** Largest allowed `rated_message_size` (2^30), the bound the config checks too. */
export { MAX_RATED_MESSAGE_SIZE };

/** A duration timer that fires this close to the window end counts as due. */
const TIMER_SLACK_MS = 1;

function isNonNegativeInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function checkRatedMessageSize(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RATED_MESSAGE_SIZE || (n & (n - 1)) !== 0) {
    throw new StatsArgumentError(
      `rated message size must be a power of two between 1 and 2^30, got ${n}`,
    );
  }
}

/**
 * Per-connection counter of WAMP traffic, fed at the serializer boundary in both
 * directions. The first window starts at construction (when the transport opened).
 */
export class SessionMeter {
  /** Called after every counted message (the tracker's trigger check), or null. */
  onCounted: (() => void) | null = null;

  readonly #clock: Clock;
  readonly #serializer: string;
  #size: number;
  #bytes = 0;
  #messages = 0;
  #rated = 0;
  #cycle = 0;
  #startNs: bigint;
  #startMs: number;
  #firstPending = true;

  /**
   * @param clock Time source; the window starts at `clock.nowNs()`.
   * @param serializer Serializer name reported in snapshots.
   * @param ratedMessageSize Power of two, 1..2^30; default 512.
   * @throws {StatsArgumentError} if `ratedMessageSize` is not allowed.
   */
  constructor(clock: Clock, serializer: string, ratedMessageSize = DEFAULT_RATED_MESSAGE_SIZE) {
    checkRatedMessageSize(ratedMessageSize);
    this.#clock = clock;
    this.#serializer = serializer;
    this.#size = ratedMessageSize;
    this.#startNs = clock.nowNs();
    this.#startMs = clock.nowMs();
  }

  /**
   * Counts one WAMP message of `bytes` bytes (either direction), then calls `onCounted` (the
   * trigger check) unless `triggers` is false. `rated` false counts no rated message (the later
   * messages of an incoming batch, whose payload was rated once with the first, as in
   * Crossbar): a `wamp.session.on_stats` event is counted
   * like any message but never triggers a statistics publication by itself, so monitors
   * watching each other cannot feed back into an endless chain.
   * Allocates nothing.
   *
   * @throws {StatsArgumentError} if `bytes` is not a non-negative safe integer.
   */
  count(bytes: number, triggers = true, rated = true): void {
    if (!isNonNegativeInteger(bytes)) {
      throw new StatsArgumentError(`bytes must be a non-negative integer, got ${bytes}`);
    }
    const size = this.#size;
    this.#messages += 1;
    this.#bytes += bytes;
    if (rated) this.#rated += bytes <= size ? 1 : Math.ceil(bytes / size);
    const hook = this.onCounted;
    if (triggers && hook !== null) hook();
  }

  /**
   * Sets the rated message size for messages counted from now on.
   *
   * @throws {StatsArgumentError} unless `n` is a power of two in 1..2^30.
   */
  setRatedMessageSize(n: number): void {
    checkRatedMessageSize(n);
    this.#size = n;
  }

  /** Current rated message size. */
  get ratedMessageSize(): number {
    return this.#size;
  }
  /** Serializer name reported in snapshots. */
  get serializer(): string {
    return this.#serializer;
  }
  /** Bytes counted in the current window. */
  get bytes(): number {
    return this.#bytes;
  }
  /** Messages counted in the current window. */
  get messages(): number {
    return this.#messages;
  }
  /** Rated messages counted in the current window. */
  get ratedMessages(): number {
    return this.#rated;
  }
  /** Snapshots taken so far on this connection (the last published `cycle`). */
  get cycle(): number {
    return this.#cycle;
  }
  /** Start of the current window, integer nanoseconds since the Unix epoch. */
  get windowStartNs(): bigint {
    return this.#startNs;
  }
  /** Monotonic milliseconds (`clock.nowMs()`) at the start of the current window. */
  get windowStartMs(): number {
    return this.#startMs;
  }
  /** Milliseconds since the current window started (monotonic clock). */
  get elapsedMs(): number {
    return this.#clock.nowMs() - this.#startMs;
  }

  /** Marks a new WAMP session on this connection: its first snapshot gets `first: true`. */
  beginSession(): void {
    this.#firstPending = true;
  }

  /**
   * Takes the snapshot of the window `[windowStart, now]`, increments `cycle`, and resets
   * the counters and the window start to now.
   *
   * @param last Value of the snapshot's `last` flag.
   */
  snapshot(last: boolean): StatsSnapshot {
    const nowNs = this.#clock.nowNs();
    const elapsed = nowNs - this.#startNs;
    this.#cycle += 1;
    const snap: StatsSnapshot = {
      bytes: this.#bytes,
      cycle: this.#cycle,
      // A clock that stepped backwards must not yield a negative window.
      duration: elapsed > 0n ? Number(elapsed) : 0,
      first: this.#firstPending,
      last,
      messages: this.#messages,
      rated_messages: this.#rated,
      serializer: this.#serializer,
      timestamp: this.#startNs,
    };
    this.#firstPending = false;
    this.#bytes = 0;
    this.#messages = 0;
    this.#rated = 0;
    this.#startNs = nowNs;
    this.#startMs = this.#clock.nowMs();
    return snap;
  }
}

/** Schedules `fn` to run later, as a queued task. */
export type Defer = (fn: () => void) => void;

type TrackerState = "idle" | "active" | "ended";

/**
 * Triggers and timers for one joined session, on top of its connection's
 * {@linkcode SessionMeter}.
 *
 * Threshold and timer snapshots are taken synchronously (counters reset at once) and
 * published later through `defer`, in order. The final snapshot is returned by
 * {@linkcode StatsTracker.leave} for the caller to publish.
 */
export class StatsTracker {
  readonly #meter: SessionMeter;
  readonly #clock: Clock;
  readonly #publish: (snapshot: StatsSnapshot) => void;
  readonly #defer: Defer | null;
  readonly #ratedLimit: number;
  readonly #durationMs: number;
  readonly #onJoin: boolean;
  readonly #onLeave: boolean;
  #state: TrackerState = "idle";
  #timer: TimerId | null = null;
  #pending: StatsSnapshot[] = [];
  #flushScheduled = false;
  #flushTimer: TimerId | null = null;

  /**
   * @param meter The connection's meter; its rated size is set to `config.rated_message_size`.
   * @param config The realm's stats settings.
   * @param clock Time source for the duration timer; must be the meter's clock.
   * @param publish Publishes one snapshot (as `wamp.session.on_stats`); must not throw.
   * @param defer Queues a task. Default: `clock.setTimer(fn, 0)`, a macrotask, so a
   *   self-subscribed session feeding back into its own stats yields to the event loop
   *   between events; deferred publishes of the default are cancelled by `dispose()`.
   * @throws {StatsArgumentError} if the config's numbers are out of range.
   */
  constructor(
    meter: SessionMeter,
    config: StatsConfig,
    clock: Clock,
    publish: (snapshot: StatsSnapshot) => void,
    defer?: Defer,
  ) {
    if (!isNonNegativeInteger(config.trigger_after_rated_messages)) {
      throw new StatsArgumentError(
        `trigger_after_rated_messages must be a non-negative integer, got ${config.trigger_after_rated_messages}`,
      );
    }
    if (!isNonNegativeInteger(config.trigger_after_duration)) {
      throw new StatsArgumentError(
        `trigger_after_duration must be a non-negative integer, got ${config.trigger_after_duration}`,
      );
    }
    meter.setRatedMessageSize(config.rated_message_size);
    this.#meter = meter;
    this.#clock = clock;
    this.#publish = publish;
    this.#defer = defer ?? null;
    this.#ratedLimit = config.trigger_after_rated_messages;
    this.#durationMs = config.trigger_after_duration * 1000;
    this.#onJoin = config.trigger_on_join;
    this.#onLeave = config.trigger_on_leave;
  }

  /** True between `join()` and `leave()`/`dispose()`. */
  get active(): boolean {
    return this.#state === "active";
  }

  /**
   * Starts tracking, right after the session joined (after WELCOME and on_join): marks a
   * new session on the meter, takes the join snapshot if `trigger_on_join` (published
   * deferred), starts the duration timer and installs the trigger check on the meter.
   *
   * @throws {StatsStateError} if called twice or after `leave()`/`dispose()`.
   */
  join(): void {
    if (this.#state !== "idle") {
      throw new StatsStateError(`join() on a tracker that is ${this.#state}`);
    }
    this.#state = "active";
    this.#meter.beginSession();
    if (this.#onJoin) {
      this.#fire();
    } else if (this.#durationMs > 0) {
      this.#armTimer(this.#durationMs - this.#meter.elapsedMs);
    }
    this.#meter.onCounted = this.#check;
  }

  /**
   * Starts tracking a session that joined earlier, when a configuration reload turns
   * statistics on or changes their settings: the window in progress continues (its counts
   * are kept), no join snapshot is taken, and the `first` flag stays as the meter has it.
   * The duration timer is armed for what is left of the window.
   *
   * @throws {StatsStateError} if called after `join()`, `resume()`, `leave()` or `dispose()`.
   */
  resume(): void {
    if (this.#state !== "idle") {
      throw new StatsStateError(`resume() on a tracker that is ${this.#state}`);
    }
    this.#state = "active";
    if (this.#durationMs > 0) this.#armTimer(this.#durationMs - this.#meter.elapsedMs);
    this.#meter.onCounted = this.#check;
  }

  /**
   * Stops tracking without a final snapshot, for a reload that turns statistics off or
   * hands the session to a tracker with new settings: clears the timer, unhooks from the
   * meter and publishes synchronously the snapshots still waiting for their deferred task.
   */
  detach(): void {
    if (this.#state === "ended") return;
    this.#stop();
    const pending = this.#pending;
    this.#pending = [];
    for (const snap of pending) this.#publish(snap);
  }

  /** Same as {@linkcode StatsTracker.detach}. */
  [Symbol.dispose](): void {
    this.detach();
  }

  /**
   * Ends tracking when the joined session ends: clears the timer, unhooks from the meter,
   * publishes synchronously any snapshots still waiting for their deferred task (so they
   * precede the final one), and, if `trigger_on_leave`, takes and returns the final
   * snapshot (`last: true`) without publishing it. Returns null otherwise, when the
   * tracker never joined, and on every call after the first.
   */
  leave(): StatsSnapshot | null {
    if (this.#state === "ended") return null;
    const joined = this.#state === "active";
    this.detach();
    return joined && this.#onLeave ? this.#meter.snapshot(true) : null;
  }

  #stop(): void {
    this.#state = "ended";
    if (this.#timer !== null) {
      this.#clock.clearTimer(this.#timer);
      this.#timer = null;
    }
    if (this.#flushTimer !== null) {
      this.#clock.clearTimer(this.#flushTimer);
      this.#flushTimer = null;
    }
    this.#flushScheduled = false;
    if (this.#meter.onCounted === this.#check) this.#meter.onCounted = null;
  }

  /** The meter hook: runs after every counted message while active. */
  readonly #check = (): void => {
    const meter = this.#meter;
    if (this.#ratedLimit > 0 && meter.ratedMessages >= this.#ratedLimit) {
      this.#fire();
    } else if (this.#durationMs > 0 && meter.elapsedMs >= this.#durationMs) {
      this.#fire();
    }
  };

  /** Snapshot now, restart the duration window, publish later. */
  #fire(): void {
    const snap = this.#meter.snapshot(false);
    if (this.#durationMs > 0) this.#armTimer(this.#durationMs);
    this.#pending.push(snap);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (this.#defer !== null) {
      this.#defer(this.#flush);
    } else {
      this.#flushTimer = this.#clock.setTimer(this.#flush, 0);
    }
  }

  #armTimer(delayMs: number): void {
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    const delay = Math.min(Math.max(0, delayMs), MAX_TIMER_MS);
    this.#timer = this.#clock.setTimer(this.#onTimer, delay);
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    if (this.#state !== "active") return;
    const remaining = this.#durationMs - this.#meter.elapsedMs;
    if (remaining > TIMER_SLACK_MS) {
      // Early wake-up (delay capped at the timer limit, or a coarse clock): wait the rest.
      this.#armTimer(remaining);
    } else {
      this.#fire();
    }
  };

  /**
   * The deferred task: publishes the snapshots queued when it started. Snapshots that
   * those publications cause (self-subscription) wait for the next task.
   */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#flushTimer = null;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let done = 0;
    try {
      for (const snap of batch) {
        done += 1;
        this.#publish(snap);
      }
    } finally {
      if (done < batch.length && this.#state === "active") {
        // `publish` threw: keep the rest, in order, for the next task; the error propagates.
        this.#pending = batch.slice(done).concat(this.#pending);
        this.#schedule();
      }
    }
  };
}
