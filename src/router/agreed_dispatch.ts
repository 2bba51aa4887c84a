/**
 * A REGISTER or UNREGISTER of a realm with a {@link DealerLink}: the realm's checks, the
 * cluster's agreement, then the commit and the reply (dealer_link.ts).
 *
 * @module
 */

import type { MatchPolicy } from "../config/types.ts";
import { WampError } from "../wamp/errors.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import { isReservedUri, Uri } from "../wamp/uris.ts";
import type { Dealer } from "./dealer.ts";
import type { DealerLink } from "./dealer_link.ts";
import type { Registration } from "./dealer_types.ts";
import type { Session } from "./session.ts";
import { matchOption } from "./uri_checks.ts";

/**
 * The link `msg` of `session` must be agreed through, or null: REGISTER and UNREGISTER of
 * client sessions, except of reserved URIs (`wamp.*`, `switchboard.*`: the router's own service
 * sessions register each node's meta API procedures there, node-local, and a trusted client's
 * registration there stays on its node too, so no node's own procedures can be shadowed).
 */
export function agreedLink(
  link: DealerLink | undefined,
  session: Session,
  msg: Message,
  dealer: Dealer,
): DealerLink | null {
  if (!link || session.internal) return null;
  if (msg.type === T.REGISTER) return isReservedUri(msg.procedure) ? null : link;
  if (msg.type !== T.UNREGISTER) return null;
  const uri = dealer.get(msg.registration)?.uri;
  return uri !== undefined && isReservedUri(uri) ? null : link;
}

/** What {@link dispatchAgreed} needs of its realm. */
export interface AgreedContext {
  /** The realm's URI and permission checks of a REGISTER (throws WampError). */
  check(uri: string, match: MatchPolicy): void;
  /** Runs `fn`, holding the meta events it raises until it returns (its reply goes first). */
  afterReply(fn: () => void): void;
  /** The realm (the session must still be joined to it when the agreement comes). */
  readonly realm: unknown;
}

/**
 * Handles a REGISTER or UNREGISTER through `link`: checks, agreement with the other nodes,
 * then the commit and the reply (or the ERROR reply).
 */
export async function dispatchAgreed(
  link: DealerLink,
  dealer: Dealer,
  session: Session,
  msg: Message,
  ctx: AgreedContext,
): Promise<void> {
  if (msg.type !== T.REGISTER && msg.type !== T.UNREGISTER) return;
  let commit: () => Registration | void;
  try {
    if (msg.type === T.REGISTER) {
      const match = matchOption(msg.options, "REGISTER");
      ctx.check(msg.procedure, match);
      commit = await link.register(session, msg.procedure, match, msg.options);
    } else {
      const reg = dealer.get(msg.registration);
      if (!reg || !reg.callees.some((c) => c.session === session)) {
        throw new WampError(
          Uri.NO_SUCH_REGISTRATION,
          `no registration with id ${msg.registration}`,
        );
      }
      commit = await link.unregister(session, reg);
    }
  } catch (e) {
    if (!(e instanceof WampError)) throw e;
    return session.sendError(msg.type, msg.request, e.uri, e.payloadArgs(), e.kwargs);
  }
  if (session.closed || session.realm !== ctx.realm) return;
  ctx.afterReply(() => {
    const reg = commit();
    if (msg.type === T.UNREGISTER) session.send({ type: T.UNREGISTERED, request: msg.request });
    else if (reg) session.send({ type: T.REGISTERED, request: msg.request, registration: reg.id });
  });
}
