/**
 * `Deadline` (src/transport/deadline.ts) on a FakeClock: it expires once, at the latest time it
 * was armed for (a later re-arm keeps the timer and extends it), an earlier re-arm takes
 * effect, and clearing or arming with 0 disarms it.
 *
 * @module
 */

import { FakeClock } from "../src/clock.ts";
import { Deadline } from "../src/transport/deadline.ts";

function assertEquals<T>(actual: T, expected: T, message: string): void {
  if (actual !== expected) throw new Error(`${message}: got ${actual}, expected ${expected}`);
}

Deno.test("deadline: expires once at the armed time", () => {
  const clock = new FakeClock(1000);
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.arm(100);
  assertEquals(d.at, 1100, "armed for now + 100");
  clock.advance(99);
  assertEquals(fired, 0, "not before its time");
  clock.advance(1);
  assertEquals(fired, 1, "at its time");
  assertEquals(d.armed, false, "disarmed once expired");
  clock.advance(1000);
  assertEquals(fired, 1, "only once");
});

Deno.test("deadline: re-armed later, it expires at the later time only", () => {
  const clock = new FakeClock(0);
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.armAt(100);
  clock.advance(50);
  d.armAt(300);
  assertEquals(clock.pendingTimers, 1, "the later deadline keeps the one timer");
  clock.advance(50); // t = 100: the first timer fires and sets one for the rest
  assertEquals(fired, 0, "not at the earlier time");
  assertEquals(d.armed, true, "still armed");
  assertEquals(d.at, 300, "for the later time");
  clock.advance(199);
  assertEquals(fired, 0, "not before the later time");
  clock.advance(1);
  assertEquals(fired, 1, "at the later time");
  assertEquals(clock.pendingTimers, 0, "no timer left");
});

Deno.test("deadline: re-armed earlier, it expires at the earlier time", () => {
  const clock = new FakeClock(0);
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.armAt(300);
  d.armAt(100);
  assertEquals(clock.pendingTimers, 1, "the earlier timer replaces the later one");
  clock.advance(100);
  assertEquals(fired, 1, "at the earlier time");
  clock.advance(500);
  assertEquals(fired, 1, "and not again at the later one");
});

Deno.test("deadline: clear, arm(0) and a cleared extended deadline never fire", () => {
  const clock = new FakeClock(0);
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.arm(100);
  d.clear();
  assertEquals(d.armed, false, "cleared");
  assertEquals(d.at, null, "no time when cleared");
  d.arm(100);
  d.arm(0);
  assertEquals(d.armed, false, "arm(0) clears");
  d.armAt(100);
  d.armAt(200);
  clock.advance(100); // the kept timer fires and re-arms for t = 200
  d.clear();
  assertEquals(clock.pendingTimers, 0, "clearing after the re-arm leaves no timer");
  clock.advance(1000);
  assertEquals(fired, 0, "never fired");
  d.armAt(-5);
  clock.advance(0);
  assertEquals(fired, 1, "a past time expires at once");
});
