/**
 * The keepalive of a connection, shared by every network transport: every `intervalMs` a ping
 * goes out, and a connection that sends nothing (not even the answer) within `timeoutMs` of
 * it is dead and is closed.
 *
 * Pure logic: timers come from the injected clock; the transport sends the ping, knows whether
 * anything arrived since (it notes that on every frame it reads, so this adds nothing to the
 * receive path) and closes the connection.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";

/** What a keepalive needs from its transport. */
export interface KeepaliveHooks {
  /**
   * Sends a ping and forgets what arrived before it. False when no ping went out (the
   * connection is closing, or its implementation pings by itself): the keepalive stops then.
   */
  keepalivePing(): boolean;
  /** True when anything arrived since the last ping, or the connection is closed already. */
  keepaliveAnswered(): boolean;
  /** Nothing arrived within the timeout of a ping: close the connection. */
  keepaliveTimedOut(): void;
}

/** One connection's keepalive pings. */
export class Keepalive {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #hooks: KeepaliveHooks;
  #pingTimer: TimerId | null = null;
  #pongTimer: TimerId | null = null;

  /**
   * @param clock the time source
   * @param intervalMs time between pings (ms, more than 0)
   * @param timeoutMs how long a ping may stay unanswered (ms)
   * @param hooks the transport's side
   */
  constructor(clock: Clock, intervalMs: number, timeoutMs: number, hooks: KeepaliveHooks) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  /** Starts the pings: the first goes out `intervalMs` from now. */
  start(): void {
    this.#pingTimer = this.#clock.setTimer(() => {
      this.#pingTimer = null;
      if (!this.#hooks.keepalivePing()) return;
      this.#pongTimer = this.#clock.setTimer(() => {
        this.#pongTimer = null;
        if (!this.#hooks.keepaliveAnswered()) this.#hooks.keepaliveTimedOut();
      }, this.#timeoutMs);
      this.start();
    }, this.#intervalMs);
  }

  /** Stops the pings and the wait for an answer (the connection is closing). */
  stop(): void {
    if (this.#pingTimer !== null) this.#clock.clearTimer(this.#pingTimer);
    if (this.#pongTimer !== null) this.#clock.clearTimer(this.#pongTimer);
    this.#pingTimer = null;
    this.#pongTimer = null;
  }
}
