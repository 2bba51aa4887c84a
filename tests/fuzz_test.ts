/**
 * Deterministic fuzzing of the router's message handling over real sockets on 127.0.0.1, with the
 * fuzzer in `tests/fuzz/`.
 *
 * Batches of concurrent fuzz sessions (WebSocket with JSON, MessagePack and CBOR; RawSocket over
 * TCP with all three, some announcing small maximum message lengths) send structurally
 * valid-looking WAMP messages of every type with mutated fields, before and after
 * HELLO/WELCOME and through CHALLENGE/AUTHENTICATE (anonymous, ticket, WAMP-CRA, cryptosign),
 * random garbage, truncated and bit-flipped payloads, hand-made nasty payloads (deep nesting,
 * CBOR cycles and tags, MessagePack extensions, `__proto__` keys, huge declared lengths, exactly
 * the size limit), frames of the wrong kind for the serializer, RawSocket PING/PONG, unknown
 * frame types and reserved bits, and mangled RawSocket handshakes. realm1 holds a bystander;
 * realm2 checks URIs strictly, keeps statistics, lets sessions kill each other and sends
 * authenticated sessions through a dynamic authorizer. After every message of a joined session
 * a probe PUBLISH (acknowledged) shows the router has handled it, so each reply is attributed to
 * the message that caused it.
 *
 * Every session must end in an orderly way: normal replies, or ABORT with a `wamp.error.*`
 * reason and a `details.message` string, then a close and nothing after it. Every message the
 * router sends must decode and be well formed, with valid URIs, and answer a request the session
 * made. Failures: ABORT `wamp.error.runtime_error` (an internal router error), ERROR
 * `wamp.error.runtime_error` from the router's own procedures, "internal error" log lines, hangs
 * (no reply within WAIT_MS), closes without ABORT, CALLs to the bystander or the meta API that
 * are never answered. A long-lived bystander session (exact, prefix and wildcard subscriptions
 * and registrations) must, after every batch, still get the EVENTs it publishes to itself and
 * answer CALLs from a fresh session, and the router must hold no sessions, subscribers, callees,
 * open calls or armed timers of the fuzz sessions.
 *
 * The run is reproducible: each session draws from its own PRNG stream derived from the seed
 * (`FUZZ_SEED`, printed in every failure; `FUZZ_BATCHES` and `FUZZ_SESSIONS` scale the run,
 * batches due after `FUZZ_BUDGET_MS` are skipped; `FUZZ_TRACE=<batch>:<session>` or `all` prints
 * transcripts, `FUZZ_VERBOSE=1` outcome counts). What a session sends depends only on the seed;
 * ids the router hands out and what other sessions do concurrently vary. Failures report the
 * offending message as a literal and as wire bytes, the last exchanges, the router's error log
 * lines and the outcome of replaying the message alone on a fresh session.
 *
 * The second test replays the corpus (`tests/fuzz/corpus.ts`): every failure the fuzzer found,
 * as a minimized, seedless case.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ed25519Keys } from "./fuzz/auth.ts";
import { runBatch } from "./fuzz/batch.ts";
import { healthCheck, startBystander } from "./fuzz/bystander.ts";
import { CORPUS } from "./fuzz/corpus.ts";
import { fuzzEnv, seedText } from "./fuzz/env.ts";
import { authorize, AUTHORIZER, fuzzConfig, fuzzEndpoint } from "./fuzz/scenario.ts";
import { startTarget } from "./fuzz/target.ts";

// ---- run parameters --------------------------------------------------------------------------

function envNumber(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

const SEED = envNumber("FUZZ_SEED", 0x5eed2026) >>> 0;
const BATCHES = envNumber("FUZZ_BATCHES", 8);
const SESSIONS_PER_BATCH = envNumber("FUZZ_SESSIONS", 24);
/** Batches still due after this long are skipped (they only run late when failures wait). */
const BUDGET_MS = envNumber("FUZZ_BUDGET_MS", 9000);
/** How long to wait for a reply before calling it a hang (a liveness bound, not a timing check). */
const WAIT_MS = 3000;
/** How long closed sessions may take to disappear from the router. */
const CLEANUP_MS = 1500;
const SEED_TEXT = seedText(SEED);

// ---- the test --------------------------------------------------------------------------------

Deno.test("fuzz: malformed and mutated input never crashes the router or leaks into other sessions", async (t) => {
  const keys = await ed25519Keys();
  await using target = await startTarget(fuzzConfig(keys.publicHex));
  const authorizer = await target.router.session("realm2", { authid: "authorizer" });
  await authorizer.register(AUTHORIZER, authorize);
  const env = fuzzEnv({
    target,
    endpoint: fuzzEndpoint(target.listeners, WAIT_MS),
    keys,
    seed: SEED,
    cleanupMs: CLEANUP_MS,
    authorizer: authorizer.sessionId,
    trace: Deno.env.get("FUZZ_TRACE"),
    verbose: Boolean(Deno.env.get("FUZZ_VERBOSE")),
  });
  const bystander = await startBystander(env);
  await using _bystander = bystander.conn;
  assert.deepEqual(await healthCheck(env, bystander, 0, "before fuzzing"), []);

  const start = Date.now();
  for (let batch = 1; batch <= BATCHES; batch++) {
    const name = `batch ${batch} of ${SESSIONS_PER_BATCH} sessions (${SEED_TEXT})`;
    await t.step({
      name,
      ignore: Date.now() - start > BUDGET_MS,
      fn: async () => {
        const failures = await runBatch(env, bystander, batch, SESSIONS_PER_BATCH);
        assert.ok(
          failures.length === 0,
          `${failures.length} fuzz failure(s) in batch ${batch} (${SEED_TEXT}; rerun with ` +
            `FUZZ_SEED=${SEED} to reproduce):\n\n${failures.join("\n\n")}`,
        );
      },
    });
  }
});

// ---- the corpus ------------------------------------------------------------------------------

/**
 * The failures the fuzzer found, minimized to the messages that trigger them, so each one stays
 * reproducible without a seed. Each step states the orderly behavior the rule asks for.
 */
Deno.test("fuzz corpus: minimized cases found by the fuzzer", async (t) => {
  const keys = await ed25519Keys();
  // a queue bound above what the kernel buffers hold, so a stalled reader keeps writes pending
  await using target = await startTarget(
    fuzzConfig(keys.publicHex, { max_queue_bytes: 64 * 1024 * 1024 }),
  );
  const ctx = { target, endpoint: fuzzEndpoint(target.listeners, WAIT_MS), cleanupMs: CLEANUP_MS };
  for (const c of CORPUS) await t.step(c.name, () => c.run(ctx));
});
