/**
 * The one interface the cluster code uses to reach other nodes: core messaging (publish,
 * subscribe, request with "no responders") and compare-and-set key-value buckets with
 * watches. NATS implements it for real (`nats_link.ts`); an in-memory twin (`memory_link.ts`)
 * drives unit tests of the cluster code without a server. Both behave as documented here, and
 * `tests/cluster_link_test.ts` runs the same conformance tests against both.
 *
 * Subjects are NATS subjects: tokens separated by `.`, each token non-empty and without
 * whitespace, `*` or `>`; in a subscription, `*` matches one token and a final `>` one or more.
 *
 * @module
 */

/** A message received on a subscription. */
export interface LinkMessage {
  /** The subject it was published to. */
  readonly subject: string;
  /** Its payload. */
  readonly data: Uint8Array;
  /** Set when the publisher asked for a reply (see {@linkcode ClusterLink.request}). */
  respond?(data: Uint8Array): void;
}

/** A request in flight (see {@link ClusterLink.ask}). */
export interface LinkRequest {
  /** The first reply; rejects as {@link ClusterLink.request} does. */
  readonly reply: Promise<Uint8Array>;
  /** Stops waiting: nothing more happens to this request. */
  cancel(): void;
}

/** An active subscription; `unsubscribe` is idempotent. */
export interface LinkSubscription {
  /** The subscription's subject pattern. */
  readonly subject: string;
  /** Stops the subscription: no message is handed to its handler afterwards. */
  unsubscribe(): void;
}

/** Why a request failed. */
export class LinkRequestError extends Error {
  /** A request error of `kind`. */
  constructor(
    /** `no_responders`: nobody subscribes to the subject; `timeout`: no reply in time. */
    readonly kind: "no_responders" | "timeout" | "closed",
    message: string,
  ) {
    super(message);
  }
  /** Always `LinkRequestError`. */
  override name = "LinkRequestError";
}

/** A compare-and-set conflict: the key did not have the expected revision (or existed). */
export class KvConflictError extends Error {
  /** Always `KvConflictError`. */
  override name = "KvConflictError";
}

/** One entry of a bucket as a watch or a read reports it. */
export interface KvEntry {
  /** The key. */
  readonly key: string;
  /** The value; empty for deletions. */
  readonly value: Uint8Array;
  /**
   * The bucket-wide revision of this change: strictly increasing across all keys of the bucket,
   * so it orders changes cluster-wide.
   */
  readonly revision: number;
  /** `put` for a value, `delete` for a removal. */
  readonly operation: "put" | "delete";
}

/** Options of a bucket. */
export interface KvBucketOptions {
  /**
   * Entries older than this (ms since their last put) are removed by the engine; 0 keeps them.
   * Removal by age raises no watch event: use it for leases that are re-put periodically.
   */
  readonly maxAgeMs?: number;
}

/** A watch over the keys of a bucket. */
export interface KvWatch {
  /** Stops the watch. */
  stop(): void;
}

/**
 * A key-value bucket. Keys are non-empty strings of `[-/_=.a-zA-Z0-9]`, not starting or ending
 * with `.`. Every write returns the new revision; revisions start at 1, so a `revision` below 1
 * never matches. Calls made while the engine is out of reach fail with an `Error` (not a
 * {@link KvConflictError}): at once or after the engine's own timeout.
 */
export interface KvBucket {
  /** The entry of `key`, or null when it does not exist (or was deleted). */
  get(key: string): Promise<KvEntry | null>;
  /** Writes `value` unconditionally. */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `value` only if `key` does not exist (or was deleted).
   * @throws {KvConflictError} when it exists.
   */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `value` only if the key's current revision is `revision`.
   * @throws {KvConflictError} otherwise.
   */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /**
   * Deletes `key`; with `revision`, only if that is its current revision (a deletion's own
   * revision counts: `update` with it writes the key again). Deleting a key that does not
   * exist still records a deletion, which watches report.
   * @throws {KvConflictError} when the revision does not match.
   */
  delete(key: string, revision?: number): Promise<void>;
  /** The keys that currently exist, optionally only those starting with `prefix`. */
  keys(prefix?: string): Promise<string[]>;
  /**
   * Reports every existing entry (as `put`, in revision order), then `onReady`, then every later
   * change as it happens, in revision order, this node's own writes included. With `prefix`,
   * only keys starting with it.
   */
  watch(
    onEntry: (entry: KvEntry) => void,
    options?: { readonly prefix?: string; readonly onReady?: () => void },
  ): Promise<KvWatch>;
}

/** nats-server's default `max_payload` (bytes). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Whether the link reaches the engine now. */
export type LinkStatus = "connected" | "disconnected" | "closed";

/** What a link counted since it was made (NATS: the connection's own counters). */
export interface LinkStats {
  readonly inMsgs: number;
  readonly outMsgs: number;
  readonly inBytes: number;
  readonly outBytes: number;
  /** Times the link reconnected after a loss. */
  readonly reconnects: number;
}

/** A node's connection to the cluster engine. */
export interface ClusterLink {
  /** The engine servers, as configured (for messages and `/status`). */
  readonly servers: readonly string[];
  /** The link's state now. */
  readonly status: LinkStatus;
  /**
   * The largest payload (bytes) the engine takes in one message: the `max_payload` of the NATS
   * server connected to (1 MiB unless configured otherwise). Publishing or requesting with a
   * larger one throws.
   */
  readonly maxPayload: number;
  /**
   * Called on every status change. After a reconnection (`disconnected` → `connected`), core
   * subscriptions are active again, but messages published meanwhile may have been lost.
   */
  onStatus(listener: (status: LinkStatus) => void): void;
  /**
   * Publishes one message. The link never delivers a node's own publications back to it (no
   * echo). Messages of one link arrive at each subscriber in the order they were published.
   * While the link is disconnected they are lost (nats.js drops what it buffered then).
   */
  publish(subject: string, data: Uint8Array): void;
  /**
   * Subscribes to a subject pattern. The promise resolves once the engine has registered the
   * interest: a message published by any node after that is delivered. While the link is
   * disconnected, that is once it has reconnected. A handler's exception is logged. With
   * `queue`, a message reaching several subscriptions of one queue group is delivered to one
   * of them only (NATS queue groups), so a node whose subscriptions all share its own group
   * gets each message once, however many of its patterns match.
   */
  subscribe(
    subject: string,
    handler: (message: LinkMessage) => void,
    queue?: string,
  ): Promise<LinkSubscription>;
  /**
   * Publishes a request and waits for the first reply.
   * @throws {LinkRequestError} `no_responders` at once when no node subscribes to the subject,
   *   `timeout` after `timeoutMs` (also when the link is disconnected meanwhile), `closed` when
   *   the link is closed or closes meanwhile.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /**
   * {@link request}, with a handle to stop waiting: after `cancel()` the reply (or timeout) is
   * dropped and `reply` never settles. For a requester that may learn otherwise that it needs no
   * reply (the callee's node's first answer to a forwarded call tells that it took the call).
   */
  ask(subject: string, data: Uint8Array, timeoutMs: number): LinkRequest;
  /**
   * Opens (creating if needed) a key-value bucket. The options apply when this call creates
   * it; a bucket that exists keeps the options it was created with.
   */
  bucket(name: string, options?: KvBucketOptions): Promise<KvBucket>;
  /** Closes the link: subscriptions and watches end, pending requests fail with `closed`. */
  close(): Promise<void>;
  /** Messages and bytes in and out so far, and reconnections (for `/metrics`), if counted. */
  stats?(): LinkStats;
  /**
   * The round trip to the engine now, in ms (for `/metrics`), if the engine measures it.
   * Rejects while the link is disconnected.
   */
  rtt?(): Promise<number>;
}
