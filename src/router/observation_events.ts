/**
 * The meta events of subscriptions and registrations (`wamp.subscription.on_*`,
 * `wamp.registration.on_*`): the broker's and dealer's observer hooks that publish them, and
 * the details they carry. The router's own sessions and `wamp.*` URIs raise none.
 *
 * @module
 */

import { isReservedUri } from "../wamp/uris.ts";
import type { Subscription } from "./broker.ts";
import type { Registration } from "./dealer.ts";
import type { SessionRef } from "./session_ref.ts";

/** Publishes a meta event. */
export type Publish = (topic: string, args: unknown[]) => void;

/** A subscription's details as the meta API reports them. */
export function subInfo(s: Subscription): Record<string, unknown> {
  return { id: s.id, created: s.created, uri: s.uri, match: s.match };
}

/** A registration's details as the meta API reports them. */
export function regInfo(r: Registration): Record<string, unknown> {
  return { id: r.id, created: r.created, uri: r.uri, match: r.match, invoke: r.invoke };
}

/** Broker/dealer observer hooks that publish the meta events. */
export function observationEvents(
  publish: Publish,
  isInternal: (session: SessionRef) => boolean,
) {
  const quiet = (session: SessionRef, uri: string) => isInternal(session) || isReservedUri(uri);
  return {
    broker: {
      onCreate(session: SessionRef, sub: Subscription) {
        if (!quiet(session, sub.uri)) {
          publish("wamp.subscription.on_create", [session.id, subInfo(sub)]);
        }
      },
      onSubscribe(session: SessionRef, sub: Subscription) {
        if (!quiet(session, sub.uri)) {
          publish("wamp.subscription.on_subscribe", [session.id, sub.id]);
        }
      },
      onUnsubscribe(session: SessionRef, sub: Subscription) {
        if (!quiet(session, sub.uri)) {
          publish("wamp.subscription.on_unsubscribe", [session.id, sub.id]);
        }
      },
      onDelete(session: SessionRef, sub: Subscription) {
        if (!quiet(session, sub.uri)) publish("wamp.subscription.on_delete", [session.id, sub.id]);
      },
    },
    dealer: {
      onCreate(session: SessionRef, reg: Registration) {
        if (!quiet(session, reg.uri)) {
          publish("wamp.registration.on_create", [session.id, regInfo(reg)]);
        }
      },
      onRegister(session: SessionRef, reg: Registration) {
        if (!quiet(session, reg.uri)) {
          publish("wamp.registration.on_register", [session.id, reg.id]);
        }
      },
      onUnregister(session: SessionRef, reg: Registration) {
        if (!quiet(session, reg.uri)) {
          publish("wamp.registration.on_unregister", [session.id, reg.id]);
        }
      },
      onDelete(session: SessionRef, reg: Registration) {
        if (!quiet(session, reg.uri)) publish("wamp.registration.on_delete", [session.id, reg.id]);
      },
    },
  };
}
