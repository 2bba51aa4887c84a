/**
 * A bounded memo of a pure function of a string (a topic's subject, a subject's validity): the
 * per-event paths of a node ask the same few keys again and again, and a key not there is
 * computed as before. It holds at most `limit` entries and starts over when full (a memo, not a
 * cache to tune: a workload of many distinct keys costs what it cost without it).
 *
 * @module
 */

/** Remembers `compute(key)` for up to `limit` keys. */
export class StringMemo<V> {
  readonly #compute: (key: string) => V;
  readonly #limit: number;
  readonly #values = new Map<string, V>();

  constructor(compute: (key: string) => V, limit = 1024) {
    this.#compute = compute;
    this.#limit = limit;
  }

  /** `compute(key)`, remembered. */
  get(key: string): V {
    let value = this.#values.get(key);
    if (value === undefined && !this.#values.has(key)) {
      value = this.#compute(key);
      if (this.#values.size >= this.#limit) this.#values.clear();
      this.#values.set(key, value);
    }
    return value as V;
  }

  /** Keys held now (for tests). */
  get size(): number {
    return this.#values.size;
  }
}
