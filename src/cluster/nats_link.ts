/**
 * {@link ClusterLink} over NATS: core subjects through `@nats-io/transport-node`, buckets
 * through JetStream KV (`@nats-io/kv`, watches through `@nats-io/jetstream` ordered push
 * consumers). Loaded only by code that runs a cluster (a dynamic import), so a router without
 * a `cluster` block never loads nats.js.
 *
 * What nats.js does that the cluster relies on (checked against nats-server 2.9 by
 * `tests/cluster_link_test.ts`):
 * - The connection has `noEcho`: the server never sends a node its own publications.
 * - Reconnection is forever (`maxReconnectAttempts: -1`), waiting `reconnectWaitMs` (plus a
 *   little jitter) after every server of the list was tried once. On reconnection nats.js
 *   subscribes again to every subscription's subject; messages published meanwhile are lost.
 *   So are the node's own publications and requests made while it is disconnected: nats.js
 *   drops its outgoing buffer (checked through a proxy cutting one client off), so a request
 *   then fails with a timeout even if the link is back before it, and so do bucket calls.
 *   A `flush` made while disconnected fails ("connection disconnected"): `subscribe` then
 *   waits for the reconnection and flushes again.
 * - A watch is an ordered push consumer (last value per key, then every change): after a
 *   reconnection it goes on from the last stream sequence it saw (recreating its consumer when
 *   the server lost it), so changes made meanwhile are reported then, but only the latest value
 *   of each key (the buckets keep one value per key).
 * - A bucket's `maxAgeMs` is the stream's `max_age`: the server removes old entries without a
 *   message, so no watch hears of it; a key removed this way can be `create`d again.
 * - Handlers run inside nats.js callbacks: an exception there would end a watch's consumer, so
 *   every handler's exception is caught here and logged.
 *
 * @module
 */

import {
  ClosedConnectionError,
  connect,
  type Msg,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type Clock, systemClock } from "../clock.ts";
import { type Logger, silentLogger } from "../log.ts";
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
  type LinkStats,
  type LinkStatus,
  type LinkSubscription,
} from "./link.ts";
import { StringMemo } from "./memo.ts";
import { NatsRequests } from "./nats_requests.ts";
import { isValidSubject } from "./subjects.ts";

/**
 * Tries to open a bucket: its stream may be being created by another node at the same moment,
 * or a fresh server's JetStream may not answer within the API timeout yet.
 */
const BUCKET_CREATE_ATTEMPTS = 5;
/** Milliseconds between those tries (times the attempt number). */
const BUCKET_CREATE_RETRY_MS = 50;
/** How long one JetStream API request (bucket create, get, put) may take, by default. */
const JETSTREAM_API_TIMEOUT_MS = 5000;

/** Options of {@link connectNats}. */
export interface NatsLinkOptions {
  /** The node's name, given to the server as the connection name. */
  readonly name: string;
  /** Measures how long the link was disconnected (for the log). */
  readonly clock?: Clock;
  /** Where status changes and handler failures are logged. */
  readonly logger?: Logger;
  /** How long one connection attempt may take (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** The wait between rounds of reconnection attempts (default 500 ms). */
  readonly reconnectWaitMs?: number;
  /** How long one JetStream API request may take (default `JETSTREAM_API_TIMEOUT_MS`). */
  readonly apiTimeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

/** nats.js hands out Node `Buffer`s: the link gives plain `Uint8Array` views of them. */
function bytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Connects to the NATS servers `servers` (`host:port` or `nats://host:port`).
 * @throws {Error} naming the servers when the first connection fails.
 */
export async function connectNats(
  servers: string[],
  options: NatsLinkOptions,
): Promise<ClusterLink> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: options.name,
      noEcho: true,
      // No Error object (with its stack) made up front for every subscription and call.
      noAsyncTraces: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 500,
      reconnectJitter: 100,
      timeout: options.connectTimeoutMs ?? 5000,
      // Find a dead server in ~10 s instead of nats.js's default 4 minutes.
      pingInterval: 5000,
      maxPingOut: 2,
    });
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${servers.join(", ")}: ${describe(error)}`, {
      cause: error,
    });
  }
  return new NatsLink(nc, servers, options);
}

function isConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** The watch filter for keys starting with `prefix`: its complete tokens, then `>`. */
function keyFilter(prefix: string): string {
  const dot = prefix.lastIndexOf(".");
  return dot < 0 ? ">" : `${prefix.slice(0, dot + 1)}>`;
}

class NatsLink implements ClusterLink {
  readonly servers: readonly string[];
  #status: LinkStatus = "connected";
  #closing = false;
  #downSince = 0;
  #reconnects = 0;
  readonly #nc: NatsConnection;
  /** Whether a subject is valid to publish to (a node publishes to the same few again and again). */
  readonly #publishable = new StringMemo((subject) => isValidSubject(subject, false));
  readonly #js: JetStreamClient;
  readonly #kvm: Kvm;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #name: string;
  readonly #listeners: ((status: LinkStatus) => void)[] = [];
  readonly #reconnected: (() => void)[] = [];
  readonly #watches = new Set<() => Promise<void>>();
  readonly #statusLoop: Promise<void>;
  readonly #requests: NatsRequests;

  constructor(nc: NatsConnection, servers: readonly string[], options: NatsLinkOptions) {
    this.#nc = nc;
    this.servers = [...servers];
    this.#js = jetstream(nc, { timeout: options.apiTimeoutMs ?? JETSTREAM_API_TIMEOUT_MS });
    this.#kvm = new Kvm(this.#js);
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#name = options.name;
    this.#statusLoop = this.#watchStatus();
    this.#requests = new NatsRequests(nc, this.#clock);
    nc.closed().then((error) => {
      if (error) this.#log.error("NATS connection ended", { error: describe(error) });
      this.#setStatus("closed");
    });
  }

  get status(): LinkStatus {
    return this.#status;
  }

  stats(): LinkStats {
    const { inMsgs, outMsgs, inBytes, outBytes } = this.#nc.stats();
    return { inMsgs, outMsgs, inBytes, outBytes, reconnects: this.#reconnects };
  }

  rtt(): Promise<number> {
    return this.#nc.rtt();
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.#listeners.push(listener);
  }

  #setStatus(status: LinkStatus): void {
    if (this.#status === status || this.#status === "closed") return;
    this.#status = status;
    if (status === "connected") {
      for (const resume of this.#reconnected.splice(0)) resume();
    }
    for (const listener of this.#listeners) {
      try {
        listener(status);
      } catch (error) {
        this.#log.error("cluster link status listener failed", { error: describe(error) });
      }
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.#downSince = this.#clock.nowMs();
          this.#log.warn("lost NATS server", { node: this.#name, server: s.server });
          this.#setStatus("disconnected");
          break;
        case "reconnect":
          this.#reconnects++;
          this.#log.info("reconnected to NATS", {
            node: this.#name,
            server: s.server,
            down_ms: Math.round(this.#clock.nowMs() - this.#downSince),
          });
          this.#setStatus("connected");
          break;
        case "error":
          this.#log.warn("NATS error", { node: this.#name, error: describe(s.error) });
          break;
        case "ldm":
          this.#log.info("NATS server entering lame duck mode", { server: s.server });
          break;
        case "staleConnection":
          this.#log.warn("NATS connection is stale", { node: this.#name });
          break;
        case "slowConsumer":
          this.#log.warn("NATS slow consumer", { subject: s.sub.getSubject(), pending: s.pending });
          break;
        default:
          break;
      }
    }
  }

  #checkOpen(): void {
    if (this.#closing) throw new Error("cluster link closed");
  }

  /** Resolves once the server has seen everything sent so far (a round trip). */
  async #roundTrip(): Promise<void> {
    for (;;) {
      this.#checkOpen();
      if (this.#status === "connected") {
        try {
          return await this.#nc.flush();
        } catch (error) {
          if (this.#closing || this.#nc.isClosed()) throw error;
          // Disconnected meanwhile: the interest is sent again on reconnection.
        }
      }
      await new Promise<void>((resolve) => this.#reconnected.push(resolve));
    }
  }

  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  publish(subject: string, data: Uint8Array): void {
    this.#checkOpen();
    if (!this.#publishable.get(subject)) throw new Error(`invalid subject: ${subject}`);
    this.#nc.publish(subject, data);
  }

  async subscribe(
    subject: string,
    handler: (message: LinkMessage) => void,
    queue?: string,
  ): Promise<LinkSubscription> {
    this.#checkOpen();
    if (!isValidSubject(subject, true)) throw new Error(`invalid subject: ${subject}`);
    let active = true;
    const sub = this.#nc.subscribe(subject, {
      ...(queue === undefined ? {} : { queue }),
      callback: (error, msg) => {
        if (error) {
          this.#log.warn("cluster subscription error", { subject, error: describe(error) });
          return;
        }
        if (active) this.#handle(subject, msg, handler);
      },
    });
    const subscription: LinkSubscription = {
      subject,
      unsubscribe: () => {
        if (!active) return;
        active = false;
        if (!this.#nc.isClosed()) sub.unsubscribe();
      },
    };
    try {
      await this.#roundTrip();
    } catch (error) {
      subscription.unsubscribe();
      throw error;
    }
    return subscription;
  }

  #handle(pattern: string, msg: Msg, handler: (message: LinkMessage) => void): void {
    // `respond` is looked up only by handlers that answer requests: nats.js decodes the reply
    // subject anew at every read of `msg.reply` (an empty one too), so events never read it.
    const nc = this.#nc;
    const message: LinkMessage = {
      subject: msg.subject,
      data: bytes(msg.data),
      get respond() {
        return msg.reply
          ? (data: Uint8Array) => {
            if (!nc.isClosed()) msg.respond(data);
          }
          : undefined;
      },
    };
    try {
      handler(message);
    } catch (error) {
      this.#log.error("cluster message handler failed", {
        subject: pattern,
        error: describe(error),
      });
    }
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.ask(subject, data, timeoutMs).reply;
  }

  ask(subject: string, data: Uint8Array, timeoutMs: number): LinkRequest {
    let asked: LinkRequest;
    try {
      if (this.#closing) throw new LinkRequestError("closed", "cluster link closed");
      if (!isValidSubject(subject, false)) throw new Error(`invalid subject: ${subject}`);
      asked = this.#requests.ask(subject, data, timeoutMs);
    } catch (error) {
      return { reply: Promise.reject(error), cancel: () => {} };
    }
    const reply = asked.reply.then(bytes, (error) => {
      if (error instanceof LinkRequestError) throw error;
      if (this.#closing || this.#nc.isClosed() || error instanceof ClosedConnectionError) {
        throw new LinkRequestError("closed", `cluster link closed during request to ${subject}`);
      }
      throw error;
    });
    return { reply, cancel: asked.cancel };
  }

  async bucket(name: string, options: KvBucketOptions = {}): Promise<KvBucket> {
    this.#checkOpen();
    const maxAgeMs = options.maxAgeMs ?? 0;
    const config = { history: 1, ...(maxAgeMs > 0 ? { ttl: maxAgeMs } : {}) };
    // Nodes starting together race to create the bucket's stream: the loser's create fails
    // ("subjects overlap with an existing stream") while the winner's is being set up; once it
    // exists, create binds to it. A fresh server under load may also let the request time out
    // (it may still have created the stream: create binds to it then). A few tries,
    // BUCKET_CREATE_RETRY_MS apart.
    for (let attempt = 1;; attempt++) {
      try {
        const kv = await this.#kvm.create(name, config);
        return new NatsBucket(name, kv, this.#js, this.#log, this.#watches);
      } catch (error) {
        const racing = error instanceof Error && /overlap|already in use/.test(error.message);
        const slow = error instanceof Error && error.name === "TimeoutError";
        if (!(racing || slow) || attempt >= BUCKET_CREATE_ATTEMPTS) throw error;
        this.#log.debug(
          racing
            ? "cluster bucket created concurrently; binding again"
            : "cluster bucket create timed out; trying again",
          { name, attempt },
        );
        await new Promise<void>((resume) =>
          this.#clock.setTimer(resume, BUCKET_CREATE_RETRY_MS * attempt)
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await Promise.all([...this.#watches].map((stop) => stop()));
    this.#requests.close();
    if (!this.#nc.isClosed()) await this.#nc.close();
    await this.#statusLoop;
    this.#setStatus("closed");
    for (const resume of this.#reconnected.splice(0)) resume();
  }
}

class NatsBucket implements KvBucket {
  readonly #subjectPrefix: string;

  constructor(
    readonly name: string,
    readonly kv: KV,
    readonly js: JetStreamClient,
    readonly log: Logger,
    readonly watches: Set<() => Promise<void>>,
  ) {
    this.#subjectPrefix = `$KV.${name}.`;
  }

  async get(key: string): Promise<KvEntry | null> {
    const e = await this.kv.get(key);
    if (e === null || e.operation !== "PUT") return null;
    return { key, value: bytes(e.value), revision: e.revision, operation: "put" };
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv.put(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.create(key, value);
    } catch (error) {
      if (isConflict(error)) throw new KvConflictError(`key ${key} exists`, { cause: error });
      throw error;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    if (!(revision >= 1)) throw new KvConflictError(`key ${key}: no revision ${revision}`);
    try {
      return await this.kv.update(key, value, revision);
    } catch (error) {
      if (isConflict(error)) {
        throw new KvConflictError(`key ${key} is not at revision ${revision}`, { cause: error });
      }
      throw error;
    }
  }

  async delete(key: string, revision?: number): Promise<void> {
    if (revision !== undefined && !(revision >= 1)) {
      throw new KvConflictError(`key ${key}: no revision ${revision}`);
    }
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
    } catch (error) {
      if (isConflict(error)) {
        throw new KvConflictError(`key ${key} is not at revision ${revision}`, { cause: error });
      }
      throw error;
    }
  }

  async keys(prefix = ""): Promise<string[]> {
    const out: string[] = [];
    for await (const key of await this.kv.keys(keyFilter(prefix))) {
      if (key.startsWith(prefix)) out.push(key);
    }
    return out;
  }

  async watch(
    onEntry: (entry: KvEntry) => void,
    options: { readonly prefix?: string; readonly onReady?: () => void } = {},
  ): Promise<KvWatch> {
    const prefix = options.prefix ?? "";
    const consumer = await this.js.consumers.getPushConsumer(`KV_${this.name}`, {
      filter_subjects: `${this.#subjectPrefix}${keyFilter(prefix)}`,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    // The number of entries (values and deletion markers) there were when the consumer was made.
    const initial = (await consumer.info(true)).num_pending;
    let seen = 0;
    let ready = false;
    let stopped = false;
    const report = (run: () => void, what: string) => {
      try {
        run();
      } catch (error) {
        this.log.error(`cluster bucket watch ${what} failed`, {
          bucket: this.name,
          error: describe(error),
        });
      }
    };
    const markReady = () => {
      if (ready || stopped) return;
      ready = true;
      if (options.onReady) report(options.onReady, "onReady");
    };
    const messages = await consumer.consume({
      callback: (m) => {
        if (stopped) return;
        const key = m.subject.slice(this.#subjectPrefix.length);
        const op = m.headers?.get("KV-Operation");
        const removed = op === "DEL" || op === "PURGE";
        const initialPhase = !ready;
        if (initialPhase) seen++;
        if (key.startsWith(prefix) && !(initialPhase && removed)) {
          const entry: KvEntry = {
            key,
            value: removed ? EMPTY : bytes(m.data),
            revision: m.seq,
            operation: removed ? "delete" : "put",
          };
          report(() => onEntry(entry), "handler");
        }
        if (initialPhase && (seen >= initial || m.info.pending === 0)) markReady();
      },
    });
    if (initial === 0) markReady();
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      this.watches.delete(stop);
      await messages.close();
    };
    this.watches.add(stop);
    void messages.closed().then((error) => {
      if (!stopped && error) {
        this.log.error("cluster bucket watch ended", { bucket: this.name, error: describe(error) });
      }
    });
    return { stop: () => void stop() };
  }
}
