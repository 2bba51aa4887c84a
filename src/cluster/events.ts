/**
 * Events across nodes for one realm (docs/cluster.md, "Events"): the realm's
 * {@link RealmLink} for publications and subscription interest.
 *
 * - Per (uri, match) with a local subscriber, the node holds one NATS subscription on the
 *   pattern `subjects.ts` gives (exact: the topic's subject; wildcard: `*` tokens; prefix: the
 *   complete components and `>`, the string prefix being checked by the local broker's own
 *   matching). Several (uri, match) needing the same subject share one NATS subscription.
 *   SUBSCRIBED waits until the server registered the interest (bounded by
 *   {@link INTEREST_WAIT_MS}; at once while NATS is out of reach).
 * - A local publication is published once on its topic's subject (the connection has noEcho).
 *   A node receiving it delivers it once to its local subscribers (copies that arrive through
 *   several of its NATS subscriptions are recognised by their publication id), with the rules
 *   of a local publication.
 * - Retained events are kept in bucket `sb_retained` (see `retained.ts`). One published while
 *   NATS is out of reach is this node's broker's only; the node keeps it aside too (per topic as
 *   the broker keeps it, so no more than the broker holds) and writes it to the bucket when the
 *   link is back, after whatever other nodes retained on the topic meanwhile: the latest write
 *   wins, as between two connected nodes.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Realm } from "../router/realm.ts";
import type { DealerLink } from "../router/dealer_link.ts";
import { retainedAfter, retainedRecordOf } from "../router/broker.ts";
import type { PublicationRecord, RealmLink, RetainedRecord } from "../router/realm_link.ts";
import { WampError } from "../wamp/errors.ts";
import { type MatchPolicy, Uri } from "../wamp/uris.ts";
import { CodecError, decode, encodeView } from "./codec.ts";
import type { ClusterLink, LinkSubscription } from "./link.ts";
import { StringMemo } from "./memo.ts";
import type { RetainedStore } from "./retained.ts";
import { eventSubject, MAX_SUBJECT_BYTES, subjectBound, subscriptionPattern } from "./subjects.ts";

/** The subject prefix of events: `sb.ev.<realm>.<c1>.<c2>…`. */
export const EVENT_PREFIX = "sb.ev";
/** Longest wait (ms) of a SUBSCRIBED for its interest to be registered at the server. */
export const INTEREST_WAIT_MS = 2000;
/** Publication ids remembered per realm to deliver each remote publication once. */
export const DEDUPE_WINDOW = 4096;

function isDict(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** `value` as a publication record, or null when it is not one (the bus is hostile). */
export function asPublicationRecord(value: unknown): PublicationRecord | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const p = v.publisher as Record<string, unknown> | null;
  if (
    !Number.isSafeInteger(v.publication) || typeof v.topic !== "string" ||
    !isDict(v.options) || !isDict(p) || !Number.isSafeInteger(p!.id) ||
    typeof p!.authid !== "string" || typeof p!.authrole !== "string" ||
    typeof v.disclose !== "boolean" || typeof v.triggersStats !== "boolean" ||
    (v.args !== undefined && !Array.isArray(v.args)) ||
    (v.kwargs !== undefined && !isDict(v.kwargs))
  ) return null;
  return value as PublicationRecord;
}

interface SubjectState {
  /** The (uri, match) keys needing this subject. */
  readonly users: Set<string>;
  /** Resolves once the server registered the interest. */
  readonly ready: Promise<void>;
  settled: boolean;
  sub: LinkSubscription | null;
  dropped: boolean;
}

/** Options of {@link RealmEvents}. */
export interface RealmEventsOptions {
  readonly link: ClusterLink;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retained: RetainedStore;
  /**
   * The queue group of every event subscription of this node (unique to the node's life): NATS
   * delivers each publication to one of them only, and the realm's broker fans it out to every
   * local subscription it matches, so a publication crosses to a node exactly once.
   */
  readonly queue?: string;
}

/** The cluster's link of one realm: events and retained events. */
export class RealmEvents implements RealmLink {
  readonly #realm: Realm;
  readonly #o: RealmEventsOptions;
  /** Subject of each (uri, match) with local subscribers. */
  readonly #interests = new Map<string, string>();
  readonly #subjects = new Map<string, SubjectState>();
  /** Recently delivered remote publication ids, oldest first. */
  readonly #seen = new Set<number>();
  /** The ids in `#seen`, oldest at `#seenNext` once the window is full (a ring). */
  readonly #seenRing: number[] = [];
  #seenNext = 0;
  #closed = false;
  /** Retained events published while NATS was out of reach, per topic, not yet in the bucket. */
  #unstored = new Map<string, RetainedRecord[]>();
  /** The subject of each recent topic (every publication, sent or received, needs it). */
  readonly #topicSubjects: StringMemo<string>;
  /** Remote publications received and delivered (after deduplication). */
  received = 0;
  /** Local publications sent on to the cluster. */
  sent = 0;
  /** Local publications too large to cross (delivered on this node only). */
  tooLarge = 0;
  /** Copies of a remote publication that arrived again (dropped; 0 with the node's queue). */
  duplicates = 0;
  /** The realm's registrations link (set by the node: registrations are not events). */
  dealer?: DealerLink;

  constructor(realm: Realm, options: RealmEventsOptions) {
    this.#realm = realm;
    this.#o = options;
    this.#topicSubjects = new StringMemo((topic) => eventSubject(EVENT_PREFIX, realm.name, topic));
    options.link.onStatus((status) => {
      if (status === "connected") this.#storeUnstored();
    });
  }

  /** Topics with retained events of this node waiting for NATS (for tests). */
  get unstoredRetained(): number {
    return this.#unstored.size;
  }

  /** Writes the retained events kept while NATS was out of reach; a failed topic is kept. */
  #storeUnstored(): void {
    if (this.#closed || this.#unstored.size === 0) return;
    const batch = this.#unstored;
    this.#unstored = new Map();
    for (const [topic, records] of batch) {
      this.#o.retained.storeAll(this.#realm.name, topic, records).then((stored) => {
        if (stored || this.#closed) return;
        // the link went again: kept for the next time, before what was retained since
        const later = this.#unstored.get(topic) ?? [];
        this.#unstored.set(topic, later.reduce<RetainedRecord[]>(retainedAfter, records));
      });
    }
  }

  /** What the link holds now: (uri, match) interests and NATS subscriptions (for tests). */
  get held(): { interests: number; subjects: number } {
    return { interests: this.#interests.size, subjects: this.#subjects.size };
  }

  uriRefused(uri: string, match: MatchPolicy): string | null {
    const bound = subjectBound(EVENT_PREFIX, this.#realm.name, uri);
    if (bound <= MAX_SUBJECT_BYTES) return null;
    const subject = match === "exact"
      ? eventSubject(EVENT_PREFIX, this.#realm.name, uri)
      : subscriptionPattern(EVENT_PREFIX, this.#realm.name, uri, match).subject;
    const bytes = new TextEncoder().encode(subject).byteLength;
    if (bytes <= MAX_SUBJECT_BYTES) return null;
    return `the URI is too long for the cluster (${bytes} bytes as a NATS subject, at most ` +
      `${MAX_SUBJECT_BYTES})`;
  }

  interest(uri: string, match: MatchPolicy): Promise<void> | null {
    return this.#hold(`${match} ${uri}`, uri, match);
  }

  /**
   * Receives the publications of every node to the realm's event-history entries, whether or
   * not a local session subscribes, so this node's broker records the whole history (asked when
   * the realm starts and at each reload; an entry dropped by a reload is let go).
   */
  historyChanged(entries: readonly { readonly uri: string; readonly match: MatchPolicy }[]): void {
    const keep = new Set(entries.map((h) => `history ${h.match} ${h.uri}`));
    for (const key of [...this.#interests.keys()]) {
      if (key.startsWith("history ") && !keep.has(key)) this.#release(key);
    }
    for (const h of entries) this.#hold(`history ${h.match} ${h.uri}`, h.uri, h.match);
  }

  #hold(key: string, uri: string, match: MatchPolicy): Promise<void> | null {
    if (this.#closed) return null;
    let subject = this.#interests.get(key);
    if (subject === undefined) {
      subject = subscriptionPattern(EVENT_PREFIX, this.#realm.name, uri, match).subject;
      this.#interests.set(key, subject);
      let state = this.#subjects.get(subject);
      if (!state) this.#subjects.set(subject, state = this.#listen(subject));
      state.users.add(key);
    }
    const state = this.#subjects.get(subject)!;
    if (state.settled || this.#o.link.status !== "connected") return null;
    return this.#bounded(state.ready);
  }

  /** `ready`, or a resolved promise after {@link INTEREST_WAIT_MS}. */
  #bounded(ready: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#o.clock.setTimer(() => {
        this.#o.logger.warn("cluster: subscription interest not confirmed in time", {
          realm: this.#realm.name,
        });
        resolve();
      }, INTEREST_WAIT_MS);
      ready.then(() => {
        this.#o.clock.clearTimer(timer);
        resolve();
      });
    });
  }

  #listen(subject: string): SubjectState {
    const state: SubjectState = {
      users: new Set(),
      ready: Promise.resolve(),
      settled: false,
      sub: null,
      dropped: false,
    };
    (state as { ready: Promise<void> }).ready = this.#o.link.subscribe(
      subject,
      (m) => this.#received(m.subject, m.data),
      this.#o.queue,
    ).then((sub) => {
      state.settled = true;
      if (state.dropped) sub.unsubscribe();
      else state.sub = sub;
    }, (e) => {
      state.settled = true;
      this.#o.logger.error("cluster: cannot subscribe", { subject, error: String(e) });
    });
    return state;
  }

  interestRemoved(uri: string, match: MatchPolicy): void {
    this.#release(`${match} ${uri}`);
  }

  #release(key: string): void {
    const subject = this.#interests.get(key);
    if (subject === undefined) return;
    this.#interests.delete(key);
    const state = this.#subjects.get(subject);
    if (!state) return;
    state.users.delete(key);
    if (state.users.size > 0) return;
    this.#subjects.delete(subject);
    state.dropped = true;
    state.sub?.unsubscribe();
  }

  published(record: PublicationRecord): Promise<void> | null {
    if (this.#closed) return null;
    if (this.#o.link.status === "connected") {
      const data = encodeView(record);
      // nats.js would throw for it (and a hostile publisher would end its own session so): the
      // node's subscribers have it, the other nodes cannot; an acknowledged publisher is told
      if (data.byteLength > this.#o.link.maxPayload) {
        this.tooLarge++;
        throw new WampError(
          Uri.PAYLOAD_SIZE_EXCEEDED,
          `the publication is ${data.byteLength} bytes between nodes, more than the cluster ` +
            `carries (${this.#o.link.maxPayload}): delivered to this node's subscribers only`,
        );
      }
      this.#o.link.publish(this.#topicSubjects.get(record.topic), data);
      this.sent++;
    }
    if (record.options.retain !== true) return null;
    if (this.#o.link.status === "connected") {
      return this.#o.retained.store(this.#realm.name, record);
    }
    // its broker has it for this node's subscribers; the bucket gets it when NATS is back
    this.#unstored.set(
      record.topic,
      retainedAfter(this.#unstored.get(record.topic), retainedRecordOf(record)),
    );
    return null;
  }

  retained(uri: string, match: MatchPolicy): Promise<readonly RetainedRecord[]> | null {
    if (this.#closed || this.#o.link.status !== "connected") return null;
    return this.#o.retained.read(this.#realm.name, uri, match);
  }

  #received(subject: string, data: Uint8Array): void {
    if (this.#closed) return;
    let record: PublicationRecord | null;
    try {
      record = asPublicationRecord(decode(data));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      record = null;
    }
    // the subject must be the topic's own: a peer cannot smuggle a topic past a pattern
    if (!record || this.#topicSubjects.get(record.topic) !== subject) {
      this.#o.logger.warn("cluster: malformed event ignored", { subject });
      return;
    }
    if (this.#seen.has(record.publication)) {
      this.duplicates++;
      return;
    }
    this.#seen.add(record.publication);
    if (this.#seenRing.length < DEDUPE_WINDOW) this.#seenRing.push(record.publication);
    else {
      this.#seen.delete(this.#seenRing[this.#seenNext]!);
      this.#seenRing[this.#seenNext] = record.publication;
      this.#seenNext = (this.#seenNext + 1) % DEDUPE_WINDOW;
    }
    this.received++;
    this.#realm.deliverRemote(record);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const state of this.#subjects.values()) {
      state.dropped = true;
      state.sub?.unsubscribe();
    }
    this.#subjects.clear();
    this.#interests.clear();
    this.#unstored.clear();
  }
}
