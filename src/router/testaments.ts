/**
 * Testaments (`wamp.session.add_testament`): publications a session leaves to be made when it
 * ends. The realm keeps one book for its sessions and publishes what {@linkcode Testaments.take}
 * returns when a session leaves.
 *
 * @module
 */

import type { Args, Dict, Kwargs } from "../wamp/messages.ts";

/** A publication to make when a session ends. */
export interface Testament {
  readonly topic: string;
  readonly args?: Args;
  readonly kwargs?: Kwargs;
  readonly options: Dict;
}

/** When a testament is published: on detach (leaving the realm) or on destroy; both at leave. */
export type TestamentScope = "detached" | "destroyed";

interface Entry {
  readonly detached: Testament[];
  readonly destroyed: Testament[];
}

/** The testaments of a realm's sessions, by session id. */
export class Testaments {
  readonly #bySession = new Map<number, Entry>();

  /** Session `id` joined: it may leave testaments from now on. */
  open(id: number): void {
    this.#bySession.set(id, { detached: [], destroyed: [] });
  }

  /** Adds a testament of session `id`; false when the session is not open here. */
  add(id: number, scope: TestamentScope, testament: Testament): boolean {
    const entry = this.#bySession.get(id);
    if (!entry) return false;
    entry[scope].push(testament);
    return true;
  }

  /** Drops the testaments of session `id` in `scope`: their number, or null when not open. */
  flush(id: number, scope: TestamentScope): number | null {
    const entry = this.#bySession.get(id);
    if (!entry) return null;
    const n = entry[scope].length;
    entry[scope].length = 0;
    return n;
  }

  /** The testaments session `id` holds now, in publication order (detached, then destroyed). */
  peek(id: number): Testament[] {
    const entry = this.#bySession.get(id);
    return entry ? [...entry.detached, ...entry.destroyed] : [];
  }

  /** Session `id` leaves: its testaments in publication order (detached, then destroyed). */
  take(id: number): Testament[] {
    const entry = this.#bySession.get(id);
    this.#bySession.delete(id);
    return entry ? [...entry.detached, ...entry.destroyed] : [];
  }
}
