/**
 * The session and subscription meta API of one realm across nodes (docs/cluster.md, "Sessions
 * and the meta API"): the realm's {@link MetaLink}. This node writes its own sessions (`sb_sessions`), their testaments
 * (`sb_testaments`) and its subscriptions' local subscribers (`sb_subs`); what the other nodes
 * wrote comes from the node-wide views (`cluster_meta.ts`).
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Subscription } from "../router/broker.ts";
import {
  type ClusterNodeInfo,
  type MetaLink,
  type RemoteKill,
  type RemoteSessionInfo,
  withNode,
} from "../router/meta_link.ts";
import type { RemoteSubscriptionInfo } from "../router/meta_link.ts";
import type { Realm } from "../router/realm.ts";
import type { SessionDetails } from "../router/session.ts";
import type { SessionRef } from "../router/session_ref.ts";
import type { Testament } from "../router/testaments.ts";
import { encode } from "./codec.ts";
import type { KeyedWriter } from "./keyed_writer.ts";
import type { SessionView, SubscriptionView } from "./meta_views.ts";
import { type RemoveKind, type RemoveRequest, removeRequest } from "./remove_wire.ts";
import {
  ownerKey,
  type SessionWire,
  subscriptionId,
  type SubscriptionWire,
  type TestamentsWire,
  testamentWire,
} from "./session_wire.ts";

/** How long (ms) subscriber changes of one subscription are gathered into one write. */
export const SUBSCRIPTION_WRITE_DELAY_MS = 50;

/** What a realm's meta link needs of its node. */
export interface RealmMetaHost {
  readonly node: string;
  /** This node's life now. */
  readonly incarnation: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sessions: KeyedWriter;
  readonly testaments: KeyedWriter;
  readonly subscriptions: KeyedWriter;
  readonly sessionView: SessionView;
  readonly subscriptionView: SubscriptionView;
  kill(
    realm: string,
    ids: readonly number[],
    reason: string,
    message?: string,
  ): Promise<RemoteKill>;
  /** Removes a session of another node from a subscription or registration, on its node. */
  remove(r: RemoveRequest): Promise<boolean>;
  nodes(): ClusterNodeInfo[];
}

/** One realm's meta API link. */
export class RealmMeta implements MetaLink {
  readonly #realm: Realm;
  readonly #host: RealmMetaHost;
  /** The testaments this node wrote per session (their key exists, or is being written). */
  readonly #testaments = new Map<number, readonly Testament[]>();
  /** Subscriptions this node wrote a key for. */
  readonly #writtenSubs = new Set<number>();
  /** Subscriptions whose subscribers changed since the last write. */
  readonly #dirty = new Set<number>();
  #timer: TimerId | null = null;
  #closed = false;

  constructor(realm: Realm, host: RealmMetaHost) {
    this.#realm = realm;
    this.#host = host;
    realm.broker.setSubscriptionIds((uri, match) => subscriptionId(realm.name, match, uri));
    realm.setMetaLink(this);
  }

  get node(): string {
    return this.#host.node;
  }

  /** The realm this link is for. */
  get realm(): Realm {
    return this.#realm;
  }

  #key(id: number): string {
    const { node, incarnation } = this.#host;
    return ownerKey({ node, incarnation, realm: this.#realm.name, id });
  }

  // ---- this node's sessions ------------------------------------------------------------

  sessionJoined(session: SessionRef, details: SessionDetails): void {
    if (this.#closed) return;
    const wire: SessionWire = {
      authid: session.authid,
      authrole: session.authrole,
      details: { ...details },
    };
    this.#host.sessions.set(this.#key(session.id), encode(wire));
  }

  sessionLeft(session: SessionRef): void {
    if (this.#closed) return;
    const key = this.#key(session.id);
    this.#host.sessions.set(key, null);
    if (this.#testaments.delete(session.id)) this.#host.testaments.set(key, null);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) this.#host.clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#realm.broker.setSubscriptionIds(null);
    if (this.#realm.metaLink === this) this.#realm.setMetaLink(null);
  }

  /**
   * Writes this node's state of the realm again (after the engine was out of reach, or when
   * the keys were removed by a node that took this one for dead): sessions, testaments,
   * subscriptions.
   */
  reassert(): void {
    if (this.#closed) return;
    for (const s of this.#realm.sessions.values()) {
      if (s.internal) continue;
      this.sessionJoined(s, withNode(s.details(), this));
    }
    for (const [id, all] of this.#testaments) this.#writeTestaments(id, all);
    for (const sub of this.#realm.broker.all()) this.#dirty.add(sub.id);
    for (const id of this.#writtenSubs) this.#dirty.add(id);
    this.#schedule();
  }

  /**
   * One of this node's keys of this realm was removed by another node (which took this one for
   * dead and cleaned up after it): a session or subscription still here is written again; the
   * testaments that node published are dropped here, so they are published once.
   */
  ownKeyDeleted(kind: "sessions" | "subscriptions" | "testaments", id: number): void {
    if (this.#closed) return;
    if (kind === "sessions") {
      const s = this.#realm.sessions.get(id);
      if (s && !s.internal) this.sessionJoined(s, withNode(s.details(), this));
    } else if (kind === "subscriptions") {
      if (!this.#writtenSubs.has(id)) return; // this node's own deletion
      this.#dirty.add(id);
      this.#schedule();
    } else if (this.#testaments.delete(id)) {
      this.#host.logger.warn("cluster: a session's testaments were published by another node", {
        session: id,
        realm: this.#realm.name,
      });
      this.#realm.flushTestaments(id, "detached");
      this.#realm.flushTestaments(id, "destroyed");
      // a re-assertion may have written them again meanwhile
      this.#host.testaments.set(this.#key(id), null);
    }
  }

  // ---- MetaLink --------------------------------------------------------------------------

  remoteSessions(): Iterable<RemoteSessionInfo> {
    return this.#host.sessionView.sessions(this.#realm.name);
  }

  remoteSession(id: number): RemoteSessionInfo | undefined {
    return this.#host.sessionView.session(this.#realm.name, id);
  }

  kill(ids: readonly number[], reason: string, message: string | undefined): Promise<RemoteKill> {
    return this.#host.kill(this.#realm.name, ids, reason, message);
  }

  nodes(): ClusterNodeInfo[] {
    return this.#host.nodes();
  }

  removeRemote(
    kind: "subscriber" | "callee",
    id: number,
    session: number,
    reason: string | undefined,
  ): Promise<boolean> {
    const op: RemoveKind = kind === "subscriber" ? "remove_subscriber" : "remove_callee";
    return this.#host.remove(removeRequest(op, this.#realm.name, id, session, reason));
  }

  remoteSubscriptions(): Iterable<RemoteSubscriptionInfo> {
    return this.#host.subscriptionView.subscriptions(this.#realm.name);
  }

  remoteSubscription(id: number): RemoteSubscriptionInfo | undefined {
    return this.#host.subscriptionView.subscription(this.#realm.name, id);
  }

  testaments(id: number, all: readonly Testament[]): void {
    if (this.#closed) return;
    if (all.length > 0) {
      this.#testaments.set(id, all);
      this.#writeTestaments(id, all);
    } else if (this.#testaments.delete(id)) {
      this.#host.testaments.set(this.#key(id), null);
    }
  }

  #writeTestaments(id: number, testaments: readonly Testament[]): void {
    const s = this.#realm.sessions.get(id);
    if (!s) return;
    const { authid, authrole } = s;
    const details = withNode(s.details(), this);
    const wire: TestamentsWire = {
      authid,
      authrole,
      details: { ...details },
      testaments: testaments.map(testamentWire),
    };
    this.#host.testaments.set(this.#key(id), encode(wire));
  }

  subscriptionChanged(sub: Subscription): void {
    if (this.#closed) return;
    this.#dirty.add(sub.id);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null || this.#dirty.size === 0) return;
    this.#timer = this.#host.clock.setTimer(() => {
      this.#timer = null;
      this.#flushSubscriptions();
    }, SUBSCRIPTION_WRITE_DELAY_MS);
  }

  #flushSubscriptions(): void {
    if (this.#closed) return;
    for (const id of this.#dirty) {
      const sub = this.#realm.broker.get(id);
      const subscribers = sub
        ? [...sub.subscribers].filter((s) => !this.#realm.isInternal(s)).map((s) => s.id)
        : [];
      if (sub && subscribers.length > 0) {
        const wire: SubscriptionWire = {
          uri: sub.uri,
          match: sub.match,
          created: sub.created,
          subscribers,
        };
        this.#writtenSubs.add(id);
        this.#host.subscriptions.set(this.#key(id), encode(wire));
      } else if (this.#writtenSubs.delete(id)) {
        this.#host.subscriptions.set(this.#key(id), null);
      }
    }
    this.#dirty.clear();
  }

  /** What this realm link holds (a churn test checks it returns to nothing). */
  get held(): { testaments: number; subscriptions: number; dirty: number } {
    return {
      testaments: this.#testaments.size,
      subscriptions: this.#writtenSubs.size,
      dirty: this.#dirty.size,
    };
  }
}
