/**
 * What a realm tells the world beyond its router, and what the world hands back: the extension
 * point a cluster (or anything else) plugs into per realm (docs/cluster.md). The realm calls
 * a {@link RealmLink}'s hooks; the link delivers what other nodes publish with
 * `Realm.deliverRemote`. This module knows nothing of NATS or of other nodes: plain data only.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Args, Dict, Kwargs, Publish } from "../wamp/messages.ts";
import type { MatchPolicy } from "../wamp/uris.ts";
import type { SessionDetails } from "./session.ts";
import type { DealerLink } from "./dealer_link.ts";
import type { Delivery, SessionRef } from "./session_ref.ts";

/** Who published: enough for another node's broker to apply exclusion and eligibility. */
export interface PublisherRecord {
  readonly id: number;
  readonly authid: string;
  readonly authrole: string;
}

/**
 * One publication as it leaves its realm: everything another node needs to deliver it to its
 * own subscribers under the same rules (exclusion, eligibility, disclosure, passthru).
 */
export interface PublicationRecord {
  /** The publication id every subscriber sees, on every node. */
  readonly publication: number;
  readonly topic: string;
  readonly args?: Args;
  readonly kwargs?: Kwargs;
  /** The PUBLISH options as the publisher sent them (black/white lists, `exclude_me`, ppt). */
  readonly options: Dict;
  readonly publisher: PublisherRecord;
  /** Whether the publisher is disclosed to subscribers (its role, or `disclose_me`). */
  readonly disclose: boolean;
  /** False for `wamp.session.on_stats` events (see `Delivery.triggersStats`). */
  readonly triggersStats: boolean;
}

/**
 * One retained event as a broker keeps it, in plain data: the latest retained publication of
 * a topic (and the black/white-listed ones made since, see broker.ts).
 */
export interface RetainedRecord {
  readonly topic: string;
  readonly args?: Args;
  readonly kwargs?: Kwargs;
  /** The PUBLISH options, from which the broker rebuilds its receiver filter. */
  readonly options: Dict;
  readonly publisher: PublisherRecord;
  /** The EVENT details every receiver gets (publisher disclosure, ppt keys), or null. */
  readonly base: Dict | null;
  /** Published in payload passthru mode: only for subscribers that announced it. */
  readonly ppt: boolean;
}

/**
 * The hooks of one realm. Every hook is optional, so a link implements what it needs; none
 * may throw (a link logs its own failures). Hooks run after the realm's own state changed.
 */
export interface RealmLink {
  /**
   * A session subscribed to (uri, match) (called for every SUBSCRIBE that is accepted, the
   * first subscriber's included). The realm sends SUBSCRIBED (and the retained events) once
   * the promise settles; null: at once. It should resolve when publications of every other
   * node on matching topics reach this realm, and not wait unboundedly.
   */
  interest?(uri: string, match: MatchPolicy): Promise<void> | null;
  /**
   * Why (uri, match) cannot be routed through the cluster (a reason for
   * `wamp.error.invalid_uri`), or null; asked for every PUBLISH, SUBSCRIBE and REGISTER before
   * anything else happens.
   */
  uriRefused?(uri: string, match: MatchPolicy): string | null;
  /** The last local subscriber of (uri, match) left: the subscription is gone here. */
  interestRemoved?(uri: string, match: MatchPolicy): void;
  /**
   * A publication of a local session (or of the realm itself: meta events, testaments) was
   * delivered locally; the link passes it on. A promise (a retained event being stored):
   * PUBLISHED waits for it, so an acknowledged retained publication is readable everywhere. It
   * must settle, and not reject.
   */
  published?(record: PublicationRecord): Promise<void> | null | void;
  /**
   * The retained events for a new subscription with `get_retained`, from wherever the link keeps
   * them: they replace the realm's own retained events of the same topics. Null: the realm's
   * own only.
   */
  retained?(uri: string, match: MatchPolicy): Promise<readonly RetainedRecord[]> | null;
  /** A session joined (WELCOME sent); `details` are its meta API details. */
  sessionJoined?(session: SessionRef, details: SessionDetails): void;
  /** A session left (after its subscriptions and registrations were removed). */
  sessionLeft?(session: SessionRef): void;
  /** The realm is going away (removed by a reload, or the router closes). */
  close?(): void;
  /** Makes the realm's registrations cluster-wide (see dealer_link.ts); none: local only. */
  readonly dealer?: DealerLink;
}

/** The record of a publication delivered locally (see {@link RealmLink.published}). */
export function publicationRecord(
  publication: number,
  msg: Publish,
  publisher: SessionRef,
  disclose: boolean,
  delivery: Delivery | undefined,
): PublicationRecord {
  const record: PublicationRecord = {
    publication,
    topic: msg.topic,
    options: msg.options,
    publisher: { id: publisher.id, authid: publisher.authid, authrole: publisher.authrole },
    disclose,
    triggersStats: delivery?.triggersStats !== false,
  };
  if (msg.args !== undefined) (record as { args?: Args }).args = msg.args;
  if (msg.kwargs !== undefined) (record as { kwargs?: Kwargs }).kwargs = msg.kwargs;
  return record;
}

/**
 * The publisher of a publication made on another node, as the broker sees it: identity only
 * (it is never a receiver here).
 */
export function remotePublisher(record: PublicationRecord): SessionRef {
  const { id, authid, authrole } = record.publisher;
  return { id, authid, authrole, hasFeature: () => false, send: () => "dropped" };
}

/** The PUBLISH of a {@link PublicationRecord}, for the local broker. */
export function remotePublish(record: PublicationRecord): Publish {
  const msg: Publish = {
    type: T.PUBLISH,
    request: 0,
    options: record.options,
    topic: record.topic,
  };
  if (record.args !== undefined) msg.args = record.args;
  if (record.kwargs !== undefined) msg.kwargs = record.kwargs;
  return msg;
}

/**
 * Calls `reply` with the retained records once `ready` and `elsewhere` settle (at once when
 * both are null), if `alive()` still says so; a failure is logged and the reply goes out
 * without remote retained events.
 */
export function replyWhenReady(
  ready: Promise<void> | null,
  elsewhere: Promise<readonly RetainedRecord[]> | null,
  alive: () => boolean,
  reply: (records: readonly RetainedRecord[]) => void,
  logger: Logger,
): void {
  if (ready === null && elsewhere === null) return reply([]);
  Promise.all([ready, elsewhere]).then(([, records]) => {
    if (alive()) reply(records ?? []);
  }, (e) => {
    logger.error("the realm link failed a subscription", { error: String(e) });
    if (alive()) reply([]);
  });
}
