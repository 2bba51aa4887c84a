/**
 * Sessions, testaments and subscriptions of the whole cluster for the meta API, node-wide
 * (docs/cluster.md, "Sessions and the meta API" and "Failure"):
 *
 * - Opens buckets `sb_sessions`, `sb_testaments` and `sb_subs`, and watches the first and the
 *   last into {@link SessionView} and {@link SubscriptionView}; each realm's
 *   {@link RealmMeta} writes this node's own keys through latest-wins writers.
 * - Answers kill and removal (`remove_subscriber`, `remove_callee`) requests for its sessions
 *   on `sb.node.<node>.meta`, and sends them for the sessions of other nodes (no responders:
 *   the node is gone, nothing was killed or removed).
 * - When a node is declared down, hides its entries at once; one survivor, elected by `create`
 *   of `dead.<node>.<incarnation>` in `sb_nodes`, publishes the dead node's sessions'
 *   testaments and `wamp.session.on_leave` events (in that order per session, as a leaving
 *   session's own node does) and removes its keys. The keys an earlier life of this node's own
 *   name left behind are cleaned up the same way shortly after start-up.
 * - When the engine comes back after an outage, every realm writes its state again.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { ClusterNodeInfo, RemoteKill } from "../router/meta_link.ts";
import type { Realm } from "../router/realm.ts";
import { encode } from "./codec.ts";
import { KeyedWriter } from "./keyed_writer.ts";
import { type ClusterLink, type KvBucket, KvConflictError, LinkRequestError } from "./link.ts";
import type { KvEntry, KvWatch, LinkMessage, LinkStatus, LinkSubscription } from "./link.ts";
import { type Membership, NODE_CLAIM_MAX_AGE, NODES_BUCKET, type PeerNode } from "./membership.ts";
import { SessionView, SubscriptionView } from "./meta_views.ts";
import { RealmMeta } from "./realm_meta.ts";
import { removeLocal, requestRemove } from "./remote_remove.ts";
import { asRemoveRequest, isRemoveOp, type RemoveRequest } from "./remove_wire.ts";
import {
  asKillReply,
  asKillRequest,
  asSessionWire,
  asTestamentsWire,
  decodeOrNull,
  META_SUBJECT_KIND,
  nodePrefix,
  ownerPrefix,
  parseOwnerKey,
  SESSIONS_BUCKET,
  SUBSCRIPTIONS_BUCKET,
  TESTAMENTS_BUCKET,
} from "./session_wire.ts";
import { encodeToken } from "./subjects.ts";

/** The subject prefix of node-to-node requests. */
export const NODE_SUBJECT_PREFIX = "sb.node";
/** How long (ms) a kill request waits for the session's node. */
export const KILL_TIMEOUT_MS = 2000;

/** The subject of node `node`'s meta API requests. */
export function metaSubject(node: string): string {
  return `${NODE_SUBJECT_PREFIX}.${encodeToken(node)}.${META_SUBJECT_KIND}`;
}

/** Options of {@link ClusterMeta.start}. */
export interface ClusterMetaOptions {
  readonly link: ClusterLink;
  readonly membership: Membership;
  /** The realm called `name` on this node, if any. */
  readonly realm: (name: string) => Realm | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Delay (ms) of the clean-up of an earlier life's keys (realms must have started). */
  readonly cleanupDelayMs: number;
  /**
   * `node_timeout` (ms). A node declared down while this node's own link was out of reach, or
   * less than this after it came back, may only have been cut off with it: its clean-up waits
   * until this node has been connected this long, and is dropped if the node is heard again.
   */
  readonly nodeTimeoutMs: number;
}

/** The cluster's meta API state on this node. */
export class ClusterMeta {
  readonly sessionView: SessionView;
  readonly subscriptionView: SubscriptionView;
  readonly sessions: KeyedWriter;
  readonly testaments: KeyedWriter;
  readonly subscriptions: KeyedWriter;
  readonly #o: ClusterMetaOptions;
  readonly #buckets: { sessions: KvBucket; testaments: KvBucket; subs: KvBucket; nodes: KvBucket };
  readonly #realms = new Map<string, RealmMeta>();
  readonly #watches: KvWatch[] = [];
  #sub: LinkSubscription | null = null;
  #timer: TimerId | null = null;
  #status: LinkStatus;
  #closed = false;
  /** When the link last (re)connected. */
  #connectedAt: number;
  /** Lives declared down whose clean-up waits (see `nodeTimeoutMs`), by `node incarnation`. */
  readonly #deferred = new Map<string, PeerNode>();
  #deferTimer: TimerId | null = null;
  #sweepTimer: TimerId | null = null;
  /** Lives with keys but no heartbeat, and since when (see {@link ClusterMeta.sweep}). */
  readonly #silent = new Map<string, number>();
  /** Clean-ups in progress (a test waits for them). */
  readonly #cleanups = new Set<Promise<void>>();
  /** Dead lives this node cleaned up (elected), and kill requests answered, for `/metrics`. */
  cleanedUp = 0;
  killsAnswered = 0;
  removalsAnswered = 0;

  private constructor(
    o: ClusterMetaOptions,
    buckets: { sessions: KvBucket; testaments: KvBucket; subs: KvBucket; nodes: KvBucket },
  ) {
    this.#o = o;
    this.#buckets = buckets;
    const self = o.membership.node;
    this.sessionView = new SessionView(self, o.logger);
    this.subscriptionView = new SubscriptionView(self, o.logger);
    this.sessions = new KeyedWriter(buckets.sessions, o.logger);
    this.testaments = new KeyedWriter(buckets.testaments, o.logger);
    this.subscriptions = new KeyedWriter(buckets.subs, o.logger);
    this.#status = o.link.status;
    this.#connectedAt = o.clock.nowMs();
  }

  /** Opens the buckets, watches them (until the current entries are in) and listens. */
  static async start(o: ClusterMetaOptions): Promise<ClusterMeta> {
    const { link } = o;
    const [sessions, testaments, subs, nodes] = await Promise.all([
      link.bucket(SESSIONS_BUCKET),
      link.bucket(TESTAMENTS_BUCKET),
      link.bucket(SUBSCRIPTIONS_BUCKET),
      link.bucket(NODES_BUCKET, { maxAgeMs: NODE_CLAIM_MAX_AGE }),
    ]);
    const meta = new ClusterMeta(o, { sessions, testaments, subs, nodes });
    await meta.#listen();
    return meta;
  }

  async #listen(): Promise<void> {
    const { link, membership } = this.#o;
    const watched = (bucket: KvBucket, apply: (e: Parameters<SessionView["apply"]>[0]) => void) =>
      new Promise<KvWatch>((resolve, reject) => {
        let watch: KvWatch | null = null;
        let ready = false;
        bucket.watch(apply, {
          onReady: () => {
            ready = true;
            if (watch) resolve(watch);
          },
        }).then((w) => {
          watch = w;
          if (ready) resolve(w);
        }, reject);
      });
    this.#watches.push(
      ...await Promise.all([
        watched(this.#buckets.sessions, (e) => {
          this.#own("sessions", e);
          this.sessionView.apply(e);
        }),
        watched(this.#buckets.subs, (e) => {
          this.#own("subscriptions", e);
          this.subscriptionView.apply(e);
        }),
        watched(this.#buckets.testaments, (e) => this.#own("testaments", e)),
      ]),
    );
    this.#sub = await link.subscribe(metaSubject(membership.node), (m) => this.#request(m));
    membership.onChange((e) => {
      if (e.kind === "down") this.#nodeDown(e.peer);
      else this.#nodeUp(e.peer);
    });
    link.onStatus((status) => {
      const was = this.#status;
      this.#status = status;
      if (status !== "connected") return;
      this.#connectedAt = this.#o.clock.nowMs();
      if (was === "disconnected") this.#reassert();
      this.#scheduleDeferred();
    });
    this.#timer = this.#o.clock.setTimer(() => {
      this.#timer = null;
      this.#track(this.#cleanEarlierLives());
    }, this.#o.cleanupDelayMs);
    this.#scheduleSweep();
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = this.#o.clock.setTimer(() => {
      this.#sweepTimer = null;
      this.sweep();
      this.#scheduleSweep();
    }, this.#o.nodeTimeoutMs);
  }

  /**
   * Finds lives that left keys but are not heard (a node that died while no other node was up
   * to see it go, or whose elected survivor died before it was done): one not heard for
   * `node_timeout` while this node's link was steady is cleaned up like a dead node.
   */
  sweep(): void {
    // a realm a reload removed (or replaced) leaves its link behind
    for (const [name, meta] of [...this.#realms]) {
      if (this.#o.realm(name) !== meta.realm) {
        meta.close();
        this.#realms.delete(name);
      }
    }
    this.sessionView.pruneHidden();
    this.subscriptionView.pruneHidden();
    if (!this.#steady()) return;
    const now = this.#o.clock.nowMs();
    const lives = new Map<string, { node: string; incarnation: string }>();
    this.sessionView.lives(lives);
    this.subscriptionView.lives(lives);
    const alive = new Set(this.#o.membership.peers.map((p) => `${p.node} ${p.incarnation}`));
    for (const life of [...this.#silent.keys()]) {
      if (!lives.has(life) || alive.has(life)) this.#silent.delete(life);
    }
    for (const [life, owner] of lives) {
      if (alive.has(life) || this.#deferred.has(life)) continue;
      const since = this.#silent.get(life);
      if (since === undefined) {
        this.#silent.set(life, now);
      } else if (now - since >= this.#o.nodeTimeoutMs) {
        this.#silent.delete(life);
        this.#o.logger.warn("cluster: keys of a node that is not heard: cleaning up", {
          peer: owner.node,
        });
        this.sessionView.hide(owner.node, owner.incarnation, true);
        this.subscriptionView.hide(owner.node, owner.incarnation, true);
        this.#track(this.cleanUp(owner.node, owner.incarnation));
      }
    }
  }

  /** The meta link of `realm` (replacing an earlier one of the same name). */
  realm(realm: Realm): RealmMeta {
    this.#realms.get(realm.name)?.close();
    const meta = new RealmMeta(realm, this.#host);
    this.#realms.set(realm.name, meta);
    return meta;
  }

  /** What every realm's link shares. */
  readonly #host = ((self: ClusterMeta) => ({
    get node() {
      return self.#o.membership.node;
    },
    get incarnation() {
      return self.#o.membership.incarnation;
    },
    get clock() {
      return self.#o.clock;
    },
    get logger() {
      return self.#o.logger;
    },
    get sessions() {
      return self.sessions;
    },
    get testaments() {
      return self.testaments;
    },
    get subscriptions() {
      return self.subscriptions;
    },
    get sessionView() {
      return self.sessionView;
    },
    get subscriptionView() {
      return self.subscriptionView;
    },
    kill: (realm: string, ids: readonly number[], reason: string, message?: string) =>
      self.kill(realm, ids, reason, message),
    remove: (r: RemoveRequest) => self.remove(r),
    nodes: () => self.nodes(),
  }))(this);

  /** This node, then the nodes it hears from (by name). */
  nodes(): ClusterNodeInfo[] {
    const { membership, link } = this.#o;
    const peers = membership.peers.map((p) => ({ node: p.node, number: p.number, self: false }))
      .sort((a, b) => a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
    return [
      { node: membership.node, number: membership.number, self: true, link: link.status },
      ...peers,
    ];
  }

  /** The realm links (for `/metrics` and tests). */
  get realms(): ReadonlyMap<string, RealmMeta> {
    return this.#realms;
  }

  // ---- kill -----------------------------------------------------------------------------

  /** Ends sessions of other nodes on their nodes; resolves with those ended. */
  async kill(
    realm: string,
    ids: readonly number[],
    reason: string,
    message?: string,
  ): Promise<RemoteKill> {
    const byNode = new Map<string, number[]>();
    for (const id of ids) {
      const s = this.sessionView.session(realm, id);
      if (!s) continue;
      let list = byNode.get(s.node);
      if (!list) byNode.set(s.node, list = []);
      list.push(id);
    }
    const killed: number[] = [];
    await Promise.all([...byNode].map(async ([node, list]) => {
      const request = message === undefined
        ? { realm, ids: list, reason }
        : { realm, ids: list, reason, message };
      try {
        const reply = asKillReply(
          decodeOrNull(
            await this.#o.link.request(metaSubject(node), encode(request), KILL_TIMEOUT_MS),
          ),
        );
        if (reply) killed.push(...reply.killed.filter((id) => list.includes(id)));
        else this.#o.logger.warn("cluster: malformed kill reply ignored", { peer: node });
      } catch (e) {
        if (!(e instanceof LinkRequestError)) throw e;
        this.#o.logger.warn("cluster: kill request failed", { peer: node, error: e.kind });
      }
    }));
    return { killed };
  }

  /**
   * Removes a session of another node from a subscription or registration, on its node.
   * Resolves with whether it was removed (false: the session is not known, its node is gone,
   * or it is not in that subscription or registration there).
   */
  remove(r: RemoveRequest): Promise<boolean> {
    const s = this.sessionView.session(r.realm, r.session);
    if (!s) return Promise.resolve(false);
    return requestRemove(this.#o.link, this.#o.logger, s.node, metaSubject(s.node), r);
  }

  #request(m: LinkMessage): void {
    const data = decodeOrNull(m.data);
    if (isRemoveOp(data)) return this.#remove(m, data);
    const request = asKillRequest(data);
    if (!request) {
      this.#o.logger.warn("cluster: malformed meta request ignored", { subject: m.subject });
      return;
    }
    const realm = this.#o.realm(request.realm);
    const killed: number[] = [];
    for (const id of request.ids) {
      const s = realm?.sessions.get(id);
      if (!s || s.internal) continue;
      s.goodbye(request.reason, request.message);
      killed.push(id);
    }
    this.killsAnswered++;
    m.respond?.(encode({ killed }));
  }

  #remove(m: LinkMessage, data: unknown): void {
    const request = asRemoveRequest(data);
    if (!request) {
      this.#o.logger.warn("cluster: malformed meta request ignored", { subject: m.subject });
      return;
    }
    const removed = removeLocal(this.#o.realm(request.realm), request);
    this.removalsAnswered++;
    m.respond?.(encode({ removed }));
  }

  // ---- failure ----------------------------------------------------------------------------

  #nodeDown(peer: PeerNode): void {
    this.sessionView.hide(peer.node, peer.incarnation, true);
    this.subscriptionView.hide(peer.node, peer.incarnation, true);
    if (this.#steady()) return this.#track(this.cleanUp(peer.node, peer.incarnation));
    // this node may have been the one cut off: clean up only if the node stays silent
    this.#deferred.set(`${peer.node} ${peer.incarnation}`, peer);
    this.#scheduleDeferred();
  }

  /** True when the link is up and has been for `node_timeout`. */
  #steady(): boolean {
    return this.#o.link.status === "connected" &&
      this.#o.clock.nowMs() - this.#connectedAt >= this.#o.nodeTimeoutMs;
  }

  /** Checks the deferred clean-ups once the link has been up for `node_timeout`. */
  #scheduleDeferred(): void {
    if (this.#deferred.size === 0 || this.#deferTimer !== null || this.#closed) return;
    if (this.#o.link.status !== "connected") return; // again when it reconnects
    const wait = Math.max(0, this.#connectedAt + this.#o.nodeTimeoutMs - this.#o.clock.nowMs());
    this.#deferTimer = this.#o.clock.setTimer(() => {
      this.#deferTimer = null;
      if (!this.#steady()) return this.#scheduleDeferred();
      const alive = new Set(this.#o.membership.peers.map((p) => `${p.node} ${p.incarnation}`));
      for (const [life, peer] of [...this.#deferred]) {
        this.#deferred.delete(life);
        if (!alive.has(life)) this.#track(this.cleanUp(peer.node, peer.incarnation));
      }
    }, wait);
  }

  #nodeUp(peer: PeerNode): void {
    // a node taken for dead during a short outage is back with the same life
    this.#deferred.delete(`${peer.node} ${peer.incarnation}`);
    this.sessionView.hide(peer.node, peer.incarnation, false);
    this.subscriptionView.hide(peer.node, peer.incarnation, false);
  }

  /**
   * A change of one of this node's own keys: one removed by another node (which took this one
   * for dead) is written again, or for testaments (which that node published) dropped here.
   */
  #own(kind: "sessions" | "subscriptions" | "testaments", e: KvEntry): void {
    if (e.operation !== "delete" || this.#closed) return;
    const owner = parseOwnerKey(e.key);
    const { node, incarnation } = this.#o.membership;
    if (!owner || owner.node !== node || owner.incarnation !== incarnation) return;
    this.#realms.get(owner.realm)?.ownKeyDeleted(kind, owner.id);
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((e) => {
      this.#o.logger.error("cluster: clean-up after a node failed", { error: String(e) });
    }).finally(() => this.#cleanups.delete(tracked));
    this.#cleanups.add(tracked);
  }

  /** Resolves once the clean-ups in progress are done. */
  async settled(): Promise<void> {
    while (this.#cleanups.size > 0) await Promise.all([...this.#cleanups]);
    await Promise.all([this.sessions.flush(), this.testaments.flush(), this.subscriptions.flush()]);
  }

  /**
   * Cleans up after life `incarnation` of `node`, if this node wins the election for it:
   * publishes its sessions' testaments and `on_leave`, then removes its keys.
   */
  async cleanUp(node: string, incarnation: string): Promise<void> {
    if (this.#closed) return;
    const claim = `dead.${encodeToken(node)}.${encodeToken(incarnation)}`;
    try {
      await this.#buckets.nodes.create(claim, encode({ by: this.#o.membership.node }));
    } catch (e) {
      if (e instanceof KvConflictError) return; // another survivor does it
      throw e;
    }
    const prefix = ownerPrefix(node, incarnation);
    const { sessions, testaments, subs } = this.#buckets;
    const [sessionKeys, testamentKeys, subKeys] = await Promise.all([
      sessions.keys(prefix),
      testaments.keys(prefix),
      subs.keys(prefix),
    ]);
    const withTestaments = new Set(testamentKeys);
    let count = 0;
    for (const key of sessionKeys) {
      const owner = parseOwnerKey(key);
      const realm = owner ? this.#o.realm(owner.realm) : undefined;
      const entry = await sessions.get(key);
      const wire = entry ? asSessionWire(decodeOrNull(entry.value)) : null;
      if (!owner || !realm || !wire) continue;
      if (withTestaments.has(key)) {
        const t = await testaments.get(key);
        const will = t ? asTestamentsWire(decodeOrNull(t.value)) : null;
        if (will && will.testaments.length > 0) {
          realm.publishTestaments({
            id: owner.id,
            authid: will.authid,
            authrole: will.authrole,
            hasFeature: () => false,
            send: () => "dropped",
            details: () => will.details,
          }, will.testaments);
        }
      }
      realm.publishMeta("wamp.session.on_leave", [owner.id]);
      count++;
    }
    await Promise.all([
      ...sessionKeys.map((k) => sessions.delete(k)),
      ...testamentKeys.map((k) => testaments.delete(k)),
      ...subKeys.map((k) => subs.delete(k)),
    ]);
    this.cleanedUp++;
    this.#o.logger.info("cluster: cleaned up after a node", { peer: node, sessions: count });
  }

  /** Cleans up the keys earlier lives of this node's own name left (a crash, a restart). */
  async #cleanEarlierLives(): Promise<void> {
    const { node, incarnation } = this.#o.membership;
    const lives = new Set<string>();
    for (const bucket of [this.#buckets.sessions, this.#buckets.testaments, this.#buckets.subs]) {
      for (const key of await bucket.keys(nodePrefix(node))) {
        const owner = parseOwnerKey(key);
        if (owner && owner.node === node && owner.incarnation !== incarnation) {
          lives.add(owner.incarnation);
        }
      }
    }
    for (const life of lives) await this.cleanUp(node, life);
  }

  /** The engine is back: every realm writes its state again. */
  #reassert(): void {
    if (this.#closed) return;
    this.#o.logger.info("cluster: re-asserting this node's sessions and subscriptions");
    for (const r of this.#realms.values()) r.reassert();
  }

  /** Stops listening, once this node's last writes are done (sessions left before). */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const r of this.#realms.values()) r.close();
    this.#realms.clear();
    if (this.#o.link.status === "connected") await this.settled();
    // after the wait: a node heard going meanwhile may have armed a timer again
    this.#closed = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    if (this.#deferTimer !== null) this.#o.clock.clearTimer(this.#deferTimer);
    if (this.#sweepTimer !== null) this.#o.clock.clearTimer(this.#sweepTimer);
    this.#deferred.clear();
    this.#sub?.unsubscribe();
    for (const w of this.#watches) w.stop();
  }
}
