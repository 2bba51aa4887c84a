/**
 * Writes to one bucket where only the latest wish per key counts: a put or a delete for a key
 * waits for the write in flight for that key, and wishes made meanwhile collapse into the last
 * one. So a session that joins and leaves at once costs at most a put and a delete, a busy
 * subscription's subscriber list is written once per round trip, and the keys' final state is
 * what was wished last. Failures are logged (the engine is out of reach: the owner re-asserts
 * its state when it returns).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { KvBucket } from "./link.ts";

interface Slot {
  /** The value to write next (null: delete), or undefined when nothing is waiting. */
  next: Uint8Array | null | undefined;
  readonly done: Promise<void>;
}

/** Latest-wins writes per key. */
export class KeyedWriter {
  readonly #bucket: KvBucket;
  readonly #logger: Logger;
  readonly #slots = new Map<string, Slot>();
  /** Writes done (puts and deletes). */
  writes = 0;

  constructor(bucket: KvBucket, logger: Logger) {
    this.#bucket = bucket;
    this.#logger = logger;
  }

  /** Wishes `key` to hold `value` (null: not to exist). */
  set(key: string, value: Uint8Array | null): void {
    const slot = this.#slots.get(key);
    if (slot) {
      slot.next = value;
      return;
    }
    const fresh: Slot = { next: value, done: Promise.resolve() };
    (fresh as { done: Promise<void> }).done = this.#run(key, fresh);
    this.#slots.set(key, fresh);
  }

  async #run(key: string, slot: Slot): Promise<void> {
    // let wishes made in the same turn collapse before the first write
    await Promise.resolve();
    while (slot.next !== undefined) {
      const value = slot.next;
      slot.next = undefined;
      try {
        if (value === null) await this.#bucket.delete(key);
        else await this.#bucket.put(key, value);
        this.writes++;
      } catch (e) {
        this.#logger.warn("cluster: bucket write failed", { key, error: String(e) });
      }
    }
    this.#slots.delete(key);
  }

  /** Keys with a write in flight or waiting. */
  get pending(): number {
    return this.#slots.size;
  }

  /** Resolves once every write wished so far is done. */
  async flush(): Promise<void> {
    while (this.#slots.size > 0) {
      await Promise.all([...this.#slots.values()].map((s) => s.done));
    }
  }
}
