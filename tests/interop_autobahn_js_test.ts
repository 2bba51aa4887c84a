/**
 * Interop: AutobahnJS (npm `autobahn`) against a router started in the test, once per
 * serializer (JSON, MessagePack via msgpack5, CBOR via node-cbor), in-process.
 */

import assert from "node:assert/strict";
import { startRouter } from "./_helpers.ts";
import {
  type AbError,
  type AbResult,
  assertPayload,
  autobahn,
  AutobahnClient,
  BIG,
  deadline,
  deferred,
  payloadArgs,
  type PayloadCheck,
  payloadKwargs,
  rejection,
  restrictedConfig,
  type SerializerId,
  SERIALIZERS,
  show,
  TEXT,
} from "./interop/common.ts";

interface Received {
  args: unknown[] | undefined;
  kwargs: Record<string, unknown> | undefined;
  details: Record<string, unknown>;
}

/**
 * node-cbor, AutobahnJS's CBOR codec, decodes every integer above 2^53 - 1 that arrives as
 * a 64-bit integer into a `bigint`; the router writes 2^53 as one (exact), so over CBOR
 * AutobahnJS hands the application `9007199254740992n`. The value is exact; only its JS type
 * differs, so the CBOR checks accept that `bigint`.
 */
function check(ser: SerializerId): PayloadCheck {
  return { bigint64: ser === "cbor" };
}

/** 2^53 as AutobahnJS hands it over for `ser`. */
function big(ser: SerializerId): number | bigint {
  return ser === "cbor" ? 2n ** 53n : BIG;
}

function isAbError(e: unknown): e is AbError {
  return e instanceof autobahn.Error;
}

Deno.test("interop: AutobahnJS", async (t) => {
  await using r = await startRouter();
  await using restricted = await startRouter(restrictedConfig());

  for (const ser of SERIALIZERS) {
    await t.step(`${ser}: negotiates wamp.2.${ser}`, async () => {
      await using c = await AutobahnClient.join(r.url, ser);
      assert.equal(c.protocol, `wamp.2.${ser}`);
    });

    await t.step(`${ser}: pub/sub args/kwargs round trip`, async () => {
      await using sub = await AutobahnClient.join(r.url, ser);
      await using pub = await AutobahnClient.join(r.url, ser);
      const got = deferred<Received>();
      await sub.session.subscribe("com.example.interop.topic", (args, kwargs, details) => {
        got.resolve({ args, kwargs, details });
      });
      const publication = await pub.session.publish(
        "com.example.interop.topic",
        payloadArgs(),
        payloadKwargs(),
        { acknowledge: true },
      );
      const ev = await deadline(got.promise, 3000, "EVENT");
      assertPayload(ev.args, ev.kwargs, `AutobahnJS ${ser} EVENT`, check(ser));
      assert.ok(publication, "acknowledged publish gives a Publication");
      assert.equal(ev.details.publication, publication.id);
    });

    await t.step(`${ser}: RPC with args/kwargs and a result`, async () => {
      await using callee = await AutobahnClient.join(r.url, ser);
      await using caller = await AutobahnClient.join(r.url, ser);
      const invoked = deferred<Received>();
      await callee.session.register("com.example.echo", (args, kwargs, details) => {
        invoked.resolve({ args, kwargs, details });
        return new autobahn.Result([...(args ?? []), "echoed"], { ...kwargs, reply: "ok" });
      });
      const res = await deadline(
        caller.session.call("com.example.echo", payloadArgs(), payloadKwargs()),
        3000,
        "RESULT",
      ) as AbResult;
      const inv = await invoked.promise;
      assertPayload(inv.args, inv.kwargs, `AutobahnJS ${ser} INVOCATION`, check(ser));
      assert.ok(res instanceof autobahn.Result, `result is a Result: ${show(res)}`);
      const { reply, ...kwargs } = res.kwargs;
      assertPayload(res.args.slice(0, -1), kwargs, `AutobahnJS ${ser} RESULT`, check(ser));
      assert.equal(res.args.at(-1), "echoed");
      assert.equal(reply, "ok");
    });

    await t.step(`${ser}: callee's application error reaches the caller`, async () => {
      await using callee = await AutobahnClient.join(r.url, ser);
      await using caller = await AutobahnClient.join(r.url, ser);
      await callee.session.register("com.example.bad", (args) => {
        throw new autobahn.Error("com.example.error.bad", ["bad input", BIG, TEXT], {
          reason: "nope",
          got: args ?? [],
        });
      });
      const err = await rejection(
        () => deadline(caller.session.call("com.example.bad", [1, "two"]), 3000, "ERROR"),
        "call to a raising callee",
      );
      assert.ok(isAbError(err), `an autobahn.Error: ${show(err)}`);
      assert.equal(err.error, "com.example.error.bad");
      assert.deepEqual(err.args, ["bad input", big(ser), TEXT]);
      assert.deepEqual(err.kwargs, { reason: "nope", got: [1, "two"] });
    });

    await t.step(`${ser}: permission denial gives wamp.error.not_authorized`, async () => {
      await using c = await AutobahnClient.join(restricted.url, ser);
      const s = c.session;
      const attempts: [string, () => Promise<unknown>][] = [
        ["subscribe", () => s.subscribe("com.secret.topic", () => {})],
        ["publish", () => s.publish("com.secret.topic", [1], {}, { acknowledge: true })],
        ["register", () => s.register("com.secret.proc", () => null)],
        ["call", () => s.call("com.secret.proc")],
      ];
      for (const [action, attempt] of attempts) {
        const err = await rejection(() => deadline(attempt(), 3000, action), `denied ${action}`);
        assert.ok(isAbError(err), `${action}: an autobahn.Error: ${show(err)}`);
        assert.equal(err.error, "wamp.error.not_authorized", `${action}`);
      }
      // the session survives denials and can still use what it is allowed
      const pub = await s.publish("com.open.topic", [1], {}, { acknowledge: true });
      assert.ok(pub && Number.isInteger(pub.id));
    });

    await t.step(`${ser}: unknown realm fails with wamp.error.no_such_realm`, async () => {
      const c = AutobahnClient.open(r.url, "no.such.realm", ser);
      // the router ends it: wait for the close, do not close it ourselves
      const closed = await deadline(c.closed, 3000, "close after ABORT");
      await assert.rejects(c.joined);
      await c.close();
      assert.equal(closed.wampReason, "wamp.error.no_such_realm", show(closed));
    });
  }

  const crossings: [SerializerId, SerializerId[]][] = [
    ["msgpack", ["json", "cbor"]],
    ["json", ["msgpack", "cbor"]],
    ["cbor", ["json", "msgpack"]],
  ];
  for (const [from, to] of crossings) {
    await t.step(
      `cross-serializer: ${from} publisher, ${to.join(" and ")} subscribers`,
      async () => {
        await using pub = await AutobahnClient.join(r.url, from);
        const subs: AutobahnClient[] = [];
        try {
          const events = [];
          for (const ser of to) {
            const sub = await AutobahnClient.join(r.url, ser);
            subs.push(sub);
            const got = deferred<Received>();
            await sub.session.subscribe("com.example.cross", (args, kwargs, details) => {
              got.resolve({ args, kwargs, details });
            });
            events.push(got.promise);
          }
          await pub.session.publish("com.example.cross", payloadArgs(), payloadKwargs(), {
            acknowledge: true,
          });
          for (const [i, ser] of to.entries()) {
            const ev = await deadline(events[i]!, 3000, `EVENT to ${ser}`);
            assertPayload(ev.args, ev.kwargs, `${from} → ${ser}`, check(ser));
          }
        } finally {
          for (const sub of subs) await sub.close();
        }
      },
    );
  }
});
