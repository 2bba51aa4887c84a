/**
 * Interop for the Advanced Profile features with real client libraries, on every serializer:
 * Autobahn|Python (meta events and procedures, retained events, testaments, registration
 * revocation, event history; tests/interop/autobahn_client.py scenario `advanced`),
 * AutobahnJS (retained events, subscription and registration revocation) and wampy (payload
 * passthru mode for pub/sub and RPC, get_retained). A raw client checks what is on the wire
 * where the library hides it.
 */

import assert from "node:assert/strict";
import { RawClient, sleep, startRouter, testConfig } from "./_helpers.ts";
import {
  assertPayload,
  AutobahnClient,
  BIG,
  deadline,
  deferred,
  payloadArgs,
  payloadKwargs,
  SERIALIZERS,
  show,
  TEXT,
  WampyClient,
} from "./interop/common.ts";
import { findPython, scenarioResult } from "./interop/python.ts";

type D = Record<string, unknown>;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Python type names for the standard payload (see interop_python_test.ts). */
const EXPECTED_TYPES = {
  "args[1]": "int",
  "args[2]": "bool",
  "args[4]": "float",
  "kwargs.big": "int",
  "kwargs.flag": "bool",
  "kwargs.pi": "float",
};

/** A realm that keeps event history for the Python scenario's history topics. */
function historyConfig() {
  return testConfig({
    store: {
      type: "memory",
      "event-history": SERIALIZERS.map((s) => ({
        uri: `com.example.adv.${s}.hist`,
        match: "exact",
        limit: 3,
      })),
    },
  });
}

Deno.test("interop advanced: Autobahn|Python", async (t) => {
  const { python, tried } = await findPython();
  assert.ok(python, `no Python with autobahn, msgpack and cbor2: ${tried.join("; ")}`);
  await using r = await startRouter(historyConfig());

  for (const ser of SERIALIZERS) {
    await t.step(ser, async (t) => {
      const topic = (name: string) => `com.example.adv.${ser}.${name}`;
      const res = await scenarioResult(python, {
        url: r.url,
        serializer: ser,
        scenario: "advanced",
      });

      await t.step("subscription and registration meta events", () => {
        const m = res.meta as {
          session: number;
          subscription: number;
          registration: number;
          events: D[];
        };
        const ev = m.events;
        assert.equal(ev.length, 6, show(ev));
        assert.ok(ev.every((e) => e.publisher_authrole === "trusted"), show(ev));
        assert.equal(ev[0]!.topic, "wamp.subscription.on_create");
        const [sid, info] = ev[0]!.args as [number, D];
        assert.equal(sid, m.session);
        assert.deepEqual({ ...info, created: "" }, {
          id: m.subscription,
          uri: topic("meta"),
          match: "exact",
          created: "",
        });
        assert.match(info.created as string, ISO_UTC);
        assert.deepEqual(ev[1], {
          topic: "wamp.subscription.on_subscribe",
          args: [m.session, m.subscription],
          publisher_authrole: "trusted",
        });
        assert.equal(ev[2]!.topic, "wamp.registration.on_create");
        const [rsid, rinfo] = ev[2]!.args as [number, D];
        assert.equal(rsid, m.session);
        assert.deepEqual({ ...rinfo, created: "" }, {
          id: m.registration,
          uri: topic("proc"),
          match: "exact",
          invoke: "roundrobin",
          created: "",
        });
        assert.deepEqual(ev.slice(3).map((e) => [e.topic, e.args]), [
          ["wamp.registration.on_register", [m.session, m.registration]],
          ["wamp.subscription.on_unsubscribe", [m.session, m.subscription]],
          ["wamp.subscription.on_delete", [m.session, m.subscription]],
        ]);
      });

      await t.step("subscription and registration meta procedures", () => {
        const p = res.procedures as D;
        const s = p.subscription as number;
        assert.equal(p.lookup, s);
        assert.equal(p.lookup_prefix, null);
        assert.deepEqual(p.match, [s]);
        assert.deepEqual({ ...(p.get as D), created: "" }, {
          id: s,
          uri: topic("meta2"),
          match: "exact",
          created: "",
        });
        assert.deepEqual(p.list_subscribers, [p.session]);
        assert.equal(p.count_subscribers, 1);
        assert.ok(((p.list as D).exact as number[]).includes(s), show(p.list));
        assert.equal(p.get_unknown, "wamp.error.no_such_subscription");
        assert.equal(p.reg_lookup, p.registration);
        assert.equal(p.reg_match, p.registration);
        assert.deepEqual({ ...(p.reg_get as D), created: "" }, {
          id: p.registration,
          uri: topic("proc"),
          match: "exact",
          invoke: "roundrobin",
          created: "",
        });
        assert.deepEqual(p.list_callees, [p.session]);
        assert.equal(p.count_callees, 1);
      });

      await t.step("retained event (PublishOptions.retain, SubscribeOptions.get_retained)", () => {
        const e = res.retained as D;
        assertPayload(e.args, e.kwargs, `Python ${ser} retained EVENT`);
        assert.deepEqual(e.types, EXPECTED_TYPES);
        assert.equal(e.retained, true);
        assert.ok(Number.isInteger(e.publication));
        assert.notEqual(e.publication, e.published_id, "a fresh publication id");
      });

      await t.step("testaments: add, flush, published on leave", () => {
        const w = res.testament as D;
        assert.equal(w.flushed, 1);
        assert.equal(w.bad_scope, "wamp.error.testament_error");
        assert.deepEqual(w.events, [
          { args: ["detached"], kwargs: {} },
          { args: ["destroyed", BIG], kwargs: { text: TEXT } },
        ]);
      });

      await t.step("registration revocation (remove_callee)", () => {
        assert.deepEqual(res.revocation, {
          removed: null,
          call_after: "wamp.error.no_such_procedure",
          callee_attached: true,
        });
      });

      await t.step("event history (get_events)", () => {
        const h = res.history as { subscription: number; published: number[]; events: D[] };
        assert.equal(h.events.length, 3);
        assert.deepEqual(h.events.map((e) => e.publication), h.published.slice(1));
        h.events.forEach((e, i) => {
          assert.equal(e.subscription, h.subscription);
          assert.equal(e.topic, topic("hist"));
          assert.deepEqual(e.args, [i + 1, BIG]);
          assert.deepEqual(e.kwargs, { seq: i + 1 });
          assert.match(e.timestamp as string, ISO_UTC);
        });
      });
    });
  }
});

/** The parts of AutobahnJS's Subscription / Registration objects used here. */
interface AbSubscription {
  id: number;
  active: boolean;
  on_unsubscribe: Promise<unknown>;
}
interface AbRegistration {
  id: number;
  active: boolean;
  on_unregister: Promise<unknown>;
}

Deno.test("interop advanced: AutobahnJS", async (t) => {
  await using r = await startRouter();

  for (const ser of SERIALIZERS) {
    await t.step(`${ser}: retained event`, async () => {
      const topic = `com.example.ab.retained.${ser}`;
      await using pub = await AutobahnClient.join(r.url, ser);
      const published = await pub.session.publish(topic, payloadArgs(), payloadKwargs(), {
        retain: true,
        acknowledge: true,
      });
      await using sub = await AutobahnClient.join(r.url, ser);
      const got = deferred<{ args?: unknown[]; kwargs?: D; details: D }>();
      await sub.session.subscribe(
        topic,
        (args, kwargs, details) => got.resolve({ args, kwargs, details }),
        { get_retained: true },
      );
      const ev = await deadline(got.promise, 3000, "retained EVENT");
      assertPayload(ev.args, ev.kwargs, `AutobahnJS ${ser} retained`, { bigint64: ser === "cbor" });
      assert.equal(ev.details.retained, true);
      assert.notEqual(ev.details.publication, published?.id);
    });

    await t.step(`${ser}: subscription revocation (remove_subscriber)`, async () => {
      const topic = `com.example.ab.revoke.${ser}`;
      await using sub = await AutobahnClient.join(r.url, ser);
      await using admin = await AutobahnClient.join(r.url, ser);
      const events: unknown[] = [];
      const s = await sub.session.subscribe(topic, (args) => events.push(args)) as AbSubscription;
      await admin.session.call("wamp.subscription.remove_subscriber", [s.id, sub.session.id], {
        reason: "com.example.revoked",
      });
      assert.equal(await deadline(s.on_unsubscribe, 3000, "on_unsubscribe"), "com.example.revoked");
      assert.equal(s.active, false);
      await admin.session.publish(topic, ["after"], {}, { acknowledge: true });
      await sleep(100);
      assert.deepEqual(events, []);
      assert.ok(sub.session.isOpen, "the session stays open");
    });

    await t.step(`${ser}: registration revocation (remove_callee)`, async () => {
      const proc = `com.example.ab.revoke.${ser}`;
      await using callee = await AutobahnClient.join(r.url, ser);
      await using admin = await AutobahnClient.join(r.url, ser);
      const reg = await callee.session.register(proc, () => "x") as AbRegistration;
      await admin.session.call("wamp.registration.remove_callee", [reg.id, callee.session.id], {
        reason: "com.example.revoked",
      });
      assert.equal(await deadline(reg.on_unregister, 3000, "on_unregister"), "com.example.revoked");
      assert.equal(reg.active, false);
      const err = await admin.session.call(proc).then(
        (v) => ({ error: `unexpected result ${show(v)}` }),
        (e) => e as { error: string },
      );
      assert.equal(err.error, "wamp.error.no_such_procedure");
      assert.ok(callee.session.isOpen);
    });
  }
});

Deno.test("interop advanced: wampy", async (t) => {
  await using r = await startRouter();
  const PPT = { ppt_scheme: "x_switchboard", ppt_serializer: "json" };

  for (const ser of SERIALIZERS) {
    await t.step(`${ser}: payload passthru pub/sub (ppt_serializer json)`, async () => {
      const topic = `com.example.wampy.ppt.${ser}`;
      await using sub = await WampyClient.join(r.url, ser);
      await using pub = await WampyClient.join(r.url, ser);
      const raw = await RawClient.join(r.url, "json", "realm1", {
        roles: { subscriber: { features: { payload_passthru_mode: true } } },
      });
      await using rc = raw.client;
      const got = deferred<{ argsList?: unknown[]; argsDict?: D; details: D }>();
      await sub.wampy.subscribe(topic, (e) => got.resolve(e));
      rc.send([32, 1, {}, topic]);
      assert.equal((await rc.next())[0], 33);
      await pub.wampy.publish(topic, { argsList: payloadArgs(), argsDict: payloadKwargs() }, PPT);
      const ev = await deadline(got.promise, 3000, "EVENT");
      // wampy JSON-encodes the payload itself, so 2^53 comes back as a number on every serializer
      assertPayload(ev.argsList, ev.argsDict, `wampy ${ser} PPT EVENT`);
      assert.equal(ev.details.ppt_scheme, "x_switchboard");
      assert.equal(ev.details.ppt_serializer, "json");
      // on the wire: one element, the library's own encoding, untouched by the router
      const wire = await rc.next();
      assert.deepEqual(wire[3], PPT);
      assert.equal((wire[4] as unknown[]).length, 1);
      assert.deepEqual(JSON.parse((wire[4] as string[])[0]!), {
        args: payloadArgs(),
        kwargs: payloadKwargs(),
      });
      assert.equal(wire.length, 5, "no kwargs element");
    });

    await t.step(`${ser}: payload passthru RPC (ppt_serializer json)`, async () => {
      const proc = `com.example.wampy.ppt.${ser}`;
      await using callee = await WampyClient.join(r.url, ser);
      await using caller = await WampyClient.join(r.url, ser);
      const invoked = deferred<{ argsList?: unknown[]; argsDict?: D; details: D }>();
      await callee.wampy.register(proc, (inv) => {
        invoked.resolve(inv);
        return { argsList: ["reply", BIG], argsDict: { text: TEXT }, options: PPT };
      });
      const res = await deadline(
        caller.wampy.call(proc, { argsList: payloadArgs(), argsDict: payloadKwargs() }, PPT),
        3000,
        "RESULT",
      );
      const inv = await invoked.promise;
      assertPayload(inv.argsList, inv.argsDict, `wampy ${ser} PPT INVOCATION`);
      assert.equal(inv.details.ppt_scheme, "x_switchboard");
      assert.equal(inv.details.ppt_serializer, "json");
      assert.deepEqual(res.argsList, ["reply", BIG]);
      assert.deepEqual(res.argsDict, { text: TEXT });
      assert.equal(res.details.ppt_scheme, "x_switchboard");
    });

    await t.step(`${ser}: get_retained (retained by a raw publisher)`, async () => {
      const topic = `com.example.wampy.retained.${ser}`;
      // wampy 8.0.2 validates PublishOptions.retain but does not send it, so a raw client
      // publishes the retained event
      await using rp = (await RawClient.join(r.url, "json")).client;
      rp.send([16, 1, { retain: true, acknowledge: true }, topic, [TEXT, 7], { k: "v" }]);
      assert.equal((await rp.next())[0], 17);
      await using sub = await WampyClient.join(r.url, ser);
      const got = deferred<{ argsList?: unknown[]; argsDict?: D; details: D }>();
      await sub.wampy.subscribe(topic, (e) => got.resolve(e), { get_retained: true });
      const ev = await deadline(got.promise, 3000, "retained EVENT");
      assert.deepEqual(ev.argsList, [TEXT, 7]);
      assert.deepEqual(ev.argsDict, { k: "v" });
      assert.equal(ev.details.retained, true);
    });
  }
});
