/**
 * A CALL that finds no registration on its node may be to a procedure registered elsewhere a
 * moment ago, which this node's watch of `sb_regs` has not brought yet (typically: a client
 * hears of the registration through an event, which can overtake the watch). Before answering
 * `no_such_procedure`, the node reads the procedure's exact key from the bucket, applies it, and
 * routes the CALL again. Pattern registrations are not looked up this way (their keys cannot be
 * derived from the procedure); progressive call invocations are not either (their later chunks
 * would race the lookup).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { SessionRef } from "../router/session_ref.ts";
import { WampError } from "../wamp/errors.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Call, ErrorMessage } from "../wamp/messages.ts";
import type { CallsHost } from "./remote_calls.ts";
import { MAX_KEY_LENGTH } from "./registration_wire.ts";
import { uriKey } from "./subjects.ts";

/** The `Dealer.onMiss` of realm `realm`: looks the procedure up, then calls again. */
export function lookupOnMiss(
  regs: { refresh(key: string): Promise<void> },
  realm: string,
  host: CallsHost,
  logger: Logger,
): (caller: SessionRef, msg: Call, disclose: boolean) => boolean {
  let again = false;
  return (caller, msg, disclose) => {
    if (again) return false;
    const key = uriKey(realm, "exact", msg.procedure);
    if (key.length > MAX_KEY_LENGTH) return false; // never registered (see registration_wire.ts)
    const id = caller.id;
    regs.refresh(key).catch((e) => {
      logger.warn("a registration lookup failed", { procedure: msg.procedure, error: String(e) });
    }).finally(() => {
      const here = host.realm(realm);
      if (!here || here.sessions.get(id) !== caller) return;
      again = true;
      try {
        here.dealer.call(caller, msg, disclose);
      } catch (e) {
        if (!(e instanceof WampError)) {
          logger.warn("a call after a registration lookup failed", { error: String(e) });
          return;
        }
        const error: ErrorMessage = {
          type: T.ERROR,
          requestType: T.CALL,
          request: msg.request,
          details: {},
          error: e.uri,
        };
        const args = e.payloadArgs();
        if (args) error.args = args;
        caller.send(error);
      } finally {
        again = false;
      }
    });
    return true;
  };
}
