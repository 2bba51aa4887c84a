/**
 * Call re-routing: a callee answering `wamp.error.unavailable` has the call moved to the next
 * callee of its shared registration, by policy; when every callee was tried the caller gets
 * `wamp.error.no_available_callee`. First the `Dealer` in-process (fake sessions, FakeClock):
 * each policy's order, timeouts, cancel, progressive calls, callees leaving or joining while a
 * call moves. Then AutobahnJS callees and callers over real WebSockets.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { nextCallee } from "../src/router/callee_choice.ts";
import { Dealer } from "../src/router/dealer.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import type { Call, Dict, ErrorMessage, Invocation, Result } from "../src/wamp/messages.ts";
import { RawClient, startRouter } from "./_helpers.ts";
import { type FakeSession, fakeSession } from "./_session_ref.ts";
import {
  type AbError,
  autobahn,
  AutobahnClient,
  deadline,
  rejection,
  SERIALIZERS,
} from "./interop/common.ts";

const UNAVAILABLE = "wamp.error.unavailable";
const NO_AVAILABLE = "wamp.error.no_available_callee";

function call(request: number, options: Dict = {}, args?: unknown[]): Call {
  const m: Call = { type: T.CALL, request, options, procedure: "com.p" };
  if (args) m.args = args;
  return m;
}

function invocations(s: FakeSession): Invocation[] {
  return s.of(T.INVOCATION) as Invocation[];
}

function last(s: FakeSession): Invocation {
  const all = invocations(s);
  assert.ok(all.length > 0, `session ${s.id} got an INVOCATION`);
  return all[all.length - 1]!;
}

function unavailable(dealer: Dealer, callee: FakeSession): void {
  dealer.error(callee, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: last(callee).request,
    details: {},
    error: UNAVAILABLE,
  });
}

function errorsOf(s: FakeSession): ErrorMessage[] {
  return s.of(T.ERROR) as ErrorMessage[];
}

/** A dealer with callees 1..n registered on `com.p` under `invoke`, and a caller (id 9). */
function setup(invoke: string, n = 3, features: string[] = []) {
  const clock = new FakeClock();
  const done: number[] = [];
  const dealer = new Dealer(clock, { onCallDone: (ms) => done.push(ms) });
  const callees = Array.from({ length: n }, (_, i) => fakeSession(i + 1, { features }));
  const options = invoke === "single" ? {} : { invoke };
  for (const c of callees) dealer.register(c, "com.p", "exact", options);
  const caller = fakeSession(9, { features: ["caller.payload_passthru_mode"] });
  return { clock, dealer, callees, caller, done };
}

Deno.test("re-routing: first moves forward in registration order, then no_available_callee", () => {
  const { dealer, callees, caller, done } = setup("first");
  const [a, b, c] = callees as [FakeSession, FakeSession, FakeSession];
  dealer.call(caller, { ...call(1, {}, [1, 2]), kwargs: { k: "v" } }, false);
  assert.equal(invocations(a).length, 1);
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 1, "b is next (registered after a)");
  assert.deepEqual([last(b).args, last(b).kwargs], [[1, 2], { k: "v" }], "the payload moves too");
  unavailable(dealer, b);
  assert.equal(invocations(c).length, 1);
  assert.deepEqual(errorsOf(caller), [], "the caller sees none of the unavailable answers");
  unavailable(dealer, c);
  const [err] = errorsOf(caller);
  assert.equal(err?.error, NO_AVAILABLE);
  assert.equal(err?.request, 1);
  assert.deepEqual(err?.args, ['every callee of "com.p" is unavailable']);
  assert.deepEqual(callees.map((x) => invocations(x).length), [1, 1, 1], "each tried once");
  assert.deepEqual(dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  for (const x of callees) assert.deepEqual(dealer.openCalls(x), { asCaller: 0, asCallee: 0 });
  assert.equal(done.length, 1, "one call done, counted once");
});

Deno.test("re-routing: last moves backward (the callee registered right before)", () => {
  const { dealer, callees, caller } = setup("last");
  const [a, b, c] = callees as [FakeSession, FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  assert.equal(invocations(c).length, 1);
  unavailable(dealer, c);
  assert.equal(invocations(b).length, 1);
  assert.equal(invocations(a).length, 0);
  dealer.yield(b, { type: T.YIELD, request: last(b).request, options: {}, args: ["b"] });
  assert.deepEqual(caller.of(T.RESULT), [{ type: T.RESULT, request: 1, details: {}, args: ["b"] }]);
  assert.deepEqual(errorsOf(caller), []);
});

Deno.test("re-routing: roundrobin takes the next in the queue and moves the queue past it", () => {
  const { dealer, callees, caller } = setup("roundrobin");
  const [a, b, c] = callees as [FakeSession, FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  assert.equal(invocations(a).length, 1);
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 1, "b is next in the queue");
  dealer.yield(b, { type: T.YIELD, request: last(b).request, options: {} });
  // the next fresh call goes to c, not to b again
  dealer.call(caller, call(2), false);
  assert.equal(invocations(c).length, 1);
  unavailable(dealer, c);
  assert.equal(invocations(a).length, 2, "wraps around to a");
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 2);
  unavailable(dealer, b);
  assert.equal(errorsOf(caller)[0]?.error, NO_AVAILABLE);
  assert.equal(errorsOf(caller)[0]?.request, 2);
});

Deno.test("re-routing: random never picks a callee twice; all tried, then no_available_callee", () => {
  for (let round = 0; round < 30; round++) {
    const { dealer, callees, caller } = setup("random", 4);
    dealer.call(caller, call(1), false);
    for (let k = 0; k < 4; k++) {
      const current = callees.filter((c) =>
        invocations(c).length > 0 && dealer.openCalls(c).asCallee === 1
      );
      assert.equal(current.length, 1, "exactly one callee holds the call");
      unavailable(dealer, current[0]!);
    }
    for (const c of callees) assert.equal(invocations(c).length, 1, `callee ${c.id} tried once`);
    assert.equal(errorsOf(caller)[0]?.error, NO_AVAILABLE);
  }
});

Deno.test("re-routing: single has no other callee: no_available_callee at once", () => {
  const { dealer, callees, caller } = setup("single", 1);
  dealer.call(caller, call(1), false);
  unavailable(dealer, callees[0]!);
  assert.equal(errorsOf(caller)[0]?.error, NO_AVAILABLE);
});

Deno.test("re-routing: the call timeout covers every callee; the current one is interrupted", () => {
  const { clock, dealer, caller } = setup("first", 0);
  const [a, b] = [1, 2].map((id) => fakeSession(id, { features: ["callee.call_canceling"] })) as [
    FakeSession,
    FakeSession,
  ];
  for (const c of [a, b]) {
    dealer.register(c, "com.p", "exact", { invoke: "first", forward_timeout: true });
  }
  dealer.call(caller, call(1, { timeout: 100 }), false);
  assert.equal(last(a).details.timeout, 100);
  clock.advance(40);
  unavailable(dealer, a);
  assert.equal(last(b).details.timeout, 60, "b is told what is left of the timeout");
  clock.advance(59);
  assert.deepEqual(errorsOf(caller), []);
  clock.advance(1);
  assert.equal(errorsOf(caller)[0]?.error, "wamp.error.canceled");
  assert.equal(a.of(T.INTERRUPT).length, 0, "a already answered");
  assert.deepEqual(b.of(T.INTERRUPT), [{
    type: T.INTERRUPT,
    request: last(b).request,
    options: { mode: "killnowait", reason: "wamp.error.canceled" },
  }]);
});

Deno.test("re-routing: CANCEL reaches the callee the call moved to", () => {
  const { dealer, caller } = setup("first", 0);
  const [a, b] = [1, 2].map((id) => fakeSession(id, { features: ["callee.call_canceling"] })) as [
    FakeSession,
    FakeSession,
  ];
  for (const c of [a, b]) dealer.register(c, "com.p", "exact", { invoke: "first" });
  dealer.call(caller, call(1), false);
  unavailable(dealer, a);
  dealer.cancel(caller, { type: T.CANCEL, request: 1, options: { mode: "killnowait" } });
  assert.equal(a.of(T.INTERRUPT).length, 0);
  assert.equal((b.of(T.INTERRUPT)[0] as { request: number }).request, last(b).request);
  assert.equal(errorsOf(caller)[0]?.error, "wamp.error.canceled");
});

Deno.test("re-routing: a callee that leaves while holding a moved call ends it with canceled", () => {
  const { dealer, callees, caller } = setup("first");
  const [a, b, c] = callees as [FakeSession, FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  unavailable(dealer, a);
  dealer.removeSession(a); // the unavailable callee leaving changes nothing for the call
  assert.deepEqual(errorsOf(caller), []);
  dealer.removeSession(b);
  assert.equal(errorsOf(caller)[0]?.error, "wamp.error.canceled");
  assert.equal(invocations(c).length, 0, "a callee leaving is not re-routed");
});

Deno.test("re-routing: callees that left are skipped, callees that joined meanwhile are tried", () => {
  const { dealer, callees, caller } = setup("first");
  const [a, b, c] = callees as [FakeSession, FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  dealer.removeSession(b);
  const d = fakeSession(4);
  dealer.register(d, "com.p", "exact", { invoke: "first" });
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 0);
  assert.equal(invocations(c).length, 1);
  unavailable(dealer, c);
  assert.equal(invocations(d).length, 1, "d registered after the call started");
  unavailable(dealer, d);
  assert.equal(errorsOf(caller)[0]?.error, NO_AVAILABLE);
});

Deno.test("re-routing: every callee leaving the registration ends a moving call with no_available_callee", () => {
  const { dealer, callees, caller } = setup("first", 2);
  const [a, b] = callees as [FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  dealer.unregister(b, dealer.match("com.p")!.id);
  unavailable(dealer, a);
  assert.equal(errorsOf(caller)[0]?.error, NO_AVAILABLE);
});

Deno.test("re-routing: a late answer from the callee that was unavailable is dropped", () => {
  const { dealer, callees, caller } = setup("first", 2);
  const [a, b] = callees as [FakeSession, FakeSession];
  dealer.call(caller, call(1), false);
  const old = last(a).request;
  unavailable(dealer, a);
  dealer.yield(a, { type: T.YIELD, request: old, options: {}, args: ["late"] });
  assert.equal(caller.of(T.RESULT).length, 0, "no protocol violation, no result");
  dealer.yield(b, { type: T.YIELD, request: last(b).request, options: {}, args: ["b"] });
  assert.deepEqual((caller.of(T.RESULT)[0] as Result).args, ["b"]);
});

Deno.test("re-routing: progressive results already sent pin the call; the error goes through", () => {
  const features = ["callee.progressive_call_results"];
  const { dealer, callees, caller } = setup("first", 2, features);
  const [a, b] = callees as [FakeSession, FakeSession];
  dealer.call(caller, call(1, { receive_progress: true }), false);
  assert.equal(last(a).details.receive_progress, true);
  dealer.yield(a, { type: T.YIELD, request: last(a).request, options: { progress: true } });
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 0);
  assert.equal(errorsOf(caller)[0]?.error, UNAVAILABLE);
});

Deno.test("re-routing: progressive call invocations move while only the first chunk was sent", () => {
  const features = ["callee.progressive_call_invocations"];
  const { dealer, caller } = setup("first", 0);
  const a = fakeSession(1, { features });
  const plain = fakeSession(2); // cannot take a progressive invocation: skipped
  const c = fakeSession(3, { features });
  for (const s of [a, plain, c]) dealer.register(s, "com.p", "exact", { invoke: "first" });
  dealer.call(caller, call(1, { progress: true }, ["chunk1"]), false);
  unavailable(dealer, a);
  assert.equal(invocations(plain).length, 0);
  assert.deepEqual(last(c).details, { progress: true });
  assert.deepEqual(last(c).args, ["chunk1"]);
  dealer.call(caller, call(1, {}, ["chunk2"]), false);
  assert.equal(invocations(c).length, 2, "later chunks follow the call to its new callee");
  assert.equal(invocations(a).length, 1);
  assert.equal(last(c).request, invocations(c)[0]!.request);
  dealer.yield(c, { type: T.YIELD, request: last(c).request, options: {}, args: ["ok"] });
  assert.deepEqual((caller.of(T.RESULT)[0] as Result).args, ["ok"]);
});

Deno.test("re-routing: after a later chunk went to the callee, the call cannot move", () => {
  const features = ["callee.progressive_call_invocations"];
  const { dealer, callees, caller } = setup("first", 2, features);
  const [a, b] = callees as [FakeSession, FakeSession];
  dealer.call(caller, call(1, { progress: true }, ["chunk1"]), false);
  dealer.call(caller, call(1, { progress: true }, ["chunk2"]), false);
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 0);
  assert.equal(errorsOf(caller)[0]?.error, UNAVAILABLE);
  // the caller's remaining chunks are dropped, not a new call
  dealer.call(caller, call(1, {}, ["chunk3"]), false);
  assert.equal(invocations(b).length, 0);
  assert.equal(invocations(a).length, 2);
});

Deno.test("re-routing: a call canceled with mode kill is not moved", () => {
  const { dealer, caller } = setup("first", 0);
  const [a, b] = [1, 2].map((id) => fakeSession(id, { features: ["callee.call_canceling"] })) as [
    FakeSession,
    FakeSession,
  ];
  for (const c of [a, b]) dealer.register(c, "com.p", "exact", { invoke: "first" });
  dealer.call(caller, call(1), false);
  dealer.cancel(caller, { type: T.CANCEL, request: 1, options: { mode: "kill" } });
  unavailable(dealer, a);
  assert.equal(invocations(b).length, 0);
  assert.equal(errorsOf(caller)[0]?.error, UNAVAILABLE);
});

Deno.test("nextCallee: policies over a plain list (unit)", () => {
  const s = (id: number) => ({ session: { id } as unknown as SessionRef });
  const list = [s(1), s(2), s(3), s(4)];
  const tried = new Set([list[1]!.session]);
  const all = () => true;
  const id = (r: { callee: { session: SessionRef } } | null) => r?.callee.session.id ?? null;
  assert.equal(id(nextCallee("first", list, 0, tried, all, Math.random)), 1);
  assert.equal(id(nextCallee("last", list, 0, tried, all, Math.random)), 4);
  assert.deepEqual(nextCallee("roundrobin", list, 1, tried, all, Math.random)?.position, 3);
  assert.equal(id(nextCallee("roundrobin", list, 1, tried, all, Math.random)), 3);
  assert.equal(id(nextCallee("roundrobin", list, 3, tried, all, Math.random)), 4);
  assert.equal(id(nextCallee("random", list, 0, tried, all, () => 0.99)), 4);
  assert.equal(id(nextCallee("random", list, 0, tried, all, () => 0)), 1);
  assert.equal(nextCallee("single", list, 0, tried, all, Math.random), null);
  const everyone = new Set(list.map((x) => x.session));
  for (const p of ["first", "last", "roundrobin", "random"]) {
    assert.equal(nextCallee(p, list, 0, everyone, all, Math.random), null, p);
    assert.equal(nextCallee(p, [], 0, new Set(), all, Math.random), null, p);
  }
  assert.equal(id(nextCallee("first", list, 0, tried, (c) => c.session.id > 2, Math.random)), 3);
});

// ---- raw WAMP frames over real WebSockets ----------------------------------------------------

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`re-routing over raw ${ser} frames: WELCOME announces it; unavailable moves the call`, async () => {
    await using r = await startRouter();
    const join = async () => await RawClient.join(r.url, ser);
    const ja = await join();
    await using a = ja.client;
    const features = (ja.welcome[2] as { roles: { dealer: { features: Dict } } }).roles.dealer
      .features;
    assert.equal(features.call_reroute, true);
    await using b = (await join()).client;
    await using caller = (await join()).client;
    for (const c of [a, b]) {
      c.send([64, 1, { invoke: "roundrobin" }, "com.raw"]);
      assert.equal((await c.next())[0], 65);
    }
    caller.send([48, 7, {}, "com.raw", ["x"], { k: 1 }]);
    const inv = await a.next();
    assert.equal(inv[0], 68);
    a.send([8, 68, inv[1], {}, UNAVAILABLE, ["busy"]]);
    const moved = await b.next();
    assert.deepEqual([moved[0], moved[4], moved[5]], [68, ["x"], { k: 1 }]);
    b.send([70, moved[1], {}, ["done"]]);
    assert.deepEqual(await caller.next(), [50, 7, {}, ["done"]]);
    // both unavailable: no_available_callee
    caller.send([48, 8, {}, "com.raw"]);
    for (const c of [a, b]) {
      const i = await c.next();
      assert.equal(i[0], 68);
      c.send([8, 68, i[1], {}, UNAVAILABLE]);
    }
    const err = await caller.next();
    assert.deepEqual([err[0], err[1], err[2], err[4]], [8, 48, 8, NO_AVAILABLE]);
  });
}

// ---- AutobahnJS callees over real WebSockets --------------------------------------------------

function isAbError(e: unknown): e is AbError {
  return e instanceof autobahn.Error;
}

for (const ser of SERIALIZERS) {
  Deno.test(`re-routing with AutobahnJS callees (${ser})`, async () => {
    await using r = await startRouter();
    const served: string[] = [];
    const callee = async (name: string, available: boolean, invoke: string, uri: string) => {
      const c = await AutobahnClient.join(r.url, ser);
      await c.session.register(uri, (args) => {
        served.push(name);
        if (!available) throw new autobahn.Error(UNAVAILABLE, [`${name} is busy`]);
        return new autobahn.Result([`${name}:${String(args?.[0])}`]);
      }, { invoke });
      return c;
    };
    await using a = await callee("a", false, "roundrobin", "com.rr");
    await using b = await callee("b", false, "roundrobin", "com.rr");
    await using c = await callee("c", true, "roundrobin", "com.rr");
    await using caller = await AutobahnClient.join(r.url, ser);
    const result = await deadline(caller.session.call("com.rr", ["x"]), 5000, "CALL") as {
      args: unknown[];
    } | string;
    // AutobahnJS returns a single positional result as the value itself
    const value = typeof result === "string" ? result : result.args[0];
    assert.equal(value, "c:x");
    assert.deepEqual(served, ["a", "b", "c"]);

    // every callee unavailable: no_available_callee, each tried once (first: in order)
    served.length = 0;
    await using d = await callee("d", false, "first", "com.first");
    await using e = await callee("e", false, "first", "com.first");
    const err = await rejection(() => caller.session.call("com.first", [1]), "CALL com.first");
    assert.ok(isAbError(err), String(err));
    assert.equal(err.error, NO_AVAILABLE);
    assert.deepEqual(served, ["d", "e"]);
    c.assertHealthy("the serving callee");
    caller.assertHealthy("the caller");
    // AutobahnJS reports each raised autobahn.Error as a handler exception; nothing else
    for (const x of [a, b, d, e]) {
      assert.ok(x.session.isOpen, "an unavailable callee stays joined");
      assert.ok(x.errors.every((m) => m.startsWith("Exception raised in invocation handler")));
    }
  });
}

Deno.test("re-routing with AutobahnJS: the callee a call moved to leaves before answering", async () => {
  await using r = await startRouter();
  const busy = await AutobahnClient.join(r.url, "json");
  await busy.session.register("com.leave", () => {
    throw new autobahn.Error(UNAVAILABLE);
  }, { invoke: "first" });
  const leaver = await AutobahnClient.join(r.url, "json");
  let invoked!: () => void;
  const reached = new Promise<void>((resolve) => invoked = resolve);
  await leaver.session.register("com.leave", () => {
    invoked();
    return new Promise(() => {}); // never answers
  }, { invoke: "first" });
  await using caller = await AutobahnClient.join(r.url, "json");
  const pending = caller.session.call("com.leave").then(
    () => null,
    (e: unknown) => e,
  );
  await deadline(reached, 5000, "the moved INVOCATION");
  await leaver.close();
  const err = await deadline(pending, 5000, "the caller's ERROR");
  assert.ok(isAbError(err), String(err));
  assert.equal(err.error, "wamp.error.canceled");
  await busy.close();
});
