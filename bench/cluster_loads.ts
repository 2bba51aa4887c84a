/**
 * Load drivers of the cluster benchmark (`cluster_run.ts`): the `fanout` and `rpc` loads of
 * `loads.ts`, with every client placed on a chosen router port (a node of the cluster, or the
 * single-node router), and latency recorded.
 *
 * - Pub/sub: one publisher publishes `[seq, sentAt, payload]` (`sentAt`: `performance.now()` of
 *   this process, which also runs every subscriber, so one clock); each subscriber records
 *   `now − sentAt` for every event while recording is on. Flow control: the publisher keeps at
 *   most `window` publications that some tracked subscriber has not received, the tracked ones
 *   being the first subscriber on each port (the slowest path of each node holds the publisher
 *   back, so no node's subscribers fall behind without bound).
 * - RPC: one callee echoes its args; each caller runs `inFlight` call-await-call loops; each call's
 *   round trip is recorded while recording is on.
 *
 * - NATS round trip: two plain nats.js connections, request → reply, as the floor of a cross-node
 *   call ({@linkcode prepareNatsRoundTrip}).
 *
 * Latencies are kept as raw samples (at most {@linkcode MAX_SAMPLES} per window), so the p50 and
 * p99 are exact.
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Serializer } from "../src/serializer/serializer.ts";
import { WampClient } from "./wamp_client.ts";

/** Latency samples kept per measurement window; later ones are counted, not kept. */
export const MAX_SAMPLES = 4_000_000;

/** Raw latency samples in milliseconds. */
export class LatencySamples {
  #data = new Float64Array(1 << 16);
  #n = 0;
  #dropped = 0;
  #on = false;

  /** Starts recording, forgetting earlier samples. */
  start(): void {
    this.#n = 0;
    this.#dropped = 0;
    this.#on = true;
  }

  /** Stops recording. */
  stop(): void {
    this.#on = false;
  }

  /** Records one latency (ms) while recording. */
  add(ms: number): void {
    if (!this.#on) return;
    if (this.#n === this.#data.length) {
      if (this.#n >= MAX_SAMPLES) {
        this.#dropped++;
        return;
      }
      const bigger = new Float64Array(Math.min(MAX_SAMPLES, this.#n * 2));
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = ms;
  }

  /** Samples kept. */
  get count(): number {
    return this.#n;
  }

  /** Samples not kept because the buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The p-quantiles (0 < p < 1) of the samples, in ms; null without samples. */
  quantiles(ps: readonly number[]): Array<number | null> {
    if (this.#n === 0) return ps.map(() => null);
    const sorted = this.#data.slice(0, this.#n).sort();
    return ps.map((p) => sorted[Math.min(this.#n - 1, Math.floor(p * this.#n))]!);
  }
}

/** A load set up on its ports, ready to start. */
export interface PlacedLoad {
  /** Starts sending. */
  start(): void;
  /** Deliveries so far (pub/sub: events received by all subscribers; RPC: calls completed). */
  deliveries(): number;
  /** Publications (pub/sub) or calls (RPC) sent so far. */
  sent(): number;
  /** Latency samples (recording is started and stopped by the caller). */
  readonly latency: LatencySamples;
  /** Stops sending and waits (bounded) until what was sent has arrived. */
  stop(): Promise<void>;
  /** Closes every session. */
  close(): Promise<void>;
}

/** A pub/sub load: one publisher, subscribers on the given ports. */
export interface PlacedPubSub {
  readonly publisherPort: number;
  /** One entry per subscriber: the port it connects to. */
  readonly subscriberPorts: readonly number[];
  readonly payloadBytes: number;
  readonly window: number;
  /**
   * Mixed subscriptions: subscriber `i` subscribes with match policy `MIXED_MATCHES[i % 3]`
   * (exact topic; prefix = the topic; wildcard = the topic with its last component empty), so a
   * node holds overlapping patterns that all match every event. Default: all exact.
   */
  readonly mixed?: boolean;
}

/** The match policies of a mixed fan-out, in turn. */
export const MIXED_MATCHES = ["exact", "prefix", "wildcard"] as const;

/** The URI subscriber `i` of a mixed fan-out subscribes to, for `topic` (`a.b.c`), and how. */
export function mixedSubscription(
  topic: string,
  i: number,
): { uri: string; match: (typeof MIXED_MATCHES)[number] } {
  const match = MIXED_MATCHES[i % MIXED_MATCHES.length]!;
  const uri = match === "wildcard" ? topic.slice(0, topic.lastIndexOf(".") + 1) : topic;
  return { uri, match };
}

/** An RPC load: one callee, `callers` callers, each with `inFlight` calls outstanding. */
export interface PlacedRpc {
  readonly callerPort: number;
  readonly calleePort: number;
  readonly callers: number;
  readonly inFlight: number;
  readonly payloadBytes: number;
}

let uniqueCounter = 0;

function uniqueName(prefix: string): string {
  uniqueCounter++;
  return `${prefix}${uniqueCounter}x${Math.floor(Math.random() * 1e9).toString(36)}`;
}

function payloadOf(bytes: number): string {
  const unit = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

function session(port: number, ser: Serializer): Promise<WampClient> {
  return WampClient.connect({ port, transport: "websocket", serializer: ser });
}

async function leaveAll(sessions: readonly WampClient[]): Promise<void> {
  await Promise.all(sessions.map((c) => c.leave(1000)));
}

/** The send time of an event `[seq, sentAt, payload]`. */
function sentAtOf(args: readonly unknown[]): number {
  const t = args[1];
  if (typeof t !== "number") throw new Error("event without a send time");
  return t;
}

/** Sets up a pub/sub load with its subscribers on their ports (subscribed before it returns). */
export async function preparePlacedPubSub(
  ser: Serializer,
  load: PlacedPubSub,
): Promise<PlacedLoad> {
  const topic = uniqueName("bench.cluster.t");
  const payload = payloadOf(load.payloadBytes);
  const latency = new LatencySamples();
  const counts = new Array<number>(load.subscriberPorts.length).fill(0);
  // The first subscriber on each port paces the publisher.
  const tracked = [...new Set(load.subscriberPorts)].map((p) => load.subscriberPorts.indexOf(p));
  let published = 0;
  let running = false;
  const sessions: WampClient[] = [];
  let publisher: WampClient;
  try {
    for (const [s, port] of load.subscriberPorts.entries()) {
      const c = await session(port, ser);
      sessions.push(c);
      const pace = tracked.includes(s);
      const { uri, match } = load.mixed
        ? mixedSubscription(topic, s)
        : { uri: topic, match: "exact" };
      await c.subscribe(uri, (ev) => {
        counts[s]!++;
        latency.add(performance.now() - sentAtOf(ev.args));
        if (pace) pump();
      }, match === "exact" ? {} : { match });
    }
    publisher = await session(load.publisherPort, ser);
    sessions.push(publisher);
  } catch (err) {
    await leaveAll(sessions);
    throw err;
  }
  const slowest = () => Math.min(...tracked.map((s) => counts[s]!));
  function pump(): void {
    while (running && published - slowest() < load.window) {
      published++;
      publisher.publish(topic, [published, performance.now(), payload]);
    }
  }
  return {
    start() {
      running = true;
      pump();
    },
    deliveries: () => counts.reduce((a, b) => a + b, 0),
    sent: () => published,
    latency,
    async stop() {
      running = false;
      const drained = await waitUntil(() => counts.every((n) => n >= published), 3000);
      if (!drained) {
        console.error(
          `  warning: not all publications arrived (published ${published}, received ${counts})`,
        );
      }
    },
    close: () => leaveAll(sessions),
  };
}

/**
 * Sets up an RPC load. Before it returns, every caller has completed one call (retried for up to
 * 10 s: in a cluster the caller's node may learn of the registration a moment after REGISTERED).
 */
export async function preparePlacedRpc(ser: Serializer, load: PlacedRpc): Promise<PlacedLoad> {
  const procedure = uniqueName("bench.cluster.p");
  const args = [payloadOf(load.payloadBytes)];
  const latency = new LatencySamples();
  const sessions: WampClient[] = [];
  const callers: WampClient[] = [];
  try {
    const callee = await session(load.calleePort, ser);
    sessions.push(callee);
    await callee.register(procedure, (inv) => inv.args);
    for (let i = 0; i < load.callers; i++) {
      const c = await session(load.callerPort, ser);
      sessions.push(c);
      callers.push(c);
    }
    for (const c of callers) {
      const deadline = performance.now() + 10_000;
      for (;;) {
        try {
          await c.call(procedure, args);
          break;
        } catch (err) {
          if (performance.now() > deadline) throw err;
          await sleep(50);
        }
      }
    }
  } catch (err) {
    await leaveAll(sessions);
    throw err;
  }
  let completed = 0;
  let started = 0;
  let running = false;
  let loops: Promise<void>[] = [];
  let failure: unknown = null;
  const loop = async (c: WampClient): Promise<void> => {
    try {
      while (running) {
        started++;
        const t0 = performance.now();
        await c.call(procedure, args);
        latency.add(performance.now() - t0);
        completed++;
      }
    } catch (err) {
      // The first failure ends the load; stop() reports it once the other loops ended.
      failure ??= err;
      running = false;
    }
  };
  return {
    start() {
      running = true;
      loops = callers.flatMap((c) => Array.from({ length: load.inFlight }, () => loop(c)));
    },
    deliveries: () => completed,
    sent: () => started,
    latency,
    async stop() {
      running = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settled = await Promise.race([
        Promise.all(loops).then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 3000))),
      ]);
      clearTimeout(timer);
      if (!settled) console.error("  warning: calls still outstanding 3 s after the load stopped");
      if (failure !== null) throw failure;
    },
    close: () => leaveAll(sessions),
  };
}

/**
 * The floor of a call between two nodes: two plain nats.js connections (no router), one
 * answering requests with their payload, the other making `inFlight` requests at a time. A
 * cross-node call takes at least this round trip (its CALL and its RESULT each cross NATS once)
 * on top of what a single-node call costs.
 */
export async function prepareNatsRoundTrip(
  url: string,
  load: { readonly inFlight: number; readonly payloadBytes: number },
): Promise<PlacedLoad> {
  const subject = uniqueName("bench.floor.");
  const data = new TextEncoder().encode(payloadOf(load.payloadBytes));
  const latency = new LatencySamples();
  // The node's connection options that bear on speed (src/cluster/nats_link.ts).
  const options = { servers: url, noEcho: true, noAsyncTraces: true };
  const responder = await connect(options);
  let requester: NatsConnection;
  try {
    responder.subscribe(subject, {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    await responder.flush();
    requester = await connect(options);
  } catch (err) {
    await responder.close();
    throw err;
  }
  let completed = 0;
  let started = 0;
  let running = false;
  let loops: Promise<void>[] = [];
  let failure: unknown = null;
  const loop = async (): Promise<void> => {
    try {
      while (running) {
        started++;
        const t0 = performance.now();
        await requester.request(subject, data, { timeout: 5000 });
        latency.add(performance.now() - t0);
        completed++;
      }
    } catch (err) {
      failure ??= err;
      running = false;
    }
  };
  return {
    start() {
      running = true;
      loops = Array.from({ length: load.inFlight }, loop);
    },
    deliveries: () => completed,
    sent: () => started,
    latency,
    async stop() {
      running = false;
      await Promise.all(loops);
      if (failure !== null) throw failure;
    },
    async close() {
      await Promise.all([requester.close(), responder.close()]);
    },
  };
}
