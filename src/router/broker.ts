/**
 * Publish & subscribe for one realm: subscriptions keyed by (topic, match), EVENT fan-out
 * encoded once per serializer, publisher exclusion, black- and whitelisting, publisher
 * disclosure, and per-event filtering of the subscribers whose role covers their pattern
 * subscription only in part.
 *
 * @module
 */

import type { EventHistoryConfig, MatchPolicy } from "../config/types.ts";
import type { EncodeCache } from "../serializer/encode_cache.ts";
import { WampError } from "../wamp/errors.ts";
import { freshId, randomId } from "../wamp/ids.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Args, Dict, Event, Kwargs, Publish } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { pptKeys } from "../wamp/ppt.ts";
import { UriIndex, uriMatches } from "../wamp/uri_index.ts";
import type { Clock } from "../clock.ts";
import { isoTime } from "../clock.ts";
import type { PublicationRecord, PublisherRecord, RetainedRecord } from "./realm_link.ts";
import type { Delivery, SessionRef } from "./session_ref.ts";

/** A subscription: one per (topic, match), shared by all its subscribers. */
export interface Subscription {
  readonly id: number;
  readonly uri: string;
  readonly match: MatchPolicy;
  /** ISO-8601 UTC creation time. */
  readonly created: string;
  readonly subscribers: Set<SessionRef>;
  /**
   * The subscribers that get only the events whose topic they may receive (see
   * {@link ReceivePredicate}): a pattern subscription their role's permissions cover only in
   * part. `null` when there are none, so unfiltered subscriptions cost nothing extra. Written by
   * the broker only.
   */
  filtered: Set<SessionRef> | null;
}

/**
 * Whether `session` may receive an event published to the concrete `topic`, asked for the
 * filtered subscribers of a subscription (see {@link Subscription.filtered}) before each
 * delivery. Its answer must depend only on the session's authrole and the topic: within one
 * publication the broker asks once per role.
 */
export type ReceivePredicate = (session: SessionRef, topic: string) => boolean;

/** Hooks the realm uses to publish subscription meta events. */
export interface BrokerObserver {
  onCreate?(session: SessionRef, sub: Subscription): void;
  onSubscribe?(session: SessionRef, sub: Subscription): void;
  onUnsubscribe?(session: SessionRef, sub: Subscription): void;
  onDelete?(session: SessionRef, sub: Subscription): void;
}

/** Features this broker implements, as announced in WELCOME. */
export const BROKER_FEATURES = {
  publisher_identification: true,
  pattern_based_subscription: true,
  publisher_exclusion: true,
  subscriber_blackwhite_listing: true,
  session_meta_api: true,
  subscription_meta_api: true,
  subscription_revocation: true,
  event_retention: true,
  event_history: true,
  payload_passthru_mode: true,
} as const;

/**
 * A retained event. Per topic the broker keeps the latest publication with `retain: true`
 * that had no black/white list, plus the black/white-listed retained publications made since
 * (at most `MAX_LIMITED_RETAINED`), oldest first (see {@link retainedAfter}).
 */
interface Retained extends RetainedRecord {
  readonly filter: Filter | null;
}

/** How many black/white-listed retained events are kept per topic besides the general one. */
const MAX_LIMITED_RETAINED = 16;

/** True when a filter restricts receivers beyond publisher exclusion. */
function isLimited(f: Filter | null): boolean {
  return f !== null && (
    f.exclude !== undefined || f.excludeAuthid !== undefined ||
    f.excludeAuthrole !== undefined || f.eligible !== undefined ||
    f.eligibleAuthid !== undefined || f.eligibleAuthrole !== undefined
  );
}

/** `record` with its receiver filter; null when its options are malformed (from elsewhere). */
function withFilter(record: RetainedRecord): Retained | null {
  try {
    return { ...record, filter: buildFilter(record.options) };
  } catch (e) {
    if (e instanceof WampError) return null;
    throw e;
  }
}

/**
 * The retained events of a topic after `record` was published with `retain: true`: the rule
 * every broker applies (the general one replaced, black/white-listed ones added, the oldest of
 * those dropped past `MAX_LIMITED_RETAINED`), exported so a cluster keeps its copy the same way.
 */
export function retainedAfter(
  list: readonly RetainedRecord[] | undefined,
  record: RetainedRecord,
): RetainedRecord[] {
  const limited = (r: RetainedRecord) => isLimited(withFilter(r)?.filter ?? null);
  if (!list || list.length === 0 || !limited(record)) return [record];
  const next = [...list, record];
  const extra = next.filter(limited);
  if (extra.length > MAX_LIMITED_RETAINED) next.splice(next.indexOf(extra[0]!), 1);
  return next;
}

/** One stored event of an event history. */
export interface HistoryEvent {
  timestamp: string;
  subscription: number;
  publication: number;
  topic: string;
  args?: Args;
  kwargs?: Kwargs;
}

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

function admits(f: Filter, s: SessionRef): boolean {
  if (f.eligible && !f.eligible.has(s.id)) return false;
  if (f.eligibleAuthid && !f.eligibleAuthid.has(s.authid)) return false;
  if (f.eligibleAuthrole && !f.eligibleAuthrole.has(s.authrole)) return false;
  if (f.exclude?.has(s.id)) return false;
  if (f.excludeAuthid?.has(s.authid)) return false;
  if (f.excludeAuthrole?.has(s.authrole)) return false;
  return true;
}

/**
 * The retained event a publication leaves behind (with `retain: true`): what every broker keeps,
 * so a cluster stores the same.
 */
export function retainedRecordOf(p: PublicationRecord): RetainedRecord {
  let base: Dict | null = null;
  if (p.disclose) {
    base = {
      publisher: p.publisher.id,
      publisher_authid: p.publisher.authid,
      publisher_authrole: p.publisher.authrole,
    };
  }
  const ppt = pptKeys(p.options);
  if (ppt) base = { ...(base ?? {}), ...ppt };
  const record: RetainedRecord = {
    topic: p.topic,
    options: p.options,
    publisher: p.publisher,
    base,
    ppt: ppt !== null,
  };
  if (p.args !== undefined) (record as { args?: Args }).args = p.args;
  if (p.kwargs !== undefined) (record as { kwargs?: Kwargs }).kwargs = p.kwargs;
  return record;
}

/** The plain identity of a publisher. */
export function publisherRecord(s: SessionRef): PublisherRecord {
  return { id: s.id, authid: s.authid, authrole: s.authrole };
}

/** The broker of one realm. */
export class Broker {
  readonly #index = new UriIndex<Subscription>();
  readonly #byId = new Map<number, Subscription>();
  #ids: ((uri: string, match: MatchPolicy) => number) | null = null;

  readonly #retained = new Map<string, Retained[]>();
  #history: { config: EventHistoryConfig; events: HistoryEvent[] }[];

  /** Replaces the event history settings, keeping stored events of entries that remain. */
  setHistory(history: readonly EventHistoryConfig[]): void {
    this.#history = history.map((config) => {
      const kept = this.#history.find((h) =>
        h.config.uri === config.uri && h.config.match === config.match
      );
      const events = kept ? kept.events.slice(-config.limit) : [];
      return { config, events };
    });
  }

  readonly #mayReceive: ReceivePredicate;
  readonly #clock: Clock;
  /** The subscriptions of each subscriber (written by the broker only). */
  readonly #bySession = new Map<SessionRef, Set<Subscription>>();

  constructor(
    clock: Clock,
    readonly observer: BrokerObserver = {},
    history: readonly EventHistoryConfig[] = [],
    mayReceive: ReceivePredicate = () => true,
  ) {
    this.#clock = clock;
    this.#history = history.map((config) => ({ config, events: [] }));
    this.#mayReceive = mayReceive;
  }

  /** The subscriptions `session` holds. */
  subscriptionsOf(session: SessionRef): readonly Subscription[] {
    return [...this.#bySession.get(session) ?? []];
  }

  /**
   * The last `limit` events of a subscription's history, oldest first.
   * @throws {WampError} `wamp.error.history_unavailable` when no history is kept for it.
   */
  history(sub: Subscription, limit: number): HistoryEvent[] {
    const h = this.#history.find((x) => x.config.uri === sub.uri && x.config.match === sub.match);
    if (!h) {
      throw new WampError(
        Uri.HISTORY_UNAVAILABLE,
        `no event history is configured for "${sub.uri}" (${sub.match})`,
      );
    }
    return limit === 0 ? [] : h.events.slice(-limit).map((e) => ({ ...e, subscription: sub.id }));
  }

  #record(topic: string, publication: number, msg: Publish): void {
    for (const h of this.#history) {
      if (!uriMatches(h.config.uri, h.config.match, topic)) continue;
      const event: HistoryEvent = {
        timestamp: isoTime(this.#clock),
        subscription: this.#index.get(h.config.uri, h.config.match)?.id ?? 0,
        publication,
        topic,
      };
      if (msg.args !== undefined) event.args = msg.args;
      if (msg.kwargs !== undefined) event.kwargs = msg.kwargs;
      h.events.push(event);
      if (h.events.length > h.config.limit) h.events.splice(0, h.events.length - h.config.limit);
    }
  }

  /**
   * Sends `session` the retained events for a new subscription (`get_retained`): the latest
   * retained event of every matching topic the session is eligible for, with
   * `Details.retained: true` and a fresh publication id. A filtered subscriber gets only the
   * topics it may receive. `replacing`: retained events kept elsewhere (a cluster's copy),
   * which replace this broker's own for the topics they have.
   */
  sendRetained(
    session: SessionRef,
    sub: Subscription,
    replacing: readonly RetainedRecord[] = [],
  ): void {
    const passthru = session.hasFeature("subscriber", "payload_passthru_mode");
    const filtered = sub.filtered?.has(session) === true;
    const all = new Map<string, readonly Retained[]>(this.#retained);
    const others = new Map<string, Retained[]>();
    for (const record of replacing) {
      const r = withFilter(record);
      if (!r || !uriMatches(sub.uri, sub.match, r.topic)) continue;
      let list = others.get(r.topic);
      if (!list) others.set(r.topic, list = []);
      list.push(r);
    }
    for (const [topic, list] of others) all.set(topic, list);
    for (const [topic, list] of all) {
      if (!uriMatches(sub.uri, sub.match, topic)) continue;
      if (filtered && !this.#mayReceive(session, topic)) continue;
      const r = list.findLast((x) =>
        (x.filter === null || admits(x.filter, session)) &&
        !(session.id === x.publisher.id && (x.filter === null || x.filter.excludeMe)) &&
        (passthru || !x.ppt)
      );
      if (!r) continue;
      const details: Dict = { ...(r.base ?? {}), retained: true };
      if (sub.match !== "exact") details.topic = r.topic;
      const event: Event = {
        type: T.EVENT,
        subscription: sub.id,
        publication: randomId(),
        details,
      };
      if (r.args !== undefined) event.args = r.args;
      if (r.kwargs !== undefined) event.kwargs = r.kwargs;
      session.send(event);
    }
  }

  /**
   * Router-initiated removal of a subscriber (`wamp.subscription.remove_subscriber`): the
   * session gets `UNSUBSCRIBED [0, {subscription, reason}]` if it announced
   * `subscription_revocation`; the meta events fire either way.
   */
  revoke(session: SessionRef, sub: Subscription, reason?: string): void {
    if (!sub.subscribers.has(session)) return;
    this.#remove(session, sub);
    if (session.hasFeature("subscriber", "subscription_revocation")) {
      const details: Dict = { subscription: sub.id };
      if (reason) details.reason = reason;
      session.send({ type: T.UNSUBSCRIBED, request: 0, details });
    }
  }

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

  /**
   * Adds `session` to the subscription for (uri, match), creating it if needed. With
   * `filtered`, the session gets only the events whose topic it may receive (see
   * {@link ReceivePredicate}); a session already subscribed takes the new setting.
   */
  subscribe(session: SessionRef, uri: string, match: MatchPolicy, filtered = false): Subscription {
    let sub = this.#index.get(uri, match);
    let created = false;
    if (!sub) {
      sub = {
        id: this.#newId(uri, match),
        uri,
        match,
        created: isoTime(this.#clock),
        subscribers: new Set(),
        filtered: null,
      };
      this.#index.set(uri, match, sub);
      this.#byId.set(sub.id, sub);
      created = true;
    }
    this.setFiltered(session, sub, filtered);
    if (sub.subscribers.has(session)) return sub;
    sub.subscribers.add(session);
    let mine = this.#bySession.get(session);
    if (!mine) this.#bySession.set(session, mine = new Set());
    mine.add(sub);
    if (created) this.observer.onCreate?.(session, sub);
    this.observer.onSubscribe?.(session, sub);
    return sub;
  }

  /**
   * Names new subscriptions with `ids` (a cluster: the same id for (uri, match) on every node)
   * instead of random ids; an id taken here already falls back to a random one.
   */
  setSubscriptionIds(ids: ((uri: string, match: MatchPolicy) => number) | null): void {
    this.#ids = ids;
  }

  #newId(uri: string, match: MatchPolicy): number {
    const id = this.#ids?.(uri, match);
    return id !== undefined && !this.#byId.has(id) ? id : freshId(this.#byId);
  }

  /**
   * Whether `session` gets every event of `sub` (false) or only those whose topic it may
   * receive (true).
   */
  setFiltered(session: SessionRef, sub: Subscription, filtered: boolean): void {
    if (filtered) (sub.filtered ??= new Set()).add(session);
    else if (sub.filtered?.delete(session) && sub.filtered.size === 0) sub.filtered = null;
  }

  /**
   * Removes `session` from subscription `id`.
   * @throws {WampError} `wamp.error.no_such_subscription` when the session does not hold it.
   */
  unsubscribe(session: SessionRef, id: number): Subscription {
    const sub = this.#byId.get(id);
    if (!sub || !sub.subscribers.has(session)) {
      throw new WampError(Uri.NO_SUCH_SUBSCRIPTION, `no subscription with id ${id}`);
    }
    this.#remove(session, sub);
    return sub;
  }

  /** Drops every subscription of a leaving session. */
  removeSession(session: SessionRef): void {
    for (const sub of this.subscriptionsOf(session)) this.#remove(session, sub);
    this.#bySession.delete(session);
  }

  #remove(session: SessionRef, sub: Subscription): void {
    this.setFiltered(session, sub, false);
    sub.subscribers.delete(session);
    const mine = this.#bySession.get(session);
    mine?.delete(sub);
    if (mine?.size === 0) this.#bySession.delete(session);
    this.observer.onUnsubscribe?.(session, sub);
    if (sub.subscribers.size === 0) {
      this.#index.delete(sub.uri, sub.match);
      this.#byId.delete(sub.id);
      this.observer.onDelete?.(session, sub);
    }
  }

  /**
   * Delivers a publication to every matching subscription and returns its publication id.
   * `remote`: a publication made on another node, delivered here with its own publication id;
   * it is neither retained nor recorded in the event history here (its node does that).
   * @throws {WampError} `wamp.error.invalid_argument` for malformed black/white lists.
   */
  publish(
    publisher: SessionRef,
    msg: Publish,
    disclose: boolean,
    delivery?: Delivery,
    remote?: { readonly publication: number },
  ): number {
    const publication = remote?.publication ?? randomId();
    const filter = buildFilter(msg.options);
    let base: Dict | null = null;
    if (disclose) {
      base = {
        publisher: publisher.id,
        publisher_authid: publisher.authid,
        publisher_authrole: publisher.authrole,
      };
    }
    const ppt = pptKeys(msg.options);
    if (ppt) base = { ...(base ?? {}), ...ppt };
    if (msg.options.retain === true && !remote) {
      const record: RetainedRecord = {
        topic: msg.topic,
        options: msg.options,
        publisher: publisherRecord(publisher),
        base,
        ppt: ppt !== null,
      };
      if (msg.args !== undefined) (record as { args?: Args }).args = msg.args;
      if (msg.kwargs !== undefined) (record as { kwargs?: Kwargs }).kwargs = msg.kwargs;
      this.#retained.set(
        msg.topic,
        retainedAfter(this.#retained.get(msg.topic), record).map((r) => withFilter(r)!),
      );
    }
    if (this.#history.length > 0 && !remote) this.#record(msg.topic, publication, msg);
    // The filtered subscribers' answers for this topic, by authrole (made when first needed).
    let receives: Map<string, boolean> | null = null;
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
      const filtered = sub.filtered;
      for (const s of sub.subscribers) {
        if (s === publisher && (filter === null || filter.excludeMe)) continue;
        if (filter !== null && !admits(filter, s)) continue;
        // passthru payloads go only to subscribers that announced the feature
        if (ppt && !s.hasFeature("subscriber", "payload_passthru_mode")) continue;
        if (filtered !== null && filtered.has(s)) {
          receives ??= new Map();
          let ok = receives.get(s.authrole);
          if (ok === undefined) {
            ok = this.#mayReceive(s, msg.topic);
            receives.set(s.authrole, ok);
          }
          if (!ok) continue;
        }
        s.send(event, cache, delivery);
      }
    });
    return publication;
  }
}
