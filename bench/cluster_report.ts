/**
 * The cluster benchmark's report (`cluster_run.ts`): medians per row, the targets of issue 12 as
 * ratios, and the check of the NATS messages per publication.
 *
 * @module
 */

import {
  type ClusterLoadName,
  type ClusterRow,
  expectedNats,
  median,
  type Placement,
  type RowResult,
  type Sample,
} from "./cluster_cases.ts";

/** What the report says about the run besides the samples. */
export interface RunInfo {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly serializers: readonly string[];
  /** Idle NATS messages per second (in, out) measured before the first round. */
  readonly idle: { readonly in: number; readonly out: number };
  /** Load averages (1/5/15 min) before and after the run. */
  readonly load: { readonly before: number[] | null; readonly after: number[] | null };
}

export function fmtRate(rate: number | null): string {
  if (rate === null) return "n/a";
  return rate >= 10_000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0);
}

export function fmtMs(ms: number | null): string {
  if (ms === null) return "n/a";
  return ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function fmtCpu(cpu: Record<string, number | null>): string {
  if (Object.keys(cpu).length === 0) return "-";
  return Object.entries(cpu).map(([k, v]) => `${k} ${v === null ? "n/a" : v.toFixed(2)}`)
    .join(" ");
}

export function fmtPer(a: number | null, b: number | null): string {
  // The idle-rate correction can leave a hair below zero: show it as 0.00, not -0.00.
  const f = (x: number | null) => x === null ? "n/a" : (Math.abs(x) < 0.005 ? 0 : x).toFixed(2);
  return `${f(a)}/${f(b)}`;
}

/** A row's medians. */
export interface Summary {
  readonly row: RowResult;
  readonly rate: number | null;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly natsIn: number | null;
  readonly natsOut: number | null;
}

export function summarize(r: RowResult): Summary {
  return {
    row: r,
    rate: median(r.samples.map((s) => s.rate)),
    p50: median(r.samples.map((s) => s.p50)),
    p99: median(r.samples.map((s) => s.p99)),
    natsIn: median(r.samples.map((s) => s.natsIn)),
    natsOut: median(r.samples.map((s) => s.natsOut)),
  };
}

/** A target of issue 12 and how the run did against it. */
export interface TargetCheck {
  readonly what: string;
  readonly value: number | null;
  /** Median over rounds of the same ratio within each round. */
  readonly perRound: number | null;
  readonly target: string;
  readonly met: boolean | null;
}

function ratioCheck(
  results: readonly RowResult[],
  serializer: string,
  what: string,
  metric: "rate" | "p50",
  num: ClusterRow,
  den: ClusterRow,
  target: { op: "≤" | "≥" | null; bound: number },
): TargetCheck | null {
  const find = (row: ClusterRow) =>
    results.find((r) =>
      r.serializer === serializer && r.load === row.load && r.placement === row.placement
    );
  const a = find(num);
  const b = find(den);
  if (a === undefined || b === undefined) return null;
  const ma = summarize(a)[metric];
  const mb = summarize(b)[metric];
  const value = ma !== null && mb !== null && mb > 0 ? ma / mb : null;
  const paired: number[] = [];
  for (const s of a.samples) {
    const t = b.samples.find((x) => x.round === s.round);
    const x = s[metric];
    const y = t?.[metric] ?? null;
    if (x !== null && y !== null && y > 0) paired.push(x / y);
  }
  const perRound = median(paired);
  const met = value === null || target.op === null
    ? null
    : target.op === "≤"
    ? value <= target.bound
    : value >= target.bound;
  return {
    what: `${what} (${serializer})`,
    value,
    perRound,
    target: target.op === null ? "-" : `${target.op} ${target.bound}`,
    met,
  };
}

export function checks(
  results: readonly RowResult[],
  serializers: readonly string[],
): TargetCheck[] {
  const row = (load: ClusterLoadName, placement: Placement): ClusterRow => ({ load, placement });
  const none = { op: null, bound: 0 } as const;
  return serializers.flatMap((s) => {
    const out: Array<TargetCheck | null> = [];
    for (const load of ["rpc", "rpc-1x1"] as const) {
      const label = load === "rpc" ? "RPC 8×4" : "RPC 1×1";
      out.push(ratioCheck(
        results,
        s,
        `${label}: cross-node p50 ÷ single-node`,
        "p50",
        row(load, "cross"),
        row(load, "single"),
        { op: "≤", bound: 1.5 },
      ));
    }
    out.push(floorCheck(results, s));
    for (const load of ["fanout", "fanout-w256", "fanout-mixed"] as const) {
      const label = `${load} 1→10`;
      const fan = (
        what: string,
        placement: Placement,
        den: Placement,
        t: typeof none | {
          op: "≥";
          bound: number;
        },
      ) =>
        ratioCheck(
          results,
          s,
          `${label}: ${what}`,
          "rate",
          row(load, placement),
          row(load, den),
          t,
        );
      out.push(fan("cross-node ÷ single-node", "cross", "single", { op: "≥", bound: 0.7 }));
      out.push(fan("scale-out, split over A+B ÷ single-node", "split", "single", none));
      out.push(fan("scale-out, split over A+B ÷ all on A", "split", "local", none));
    }
    return out.filter((c): c is TargetCheck => c !== null);
  });
}

/**
 * The floor of the cross-node RPC target: (single-node 1×1 p50 + plain NATS request/reply p50) ÷
 * single-node 1×1 p50, the best ratio a call whose CALL and RESULT each cross NATS once can reach.
 */
function floorCheck(results: readonly RowResult[], serializer: string): TargetCheck | null {
  const find = (load: ClusterLoadName, placement: Placement) =>
    results.find((r) =>
      r.serializer === serializer && r.load === load && r.placement === placement
    );
  const single = find("rpc-1x1", "single");
  const nats = find("nats-1x1", "bare");
  if (single === undefined || nats === undefined) return null;
  const ps = summarize(single).p50;
  const pn = summarize(nats).p50;
  const paired: number[] = [];
  for (const a of single.samples) {
    const b = nats.samples.find((x) => x.round === a.round);
    if (a.p50 !== null && b?.p50 != null && a.p50 > 0) paired.push((a.p50 + b.p50) / a.p50);
  }
  return {
    what: `RPC 1×1 floor: (single-node p50 + NATS request/reply p50) ÷ single-node (${serializer})`,
    value: ps !== null && pn !== null && ps > 0 ? (ps + pn) / ps : null,
    perRound: median(paired),
    target: "-",
    met: null,
  };
}

/** Whether a fan-out row's NATS count is one message per interested node (±0.05). */
export function natsCountOk(s: Summary): boolean | null {
  const expected = expectedNats(s.row);
  if (expected === null || s.natsIn === null || s.natsOut === null) return null;
  return Math.abs(s.natsIn - expected.in) <= 0.05 && Math.abs(s.natsOut - expected.out) <= 0.05;
}

/** Prints a Markdown table (first `left` columns left-aligned). */
function printTable(rows: readonly string[][], left = 2): void {
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((c, i) => i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join(" | ")
    } |`;
  console.log(line(rows[0]!));
  console.log(
    `| ${widths.map((w, i) => i < left ? "-".repeat(w) : "-".repeat(w - 1) + ":").join(" | ")} |`,
  );
  for (const r of rows.slice(1)) console.log(line(r));
}

export function printReport(
  results: readonly RowResult[],
  info: RunInfo,
): void {
  const { load } = info;
  const summaries = results.map(summarize);
  console.log(
    `\nCluster benchmark: medians of ${info.rounds} round(s) of ${info.durationS} s ` +
      `(+${info.warmupS} s warm-up), every row in the same run`,
  );
  printTable([
    [
      "load",
      "placement",
      "serializer",
      "deliveries/s",
      "p50 ms",
      "p99 ms",
      "router cpu",
      "loadgen cpu",
      "nats cpu",
      "NATS in/out per msg",
      "count",
    ],
    ...summaries.map((s) => {
      const ok = natsCountOk(s);
      return [
        s.row.load,
        s.row.placement,
        s.row.serializer,
        fmtRate(s.rate),
        fmtMs(s.p50),
        fmtMs(s.p99),
        cpuMedians(s.row.samples),
        median(s.row.samples.map((x) => x.loadgenCpu))?.toFixed(2) ?? "n/a",
        s.row.placement === "single"
          ? "-"
          : median(s.row.samples.map((x) => x.natsCpu))?.toFixed(2) ?? "n/a",
        s.row.placement === "single" ? "-" : fmtPer(s.natsIn, s.natsOut),
        ok === null ? "-" : ok ? "ok" : "WRONG",
      ];
    }),
  ], 3);
  console.log(
    "single = the single-node router (no cluster); local = every client on node A; cross =" +
      " publisher/callers on A, subscribers/callee on B; split = publisher on A, 5 subscribers" +
      " on A and 5 on B; bare = two plain nats.js connections, no router.",
  );
  console.log(
    "p50/p99: publish → EVENT at each subscriber (fanout, under the window-32 load), CALL →" +
      " RESULT (rpc). cpu: cores used in the window (router cpu: A+B for cluster rows).",
  );
  console.log(
    `NATS in/out per msg: messages nats-server received/sent per publication or call, idle rate` +
      ` (${info.idle.in.toFixed(1)}/${
        info.idle.out.toFixed(1)
      } per s) removed; count: fan-out in = 1, out = other nodes with subscribers; nats-1x1 2 and 2.`,
  );
  console.log("\nTargets (issue 12)");
  printTable([
    ["ratio", "medians", "per-round median", "target", "met"],
    ...checks(results, info.serializers).map((c) => [
      c.what,
      c.value === null ? "n/a" : c.value.toFixed(2),
      c.perRound === null ? "n/a" : c.perRound.toFixed(2),
      c.target,
      c.met === null ? "-" : c.met ? "yes" : "no",
    ]),
  ], 1);
  const fmtLoad = (l: number[] | null) => l === null ? "n/a" : l.map((x) => x.toFixed(2)).join(" ");
  console.log(
    `\nmachine: ${navigator.hardwareConcurrency} cores; load average (1/5/15 min) before ` +
      `${fmtLoad(load.before)}, after ${fmtLoad(load.after)}`,
  );
  for (const r of results) {
    for (const e of r.errors) console.log(`FAILED ${r.load}/${r.placement} ${e}`);
  }
}

function cpuMedians(samples: readonly Sample[]): string {
  const names = samples[0] === undefined ? [] : Object.keys(samples[0].routerCpu);
  if (names.length === 0) return "-";
  const parts = names.map((n) => median(samples.map((s) => s.routerCpu[n] ?? null)));
  if (parts.length === 0 || parts.some((p) => p === null)) return "n/a";
  return parts.map((p) => p!.toFixed(2)).join("+");
}
