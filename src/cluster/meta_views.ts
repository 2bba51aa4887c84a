/**
 * This node's watched copies of buckets `sb_sessions` and `sb_subs` (docs/cluster.md,
 * "Sessions and the meta API"): the sessions and subscriptions of the other nodes, per realm,
 * as the meta API reports them. Entries of this node's own name are left out (its own sessions
 * and subscriptions are the realm's; those of an earlier life of the name are gone). Entries of
 * a node declared down are hidden until it is heard again or its keys are removed.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { RemoteSessionInfo, RemoteSubscriptionInfo } from "../router/meta_link.ts";
import type { KvEntry } from "./link.ts";
import {
  asSessionWire,
  asSubscriptionWire,
  decodeOrNull,
  type OwnerKey,
  parseOwnerKey,
  type SubscriptionWire,
} from "./session_wire.ts";

/** `node incarnation`: one life of a node. */
function lifeOf(owner: { node: string; incarnation: string }): string {
  return `${owner.node} ${owner.incarnation}`;
}

/** What both views share: owners parsed from keys, this node's entries skipped, hiding. */
abstract class OwnedView<V> {
  readonly #self: string;
  readonly #logger: Logger;
  readonly #what: string;
  /** key → owner and value. */
  protected readonly entries: Map<string, OwnerKey & { readonly value: V }> = new Map();
  /** Lives (`node incarnation`) declared down: their entries are not reported. */
  readonly #hidden = new Set<string>();

  constructor(self: string, logger: Logger, what: string) {
    this.#self = self;
    this.#logger = logger;
    this.#what = what;
  }

  /** Applies one change of the bucket. */
  apply(entry: KvEntry): void {
    const owner = parseOwnerKey(entry.key);
    if (!owner) {
      this.#logger.warn(`cluster: malformed ${this.#what} key ignored`, { key: entry.key });
      return;
    }
    if (owner.node === this.#self) return;
    const old = this.entries.get(entry.key);
    if (entry.operation === "delete") {
      if (old) {
        this.entries.delete(entry.key);
        this.removed(old);
      }
      return;
    }
    const value = this.parse(decodeOrNull(entry.value), owner);
    if (value === null) {
      this.#logger.warn(`cluster: malformed ${this.#what} entry ignored`, { key: entry.key });
      return;
    }
    if (old) this.removed(old);
    const added = { ...owner, value };
    this.entries.set(entry.key, added);
    this.added(added);
  }

  /** Hides (`hidden`) or shows again the entries of one life of `node`. */
  hide(node: string, incarnation: string, hidden: boolean): void {
    if (hidden) this.#hidden.add(lifeOf({ node, incarnation }));
    else this.#hidden.delete(lifeOf({ node, incarnation }));
  }

  /** Forgets the hidden lives that have no entry left (their keys were removed). */
  pruneHidden(): void {
    if (this.#hidden.size === 0) return;
    const held = new Map<string, { node: string; incarnation: string }>();
    this.lives(held);
    for (const life of [...this.#hidden]) if (!held.has(life)) this.#hidden.delete(life);
  }

  /** Whether the entries of `owner`'s life are reported. */
  protected visible(owner: OwnerKey): boolean {
    return this.#hidden.size === 0 || !this.#hidden.has(lifeOf(owner));
  }

  /** The lives (`node incarnation` → owner) with entries here, hidden or not. */
  lives(into: Map<string, { node: string; incarnation: string }>): void {
    for (const e of this.entries.values()) {
      const life = lifeOf(e);
      if (!into.has(life)) into.set(life, { node: e.node, incarnation: e.incarnation });
    }
  }

  /** Keys held (visible or not): what a churn test checks for growth. */
  get size(): number {
    return this.entries.size;
  }

  /** Lives hidden now. */
  get hiddenLives(): number {
    return this.#hidden.size;
  }

  protected abstract parse(value: unknown, owner: OwnerKey): V | null;
  protected abstract added(entry: OwnerKey & { readonly value: V }): void;
  protected abstract removed(entry: OwnerKey & { readonly value: V }): void;
}

type SessionEntry = OwnerKey & { readonly value: RemoteSessionInfo };

/** The sessions of the other nodes. */
export class SessionView extends OwnedView<RemoteSessionInfo> {
  readonly #byRealm = new Map<string, Map<number, SessionEntry>>();

  constructor(self: string, logger: Logger) {
    super(self, logger, "session");
  }

  protected parse(v: unknown, owner: OwnerKey): RemoteSessionInfo | null {
    const wire = asSessionWire(v);
    if (!wire) return null;
    // the node and id come from the key: a value cannot claim another node's session
    const { authid, authrole, details } = wire;
    return { id: owner.id, node: owner.node, authid, authrole, details };
  }

  protected added(entry: SessionEntry): void {
    let realm = this.#byRealm.get(entry.realm);
    if (!realm) this.#byRealm.set(entry.realm, realm = new Map());
    realm.set(entry.id, entry);
  }

  protected removed(entry: SessionEntry): void {
    const realm = this.#byRealm.get(entry.realm);
    if (!realm) return;
    const current = realm.get(entry.id);
    if (current && current.node === entry.node && current.incarnation === entry.incarnation) {
      realm.delete(entry.id);
      if (realm.size === 0) this.#byRealm.delete(entry.realm);
    }
  }

  /** The visible sessions of `realm` on other nodes. */
  *sessions(realm: string): Iterable<RemoteSessionInfo> {
    for (const e of this.#byRealm.get(realm)?.values() ?? []) {
      if (this.visible(e)) yield e.value;
    }
  }

  /** The visible session `id` of `realm` on another node. */
  session(realm: string, id: number): RemoteSessionInfo | undefined {
    const e = this.#byRealm.get(realm)?.get(id);
    return e && this.visible(e) ? e.value : undefined;
  }
}

type SubEntry = OwnerKey & { readonly value: SubscriptionWire };

/** The subscriptions of the other nodes, by realm and subscription id. */
export class SubscriptionView extends OwnedView<SubscriptionWire> {
  /** realm → subscription id → key → entry. */
  readonly #byRealm = new Map<string, Map<number, Map<string, SubEntry>>>();

  constructor(self: string, logger: Logger) {
    super(self, logger, "subscription");
  }

  protected parse(v: unknown, _owner: OwnerKey): SubscriptionWire | null {
    return asSubscriptionWire(v);
  }

  protected added(entry: SubEntry): void {
    let realm = this.#byRealm.get(entry.realm);
    if (!realm) this.#byRealm.set(entry.realm, realm = new Map());
    let holders = realm.get(entry.id);
    if (!holders) realm.set(entry.id, holders = new Map());
    holders.set(lifeOf(entry), entry);
  }

  protected removed(entry: SubEntry): void {
    const realm = this.#byRealm.get(entry.realm);
    const holders = realm?.get(entry.id);
    if (!realm || !holders) return;
    holders.delete(lifeOf(entry));
    if (holders.size === 0) realm.delete(entry.id);
    if (realm.size === 0) this.#byRealm.delete(entry.realm);
  }

  #merge(id: number, holders: Map<string, SubEntry>): RemoteSubscriptionInfo | undefined {
    let out: { uri: string; match: SubscriptionWire["match"]; created: string } | null = null;
    const subscribers: number[] = [];
    for (const e of holders.values()) {
      if (!this.visible(e)) continue;
      const { uri, match, created } = e.value;
      if (!out) out = { uri, match, created };
      else if (created < out.created) out.created = created;
      subscribers.push(...e.value.subscribers);
    }
    return out ? { id, ...out, subscribers } : undefined;
  }

  /** The subscriptions of `realm` with visible subscribers on other nodes. */
  *subscriptions(realm: string): Iterable<RemoteSubscriptionInfo> {
    for (const [id, holders] of this.#byRealm.get(realm) ?? []) {
      const merged = this.#merge(id, holders);
      if (merged) yield merged;
    }
  }

  /** Subscription `id` of `realm` on other nodes, if it has visible subscribers there. */
  subscription(realm: string, id: number): RemoteSubscriptionInfo | undefined {
    const holders = this.#byRealm.get(realm)?.get(id);
    return holders ? this.#merge(id, holders) : undefined;
  }
}
