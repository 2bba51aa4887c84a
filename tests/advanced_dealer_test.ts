/**
 * Advanced dealer features with raw WAMP messages over real WebSockets, on JSON and
 * MessagePack: progressive call invocations and payload passthru mode for calls, results and
 * errors.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;
type Msg = unknown[];

/** The binary example of the WAMP spec's JSON binary convention and its JSON form. */
const BYTES = Uint8Array.from([
  0x10,
  0xe3,
  0xff,
  0x90,
  0x53,
  0x07,
  0x5c,
  0x52,
  0x6f,
  0x5f,
  0xc0,
  0x6d,
  0x4f,
  0xe3,
  0x7c,
  0xdb,
]);
const BYTES_JSON = "\u0000EOP/kFMHXFJvX8BtT+N82w==";
const REPLY = Uint8Array.from([0, 1, 2, 253, 254, 255]);

const PPT = {
  ppt_scheme: "x_switchboard",
  ppt_serializer: "cbor",
  ppt_cipher: "xsalsa20poly1305",
  ppt_keyid: "key-1",
};

/** Client roles of RawClient.join plus extra features per role. */
function roles(extra: Record<string, D> = {}): D {
  const out: D = {};
  for (const role of ["publisher", "subscriber", "caller", "callee"]) {
    out[role] = { features: { ...(extra[role] ?? {}) } };
  }
  return { roles: out };
}

/** REGISTER; returns the registration id. */
async function register(c: RawClient, procedure: string, options: D = {}): Promise<number> {
  c.send([64, 1, options, procedure]);
  const m = await c.next();
  assert.equal(m[0], 65, `REGISTER ${procedure}: ${JSON.stringify(m)}`);
  return m[2] as number;
}

/** Expects ABORT wamp.error.protocol_violation and the socket closing. */
async function expectAbort(c: RawClient): Promise<void> {
  const m = await c.next();
  assert.equal(m[0], 3, `expected ABORT, got ${JSON.stringify(m)}`);
  assert.equal(m[2], "wamp.error.protocol_violation");
  assert.equal(typeof (m[1] as D).message, "string");
  await c.closed();
}

for (const ser of ["json", "msgpack"] as const) {
  const join = async (url: string, details?: D) =>
    (await RawClient.join(url, ser, "realm1", details)).client;
  const PCI = { progressive_call_invocations: true };

  Deno.test(`progressive call invocations over ${ser}`, async (t) => {
    await using r = await startRouter();

    await t.step("chunks with one request id reach one INVOCATION id", async () => {
      await using callee = await join(r.url, roles({ callee: PCI }));
      await using caller = await join(r.url, roles({ caller: PCI }));
      const reg = await register(callee, "com.pci.upload");
      caller.send([48, 1, { progress: true }, "com.pci.upload", ["a"]]);
      const i1 = await callee.next();
      assert.deepEqual(i1.slice(2), [reg, { progress: true }, ["a"]]);
      const inv = i1[1];
      caller.send([48, 1, { progress: true }, "com.pci.upload", ["b"], { part: 2 }]);
      assert.deepEqual(await callee.next(), [68, inv, reg, { progress: true }, ["b"], { part: 2 }]);
      caller.send([48, 1, {}, "com.pci.upload", ["c"]]);
      assert.deepEqual(await callee.next(), [68, inv, reg, {}, ["c"]], "the last has no progress");
      assert.deepEqual(await caller.quiet(50), []);
      callee.send([70, inv, {}, ["abc"]]);
      assert.deepEqual(await caller.next(), [50, 1, {}, ["abc"]]);

      // the next request id is a new call with a new INVOCATION id
      caller.send([48, 2, {}, "com.pci.upload", ["x"]]);
      const i2 = await callee.next();
      assert.notEqual(i2[1], inv);
      assert.deepEqual(i2.slice(2), [reg, {}, ["x"]]);
      callee.send([70, i2[1], {}]);
      assert.deepEqual(await caller.next(), [50, 2, {}]);

      // the request id of a finished call starts a new call
      caller.send([48, 2, {}, "com.pci.upload", ["again"]]);
      const i3 = await callee.next();
      assert.notEqual(i3[1], i2[1]);
      callee.send([70, i3[1], {}]);
      assert.deepEqual(await caller.next(), [50, 2, {}]);
    });

    await t.step("with progressive results in both directions", async () => {
      await using callee = await join(
        r.url,
        roles({ callee: { ...PCI, progressive_call_results: true } }),
      );
      await using caller = await join(
        r.url,
        roles({ caller: { ...PCI, progressive_call_results: true } }),
      );
      await register(callee, "com.pci.echo");
      caller.send([48, 1, { progress: true, receive_progress: true }, "com.pci.echo", [1]]);
      const i1 = await callee.next();
      assert.deepEqual(i1[3], { progress: true, receive_progress: true });
      callee.send([70, i1[1], { progress: true }, [1]]);
      assert.deepEqual(await caller.next(), [50, 1, { progress: true }, [1]]);
      caller.send([48, 1, { progress: true, receive_progress: true }, "com.pci.echo", [2]]);
      assert.deepEqual(await callee.next(), [68, i1[1], i1[2], { progress: true }, [2]]);
      callee.send([70, i1[1], { progress: true }, [2]]);
      assert.deepEqual(await caller.next(), [50, 1, { progress: true }, [2]]);
      caller.send([48, 1, { receive_progress: true }, "com.pci.echo", [3]]);
      assert.deepEqual(await callee.next(), [68, i1[1], i1[2], {}, [3]]);
      callee.send([70, i1[1], {}, ["done"]]);
      assert.deepEqual(await caller.next(), [50, 1, {}, ["done"]]);
    });

    await t.step("shared registration: all chunks go to the callee picked first", async () => {
      await using a = await join(r.url, roles({ callee: PCI }));
      await using b = await join(r.url, roles({ callee: PCI }));
      await using caller = await join(r.url, roles({ caller: PCI }));
      await register(a, "com.pci.rr", { invoke: "roundrobin" });
      await register(b, "com.pci.rr", { invoke: "roundrobin" });
      caller.send([48, 1, { progress: true }, "com.pci.rr", [1]]);
      const first = await a.next();
      caller.send([48, 1, { progress: true }, "com.pci.rr", [2]]);
      caller.send([48, 1, {}, "com.pci.rr", [3]]);
      assert.deepEqual((await a.next())[4], [2]);
      assert.deepEqual((await a.next())[4], [3]);
      assert.deepEqual(await b.quiet(50), []);
      a.send([70, first[1], {}]);
      assert.deepEqual(await caller.next(), [50, 1, {}]);
      // round robin continues with b for the next call
      caller.send([48, 2, {}, "com.pci.rr"]);
      const nb = await b.next();
      b.send([70, nb[1], {}]);
      assert.deepEqual(await caller.next(), [50, 2, {}]);
    });

    await t.step("a later chunk naming another procedure is a protocol violation", async () => {
      await using callee = await join(r.url, roles({ callee: { ...PCI, call_canceling: true } }));
      await using caller = await join(r.url, roles({ caller: PCI }));
      await register(callee, "com.pci.one");
      caller.send([48, 1, { progress: true }, "com.pci.one", ["a"]]);
      assert.equal((await callee.next())[0], 68);
      // another procedure (even one the caller may not call): ABORT, not a second final reply
      caller.send([48, 1, {}, "wamp.session.kill_all", ["b"]]);
      await expectAbort(caller);
      assert.equal((await callee.next())[0], 69, "the callee's invocation is interrupted");
    });

    await t.step("a callee without the feature: ERROR feature_not_supported", async () => {
      await using callee = await join(r.url);
      await using caller = await join(r.url, roles({ caller: PCI }));
      await register(callee, "com.pci.old");
      caller.send([48, 1, { progress: true }, "com.pci.old", ["a"]]);
      const err = await caller.next();
      assert.deepEqual([err[0], err[1], err[2], err[4]], [
        8,
        48,
        1,
        "wamp.error.feature_not_supported",
      ]);
      assert.deepEqual(await callee.quiet(50), [], "the callee is not invoked");
      // a plain call still works
      caller.send([48, 2, {}, "com.pci.old"]);
      const inv = await callee.next();
      callee.send([70, inv[1], {}]);
      assert.deepEqual(await caller.next(), [50, 2, {}]);
    });

    await t.step("chunks of a refused or ended call are dropped, never a new call", async () => {
      // pipelined chunks to a callee without the feature: one ERROR, the callee never invoked
      await using old = await join(r.url);
      await using caller = await join(r.url, roles({ caller: PCI }));
      await register(old, "com.pci.refused");
      caller.send([48, 1, { progress: true }, "com.pci.refused", ["a"]]);
      caller.send([48, 1, { progress: true }, "com.pci.refused", ["b"]]);
      caller.send([48, 1, {}, "com.pci.refused", ["c"]]);
      const err = await caller.next();
      assert.deepEqual([err[0], err[2], err[4]], [8, 1, "wamp.error.feature_not_supported"]);
      assert.deepEqual(await caller.quiet(100), [], "one answer per call");
      assert.deepEqual(await old.quiet(0), [], "a partial call is never invoked");
      // the same for a procedure that does not exist
      caller.send([48, 2, { progress: true }, "com.pci.nothing", ["a"]]);
      caller.send([48, 2, {}, "com.pci.nothing", ["b"]]);
      assert.equal((await caller.next())[4], "wamp.error.no_such_procedure");
      assert.deepEqual(await caller.quiet(100), []);

      // the callee answers before the last chunk: the remaining chunks are dropped
      await using callee = await join(r.url, roles({ callee: PCI }));
      await register(callee, "com.pci.early");
      caller.send([48, 3, { progress: true }, "com.pci.early", ["a"]]);
      const inv = await callee.next();
      callee.send([70, inv[1], {}, ["enough"]]);
      assert.deepEqual(await caller.next(), [50, 3, {}, ["enough"]]);
      caller.send([48, 3, { progress: true }, "com.pci.early", ["b"]]);
      caller.send([48, 3, {}, "com.pci.early", ["c"]]);
      assert.deepEqual(await callee.quiet(100), []);
      assert.deepEqual(await caller.quiet(0), []);

      // canceled by the caller: the same
      caller.send([48, 4, { progress: true }, "com.pci.early", ["a"]]);
      await callee.next();
      caller.send([49, 4, { mode: "skip" }]);
      assert.equal((await caller.next())[4], "wamp.error.canceled");
      caller.send([48, 4, {}, "com.pci.early", ["b"]]);
      assert.deepEqual(await callee.quiet(100), []);

      // later calls work as usual
      caller.send([48, 5, {}, "com.pci.early", ["new"]]);
      const fresh = await callee.next();
      assert.deepEqual(fresh[4], ["new"]);
      callee.send([70, fresh[1], {}]);
      assert.deepEqual(await caller.next(), [50, 5, {}]);
    });

    await t.step("a caller without the feature: ABORT protocol_violation", async () => {
      await using callee = await join(r.url, roles({ callee: PCI }));
      await register(callee, "com.pci.strict");
      await using caller = await join(r.url, roles({ callee: PCI }));
      caller.send([48, 1, { progress: true }, "com.pci.strict", ["a"]]);
      await expectAbort(caller);
      assert.deepEqual(await callee.quiet(50), []);
    });
  });

  Deno.test(`payload passthru (RPC) over ${ser}`, async (t) => {
    await using r = await startRouter();
    const PPTC = { payload_passthru_mode: true };

    await t.step(
      "CALL → INVOCATION → YIELD → RESULT: payload untouched, ppt_* copied",
      async () => {
        await using callee = await join(r.url, roles({ callee: PPTC }));
        await using caller = await join(r.url, roles({ caller: PPTC }));
        const raw: string[] = [];
        callee.ws.addEventListener("message", (ev) => {
          if (typeof ev.data === "string") raw.push(ev.data);
        });
        const reg = await register(callee, "com.ppt.proc");
        caller.send([48, 1, PPT, "com.ppt.proc", [BYTES]]);
        const inv = await callee.next();
        assert.deepEqual(inv.slice(2), [reg, PPT, [BYTES]]);
        assert.ok((inv[4] as unknown[])[0] instanceof Uint8Array);
        if (ser === "json") {
          const frame = raw.map((f) => JSON.parse(f) as Msg).find((m) => m[0] === 68)!;
          assert.deepEqual(frame[4], [BYTES_JSON], "\\u0000 + base64 on the wire");
        }
        const back = { ppt_scheme: "x_switchboard", ppt_keyid: "key-2" };
        callee.send([70, inv[1], back, [REPLY]]);
        assert.deepEqual(await caller.next(), [50, 1, back, [REPLY]]);

        // ERROR from the callee: ppt_* keys copied into the caller's ERROR details
        caller.send([48, 2, PPT, "com.ppt.proc", [BYTES]]);
        const inv2 = await callee.next();
        callee.send([8, 68, inv2[1], { ppt_scheme: "x_switchboard" }, "com.example.failed", [
          REPLY,
        ]]);
        assert.deepEqual(await caller.next(), [
          8,
          48,
          2,
          { ppt_scheme: "x_switchboard" },
          "com.example.failed",
          [REPLY],
        ]);

        // pattern registration: procedure and ppt_* together
        const pre = await register(callee, "com.pptp.", { match: "prefix" });
        caller.send([48, 3, { ppt_scheme: "mqtt" }, "com.pptp.x", [BYTES]]);
        const inv3 = await callee.next();
        assert.deepEqual(inv3.slice(2), [pre, { procedure: "com.pptp.x", ppt_scheme: "mqtt" }, [
          BYTES,
        ]]);
        callee.send([70, inv3[1], {}, ["plain"]]);
        assert.deepEqual(await caller.next(), [50, 3, {}, ["plain"]]);
      },
    );

    await t.step("a callee without the feature: ERROR feature_not_supported", async () => {
      await using callee = await join(r.url);
      await using caller = await join(r.url, roles({ caller: PPTC }));
      await register(callee, "com.ppt.old");
      caller.send([48, 1, PPT, "com.ppt.old", [BYTES]]);
      const err = await caller.next();
      assert.deepEqual([err[0], err[2], err[4]], [8, 1, "wamp.error.feature_not_supported"]);
      assert.deepEqual(await callee.quiet(50), []);
    });

    await t.step("a passthru YIELD to a caller without the feature fails the call", async () => {
      await using callee = await join(r.url, roles({ callee: PPTC }));
      await using caller = await join(r.url);
      await register(callee, "com.ppt.answer");
      caller.send([48, 1, {}, "com.ppt.answer", ["q"]]);
      const inv = await callee.next();
      assert.deepEqual(inv[3], {});
      callee.send([70, inv[1], PPT, [REPLY]]);
      const err = await caller.next();
      assert.deepEqual([err[0], err[2], err[4]], [8, 1, "wamp.error.feature_not_supported"]);
    });

    await t.step("a caller without the feature: ABORT protocol_violation", async () => {
      await using callee = await join(r.url, roles({ callee: PPTC }));
      await register(callee, "com.ppt.strict");
      await using caller = await join(r.url, roles({ callee: PPTC }));
      caller.send([48, 1, PPT, "com.ppt.strict", [BYTES]]);
      await expectAbort(caller);
      assert.deepEqual(await callee.quiet(50), []);
    });

    await t.step("a callee without the feature yielding passthru: ABORT", async () => {
      await using callee = await join(r.url);
      await using caller = await join(r.url, roles({ caller: PPTC }));
      await register(callee, "com.ppt.badyield");
      caller.send([48, 1, {}, "com.ppt.badyield"]);
      const inv = await callee.next();
      callee.send([70, inv[1], PPT, [REPLY]]);
      await expectAbort(callee);
      // the callee left: the pending call ends with wamp.error.canceled
      const err = await caller.next();
      assert.deepEqual([err[0], err[2], err[4]], [8, 1, "wamp.error.canceled"]);
    });
  });
}

Deno.test("progressive call invocation: a chunk naming a forbidden procedure ends the session, not the request", async () => {
  await using r = await startRouter(testConfig({
    roles: [{
      name: "anonymous",
      permissions: [{
        uri: "com.pci.",
        match: "prefix",
        allow: { call: true, register: true },
      }],
    }],
  }));
  const PCI = { progressive_call_invocations: true };
  await using callee = (await RawClient.join(r.url, "json", "realm1", roles({ callee: PCI })))
    .client;
  await using caller = (await RawClient.join(r.url, "json", "realm1", roles({ caller: PCI })))
    .client;
  await register(callee, "com.pci.one");
  caller.send([48, 1, { progress: true }, "com.pci.one", ["a"]]);
  assert.equal((await callee.next())[0], 68);
  // Not an ERROR not_authorized for request 1 while the call stays open (two final replies).
  caller.send([48, 1, {}, "org.forbidden", ["b"]]);
  await expectAbort(caller);
});
