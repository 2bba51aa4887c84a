import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import type { StatsConfig } from "../src/config/types.ts";
import {
  type Defer,
  MAX_RATED_MESSAGE_SIZE,
  SessionMeter,
  StatsArgumentError,
  type StatsSnapshot,
  StatsStateError,
  StatsTracker,
} from "../src/stats/session_stats.ts";

/** FakeClock's default epoch: `nowNs()` at fake time 0. */
const EPOCH_NS = 1_700_000_000_000_000_000n;
const MS_NS = 1_000_000n;

/** Wall-clock ns of fake time `ms` (integer ms only). */
function ns(ms: number): bigint {
  return EPOCH_NS + BigInt(ms) * MS_NS;
}

function config(over: Partial<StatsConfig> = {}): StatsConfig {
  return {
    rated_message_size: 512,
    trigger_after_rated_messages: 0,
    trigger_after_duration: 0,
    trigger_on_join: true,
    trigger_on_leave: true,
    ...over,
  };
}

/** A hand-flushed task queue standing in for the event loop. */
class TaskQueue {
  tasks: (() => void)[] = [];
  readonly defer: Defer = (fn) => {
    this.tasks.push(fn);
  };
  /** Runs the tasks queued so far (not those they queue); returns how many ran. */
  flush(): number {
    const batch = this.tasks;
    this.tasks = [];
    for (const task of batch) task();
    return batch.length;
  }
}

/** A FakeClock that records every delay handed to `setTimer`. */
class RecordingClock extends FakeClock {
  delays: number[] = [];
  override setTimer(fn: () => void, ms: number): number {
    this.delays.push(ms);
    return super.setTimer(fn, ms);
  }
}

interface Rig {
  clock: FakeClock;
  meter: SessionMeter;
  queue: TaskQueue;
  published: StatsSnapshot[];
  tracker: StatsTracker;
}

function rig(over: Partial<StatsConfig> = {}, clock = new FakeClock()): Rig {
  const cfg = config(over);
  const meter = new SessionMeter(clock, "json", cfg.rated_message_size);
  const queue = new TaskQueue();
  const published: StatsSnapshot[] = [];
  const tracker = new StatsTracker(meter, cfg, clock, (s) => published.push(s), queue.defer);
  return { clock, meter, queue, published, tracker };
}

/** The counting fields of a snapshot. */
function counts(s: StatsSnapshot): [number, number, number] {
  return [s.messages, s.bytes, s.rated_messages];
}

Deno.test("rated messages round up per message, at least 1", () => {
  const table: [number, number, number][] = [
    [256, 0, 1],
    [256, 1, 1],
    [256, 255, 1],
    [256, 256, 1],
    [256, 257, 2],
    [256, 512, 2],
    [256, 513, 3],
    [256, 600, 3],
    [1, 0, 1],
    [1, 1, 1],
    [1, 2, 2],
    [1, 1000, 1000],
    [2 ** 30, 1, 1],
    [2 ** 30, 2 ** 30, 1],
    [2 ** 30, 2 ** 30 + 1, 2],
    [2 ** 30, 3 * 2 ** 30, 3],
    [2 ** 30, 3 * 2 ** 30 + 1, 4],
    [512, 2 ** 53 - 1, 2 ** 44],
  ];
  for (const [size, bytes, want] of table) {
    const meter = new SessionMeter(new FakeClock(), "json", size);
    meter.count(bytes);
    assert.equal(meter.ratedMessages, want, `size ${size}, bytes ${bytes}`);
  }
});

Deno.test("the meter rejects bad byte counts and rated sizes", () => {
  for (const bytes of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    const meter = new SessionMeter(new FakeClock(), "json", 256);
    assert.throws(() => meter.count(bytes), StatsArgumentError, `bytes ${bytes}`);
  }
  for (const size of [0, -256, 0.5, NaN]) {
    assert.throws(
      () => new SessionMeter(new FakeClock(), "json", size),
      StatsArgumentError,
      `size ${size}`,
    );
  }
});

Deno.test("SessionMeter.count sums messages, bytes and rated at the boundaries", () => {
  const meter = new SessionMeter(new FakeClock(), "json", 256);
  for (const bytes of [1, 256, 257, 512, 513]) meter.count(bytes);
  assert.equal(meter.messages, 5);
  assert.equal(meter.bytes, 1 + 256 + 257 + 512 + 513);
  assert.equal(meter.ratedMessages, 1 + 1 + 2 + 2 + 3);

  const one = new SessionMeter(new FakeClock(), "cbor", 1);
  one.count(7);
  one.count(0);
  assert.equal(one.ratedMessages, 8);

  const huge = new SessionMeter(new FakeClock(), "msgpack", MAX_RATED_MESSAGE_SIZE);
  huge.count(2 ** 30);
  huge.count(2 ** 30 + 1);
  assert.equal(huge.ratedMessages, 3);
});

Deno.test("SessionMeter validates the rated size and byte counts", () => {
  const clock = new FakeClock();
  for (const size of [0, 3, 6, 1000, 2 ** 31, 1.5, -2, NaN]) {
    assert.throws(() => new SessionMeter(clock, "json", size), StatsArgumentError, `${size}`);
  }
  const meter = new SessionMeter(clock, "json");
  assert.equal(meter.ratedMessageSize, 512);
  for (const size of [0, 768, 2 ** 31]) {
    assert.throws(() => meter.setRatedMessageSize(size), StatsArgumentError, `${size}`);
  }
  meter.setRatedMessageSize(1);
  assert.equal(meter.ratedMessageSize, 1);
  meter.setRatedMessageSize(2 ** 30);
  assert.equal(meter.ratedMessageSize, 2 ** 30);
  for (const bytes of [-1, 1.5, NaN]) {
    assert.throws(() => meter.count(bytes), StatsArgumentError, `${bytes}`);
  }
  assert.equal(meter.messages, 0);
});

Deno.test("setRatedMessageSize applies to messages counted afterwards", () => {
  const meter = new SessionMeter(new FakeClock(), "json", 512);
  meter.count(600); // 2 at 512
  meter.setRatedMessageSize(256);
  meter.count(600); // 3 at 256
  assert.equal(meter.ratedMessages, 5);
});

Deno.test("snapshot: exact integer window values, reset, cycle, first/last", () => {
  const clock = new FakeClock(5_000);
  const meter = new SessionMeter(clock, "msgpack", 256);
  assert.equal(meter.windowStartNs, ns(5_000));
  clock.advance(250.25); // exactly representable: 250_250_000 ns
  meter.count(100);
  meter.count(300);

  const a = meter.snapshot(false);
  assert.deepEqual(Object.keys(a).sort(), [
    "bytes",
    "cycle",
    "duration",
    "first",
    "last",
    "messages",
    "rated_messages",
    "serializer",
    "timestamp",
  ]);
  assert.equal(typeof a.timestamp, "bigint");
  assert.deepEqual(a, {
    bytes: 400,
    cycle: 1,
    duration: 250_250_000,
    first: true,
    last: false,
    messages: 2,
    rated_messages: 3,
    serializer: "msgpack",
    timestamp: ns(5_000),
  });
  assert.ok(Number.isInteger(a.duration));
  assert.deepEqual([meter.messages, meter.bytes, meter.ratedMessages], [0, 0, 0]);
  assert.equal(meter.windowStartNs, ns(5_000) + 250_250_000n);
  assert.equal(meter.cycle, 1);

  clock.advance(1_000);
  const b = meter.snapshot(true);
  assert.equal(b.cycle, 2);
  assert.equal(b.first, false);
  assert.equal(b.last, true);
  assert.equal(b.timestamp, ns(5_000) + 250_250_000n);
  assert.equal(b.duration, 1_000_000_000);
  assert.deepEqual(counts(b), [0, 0, 0]);

  meter.beginSession();
  const c = meter.snapshot(false);
  assert.equal(c.first, true);
  assert.equal(c.cycle, 3);
  assert.equal(c.duration, 0);
  assert.equal(meter.snapshot(false).first, false);
});

Deno.test("join snapshot holds pre-join traffic, first=true, published only after the task runs", () => {
  const { clock, meter, queue, published, tracker } = rig({ rated_message_size: 256 });
  clock.advance(40);
  meter.count(180); // HELLO
  meter.count(420); // WELCOME
  clock.advance(2);
  tracker.join();
  assert.equal(published.length, 0, "join must not publish synchronously");
  assert.deepEqual([meter.messages, meter.bytes], [0, 0], "snapshot taken synchronously");
  assert.equal(queue.flush(), 1);
  assert.deepEqual(published, [{
    bytes: 600,
    cycle: 1,
    duration: 42_000_000,
    first: true,
    last: false,
    messages: 2,
    rated_messages: 3,
    serializer: "json",
    timestamp: ns(0),
  }]);
  assert.equal(tracker.active, true);
  tracker.detach();
});

Deno.test("tracker sets the configured rated size on the meter (pre-join traffic too)", () => {
  const clock = new FakeClock();
  const meter = new SessionMeter(clock, "json");
  const tracker = new StatsTracker(meter, config({ rated_message_size: 256 }), clock, () => {});
  assert.equal(meter.ratedMessageSize, 256);
  meter.count(600);
  assert.equal(meter.ratedMessages, 3);
  tracker.detach();
  assert.throws(
    () => new StatsTracker(meter, config({ rated_message_size: 3 }), clock, () => {}),
    StatsArgumentError,
  );
  assert.throws(
    () => new StatsTracker(meter, config({ trigger_after_duration: -1 }), clock, () => {}),
    StatsArgumentError,
  );
});

Deno.test("meter.count does not publish synchronously", () => {
  const { meter, queue, published, tracker } = rig({
    trigger_after_rated_messages: 1,
    trigger_on_join: false,
  });
  tracker.join();
  assert.equal(queue.tasks.length, 0);
  meter.count(10);
  assert.equal(published.length, 0);
  assert.equal(queue.tasks.length, 1);
  assert.equal(meter.cycle, 1, "snapshot already taken");
  assert.equal(meter.messages, 0, "counters already reset");
  queue.flush();
  assert.equal(published.length, 1);
  assert.deepEqual(counts(published[0]!), [1, 10, 1]);
  tracker.detach();
});

Deno.test("rated trigger fires exactly at the Nth rated message", () => {
  const { meter, queue, published, tracker } = rig({
    rated_message_size: 256,
    trigger_after_rated_messages: 10,
    trigger_on_join: false,
  });
  meter.count(100); // pre-join HELLO, 1 rated
  tracker.join();
  for (let i = 0; i < 8; i++) meter.count(40);
  assert.equal(meter.ratedMessages, 9);
  queue.flush();
  assert.equal(published.length, 0);
  meter.count(40);
  queue.flush();
  assert.equal(published.length, 1);
  const s = published[0]!;
  assert.deepEqual(counts(s), [10, 460, 10]);
  assert.equal(s.first, true, "first threshold snapshot is first when join did not publish");
  assert.equal(s.cycle, 1);
  // Second window: again exactly 10.
  for (let i = 0; i < 9; i++) meter.count(40);
  queue.flush();
  assert.equal(published.length, 1);
  meter.count(40);
  queue.flush();
  assert.equal(published.length, 2);
  assert.deepEqual(counts(published[1]!), [10, 400, 10]);
  assert.equal(published[1]!.first, false);
  assert.equal(published[1]!.cycle, 2);
  tracker.detach();
});

Deno.test("overshoot is published and not carried into the next window", () => {
  const { meter, queue, published, tracker } = rig({
    rated_message_size: 256,
    trigger_after_rated_messages: 2,
    trigger_on_join: false,
  });
  tracker.join();
  meter.count(600);
  assert.equal(meter.ratedMessages, 0);
  meter.count(10);
  assert.equal(meter.ratedMessages, 1);
  queue.flush();
  assert.equal(published.length, 1);
  assert.deepEqual(counts(published[0]!), [1, 600, 3]);
  meter.count(700); // 1 + 3 = 4 ≥ 2
  queue.flush();
  assert.deepEqual(counts(published[1]!), [2, 710, 4]);
  assert.equal(meter.ratedMessages, 0);
  tracker.detach();
});

Deno.test("duration timer reports an idle session with zero counts and exact duration", () => {
  const { clock, queue, published, tracker } = rig({ trigger_after_duration: 5 });
  clock.advance(1_234);
  tracker.join();
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(4_999);
  queue.flush();
  assert.equal(published.length, 1);
  clock.advance(1);
  queue.flush();
  assert.equal(published.length, 2);
  assert.deepEqual(published[1], {
    bytes: 0,
    cycle: 2,
    duration: 5_000_000_000,
    first: false,
    last: false,
    messages: 0,
    rated_messages: 0,
    serializer: "json",
    timestamp: ns(1_234),
  });
  clock.advance(5_000);
  queue.flush();
  assert.equal(published.length, 3);
  assert.equal(published[2]!.cycle, 3);
  assert.equal(published[2]!.timestamp, ns(6_234));
  assert.equal(published[2]!.duration, 5_000_000_000);
  assert.equal(clock.pendingTimers, 1);
  tracker.detach();
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("duration timer firing first restarts the rated window", () => {
  const { clock, meter, queue, published, tracker } = rig({
    trigger_after_rated_messages: 10,
    trigger_after_duration: 2,
    trigger_on_join: false,
  });
  tracker.join();
  for (let i = 0; i < 7; i++) {
    clock.advance(100);
    meter.count(20);
  }
  clock.advance(1_300); // t = 2000: timer fires with 7 rated in the window
  queue.flush();
  assert.equal(published.length, 1);
  assert.deepEqual(counts(published[0]!), [7, 140, 7]);
  assert.equal(published[0]!.duration, 2_000_000_000);
  for (let i = 0; i < 9; i++) meter.count(20);
  queue.flush();
  assert.equal(published.length, 1, "window restarted: 9 < 10");
  meter.count(20);
  queue.flush();
  assert.equal(published.length, 2);
  assert.deepEqual(counts(published[1]!), [10, 200, 10]);
  assert.equal(published[1]!.timestamp, ns(2_000));
  tracker.detach();
});

Deno.test("rated trigger firing first restarts the duration window and timer", () => {
  const { clock, meter, queue, published, tracker } = rig({
    trigger_after_rated_messages: 10,
    trigger_after_duration: 2,
    trigger_on_join: false,
  });
  tracker.join();
  clock.advance(1_500);
  for (let i = 0; i < 10; i++) meter.count(20);
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(published[0]!.duration, 1_500_000_000);
  assert.equal(clock.pendingTimers, 1, "old timer replaced, not added");
  clock.advance(1_999); // t = 3499: the original t = 2000 deadline is gone
  queue.flush();
  assert.equal(published.length, 1);
  clock.advance(1); // t = 3500
  queue.flush();
  assert.equal(published.length, 2);
  assert.equal(published[1]!.timestamp, ns(1_500));
  assert.equal(published[1]!.duration, 2_000_000_000);
  assert.deepEqual(counts(published[1]!), [0, 0, 0]);
  tracker.detach();
});

Deno.test("per-message duration check fires when the window is already over the duration", () => {
  const { clock, meter, queue, published, tracker } = rig({
    trigger_after_duration: 2,
    trigger_on_join: false,
  });
  meter.count(100); // HELLO at t = 0
  clock.advance(3_000); // slow authentication: no tracker timer yet
  tracker.join();
  meter.count(50); // checked before any timer runs
  assert.equal(queue.tasks.length, 1);
  queue.flush();
  assert.equal(published.length, 1);
  assert.deepEqual(counts(published[0]!), [2, 150, 2]);
  assert.equal(published[0]!.duration, 3_000_000_000);
  assert.equal(clock.pendingTimers, 1, "catch-up timer replaced by a fresh one");
  clock.advance(2_000);
  queue.flush();
  assert.equal(published.length, 2);
  assert.equal(published[1]!.timestamp, ns(3_000));
  tracker.detach();
});

Deno.test("join without a join snapshot arms the timer for the rest of the pre-join window", () => {
  const { clock, queue, published, tracker } = rig({
    trigger_after_duration: 2,
    trigger_on_join: false,
  });
  clock.advance(500);
  tracker.join();
  clock.advance(1_499);
  queue.flush();
  assert.equal(published.length, 0);
  clock.advance(1);
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(published[0]!.timestamp, ns(0));
  assert.equal(published[0]!.duration, 2_000_000_000);
  assert.equal(published[0]!.first, true);
  tracker.detach();
});

Deno.test("durations beyond the setTimeout limit re-arm instead of firing early", () => {
  const seconds = 3_000_000; // 3e9 ms > 2^31 - 1 (Deno's setTimeout would fire after 1 ms)
  const clock = new RecordingClock();
  const { queue, published, tracker } = rig({
    trigger_after_duration: seconds,
    trigger_on_join: false,
  }, clock);
  tracker.join();
  assert.deepEqual(clock.delays, [2 ** 31 - 1]);
  clock.advance(2 ** 31 - 1);
  queue.flush();
  assert.equal(published.length, 0);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(seconds * 1000 - (2 ** 31 - 1));
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(published[0]!.duration, seconds * 1_000_000_000);
  assert.ok(clock.delays.every((ms) => ms <= 2 ** 31 - 1), `${clock.delays}`);
  tracker.detach();
});

Deno.test("first/last flags and cycles across leave and a re-join on the same connection", () => {
  const { clock, meter, queue, published, tracker } = rig({
    trigger_after_rated_messages: 3,
  });
  tracker.join();
  for (let i = 0; i < 3; i++) meter.count(10);
  meter.count(10);
  queue.flush();
  assert.deepEqual(published.map((s) => [s.cycle, s.first, s.last]), [
    [1, true, false],
    [2, false, false],
  ]);
  const final = tracker.leave();
  assert.ok(final !== null);
  assert.deepEqual([final.cycle, final.first, final.last], [3, false, true]);
  assert.deepEqual(counts(final), [1, 10, 1]);
  assert.equal(tracker.active, false);
  assert.equal(meter.onCounted, null);

  // A second session on the same connection: cycle continues, first resets.
  meter.count(10); // HELLO
  const published2: StatsSnapshot[] = [];
  const tracker2 = new StatsTracker(
    meter,
    config({ trigger_after_rated_messages: 3 }),
    clock,
    (s) => published2.push(s),
    queue.defer,
  );
  tracker2.join();
  queue.flush();
  assert.equal(published.length, 2, "old tracker publishes nothing more");
  assert.deepEqual(published2.map((s) => [s.cycle, s.first, s.last]), [[4, true, false]]);
  assert.deepEqual(counts(published2[0]!), [1, 10, 1]);
  tracker2.detach();
});

Deno.test("the only snapshot is both first and last", () => {
  const { clock, meter, queue, published, tracker } = rig({ trigger_on_join: false });
  meter.count(100);
  tracker.join();
  clock.advance(10);
  meter.count(30);
  const final = tracker.leave();
  queue.flush();
  assert.equal(published.length, 0, "leave() does not publish the final snapshot");
  assert.deepEqual(final, {
    bytes: 130,
    cycle: 1,
    duration: 10_000_000,
    first: true,
    last: true,
    messages: 2,
    rated_messages: 2,
    serializer: "json",
    timestamp: ns(0),
  });
});

Deno.test("trigger_on_leave false: leave returns null; leave is idempotent", () => {
  const off = rig({ trigger_on_leave: false, trigger_after_duration: 1 });
  off.tracker.join();
  assert.equal(off.clock.pendingTimers, 1);
  assert.equal(off.tracker.leave(), null);
  assert.equal(off.clock.pendingTimers, 0);

  const on = rig();
  on.tracker.join();
  assert.notEqual(on.tracker.leave(), null);
  assert.equal(on.tracker.leave(), null);
  assert.equal(on.tracker.active, false);
});

Deno.test("leave before join returns null; join twice or after detach throws", () => {
  const a = rig();
  assert.equal(a.tracker.active, false);
  assert.equal(a.tracker.leave(), null);
  assert.throws(() => a.tracker.join(), StatsStateError);

  const b = rig();
  b.tracker.join();
  assert.throws(() => b.tracker.join(), StatsStateError);
  b.tracker.detach();
  assert.throws(() => b.tracker.join(), StatsStateError);
  assert.equal(b.tracker.leave(), null);
});

Deno.test("trigger_on_join false: no join publication", () => {
  const { queue, published, tracker } = rig({ trigger_on_join: false });
  tracker.join();
  assert.equal(queue.tasks.length, 0);
  queue.flush();
  assert.equal(published.length, 0);
  tracker.detach();
});

Deno.test("timers are cleared on leave, detach and Symbol.dispose; the hook is removed", () => {
  const left = rig({ trigger_after_duration: 5, trigger_after_rated_messages: 1 });
  left.tracker.join();
  assert.equal(left.clock.pendingTimers, 1);
  assert.notEqual(left.meter.onCounted, null);
  left.tracker.leave();
  assert.equal(left.clock.pendingTimers, 0);
  assert.equal(left.meter.onCounted, null);
  left.meter.count(10);
  left.clock.advance(60_000);
  left.queue.flush();
  assert.equal(left.published.length, 1, "only the join snapshot");

  const disposed = rig({ trigger_after_duration: 5 });
  disposed.tracker.join();
  disposed.tracker.detach();
  assert.equal(disposed.clock.pendingTimers, 0);
  assert.equal(disposed.meter.onCounted, null);
  assert.equal(disposed.tracker.active, false);

  const clock = new FakeClock();
  {
    using scoped = new StatsTracker(
      new SessionMeter(clock, "json"),
      config({ trigger_after_duration: 5 }),
      clock,
      () => {},
    );
    scoped.join();
    assert.equal(clock.pendingTimers, 2, "duration timer + default deferred publish");
  }
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("both thresholds 0: only join and leave snapshots", () => {
  const { clock, meter, queue, published, tracker } = rig();
  tracker.join();
  assert.equal(clock.pendingTimers, 0);
  for (let i = 0; i < 10_000; i++) meter.count(1_000);
  clock.advance(3_600_000);
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(published[0]!.first, true);
  const final = tracker.leave();
  assert.ok(final !== null);
  assert.deepEqual(counts(final), [10_000, 10_000_000, 20_000]);
  assert.equal(final.cycle, 2);
});

Deno.test("leave publishes pending snapshots first, in order, then returns the final one", () => {
  const { meter, queue, published, tracker } = rig({
    trigger_after_rated_messages: 1,
  });
  tracker.join();
  meter.count(10);
  meter.count(20);
  assert.equal(published.length, 0);
  const final = tracker.leave();
  assert.deepEqual(published.map((s) => s.cycle), [1, 2, 3]);
  assert.ok(final !== null);
  assert.equal(final.cycle, 4);
  queue.flush();
  assert.equal(published.length, 3, "stale task publishes nothing");
});

Deno.test("a throwing publish keeps the remaining snapshots for the next task", () => {
  const clock = new FakeClock();
  const meter = new SessionMeter(clock, "json");
  const queue = new TaskQueue();
  const published: number[] = [];
  let failNext = true;
  const tracker = new StatsTracker(
    meter,
    config({ trigger_after_rated_messages: 1 }),
    clock,
    (s) => {
      if (failNext) {
        failNext = false;
        throw new Error("broker down");
      }
      published.push(s.cycle);
    },
    queue.defer,
  );
  tracker.join(); // cycle 1
  meter.count(10); // cycle 2
  assert.equal(queue.tasks.length, 1, "one task for the batch");
  assert.throws(() => queue.flush(), { message: "broker down" });
  assert.deepEqual(published, []);
  assert.equal(queue.flush(), 1);
  assert.deepEqual(published, [2]);
  tracker.detach();
});

Deno.test("self-subscription with trigger 1: no recursion, one more event per flush", () => {
  const clock = new FakeClock();
  const meter = new SessionMeter(clock, "json");
  const queue = new TaskQueue();
  const published: StatsSnapshot[] = [];
  let depth = 0;
  let maxDepth = 0;
  const stackSizes: number[] = [];
  /** The router's publish: the stats EVENT goes to the same session, which counts it. */
  const deliver = (s: StatsSnapshot): void => {
    depth += 1;
    maxDepth = Math.max(maxDepth, depth);
    stackSizes.push((new Error().stack ?? "").split("\n").length);
    published.push(s);
    meter.count(300);
    depth -= 1;
  };
  const tracker = new StatsTracker(
    meter,
    config({ trigger_after_rated_messages: 1 }),
    clock,
    deliver,
    queue.defer,
  );
  const savedLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  try {
    tracker.join();
    assert.equal(published.length, 0);
    assert.equal(queue.tasks.length, 1);

    const N = 25;
    for (let i = 1; i <= N; i++) {
      assert.equal(queue.flush(), 1, `flush ${i} runs one task`);
      assert.equal(published.length, i, `flush ${i} publishes exactly one event`);
      assert.equal(queue.tasks.length, 1, `flush ${i} queues exactly one follow-up`);
    }
    assert.equal(maxDepth, 1, "publish never re-entered");
    assert.equal(new Set(stackSizes).size, 1, `stack does not grow: ${stackSizes}`);
    assert.deepEqual(published.map((s) => s.cycle), Array.from({ length: N }, (_, i) => i + 1));
    assert.deepEqual(counts(published[0]!), [0, 0, 0]);
    for (const s of published.slice(1)) assert.deepEqual(counts(s), [1, 300, 1]);

    // leave() publishes the pending snapshot; its EVENT lands in the final window.
    const final = tracker.leave();
    assert.equal(published.length, N + 1);
    assert.ok(final !== null);
    assert.deepEqual([final.cycle, final.last], [N + 2, true]);
    assert.deepEqual(counts(final), [1, 300, 1]);
    queue.flush();
    assert.equal(queue.tasks.length, 0, "the feedback stops after leave");
    assert.equal(published.length, N + 1);
  } finally {
    Error.stackTraceLimit = savedLimit;
  }
});

Deno.test("default defer is a clock task: nothing is published until the clock runs", () => {
  const clock = new FakeClock();
  const meter = new SessionMeter(clock, "json");
  const published: StatsSnapshot[] = [];
  const tracker = new StatsTracker(
    meter,
    config({ trigger_after_rated_messages: 2 }),
    clock,
    (s) => published.push(s),
  );
  tracker.join();
  meter.count(10);
  meter.count(10);
  assert.equal(published.length, 0);
  assert.equal(clock.pendingTimers, 1, "one flush task for both snapshots");
  clock.advance(0);
  assert.deepEqual(published.map((s) => s.cycle), [1, 2]);
  assert.equal(clock.pendingTimers, 0);

  meter.count(10);
  meter.count(10);
  assert.equal(clock.pendingTimers, 1);
  tracker.detach();
  assert.equal(clock.pendingTimers, 0, "detach publishes the pending snapshots at once");
  assert.equal(published.length, 3);
  clock.advance(10);
  assert.equal(published.length, 3);
});

Deno.test("detach publishes pending snapshots, takes no final one, and unhooks the meter", () => {
  const { meter, queue, published, tracker } = rig({ trigger_after_rated_messages: 1 });
  tracker.join();
  meter.count(10);
  tracker.detach();
  assert.deepEqual(published.map((s) => s.cycle), [1, 2], "pending published at once");
  meter.count(10);
  queue.flush();
  assert.equal(published.length, 2, "no trigger after detach");
  assert.equal(tracker.active, false);
  assert.equal(tracker.leave(), null, "no final snapshot after detach");
});

Deno.test("resume after a reload: window and counts carry over, new thresholds, no join event", () => {
  const clock = new FakeClock();
  const meter = new SessionMeter(clock, "json", 512);
  const queue = new TaskQueue();
  const published: StatsSnapshot[] = [];
  const publish = (s: StatsSnapshot) => published.push(s);
  const before = new StatsTracker(meter, config(), clock, publish, queue.defer);
  before.join();
  queue.flush();
  assert.equal(published.length, 1);
  clock.advance(1_000);
  meter.count(100);
  meter.count(100);
  before.detach();

  // the reload: rated size 64, trigger every 6 rated messages or after 2 s
  const after = new StatsTracker(
    meter,
    config({ rated_message_size: 64, trigger_after_rated_messages: 6, trigger_after_duration: 2 }),
    clock,
    publish,
    queue.defer,
  );
  after.resume();
  queue.flush();
  assert.equal(published.length, 1, "resume publishes nothing by itself");
  meter.count(100); // 2 rated at 64 B: the window holds 1 + 1 + 2 = 4
  queue.flush();
  assert.equal(published.length, 1);
  meter.count(128); // 2 more: 6 reaches the new threshold
  queue.flush();
  assert.equal(published.length, 2);
  const snap = published[1]!;
  assert.deepEqual(counts(snap), [4, 428, 6]);
  assert.equal(snap.first, false);
  assert.equal(snap.cycle, 2);
  assert.equal(snap.timestamp, ns(0), "the window started before the reload");
  assert.equal(snap.duration, 1_000_000_000);

  // the new duration timer runs: 2 s later an idle report
  clock.advance(2_000);
  queue.flush();
  assert.equal(published.length, 3);
  assert.deepEqual(counts(published[2]!), [0, 0, 0]);
  assert.throws(() => after.resume(), StatsStateError);
  const final = after.leave();
  assert.ok(final !== null && final.last);
});

Deno.test("resume arms the duration timer for what is left of the window", () => {
  const { clock, queue, published, tracker, meter } = rig({ trigger_after_duration: 3 });
  clock.advance(2_000);
  tracker.resume();
  clock.advance(999);
  queue.flush();
  assert.equal(published.length, 0);
  clock.advance(1);
  queue.flush();
  assert.equal(published.length, 1);
  assert.equal(published[0]!.first, true, "a session's first report is first, resumed or not");
  assert.equal(published[0]!.duration, 3_000_000_000);
  assert.equal(meter.onCounted !== null, true);
  tracker.detach();
  assert.equal(meter.onCounted, null);
});
