/**
 * Registrations cluster-wide (docs/cluster.md, "Calls and registrations"). Bucket `sb_regs`
 * holds one key per (realm, match, procedure); every change is a compare-and-set of that one
 * key, so a `single` registration is exclusive across the cluster (of two racing nodes exactly
 * one writes first, the other re-reads and refuses), the invoke policy is the one of the first
 * callee, and the callee list order is the cluster-wide order for `first`/`last`. Every node
 * watches the bucket and sets each registration in its dealer to the agreed state, with the
 * callees of other nodes as `RemoteSessionRef`s whose calls go to {@link RemoteCalls}.
 *
 * The callees this node's sessions registered are "held" here: when the bucket loses one
 * (another node took this node for dead, or its writes failed while the engine was out of
 * reach), this node puts it back; when that is impossible (a `single` registration was taken
 * meanwhile, or another policy), the session's registration is revoked (UNREGISTERED with
 * reason `wamp.error.procedure_already_exists`).
 *
 * @module
 */

import { type Clock, isoTime, type TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { DealerLink } from "../router/dealer_link.ts";
import type {
  Callee,
  InvokePolicy,
  Registration,
  RemoteSessionRef,
} from "../router/dealer_types.ts";
import { POLICIES } from "../router/dealer_types.ts";
import type { SessionRef } from "../router/session_ref.ts";
import { WampError } from "../wamp/errors.ts";
import type { Dict } from "../wamp/messages.ts";
import { isReservedUri, Uri } from "../wamp/uris.ts";
import type { MatchPolicy } from "../wamp/uris.ts";
import {
  type ClusterLink,
  type KvBucket,
  KvConflictError,
  type KvEntry,
  type KvWatch,
} from "./link.ts";
import {
  calleeFeatures,
  type CalleeWire,
  decodeRegistration,
  encodeRegistration,
  MAX_KEY_LENGTH,
  registrationId,
  REGISTRATIONS_BUCKET,
  type RegistrationWire,
} from "./registration_wire.ts";
import { lookupOnMiss } from "./call_miss.ts";
import { adding, type Step } from "./registration_steps.ts";
import { RemoteCallees } from "./remote_callees.ts";
import type { CallsHost, RemoteCalls } from "./remote_calls.ts";
import { encodeToken, parseUriKey, uriKey } from "./subjects.ts";

/**
 * How long a deleted key is remembered (ms), so an older write of it seen late (this node's own
 * compare-and-set result) is not taken for news; then it is forgotten, so keys of procedures
 * that come and go leave nothing behind.
 */
export const TOMBSTONE_MS = 60_000;

/** Compare-and-set attempts on one key before a registration change gives up. */
const MAX_ATTEMPTS = 50;

/** The reason of a revocation: the registration is held elsewhere now. */
export const REVOKED_REASON = Uri.PROCEDURE_ALREADY_EXISTS;

/** What this node's sessions registered under one key. */
interface Held {
  readonly invoke: InvokePolicy;
  readonly callees: Map<number, CalleeWire>;
}

/** Registrations of one node, kept in agreement with the cluster. */
export class ClusterRegistrations {
  #bucket: KvBucket | null = null;
  #watch: KvWatch | null = null;
  #sweep: TimerId | null = null;
  /** Deleted keys still in the view, with when they were deleted. */
  readonly #tombstones = new Map<string, number>();
  /** Per key: the latest agreed state seen (null: deleted) and its revision. */
  readonly #view = new Map<string, { rev: number; reg: RegistrationWire | null }>();
  /** Per key: this node's callees. */
  readonly #held = new Map<string, Held>();
  /** Per local session: its keys. */
  readonly #keysOf = new Map<number, Set<string>>();
  /** Callees of other nodes. */
  readonly #refs: RemoteCallees;
  /** Nodes declared gone (`node incarnation`) whose callees are being removed. */
  readonly #dead = new Set<string>();
  /** Per key: the tail of this node's changes of it, run one after the other. */
  readonly #queues = new Map<string, Promise<void>>();
  /** Keys with a re-assertion in progress; true: run it again when it ends. */
  readonly #reasserting = new Map<string, boolean>();
  /** `key session` of registrations being agreed on (not yet held). */
  readonly #pending = new Set<string>();

  constructor(
    readonly link: ClusterLink,
    /** This node's name. */
    readonly node: string,
    /** This start of the node (see membership.ts). */
    readonly incarnation: string,
    readonly host: CallsHost,
    readonly calls: RemoteCalls,
    readonly clock: Clock,
    readonly logger: Logger,
  ) {
    this.#refs = new RemoteCallees(calls);
  }

  /** Opens the bucket and watches it; resolves once the existing registrations are applied. */
  async start(): Promise<void> {
    const bucket = await this.link.bucket(REGISTRATIONS_BUCKET);
    this.#bucket = bucket;
    let ready!: () => void;
    const done = new Promise<void>((resolve) => ready = resolve);
    this.#watch = await bucket.watch((entry) => this.#onEntry(entry), { onReady: () => ready() });
    await done;
    this.link.onStatus((status) => {
      if (status === "connected") this.#reassertAll();
    });
  }

  /** Stops watching. */
  /**
   * Waits (at most `ms`) for this node's registration changes under way, such as the removals
   * of the sessions that just left, so a node that stops leaves no callee behind.
   */
  async drain(ms: number): Promise<void> {
    let timer: TimerId | null = null;
    await Promise.race([
      Promise.all([...this.#queues.values()]),
      new Promise<void>((resolve) => timer = this.clock.setTimer(resolve, ms)),
    ]);
    if (timer !== null) this.clock.clearTimer(timer);
  }

  stop(): void {
    if (this.#sweep !== null) this.clock.clearTimer(this.#sweep);
    this.#sweep = null;
    this.#watch?.stop();
    this.#watch = null;
  }

  /** The dealer link of realm `realm`. */
  linkFor(realm: string): DealerLink {
    return {
      register: (session, uri, match, options) =>
        this.register(realm, session, uri, match, options),
      unregister: (session, reg) => this.unregister(realm, session, reg),
      sessionLeft: (session) => this.sessionLeft(session),
    };
  }

  /**
   * Incarnation `incarnation` of node `node` is gone: its callees leave every registration
   * (every survivor removes them from the bucket; the removal is idempotent). A new
   * incarnation of the same node keeps its own.
   */
  nodeDown(node: string, incarnation: string): void {
    if (node === this.node && incarnation === this.incarnation) return;
    const dead = `${node} ${incarnation}`;
    this.#dead.add(dead);
    const of = (c: CalleeWire) => c.node === node && c.incarnation === incarnation;
    const keys = [...this.#view].filter(([, v]) => v.reg?.callees.some(of));
    for (const [key] of keys) this.#apply(key);
    // Once pruned (or the prune failed: this node may be the one cut off), what the bucket
    // says holds again.
    Promise.all(keys.map(([key]) => this.#prune(key, of))).finally(() => {
      this.#dead.delete(dead);
      for (const [key] of keys) this.#apply(key);
    });
  }

  /** Reads `key` from the bucket now and applies it if newer (the watch may lag behind). */
  async refresh(key: string): Promise<void> {
    const entry = await this.#bucket?.get(key);
    if (entry) this.#record(key, entry.revision, this.#decode(entry));
  }

  /** Applies what the bucket holds for realm `realm` (a realm that starts after the watch). */
  applyRealm(realm: string): void {
    const dealer = this.host.realm(realm)?.dealer;
    if (dealer) dealer.onRevoked = (session, reg) => this.#revoked(realm, session, reg);
    if (dealer) dealer.onMiss = lookupOnMiss(this, realm, () => this.#bucket);
    for (const key of this.#view.keys()) {
      if (key.startsWith(`${encodeToken(realm)}.`)) this.#apply(key);
    }
  }

  #isDead(c: CalleeWire): boolean {
    return this.#dead.has(`${c.node} ${c.incarnation}`);
  }

  /** True for a callee entry of this very node (this incarnation). */
  #mine(c: CalleeWire, session?: number): boolean {
    return c.node === this.node && c.incarnation === this.incarnation &&
      (session === undefined || c.session === session);
  }

  // ---- local sessions -----------------------------------------------------------------

  /** See {@linkcode DealerLink.register}. */
  async register(
    realm: string,
    session: SessionRef,
    uri: string,
    match: MatchPolicy,
    options: Dict,
  ): Promise<() => Registration> {
    const invoke = options.invoke ?? "single";
    if (typeof invoke !== "string" || !POLICIES.has(invoke)) {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        `REGISTER.Options.invoke must be one of single, roundrobin, random, first, last`,
      );
    }
    const key = uriKey(realm, match, uri);
    if (key.length > MAX_KEY_LENGTH) {
      const why = `its cluster key would have ${key.length} characters, at most ${MAX_KEY_LENGTH}`;
      throw new WampError(Uri.INVALID_URI, `procedure "${uri.slice(0, 80)}…" is too long: ${why}`);
    }
    const me: CalleeWire = {
      node: this.node,
      incarnation: this.incarnation,
      session: session.id,
      authid: session.authid,
      authrole: session.authrole,
      features: calleeFeatures(session),
      disclose_caller: options.disclose_caller === true,
      forward_timeout: options.forward_timeout === true,
    };
    const policy = invoke as InvokePolicy;
    const id = session.id;
    const pending = `${key} ${id}`;
    this.#pending.add(pending);
    try {
      await this.#change(key, (reg) => this.#adding(reg, realm, match, uri, policy, me));
    } catch (e) {
      if (e instanceof WampError) {
        this.#pending.delete(pending);
        throw e;
      }
      // The engine is out of reach: decide on what this node knows, re-assert later.
      this.logger.warn("registration not agreed with the cluster (re-asserted on reconnection)", {
        realm,
        procedure: uri,
        error: String(e),
      });
      const known = this.#view.get(key)?.reg ?? null;
      const step = this.#adding(known, realm, match, uri, policy, me);
      if ("refuse" in step) {
        this.#pending.delete(pending);
        throw step.refuse;
      }
    }
    // Pending until the realm commits (or the session leaves first: see sessionLeft).
    const commit = () => {
      this.#pending.delete(pending);
      this.#hold(key, policy, me);
      this.#apply(key);
      return this.host.realm(realm)!.dealer.lookup(uri, match)!;
    };
    if (this.host.realm(realm)?.sessions.get(id) !== session) {
      // It left while the change was under way: its entry goes again.
      this.#pending.delete(pending);
      this.#prune(key, (c) => this.#mine(c, id));
    }
    return commit;
  }

  /** See {@linkcode DealerLink.unregister}. */
  async unregister(realm: string, session: SessionRef, reg: Registration): Promise<() => void> {
    const id = session.id;
    const key = uriKey(realm, reg.match, reg.uri);
    this.#unhold(key, session.id);
    await this.#prune(key, (c) => this.#mine(c, id));
    return () => this.#apply(key);
  }

  /** See {@linkcode DealerLink.sessionLeft}. */
  sessionLeft(session: SessionRef): void {
    // (the id is read now: a session that ended may forget it)
    const id = session.id;
    for (const pending of [...this.#pending]) {
      if (!pending.endsWith(` ${session.id}`)) continue;
      this.#pending.delete(pending);
      const key = pending.slice(0, pending.lastIndexOf(" "));
      this.#prune(key, (c) => this.#mine(c, id));
    }
    const keys = this.#keysOf.get(session.id);
    if (!keys) return;
    for (const key of [...keys]) {
      this.#unhold(key, session.id);
      this.#prune(key, (c) => this.#mine(c, id));
    }
  }

  /** The dealer revoked a local callee: it leaves the registration everywhere. */
  #revoked(realm: string, session: SessionRef, reg: Registration): void {
    const id = session.id;
    const key = uriKey(realm, reg.match, reg.uri);
    if (!this.#held.get(key)?.callees.has(session.id)) return;
    this.#unhold(key, session.id);
    this.#prune(key, (c) => this.#mine(c, id));
  }

  #hold(key: string, invoke: InvokePolicy, me: CalleeWire): void {
    let held = this.#held.get(key);
    if (!held) this.#held.set(key, held = { invoke, callees: new Map() });
    held.callees.set(me.session, me);
    let keys = this.#keysOf.get(me.session);
    if (!keys) this.#keysOf.set(me.session, keys = new Set());
    keys.add(key);
  }

  #unhold(key: string, session: number): void {
    const held = this.#held.get(key);
    held?.callees.delete(session);
    if (held?.callees.size === 0) this.#held.delete(key);
    const keys = this.#keysOf.get(session);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysOf.delete(session);
  }

  // ---- compare-and-set ----------------------------------------------------------------

  /** The step that adds `me` to `reg` (null: it does not exist yet). */
  #adding(
    reg: RegistrationWire | null,
    realm: string,
    match: MatchPolicy,
    uri: string,
    invoke: InvokePolicy,
    me: CalleeWire,
  ): Step {
    return adding(reg, { realm, match, uri, invoke, me }, {
      now: () => isoTime(this.clock),
      dead: (c) => this.#isDead(c),
    });
  }

  /**
   * Reads `key`, asks `step` what to write, writes it with compare-and-set, and again on a
   * conflict; applies what it wrote.
   * @throws {WampError} what `step` refuses with; a plain Error when the engine is out of reach.
   */
  #change(key: string, step: (reg: RegistrationWire | null) => Step): Promise<void> {
    // One change of a key at a time per node: conflicts come only from other nodes.
    const run = (this.#queues.get(key) ?? Promise.resolve()).then(() => this.#changeNow(key, step));
    const tail = run.catch(() => {});
    this.#queues.set(key, tail);
    tail.then(() => this.#queues.get(key) === tail && this.#queues.delete(key));
    return run;
  }

  async #changeNow(key: string, step: (reg: RegistrationWire | null) => Step): Promise<void> {
    const bucket = this.#bucket;
    if (!bucket) throw new Error("the registrations bucket is not open");
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await bucket.get(key);
      const current = entry ? this.#decode(entry) : null;
      const next = step(current);
      if ("refuse" in next) throw next.refuse;
      if ("done" in next) return;
      try {
        if (next.write === null || next.write.callees.length === 0) {
          if (!entry) return;
          await bucket.delete(key, entry.revision);
          // The deletion's revision is not returned (the watch reports it): until then, the
          // key is taken as deleted since the revision it had.
          const seen = this.#view.get(key);
          if (!seen || seen.rev <= entry.revision) {
            this.#view.set(key, { rev: entry.revision, reg: null });
            this.#tombstone(key);
          }
          return;
        }
        const data = encodeRegistration(next.write, this.link.maxPayload);
        const rev = entry
          ? await bucket.update(key, data, entry.revision)
          : await bucket.create(key, data);
        this.#record(key, rev, next.write);
        return;
      } catch (e) {
        if (!(e instanceof KvConflictError)) throw e;
      }
    }
    throw new WampError(Uri.RUNTIME_ERROR, `registration "${key}" is changing too often`);
  }

  /** Removes the callees `gone` selects from `key` (in the background: failures are logged). */
  #prune(key: string, gone: (c: CalleeWire) => boolean): Promise<void> {
    return this.#change(key, (reg) => {
      if (!reg || !reg.callees.some(gone)) return { done: true };
      return { write: { ...reg, callees: reg.callees.filter((c) => !gone(c)) } };
    }).catch((e) => {
      this.logger.warn("a registration change did not reach the cluster", {
        key,
        error: String(e),
      });
    });
  }

  #decode(entry: KvEntry): RegistrationWire | null {
    if (entry.operation === "delete") return null;
    try {
      return decodeRegistration(entry.value);
    } catch (e) {
      this.logger.warn("malformed registration in the bucket", {
        key: entry.key,
        error: String(e),
      });
      return null;
    }
  }

  // ---- the agreed view ----------------------------------------------------------------

  #onEntry(entry: KvEntry): void {
    this.#record(entry.key, entry.revision, this.#decode(entry));
  }

  /** Takes `reg` as the state of `key` at `rev` if that is newer than what was seen. */
  #tombstone(key: string): void {
    this.#tombstones.set(key, this.clock.nowMs());
    if (this.#sweep === null) {
      this.#sweep = this.clock.setTimer(() => this.#sweepTombstones(), TOMBSTONE_MS);
    }
  }

  /** Forgets the keys deleted more than {@link TOMBSTONE_MS} ago that nothing here holds. */
  #sweepTombstones(): void {
    this.#sweep = null;
    const now = this.clock.nowMs();
    for (const [key, at] of this.#tombstones) {
      if (now - at < TOMBSTONE_MS || this.#held.has(key)) continue;
      if ([...this.#pending].some((p) => p.startsWith(`${key} `))) continue;
      this.#tombstones.delete(key);
      if (this.#view.get(key)?.reg === null) this.#view.delete(key);
    }
    if (this.#tombstones.size > 0 && this.#watch !== null) {
      this.#sweep = this.clock.setTimer(() => this.#sweepTombstones(), TOMBSTONE_MS);
    }
  }

  #record(key: string, rev: number, reg: RegistrationWire | null): void {
    const seen = this.#view.get(key);
    if (seen && seen.rev >= rev) return;
    this.#view.set(key, { rev, reg });
    if (reg === null) this.#tombstone(key);
    else this.#tombstones.delete(key);
    this.#apply(key);
  }

  /** Sets the dealer's registration of `key` to the agreed state plus what this node holds. */
  #apply(key: string): void {
    let parsed;
    try {
      parsed = parseUriKey(key);
    } catch {
      return this.logger.warn("a registrations key of another encoding", { key });
    }
    const { realm: realmName, match, uri } = parsed;
    const realm = this.host.realm(realmName);
    // Reserved URIs are every node's own (agreed_dispatch.ts): never taken from the bus.
    if (!realm || isReservedUri(uri)) return;
    const reg = this.#view.get(key)?.reg ?? null;
    const held = this.#held.get(key);
    const callees: Callee[] = [];
    const refs = new Set<RemoteSessionRef>();
    const present = new Set<number>();
    let stale = false;
    for (const c of reg?.callees ?? []) {
      if (this.#isDead(c)) continue;
      if (c.node === this.node) {
        const session = realm.sessions.get(c.session);
        if (!this.#mine(c) || !session || !held?.callees.has(c.session)) {
          if (!this.#pending.has(`${key} ${c.session}`)) stale = true;
          continue;
        }
        present.add(c.session);
        callees.push(calleeOf(session, c));
      } else {
        const ref = this.#refs.ref(realmName, c);
        refs.add(ref);
        callees.push(calleeOf(ref, c));
      }
    }
    let missing = false;
    for (const [id, c] of held?.callees ?? []) {
      const session = realm.sessions.get(id);
      if (present.has(id) || !session) continue;
      callees.push(calleeOf(session, c));
      missing = true;
    }
    const invoke = reg?.invoke ?? held?.invoke ?? "single";
    realm.dealer.sync(
      uri,
      match,
      callees.length === 0 ? null : {
        id: reg?.id ?? registrationId(realmName, match, uri),
        invoke,
        created: reg?.created ?? isoTime(this.clock),
        callees,
      },
    );
    this.#refs.used(key, refs);
    if (stale) {
      const keep = (c: CalleeWire) =>
        this.#mine(c) && (this.#held.get(key)?.callees.has(c.session) === true ||
          this.#pending.has(`${key} ${c.session}`));
      this.#prune(key, (c) => c.node === this.node && !keep(c));
    }
    if (missing && this.#bucket) this.#reassert(key);
  }

  /** Sizes of what this node keeps: keys seen (deleted ones included), keys it holds callees of. */
  get sizes(): { keys: number; held: number; sessions: number; remoteCallees: number } {
    return {
      keys: this.#view.size,
      held: this.#held.size,
      sessions: this.#keysOf.size,
      remoteCallees: this.#refs.size,
    };
  }

  // ---- re-assertion ---------------------------------------------------------------------

  #reassertAll(): void {
    for (const key of this.#held.keys()) this.#reassert(key);
    for (const [key, v] of this.#view) {
      if (v.reg?.callees.some((c) => this.#mine(c))) this.#apply(key);
    }
  }

  /**
   * Puts this node's callees of `key` back into the bucket; those that cannot be (a `single`
   * registration or another policy there now) are revoked.
   */
  #reassert(key: string): void {
    if (this.#reasserting.has(key)) {
      this.#reasserting.set(key, true);
      return;
    }
    this.#reasserting.set(key, false);
    const again = () => {
      const rerun = this.#reasserting.get(key) === true;
      this.#reasserting.delete(key);
      if (rerun) this.#reassert(key);
    };
    const { realm, match, uri } = parseUriKey(key);
    const refused: number[] = [];
    this.#change(key, (reg) => {
      refused.length = 0;
      const held = this.#held.get(key);
      let next = reg;
      for (const me of held?.callees.values() ?? []) {
        const step = this.#adding(next, realm, match, uri, held!.invoke, me);
        if ("refuse" in step) refused.push(me.session);
        else if ("write" in step) next = step.write;
      }
      return next === reg ? { done: true } : { write: next };
    }).then(() => {
      if (refused.length > 0) this.#revoke(key, realm, match, uri, refused);
      again();
    }, (e) => {
      again();
      this.logger.warn("cannot re-assert a registration (again on reconnection)", {
        key,
        error: String(e),
      });
    });
  }

  #revoke(key: string, realmName: string, match: MatchPolicy, uri: string, ids: number[]): void {
    const realm = this.host.realm(realmName);
    const reg = realm?.dealer.lookup(uri, match);
    for (const id of ids) {
      this.#unhold(key, id);
      const session = realm?.sessions.get(id);
      if (!realm || !session || !reg) continue;
      this.logger.warn("registration revoked: taken on another node meanwhile", {
        realm: realmName,
        procedure: uri,
        session: id,
      });
      realm.dealer.revoke(session, reg, REVOKED_REASON);
    }
    this.#apply(key);
  }
}

function calleeOf(session: SessionRef, c: CalleeWire): Callee {
  return { session, discloseCaller: c.disclose_caller, forwardTimeout: c.forward_timeout };
}
