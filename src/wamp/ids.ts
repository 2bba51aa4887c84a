/**
 * WAMP ids: global and router scope ids are random in [1, 2^53] (so ids that leave a node never
 * collide with another node's); session scope request ids count up from 1 and wrap.
 *
 * @module
 */

const MAX_ID = 2 ** 53;

/** A uniformly random id in [1, 2^53]. */
export function randomId(): number {
  return Math.floor(Math.random() * MAX_ID) + 1;
}

/** A random id that `taken` does not contain. */
export function freshId(taken: { has(id: number): boolean }): number {
  let id = randomId();
  while (taken.has(id)) id = randomId();
  return id;
}

/** Session-scope sequential ids: 1, 2, 3, …, wrapping to 1 after 2^53. */
export class SequentialIds {
  #last = 0;
  /** The next id. */
  next(): number {
    this.#last = this.#last >= MAX_ID ? 1 : this.#last + 1;
    return this.#last;
  }
  /** The last id handed out (0 before the first). */
  get last(): number {
    return this.#last;
  }
}

const SERIAL_ALPHABET = "34679ACEFGHJKLMNPQRTUVWXY";

/** A random authid in Crossbar's `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` form, for anonymous sessions. */
export function serialNumber(): string {
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let s = "";
    for (let i = 0; i < 4; i++) {
      s += SERIAL_ALPHABET[Math.floor(Math.random() * SERIAL_ALPHABET.length)];
    }
    groups.push(s);
  }
  return groups.join("-");
}
