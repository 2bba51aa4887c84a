/**
 * Interop: Autobahn|Python (asyncio; Debian's python3-autobahn) against a router started in
 * the test, once per serializer. Each scenario runs tests/interop/autobahn_client.py as a
 * child process (killed after 20 s) that prints one JSON line with what it observed.
 */

import assert from "node:assert/strict";
import { startRouter } from "./_helpers.ts";
import {
  assertPayload,
  AutobahnClient,
  BIG,
  deadline,
  deferred,
  payloadArgs,
  payloadKwargs,
  restrictedConfig,
  type SerializerId,
  SERIALIZERS,
  TEXT,
} from "./interop/common.ts";
import { describeRun, findPython, PythonScenario, scenarioResult } from "./interop/python.ts";

/** Python type names the script reports for values JSON would blur; all must survive. */
const EXPECTED_TYPES = {
  "args[1]": "int",
  "args[2]": "bool",
  "args[4]": "float",
  "kwargs.big": "int",
  "kwargs.flag": "bool",
  "kwargs.pi": "float",
};

/** Asserts a reported event/result: the standard payload, with Python types intact. */
function assertReported(report: unknown, where: string): void {
  const r = report as { args?: unknown; kwargs?: unknown; types?: unknown };
  assert.ok(r && typeof r === "object", `${where}: no report`);
  assertPayload(r.args, r.kwargs, where);
  assert.deepEqual(r.types, EXPECTED_TYPES, `${where}: Python types`);
}

/** The other serializer used for the JS side of cross-process scenarios. */
function other(ser: SerializerId): SerializerId {
  return SERIALIZERS[(SERIALIZERS.indexOf(ser) + 1) % SERIALIZERS.length]!;
}

Deno.test("interop: Autobahn|Python", async (t) => {
  const { python, tried } = await findPython();
  assert.ok(
    python,
    `no Python with autobahn, msgpack and cbor2 (apt-get install python3-autobahn ` +
      `python3-msgpack python3-cbor2, or set SWITCHBOARD_PYTHON): ${tried.join("; ")}`,
  );
  await using r = await startRouter();
  await using restricted = await startRouter(restrictedConfig());
  const base = { url: r.url };

  for (const ser of SERIALIZERS) {
    await t.step(`${ser}: pub/sub args/kwargs round trip`, async () => {
      const res = await scenarioResult(python, { ...base, serializer: ser, scenario: "pubsub" });
      assertReported(res, `Python ${ser} EVENT`);
      assert.equal(res.publication, res.published_id, "EVENT publication = PUBLISHED id");
    });

    await t.step(`${ser}: RPC with args/kwargs and a result`, async () => {
      const res = await scenarioResult(python, { ...base, serializer: ser, scenario: "rpc" });
      assertReported(res.invocation, `Python ${ser} INVOCATION`);
      const { reply, count, ...kwargs } = res.kwargs as Record<string, unknown>;
      assertReported({ ...res, kwargs }, `Python ${ser} RESULT`);
      assert.equal(reply, "ok");
      assert.equal(count, payloadArgs().length);
    });

    await t.step(`${ser}: callee's application error reaches the caller`, async () => {
      const res = await scenarioResult(python, { ...base, serializer: ser, scenario: "error" });
      assert.equal(res.error, "com.example.error.bad", JSON.stringify(res));
      assert.deepEqual(res.args, ["bad input", BIG, TEXT]);
      assert.deepEqual(res.kwargs, { reason: "nope", got: [1, "two"] });
    });

    await t.step(`${ser}: permission denial gives wamp.error.not_authorized`, async () => {
      const res = await scenarioResult(python, {
        url: restricted.url,
        serializer: ser,
        scenario: "denied",
      });
      assert.deepEqual(res, {
        subscribe: "wamp.error.not_authorized",
        publish: "wamp.error.not_authorized",
        register: "wamp.error.not_authorized",
        call: "wamp.error.not_authorized",
        allowed_publish: "ok",
        scenario: "denied",
        serializer: ser,
      });
    });

    await t.step(`${ser}: unknown realm fails with wamp.error.no_such_realm`, async () => {
      const res = await scenarioResult(python, {
        ...base,
        serializer: ser,
        scenario: "join",
        realm: "no.such.realm",
      });
      assert.equal(res.joined, false, JSON.stringify(res));
      assert.equal(res.reason, "wamp.error.no_such_realm");
    });

    await t.step(`${ser}: the control case joins realm1`, async () => {
      const res = await scenarioResult(python, { ...base, serializer: ser, scenario: "join" });
      assert.deepEqual([res.joined, res.realm, res.authrole], [true, "realm1", "anonymous"]);
    });

    await t.step(
      `cross-serializer: Python ${ser} publisher, Python subscribers on all`,
      async () => {
        const res = await scenarioResult(python, { ...base, serializer: ser, scenario: "cross" });
        const subs = res.subscribers as Record<string, unknown>;
        assert.deepEqual(Object.keys(subs).sort(), [...SERIALIZERS].sort());
        for (const to of SERIALIZERS) assertReported(subs[to], `Python ${ser} → Python ${to}`);
      },
    );

    const js = other(ser);
    await t.step(
      `cross-process: AutobahnJS ${js} publisher, Python ${ser} subscriber`,
      async () => {
        const topic = `com.example.py.sub.${ser}`;
        const script = new PythonScenario(python, {
          ...base,
          serializer: ser,
          scenario: "subscribe",
          topic,
        });
        try {
          await deadline(script.line("READY"), 15_000, "Python READY");
          await using pub = await AutobahnClient.join(r.url, js);
          await pub.session.publish(topic, payloadArgs(), payloadKwargs(), { acknowledge: true });
        } catch (e) {
          await script.done; // never leave the child running
          throw e;
        }
        const run = await script.done;
        assert.equal(run.code, 0, describeRun(run));
        assert.deepEqual(run.lines, ["READY"], describeRun(run));
        assertReported(run.result, `AutobahnJS ${js} → Python ${ser}`);
      },
    );

    await t.step(
      `cross-process: Python ${ser} publisher, AutobahnJS ${js} subscriber`,
      async () => {
        const topic = `com.example.py.pub.${ser}`;
        await using sub = await AutobahnClient.join(r.url, js);
        const got = deferred<{ args?: unknown[]; kwargs?: Record<string, unknown> }>();
        await sub.session.subscribe(topic, (args, kwargs) => got.resolve({ args, kwargs }));
        const res = await scenarioResult(python, {
          ...base,
          serializer: ser,
          scenario: "publish",
          topic,
        });
        assert.ok(Number.isInteger(res.published_id));
        const ev = await deadline(got.promise, 3000, "EVENT");
        // node-cbor (AutobahnJS's CBOR) returns 64-bit integers above 2^53 - 1 as bigint
        assertPayload(ev.args, ev.kwargs, `Python ${ser} → AutobahnJS ${js}`, {
          bigint64: js === "cbor",
        });
      },
    );
  }
});
