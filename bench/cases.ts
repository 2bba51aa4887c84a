/**
 * The benchmark's case table. Add a row to add a case; `run.ts` needs no change unless a new
 * load kind is introduced.
 *
 * @module
 */

import { type ConfigOverride, type JsonObject, REALM_PATH } from "./config.ts";
import type { TargetName } from "./targets.ts";
import type { TransportKind } from "./wamp_client.ts";

/** Pub/sub: `publishers` publish to one topic that `subscribers` subscribe to. */
export interface PubSubLoad {
  readonly kind: "pubsub";
  readonly publishers: number;
  readonly subscribers: number;
  /** Length of the string payload in each event (ASCII, so also its byte length). */
  readonly payloadBytes: number;
  /**
   * Flow control: at most this many publications per publisher that the first subscriber has
   * not yet received.
   */
  readonly window: number;
  /**
   * Router only: extra subscriptions each subscriber holds on other topics during the run
   * (the relay has no subscriptions, so it ignores this).
   */
  readonly extraSubscriptions?: number;
  /**
   * Router only: subscriptions held on the realm during the run by extra sessions that are
   * not subscribers of the published topic (none of them matches it, so the events and the
   * deliveries are the same as without them). The relay ignores this.
   */
  readonly background?: BackgroundSubscriptions;
  /**
   * Router only: extra subscribers of the published topic that stop reading right after they
   * subscribed (slow consumers); their events are not counted as deliveries.
   */
  readonly stalled?: number;
}

/** Subscriptions that sit on the realm without matching the published topic. */
export interface BackgroundSubscriptions {
  /** `match: "exact"` subscriptions. */
  readonly exact: number;
  /** `match: "prefix"` subscriptions. */
  readonly prefix: number;
  /** `match: "wildcard"` subscriptions. */
  readonly wildcard: number;
  /** Sessions the subscriptions are spread over (round robin). */
  readonly sessions: number;
}

/** RPC: `callers` each keep `inFlight` calls outstanding to one callee that echoes the args. */
export interface RpcLoad {
  readonly kind: "rpc";
  readonly callers: number;
  readonly inFlight: number;
  /** Length of the string argument of each call (and of its result). */
  readonly payloadBytes: number;
}

/** Idle memory: RSS growth of a fresh server process per idle session. */
export interface MemoryLoad {
  readonly kind: "memory";
  /** Sessions to open (reduced in `--quick` and when the open-file limit is too low). */
  readonly sessions: number;
  /** Sessions opened concurrently per batch. */
  readonly batch: number;
}

/**
 * Session storm: open `sessions` sessions, `concurrency` at a time, and count sessions opened
 * per second (router: TCP + WebSocket upgrade + HELLO/WELCOME; relay: TCP + upgrade + one
 * echoed HELLO-sized frame). The sessions are closed after the timed part.
 */
export interface StormLoad {
  readonly kind: "storm";
  readonly sessions: number;
  readonly concurrency: number;
}

/**
 * RPC latency: `callers` callers issue calls open-loop at a fixed total rate to one echoing
 * callee; each call's round trip time is recorded (p50/p99 over the measured window).
 */
export interface LatencyLoad {
  readonly kind: "latency";
  readonly callsPerSecond: number;
  readonly callers: number;
  readonly payloadBytes: number;
}

/** Any load. */
export type Load = PubSubLoad | RpcLoad | MemoryLoad | StormLoad | LatencyLoad;

/** One benchmark case. */
export interface BenchCase {
  /** Unique name, used by `--case`. */
  readonly name: string;
  /** One line for the report. */
  readonly description: string;
  readonly load: Load;
  /** Only run when named by `--case` (e.g. long or exploratory cases). */
  readonly optIn?: boolean;
  /**
   * Router config overrides for this case (applied after the global `--stats`/`--set` ones).
   * A case with overrides gets its own router process.
   */
  readonly routerOverrides?: readonly ConfigOverride[];
  /**
   * Targets this case runs against (default: every `--targets` one). Router-only cases are
   * variants of another case whose relay figure would be the same load again; they are
   * compared with router figures (see {@linkcode COMPARISONS}).
   */
  readonly targets?: readonly TargetName[];
  /**
   * Transport every client of the case uses (default `websocket`). `rawsocket` runs against
   * the router's RawSocket transport, so such a case is router-only.
   */
  readonly transport?: TransportKind;
  /**
   * Every client connects to the router mounted in `Deno.serve` through `router.handler()`
   * (Deno's own HTTP server and WebSocket, as the relay's) instead of the router's own listener
   * (its accept loop, `node:http` and `ws`). Router only.
   */
  readonly mounted?: boolean;
  /**
   * Every client offers only the batched WebSocket subprotocol of the serializer
   * (`wamp.2.json.batched`, ...): the router sends several messages per frame. Router only.
   */
  readonly batched?: boolean;
}

/** The realm `stats` object of the `fanout-stats` case (issue 3). */
export const STATS_ON: JsonObject = {
  rated_message_size: 512,
  trigger_after_rated_messages: 100,
  trigger_after_duration: 0,
  trigger_on_join: true,
  trigger_on_leave: true,
};

const FANOUT: PubSubLoad = {
  kind: "pubsub",
  publishers: 1,
  subscribers: 10,
  payloadBytes: 128,
  window: 32,
};

/** The 4 KiB fan-out's load (`fanout-4k`, `fanout-4k-mounted`). */
const FANOUT_4K: PubSubLoad = {
  kind: "pubsub",
  publishers: 1,
  subscribers: 10,
  payloadBytes: 4096,
  window: 16,
};

/** The session storm's load (`session-storm`, `session-storm-mounted`). */
const STORM: StormLoad = { kind: "storm", sessions: 2000, concurrency: 50 };

/** The RPC latency load (`rpc-latency`, `rpc-latency-mounted`). */
const LATENCY: LatencyLoad = {
  kind: "latency",
  callsPerSecond: 1000,
  callers: 4,
  payloadBytes: 128,
};

/** A router-only case: the load of case `base` against the router mounted in `Deno.serve`. */
function mountedVariant(base: string, load: Load): BenchCase {
  return {
    name: `${base}-mounted`,
    description: `${base} against the router mounted in Deno.serve (router only)`,
    load,
    mounted: true,
    targets: ["router"],
  };
}

/**
 * The comparison of case `base` with its {@linkcode mountedVariant}: the router's own listener
 * against Deno's WebSocket, same router process.
 */
function mountedComparison(base: string, title: string, note: readonly string[]): Comparison {
  return {
    title,
    cases: [base, `${base}-mounted`],
    ratio: { label: "mounted/own", numerator: `${base}-mounted`, denominator: base },
    note,
  };
}

/** All cases, in run order. */
export const CASES: readonly BenchCase[] = [
  {
    name: "fanout",
    description: "1 publisher → 10 subscribers, 128-byte payload",
    load: FANOUT,
  },
  {
    name: "fanout-rawsocket",
    description: "fanout over RawSocket (TCP) for every client (router only)",
    load: FANOUT,
    transport: "rawsocket",
    targets: ["router"],
  },
  {
    name: "fanout-batched",
    description: "fanout with every client on the batched subprotocol (router only)",
    load: FANOUT,
    batched: true,
    targets: ["router"],
  },
  {
    name: "fanout-stats",
    description: "fanout on a realm with session statistics on (router only)",
    load: FANOUT,
    routerOverrides: [{ path: `${REALM_PATH}.stats`, value: STATS_ON }],
    targets: ["router"],
  },
  {
    name: "fanout-subs-1k",
    description: "fanout + 1,000 exact, 100 prefix, 100 wildcard other subscriptions (router only)",
    load: { ...FANOUT, background: { exact: 1000, prefix: 100, wildcard: 100, sessions: 10 } },
    targets: ["router"],
  },
  {
    name: "fanout-subs-10k",
    description: "fanout + 10,000 exact, 1,000 prefix, 1,000 wildcard other subscriptions " +
      "(router only)",
    load: { ...FANOUT, background: { exact: 10000, prefix: 1000, wildcard: 1000, sessions: 10 } },
    targets: ["router"],
  },
  {
    name: "fanout-stalled",
    description: "fanout + 1 subscriber that never reads (router only)",
    load: { ...FANOUT, stalled: 1 },
    targets: ["router"],
  },
  {
    name: "fanin",
    description: "8 publishers → 1 subscriber, 128-byte payload",
    load: { kind: "pubsub", publishers: 8, subscribers: 1, payloadBytes: 128, window: 32 },
  },
  {
    name: "fanout-4k",
    description: "1 publisher → 10 subscribers, 4 KiB payload",
    load: FANOUT_4K,
  },
  mountedVariant("fanout-4k", FANOUT_4K),
  {
    name: "rpc",
    description: "8 callers × 4 calls in flight → 1 callee, 128-byte args",
    load: { kind: "rpc", callers: 8, inFlight: 4, payloadBytes: 128 },
  },
  {
    name: "session-storm",
    description: "open 2,000 sessions, 50 at a time (TCP + upgrade + HELLO/WELCOME); sessions/s",
    load: STORM,
  },
  {
    name: "rpc-latency",
    description: "1,000 calls/s open-loop, 4 callers → 1 callee, 128-byte args; p50/p99",
    load: LATENCY,
  },
  mountedVariant("session-storm", STORM),
  mountedVariant("rpc-latency", LATENCY),
  {
    name: "fanout-manysubs",
    description: "fanout with 1,000 extra subscriptions per subscriber on other topics",
    load: { ...FANOUT, extraSubscriptions: 1000 },
    optIn: true,
  },
  {
    name: "idle-memory",
    description: "RSS per idle session (HELLO/WELCOME; relay: one echoed frame)",
    load: { kind: "memory", sessions: 5000, batch: 100 },
  },
];

/**
 * A table of router medians of several cases measured in the same run, with one ratio: a
 * router-only variant against its base case.
 */
export interface Comparison {
  /** Table title. */
  readonly title: string;
  /** Cases whose router medians are the columns, in order. */
  readonly cases: readonly string[];
  /** The ratio column: numerator case ÷ denominator case (both must be in `cases`). */
  readonly ratio: {
    readonly label: string;
    readonly numerator: string;
    readonly denominator: string;
  };
  /** Lines printed under the table. */
  readonly note: readonly string[];
}

/** Comparison tables, printed after the main table when their ratio's cases were run. */
export const COMPARISONS: readonly Comparison[] = [
  {
    title: "Statistics overhead",
    cases: ["fanout", "fanout-stats"],
    ratio: { label: "stats-on/off", numerator: "fanout-stats", denominator: "fanout" },
    note: [
      "fanout-stats = fanout on a realm with stats (issue 3; target ≥ 0.95):",
      `  ${JSON.stringify(STATS_ON)}`,
    ],
  },
  {
    title: "Routing cost vs subscriptions",
    cases: ["fanout", "fanout-subs-1k", "fanout-subs-10k"],
    ratio: { label: "10k/1k", numerator: "fanout-subs-10k", denominator: "fanout-subs-1k" },
    note: [
      "subs-1k/-10k: fanout + 1,000/10,000 exact, 100/1,000 prefix, 100/1,000 wildcard other",
      "subscriptions on 10 extra sessions, none matching the published topic (issue 4);",
      "routing cost independent of the number of subscriptions = ratio near 1.0",
    ],
  },
  {
    title: "Slow consumer",
    cases: ["fanout", "fanout-stalled"],
    ratio: { label: "stalled/none", numerator: "fanout-stalled", denominator: "fanout" },
    note: [
      "fanout-stalled = fanout plus one more subscriber that stops reading once subscribed; the",
      "router drops its events past the queue bound (issue 6): the ten healthy subscribers keep",
      "their rate = ratio near 1.0",
    ],
  },
  {
    title: "Batched vs unbatched WebSocket",
    cases: ["fanout", "fanout-batched"],
    ratio: { label: "batched/plain", numerator: "fanout-batched", denominator: "fanout" },
    note: [
      "fanout-batched = fanout with every client on wamp.2.<serializer>.batched: the router sends",
      "the events of one task to a subscriber as one WebSocket message (issue 13); same router",
      "process, config, load and serializer as fanout",
    ],
  },
  mountedComparison("session-storm", "The router's own listener vs Deno's WebSocket", [
    "session-storm-mounted / rpc-latency-mounted = the same load against the same router process",
    "mounted in Deno.serve through router.handler() (Deno's HTTP server and WebSocket, as the",
    "relay's), instead of its own listener (accept loop, node:http, ws); latency rows below",
  ]),
  mountedComparison("fanout-4k", "4 KiB fan-out: the router's own listener vs Deno's WebSocket", [
    "fanout-4k-mounted = fanout-4k against the same router process mounted in Deno.serve",
    "(Deno's WebSocket writes each frame from Rust; the router's own listener writes with conn.write)",
  ]),
  {
    title: "RawSocket vs WebSocket",
    cases: ["fanout", "fanout-rawsocket"],
    ratio: { label: "rs/ws", numerator: "fanout-rawsocket", denominator: "fanout" },
    note: [
      "fanout-rawsocket = fanout with every client on the router's RawSocket transport (TCP),",
      "fanout on its WebSocket transport; same router process, config, load and serializer (issue 6)",
    ],
  },
];

/**
 * Picks cases by a comma-separated filter: each entry selects the case of that name, or with
 * a trailing `*` every case whose name starts with the rest. Without a filter, every case
 * that is not opt-in.
 *
 * @throws {Error} naming an entry that matches nothing.
 */
export function selectCases(filter: string | undefined): BenchCase[] {
  if (filter === undefined || filter === "") return CASES.filter((c) => !c.optIn);
  const picked = new Set<BenchCase>();
  for (const raw of filter.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const matches = entry.endsWith("*")
      ? CASES.filter((c) => c.name.startsWith(entry.slice(0, -1)))
      : CASES.filter((c) => c.name === entry);
    if (matches.length === 0) {
      throw new Error(
        `--case ${entry}: no such case (known: ${CASES.map((c) => c.name).join(", ")})`,
      );
    }
    for (const m of matches) picked.add(m);
  }
  return CASES.filter((c) => picked.has(c));
}
