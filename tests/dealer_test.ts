/**
 * Dealer features announced in WELCOME, with raw WAMP messages over real WebSockets, on JSON
 * and MessagePack: shared and pattern-based registrations, caller identification,
 * progressive results, canceling, timeouts and cleanup. Then the `Dealer` class on its own,
 * in-process: fake sessions, a fake clock, no router and no sockets.
 */

import assert from "node:assert/strict";
import { FakeClock, MAX_TIMER_MS } from "../src/clock.ts";
import { Dealer, type DealerObserver, type Registration } from "../src/router/dealer.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { ProtocolError, WampError } from "../src/wamp/errors.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import type {
  Call,
  Dict,
  ErrorMessage,
  Interrupt,
  Invocation,
  Result,
} from "../src/wamp/messages.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";
import { type FakeSession, fakeSession } from "./_session_ref.ts";

type D = Record<string, unknown>;

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`dealer over ${ser}`, async (t) => {
    await using r = await startRouter(testConfig({
      roles: [{
        name: "anonymous",
        permissions: [
          {
            uri: "",
            match: "prefix",
            allow: { call: true, register: true, publish: true, subscribe: true },
          },
          {
            uri: "com.disclosed.",
            match: "prefix",
            allow: { call: true, register: true },
            disclose: { caller: true },
          },
        ],
      }],
    }));
    const join = async () => (await RawClient.join(r.url, ser)).client;

    await t.step("WELCOME announces the dealer features that are implemented", async () => {
      const j = await RawClient.join(r.url, ser);
      await using _c = j.client;
      const features = ((j.welcome[2] as D).roles as { dealer: { features: D } }).dealer.features;
      assert.deepEqual(Object.keys(features).sort(), [
        "call_canceling",
        "call_reroute",
        "call_timeout",
        "caller_identification",
        "pattern_based_registration",
        "payload_passthru_mode",
        "progressive_call_invocations",
        "progressive_call_results",
        "registration_meta_api",
        "registration_revocation",
        "session_meta_api",
        "shared_registration",
        "testament_meta_api",
      ]);
    });

    await t.step(
      "shared registrations: roundrobin, first, last; conflicting policies",
      async () => {
        await using a = await join();
        await using b = await join();
        await using caller = await join();
        a.send([64, 1, { invoke: "roundrobin" }, "com.rr"]);
        b.send([64, 1, { invoke: "roundrobin" }, "com.rr"]);
        const ra = await a.next();
        const rb = await b.next();
        assert.equal(ra[2], rb[2], "one registration id shared by both callees");
        const served: string[] = [];
        for (let i = 1; i <= 4; i++) {
          caller.send([48, i, {}, "com.rr"]);
          // wait (bounded) until one callee has the INVOCATION, then check the other has none
          for (let t = 0; t < 600 && a.received.length + b.received.length === 0; t++) {
            await new Promise((res) => setTimeout(res, 5));
          }
          const [atA, atB] = [await a.quiet(20), await b.quiet(0)];
          assert.equal(atA.length + atB.length, 1, "exactly one callee is invoked");
          const who = atA.length ? "a" : "b";
          const inv = atA.length ? atA[0]! : atB[0]!;
          served.push(who);
          (who === "a" ? a : b).send([70, inv[1], {}, [who]]);
          assert.deepEqual((await caller.next())[3], [who]);
        }
        assert.deepEqual(served, ["a", "b", "a", "b"]);
        // a different policy on the same procedure fails
        caller.send([64, 9, { invoke: "random" }, "com.rr"]);
        assert.equal(
          (await caller.next())[4],
          "wamp.error.procedure_exists_with_different_invocation_policy",
        );
        // first / last
        a.send([64, 2, { invoke: "first" }, "com.fl"]);
        b.send([64, 2, { invoke: "first" }, "com.fl"]);
        await a.next();
        await b.next();
        caller.send([48, 10, {}, "com.fl"]);
        const inv = await a.next();
        assert.equal(inv[0], 68);
        a.send([70, inv[1], {}]);
        assert.equal((await caller.next())[0], 50);
        assert.deepEqual(await b.quiet(50), []);
        a.send([64, 3, { invoke: "last" }, "com.last"]);
        b.send([64, 3, { invoke: "last" }, "com.last"]);
        await a.next();
        await b.next();
        caller.send([48, 11, {}, "com.last"]);
        const invb = await b.next();
        b.send([70, invb[1], {}]);
        assert.equal((await caller.next())[0], 50);
        // invalid policy
        caller.send([64, 12, { invoke: "sometimes" }, "com.bad"]);
        assert.equal((await caller.next())[4], "wamp.error.invalid_argument");
      },
    );

    await t.step(
      "pattern-based registrations: exact > longest prefix > best wildcard",
      async () => {
        await using callee = await join();
        await using caller = await join();
        const regs: Record<string, unknown> = {};
        const reg = async (uri: string, match: string) => {
          callee.send([64, Object.keys(regs).length + 1, { match }, uri]);
          const m = await callee.next();
          assert.equal(m[0], 65, JSON.stringify(m));
          regs[`${match}:${uri}`] = m[2];
        };
        await reg("a1.b2.c3", "exact");
        await reg("a1.b2", "prefix");
        await reg("a1", "prefix");
        await reg("a1...d4", "wildcard");
        await reg("a1.b2..d4", "wildcard");
        const route = async (req: number, procedure: string) => {
          caller.send([48, req, {}, procedure]);
          const inv = await callee.next();
          callee.send([70, inv[1], {}]);
          await caller.next();
          return { reg: inv[2], details: inv[3] as D };
        };
        let got = await route(1, "a1.b2.c3");
        assert.equal(got.reg, regs["exact:a1.b2.c3"]);
        assert.equal(got.details.procedure, undefined);
        got = await route(2, "a1.b2.c3.d4");
        assert.equal(got.reg, regs["prefix:a1.b2"]);
        assert.equal(got.details.procedure, "a1.b2.c3.d4");
        got = await route(3, "a1.x.c3");
        assert.equal(got.reg, regs["prefix:a1"]);
        // wildcards: only when no prefix matches, so test on a fresh tree
        callee.send([64, 50, { match: "wildcard" }, "w1...d4"]);
        const w1 = (await callee.next())[2];
        callee.send([64, 51, { match: "wildcard" }, "w1.b2..d4"]);
        const w2 = (await callee.next())[2];
        got = await route(4, "w1.b2.c3.d4");
        assert.equal(got.reg, w2);
        assert.equal(got.details.procedure, "w1.b2.c3.d4");
        got = await route(5, "w1.x.c3.d4");
        assert.equal(got.reg, w1);
        caller.send([48, 6, {}, "w1.b2.c3"]);
        assert.equal((await caller.next())[4], "wamp.error.no_such_procedure");
      },
    );

    await t.step("caller identification: disclose_me, permission, disclose_caller", async () => {
      await using callee = await join();
      const cj = await RawClient.join(r.url, ser);
      await using caller = cj.client;
      callee.send([64, 1, {}, "com.plain"]);
      callee.send([64, 2, {}, "com.disclosed.proc"]);
      callee.send([64, 3, { disclose_caller: true }, "com.regdisclose"]);
      for (let i = 0; i < 3; i++) assert.equal((await callee.next())[0], 65);
      const details = async (req: number, proc: string, options: D = {}) => {
        caller.send([48, req, options, proc]);
        const inv = await callee.next();
        callee.send([70, inv[1], {}]);
        await caller.next();
        return inv[3] as D;
      };
      assert.equal((await details(1, "com.plain")).caller, undefined);
      const d1 = await details(2, "com.plain", { disclose_me: true });
      assert.equal(d1.caller, cj.session);
      assert.equal(d1.caller_authrole, "anonymous");
      assert.equal(d1.caller_authid, (cj.welcome[2] as D).authid);
      assert.equal((await details(3, "com.disclosed.proc")).caller, cj.session);
      assert.equal((await details(4, "com.regdisclose")).caller, cj.session);
    });

    await t.step("progressive call results", async () => {
      await using callee = await join();
      await using caller = await join();
      callee.send([64, 1, {}, "com.progress"]);
      await callee.next();
      caller.send([48, 7, { receive_progress: true }, "com.progress", [3]]);
      const inv = await callee.next();
      assert.equal((inv[3] as D).receive_progress, true);
      callee.send([70, inv[1], { progress: true }, [1]]);
      callee.send([70, inv[1], { progress: true }, [2]]);
      callee.send([70, inv[1], {}, [3]]);
      assert.deepEqual(await caller.next(), [50, 7, { progress: true }, [1]]);
      assert.deepEqual(await caller.next(), [50, 7, { progress: true }, [2]]);
      assert.deepEqual(await caller.next(), [50, 7, {}, [3]]);
      // without receive_progress, progressive yields are not forwarded
      caller.send([48, 8, {}, "com.progress"]);
      const inv2 = await callee.next();
      assert.equal((inv2[3] as D).receive_progress, undefined);
      callee.send([70, inv2[1], { progress: true }, ["p"]]);
      callee.send([70, inv2[1], {}, ["final"]]);
      assert.deepEqual(await caller.next(), [50, 8, {}, ["final"]]);
    });

    await t.step("call canceling: skip, kill, killnowait; late answers dropped", async () => {
      await using callee = await join();
      await using caller = await join();
      callee.send([64, 1, {}, "com.cancel"]);
      await callee.next();
      // skip: error now, no INTERRUPT, late YIELD dropped
      caller.send([48, 1, {}, "com.cancel"]);
      const i1 = await callee.next();
      caller.send([49, 1, { mode: "skip" }]);
      const e1 = await caller.next();
      assert.equal(e1[0], 8);
      assert.equal(e1[4], "wamp.error.canceled");
      callee.send([70, i1[1], {}, ["late"]]);
      assert.deepEqual(await callee.quiet(50), []);
      assert.deepEqual(await caller.quiet(50), []);
      // kill: INTERRUPT, and the caller gets the callee's answer
      caller.send([48, 2, {}, "com.cancel"]);
      const i2 = await callee.next();
      caller.send([49, 2, { mode: "kill" }]);
      const int2 = await callee.next();
      assert.deepEqual(int2.slice(0, 2), [69, i2[1]]);
      assert.equal((int2[2] as D).mode, "kill");
      assert.deepEqual(await caller.quiet(50), []);
      callee.send([8, 68, i2[1], {}, "wamp.error.canceled", ["stopped"]]);
      const e2 = await caller.next();
      assert.equal(e2[2], 2);
      assert.equal(e2[4], "wamp.error.canceled");
      assert.deepEqual(e2[5], ["stopped"]);
      // killnowait (also the default without mode): INTERRUPT and an error at once
      caller.send([48, 3, {}, "com.cancel"]);
      const i3 = await callee.next();
      caller.send([49, 3, {}]);
      const [int3, e3] = [await callee.next(), await caller.next()];
      assert.equal(int3[0], 69);
      assert.equal(int3[1], i3[1]);
      assert.equal((int3[2] as D).mode, "killnowait");
      assert.equal(e3[4], "wamp.error.canceled");
      callee.send([70, i3[1], {}]);
      assert.deepEqual(await caller.quiet(50), []);
      // CANCEL of an unknown call is ignored
      caller.send([49, 99, { mode: "kill" }]);
      assert.deepEqual(await caller.quiet(50), []);
    });

    await t.step("a callee without call_canceling gets no INTERRUPT (skip)", async () => {
      await using plain = await RawClient.connect(r.url, ser);
      plain.send([1, "realm1", { roles: { callee: {} } }]);
      await plain.next();
      await using caller = await join();
      plain.send([64, 1, {}, "com.nocancel"]);
      await plain.next();
      caller.send([48, 1, {}, "com.nocancel"]);
      await plain.next();
      caller.send([49, 1, { mode: "kill" }]);
      assert.equal((await caller.next())[4], "wamp.error.canceled");
      assert.deepEqual(await plain.quiet(50), []);
    });

    await t.step(
      "call timeout (ms): canceled to the caller, INTERRUPT to the callee, forward_timeout",
      async () => {
        await using callee = await join();
        await using caller = await join();
        callee.send([64, 1, { forward_timeout: true }, "com.slow"]);
        await callee.next();
        caller.send([48, 1, { timeout: 100 }, "com.slow"]);
        const inv = await callee.next();
        assert.equal((inv[3] as D).timeout, 100);
        const err = await caller.next();
        assert.equal(err[4], "wamp.error.canceled");
        assert.match(String((err[5] as unknown[])[0]), /timed out after 100 ms/);
        const int = await callee.next();
        assert.equal(int[0], 69);
        assert.equal((int[2] as D).mode, "killnowait");
        callee.send([70, inv[1], {}]);
        assert.deepEqual(await caller.quiet(50), []);
        caller.send([48, 2, { timeout: -5 }, "com.slow"]);
        assert.equal((await caller.next())[4], "wamp.error.invalid_argument");
      },
    );

    await t.step("a caller that leaves interrupts its calls", async () => {
      await using callee = await join();
      const caller = await join();
      callee.send([64, 1, {}, "com.leaving"]);
      await callee.next();
      caller.send([48, 1, {}, "com.leaving"]);
      const inv = await callee.next();
      await caller[Symbol.asyncDispose]();
      const int = await callee.next();
      assert.deepEqual(int.slice(0, 2), [69, inv[1]]);
    });

    await t.step(
      "YIELD for an INVOCATION that was never sent is a protocol violation",
      async () => {
        await using callee = await join();
        callee.send([70, 4242, {}]);
        const abort = await callee.next();
        assert.equal(abort[0], 3);
        assert.equal(abort[2], "wamp.error.protocol_violation");
      },
    );
  });
}

// ---- the Dealer in-process ---------------------------------------------------------------

/** What a callee announces when it can be interrupted and send progressive results. */
const CANCELING = ["callee.call_canceling", "callee.progressive_call_results"];

function callMsg(request: number, procedure: string, options: Dict = {}, args?: unknown[]): Call {
  const m: Call = { type: T.CALL, request, options, procedure };
  if (args) m.args = args;
  return m;
}

function invocations(s: FakeSession): Invocation[] {
  return s.of(T.INVOCATION) as Invocation[];
}

function lastInvocation(s: FakeSession): Invocation {
  const all = invocations(s);
  assert.ok(all.length > 0, "an INVOCATION");
  return all[all.length - 1]!;
}

function errors(s: FakeSession): ErrorMessage[] {
  return s.of(T.ERROR) as ErrorMessage[];
}

function interrupts(s: FakeSession): Interrupt[] {
  return s.of(T.INTERRUPT) as Interrupt[];
}

function assertWampError(fn: () => unknown, uri: string): void {
  assert.throws(fn, (e: unknown) => e instanceof WampError && e.uri === uri);
}

/** An observer that records its calls as `hook session-id registration-uri` (and call times). */
function recordingObserver(): DealerObserver & { calls: string[]; done: number[] } {
  const calls: string[] = [];
  const done: number[] = [];
  const rec = (hook: string) => (s: SessionRef, reg: Registration) =>
    calls.push(`${hook} ${s.id} ${reg.uri}`);
  return {
    calls,
    done,
    onCreate: rec("create"),
    onRegister: rec("register"),
    onUnregister: rec("unregister"),
    onDelete: rec("delete"),
    onCallDone: (ms) => done.push(ms),
  };
}

Deno.test("Dealer: register, call and yield give the caller a RESULT", () => {
  const clock = new FakeClock();
  const observer = recordingObserver();
  const dealer = new Dealer(clock, observer);
  const callee = fakeSession(1);
  const caller = fakeSession(2, { authid: "carl", authrole: "user" });
  const reg = dealer.register(callee, "com.add", "exact", {});
  assert.equal(reg.invoke, "single");
  assert.equal(dealer.match("com.add"), reg);
  assert.equal(dealer.get(reg.id), reg);
  assert.equal(dealer.lookup("com.add", "exact"), reg);
  assert.equal(dealer.match("com.sub"), undefined);

  dealer.call(caller, { ...callMsg(7, "com.add", {}, [2, 3]), kwargs: { k: 1 } }, false);
  const inv = lastInvocation(callee);
  assert.deepEqual(inv, {
    type: T.INVOCATION,
    request: inv.request,
    registration: reg.id,
    details: {},
    args: [2, 3],
    kwargs: { k: 1 },
  });
  assert.ok(dealer.hasOpenCall(caller, 7));
  assert.equal(dealer.hasOpenCall(caller, 8), false);
  assert.equal(dealer.hasOpenCall(callee, 7), false, "open calls are by caller");
  assert.deepEqual(dealer.openCalls(caller), { asCaller: 1, asCallee: 0 });
  assert.deepEqual(dealer.openCalls(callee), { asCaller: 0, asCallee: 1 });
  assert.throws(() => dealer.call(caller, callMsg(7, "com.add"), false), ProtocolError);

  clock.advance(25);
  dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {}, args: [5] });
  assert.deepEqual(caller.of(T.RESULT), [{ type: T.RESULT, request: 7, details: {}, args: [5] }]);
  assert.equal(dealer.hasOpenCall(caller, 7), false);
  assert.deepEqual(dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  assert.deepEqual(dealer.openCalls(callee), { asCaller: 0, asCallee: 0 });
  assert.deepEqual(observer.done, [25], "the call's duration on the dealer's clock");
  // a late second YIELD for the same invocation is dropped; one never sent is a violation
  dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {} });
  assert.equal(caller.sent.length, 1);
  assert.throws(
    () => dealer.yield(callee, { type: T.YIELD, request: inv.request + 1, options: {} }),
    ProtocolError,
  );

  // caller disclosure: asked by the caller (disclose) or by the callee (disclose_caller)
  dealer.call(caller, callMsg(8, "com.add"), true);
  assert.deepEqual(lastInvocation(callee).details, {
    caller: 2,
    caller_authid: "carl",
    caller_authrole: "user",
  });
  assertWampError(
    () => dealer.call(caller, callMsg(9, "com.none"), false),
    "wamp.error.no_such_procedure",
  );
});

Deno.test("Dealer: a pattern registration's INVOCATION names the procedure called", () => {
  const dealer = new Dealer(new FakeClock());
  const callee = fakeSession(1);
  const caller = fakeSession(2);
  const prefix = dealer.register(callee, "com.p", "prefix", { disclose_caller: true });
  const wildcard = dealer.register(callee, "com..run", "wildcard", {});
  const exact = dealer.register(callee, "com.p.exact", "exact", {});
  assert.equal(dealer.match("com.p.exact"), exact, "an exact registration wins");
  assert.equal(dealer.match("com.p.x.run"), prefix, "then the longest prefix");
  assert.equal(dealer.match("com.q.run"), wildcard);
  dealer.call(caller, callMsg(1, "com.p.x.run"), false);
  assert.deepEqual(lastInvocation(callee).details, {
    caller: 2,
    caller_authid: "s2",
    caller_authrole: "anonymous",
    procedure: "com.p.x.run",
  });
  assert.equal(lastInvocation(callee).registration, prefix.id);
  dealer.call(caller, callMsg(2, "com.q.run"), false);
  assert.deepEqual(lastInvocation(callee).details, { procedure: "com.q.run" });
});

Deno.test("Dealer: shared registrations and their invocation policies", () => {
  const observer = recordingObserver();
  const dealer = new Dealer(new FakeClock(), observer);
  const [a, b, c] = [1, 2, 3].map((id) => fakeSession(id));
  const caller = fakeSession(9);

  // single: a second callee is refused
  dealer.register(a!, "com.single", "exact", {});
  assertWampError(
    () => dealer.register(b!, "com.single", "exact", {}),
    "wamp.error.procedure_already_exists",
  );
  assertWampError(
    () => dealer.register(b!, "com.single", "exact", { invoke: "single" }),
    "wamp.error.procedure_already_exists",
  );
  assertWampError(
    () => dealer.register(b!, "com.single", "exact", { invoke: "roundrobin" }),
    "wamp.error.procedure_already_exists",
  );
  assertWampError(
    () => dealer.register(a!, "com.x", "exact", { invoke: "fastest" }),
    "wamp.error.invalid_argument",
  );
  assertWampError(
    () => dealer.register(a!, "com.x", "exact", { invoke: 1 }),
    "wamp.error.invalid_argument",
  );

  /** Which callee gets each of `n` calls to `uri`. */
  let request = 0;
  const served = (uri: string, n: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const before = [a, b, c].map((s) => invocations(s!).length);
      dealer.call(caller, callMsg(++request, uri), false);
      out.push([a, b, c].find((s, j) => invocations(s!).length > before[j]!)!.id);
    }
    return out;
  };
  for (const invoke of ["roundrobin", "first", "last", "random"]) {
    const reg = dealer.register(a!, `com.${invoke}`, "exact", { invoke });
    assert.equal(dealer.register(b!, `com.${invoke}`, "exact", { invoke }), reg, "shared");
    dealer.register(c!, `com.${invoke}`, "exact", { invoke });
    assert.deepEqual(reg.callees.map((x) => x.session.id), [1, 2, 3], "in registration order");
    assert.equal(dealer.register(a!, `com.${invoke}`, "exact", { invoke }), reg, "again: no-op");
    assert.equal(reg.callees.length, 3);
    const other = invoke === "first" ? "last" : "first";
    assertWampError(
      () => dealer.register(fakeSession(4), `com.${invoke}`, "exact", { invoke: other }),
      "wamp.error.procedure_exists_with_different_invocation_policy",
    );
  }
  assert.deepEqual(served("com.roundrobin", 5), [1, 2, 3, 1, 2]);
  assert.deepEqual(served("com.first", 2), [1, 1]);
  assert.deepEqual(served("com.last", 2), [3, 3]);
  const random = Math.random;
  try {
    const draws = [0.99, 0, 0.5, 0.34];
    Math.random = () => draws.shift()!;
    assert.deepEqual(served("com.random", 4), [3, 1, 2, 2], "the callee Math.random picks");
  } finally {
    Math.random = random;
  }

  // the roundrobin turn survives a callee leaving
  dealer.unregister(b!, dealer.lookup("com.roundrobin", "exact")!.id);
  assert.deepEqual(served("com.roundrobin", 3), [1, 3, 1]);
  // first and last follow the registration order as callees come and go
  dealer.unregister(a!, dealer.lookup("com.first", "exact")!.id);
  dealer.register(a!, "com.first", "exact", { invoke: "first" });
  assert.deepEqual(served("com.first", 1), [2]);
  assert.deepEqual(
    observer.calls.filter((x) => x.endsWith("com.first")),
    [
      "create 1 com.first",
      "register 1 com.first",
      "register 2 com.first",
      "register 3 com.first",
      "unregister 1 com.first",
      "register 1 com.first",
    ],
  );
});

Deno.test("Dealer: registrationsOf, unregister and deletion with the last callee", () => {
  const observer = recordingObserver();
  const dealer = new Dealer(new FakeClock(), observer);
  const a = fakeSession(1);
  const b = fakeSession(2);
  const shared = dealer.register(a, "com.shared", "exact", { invoke: "roundrobin" });
  dealer.register(b, "com.shared", "exact", { invoke: "roundrobin" });
  const own = dealer.register(a, "com.own", "prefix", {});
  assert.deepEqual(new Set(dealer.registrationsOf(a)), new Set([shared, own]));
  assert.deepEqual(dealer.registrationsOf(b), [shared]);
  assert.deepEqual(dealer.registrationsOf(fakeSession(3)), []);
  observer.calls.length = 0;

  assert.equal(dealer.unregister(a, own.id), own);
  assert.equal(dealer.get(own.id), undefined);
  assertWampError(() => dealer.unregister(a, own.id), "wamp.error.no_such_registration");
  assertWampError(
    () => dealer.unregister(fakeSession(3), shared.id),
    "wamp.error.no_such_registration",
  );
  dealer.unregister(a, shared.id);
  assert.equal(dealer.get(shared.id), shared, "b is still a callee");
  dealer.removeSession(b);
  assert.equal(dealer.get(shared.id), undefined);
  assert.deepEqual([...dealer.all()], []);
  assert.deepEqual(dealer.registrationsOf(a), []);
  assert.deepEqual(observer.calls, [
    "unregister 1 com.own",
    "delete 1 com.own",
    "unregister 1 com.shared",
    "unregister 2 com.shared",
    "delete 2 com.shared",
  ]);
});

Deno.test("Dealer: a callee that leaves mid-call ends the call with canceled", () => {
  const dealer = new Dealer(new FakeClock());
  const callee = fakeSession(1, { features: CANCELING });
  const caller = fakeSession(2);
  dealer.register(callee, "com.leave", "exact", {});
  dealer.call(caller, callMsg(3, "com.leave"), false);
  dealer.call(caller, callMsg(4, "com.leave"), false);
  dealer.removeSession(callee);
  assert.deepEqual(errors(caller).map((e) => [e.requestType, e.request, e.error, e.args]), [
    [T.CALL, 3, "wamp.error.canceled", ["the callee left before answering"]],
    [T.CALL, 4, "wamp.error.canceled", ["the callee left before answering"]],
  ]);
  assert.deepEqual(dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  assert.equal(dealer.match("com.leave"), undefined);
  assert.deepEqual(interrupts(callee), [], "nothing to the session that left");
  assertWampError(
    () => dealer.call(caller, callMsg(5, "com.leave"), false),
    "wamp.error.no_such_procedure",
  );
});

Deno.test("Dealer: a caller that leaves mid-call interrupts callees that announced call_canceling", () => {
  const dealer = new Dealer(new FakeClock());
  const canceling = fakeSession(1, { features: CANCELING });
  const plain = fakeSession(2);
  const caller = fakeSession(3);
  dealer.register(canceling, "com.c", "exact", {});
  dealer.register(plain, "com.p", "exact", {});
  dealer.call(caller, callMsg(1, "com.c"), false);
  dealer.call(caller, callMsg(2, "com.p"), false);
  const inv = lastInvocation(canceling);
  dealer.removeSession(caller);
  assert.deepEqual(interrupts(canceling), [{
    type: T.INTERRUPT,
    request: inv.request,
    options: { mode: "killnowait", reason: "wamp.error.canceled" },
  }]);
  assert.deepEqual(interrupts(plain), []);
  assert.deepEqual(dealer.openCalls(canceling), { asCaller: 0, asCallee: 0 });
  assert.deepEqual(dealer.openCalls(plain), { asCaller: 0, asCallee: 0 });
  // the callees' late answers go nowhere
  dealer.yield(canceling, { type: T.YIELD, request: inv.request, options: {} });
  dealer.error(plain, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: lastInvocation(plain).request,
    details: {},
    error: "com.oops",
  });
  assert.deepEqual(caller.sent, [], "nothing for the caller that left");
});

Deno.test("Dealer: a call timeout on the dealer's clock cancels the call and disarms its timer", () => {
  const clock = new FakeClock();
  const dealer = new Dealer(clock);
  const callee = fakeSession(1, { features: CANCELING });
  const caller = fakeSession(2);
  dealer.register(callee, "com.slow", "exact", { forward_timeout: true });
  dealer.call(caller, callMsg(1, "com.slow", { timeout: 100 }), false);
  const inv = lastInvocation(callee);
  assert.equal(inv.details.timeout, 100, "forward_timeout");
  assert.equal(clock.pendingTimers, 1);
  clock.advance(99);
  assert.deepEqual(errors(caller), []);
  assert.ok(dealer.hasOpenCall(caller, 1));
  clock.advance(1);
  assert.deepEqual(errors(caller).map((e) => [e.request, e.error, e.args]), [
    [1, "wamp.error.canceled", ["call timed out after 100 ms"]],
  ]);
  assert.deepEqual(interrupts(callee), [{
    type: T.INTERRUPT,
    request: inv.request,
    options: { mode: "killnowait", reason: "wamp.error.canceled" },
  }]);
  assert.equal(dealer.hasOpenCall(caller, 1), false);
  assert.equal(clock.pendingTimers, 0, "no timer left armed");
  dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {} });
  assert.deepEqual(caller.of(T.RESULT), [], "the late answer is dropped");

  // answered in time: the timer goes with the call; without forward_timeout none is forwarded
  dealer.register(callee, "com.quick", "exact", {});
  dealer.call(caller, callMsg(2, "com.quick", { timeout: 100 }), false);
  assert.deepEqual(lastInvocation(callee).details, {});
  assert.equal(clock.pendingTimers, 1);
  dealer.yield(callee, { type: T.YIELD, request: lastInvocation(callee).request, options: {} });
  assert.equal(clock.pendingTimers, 0);
  clock.advance(1000);
  assert.equal(errors(caller).length, 1);
  // without a timeout, no timer at all; a bad timeout is refused
  dealer.call(caller, callMsg(3, "com.quick", { timeout: 0 }), false);
  assert.equal(clock.pendingTimers, 0);
  for (const timeout of [-1, 1.5, "100"]) {
    assertWampError(
      () => dealer.call(caller, callMsg(4, "com.quick", { timeout }), false),
      "wamp.error.invalid_argument",
    );
  }
});

Deno.test("Dealer: a timeout longer than one timer can hold is armed in steps", () => {
  const clock = new FakeClock();
  const dealer = new Dealer(clock);
  const callee = fakeSession(1);
  const caller = fakeSession(2);
  dealer.register(callee, "com.long", "exact", {});
  const timeout = MAX_TIMER_MS + 5;
  dealer.call(caller, callMsg(1, "com.long", { timeout }), false);
  clock.advance(MAX_TIMER_MS);
  assert.deepEqual(errors(caller), [], "not yet");
  assert.equal(clock.pendingTimers, 1, "the rest is armed");
  clock.advance(5);
  assert.deepEqual(errors(caller).map((e) => e.args), [[`call timed out after ${timeout} ms`]]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("Dealer: an INVOCATION the callee cannot be sent ends the call with the reason", () => {
  const clock = new FakeClock();
  const dealer = new Dealer(clock);
  for (
    const [outcome, uri] of [
      ["too_large", "wamp.error.payload_size_exceeded"],
      ["unencodable", "wamp.error.invalid_argument"],
    ] as const
  ) {
    const callee = fakeSession(1, {
      outcome: (m) => m.type === T.INVOCATION ? outcome : "sent",
    });
    const caller = fakeSession(2);
    dealer.register(callee, "com.big", "exact", {});
    dealer.call(caller, callMsg(1, "com.big", { timeout: 500 }, ["x"]), false);
    const [err] = errors(caller);
    assert.equal(errors(caller).length, 1);
    assert.deepEqual([err!.requestType, err!.request, err!.error], [T.CALL, 1, uri]);
    assert.match(String(err!.args![0]), /INVOCATION/);
    assert.equal(dealer.hasOpenCall(caller, 1), false);
    assert.deepEqual(dealer.openCalls(callee), { asCaller: 0, asCallee: 0 });
    assert.equal(clock.pendingTimers, 0, "its timeout is disarmed");
    // the same request id may be used again: the call is over
    callee.outcome = () => "sent";
    dealer.call(caller, callMsg(1, "com.big"), false);
    assert.ok(dealer.hasOpenCall(caller, 1));
    dealer.removeSession(callee);
  }
});

Deno.test("Dealer: a RESULT the caller cannot be sent becomes an ERROR", () => {
  const dealer = new Dealer(new FakeClock());
  const callee = fakeSession(1, { features: CANCELING });
  const caller = fakeSession(2, { outcome: (m) => m.type === T.RESULT ? "too_large" : "sent" });
  dealer.register(callee, "com.r", "exact", {});
  dealer.call(caller, callMsg(1, "com.r"), false);
  dealer.yield(callee, { type: T.YIELD, request: lastInvocation(callee).request, options: {} });
  assert.deepEqual(errors(caller).map((e) => [e.request, e.error]), [
    [1, "wamp.error.payload_size_exceeded"],
  ]);
  // a progressive result that cannot be sent ends the call and interrupts the callee
  dealer.call(caller, callMsg(2, "com.r", { receive_progress: true }), false);
  const inv = lastInvocation(callee);
  dealer.yield(callee, { type: T.YIELD, request: inv.request, options: { progress: true } });
  assert.deepEqual(errors(caller).map((e) => e.request), [1, 2]);
  assert.equal(dealer.hasOpenCall(caller, 2), false);
  assert.deepEqual(interrupts(callee), [{
    type: T.INTERRUPT,
    request: inv.request,
    options: { mode: "killnowait", reason: "wamp.error.payload_size_exceeded" },
  }]);
});

Deno.test("Dealer: progressive call results", () => {
  const dealer = new Dealer(new FakeClock());
  const progressive = fakeSession(1, { features: CANCELING });
  const plain = fakeSession(2);
  const caller = fakeSession(3);
  dealer.register(progressive, "com.prog", "exact", {});
  dealer.register(plain, "com.plain", "exact", {});
  dealer.call(caller, callMsg(1, "com.prog", { receive_progress: true }), false);
  const inv = lastInvocation(progressive);
  assert.deepEqual(inv.details, { receive_progress: true });
  for (const n of [1, 2]) {
    dealer.yield(progressive, {
      type: T.YIELD,
      request: inv.request,
      options: { progress: true },
      args: [n],
    });
  }
  assert.ok(dealer.hasOpenCall(caller, 1), "open until the final result");
  dealer.yield(progressive, { type: T.YIELD, request: inv.request, options: {}, args: [3] });
  assert.deepEqual(
    (caller.of(T.RESULT) as Result[]).map((r) => [r.request, r.details, r.args]),
    [[1, { progress: true }, [1]], [1, { progress: true }, [2]], [1, {}, [3]]],
  );
  assert.equal(dealer.hasOpenCall(caller, 1), false);

  // a callee that did not announce progressive results is asked for them all the same, as
  // Crossbar does (wampy's callees send progressive YIELDs without announcing the feature)
  dealer.call(caller, callMsg(2, "com.plain", { receive_progress: true }), false);
  const plainInv = lastInvocation(plain);
  assert.deepEqual(plainInv.details, { receive_progress: true });
  dealer.yield(plain, { type: T.YIELD, request: plainInv.request, options: { progress: true } });
  assert.equal(caller.of(T.RESULT).length, 4);
  assert.deepEqual((caller.of(T.RESULT) as Result[]).at(-1)!.details, { progress: true });
  assert.ok(dealer.hasOpenCall(caller, 2));
  dealer.yield(plain, { type: T.YIELD, request: plainInv.request, options: {}, args: ["done"] });
  assert.deepEqual((caller.of(T.RESULT) as Result[]).at(-1)!.args, ["done"]);
  // progressive YIELDs for a call that did not ask for them are dropped
  dealer.call(caller, callMsg(3, "com.plain", {}), false);
  const quiet = lastInvocation(plain);
  assert.deepEqual(quiet.details, {});
  dealer.yield(plain, { type: T.YIELD, request: quiet.request, options: { progress: true } });
  assert.equal(caller.of(T.RESULT).length, 5);
  assert.ok(dealer.hasOpenCall(caller, 3));
  dealer.yield(plain, { type: T.YIELD, request: quiet.request, options: {}, args: ["end"] });
  assert.deepEqual((caller.of(T.RESULT) as Result[]).at(-1)!.args, ["end"]);
});

Deno.test("Dealer: progressive call invocations go to the same callee under one INVOCATION id", () => {
  const dealer = new Dealer(new FakeClock());
  const callee = fakeSession(1, { features: ["callee.progressive_call_invocations"] });
  const other = fakeSession(2, { features: ["callee.progressive_call_invocations"] });
  const plain = fakeSession(3);
  const caller = fakeSession(4);
  dealer.register(callee, "com.up", "exact", { invoke: "roundrobin" });
  dealer.register(other, "com.up", "exact", { invoke: "roundrobin" });
  dealer.register(plain, "com.plain", "exact", {});
  dealer.call(caller, callMsg(1, "com.up", { progress: true }, ["a"]), false);
  dealer.call(caller, callMsg(1, "com.up", { progress: true }, ["b"]), false);
  dealer.call(caller, callMsg(1, "com.up", {}, ["c"]), false);
  const chunks = invocations(callee);
  assert.deepEqual(chunks.map((i) => [i.details, i.args]), [
    [{ progress: true }, ["a"]],
    [{ progress: true }, ["b"]],
    [{}, ["c"]],
  ]);
  assert.equal(new Set(chunks.map((i) => i.request)).size, 1);
  assert.deepEqual(invocations(other), [], "no chunk went to the other callee");
  assert.throws(
    () => dealer.call(caller, callMsg(1, "com.up"), false),
    ProtocolError,
    "the final chunk was sent: the request id is in use until the call ends",
  );
  // the next call goes round to the other callee; its later chunks must name its procedure
  dealer.call(caller, callMsg(2, "com.up", { progress: true }, ["x"]), false);
  assert.equal(invocations(other).length, 1);
  assert.throws(
    () => dealer.call(caller, callMsg(2, "com.other", { progress: true }), false),
    ProtocolError,
  );
  // a callee without the feature refuses the first chunk; the rest are dropped
  assertWampError(
    () => dealer.call(caller, callMsg(3, "com.plain", { progress: true }), false),
    "wamp.error.feature_not_supported",
  );
  dealer.call(caller, callMsg(3, "com.plain", { progress: true }), false);
  dealer.call(caller, callMsg(3, "com.plain", {}), false);
  assert.deepEqual(invocations(plain), []);
  // after the abandoned call's final chunk, the request id starts a new call again
  dealer.call(caller, callMsg(3, "com.plain", {}), false);
  assert.equal(invocations(plain).length, 1);
});

Deno.test("Dealer: cancel modes skip, killnowait and kill", () => {
  const dealer = new Dealer(new FakeClock());
  const canceling = fakeSession(1, { features: CANCELING });
  const plain = fakeSession(2);
  const caller = fakeSession(3);
  dealer.register(canceling, "com.c", "exact", {});
  dealer.register(plain, "com.p", "exact", {});
  const cancel = (request: number, options: Dict) =>
    dealer.cancel(caller, { type: T.CANCEL, request, options });
  const canceled = () => errors(caller).map((e) => [e.request, e.error]);

  // skip: the caller is answered at once, the callee is not told
  dealer.call(caller, callMsg(1, "com.c"), false);
  cancel(1, { mode: "skip" });
  assert.deepEqual(canceled(), [[1, "wamp.error.canceled"]]);
  assert.deepEqual(interrupts(canceling), []);
  assert.equal(dealer.hasOpenCall(caller, 1), false);

  // killnowait (the default): INTERRUPT and the caller's ERROR at once
  dealer.call(caller, callMsg(2, "com.c"), false);
  const inv2 = lastInvocation(canceling);
  cancel(2, {});
  assert.deepEqual(canceled().at(-1), [2, "wamp.error.canceled"]);
  assert.deepEqual(interrupts(canceling).map((i) => [i.request, i.options.mode]), [
    [inv2.request, "killnowait"],
  ]);
  assert.equal(dealer.hasOpenCall(caller, 2), false);

  // kill: INTERRUPT, and the caller gets the callee's answer when it comes
  dealer.call(caller, callMsg(3, "com.c"), false);
  const inv3 = lastInvocation(canceling);
  cancel(3, { mode: "kill" });
  assert.deepEqual(interrupts(canceling).at(-1), {
    type: T.INTERRUPT,
    request: inv3.request,
    options: { mode: "kill", reason: "wamp.error.canceled" },
  });
  assert.equal(errors(caller).length, 2, "no ERROR yet");
  assert.ok(dealer.hasOpenCall(caller, 3));
  cancel(3, { mode: "kill" }); // a second CANCEL is ignored
  assert.equal(interrupts(canceling).length, 2);
  dealer.error(canceling, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: inv3.request,
    details: {},
    error: "com.stopped",
    args: ["bye"],
  });
  assert.deepEqual(errors(caller).at(-1), {
    type: T.ERROR,
    requestType: T.CALL,
    request: 3,
    details: {},
    error: "com.stopped",
    args: ["bye"],
  });
  assert.equal(dealer.hasOpenCall(caller, 3), false);

  // kill towards a callee that cannot be interrupted: answered at once, nothing sent to it
  dealer.call(caller, callMsg(4, "com.p"), false);
  cancel(4, { mode: "kill" });
  assert.deepEqual(canceled().at(-1), [4, "wamp.error.canceled"]);
  assert.deepEqual(interrupts(plain), []);

  // unknown calls are ignored; an unknown mode is refused and leaves the call open
  cancel(99, {});
  dealer.call(caller, callMsg(5, "com.c"), false);
  assertWampError(() => cancel(5, { mode: "nuke" }), "wamp.error.invalid_argument");
  assert.ok(dealer.hasOpenCall(caller, 5));
});

Deno.test("Dealer: revoke removes a callee and tells it if it announced revocation", () => {
  const observer = recordingObserver();
  const dealer = new Dealer(new FakeClock(), observer);
  const told = fakeSession(1, { features: ["callee.registration_revocation"] });
  const silent = fakeSession(2);
  const reg = dealer.register(told, "com.rv", "exact", { invoke: "first" });
  dealer.register(silent, "com.rv", "exact", { invoke: "first" });
  observer.calls.length = 0;
  dealer.revoke(told, reg, "wamp.error.not_authorized");
  assert.deepEqual(told.sent, [{
    type: T.UNREGISTERED,
    request: 0,
    details: { registration: reg.id, reason: "wamp.error.not_authorized" },
  }]);
  dealer.revoke(told, reg); // no longer a callee
  assert.equal(told.sent.length, 1);
  dealer.revoke(silent, reg);
  assert.deepEqual(silent.sent, []);
  assert.equal(dealer.get(reg.id), undefined);
  assert.deepEqual(observer.calls, [
    "unregister 1 com.rv",
    "unregister 2 com.rv",
    "delete 2 com.rv",
  ]);
});
