/**
 * Load drivers for the session storm (sessions opened per second) and the RPC latency case
 * (round trip times at a fixed call rate). Both run against either target.
 *
 * @module
 */

import type { Serializer } from "../src/serializer/serializer.ts";
import type { LatencyLoad, StormLoad } from "./cases.ts";
import { type Endpoint, inBatches, openIdle, type PreparedLoad, setUpRpc } from "./loads.ts";
import type { WampTransport } from "./wamp_client.ts";

/** Sessions opened by a storm, and how long opening them took. */
export interface StormResult {
  readonly sessions: number;
  readonly seconds: number;
  /** Closes every session opened. */
  close(): Promise<void>;
}

/** Closes idle transports (without waiting long for the peer's close frame). */
async function closeTransports(transports: readonly WampTransport[]): Promise<void> {
  await Promise.all(transports.map((t) => t.close(1000, "", 1000)));
}

/**
 * Opens `load.sessions` sessions, `load.concurrency` at a time, timing the whole; see
 * {@linkcode StormLoad}. `onStart` runs right before the timed part (for CPU readings).
 */
export async function runStorm(
  endpoint: Endpoint,
  ser: Serializer,
  load: StormLoad,
  onStart: () => Promise<void> = () => Promise.resolve(),
): Promise<StormResult> {
  const opened: WampTransport[] = [];
  try {
    await onStart();
    const t0 = performance.now();
    await inBatches(
      load.sessions,
      load.concurrency,
      async () => void opened.push(await openIdle(endpoint, ser)),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { sessions: opened.length, seconds, close: () => closeTransports(opened) };
  } catch (err) {
    await closeTransports(opened);
    throw err;
  }
}

/** Percentile `p` (0..1) of sorted values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

/** A prepared latency load: also hands out the round trip times recorded so far. */
export interface LatencyPrepared extends PreparedLoad {
  /** Round trip times (ms) of the calls completed so far, in completion order. */
  readonly latencies: readonly number[];
}

/**
 * Sets up the latency load: once started, calls are issued open-loop (a timer tick issues every
 * call that is due by then, round robin over the callers), so a slow answer does not slow the
 * rate down, and each call's round trip time is recorded.
 */
export async function prepareLatency(
  endpoint: Endpoint,
  ser: Serializer,
  load: LatencyLoad,
): Promise<LatencyPrepared> {
  const { callFns, close } = await setUpRpc(endpoint, ser, load.callers, load.payloadBytes);
  const latencies: number[] = [];
  const pending = new Set<Promise<void>>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failure: unknown = null;
  let issued = 0;
  let startedAt = 0;
  const issue = () => {
    const call = callFns[issued % callFns.length]!;
    issued++;
    const t0 = performance.now();
    const p: Promise<void> = call().then(
      () => void latencies.push(performance.now() - t0),
      (err) => void (failure ??= err),
    ).finally(() => pending.delete(p));
    pending.add(p);
  };
  const tick = () => {
    const due = Math.floor((performance.now() - startedAt) * load.callsPerSecond / 1000);
    while (issued < due) issue();
    timer = setTimeout(tick, 1);
  };
  return {
    latencies,
    start() {
      startedAt = performance.now();
      tick();
    },
    deliveries: () => latencies.length,
    async stop() {
      clearTimeout(timer);
      let wait: ReturnType<typeof setTimeout> | undefined;
      const settled = await Promise.race([
        Promise.all(pending).then(() => true),
        new Promise<boolean>((resolve) => (wait = setTimeout(() => resolve(false), 3000))),
      ]);
      clearTimeout(wait);
      if (!settled) console.error("  warning: calls still outstanding 3 s after the load stopped");
      if (failure !== null) throw failure;
    },
    close,
  };
}
