/**
 * The benchmark's case table. Add a row to add a case; `run.ts` needs no change unless a new
 * load kind is introduced.
 *
 * @module
 */

import type { ConfigOverride } from "./config.ts";

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

/** Any load. */
export type Load = PubSubLoad | RpcLoad | MemoryLoad;

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
}

/** All cases, in run order. */
export const CASES: readonly BenchCase[] = [
  {
    name: "fanout",
    description: "1 publisher → 10 subscribers, 128-byte payload",
    load: { kind: "pubsub", publishers: 1, subscribers: 10, payloadBytes: 128, window: 32 },
  },
  {
    name: "fanin",
    description: "8 publishers → 1 subscriber, 128-byte payload",
    load: { kind: "pubsub", publishers: 8, subscribers: 1, payloadBytes: 128, window: 32 },
  },
  {
    name: "fanout-4k",
    description: "1 publisher → 10 subscribers, 4 KiB payload",
    load: { kind: "pubsub", publishers: 1, subscribers: 10, payloadBytes: 4096, window: 16 },
  },
  {
    name: "rpc",
    description: "8 callers × 4 calls in flight → 1 callee, 128-byte args",
    load: { kind: "rpc", callers: 8, inFlight: 4, payloadBytes: 128 },
  },
  {
    name: "fanout-manysubs",
    description: "fanout with 1,000 extra subscriptions per subscriber on other topics",
    load: {
      kind: "pubsub",
      publishers: 1,
      subscribers: 10,
      payloadBytes: 128,
      window: 32,
      extraSubscriptions: 1000,
    },
    optIn: true,
  },
  {
    name: "idle-memory",
    description: "RSS per idle session (HELLO/WELCOME; relay: one echoed frame)",
    load: { kind: "memory", sessions: 5000, batch: 100 },
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
