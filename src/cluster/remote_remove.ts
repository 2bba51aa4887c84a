/**
 * `wamp.subscription.remove_subscriber` and `wamp.registration.remove_callee` for sessions of
 * other nodes (docs/cluster.md, "Sessions and the meta API"): the asking node sends a
 * {@link RemoveRequest} to the session's node, which removes its own session exactly as for a
 * local call (UNSUBSCRIBED/UNREGISTERED with the reason if the session announced the
 * revocation feature; a callee's withdrawal goes through the cluster's registrations, as every
 * revocation of the dealer does).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Realm } from "../router/realm.ts";
import { encode } from "./codec.ts";
import { type ClusterLink, LinkRequestError } from "./link.ts";
import { asRemoveReply, type RemoveRequest } from "./remove_wire.ts";
import { decodeOrNull } from "./session_wire.ts";

/** How long (ms) a removal request waits for the session's node. */
export const REMOVE_TIMEOUT_MS = 2000;

/**
 * Removes session `r.session` of `realm` (a local one) from subscription or registration
 * `r.id`, as the meta procedure does for a local call. False when the realm, the session, the
 * subscription or registration is not here, or the session is not in it.
 */
export function removeLocal(realm: Realm | undefined, r: RemoveRequest): boolean {
  const target = realm?.sessions.get(r.session);
  if (!realm || !target || target.internal) return false;
  if (r.op === "remove_subscriber") {
    const sub = realm.broker.get(r.id);
    if (!sub || !sub.subscribers.has(target)) return false;
    realm.broker.revoke(target, sub, r.reason);
  } else {
    const reg = realm.dealer.get(r.id);
    if (!reg || !reg.callees.some((c) => c.session === target)) return false;
    realm.dealer.revoke(target, reg, r.reason);
  }
  return true;
}

/**
 * Asks node `node` (on its meta subject `subject`) to do `r`. Resolves with whether it was
 * done: false when the node is gone (no responders), does not answer in time, or answers
 * something else than a removal reply (each logged but the first).
 */
export async function requestRemove(
  link: ClusterLink,
  logger: Logger,
  node: string,
  subject: string,
  r: RemoveRequest,
): Promise<boolean> {
  try {
    const reply = asRemoveReply(
      decodeOrNull(await link.request(subject, encode(r), REMOVE_TIMEOUT_MS)),
    );
    if (reply) return reply.removed;
    logger.warn("cluster: malformed removal reply ignored", { peer: node });
    return false;
  } catch (e) {
    if (!(e instanceof LinkRequestError)) throw e;
    if (e.kind !== "no_responders") {
      logger.warn("cluster: removal request failed", { peer: node, error: e.kind });
    }
    return false;
  }
}
