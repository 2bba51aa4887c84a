/**
 * The rows of the cluster benchmark (`cluster_run.ts`): which load runs on which placement of
 * its clients, where each client connects, how many NATS messages a fan-out should take, and the
 * shape of the samples.
 *
 * @module
 */

/** Where the clients of a row connect. */
export type Placement = "single" | "local" | "cross" | "split" | "bare";
/** The loads of the cluster benchmark. */
export type ClusterLoadName =
  | "fanout"
  | "fanout-w256"
  | "fanout-mixed"
  | "rpc"
  | "rpc-1x1"
  | "nats-1x1";

/** Flow-control window of each fan-out load. */
export const FANOUT_WINDOWS: Readonly<Record<string, number>> = {
  fanout: 32,
  "fanout-w256": 256,
  "fanout-mixed": 32,
};

/** One row of the benchmark: a load on a placement. */
export interface ClusterRow {
  readonly load: ClusterLoadName;
  readonly placement: Placement;
}

/** Every row, in run order. */
export const CLUSTER_ROWS: readonly ClusterRow[] = [
  { load: "fanout", placement: "single" },
  { load: "fanout", placement: "local" },
  { load: "fanout", placement: "cross" },
  { load: "fanout", placement: "split" },
  { load: "fanout-w256", placement: "single" },
  { load: "fanout-w256", placement: "local" },
  { load: "fanout-w256", placement: "cross" },
  { load: "fanout-w256", placement: "split" },
  { load: "fanout-mixed", placement: "single" },
  { load: "fanout-mixed", placement: "cross" },
  { load: "fanout-mixed", placement: "split" },
  { load: "rpc", placement: "single" },
  { load: "rpc", placement: "local" },
  { load: "rpc", placement: "cross" },
  { load: "rpc-1x1", placement: "single" },
  { load: "rpc-1x1", placement: "local" },
  { load: "rpc-1x1", placement: "cross" },
  { load: "nats-1x1", placement: "bare" },
];

export const SUBSCRIBERS = 10;
export const PAYLOAD = 128;
/** Name of node A of the cluster. */
export const NODE_A = "bench-a";
/** Name of node B of the cluster. */
export const NODE_B = "bench-b";

/** Rows picked by `--case`: load names or `load/placement`, comma-separated. */
export function selectRows(filter: string | undefined): ClusterRow[] {
  if (filter === undefined || filter === "") return [...CLUSTER_ROWS];
  const picked = new Set<ClusterRow>();
  for (const raw of filter.split(",")) {
    const entry = raw.trim().replace(/^cluster-/, "");
    if (entry === "") continue;
    const matches = CLUSTER_ROWS.filter((r) =>
      entry === r.load || entry === `${r.load}/${r.placement}`
    );
    if (matches.length === 0) {
      throw new Error(
        `--case ${entry}: no such row (known: ${
          CLUSTER_ROWS.map((r) => `${r.load}/${r.placement}`).join(", ")
        })`,
      );
    }
    for (const m of matches) picked.add(m);
  }
  return CLUSTER_ROWS.filter((r) => picked.has(r));
}

/** The fan-out subscribers' ports of a placement (split: alternately B and A, B first). */
export function subscriberPorts(placement: Placement, ports: Ports): number[] {
  return Array.from({ length: SUBSCRIBERS }, (_, i) => {
    if (placement === "single") return ports.single;
    if (placement === "local") return ports.a;
    if (placement === "cross") return ports.b;
    return i % 2 === 0 ? ports.b : ports.a;
  });
}

/**
 * NATS messages per publication (call) a row should take, where the design fixes it: a fan-out
 * takes one in (node A publishes once) and one out per other node with subscribers (`local`: none;
 * `cross` and `split`: node B), whatever the number of subscribers; the plain NATS round trip
 * takes two each way (request and reply), which checks the counting itself. Null for the other
 * rows (the single-node router has no NATS; a call's count is reported, not checked).
 */
export function expectedNats(row: ClusterRow): { in: number; out: number } | null {
  if (row.load === "nats-1x1") return { in: 2, out: 2 };
  if (FANOUT_WINDOWS[row.load] === undefined || row.placement === "single") return null;
  return { in: 1, out: row.placement === "local" ? 0 : 1 };
}

/** WebSocket ports of the three routers. */
export interface Ports {
  readonly single: number;
  readonly a: number;
  readonly b: number;
}
/** One measurement of one row. */
export interface Sample {
  readonly round: number;
  /** Deliveries per second (events received by all subscribers; calls completed). */
  readonly rate: number;
  /** Publications or calls sent per second. */
  readonly sentRate: number;
  readonly p50: number | null;
  readonly p99: number | null;
  /** Cores used in the window by the router(s) of the row (single; or A and B). */
  readonly routerCpu: Record<string, number | null>;
  readonly loadgenCpu: number;
  /** NATS messages in/out per publication or call (cluster rows), idle rate removed. */
  readonly natsIn: number | null;
  readonly natsOut: number | null;
  /** Cores nats-server used in the window (cluster rows). */
  readonly natsCpu: number | null;
}

/** The samples of one row over one serializer. */
export interface RowResult {
  readonly load: ClusterLoadName;
  readonly placement: Placement;
  readonly serializer: string;
  readonly samples: Sample[];
  readonly errors: string[];
}

/** Median of the non-null values, or null. */
export function median(xs: readonly (number | null)[]): number | null {
  const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
