/**
 * The failure limiter on its own (src/auth/failure_limiter.ts), driven by a FakeClock: free
 * failures, growing delays up to the cap, the window, resets on success, slots for parallel
 * attempts, refusals of far slots, independence of keys, and the bound on the keys kept.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import {
  type Attempt,
  DEFAULT_MAX_KEYS,
  delayAfter,
  FailureLimiter,
  limiterKey,
  type LimiterPolicy,
} from "../src/auth/failure_limiter.ts";

const POLICY: LimiterPolicy = {
  maxFailures: 3,
  windowMs: 60_000,
  maxDelayMs: 8_000,
  maxWaitMs: 8_000,
};

const ALICE = limiterKey("tcp4:127.0.0.1", "alice");

/** Reserves a slot of `key` and expects to get one; returns the attempt. */
function take(limiter: FailureLimiter, key: string, clock: FakeClock, policy = POLICY): Attempt {
  const r = limiter.reserve(key, policy, clock.nowMs());
  assert.ok(r.ok, `expected a slot, got ${JSON.stringify(r)}`);
  return r.attempt;
}

/** One attempt that waits its turn (the clock moves) and fails; returns its wait. */
function failOnce(limiter: FailureLimiter, key: string, clock: FakeClock, policy = POLICY) {
  const a = take(limiter, key, clock, policy);
  clock.advance(a.waitMs);
  a.fail(clock.nowMs());
  return a.waitMs;
}

Deno.test("delayAfter: free up to maxFailures, then 1 s, 2 s, 4 s … up to maxDelayMs", () => {
  const waits = Array.from({ length: 10 }, (_, n) => delayAfter(n, POLICY));
  assert.deepEqual(waits, [0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  assert.equal(delayAfter(1_000_000, POLICY), 8000, "no overflow for huge counts");
  assert.equal(delayAfter(5, { ...POLICY, maxDelayMs: 1000 }), 1000);
});

Deno.test("sequential failures: free ones, then growing waits capped at maxDelayMs", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  const waits = Array.from({ length: 9 }, () => failOnce(limiter, ALICE, clock));
  assert.deepEqual(waits, [0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
});

Deno.test("failures leave the count when they leave the window", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  for (let i = 0; i < 4; i++) failOnce(limiter, ALICE, clock);
  assert.equal(take(limiter, ALICE, clock).waitMs > 0, true);
  const fresh = new FailureLimiter();
  for (let i = 0; i < 4; i++) failOnce(fresh, ALICE, clock);
  clock.advance(POLICY.windowMs);
  assert.equal(fresh.failures(ALICE, clock.nowMs()), 0);
  assert.equal(take(fresh, ALICE, clock).waitMs, 0, "free again after the window");
});

Deno.test("a success resets the key", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  for (let i = 0; i < 6; i++) failOnce(limiter, ALICE, clock);
  const good = take(limiter, ALICE, clock);
  assert.equal(good.waitMs, 8000);
  clock.advance(good.waitMs);
  good.succeed();
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 0);
  assert.equal(limiter.size, 0);
  assert.equal(take(limiter, ALICE, clock).waitMs, 0);
});

Deno.test("parallel attempts are serialized into slots; a slot too far away is refused", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  for (let i = 0; i < 3; i++) failOnce(limiter, ALICE, clock);
  // four at once: each pending attempt counts as a failure, and each waits after the previous
  const a = take(limiter, ALICE, clock);
  const b = take(limiter, ALICE, clock);
  const c = take(limiter, ALICE, clock);
  assert.deepEqual([a.waitMs, b.waitMs, c.waitMs], [1000, 3000, 7000]);
  const refused = limiter.reserve(ALICE, POLICY, clock.nowMs());
  assert.deepEqual(refused, { ok: false, retryAfterMs: 15_000 - POLICY.maxWaitMs });
  // a refusal changes nothing: the same answer again
  assert.deepEqual(limiter.reserve(ALICE, POLICY, clock.nowMs()), refused);
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 6, "3 failures + 3 pending");
  // once the queue has moved on, a new attempt gets a slot again
  clock.advance(7000);
  for (const x of [a, b, c]) x.fail(clock.nowMs());
  const next = take(limiter, ALICE, clock);
  assert.equal(next.waitMs, 8000);
});

Deno.test("an attempt settled once: later calls do nothing; cancel counts nothing", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  const a = take(limiter, ALICE, clock);
  a.fail(clock.nowMs());
  a.fail(clock.nowMs());
  a.succeed();
  assert.equal(a.settled, true);
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 1);
  const b = take(limiter, ALICE, clock);
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 2, "pending counts");
  b.cancel();
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 1, "cancelled: neither failure nor success");
});

Deno.test("a failure settled after the key was reset counts on the new count", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  const attacker = take(limiter, ALICE, clock);
  const user = take(limiter, ALICE, clock);
  user.succeed();
  attacker.fail(clock.nowMs());
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 1);
});

Deno.test("keys are independent: another authid, another address", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  for (let i = 0; i < 8; i++) failOnce(limiter, ALICE, clock);
  assert.equal(take(limiter, ALICE, clock).waitMs, 8000);
  assert.equal(take(limiter, limiterKey("tcp4:127.0.0.1", "bob"), clock).waitMs, 0);
  assert.equal(take(limiter, limiterKey("tcp4:10.0.0.7", "alice"), clock).waitMs, 0);
  // the key is unambiguous: no address/authid split makes another key
  assert.notEqual(limiterKey("tcp4:1", "2:x"), limiterKey("tcp4:1:2", "x"));
});

Deno.test("limiterKey: long authids are kept as a fixed-size digest", () => {
  const long = "x".repeat(1_000_000);
  const key = limiterKey("tcp4:127.0.0.1", long);
  assert.ok(key.length <= 256, `${key.length} characters`);
  assert.equal(key, limiterKey("tcp4:127.0.0.1", long));
  assert.notEqual(key, limiterKey("tcp4:127.0.0.1", long + "y"));
  assert.notEqual(key, limiterKey("tcp4:127.0.0.2", long));
});

Deno.test("200,000 distinct authids leave the limiter at its bound of keys", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter();
  for (let i = 0; i < 200_000; i++) {
    const a = take(limiter, limiterKey("tcp4:203.0.113.9", `spray-${i}`), clock);
    a.fail(clock.nowMs());
    if (i % 1000 === 0) clock.advance(1);
  }
  assert.ok(limiter.size <= DEFAULT_MAX_KEYS, `${limiter.size} keys`);
  assert.equal(DEFAULT_MAX_KEYS, 100_000);
});

Deno.test("when full, idle keys go first, then the least recently used", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter(100);
  // alice keeps failing while 1,000 other keys come and go: her count survives
  for (let i = 0; i < 1000; i++) {
    take(limiter, limiterKey("tcp4:203.0.113.9", `spray-${i}`), clock).fail(clock.nowMs());
    if (i % 50 === 0) failOnce(limiter, ALICE, clock);
  }
  assert.ok(limiter.size <= 100);
  // twenty failures; seven are kept (3 free + the four that bring the delay to its maximum)
  assert.equal(limiter.failures(ALICE, clock.nowMs()), 7);
  const waiting = take(limiter, ALICE, clock);
  assert.equal(waiting.waitMs, 8000);
  waiting.cancel();
  // keys idle after their window are dropped as new attempts come
  clock.advance(POLICY.windowMs + 1);
  for (let i = 0; i < 60; i++) take(limiter, ALICE, clock).succeed();
  assert.equal(limiter.size, 0, "every idle key was swept");
});

Deno.test("when full of busy keys, the least recently used one is evicted", () => {
  const clock = new FakeClock();
  const limiter = new FailureLimiter(3);
  const keys = ["a", "b", "c", "d"].map((id) => limiterKey("tcp4:127.0.0.1", id));
  for (const k of keys.slice(0, 3)) take(limiter, k, clock).fail(clock.nowMs());
  take(limiter, keys[0]!, clock).fail(clock.nowMs()); // a is now the most recently used
  take(limiter, keys[3]!, clock).fail(clock.nowMs()); // evicts b
  assert.equal(limiter.size, 3);
  assert.deepEqual(keys.map((k) => limiter.failures(k, clock.nowMs())), [2, 0, 1, 1]);
});

Deno.test("a wait of exactly the maximum is not refused, at fractional times too", () => {
  const limiter = new FailureLimiter();
  const policy = { maxFailures: 2, windowMs: 60_000, maxDelayMs: 1000, maxWaitMs: 1000 };
  const key = limiterKey("tcp4:127.0.0.1", "alice");
  // the times of a real run in which slot - now came out as 1000.0000000000001
  for (const at of [186.241272, 189.743002]) {
    const r = limiter.reserve(key, policy, at);
    assert.ok(r.ok);
    r.attempt.fail(at + 0.7);
  }
  const third = limiter.reserve(key, policy, 194.008974);
  assert.ok(third.ok, "delayed, not refused");
  assert.equal(third.attempt.waitMs, 1000);
});
