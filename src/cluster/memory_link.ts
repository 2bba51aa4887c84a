/**
 * An in-memory twin of the cluster engine, for unit tests of the cluster code without a NATS
 * server: one {@link MemoryCluster} plays the server, {@link MemoryCluster.link} gives each
 * simulated node its {@link ClusterLink}. Same semantics as `nats_link.ts` (the conformance
 * tests in `tests/cluster_link_test.ts` run against both), plus fault injection.
 *
 * Delivery: every message, reply, watch entry and status change is handed over in its own
 * microtask (`queueMicrotask`), never synchronously inside the call that caused it, as NATS
 * never does either. Microtasks run first in, first out, so a link's publications reach each
 * subscriber in publication order, and a bucket's changes reach each watch in revision order.
 * Nothing waits for the clock: `await cluster.settle()` lets everything queued (and whatever
 * the handlers queue meanwhile) be delivered. The clock drives only request timeouts and the
 * age of bucket entries (`maxAgeMs`, checked whenever a bucket is used).
 *
 * Faults, as NATS shows them to a node:
 * - `disconnect(name)`: the link reports `disconnected`. Messages addressed to it meanwhile,
 *   and those still queued for it, are lost, and so are its own publications (nats.js drops what
 *   it buffered while disconnected). Its requests time out; its bucket calls fail at once with
 *   an Error (NATS fails them after the JetStream timeout); a `subscribe` resolves only once it
 *   is connected again.
 * - `reconnect(name)`: reports `connected`; its subscriptions are active again, and each of its
 *   watches receives what changed meanwhile (the current entry of each key changed since the
 *   last one it saw, deletions included, in revision order; entries that expired meanwhile are
 *   gone), as a JetStream ordered consumer resumes.
 * - `kill(name)`: the link dies silently, as a SIGKILLed process: its subscriptions and watches
 *   vanish from the "server", its pending requests never settle, and nothing more is delivered
 *   to it or reported by it; what it wrote to buckets stays until it expires.
 *
 * @module
 */

import { type Clock, systemClock, type TimerId } from "../clock.ts";
import {
  type ClusterLink,
  DEFAULT_MAX_PAYLOAD,
  type KvBucket,
  type KvBucketOptions,
  KvConflictError,
  type KvEntry,
  type KvWatch,
  type LinkMessage,
  type LinkRequest,
  LinkRequestError,
  type LinkStatus,
  type LinkSubscription,
} from "./link.ts";
import type { Logger } from "../log.ts";
import { isValidSubject, natsMatch } from "./subjects.ts";

const BUCKET_NAME = /^[-\w]+$/;
const KEY = /^[-/=.\w]+$/;

/** Options of a {@link MemoryCluster}. */
export interface MemoryClusterOptions {
  /** Drives request timeouts and bucket entry ages; the system clock by default. */
  readonly clock?: Clock;
  /**
   * Where a handler's exception is logged, as `nats_link.ts` logs it. Without one it is left
   * uncaught (in its microtask), so a test sees it fail.
   */
  readonly logger?: Logger;
  /** The engine's payload limit in bytes, as NATS's `max_payload` (default 1 MiB). */
  readonly maxPayload?: number;
}

interface Sub {
  readonly link: MemoryLink;
  readonly subject: string;
  readonly handler: (message: LinkMessage) => void;
  readonly queue: string | undefined;
}

interface Stored {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly operation: "put" | "delete";
  readonly at: number;
}

interface Watcher {
  readonly link: MemoryLink;
  readonly prefix: string;
  readonly onEntry: (entry: KvEntry) => void;
  readonly onReady: (() => void) | undefined;
  /** The bucket's revision when the watch started: older deletions are not reported. */
  readonly start: number;
  /** Revision of the last entry this watch was handed (`start` once it is ready). */
  cursor: number;
  ready: boolean;
  active: boolean;
}

interface BucketState {
  readonly name: string;
  readonly maxAgeMs: number;
  revision: number;
  readonly entries: Map<string, Stored>;
  readonly watchers: Set<Watcher>;
}

interface PendingRequest {
  settle(reply: Uint8Array | LinkRequestError): void;
  readonly timer: TimerId;
}

function checkKey(key: string): void {
  if (!KEY.test(key) || key.startsWith(".") || key.endsWith(".") || key.includes("..")) {
    throw new Error(`invalid key: ${JSON.stringify(key)}`);
  }
}

function toEntry(key: string, { value, revision, operation }: Stored): KvEntry {
  return { key, value: value.slice(), revision, operation };
}

/** The shared "server" of a set of in-memory links. */
export class MemoryCluster {
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #links = new Map<string, MemoryLink>();
  readonly #subs = new Set<Sub>();
  readonly #buckets = new Map<string, BucketState>();
  #queued = 0;

  /** A cluster with no links. */
  constructor(options: MemoryClusterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** The payload limit of every link (bytes). */
  readonly maxPayload: number;

  /** A new link named `name` (unique among the links not closed or killed), connected. */
  link(name: string): ClusterLink {
    if (this.#links.has(name)) throw new Error(`link ${name} exists`);
    const link = new MemoryLink(this, name, this.#clock);
    this.#links.set(name, link);
    return link;
  }

  /** Cuts link `name` off the server (see the module doc). */
  disconnect(name: string): void {
    this.#get(name).setConnected(false);
  }

  /** Connects link `name` again (see the module doc). */
  reconnect(name: string): void {
    this.#get(name).setConnected(true);
  }

  /** Kills link `name` silently (see the module doc). */
  kill(name: string): void {
    this.#get(name).die();
  }

  /** Resolves once every queued delivery has run, including those queued meanwhile. */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000 && this.#queued > 0; i++) {
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      // Handlers may wait for promises of their own: give them macrotask turns too.
      if (i % 50 === 49) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }

  #get(name: string): MemoryLink {
    const link = this.#links.get(name);
    if (link === undefined) throw new Error(`no link ${name}`);
    return link;
  }

  /** Runs `task`, a call of a handler of `what`, in a microtask of its own. @internal */
  defer(task: () => void, what = "cluster handler"): void {
    this.#queued++;
    queueMicrotask(() => {
      this.#queued--;
      if (this.#logger === undefined) return task();
      try {
        task();
      } catch (error) {
        this.#logger.error(`${what} failed`, {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    });
  }

  /** @internal */
  forget(link: MemoryLink): void {
    if (this.#links.get(link.name) === link) this.#links.delete(link.name);
    for (const sub of this.#subs) if (sub.link === link) this.#subs.delete(sub);
    for (const state of this.#buckets.values()) {
      for (const w of state.watchers) {
        if (w.link === link) {
          w.active = false;
          state.watchers.delete(w);
        }
      }
    }
  }

  /** @internal */
  addSub(sub: Sub): void {
    this.#subs.add(sub);
  }

  /** @internal */
  removeSub(sub: Sub): void {
    this.#subs.delete(sub);
  }

  /** The subscriptions, of other links that are connected, that `subject` reaches. @internal */
  route(from: MemoryLink, subject: string): Sub[] {
    const groups = new Set<string>(); // one member of each queue group, as NATS picks one
    return [...this.#subs].filter((s) =>
      s.link !== from && s.link.status === "connected" && natsMatch(s.subject, subject) &&
      (s.queue === undefined || (!groups.has(s.queue) && groups.add(s.queue) !== undefined))
    );
  }

  /** @internal */
  bucketState(name: string, options: KvBucketOptions): BucketState {
    let state = this.#buckets.get(name);
    if (state === undefined) {
      // The first opening sets the options; later ones get the bucket as it is (as with NATS).
      const maxAgeMs = options.maxAgeMs ?? 0;
      state = { name, maxAgeMs, revision: 0, entries: new Map(), watchers: new Set() };
      this.#buckets.set(name, state);
    }
    return state;
  }

  /** Drops entries older than the bucket's max age, silently. @internal */
  expire(state: BucketState): void {
    if (state.maxAgeMs <= 0) return;
    const now = this.#clock.nowMs();
    for (const [key, stored] of state.entries) {
      if (now - stored.at >= state.maxAgeMs) state.entries.delete(key);
    }
  }

  /** Records a change and hands it to the connected watches. @internal */
  write(state: BucketState, key: string, value: Uint8Array, operation: "put" | "delete"): number {
    const revision = ++state.revision;
    const stored: Stored = { value: value.slice(), revision, operation, at: this.#clock.nowMs() };
    state.entries.set(key, stored);
    for (const w of state.watchers) {
      if (w.link.status === "connected" && key.startsWith(w.prefix)) {
        w.link.deliverEntry(w, key, stored);
      }
    }
    return revision;
  }
}

class MemoryLink implements ClusterLink {
  readonly servers: readonly string[] = ["memory"];
  #status: LinkStatus = "connected";
  #dead = false;
  /** Incremented on every disconnection: deliveries queued before one are dropped. */
  #epoch = 0;
  readonly #listeners: ((status: LinkStatus) => void)[] = [];
  readonly #subs = new Set<Sub>();
  readonly #waiting: { resolve(): void; reject(error: Error): void }[] = [];
  readonly #requests = new Set<PendingRequest>();
  readonly #watchers = new Set<{ state: BucketState; watcher: Watcher }>();

  constructor(readonly cluster: MemoryCluster, readonly name: string, readonly clock: Clock) {}

  get status(): LinkStatus {
    return this.#status;
  }

  get maxPayload(): number {
    return this.cluster.maxPayload;
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.#listeners.push(listener);
  }

  #setStatus(status: LinkStatus): void {
    this.#status = status;
    for (const listener of this.#listeners) this.cluster.defer(() => listener(status));
  }

  /** Runs `task` later if the link is still connected in the same connection epoch. */
  #deliver(task: () => void): void {
    const epoch = this.#epoch;
    this.cluster.defer(() => {
      if (!this.#dead && this.#status === "connected" && this.#epoch === epoch) task();
    });
  }

  #checkOpen(): void {
    if (this.#status === "closed") throw new Error(`link ${this.name} is closed`);
  }

  publish(subject: string, data: Uint8Array): void {
    this.#checkOpen();
    if (!isValidSubject(subject, false)) throw new Error(`invalid subject: ${subject}`);
    this.#checkSize(data);
    if (this.#dead) return;
    if (this.#status === "connected") this.#send(subject, data.slice(), undefined);
  }

  /** A payload over the limit throws, as nats.js does (MAX_PAYLOAD_EXCEEDED). */
  #checkSize(data: Uint8Array): void {
    if (data.byteLength > this.maxPayload) {
      throw new Error(`MAX_PAYLOAD_EXCEEDED: ${data.byteLength} > ${this.maxPayload} bytes`);
    }
  }

  #send(subject: string, data: Uint8Array, respond: ((data: Uint8Array) => void) | undefined) {
    const subs = this.cluster.route(this, subject);
    for (const sub of subs) {
      sub.link.#deliver(() => {
        if (!sub.link.#subs.has(sub)) return;
        const message: LinkMessage = respond === undefined
          ? { subject, data: data.slice() }
          : { subject, data: data.slice(), respond };
        sub.handler(message);
      });
    }
    return subs.length;
  }

  subscribe(
    subject: string,
    handler: (message: LinkMessage) => void,
    queue?: string,
  ): Promise<LinkSubscription> {
    try {
      this.#checkOpen();
      if (!isValidSubject(subject, true)) throw new Error(`invalid subject: ${subject}`);
    } catch (error) {
      return Promise.reject(error);
    }
    const sub: Sub = { link: this, subject, handler, queue };
    const subscription: LinkSubscription = {
      subject,
      unsubscribe: () => {
        this.#subs.delete(sub);
        this.cluster.removeSub(sub);
      },
    };
    if (this.#dead) return new Promise(() => {});
    this.#subs.add(sub);
    this.cluster.addSub(sub);
    if (this.#status === "connected") return Promise.resolve(subscription);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve: () => resolve(subscription), reject });
    });
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.ask(subject, data, timeoutMs).reply;
  }

  ask(subject: string, data: Uint8Array, timeoutMs: number): LinkRequest {
    try {
      if (this.#status === "closed") {
        throw new LinkRequestError("closed", `link ${this.name} is closed`);
      }
      if (!isValidSubject(subject, false)) throw new Error(`invalid subject: ${subject}`);
      this.#checkSize(data);
    } catch (error) {
      return { reply: Promise.reject(error), cancel: () => {} };
    }
    if (this.#dead) return { reply: new Promise(() => {}), cancel: () => {} };
    let pending: PendingRequest | undefined;
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      const p: PendingRequest = pending = {
        settle: (reply) => {
          if (!this.#requests.delete(p)) return;
          this.clock.clearTimer(p.timer);
          if (reply instanceof LinkRequestError) reject(reply);
          else resolve(reply);
        },
        timer: this.clock.setTimer(() => {
          p.settle(new LinkRequestError("timeout", `request to ${subject} timed out`));
        }, timeoutMs),
      };
      this.#requests.add(p);
      // A disconnected link's request goes nowhere: it times out.
      if (this.#status !== "connected") return;
      const respond = (reply: Uint8Array) => {
        const copy = reply.slice();
        this.#deliver(() => p.settle(copy));
      };
      if (this.#send(subject, data.slice(), respond) === 0) {
        this.#deliver(() =>
          p.settle(new LinkRequestError("no_responders", `no responders on ${subject}`))
        );
      }
    });
    return {
      reply,
      cancel: () => {
        if (pending && this.#requests.delete(pending)) this.clock.clearTimer(pending.timer);
      },
    };
  }

  bucket(name: string, options: KvBucketOptions = {}): Promise<KvBucket> {
    try {
      this.#checkKv();
      if (!BUCKET_NAME.test(name)) throw new Error(`invalid bucket name: ${name}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#dead) return new Promise(() => {});
    return Promise.resolve(new MemoryBucket(this, this.cluster.bucketState(name, options)));
  }

  /** Throws unless bucket calls can run now. @internal */
  #checkKv(): void {
    this.#checkOpen();
    if (this.#status === "disconnected") throw new Error(`link ${this.name} is disconnected`);
  }

  /** Resolves when a bucket call may proceed; never, on a dead link. @internal */
  kvReady(): Promise<void> {
    try {
      this.#checkKv();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#dead ? new Promise(() => {}) : Promise.resolve();
  }

  /** @internal */
  addWatcher(state: BucketState, watcher: Watcher): KvWatch {
    const record = { state, watcher };
    this.#watchers.add(record);
    state.watchers.add(watcher);
    return {
      stop: () => {
        watcher.active = false;
        state.watchers.delete(watcher);
        this.#watchers.delete(record);
      },
    };
  }

  /** Hands one change to a watch of this link, once, in revision order. @internal */
  deliverEntry(w: Watcher, key: string, stored: Stored): void {
    this.#deliver(() => {
      if (!w.active || stored.revision <= w.cursor) return;
      w.cursor = stored.revision;
      w.onEntry(toEntry(key, stored));
    });
  }

  /** Hands a watch the end of its initial entries. @internal */
  deliverReady(w: Watcher): void {
    this.#deliver(() => {
      if (!w.active || w.ready) return;
      w.ready = true;
      w.cursor = Math.max(w.cursor, w.start);
      w.onReady?.();
    });
  }

  /** What a watch missed while disconnected (see the module doc). */
  #catchUp(state: BucketState, w: Watcher): void {
    this.cluster.expire(state);
    const missed = [...state.entries]
      .filter(([key, s]) =>
        s.revision > w.cursor && key.startsWith(w.prefix) &&
        (s.operation === "put" || s.revision > w.start)
      )
      .sort((a, b) => a[1].revision - b[1].revision);
    for (const [key, stored] of missed) this.deliverEntry(w, key, stored);
    if (!w.ready) this.deliverReady(w);
  }

  /** @internal */
  setConnected(connected: boolean): void {
    if (this.#dead || this.#status === "closed") return;
    if (connected === (this.#status === "connected")) return;
    if (!connected) {
      this.#epoch++;
      this.#setStatus("disconnected");
      return;
    }
    this.#setStatus("connected");
    for (const waiting of this.#waiting.splice(0)) waiting.resolve();
    for (const { state, watcher } of this.#watchers) this.#catchUp(state, watcher);
  }

  /** @internal */
  die(): void {
    if (this.#dead || this.#status === "closed") return;
    this.#dead = true;
    this.#epoch++;
    for (const pending of this.#requests) this.clock.clearTimer(pending.timer);
    this.#requests.clear();
    this.#waiting.length = 0;
    this.#subs.clear();
    this.#watchers.clear();
    this.cluster.forget(this);
  }

  close(): Promise<void> {
    if (this.#status === "closed") return Promise.resolve();
    if (!this.#dead) {
      for (const pending of [...this.#requests]) {
        pending.settle(new LinkRequestError("closed", `link ${this.name} closed`));
      }
      for (const waiting of this.#waiting) waiting.reject(new Error(`link ${this.name} closed`));
      for (const listener of this.#listeners) this.cluster.defer(() => listener("closed"));
    }
    this.die();
    this.#status = "closed";
    return Promise.resolve();
  }
}

class MemoryBucket implements KvBucket {
  constructor(readonly link: MemoryLink, readonly state: BucketState) {}

  async #ready(key?: string): Promise<void> {
    if (key !== undefined) checkKey(key);
    await this.link.kvReady();
    this.link.cluster.expire(this.state);
  }

  async get(key: string): Promise<KvEntry | null> {
    await this.#ready(key);
    const stored = this.state.entries.get(key);
    return stored?.operation === "put" ? toEntry(key, stored) : null;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    await this.#ready(key);
    return this.link.cluster.write(this.state, key, value, "put");
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    await this.#ready(key);
    if (this.state.entries.get(key)?.operation === "put") {
      throw new KvConflictError(`key ${key} exists`);
    }
    return this.link.cluster.write(this.state, key, value, "put");
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    await this.#ready(key);
    const current = this.state.entries.get(key)?.revision;
    if (current !== revision) {
      throw new KvConflictError(`key ${key} is at revision ${current ?? "none"}, not ${revision}`);
    }
    return this.link.cluster.write(this.state, key, value, "put");
  }

  async delete(key: string, revision?: number): Promise<void> {
    await this.#ready(key);
    const current = this.state.entries.get(key)?.revision;
    if (revision !== undefined && current !== revision) {
      throw new KvConflictError(`key ${key} is at revision ${current ?? "none"}, not ${revision}`);
    }
    this.link.cluster.write(this.state, key, new Uint8Array(0), "delete");
  }

  async keys(prefix = ""): Promise<string[]> {
    await this.#ready();
    return [...this.state.entries]
      .filter(([key, s]) => s.operation === "put" && key.startsWith(prefix))
      .sort((a, b) => a[1].revision - b[1].revision)
      .map(([key]) => key);
  }

  async watch(
    onEntry: (entry: KvEntry) => void,
    options: { readonly prefix?: string; readonly onReady?: () => void } = {},
  ): Promise<KvWatch> {
    await this.#ready();
    const prefix = options.prefix ?? "";
    const watcher: Watcher = {
      link: this.link,
      prefix,
      onEntry,
      onReady: options.onReady,
      start: this.state.revision,
      cursor: 0,
      ready: false,
      active: true,
    };
    const existing = [...this.state.entries]
      .filter(([key, s]) => s.operation === "put" && key.startsWith(prefix))
      .sort((a, b) => a[1].revision - b[1].revision);
    for (const [key, stored] of existing) this.link.deliverEntry(watcher, key, stored);
    this.link.deliverReady(watcher);
    return this.link.addWatcher(this.state, watcher);
  }
}
