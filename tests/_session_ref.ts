/**
 * A fake {@linkcode SessionRef} for in-process broker and dealer tests: it records every
 * message handed to it and answers `send` with what the test decides.
 *
 * @module
 */

import type { EncodeCache } from "../src/serializer/encode_cache.ts";
import type { Delivery, SendOutcome, SessionRef } from "../src/router/session_ref.ts";
import type { Message } from "../src/wamp/messages.ts";

/** A session that records what it is sent. */
export interface FakeSession extends SessionRef {
  /** Every message handed to `send`, whatever the outcome. */
  readonly sent: Message[];
  /** The messages of `type` handed to `send`. */
  of(type: number): Message[];
  /** What `send` answers for a message (default: always "sent"). */
  outcome: (message: Message) => SendOutcome;
  /** The encode caches handed to `send`, by message index in `sent`. */
  readonly caches: (EncodeCache | undefined)[];
  /** The deliveries handed to `send`, by message index in `sent`. */
  readonly deliveries: (Delivery | undefined)[];
}

/** Options of {@linkcode fakeSession}. */
export interface FakeSessionOptions {
  authid?: string;
  authrole?: string;
  /** Announced features as `role.feature`, e.g. `callee.call_canceling`. */
  features?: string[];
  outcome?: (message: Message) => SendOutcome;
}

/** A fake session with `id` (authid `s<id>`, authrole `anonymous` unless given). */
export function fakeSession(id: number, options: FakeSessionOptions = {}): FakeSession {
  const features = new Set(options.features ?? []);
  const sent: Message[] = [];
  const caches: (EncodeCache | undefined)[] = [];
  const deliveries: (Delivery | undefined)[] = [];
  const session: FakeSession = {
    id,
    authid: options.authid ?? `s${id}`,
    authrole: options.authrole ?? "anonymous",
    sent,
    caches,
    deliveries,
    outcome: options.outcome ?? (() => "sent"),
    of: (type) => sent.filter((m) => m.type === type),
    hasFeature: (role, feature) => features.has(`${role}.${feature}`),
    send(message, cache, delivery) {
      sent.push(message);
      caches.push(cache);
      deliveries.push(delivery);
      return session.outcome(message);
    },
  };
  return session;
}
