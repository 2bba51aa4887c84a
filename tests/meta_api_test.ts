/**
 * The subscription and registration meta API (events and procedures, revocation) and
 * testaments, with raw WAMP messages over real WebSockets, on JSON and MessagePack. Each step
 * starts its own router, so listings only hold what the step created.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;
type Msg = unknown[];

/** ISO-8601 UTC with milliseconds and `Z`, as Autobahn's `utcstr` writes it. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const SUB_EVENTS = [
  "wamp.subscription.on_create",
  "wamp.subscription.on_subscribe",
  "wamp.subscription.on_unsubscribe",
  "wamp.subscription.on_delete",
];
const REG_EVENTS = [
  "wamp.registration.on_create",
  "wamp.registration.on_register",
  "wamp.registration.on_unregister",
  "wamp.registration.on_delete",
];

/** Client roles of RawClient.join plus extra features per role. */
function roles(extra: Record<string, D> = {}): D {
  const base: Record<string, D> = {
    publisher: {},
    subscriber: {},
    caller: { call_canceling: true, progressive_call_results: true },
    callee: { call_canceling: true, progressive_call_results: true },
  };
  const out: D = {};
  for (const role of Object.keys(base)) {
    out[role] = { features: { ...base[role], ...(extra[role] ?? {}) } };
  }
  return { roles: out };
}

/**
 * The first message that satisfies `pred`: from those skipped earlier, else the next ones to
 * arrive (non-matching ones are kept in `c.skipped`).
 */
async function take(c: RawClient, pred: (m: Msg) => boolean): Promise<Msg> {
  const i = c.skipped.findIndex(pred);
  if (i >= 0) return c.skipped.splice(i, 1)[0]!;
  for (;;) {
    const m = await c.next();
    if (pred(m)) return m;
    c.skipped.push(m);
  }
}

let nextRequest = 1000;

/** CALL and the matching RESULT or ERROR. */
async function call(
  c: RawClient,
  procedure: string,
  args: unknown[] = [],
  kwargs?: D,
): Promise<Msg> {
  const req = nextRequest++;
  const msg: Msg = [48, req, {}, procedure, args];
  if (kwargs) msg.push(kwargs);
  c.send(msg);
  return await take(
    c,
    (m) => (m[0] === 50 && m[1] === req) || (m[0] === 8 && m[1] === 48 && m[2] === req),
  );
}

/** CALL that must succeed; returns RESULT.args[0]. */
async function result(
  c: RawClient,
  procedure: string,
  args: unknown[] = [],
  kwargs?: D,
): Promise<unknown> {
  const m = await call(c, procedure, args, kwargs);
  assert.equal(m[0], 50, `${procedure}: expected RESULT, got ${JSON.stringify(m)}`);
  return (m[3] as unknown[] | undefined)?.[0];
}

/** CALL that must fail; returns the error URI. */
async function failure(
  c: RawClient,
  procedure: string,
  args: unknown[] = [],
  kwargs?: D,
): Promise<string> {
  const m = await call(c, procedure, args, kwargs);
  assert.equal(m[0], 8, `${procedure}: expected ERROR, got ${JSON.stringify(m)}`);
  return m[4] as string;
}

/** SUBSCRIBE and wait for SUBSCRIBED; returns the subscription id. */
async function subscribe(c: RawClient, topic: string, options: D = {}): Promise<number> {
  const req = nextRequest++;
  c.send([32, req, options, topic]);
  const m = await take(c, (x) => (x[0] === 33 || x[0] === 8) && x[x[0] === 8 ? 2 : 1] === req);
  assert.equal(m[0], 33, `SUBSCRIBE ${topic}: ${JSON.stringify(m)}`);
  return m[2] as number;
}

/** REGISTER and wait for REGISTERED; returns the registration id. */
async function register(c: RawClient, procedure: string, options: D = {}): Promise<number> {
  const req = nextRequest++;
  c.send([64, req, options, procedure]);
  const m = await take(c, (x) => (x[0] === 65 || x[0] === 8) && x[x[0] === 8 ? 2 : 1] === req);
  assert.equal(m[0], 65, `REGISTER ${procedure}: ${JSON.stringify(m)}`);
  return m[2] as number;
}

/** A monitor subscribed to `topics`; `event()` returns the next meta event it gets. */
async function monitor(url: string, ser: "json" | "msgpack", topics: string[]) {
  const { client } = await RawClient.join(url, ser);
  const byId = new Map<unknown, string>();
  for (const t of topics) byId.set(await subscribe(client, t), t);
  return {
    client,
    async event(): Promise<{ topic: string; args: unknown[]; details: D }> {
      const ev = await take(client, (m) => m[0] === 36);
      return { topic: byId.get(ev[1])!, args: ev[4] as unknown[], details: ev[3] as D };
    },
  };
}

const sorted = (xs: unknown) => [...(xs as number[])].sort((a, b) => a - b);

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`subscription and registration meta API over ${ser}`, async (t) => {
    await t.step(
      "a session watching the meta API gets its own reply before the meta events",
      async () => {
        await using r = await startRouter();
        const mon = await monitor(r.url, ser, [...SUB_EVENTS, ...REG_EVENTS]);
        await using c = mon.client;
        // c.next() (not take): the very next message must be the reply
        c.send([32, 2, {}, "com.order.topic"]);
        const subscribed = await c.next();
        assert.equal(subscribed[0], 33, `SUBSCRIBED first, got ${JSON.stringify(subscribed)}`);
        assert.equal((await mon.event()).topic, "wamp.subscription.on_create");
        assert.equal((await mon.event()).topic, "wamp.subscription.on_subscribe");
        c.send([64, 3, {}, "com.order.proc"]);
        const registered = await c.next();
        assert.equal(registered[0], 65, `REGISTERED first, got ${JSON.stringify(registered)}`);
        assert.equal((await mon.event()).topic, "wamp.registration.on_create");
        assert.equal((await mon.event()).topic, "wamp.registration.on_register");
        c.send([66, 4, registered[2]]);
        assert.equal((await c.next())[0], 67, "UNREGISTERED first");
        assert.equal((await mon.event()).topic, "wamp.registration.on_unregister");
        assert.equal((await mon.event()).topic, "wamp.registration.on_delete");
        c.send([34, 5, subscribed[2]]);
        assert.equal((await c.next())[0], 35, "UNSUBSCRIBED first");
        assert.equal((await mon.event()).topic, "wamp.subscription.on_unsubscribe");
        assert.equal((await mon.event()).topic, "wamp.subscription.on_delete");
      },
    );

    await t.step("subscription meta events: create, subscribe, unsubscribe, delete", async () => {
      await using r = await startRouter();
      const mon = await monitor(r.url, ser, SUB_EVENTS);
      await using _m = mon.client;
      // the monitor's own wamp.* subscriptions are never reported
      assert.deepEqual(await mon.client.quiet(100), []);
      const a = await RawClient.join(r.url, ser);
      const b = await RawClient.join(r.url, ser);
      await using ac = a.client;
      await using bc = b.client;

      const sub = await subscribe(ac, "com.meta.topic");
      let ev = await mon.event();
      assert.equal(ev.topic, "wamp.subscription.on_create");
      assert.equal(ev.args.length, 2);
      assert.equal(ev.args[0], a.session);
      const info = ev.args[1] as D;
      assert.deepEqual(Object.keys(info).sort(), ["created", "id", "match", "uri"]);
      assert.equal(info.id, sub);
      assert.equal(info.uri, "com.meta.topic");
      assert.equal(info.match, "exact");
      assert.match(info.created as string, ISO_UTC);
      assert.equal(new Date(info.created as string).toISOString(), info.created);
      assert.equal(ev.details.publisher_authrole, "trusted", "published by the service session");
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_subscribe", [a.session, sub]]);

      // a later subscriber: on_subscribe only
      assert.equal(await subscribe(bc, "com.meta.topic"), sub);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_subscribe", [b.session, sub]]);

      // UNSUBSCRIBE while another subscriber remains: on_unsubscribe, no on_delete
      ac.send([34, 77, sub]);
      assert.deepEqual(await take(ac, (m) => m[0] === 35), [35, 77]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_unsubscribe", [a.session, sub]]);
      assert.deepEqual(await mon.client.quiet(100), []);

      // the last subscriber's session ends (socket closed, no GOODBYE)
      bc.ws.close();
      await bc.closed();
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_unsubscribe", [b.session, sub]]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_delete", [b.session, sub]]);

      // pattern subscriptions report their match; GOODBYE also ends them
      const pre = await subscribe(ac, "com.meta.", { match: "prefix" });
      ev = await mon.event();
      assert.equal(ev.topic, "wamp.subscription.on_create");
      assert.deepEqual(
        { ...(ev.args[1] as D), created: "" },
        { id: pre, uri: "com.meta.", match: "prefix", created: "" },
      );
      assert.equal((await mon.event()).topic, "wamp.subscription.on_subscribe");
      const wild = await subscribe(ac, "com..topic", { match: "wildcard" });
      ev = await mon.event();
      assert.equal((ev.args[1] as D).match, "wildcard");
      assert.equal((await mon.event()).topic, "wamp.subscription.on_subscribe");
      ac.send([6, {}, "wamp.close.close_realm"]);
      assert.equal((await take(ac, (m) => m[0] === 6))[2], "wamp.close.goodbye_and_out");
      const ends = [await mon.event(), await mon.event(), await mon.event(), await mon.event()];
      const byId = (id: number) => ends.filter((e) => e.args[1] === id).map((e) => e.topic);
      assert.deepEqual(byId(pre), [
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
      ]);
      assert.deepEqual(byId(wild), [
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
      ]);
      assert.ok(ends.every((e) => e.args[0] === a.session));

      // never for wamp.* topics
      await using c = (await RawClient.join(r.url, ser)).client;
      const w = await subscribe(c, "wamp.session.on_join");
      await subscribe(c, "wamp.registration.", { match: "prefix" });
      c.send([34, 78, w]);
      await take(c, (m) => m[0] === 35);
      assert.deepEqual(await mon.client.quiet(150), []);
    });

    await t.step("registration meta events: create, register, unregister, delete", async () => {
      await using r = await startRouter();
      const mon = await monitor(r.url, ser, REG_EVENTS);
      await using _m = mon.client;
      // the service session's own wamp.* registrations were never reported
      assert.deepEqual(await mon.client.quiet(100), []);
      const a = await RawClient.join(r.url, ser);
      const b = await RawClient.join(r.url, ser);
      await using ac = a.client;
      await using bc = b.client;

      const reg = await register(ac, "com.meta.proc", { invoke: "roundrobin" });
      let ev = await mon.event();
      assert.equal(ev.topic, "wamp.registration.on_create");
      assert.equal(ev.args[0], a.session);
      const info = ev.args[1] as D;
      assert.deepEqual(Object.keys(info).sort(), ["created", "id", "invoke", "match", "uri"]);
      assert.deepEqual(
        { ...info, created: "" },
        { id: reg, uri: "com.meta.proc", match: "exact", invoke: "roundrobin", created: "" },
      );
      assert.match(info.created as string, ISO_UTC);
      assert.equal(ev.details.publisher_authrole, "trusted");
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_register", [a.session, reg]]);

      assert.equal(await register(bc, "com.meta.proc", { invoke: "roundrobin" }), reg);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_register", [b.session, reg]]);

      ac.send([66, 79, reg]);
      assert.deepEqual(await take(ac, (m) => m[0] === 67), [67, 79]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_unregister", [a.session, reg]]);
      assert.deepEqual(await mon.client.quiet(100), []);

      bc.ws.close();
      await bc.closed();
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_unregister", [b.session, reg]]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_delete", [b.session, reg]]);

      const pre = await register(ac, "com.meta.", { match: "prefix" });
      ev = await mon.event();
      assert.deepEqual(
        { ...(ev.args[1] as D), created: "" },
        { id: pre, uri: "com.meta.", match: "prefix", invoke: "single", created: "" },
      );
      assert.equal((await mon.event()).topic, "wamp.registration.on_register");
      ac.send([6, {}, "wamp.close.close_realm"]);
      await take(ac, (m) => m[0] === 6);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_unregister", [a.session, pre]]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_delete", [a.session, pre]]);
      assert.deepEqual(await mon.client.quiet(100), []);
    });

    await t.step(
      "subscription meta procedures: list, lookup, match, get, subscribers",
      async () => {
        await using r = await startRouter();
        const a = await RawClient.join(r.url, ser);
        const b = await RawClient.join(r.url, ser);
        await using ac = a.client;
        await using bc = b.client;
        await using admin = (await RawClient.join(r.url, ser)).client;
        const exact = await subscribe(ac, "com.mp.a.b");
        assert.equal(await subscribe(bc, "com.mp.a.b"), exact);
        const prefix = await subscribe(ac, "com.mp", { match: "prefix" });
        const wild = await subscribe(ac, "com.mp..b", { match: "wildcard" });
        const hidden = await subscribe(admin, "wamp.session.on_join");

        assert.deepEqual(await result(admin, "wamp.subscription.list"), {
          exact: [exact],
          prefix: [prefix],
          wildcard: [wild],
        });
        assert.equal(await result(admin, "wamp.subscription.lookup", ["com.mp.a.b"]), exact);
        assert.equal(
          await result(admin, "wamp.subscription.lookup", ["com.mp.a.b", { match: "exact" }]),
          exact,
        );
        assert.equal(
          await result(admin, "wamp.subscription.lookup", ["com.mp", { match: "prefix" }]),
          prefix,
        );
        assert.equal(
          await result(admin, "wamp.subscription.lookup", ["com.mp..b", { match: "wildcard" }]),
          wild,
        );
        assert.equal(await result(admin, "wamp.subscription.lookup", ["com.mp"]), null);
        assert.equal(
          await result(admin, "wamp.subscription.lookup", ["wamp.session.on_join"]),
          null,
        );
        assert.equal(
          await failure(admin, "wamp.subscription.lookup", ["com.mp", { match: "fuzzy" }]),
          "wamp.error.invalid_argument",
        );

        assert.deepEqual(
          sorted(await result(admin, "wamp.subscription.match", ["com.mp.a.b"])),
          sorted([exact, prefix, wild]),
        );
        assert.deepEqual(
          sorted(await result(admin, "wamp.subscription.match", ["com.mp.x.b"])),
          sorted([prefix, wild]),
        );
        assert.deepEqual(await result(admin, "wamp.subscription.match", ["com.mpq"]), [prefix]);
        assert.equal(await result(admin, "wamp.subscription.match", ["org.none"]), null);
        assert.equal(
          await result(admin, "wamp.subscription.match", ["wamp.session.on_join"]),
          null,
        );

        const got = await result(admin, "wamp.subscription.get", [exact]) as D;
        assert.deepEqual(Object.keys(got).sort(), ["created", "id", "match", "uri"]);
        assert.deepEqual({ ...got, created: "" }, {
          id: exact,
          uri: "com.mp.a.b",
          match: "exact",
          created: "",
        });
        assert.match(got.created as string, ISO_UTC);
        assert.equal(
          ((await result(admin, "wamp.subscription.get", [wild])) as D).match,
          "wildcard",
        );
        assert.equal(
          await failure(admin, "wamp.subscription.get", [exact + 1]),
          "wamp.error.no_such_subscription",
        );
        assert.equal(
          await failure(admin, "wamp.subscription.get", [hidden]),
          "wamp.error.not_authorized",
        );
        assert.equal(
          await failure(admin, "wamp.subscription.get", ["nope"]),
          "wamp.error.invalid_argument",
        );

        assert.deepEqual(
          sorted(await result(admin, "wamp.subscription.list_subscribers", [exact])),
          sorted([a.session, b.session]),
        );
        assert.deepEqual(
          await result(admin, "wamp.subscription.list_subscribers", [prefix]),
          [a.session],
        );
        assert.equal(await result(admin, "wamp.subscription.count_subscribers", [exact]), 2);
        assert.equal(await result(admin, "wamp.subscription.count_subscribers", [wild]), 1);
        assert.equal(
          await failure(admin, "wamp.subscription.count_subscribers", [exact + 1]),
          "wamp.error.no_such_subscription",
        );
        assert.equal(
          await failure(admin, "wamp.subscription.list_subscribers", [hidden]),
          "wamp.error.not_authorized",
        );
        // no event history is configured on this realm
        assert.equal(
          await failure(admin, "wamp.subscription.get_events", [exact]),
          "wamp.error.history_unavailable",
        );

        // after b leaves, one subscriber is left; after a leaves, the subscription is gone
        bc.ws.close();
        await bc.closed();
        assert.equal(await result(admin, "wamp.subscription.count_subscribers", [exact]), 1);
        ac.ws.close();
        await ac.closed();
        assert.deepEqual(await result(admin, "wamp.subscription.list"), {
          exact: [],
          prefix: [],
          wildcard: [],
        });
        assert.equal(await result(admin, "wamp.subscription.lookup", ["com.mp.a.b"]), null);
        assert.equal(
          await failure(admin, "wamp.subscription.get", [exact]),
          "wamp.error.no_such_subscription",
        );
      },
    );

    await t.step("registration meta procedures: list, lookup, match, get, callees", async () => {
      await using r = await startRouter();
      const a = await RawClient.join(r.url, ser);
      const b = await RawClient.join(r.url, ser);
      await using ac = a.client;
      await using bc = b.client;
      await using admin = (await RawClient.join(r.url, ser)).client;
      const exact = await register(ac, "com.rp.a.b", { invoke: "roundrobin" });
      assert.equal(await register(bc, "com.rp.a.b", { invoke: "roundrobin" }), exact);
      const prefix = await register(ac, "com.rp", { match: "prefix" });
      const wild = await register(ac, "com.rp..c", { match: "wildcard" });
      const wild2 = await register(ac, "org..c", { match: "wildcard" });

      // the service session's wamp.* registrations are hidden
      const list = await result(admin, "wamp.registration.list") as Record<string, number[]>;
      assert.deepEqual({ ...list, wildcard: sorted(list.wildcard) }, {
        exact: [exact],
        prefix: [prefix],
        wildcard: sorted([wild, wild2]),
      });
      assert.equal(await result(admin, "wamp.registration.lookup", ["com.rp.a.b"]), exact);
      assert.equal(
        await result(admin, "wamp.registration.lookup", ["com.rp", { match: "prefix" }]),
        prefix,
      );
      assert.equal(
        await result(admin, "wamp.registration.lookup", ["com.rp..c", { match: "wildcard" }]),
        wild,
      );
      assert.equal(await result(admin, "wamp.registration.lookup", ["com.rp"]), null);
      assert.equal(await result(admin, "wamp.registration.lookup", ["wamp.session.count"]), null);

      // match: the registration a CALL would use (exact > longest prefix > wildcard)
      assert.equal(await result(admin, "wamp.registration.match", ["com.rp.a.b"]), exact);
      assert.equal(await result(admin, "wamp.registration.match", ["com.rp.x.c"]), prefix);
      assert.equal(await result(admin, "wamp.registration.match", ["org.x.c"]), wild2);
      assert.equal(await result(admin, "wamp.registration.match", ["org.x.d"]), null);
      assert.equal(await result(admin, "wamp.registration.match", ["wamp.session.count"]), null);

      const got = await result(admin, "wamp.registration.get", [exact]) as D;
      assert.deepEqual(Object.keys(got).sort(), ["created", "id", "invoke", "match", "uri"]);
      assert.deepEqual({ ...got, created: "" }, {
        id: exact,
        uri: "com.rp.a.b",
        match: "exact",
        invoke: "roundrobin",
        created: "",
      });
      assert.match(got.created as string, ISO_UTC);
      assert.deepEqual(
        { ...(await result(admin, "wamp.registration.get", [wild]) as D), created: "" },
        { id: wild, uri: "com.rp..c", match: "wildcard", invoke: "single", created: "" },
      );
      assert.equal(
        await failure(admin, "wamp.registration.get", [exact + 1]),
        "wamp.error.no_such_registration",
      );

      assert.deepEqual(
        sorted(await result(admin, "wamp.registration.list_callees", [exact])),
        sorted([a.session, b.session]),
      );
      assert.deepEqual(await result(admin, "wamp.registration.list_callees", [prefix]), [
        a.session,
      ]);
      assert.equal(await result(admin, "wamp.registration.count_callees", [exact]), 2);
      assert.equal(await result(admin, "wamp.registration.count_callees", [wild]), 1);
      assert.equal(
        await failure(admin, "wamp.registration.count_callees", [exact + 1]),
        "wamp.error.no_such_registration",
      );

      ac.ws.close();
      await ac.closed();
      assert.deepEqual(await result(admin, "wamp.registration.list_callees", [exact]), [
        b.session,
      ]);
      assert.equal(await result(admin, "wamp.registration.match", ["com.rp.x.c"]), null);
      assert.deepEqual(await result(admin, "wamp.registration.list"), {
        exact: [exact],
        prefix: [],
        wildcard: [],
      });
    });

    await t.step("remove_subscriber: UNSUBSCRIBED [35, 0, …] only if announced", async () => {
      await using r = await startRouter();
      const mon = await monitor(r.url, ser, [
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
      ]);
      await using _m = mon.client;
      const s1 = await RawClient.join(
        r.url,
        ser,
        "realm1",
        roles({ subscriber: { subscription_revocation: true } }),
      );
      const s2 = await RawClient.join(r.url, ser);
      await using c1 = s1.client;
      await using c2 = s2.client;
      await using admin = (await RawClient.join(r.url, ser)).client;
      const sub = await subscribe(c1, "com.rev");
      assert.equal(await subscribe(c2, "com.rev"), sub);

      // reason as a keyword argument
      assert.equal(
        await result(admin, "wamp.subscription.remove_subscriber", [sub, s1.session], {
          reason: "com.example.revoked",
        }),
        null,
      );
      assert.deepEqual(await c1.next(), [35, 0, {
        subscription: sub,
        reason: "com.example.revoked",
      }]);
      let ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_unsubscribe", [
        s1.session,
        sub,
      ]]);

      // s2 did not announce subscription_revocation: no message, but the meta events fire
      assert.equal(
        await result(admin, "wamp.subscription.remove_subscriber", [
          sub,
          s2.session,
          "com.example.gone",
        ]),
        null,
      );
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_unsubscribe", [
        s2.session,
        sub,
      ]]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.subscription.on_delete", [s2.session, sub]]);
      assert.deepEqual(await c2.quiet(100), []);

      // neither receives events any more; their UNSUBSCRIBE finds nothing
      admin.send([16, 1, { acknowledge: true }, "com.rev", ["after"]]);
      assert.equal((await take(admin, (m) => m[0] === 17 || m[0] === 8))[0], 17);
      assert.deepEqual(await c1.quiet(100), []);
      assert.deepEqual(await c2.quiet(0), []);
      c1.send([34, 5, sub]);
      assert.equal((await c1.next())[4], "wamp.error.no_such_subscription");
      assert.equal(
        await failure(admin, "wamp.subscription.remove_subscriber", [sub, s1.session]),
        "wamp.error.no_such_subscription",
      );

      // without a reason, only the subscription id; a session that is not subscribed fails
      const sub2 = await subscribe(c1, "com.rev2");
      assert.equal(
        await failure(admin, "wamp.subscription.remove_subscriber", [sub2, s2.session]),
        "wamp.error.no_such_session",
      );
      await result(admin, "wamp.subscription.remove_subscriber", [sub2, s1.session]);
      assert.deepEqual(await c1.next(), [35, 0, { subscription: sub2 }]);
    });

    await t.step("remove_callee: UNREGISTERED [67, 0, …] only if announced", async () => {
      await using r = await startRouter();
      const mon = await monitor(r.url, ser, [
        "wamp.registration.on_unregister",
        "wamp.registration.on_delete",
      ]);
      await using _m = mon.client;
      const k1 = await RawClient.join(
        r.url,
        ser,
        "realm1",
        roles({ callee: { registration_revocation: true } }),
      );
      const k2 = await RawClient.join(r.url, ser);
      await using c1 = k1.client;
      await using c2 = k2.client;
      await using admin = (await RawClient.join(r.url, ser)).client;
      const reg = await register(c1, "com.revp", { invoke: "first" });
      assert.equal(await register(c2, "com.revp", { invoke: "first" }), reg);

      assert.equal(
        await result(admin, "wamp.registration.remove_callee", [
          reg,
          k1.session,
          "com.example.revoked",
        ]),
        null,
      );
      assert.deepEqual(await c1.next(), [67, 0, {
        registration: reg,
        reason: "com.example.revoked",
      }]);
      let ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_unregister", [k1.session, reg]]);
      // calls now go to the remaining callee
      admin.send([48, 1, {}, "com.revp"]);
      const inv = await c2.next();
      assert.equal(inv[0], 68);
      c2.send([70, inv[1], {}, ["k2"]]);
      assert.deepEqual((await take(admin, (m) => m[0] === 50 && m[1] === 1))[3], ["k2"]);
      assert.deepEqual(await c1.quiet(50), []);

      assert.equal(
        await result(admin, "wamp.registration.remove_callee", [reg, k2.session], {
          reason: "com.example.gone",
        }),
        null,
      );
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_unregister", [k2.session, reg]]);
      ev = await mon.event();
      assert.deepEqual([ev.topic, ev.args], ["wamp.registration.on_delete", [k2.session, reg]]);
      assert.deepEqual(await c2.quiet(100), []);
      admin.send([48, 2, {}, "com.revp"]);
      assert.equal(
        (await take(admin, (m) => m[0] === 8 && m[2] === 2))[4],
        "wamp.error.no_such_procedure",
      );
      c2.send([66, 3, reg]);
      assert.equal((await c2.next())[4], "wamp.error.no_such_registration");

      const reg2 = await register(c1, "com.revp2");
      assert.equal(
        await failure(admin, "wamp.registration.remove_callee", [reg2, k2.session]),
        "wamp.error.no_such_session",
      );
      await result(admin, "wamp.registration.remove_callee", [reg2, k1.session]);
      assert.deepEqual(await c1.next(), [67, 0, { registration: reg2 }]);
    });
  });

  Deno.test(`enable_meta_api: false over ${ser}: none of the meta API`, async () => {
    await using r = await startRouter(testConfig({ options: { enable_meta_api: false } }));
    const j = await RawClient.join(r.url, ser);
    await using c = j.client;
    const roles = (j.welcome[2] as D).roles as Record<string, { features: D }>;
    const announced = [
      ...Object.keys(roles.broker!.features),
      ...Object.keys(roles.dealer!.features),
    ];
    for (
      const f of [
        "session_meta_api",
        "subscription_meta_api",
        "registration_meta_api",
        "testament_meta_api",
        "event_history",
      ]
    ) {
      assert.ok(!announced.includes(f), `${f} is not announced without the meta API`);
    }
    assert.ok(announced.includes("event_retention"), "features without meta procedures stay");
    for (
      const proc of [
        "wamp.subscription.list",
        "wamp.registration.list",
        "wamp.subscription.get_events",
        "wamp.session.add_testament",
      ]
    ) {
      assert.equal(await failure(c, proc), "wamp.error.no_such_procedure", proc);
    }
    await subscribe(c, "wamp.subscription.on_create");
    await using other = (await RawClient.join(r.url, ser)).client;
    await subscribe(other, "com.quiet");
    assert.deepEqual(await c.quiet(150), [], "no meta events");
  });

  Deno.test(`testaments over ${ser}`, async (t) => {
    const add = (c: RawClient, topic: string, args?: unknown[], kwargs?: D, opts?: D) =>
      call(c, "wamp.session.add_testament", [topic, args ?? null, kwargs ?? null], opts ?? {});

    await t.step(
      "published when the session ends: detached, then destroyed, in insertion order",
      async () => {
        await using r = await startRouter();
        await using sub = (await RawClient.join(r.url, ser)).client;
        const subId = await subscribe(sub, "com.will");
        const a = await RawClient.join(r.url, ser);
        await using ac = a.client;
        for (
          const [args, opts] of [
            [["d1"], {}],
            [["x1"], { scope: "detached" }],
            [["d2"], { scope: "destroyed" }],
            [["x2"], { scope: "detached" }],
          ] as const
        ) {
          const m = await add(ac, "com.will", [...args], { who: args[0] }, opts);
          assert.equal(m[0], 50, JSON.stringify(m));
        }
        assert.deepEqual(await sub.quiet(100), [], "nothing is published before the end");
        ac.send([6, {}, "wamp.close.close_realm"]);
        assert.equal((await take(ac, (m) => m[0] === 6))[2], "wamp.close.goodbye_and_out");
        const got: unknown[] = [];
        for (let i = 0; i < 4; i++) {
          const ev = await sub.next();
          assert.equal(ev[0], 36);
          assert.equal(ev[1], subId);
          assert.deepEqual(ev[3], {}, "not disclosed unless asked");
          assert.deepEqual(ev[5], { who: (ev[4] as unknown[])[0] });
          got.push((ev[4] as unknown[])[0]);
        }
        assert.deepEqual(got, ["x1", "x2", "d1", "d2"]);
        assert.deepEqual(await sub.quiet(100), []);
      },
    );

    await t.step("published on disconnect and on kill; publish_options apply", async () => {
      await using r = await startRouter();
      const s = await RawClient.join(r.url, ser);
      await using sub = s.client;
      const other = await RawClient.join(r.url, ser);
      await using oc = other.client;
      await subscribe(sub, "com.will");
      await subscribe(oc, "com.will");

      // transport loss without GOODBYE
      const a = await RawClient.join(r.url, ser);
      await add(a.client, "com.will", ["lost"], undefined, {
        publish_options: { disclose_me: true, acknowledge: true },
      });
      a.client.ws.close();
      await a.client.closed();
      for (const c of [sub, oc]) {
        const ev = await c.next();
        assert.deepEqual(ev[4], ["lost"]);
        assert.equal(ev.length, 5, "no kwargs element");
        assert.equal((ev[3] as D).publisher, a.session, "disclose_me from publish_options");
      }

      // killed through the session meta API; eligible limits the receivers
      const b = await RawClient.join(r.url, ser);
      await using bc = b.client;
      await add(bc, "com.will", ["killed"], undefined, {
        publish_options: { eligible: [s.session] },
      });
      assert.equal(await result(oc, "wamp.session.kill", [b.session]), null);
      assert.equal((await take(bc, (m) => m[0] === 6))[2], "wamp.close.killed");
      assert.deepEqual((await sub.next())[4], ["killed"]);
      assert.deepEqual(await oc.quiet(100), []);
    });

    await t.step("flush_testaments removes them and returns the count", async () => {
      await using r = await startRouter();
      await using sub = (await RawClient.join(r.url, ser)).client;
      await subscribe(sub, "com.will");
      const a = await RawClient.join(r.url, ser);
      await using ac = a.client;
      await add(ac, "com.will", ["d1"]);
      await add(ac, "com.will", ["d2"], undefined, { scope: "destroyed" });
      await add(ac, "com.will", ["x1"], undefined, { scope: "detached" });
      assert.equal(await result(ac, "wamp.session.flush_testaments"), 2);
      assert.equal(
        await result(ac, "wamp.session.flush_testaments", [], { scope: "destroyed" }),
        0,
      );
      await add(ac, "com.will", ["x2"], undefined, { scope: "detached" });
      assert.equal(
        await result(ac, "wamp.session.flush_testaments", [], { scope: "detached" }),
        2,
      );
      await add(ac, "com.will", ["kept"]);
      ac.send([6, {}, "wamp.close.close_realm"]);
      await take(ac, (m) => m[0] === 6);
      assert.deepEqual((await sub.next())[4], ["kept"], "only the testament added after flushing");
      assert.deepEqual(await sub.quiet(100), []);
    });

    await t.step("errors: bad scope is testament_error; bad topic; denied topic", async () => {
      await using r = await startRouter(testConfig({
        roles: [{
          name: "anonymous",
          permissions: [
            { uri: "", match: "prefix", allow: { call: true, subscribe: true } },
            { uri: "com.will", match: "exact", allow: { publish: true, subscribe: true } },
          ],
        }],
      }));
      await using sub = (await RawClient.join(r.url, ser)).client;
      await subscribe(sub, "com.will");
      await subscribe(sub, "com.secret");
      await using ac = (await RawClient.join(r.url, ser)).client;
      let m = await add(ac, "com.will", ["x"], undefined, { scope: "sometimes" });
      assert.deepEqual([m[0], m[4]], [8, "wamp.error.testament_error"]);
      assert.equal(
        await failure(ac, "wamp.session.flush_testaments", [], { scope: "forever" }),
        "wamp.error.testament_error",
      );
      m = await add(ac, "com..will", ["x"]);
      assert.deepEqual([m[0], m[4]], [8, "wamp.error.invalid_uri"]);
      // stored, but on leave published with the session's own permissions: denied
      m = await add(ac, "com.secret", ["no"]);
      assert.equal(m[0], 50);
      m = await add(ac, "com.will", ["yes"]);
      assert.equal(m[0], 50);
      ac.ws.close();
      await ac.closed();
      assert.deepEqual((await sub.next())[4], ["yes"]);
      assert.deepEqual(await sub.quiet(100), []);
    });
  });
}
