/**
 * One batch of a fuzz run: concurrent fuzz sessions (and now and then a RawSocket handshake
 * session), the replays of their failures, internal errors from the router's log, and the health
 * check; the failures come back as report texts.
 *
 * @module
 */

import { type Bystander, healthCheck } from "./bystander.ts";
import type { FuzzEnv } from "./env.ts";
import { handshakeSession } from "./handshake.ts";
import { replayAlone } from "./report.ts";
import { Rng, subSeed } from "./rng.ts";
import { FuzzSession } from "./session.ts";

/** Runs batch `batch` of `sessions` sessions; returns its failures (none: the batch passed). */
export async function runBatch(
  env: FuzzEnv,
  bystander: Bystander,
  batch: number,
  sessions: number,
): Promise<string[]> {
  const { logs } = env.target;
  env.failures.length = 0;
  env.replays.length = 0;
  const logStart = logs.seq;
  const rng = new Rng(subSeed(env.seed, batch));
  await Promise.all(
    Array.from(
      { length: sessions },
      (_, i) =>
        rng.chance(0.08) ? handshakeSession(env, batch, i) : new FuzzSession(env, batch, i).run(),
    ),
  );
  for (const rp of env.replays) {
    env.failures[rp.index] += `\n  ${await replayAlone(env.endpoint, rp)}`;
  }
  if (env.verbose) {
    console.log([...env.counts].sort().map(([k, v]) => `${v}\t${k}`).join("\n"));
  }
  const failures = [...env.failures];
  const internal = logs.since(logStart).filter((l) =>
    /internal error/.test(l) && !failures.some((f) => f.includes(l))
  );
  if (internal.length > 0) {
    failures.push(`[router log] internal errors logged:\n    ${internal.join("\n    ")}`);
  }
  failures.push(...await healthCheck(env, bystander, batch, `after batch ${batch}`));
  return failures;
}
