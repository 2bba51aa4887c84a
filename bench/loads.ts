/**
 * Load drivers: set up clients against a target, run the load for a fixed time, count
 * deliveries, tear down. Every client uses the bench's own WebSocket client (`TCP_NODELAY`), or
 * for a RawSocket case (router only) its RawSocket client; the WAMP client on top is the same.
 *
 * Against the router the clients are WAMP sessions. Against the relay they send the very same
 * encoded PUBLISH and CALL messages and decode what they receive, so the client-side work per
 * delivery is the same; only the server differs.
 *
 * @module
 */

import { batchedVariant } from "../src/serializer/batched.ts";
import type { Payload, Serializer } from "../src/serializer/serializer.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import type { MatchPolicy } from "../src/config/types.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import type { BackgroundSubscriptions, PubSubLoad, RpcLoad } from "./cases.ts";
import type { TargetName } from "./targets.ts";
import { type TransportKind, WampClient, type WampTransport } from "./wamp_client.ts";
import { connectWebSocket, type WebSocketClient, type WsMessage } from "./ws_client.ts";

/** Where to send the load. */
export interface Endpoint {
  readonly target: TargetName;
  /** Port of `transport` on 127.0.0.1. */
  readonly port: number;
  /** Transport of every client; default `websocket` (the relay has no other). */
  readonly transport?: TransportKind;
  /** WAMP sessions offer only the serializer's batched subprotocol (router only). */
  readonly batched?: boolean;
}

/** A load that is set up and can be started. */
export interface PreparedLoad {
  /** Starts sending. */
  start(): void;
  /** Deliveries so far (pub/sub: events received by all subscribers; RPC: calls completed). */
  deliveries(): number;
  /** Stops sending and waits (bounded) until what was sent has arrived. */
  stop(): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
}

let uniqueCounter = 0;

/** A name no earlier measurement of this process used (topics, procedures, relay channels). */
export function uniqueName(prefix: string): string {
  uniqueCounter++;
  return `${prefix}${uniqueCounter}x${Math.floor(Math.random() * 1e9).toString(36)}`;
}

/** An ASCII string of `bytes` characters. */
export function payloadOf(bytes: number): string {
  const unit = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `done()` or `timeoutMs` passed; true when done. */
async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Runs `count` async jobs at most `width` at a time, preserving order of results. */
export async function inBatches<R>(
  count: number,
  width: number,
  job: (i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (let at = 0; at < count; at += width) {
    const n = Math.min(width, count - at);
    out.push(...await Promise.all(Array.from({ length: n }, (_, k) => job(at + k))));
  }
  return out;
}

/** A WebSocket to the relay on `path` (the relay speaks WebSocket only). */
export function relaySocket(
  endpoint: Endpoint,
  path: string,
  ser: Serializer,
): Promise<WebSocketClient> {
  if ((endpoint.transport ?? "websocket") !== "websocket") {
    throw new Error(`the relay speaks WebSocket only, not ${endpoint.transport}`);
  }
  return connectWebSocket({ port: endpoint.port, path, protocols: [ser.subprotocol] });
}

/** A WAMP session (HELLO/WELCOME done) on the router. */
export function wampSession(endpoint: Endpoint, ser: Serializer): Promise<WampClient> {
  return WampClient.connect({
    port: endpoint.port,
    transport: endpoint.transport ?? "websocket",
    serializer: endpoint.batched ? batchedVariant(ser) : ser,
  });
}

async function closeAll(sockets: readonly WebSocketClient[]): Promise<void> {
  await Promise.all(sockets.map((ws) => ws.close(1000, "", 1000)));
}

/** One subscription request: a URI or pattern and its match policy. */
export interface SubscriptionSpec {
  readonly uri: string;
  readonly match: MatchPolicy;
}

/**
 * The subscriptions of a {@link BackgroundSubscriptions} spec for a load that publishes to
 * `topic` (`bench.pubsub.<name>`, three components). None of them matches `topic`, but many
 * look like it, so the prefix and wildcard tries are walked, not skipped at the root:
 *
 * - exact: `bench.bg.e<j>`; every tenth `<topic>.e<j>`.
 * - prefix, in turn: `<topic>.p<j>` (the whole topic is a prefix of the pattern, so the radix
 *   tree is followed to the topic's end), `<topic><j>z`, `bench.pubsub.q<j>`, `bench.bg.p<j>.`.
 * - wildcard, in turn: `bench.pubsub..w<j>` (one component more than the topic),
 *   `bench..w<j>`, `.pubsub.w<j>` (same length, last component differs), `bench.bg..w<j>`.
 *
 * @throws {Error} if a generated pattern would match `topic` (a bug in this generator).
 */
export function backgroundSubscriptions(
  topic: string,
  spec: BackgroundSubscriptions,
): SubscriptionSpec[] {
  const out: SubscriptionSpec[] = [];
  for (let j = 0; j < spec.exact; j++) {
    out.push({ uri: j % 10 === 0 ? `${topic}.e${j}` : `bench.bg.e${j}`, match: "exact" });
  }
  const prefixes = [
    (j: number) => `${topic}.p${j}`,
    (j: number) => `${topic}${j}z`,
    (j: number) => `bench.pubsub.q${j}`,
    (j: number) => `bench.bg.p${j}.`,
  ];
  for (let j = 0; j < spec.prefix; j++) out.push({ uri: prefixes[j % 4]!(j), match: "prefix" });
  const wildcards = [
    (j: number) => `bench.pubsub..w${j}`,
    (j: number) => `bench..w${j}`,
    (j: number) => `.pubsub.w${j}`,
    (j: number) => `bench.bg..w${j}`,
  ];
  for (let j = 0; j < spec.wildcard; j++) {
    out.push({ uri: wildcards[j % 4]!(j), match: "wildcard" });
  }
  for (const s of out) {
    if (uriMatches(s.uri, s.match, topic)) {
      throw new Error(`background subscription ${s.match} '${s.uri}' matches '${topic}'`);
    }
  }
  return out;
}

/** Extracts the publisher index from the args of a received publication. */
function publisherOf(args: unknown): number {
  const first = Array.isArray(args) ? args[0] : undefined;
  if (typeof first !== "number") throw new Error("publication without a publisher index");
  return first;
}

/**
 * Sets up a pub/sub load. Each publisher publishes `[publisherIndex, payload]` to one topic.
 * Flow control: subscriber 0 reports which publisher each event came from, and a publisher
 * keeps at most `window` publications that subscriber 0 has not received yet.
 */
export async function preparePubSub(
  endpoint: Endpoint,
  ser: Serializer,
  load: PubSubLoad,
): Promise<PreparedLoad> {
  const counts = new Array<number>(load.subscribers).fill(0);
  const inflight = new Array<number>(load.publishers).fill(0);
  const args = Array.from({ length: load.publishers }, (_, i) => [i, payloadOf(load.payloadBytes)]);
  let published = 0;
  let running = false;
  const publishFns: Array<() => void> = [];

  const pump = (p: number): void => {
    const send = publishFns[p]!;
    while (running && inflight[p]! < load.window) {
      inflight[p]!++;
      published++;
      send();
    }
  };
  const onTracked = (p: number): void => {
    inflight[p]!--;
    pump(p);
  };

  const sockets: WebSocketClient[] = [];
  const sessions: WampClient[] = [];
  try {
    if (endpoint.target === "router") {
      const topic = uniqueName("bench.pubsub.t");
      for (let k = 0; k < (load.stalled ?? 0); k++) {
        if ((endpoint.transport ?? "websocket") !== "websocket") {
          throw new Error("stalled subscribers need the WebSocket transport");
        }
        const c = await wampSession(endpoint, ser);
        await c.subscribe(topic, () => {});
        const ws = c.transport as WebSocketClient;
        ws.stall();
        sockets.push(ws); // closed like the relay's sockets: it will not answer a GOODBYE
      }
      for (let s = 0; s < load.subscribers; s++) {
        const c = await wampSession(endpoint, ser);
        sessions.push(c);
        await c.subscribe(
          topic,
          s === 0
            ? (ev) => {
              counts[0]!++;
              onTracked(publisherOf(ev.args));
            }
            : () => counts[s]!++,
        );
        const extra = load.extraSubscriptions ?? 0;
        await inBatches(extra, 100, (j) => c.subscribe(`${topic}.other${j}`, () => {}));
      }
      if (load.background !== undefined) {
        const specs = backgroundSubscriptions(topic, load.background);
        const holders: WampClient[] = [];
        for (let h = 0; h < load.background.sessions; h++) {
          const c = await wampSession(endpoint, ser);
          sessions.push(c);
          holders.push(c);
        }
        await Promise.all(holders.map((c, h) => {
          const mine = specs.filter((_, i) => i % holders.length === h);
          return inBatches(
            mine.length,
            100,
            (i) => c.subscribe(mine[i]!.uri, () => {}, { match: mine[i]!.match }),
          );
        }));
      }
      for (let p = 0; p < load.publishers; p++) {
        const c = await wampSession(endpoint, ser);
        sessions.push(c);
        const a = args[p]!;
        publishFns.push(() => c.publish(topic, a));
      }
    } else {
      const channel = uniqueName("ps");
      for (let s = 0; s < load.subscribers; s++) {
        const ws = await relaySocket(endpoint, `/sub/${channel}`, ser);
        sockets.push(ws);
        ws.onmessage = (data: WsMessage) => {
          // Decode like a WAMP client would; the relay delivers the PUBLISH as sent.
          const m = ser.decode(data as Payload) as unknown[];
          counts[s]!++;
          if (s === 0) onTracked(publisherOf(m[4]));
        };
      }
      for (let p = 0; p < load.publishers; p++) {
        const ws = await relaySocket(endpoint, `/pub/${channel}`, ser);
        sockets.push(ws);
        const c = WampClient.attach(ws, ser);
        const a = args[p]!;
        publishFns.push(() => c.publish("bench.relay", a));
      }
      // One round trip per socket: the relay has opened them all before the load starts.
      await Promise.all(sockets.map((ws) => ws.ping()));
    }
  } catch (err) {
    await Promise.all([...sessions.map((c) => c.leave(500)), closeAll(sockets)]);
    throw err;
  }

  const total = () => counts.reduce((a, b) => a + b, 0);
  return {
    start() {
      running = true;
      for (let p = 0; p < load.publishers; p++) pump(p);
    },
    deliveries: total,
    async stop() {
      running = false;
      const drained = await waitUntil(
        () => inflight.every((n) => n === 0) && counts.every((n) => n >= published),
        3000,
      );
      if (!drained) {
        console.error(
          `  warning: not all publications arrived (published ${published}, received ${counts})`,
        );
      }
    },
    async close() {
      await Promise.all([...sessions.map((c) => c.leave(1000)), closeAll(sockets)]);
    },
  };
}

/**
 * Sets up an RPC load: one callee echoes its args; every caller runs `inFlight` loops of
 * call-await-call.
 */
/** Callers of an echoing callee, set up on a target; `close` ends every connection. */
export interface RpcSetup {
  /** One function per caller: makes one call, resolves with its result. */
  readonly callFns: ReadonlyArray<() => Promise<unknown>>;
  close(): Promise<void>;
}

/**
 * Sets up one echoing callee and `callers` callers (router: WAMP sessions; relay: sockets on a
 * channel, the callee decoding each CALL and answering a RESULT).
 */
export async function setUpRpc(
  endpoint: Endpoint,
  ser: Serializer,
  callers: number,
  payloadBytes: number,
): Promise<RpcSetup> {
  const args = [payloadOf(payloadBytes)];
  const callFns: Array<() => Promise<unknown>> = [];
  const sockets: WebSocketClient[] = [];
  const sessions: WampClient[] = [];
  try {
    if (endpoint.target === "router") {
      const procedure = uniqueName("bench.rpc.p");
      const callee = await wampSession(endpoint, ser);
      sessions.push(callee);
      await callee.register(procedure, (inv) => inv.args);
      for (let i = 0; i < callers; i++) {
        const c = await wampSession(endpoint, ser);
        sessions.push(c);
        callFns.push(() => c.call(procedure, args));
      }
    } else {
      const channel = uniqueName("rpc");
      const callee = await relaySocket(endpoint, `/callee/${channel}`, ser);
      sockets.push(callee);
      callee.onmessage = (data: WsMessage) => {
        // Strip the relay's caller header, decode the CALL, answer with a RESULT behind the
        // same header: the work a callee does for INVOCATION → YIELD.
        if (!callee.isOpen) return;
        if (typeof data === "string") {
          const m = ser.decode(data.slice(8)) as unknown[];
          callee.send(data.slice(0, 8) + (ser.encode([T.RESULT, m[1], {}, m[4]]) as string));
        } else {
          const m = ser.decode(data.subarray(4)) as unknown[];
          const body = ser.encode([T.RESULT, m[1], {}, m[4]]) as Uint8Array;
          const out = new Uint8Array(4 + body.length);
          out.set(data.subarray(0, 4));
          out.set(body, 4);
          callee.send(out);
        }
      };
      for (let i = 0; i < callers; i++) {
        const ws = await relaySocket(endpoint, `/caller/${channel}`, ser);
        sockets.push(ws);
        const c = WampClient.attach(ws, ser);
        callFns.push(() => c.call("bench.relay", args));
      }
      await Promise.all(sockets.map((ws) => ws.ping()));
    }
  } catch (err) {
    await Promise.all([...sessions.map((c) => c.leave(500)), closeAll(sockets)]);
    throw err;
  }
  return {
    callFns,
    async close() {
      await Promise.all([...sessions.map((c) => c.leave(1000)), closeAll(sockets)]);
    },
  };
}

/** The `rpc` load: each caller keeps `inFlight` calls outstanding. */
export async function prepareRpc(
  endpoint: Endpoint,
  ser: Serializer,
  load: RpcLoad,
): Promise<PreparedLoad> {
  const { callFns, close } = await setUpRpc(endpoint, ser, load.callers, load.payloadBytes);
  let completed = 0;
  let running = false;
  let loops: Promise<void>[] = [];
  let failure: unknown = null;
  const loop = async (call: () => Promise<unknown>): Promise<void> => {
    try {
      while (running) {
        await call();
        completed++;
      }
    } catch (err) {
      // Remember the first failure; stop() reports it once the other loops have ended.
      failure ??= err;
      running = false;
    }
  };
  return {
    start() {
      running = true;
      loops = callFns.flatMap((call) => Array.from({ length: load.inFlight }, () => loop(call)));
    },
    deliveries: () => completed,
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
    close,
  };
}

/** Opens one idle connection for the memory case: a joined WAMP session, or a relay echo socket. */
export async function openIdle(endpoint: Endpoint, ser: Serializer): Promise<WampTransport> {
  if (endpoint.target === "router") return (await wampSession(endpoint, ser)).transport;
  const ws = await relaySocket(endpoint, "/echo", ser);
  // One round trip of a HELLO-sized frame, as the router's HELLO → WELCOME.
  const echoed = new Promise<void>((resolve) => (ws.onmessage = () => resolve()));
  ws.send(ser.encode([T.HELLO, "realm1", {
    roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} },
  }]));
  await echoed;
  ws.onmessage = null;
  return ws;
}
