/**
 * Coarse timers: a {@linkcode Clock} whose timers fire on ticks of `resolutionMs`, all from one
 * timer of the clock underneath.
 *
 * Every connection carries a few long timers that almost never fire (the handshake deadline,
 * the keepalive, the close handshake's wait, the slow-consumer stall), and each used to be a
 * `setTimeout` of its own: a Node.js `Timeout` object, an async id and a timer of the runtime,
 * about 4 µs to set and clear on Deno 2.9, several of them per session opened (measured in the
 * session storm, issue 14). Here one costs a few map operations, and the clock underneath holds
 * one timer, for the earliest tick that has any.
 *
 * A timer fires on the first tick at or after its time: never early, at most `resolutionMs`
 * late. Timers due on the same tick fire in the order they were set.
 *
 * @module
 */

import type { Clock, TimerId } from "./clock.ts";

/** Tick length of the coarse timers of connections, in ms (how late one may fire at most). */
export const CONNECTION_TIMER_RESOLUTION_MS = 20;

/** A {@linkcode Clock} whose timers share one timer of another clock (see the module doc). */
export class CoarseTimers implements Clock {
  readonly #base: Clock;
  readonly #resolutionMs: number;
  /**
   * Pending timers by tick (a tick is `ceil(time / resolution)`), each in the order set. A
   * bucket stays, empty, until its tick comes once its timers are cleared: so each tick is in
   * the heap once, however often connections set and clear timers on it.
   */
  readonly #buckets = new Map<number, Map<TimerId, () => void>>();
  /** The tick of each pending timer. */
  readonly #tickOf = new Map<TimerId, number>();
  /** Min-heap of the ticks that have a bucket, each once (a tick leaves both together). */
  readonly #ticks: number[] = [];
  #nextId = 1;
  /** The base timer, and the tick it is armed for. */
  #timer: TimerId | null = null;
  #armedTick = Infinity;

  /**
   * @param base the clock that tells the time and holds the one timer
   * @param resolutionMs tick length (ms, more than 0)
   */
  constructor(base: Clock, resolutionMs: number = CONNECTION_TIMER_RESOLUTION_MS) {
    if (!(resolutionMs > 0)) throw new RangeError(`resolution must be > 0, not ${resolutionMs}`);
    this.#base = base;
    this.#resolutionMs = resolutionMs;
  }

  nowNs(): bigint {
    return this.#base.nowNs();
  }

  nowMs(): number {
    return this.#base.nowMs();
  }

  /** Timers pending. */
  get pending(): number {
    return this.#tickOf.size;
  }

  /** Ticks waited for (buckets, empty ones included); for tests of the bound. */
  get scheduledTicks(): number {
    return this.#ticks.length;
  }

  setTimer(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    const tick = Math.ceil((this.#base.nowMs() + Math.max(0, ms)) / this.#resolutionMs);
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Map();
      this.#buckets.set(tick, bucket);
      this.#push(tick);
    }
    bucket.set(id, fn);
    this.#tickOf.set(id, tick);
    if (tick < this.#armedTick) this.#arm(tick);
    return id;
  }

  clearTimer(id: TimerId): void {
    const tick = this.#tickOf.get(id);
    if (tick === undefined) return;
    this.#tickOf.delete(id);
    // (while its tick fires, the bucket is out of the map already)
    this.#buckets.get(tick)?.delete(id);
    if (this.#tickOf.size === 0) this.#disarm(); // nothing left to wait for
  }

  /** Arms the base timer for `tick`, replacing a later one. */
  #arm(tick: number): void {
    if (this.#timer !== null) this.#base.clearTimer(this.#timer);
    this.#armedTick = tick;
    const delay = Math.max(0, tick * this.#resolutionMs - this.#base.nowMs());
    this.#timer = this.#base.setTimer(() => this.#fire(), delay);
  }

  /** Nothing is pending: drops the (empty) buckets and the base timer. */
  #disarm(): void {
    if (this.#timer !== null) this.#base.clearTimer(this.#timer);
    this.#timer = null;
    this.#armedTick = Infinity;
    this.#ticks.length = 0;
    this.#buckets.clear();
  }

  /**
   * Runs every timer of the ticks that have come, then arms for the next tick. A callback that
   * throws does not stop the others: the first error is thrown on once all have run and the next
   * tick is armed (an uncaught error of a timer, as with `setTimeout`).
   */
  #fire(): void {
    let failure: { error: unknown } | null = null;
    this.#timer = null;
    this.#armedTick = Infinity;
    const now = this.#base.nowMs() / this.#resolutionMs;
    while (this.#ticks.length > 0 && this.#ticks[0]! <= now) {
      const tick = this.#pop();
      const bucket = this.#buckets.get(tick)!;
      this.#buckets.delete(tick);
      for (const [id, fn] of bucket) {
        // an earlier callback of this tick may have cleared it
        if (this.#tickOf.get(id) !== tick) continue;
        this.#tickOf.delete(id);
        try {
          fn();
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    // drop the next ticks whose timers were all cleared, then wait for the next one (a callback
    // may have armed the base timer for a later tick already)
    while (this.#ticks.length > 0 && this.#buckets.get(this.#ticks[0]!)!.size === 0) {
      this.#buckets.delete(this.#pop());
    }
    if (this.#ticks.length > 0 && this.#ticks[0]! < this.#armedTick) this.#arm(this.#ticks[0]!);
    if (failure !== null) throw failure.error;
  }

  #push(tick: number): void {
    const heap = this.#ticks;
    let i = heap.push(tick) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= tick) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = tick;
  }

  #pop(): number {
    const heap = this.#ticks;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && heap[r]! < heap[l]! ? r : l;
        if (heap[c]! >= last) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}
