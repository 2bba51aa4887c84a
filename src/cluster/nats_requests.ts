/**
 * Request → reply over one NATS connection for {@link ClusterLink.request}, on nats.js's
 * publish and subscribe: one inbox subscription (`<inbox>.*`) for every reply, a map from each
 * request's token to its waiter, and one sweep timer for the timeouts.
 *
 * Why not nats.js's own `request()`: in @nats-io/nats-core 3.4 every request, answered or not,
 * ends in `RequestOne.cancel()`, which builds a `RequestError` (an Error, with its stack) to reject
 * the already settled promise, and arms its own timer; in the cross-node RPC profile of
 * `deno task bench:cluster` that machinery was 22 % of the caller node's busy CPU (the Error alone
 * 10.6 %). Here a request costs a map entry; "no responders" is the server's own answer (a
 * status 503 message on the reply subject, which nats.js's connection asks for), as in nats.js.
 *
 * Timeouts are checked every {@link SWEEP_MS} ms, so a request times out between `timeoutMs` and
 * `timeoutMs + SWEEP_MS` after it was sent.
 *
 * @module
 */

import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { Clock, TimerId } from "../clock.ts";
import { type LinkRequest, LinkRequestError } from "./link.ts";

/** How often pending requests are checked for their timeout (ms). */
export const SWEEP_MS = 50;

interface Waiter {
  readonly subject: string;
  readonly deadline: number;
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (error: LinkRequestError) => void;
}

/** The requests of one NATS connection. */
export class NatsRequests {
  readonly #nc: NatsConnection;
  readonly #clock: Clock;
  readonly #inbox = createInbox();
  readonly #waiting = new Map<string, Waiter>();
  #next = 0;
  #subscribed = false;
  #sweep: TimerId | null = null;
  #closed = false;

  constructor(nc: NatsConnection, clock: Clock) {
    this.#nc = nc;
    this.#clock = clock;
  }

  /** How many requests wait for their reply (for tests). */
  get pending(): number {
    return this.#waiting.size;
  }

  /**
   * Publishes `data` to `subject` with a reply subject of this connection's inbox; `reply`
   * resolves with the reply, rejects with a {@link LinkRequestError} (`no_responders`,
   * `timeout`, `closed`) or what nats.js's publish threw; after `cancel()` it never settles.
   */
  ask(subject: string, data: Uint8Array, timeoutMs: number): LinkRequest {
    if (this.#closed) {
      const reply = Promise.reject(new LinkRequestError("closed", "cluster link closed"));
      return { reply, cancel: () => {} };
    }
    if (!this.#subscribed) {
      this.#subscribed = true;
      this.#nc.subscribe(`${this.#inbox}.*`, { callback: (_e, msg) => this.#reply(msg) });
    }
    const token = (this.#next++).toString(36);
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      const deadline = this.#clock.nowMs() + Math.max(1, timeoutMs);
      this.#waiting.set(token, { subject, deadline, resolve, reject });
      this.#arm();
      try {
        this.#nc.publish(subject, data, { reply: `${this.#inbox}.${token}` });
      } catch (error) {
        this.#waiting.delete(token);
        reject(error);
      }
    });
    return { reply, cancel: () => void this.#waiting.delete(token) };
  }

  #reply(msg: Msg | null): void {
    if (!msg) return;
    const token = msg.subject.slice(this.#inbox.length + 1);
    const waiter = this.#waiting.get(token);
    if (!waiter) return; // late (timed out) or not ours
    this.#waiting.delete(token);
    if (msg.headers?.code === 503) {
      waiter.reject(new LinkRequestError("no_responders", `no responders on ${waiter.subject}`));
    } else waiter.resolve(msg.data);
  }

  #arm(): void {
    if (this.#sweep !== null || this.#closed) return;
    this.#sweep = this.#clock.setTimer(() => {
      this.#sweep = null;
      const now = this.#clock.nowMs();
      for (const [token, waiter] of this.#waiting) {
        if (waiter.deadline > now) continue;
        this.#waiting.delete(token);
        waiter.reject(new LinkRequestError("timeout", `request to ${waiter.subject} timed out`));
      }
      if (this.#waiting.size > 0) this.#arm();
    }, SWEEP_MS);
  }

  /** Every pending request fails with `closed`; later ones at once. */
  close(): void {
    this.#closed = true;
    if (this.#sweep !== null) this.#clock.clearTimer(this.#sweep);
    this.#sweep = null;
    for (const waiter of this.#waiting.values()) {
      waiter.reject(
        new LinkRequestError("closed", `cluster link closed during request to ${waiter.subject}`),
      );
    }
    this.#waiting.clear();
  }
}
