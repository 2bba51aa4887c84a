/**
 * Dealer features announced in WELCOME, with raw WAMP messages over real WebSockets, on JSON
 * and MessagePack: shared and pattern-based registrations, caller identification,
 * progressive results, canceling, timeouts and cleanup.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

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
