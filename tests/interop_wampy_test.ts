/**
 * Interop: wampy (npm `wampy`) against a router started in the test, once per serializer
 * (JSON, MessagePack via msgpackr, CBOR via cbor-x), in-process.
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
  type PayloadCheck,
  payloadKwargs,
  rejection,
  restrictedConfig,
  type SerializerId,
  SERIALIZERS,
  show,
  TEXT,
  WampyClient,
} from "./interop/common.ts";

interface Received {
  argsList?: unknown[];
  argsDict?: Record<string, unknown>;
  details: Record<string, unknown>;
}

/** wampy's errors from the router carry the error URI and payload as own properties. */
interface WampyErrorShape {
  errorUri: string;
  argsList?: unknown[];
  argsDict?: Record<string, unknown>;
}

function isWampyError(e: unknown): e is WampyErrorShape {
  return e instanceof Error && typeof (e as Partial<WampyErrorShape>).errorUri === "string";
}

/** What a wampy callee throws to answer an INVOCATION with ERROR: `{error, argsList, argsDict}`. */
class InvocationFailure extends Error {
  constructor(
    readonly error: string,
    readonly argsList: unknown[],
    readonly argsDict: Record<string, unknown>,
  ) {
    super(error);
  }
}

/**
 * wampy's MessagePack serializer calls msgpackr's `unpack` with its defaults, which decode
 * every uint64/int64 into a `bigint`, whatever its size. The router (like any MessagePack
 * peer) must write integers above 2^32 as uint64, so over MessagePack wampy hands the
 * application 2^53 as `9007199254740992n` (exact) and also gets every id above 2^32
 * (publication, subscription, registration, session ids) as a `bigint`.
 */
function check(ser: SerializerId): PayloadCheck {
  return { bigint64: ser === "msgpack" };
}

/** 2^53 as wampy hands it over for `ser`. */
function big(ser: SerializerId): number | bigint {
  return ser === "msgpack" ? 2n ** 53n : BIG;
}

/** A WAMP id as wampy hands it over: an integer in [1, 2^53], as number or (msgpack) bigint. */
function assertId(id: unknown, ser: SerializerId, what: string): void {
  const n = typeof id === "bigint" && ser === "msgpack" ? Number(id) : id;
  assert.ok(
    typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= BIG,
    `${what}: ${show(id)}`,
  );
}

Deno.test("interop: wampy", async (t) => {
  await using r = await startRouter();
  await using restricted = await startRouter(restrictedConfig());

  for (const ser of SERIALIZERS) {
    await t.step(`${ser}: pub/sub args/kwargs round trip`, async () => {
      await using sub = await WampyClient.join(r.url, ser);
      await using pub = await WampyClient.join(r.url, ser);
      const got = deferred<Received>();
      await sub.wampy.subscribe("com.example.interop.topic", (e) => got.resolve(e));
      const published = await pub.wampy.publish("com.example.interop.topic", {
        argsList: payloadArgs(),
        argsDict: payloadKwargs(),
      });
      const ev = await deadline(got.promise, 3000, "EVENT");
      assertPayload(ev.argsList, ev.argsDict, `wampy ${ser} EVENT`, check(ser));
      assertId(published.publicationId, ser, "publication id");
    });

    await t.step(`${ser}: RPC with args/kwargs and a result`, async () => {
      await using callee = await WampyClient.join(r.url, ser);
      await using caller = await WampyClient.join(r.url, ser);
      const invoked = deferred<Received>();
      await callee.wampy.register("com.example.echo", (inv) => {
        invoked.resolve(inv);
        return {
          argsList: [...(inv.argsList ?? []), "echoed"],
          argsDict: { ...inv.argsDict, reply: "ok" },
        };
      });
      const res = await deadline(
        caller.wampy.call("com.example.echo", {
          argsList: payloadArgs(),
          argsDict: payloadKwargs(),
        }),
        3000,
        "RESULT",
      );
      const inv = await invoked.promise;
      assertPayload(inv.argsList, inv.argsDict, `wampy ${ser} INVOCATION`, check(ser));
      const { reply, ...kwargs } = res.argsDict ?? {};
      assertPayload(res.argsList?.slice(0, -1), kwargs, `wampy ${ser} RESULT`, check(ser));
      assert.equal(res.argsList?.at(-1), "echoed");
      assert.equal(reply, "ok");
    });

    await t.step(`${ser}: callee's application error reaches the caller`, async () => {
      await using callee = await WampyClient.join(r.url, ser);
      await using caller = await WampyClient.join(r.url, ser);
      await callee.wampy.register("com.example.bad", (inv) => {
        throw new InvocationFailure("com.example.error.bad", ["bad input", BIG, TEXT], {
          reason: "nope",
          got: inv.argsList ?? [],
        });
      });
      const err = await rejection(
        () => deadline(caller.wampy.call("com.example.bad", [1, "two"]), 3000, "ERROR"),
        "call to a raising callee",
      );
      assert.ok(isWampyError(err), `a wampy CallError: ${show(err)}`);
      assert.equal(err.errorUri, "com.example.error.bad");
      assert.deepEqual(err.argsList, ["bad input", big(ser), TEXT]);
      assert.deepEqual(err.argsDict, { reason: "nope", got: [1, "two"] });
    });

    await t.step(`${ser}: permission denial gives wamp.error.not_authorized`, async () => {
      await using c = await WampyClient.join(restricted.url, ser);
      const w = c.wampy;
      const attempts: [string, () => Promise<unknown>][] = [
        ["subscribe", () => w.subscribe("com.secret.topic", () => {})],
        ["publish", () => w.publish("com.secret.topic", [1])],
        ["register", () => w.register("com.secret.proc", () => null)],
        ["call", () => w.call("com.secret.proc")],
      ];
      for (const [action, attempt] of attempts) {
        const err = await rejection(() => deadline(attempt(), 3000, action), `denied ${action}`);
        assert.ok(isWampyError(err), `${action}: a wampy error: ${show(err)}`);
        assert.equal(err.errorUri, "wamp.error.not_authorized", action);
      }
      const ok = await w.publish("com.open.topic", [1]);
      assertId(ok.publicationId, ser, "allowed publication id");
    });

    await t.step(`${ser}: unknown realm fails with wamp.error.no_such_realm`, async () => {
      const c = new WampyClient(r.url, "no.such.realm", ser);
      const err = await rejection(() => c.connect(), "join no.such.realm");
      await c.close();
      assert.ok(isWampyError(err), `a wampy AbortError: ${show(err)}`);
      assert.equal(err.errorUri, "wamp.error.no_such_realm");
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
        await using pub = await WampyClient.join(r.url, from);
        const subs: WampyClient[] = [];
        try {
          const events = [];
          for (const ser of to) {
            const sub = await WampyClient.join(r.url, ser);
            subs.push(sub);
            const got = deferred<Received>();
            await sub.wampy.subscribe("com.example.cross", (e) => got.resolve(e));
            events.push(got.promise);
          }
          await pub.wampy.publish("com.example.cross", {
            argsList: payloadArgs(),
            argsDict: payloadKwargs(),
          });
          for (const [i, ser] of to.entries()) {
            const ev = await deadline(events[i]!, 3000, `EVENT to ${ser}`);
            assertPayload(ev.argsList, ev.argsDict, `${from} → ${ser}`, check(ser));
          }
        } finally {
          for (const sub of subs) await sub.close();
        }
      },
    );
  }

  await t.step("cross-library: wampy msgpack publisher, AutobahnJS json subscriber", async () => {
    await using sub = await AutobahnClient.join(r.url, "json");
    await using pub = await WampyClient.join(r.url, "msgpack");
    const got = deferred<{ args?: unknown[]; kwargs?: Record<string, unknown> }>();
    await sub.session.subscribe(
      "com.example.libs",
      (args, kwargs) => got.resolve({ args, kwargs }),
    );
    await pub.wampy.publish("com.example.libs", {
      argsList: payloadArgs(),
      argsDict: payloadKwargs(),
    });
    const ev = await deadline(got.promise, 3000, "EVENT");
    assertPayload(ev.args, ev.kwargs, "wampy msgpack → AutobahnJS json");
  });
});
