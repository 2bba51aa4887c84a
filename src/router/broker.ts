/**
 * Publish & subscribe for one realm: subscriptions keyed by (topic, match), EVENT fan-out
 * encoded once per serializer, publisher exclusion, black- and whitelisting, publisher
 * disclosure.
 *
 * @module
 */

import type { MatchPolicy } from "../config/types.ts";
import type { EncodeCache } from "../transport/peer.ts";
import { WampError } from "../wamp/errors.ts";
import { freshId, randomId } from "../wamp/ids.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Dict, Event, Publish } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { UriIndex } from "./uri_index.ts";
import type { Session } from "./session.ts";

/** A subscription: one per (topic, match), shared by all its subscribers. */
export interface Subscription {
  readonly id: number;
  readonly uri: string;
  readonly match: MatchPolicy;
  /** ISO-8601 UTC creation time. */
  readonly created: string;
  readonly subscribers: Set<Session>;
}

/** Hooks the realm uses to publish subscription meta events. */
export interface BrokerObserver {
  onCreate?(session: Session, sub: Subscription): void;
  onSubscribe?(session: Session, sub: Subscription): void;
  onUnsubscribe?(session: Session, sub: Subscription): void;
  onDelete?(session: Session, sub: Subscription): void;
}

/** Features this broker implements, as announced in WELCOME. */
export const BROKER_FEATURES = {
  publisher_identification: true,
  pattern_based_subscription: true,
  publisher_exclusion: true,
  subscriber_blackwhite_listing: true,
  session_meta_api: true,
} as const;

/** Receiver filter built from PUBLISH options (each list applies only when present). */
interface Filter {
  excludeMe: boolean;
  exclude?: Set<unknown>;
  excludeAuthid?: Set<unknown>;
  excludeAuthrole?: Set<unknown>;
  eligible?: Set<unknown>;
  eligibleAuthid?: Set<unknown>;
  eligibleAuthrole?: Set<unknown>;
}

function listOption(
  options: Dict,
  key: string,
  type: "number" | "string",
): Set<unknown> | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== type)) {
    throw new WampError(Uri.INVALID_ARGUMENT, `PUBLISH.Options.${key} must be a list of ${type}s`);
  }
  return new Set(v);
}

function buildFilter(options: Dict): Filter | null {
  const excludeMe = options.exclude_me !== false;
  if (
    options.exclude === undefined && options.exclude_authid === undefined &&
    options.exclude_authrole === undefined && options.eligible === undefined &&
    options.eligible_authid === undefined && options.eligible_authrole === undefined
  ) {
    return excludeMe ? null : { excludeMe };
  }
  return {
    excludeMe,
    exclude: listOption(options, "exclude", "number"),
    excludeAuthid: listOption(options, "exclude_authid", "string"),
    excludeAuthrole: listOption(options, "exclude_authrole", "string"),
    eligible: listOption(options, "eligible", "number"),
    eligibleAuthid: listOption(options, "eligible_authid", "string"),
    eligibleAuthrole: listOption(options, "eligible_authrole", "string"),
  };
}

function admits(f: Filter, s: Session): boolean {
  if (f.eligible && !f.eligible.has(s.id)) return false;
  if (f.eligibleAuthid && !f.eligibleAuthid.has(s.authid)) return false;
  if (f.eligibleAuthrole && !f.eligibleAuthrole.has(s.authrole)) return false;
  if (f.exclude?.has(s.id)) return false;
  if (f.excludeAuthid?.has(s.authid)) return false;
  if (f.excludeAuthrole?.has(s.authrole)) return false;
  return true;
}

/** The broker of one realm. */
export class Broker {
  readonly #index = new UriIndex<Subscription>();
  readonly #byId = new Map<number, Subscription>();

  constructor(readonly observer: BrokerObserver = {}) {}

  /** The subscription with `id`. */
  get(id: number): Subscription | undefined {
    return this.#byId.get(id);
  }

  /** The subscription for (uri, match). */
  lookup(uri: string, match: MatchPolicy): Subscription | undefined {
    return this.#index.get(uri, match);
  }

  /** Every subscription matching a concrete topic. */
  match(topic: string): Subscription[] {
    return this.#index.matchAll(topic);
  }

  /** All subscriptions. */
  all(): IterableIterator<Subscription> {
    return this.#byId.values();
  }

  /** Adds `session` to the subscription for (uri, match), creating it if needed. */
  subscribe(session: Session, uri: string, match: MatchPolicy): Subscription {
    let sub = this.#index.get(uri, match);
    let created = false;
    if (!sub) {
      sub = {
        id: freshId(this.#byId),
        uri,
        match,
        created: new Date().toISOString(),
        subscribers: new Set(),
      };
      this.#index.set(uri, match, sub);
      this.#byId.set(sub.id, sub);
      created = true;
    }
    if (sub.subscribers.has(session)) return sub;
    sub.subscribers.add(session);
    session.subscriptions.add(sub);
    if (created) this.observer.onCreate?.(session, sub);
    this.observer.onSubscribe?.(session, sub);
    return sub;
  }

  /**
   * Removes `session` from subscription `id`.
   * @throws {WampError} `wamp.error.no_such_subscription` when the session does not hold it.
   */
  unsubscribe(session: Session, id: number): Subscription {
    const sub = this.#byId.get(id);
    if (!sub || !sub.subscribers.has(session)) {
      throw new WampError(Uri.NO_SUCH_SUBSCRIPTION, `no subscription with id ${id}`);
    }
    this.#remove(session, sub);
    return sub;
  }

  /** Drops every subscription of a leaving session. */
  removeSession(session: Session): void {
    for (const sub of [...session.subscriptions]) this.#remove(session, sub);
  }

  #remove(session: Session, sub: Subscription): void {
    sub.subscribers.delete(session);
    session.subscriptions.delete(sub);
    this.observer.onUnsubscribe?.(session, sub);
    if (sub.subscribers.size === 0) {
      this.#index.delete(sub.uri, sub.match);
      this.#byId.delete(sub.id);
      this.observer.onDelete?.(session, sub);
    }
  }

  /**
   * Delivers a publication to every matching subscription and returns its publication id.
   * @throws {WampError} `wamp.error.invalid_argument` for malformed black/white lists.
   */
  publish(publisher: Session, msg: Publish, disclose: boolean): number {
    const publication = randomId();
    const filter = buildFilter(msg.options);
    let base: Dict | null = null;
    if (disclose) {
      base = {
        publisher: publisher.id,
        publisher_authid: publisher.authid,
        publisher_authrole: publisher.authrole,
      };
    }
    this.#index.forEachMatch(msg.topic, (sub) => {
      let details: Dict;
      if (sub.match === "exact") details = base ?? {};
      else details = base ? { ...base, topic: msg.topic } : { topic: msg.topic };
      const event: Event = {
        type: T.EVENT,
        subscription: sub.id,
        publication,
        details,
      };
      if (msg.args !== undefined) event.args = msg.args;
      if (msg.kwargs !== undefined) event.kwargs = msg.kwargs;
      const cache: EncodeCache = [];
      for (const s of sub.subscribers) {
        if (s === publisher && (filter === null || filter.excludeMe)) continue;
        if (filter !== null && !admits(filter, s)) continue;
        s.send(event, cache);
      }
    });
    return publication;
  }
}
