/**
 * Who is in the cluster (docs/cluster.md, "Identity" and "Failure"): this node claims a node
 * number in bucket `sb_nodes` with `create` (compare-and-set) and keeps it by re-writing it at
 * every heartbeat (the bucket forgets entries after {@link NODE_CLAIM_MAX_AGE} ms); it says it is
 * alive on `sb.hb` every `heartbeat_interval`, and declares another node dead after
 * `node_timeout` ms of silence (or when it starts a new incarnation). Other pieces of the
 * cluster listen for {@link NodeEvent}s. Session ids are `number × 2^43 + random 43 bits`.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import { MAX_NODE_NUMBER } from "../config/defaults.ts";
import type { Logger } from "../log.ts";
import { CodecError, decode, encode } from "./codec.ts";
import { type ClusterLink, type KvBucket, KvConflictError, type LinkSubscription } from "./link.ts";

/** The subject of heartbeats. */
export const HEARTBEAT_SUBJECT = "sb.hb";
/** The bucket of node numbers. */
export const NODES_BUCKET = "sb_nodes";
/** Entries of `sb_nodes` not re-written for this long (ms) are forgotten by the engine. */
export const NODE_CLAIM_MAX_AGE = 10_000;
/** Random bits of a session id below the node number. */
export const SESSION_ID_RANDOM_BITS = 43;
const SPAN = 2 ** SESSION_ID_RANDOM_BITS;

/** Another node as this node knows it. */
export interface PeerNode {
  readonly node: string;
  /** Random per start of the node: a restarted node is a new incarnation. */
  readonly incarnation: string;
  /** Its node number (the high bits of its session ids). */
  readonly number: number;
}

/** A change of membership. */
export interface NodeEvent {
  /** `up`: first heartbeat of an incarnation; `down`: silent for `node_timeout` or replaced. */
  readonly kind: "up" | "down";
  readonly peer: PeerNode;
}

/** Options of {@link Membership}. */
export interface MembershipOptions {
  readonly node: string;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The key of node number `n` in `sb_nodes`. */
export function numberKey(n: number): string {
  return `n.${n}`;
}

/**
 * A session id of node number `number`: `number × 2^43 + r`, `r` random in [0, 2^43) (not 0 for
 * number 0, which no node claims). At most 1023 × 2^43 + 2^43 - 1 < 2^53.
 */
export function sessionIdOf(number: number, random: number = Math.random()): number {
  return number * SPAN + Math.floor(random * SPAN);
}

/** The node number of a session id made by {@link sessionIdOf}. */
export function nodeNumberOf(sessionId: number): number {
  return Math.floor(sessionId / SPAN);
}

/** Where a node number search starts for `node`: a hash of its name, 1..1023. */
function startNumber(node: string): number {
  let h = 2166136261;
  for (let i = 0; i < node.length; i++) h = Math.imul(h ^ node.charCodeAt(i), 16777619);
  return ((h >>> 0) % MAX_NODE_NUMBER) + 1;
}

function randomIncarnation(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Heartbeat {
  readonly node: string;
  readonly incarnation: string;
  readonly number: number;
  /** Sent once by a node that stops: the others declare it dead at once. */
  readonly leaving?: boolean;
}

function asHeartbeat(value: unknown): Heartbeat | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.node !== "string" || typeof v.incarnation !== "string") return null;
  if (!Number.isInteger(v.number)) return null;
  const beat = { node: v.node, incarnation: v.incarnation, number: v.number as number };
  return v.leaving === true ? { ...beat, leaving: true } : beat;
}

/** This node's membership: its number, heartbeats, and the other nodes it hears. */
export class Membership {
  readonly node: string;
  readonly incarnation: string = randomIncarnation();
  #number = 0;
  #revision = 0;
  #bucket: KvBucket | null = null;
  #sub: LinkSubscription | null = null;
  #timer: TimerId | null = null;
  #stopped = false;
  #refreshing = false;
  readonly #peers = new Map<string, PeerNode & { seen: number }>();
  readonly #listeners = new Set<(event: NodeEvent) => void>();
  readonly #link: ClusterLink;
  readonly #o: MembershipOptions;

  constructor(link: ClusterLink, options: MembershipOptions) {
    this.#link = link;
    this.#o = options;
    this.node = options.node;
  }

  /** This node's number (1..1023), once {@link start} resolved. */
  get number(): number {
    return this.#number;
  }

  /** The nodes heard from and not declared dead, this one excluded. */
  get peers(): PeerNode[] {
    return [...this.#peers.values()].map(({ node, incarnation, number }) => ({
      node,
      incarnation,
      number,
    }));
  }

  /** Calls `listener` on every membership change; returns the function that stops it. */
  onChange(listener: (event: NodeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A new session id of this node. */
  newSessionId(): number {
    let id = sessionIdOf(this.#number);
    while (id === 0) id = sessionIdOf(this.#number);
    return id;
  }

  /**
   * Listens for heartbeats, claims a node number and starts heartbeating.
   * @throws {Error} when every number is taken, or the engine is out of reach.
   */
  async start(): Promise<void> {
    this.#sub = await this.#link.subscribe(HEARTBEAT_SUBJECT, (m) => this.#heard(m.data));
    this.#bucket = await this.#link.bucket(NODES_BUCKET, { maxAgeMs: NODE_CLAIM_MAX_AGE });
    const first = startNumber(this.node);
    for (let i = 0; i < MAX_NODE_NUMBER && this.#number === 0; i++) {
      const n = ((first - 1 + i) % MAX_NODE_NUMBER) + 1;
      try {
        this.#revision = await this.#bucket.create(numberKey(n), this.#claim());
        this.#number = n;
      } catch (e) {
        if (!(e instanceof KvConflictError)) throw e;
      }
    }
    if (this.#number === 0) {
      throw new Error(
        `no free node number in bucket ${NODES_BUCKET} (all ${MAX_NODE_NUMBER} taken)`,
      );
    }
    this.#beat();
  }

  #claim(): Uint8Array {
    return encode({ node: this.node, incarnation: this.incarnation });
  }

  /** One heartbeat: publish, refresh the claim, declare the silent nodes dead; then again. */
  #beat(): void {
    if (this.#stopped) return;
    const beat: Heartbeat = {
      node: this.node,
      incarnation: this.incarnation,
      number: this.#number,
    };
    if (this.#link.status === "connected") {
      this.#link.publish(HEARTBEAT_SUBJECT, encode(beat));
      if (!this.#refreshing) {
        this.#refreshing = true;
        void this.#refresh().finally(() => this.#refreshing = false);
      }
    }
    const now = this.#o.clock.nowMs();
    for (const peer of [...this.#peers.values()]) {
      if (now - peer.seen > this.#o.timeoutMs) this.#down(peer);
    }
    this.#timer = this.#o.clock.setTimer(() => this.#beat(), this.#o.heartbeatMs);
  }

  /** Re-writes this node's number claim (compare-and-set on its own last revision). */
  async #refresh(): Promise<void> {
    const bucket = this.#bucket;
    if (!bucket) return;
    const key = numberKey(this.#number);
    try {
      this.#revision = await bucket.update(key, this.#claim(), this.#revision);
    } catch (e) {
      if (this.#stopped) return;
      if (!(e instanceof KvConflictError)) {
        this.#o.logger.warn("cluster: node number not refreshed", { error: String(e) });
        return;
      }
      // expired meanwhile (the engine was out of reach): claim it again if still free
      try {
        this.#revision = await bucket.create(key, this.#claim());
      } catch (again) {
        this.#o.logger.error("cluster: this node's number was taken by another node", {
          number: this.#number,
          error: String(again),
        });
      }
    }
  }

  #heard(data: Uint8Array): void {
    let beat: Heartbeat | null;
    try {
      beat = asHeartbeat(decode(data));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      beat = null;
    }
    if (!beat || this.#stopped) {
      if (!beat) this.#o.logger.warn("cluster: malformed heartbeat ignored");
      return;
    }
    if (beat.node === this.node) {
      if (beat.incarnation !== this.incarnation) {
        this.#o.logger.error("cluster: another node runs with this node's name", {
          node: this.node,
        });
      }
      return;
    }
    const known = this.#peers.get(beat.node);
    if (known && (known.incarnation !== beat.incarnation || beat.leaving)) this.#down(known);
    if (beat.leaving) return;
    const now = this.#o.clock.nowMs();
    const current = this.#peers.get(beat.node);
    if (current) {
      current.seen = now;
      return;
    }
    const peer = { ...beat, seen: now };
    this.#peers.set(beat.node, peer);
    this.#o.logger.info("cluster: node up", { peer: beat.node, number: beat.number });
    this.#emit({ kind: "up", peer: { ...beat } });
  }

  #down(peer: PeerNode & { seen: number }): void {
    if (this.#peers.get(peer.node) !== peer) return;
    this.#peers.delete(peer.node);
    this.#o.logger.warn("cluster: node down", { peer: peer.node, number: peer.number });
    const { node, incarnation, number } = peer;
    this.#emit({ kind: "down", peer: { node, incarnation, number } });
  }

  #emit(event: NodeEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (e) {
        this.#o.logger.error("cluster: membership listener failed", { error: String(e) });
      }
    }
  }

  /** Stops heartbeating and releases the node number. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#sub?.unsubscribe();
    if (this.#number !== 0 && this.#link.status === "connected") {
      const bye: Heartbeat = {
        node: this.node,
        incarnation: this.incarnation,
        number: this.#number,
        leaving: true,
      };
      this.#link.publish(HEARTBEAT_SUBJECT, encode(bye));
    }
    if (this.#bucket && this.#number !== 0 && this.#link.status === "connected") {
      try {
        await this.#bucket.delete(numberKey(this.#number), this.#revision);
      } catch (e) {
        this.#o.logger.warn("cluster: node number not released", { error: String(e) });
      }
    }
  }
}
