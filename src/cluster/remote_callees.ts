/**
 * The callees of other nodes one node keeps in its dealers: one `RemoteSessionRef` per (realm,
 * node, session), shared by every registration it is a callee of, and forgotten when none is any
 * more (so callees that come and go leave nothing behind). Calls to one go to its node's
 * forwarder (remote_calls.ts).
 *
 * @module
 */

import type { RemoteSessionRef } from "../router/dealer_types.ts";
import { type CalleeWire, hasCalleeFeature } from "./registration_wire.ts";
import type { RemoteCalls } from "./remote_calls.ts";

/** The remote callees of one node. */
export class RemoteCallees {
  readonly #refs = new Map<string, RemoteSessionRef>();
  /** Per registrations key: the refs its registration holds. */
  readonly #of = new Map<string, Set<RemoteSessionRef>>();
  /** Per ref: in how many keys' registrations it is. */
  readonly #uses = new Map<RemoteSessionRef, number>();
  readonly #keyOf = new Map<RemoteSessionRef, string>();

  constructor(readonly calls: RemoteCalls) {}

  /** How many there are. */
  get size(): number {
    return this.#refs.size;
  }

  /** The ref of callee `c` (a session of another node) in realm `realm`. */
  ref(realm: string, c: CalleeWire): RemoteSessionRef {
    const k = `${realm} ${c.node} ${c.session}`;
    let ref = this.#refs.get(k);
    if (!ref) {
      const features = c.features;
      ref = {
        id: c.session,
        authid: c.authid,
        authrole: c.authrole,
        forwarder: this.calls.forwarder(realm, c.node),
        hasFeature: (role, feature) => role === "callee" && hasCalleeFeature(features, feature),
        send: () => "dropped",
      };
      this.#refs.set(k, ref);
      this.#keyOf.set(ref, k);
    }
    return ref;
  }

  /** The registration of `key` now holds `refs`: a ref no registration holds is forgotten. */
  used(key: string, refs: Set<RemoteSessionRef>): void {
    const before = this.#of.get(key) ?? new Set<RemoteSessionRef>();
    for (const ref of refs) {
      if (!before.has(ref)) this.#uses.set(ref, (this.#uses.get(ref) ?? 0) + 1);
    }
    for (const ref of before) {
      if (refs.has(ref)) continue;
      const n = (this.#uses.get(ref) ?? 1) - 1;
      if (n > 0) {
        this.#uses.set(ref, n);
        continue;
      }
      this.#uses.delete(ref);
      const k = this.#keyOf.get(ref);
      this.#keyOf.delete(ref);
      if (k !== undefined && this.#refs.get(k) === ref) this.#refs.delete(k);
    }
    if (refs.size > 0) this.#of.set(key, refs);
    else this.#of.delete(key);
  }
}
