/**
 * The slow-consumer policy of a connection, shared by every network transport: how much may
 * wait in its outgoing queue, what happens past that, and when a connection stuck at the
 * bound is given up.
 *
 * - Every outgoing message counts. While the queue holds more than `max_queue_bytes`, or
 *   `max_queue_messages` messages were written since it was last empty, an EVENT is dropped
 *   (policy `drop`) and the session is ended for anything else, or for everything under policy
 *   `disconnect` (`wamp.error.slow_consumer`). So the queue never grows past the bound plus the
 *   one message that crossed it.
 * - A connection that stays at the bound (its events being dropped) is pinged; if it has not
 *   answered when `timeout_ms` has passed and is still at the bound, it is given up, so a
 *   client that stopped reading cannot pin its queue forever.
 *
 * Pure logic: time and timers come from the injected clock, the transport supplies the queue
 * size and the ping.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";

/** A connection's slow-consumer settings. */
export interface SlowConsumerLimits {
  /** Bytes that may wait unsent. */
  readonly max_queue_bytes: number;
  /** Messages that may be written since the queue was last empty. */
  readonly max_queue_messages: number;
  /** Past the bound: drop EVENTs (`drop`) or end the session at once (`disconnect`). */
  readonly policy: "drop" | "disconnect";
  /** How long a connection may stay at the bound without answering a ping (ms). */
  readonly timeout_ms: number;
}

/** What {@linkcode OutgoingBound.admit} decided for one message. */
export type Admission = "send" | "drop" | "end";

/** What the policy needs from its transport. */
export interface BoundHooks {
  /** Bytes waiting unsent right now. */
  queued(): number;
  /** Sends a ping the client must answer (false: this transport cannot ping). */
  ping(): boolean;
  /** The connection stayed at the bound without answering: end it. */
  stalled(): void;
}

/** One connection's outgoing bound. */
export class OutgoingBound {
  readonly #limits: SlowConsumerLimits;
  readonly #clock: Clock;
  readonly #hooks: BoundHooks;
  #unsent = 0;
  #stallTimer: TimerId | null = null;
  #answered = false;

  constructor(limits: SlowConsumerLimits, clock: Clock, hooks: BoundHooks) {
    this.#limits = limits;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  /** The settings in force. */
  get limits(): SlowConsumerLimits {
    return this.#limits;
  }

  /** True while the queue is over its bound. */
  #over(): boolean {
    const queued = this.#hooks.queued();
    if (queued === 0) this.#unsent = 0;
    return queued > this.#limits.max_queue_bytes ||
      this.#unsent >= this.#limits.max_queue_messages;
  }

  /**
   * Decides for one outgoing message: `send` it (it is counted), `drop` it (an EVENT past the
   * bound under policy `drop`), or `end` the session.
   */
  admit(isEvent: boolean): Admission {
    if (!this.#over()) {
      this.#unsent++;
      return "send";
    }
    if (isEvent && this.#limits.policy === "drop") {
      this.#watchStall();
      return "drop";
    }
    return "end";
  }

  /** The client answered a ping (a PONG arrived). */
  answered(): void {
    this.#answered = true;
  }

  #watchStall(): void {
    if (this.#stallTimer !== null) return;
    this.#answered = false;
    if (!this.#hooks.ping()) this.#answered = false;
    this.#stallTimer = this.#clock.setTimer(() => {
      this.#stallTimer = null;
      if (!this.#over()) return; // drained: no longer stalled
      if (this.#answered) return this.#watchStall(); // reading, only slowly: keep watching
      this.#hooks.stalled();
    }, this.#limits.timeout_ms);
  }

  /** Stops the stall watch (the connection is closing). */
  dispose(): void {
    if (this.#stallTimer !== null) this.#clock.clearTimer(this.#stallTimer);
    this.#stallTimer = null;
  }
}
