/**
 * `CoarseTimers` (src/coarse_timers.ts) on a FakeClock: never early, at most one tick late, one
 * timer on the clock underneath however many are pending and none once all are gone, clearing
 * (also from a callback of the same tick), timers set from callbacks, and the order of a tick.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { CoarseTimers } from "../src/coarse_timers.ts";

Deno.test("coarse timers: random delays fire never early, at most one tick late, on one base timer", () => {
  const base = new FakeClock(1003);
  const timers = new CoarseTimers(base, 20);
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const fired: { due: number; at: number }[] = [];
  const firedIds = new Set<number>();
  const cleared = new Set<number>();
  const ids: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const ms = Math.floor(random() * 5000);
    const due = base.nowMs() + ms;
    const n = i;
    ids.push(timers.setTimer(() => {
      assert(!cleared.has(n), `cleared timer ${n} fired`);
      fired.push({ due, at: base.nowMs() });
      firedIds.add(n);
    }, ms));
    if (random() < 0.3) {
      const victim = Math.floor(random() * ids.length);
      timers.clearTimer(ids[victim]!);
      if (!firedIds.has(victim)) cleared.add(victim); // clearing a fired timer does nothing
    }
    assert(base.pendingTimers <= 1, "one base timer at most");
    base.advance(Math.floor(random() * 3));
  }
  base.advance(6000);
  assert.equal(fired.length + cleared.size, 2000, "every timer fired or was cleared");
  for (const f of fired) {
    assert(f.at >= f.due, `fired early: due ${f.due}, at ${f.at}`);
    assert(f.at <= f.due + 20, `more than a tick late: due ${f.due}, at ${f.at}`);
  }
  assert.equal(timers.pending, 0);
  assert.equal(base.pendingTimers, 0, "no base timer once nothing is pending");
});

Deno.test("coarse timers: clearing the last pending timer clears the base timer", () => {
  const base = new FakeClock(0);
  const timers = new CoarseTimers(base, 50);
  const a = timers.setTimer(() => assert.fail("a was cleared"), 10_000);
  const b = timers.setTimer(() => assert.fail("b was cleared"), 100);
  assert.equal(base.pendingTimers, 1);
  timers.clearTimer(b);
  timers.clearTimer(a);
  timers.clearTimer(a); // twice, and unknown ids, are ignored
  timers.clearTimer(12345);
  assert.equal(base.pendingTimers, 0);
  base.advance(20_000);
});

Deno.test("coarse timers: a tick's timers fire in the order set; one may clear another of the same tick", () => {
  const base = new FakeClock(0);
  const timers = new CoarseTimers(base, 100);
  const order: string[] = [];
  let second = 0;
  timers.setTimer(() => {
    order.push("first");
    timers.clearTimer(second);
  }, 10);
  second = timers.setTimer(() => order.push("second"), 20);
  timers.setTimer(() => order.push("third"), 30);
  base.advance(99);
  assert.deepEqual(order, [], "not before the tick");
  base.advance(1);
  assert.deepEqual(order, ["first", "third"]);
});

Deno.test("coarse timers: timers set from a callback, sooner and later than those pending", () => {
  const base = new FakeClock(0);
  const timers = new CoarseTimers(base, 10);
  const log: [string, number][] = [];
  timers.setTimer(() => log.push(["pending", base.nowMs()]), 200);
  timers.setTimer(() => {
    log.push(["outer", base.nowMs()]);
    // later than the pending one: must not push the pending one back
    timers.setTimer(() => log.push(["later", base.nowMs()]), 500);
    // due at once: fires on this tick or the next
    timers.setTimer(() => log.push(["now", base.nowMs()]), 0);
  }, 50);
  base.advance(1000);
  assert.deepEqual(log, [["outer", 50], ["now", 50], ["pending", 200], ["later", 550]]);
  assert.equal(base.pendingTimers, 0);

  // the same with only the later one set from the callback
  log.length = 0;
  timers.setTimer(() => log.push(["pending", base.nowMs()]), 200);
  timers.setTimer(() => {
    log.push(["outer", base.nowMs()]);
    timers.setTimer(() => log.push(["later", base.nowMs()]), 500);
  }, 50);
  base.advance(1000);
  assert.deepEqual(log, [["outer", 1050], ["pending", 1200], ["later", 1550]]);
});

Deno.test("coarse timers: the resolution must be positive; time comes from the base clock", () => {
  const base = new FakeClock(5, 42n);
  assert.throws(() => new CoarseTimers(base, 0), RangeError);
  const timers = new CoarseTimers(base, 1);
  assert.equal(timers.nowMs(), 5);
  assert.equal(timers.nowNs(), base.nowNs());
});

Deno.test("coarse timers: setting and clearing timers on the same ticks over and over keeps one entry per tick", () => {
  const base = new FakeClock(0);
  const timers = new CoarseTimers(base, 20);
  const keep = timers.setTimer(() => {}, 60_000); // something stays pending throughout
  for (let i = 0; i < 50_000; i++) {
    // a connection's deadline, set and cleared at once, as in a session storm
    timers.clearTimer(timers.setTimer(() => assert.fail("cleared"), 10_000 + (i % 100)));
    if (i % 1000 === 0) base.advance(1);
  }
  // the deadlines fall on the ticks of 10.0–10.15 s from each moment: a few dozen at most
  assert(timers.scheduledTicks <= 20, `${timers.scheduledTicks} ticks waited for`);
  base.advance(30_000);
  assert.equal(timers.scheduledTicks, 1, "only the pending timer's tick is left");
  timers.clearTimer(keep);
  assert.equal(timers.scheduledTicks, 0);
});

Deno.test("coarse timers: a callback that throws does not stop the others, and its error is thrown on", () => {
  const base = new FakeClock(0);
  const timers = new CoarseTimers(base, 10);
  const fired: string[] = [];
  timers.setTimer(() => {
    throw new Error("boom");
  }, 5);
  timers.setTimer(() => fired.push("same tick"), 5);
  timers.setTimer(() => fired.push("later"), 50);
  assert.throws(() => base.advance(10), /boom/, "the error reaches the clock's caller");
  assert.deepEqual(fired, ["same tick"]);
  base.advance(100);
  assert.deepEqual(fired, ["same tick", "later"], "the next tick was armed");
});
