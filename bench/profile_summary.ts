/**
 * Summarizes a V8 `.cpuprofile` (as written by `deno run --cpu-prof`, e.g. the router profiles of
 * `deno task bench --cpu-prof DIR`): the functions with the most self time and the most inclusive
 * time, as shares of the busy time, i.e. with `(idle)` left out. `(program)` (native work outside
 * JavaScript: the runtime, sockets, WebSocket framing in Rust) and `(garbage collector)` stay in,
 * as their own rows.
 *
 * ```
 * deno run --allow-read bench/profile_summary.ts <file.cpuprofile | dir> [--top N]
 * ```
 *
 * A directory summarizes every `.cpuprofile` in it, one after the other.
 *
 * @module
 */

/** One node of a V8 CPU profile. */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

/** The parts of a `.cpuprofile` this reads. */
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** One summary row: a function and its share of the busy time. */
export interface SummaryRow {
  /** `name file:line` (file = last path component; line 1-based). */
  readonly fn: string;
  /** Share of the busy (non-idle) time, 0..1. */
  readonly share: number;
}

/** Top functions of one profile. */
export interface ProfileSummary {
  /** Profiled wall time, in seconds. */
  readonly seconds: number;
  /** Busy time (all samples but `(idle)`), in seconds. */
  readonly busySeconds: number;
  readonly self: SummaryRow[];
  readonly inclusive: SummaryRow[];
}

function label(node: ProfileNode, withLine: boolean): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === "" ? "" : url.slice(url.lastIndexOf("/") + 1);
  const name = functionName === "" ? "(anonymous)" : functionName;
  if (file === "") return name;
  return withLine ? `${name} ${file}:${lineNumber + 1}` : `${name} ${file}`;
}

/** Top `top` self and inclusive functions of a profile, idle time excluded. */
export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Weight of each sample: the time until the next one (V8's timeDeltas[i + 1]).
  const weight = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    weight.set(id, (weight.get(id) ?? 0) + Math.max(0, dt));
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, w] of weight) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") continue;
    busy += w;
    const key = label(node, true);
    self.set(key, (self.get(key) ?? 0) + w);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const k = label(byId.get(x)!, false);
      if (k === "(root)" || seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + w);
    }
  }
  const rows = (m: Map<string, number>): SummaryRow[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, w]) => ({
      fn,
      share: busy > 0 ? w / busy : 0,
    }));
  return {
    seconds: (profile.endTime - profile.startTime) / 1e6,
    busySeconds: busy / 1e6,
    self: rows(self),
    inclusive: rows(inclusive),
  };
}

/** The summary as text lines. */
export function formatSummary(name: string, s: ProfileSummary): string[] {
  const pct = (r: SummaryRow) => `${(r.share * 100).toFixed(1).padStart(5)} %  ${r.fn}`;
  return [
    `${name}: ${s.seconds.toFixed(1)} s profiled, ${s.busySeconds.toFixed(1)} s busy ` +
    `(shares below are of the busy time)`,
    "-- self",
    ...s.self.map(pct),
    "-- inclusive",
    ...s.inclusive.map(pct),
  ];
}

if (import.meta.main) {
  const args = [...Deno.args];
  let top = 25;
  const t = args.indexOf("--top");
  if (t >= 0) {
    top = Number(args[t + 1]);
    args.splice(t, 2);
  }
  const target = args[0];
  if (target === undefined || !Number.isInteger(top) || top <= 0) {
    console.error("usage: profile_summary.ts <file.cpuprofile | dir> [--top N]");
    Deno.exit(2);
  }
  const files: string[] = [];
  if ((await Deno.stat(target)).isDirectory) {
    for await (const e of Deno.readDir(target)) {
      if (e.isFile && e.name.endsWith(".cpuprofile")) files.push(`${target}/${e.name}`);
    }
    files.sort();
  } else {
    files.push(target);
  }
  for (const f of files) {
    const profile = JSON.parse(await Deno.readTextFile(f)) as CpuProfile;
    console.log(formatSummary(f, summarize(profile, top)).join("\n") + "\n");
  }
}
