/**
 * The extension point through which a realm's registrations become cluster-wide
 * (docs/cluster.md, "Calls and registrations"). With a {@link DealerLink}, the realm hands every
 * accepted REGISTER and UNREGISTER to the link, which agrees on it with the other nodes and then
 * commits it to the dealer (`Dealer.sync`); the session's later messages wait for that, so its
 * order is kept. Without one, the dealer decides alone, as on a single node. Knows nothing of
 * NATS.
 *
 * @module
 */

import type { MatchPolicy } from "../config/types.ts";
import type { Dict } from "../wamp/messages.ts";
import type { Registration } from "./dealer_types.ts";
import type { SessionRef } from "./session_ref.ts";

/** The registration side of a cluster, per realm. */
export interface DealerLink {
  /**
   * Registers `session` for (uri, match) with REGISTER `options` everywhere. Resolves with the
   * commit to run when the REGISTERED reply goes out: it puts the agreed registration into the
   * dealer and returns it.
   * @throws {WampError} `procedure_already_exists` (a `single` registration held anywhere),
   *   `procedure_exists_with_different_invocation_policy`, `invalid_argument`.
   */
  register(
    session: SessionRef,
    uri: string,
    match: MatchPolicy,
    options: Dict,
  ): Promise<() => Registration>;
  /**
   * Removes `session` from `reg` everywhere. Resolves with the commit to run when the
   * UNREGISTERED reply goes out.
   */
  unregister(session: SessionRef, reg: Registration): Promise<() => void>;
  /** `session` left (the dealer has already dropped it): its callee entries go everywhere. */
  sessionLeft(session: SessionRef): void;
}
