/**
 * Advanced broker features with raw WAMP messages over real WebSockets, on JSON and
 * MessagePack: event retention (exact and pattern subscriptions, black/white lists), event
 * history (`store` config and `wamp.subscription.get_events`) and payload passthru mode.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;
type Msg = unknown[];
type Ser = "json" | "msgpack";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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

/** The first message that satisfies `pred` (skipped ones are kept in `c.skipped`). */
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

/** SUBSCRIBE; returns the SUBSCRIBED subscription id (asserting SUBSCRIBED came). */
async function subscribe(c: RawClient, topic: string, options: D = {}): Promise<number> {
  const req = nextRequest++;
  c.send([32, req, options, topic]);
  const m = await c.next();
  assert.deepEqual([m[0], m[1]], [33, req], `SUBSCRIBE ${topic}: ${JSON.stringify(m)}`);
  return m[2] as number;
}

/** PUBLISH with acknowledge; returns the publication id. */
async function publish(
  c: RawClient,
  topic: string,
  options: D,
  args?: unknown[],
  kwargs?: D,
): Promise<number> {
  const req = nextRequest++;
  const msg: Msg = [16, req, { ...options, acknowledge: true }, topic];
  if (args || kwargs) msg.push(args ?? []);
  if (kwargs) msg.push(kwargs);
  c.send(msg);
  const m = await take(c, (x) => (x[0] === 17 && x[1] === req) || (x[0] === 8 && x[2] === req));
  assert.equal(m[0], 17, `PUBLISH ${topic}: ${JSON.stringify(m)}`);
  return m[2] as number;
}

/** CALL; returns the RESULT or ERROR. */
async function call(c: RawClient, procedure: string, args: unknown[]): Promise<Msg> {
  const req = nextRequest++;
  c.send([48, req, {}, procedure, args]);
  return await take(c, (m) => (m[0] === 50 && m[1] === req) || (m[0] === 8 && m[2] === req));
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

  Deno.test(`event retention over ${ser}`, async (t) => {
    await using r = await startRouter();

    await t.step(
      "get_retained: the latest retained event, fresh id, after SUBSCRIBED",
      async () => {
        await using pub = await join(r.url);
        // stored although nobody is subscribed
        const p1 = await publish(pub, "com.ret.a", { retain: true }, ["first"]);
        const p2 = await publish(pub, "com.ret.a", { retain: true }, ["second"], { n: 2 });
        const p3 = await publish(pub, "com.ret.a", {}, ["not retained"]);

        await using sub = await join(r.url);
        sub.send([32, 1, { get_retained: true }, "com.ret.a"]);
        const subscribed = await sub.next();
        assert.equal(subscribed[0], 33, "SUBSCRIBED comes first");
        const ev = await sub.next();
        assert.equal(ev[0], 36);
        assert.equal(ev[1], subscribed[2]);
        assert.deepEqual(ev[3], { retained: true });
        assert.deepEqual(ev[4], ["second"]);
        assert.deepEqual(ev[5], { n: 2 });
        const id = ev[2] as number;
        assert.ok(Number.isInteger(id) && id >= 1 && id <= 2 ** 53);
        assert.ok(![p1, p2, p3].includes(id), "a fresh publication id");
        assert.deepEqual(await sub.quiet(100), [], "exactly one retained event");

        // a second subscriber of the same subscription gets it; the first does not again
        await using sub2 = await join(r.url);
        sub2.send([32, 1, { get_retained: true }, "com.ret.a"]);
        assert.equal((await sub2.next())[2], subscribed[2]);
        const ev2 = await sub2.next();
        assert.deepEqual([ev2[0], ev2[3], ev2[4]], [36, { retained: true }, ["second"]]);
        assert.notEqual(ev2[2], id, "each retained delivery has its own publication id");
        assert.deepEqual(await sub.quiet(100), []);

        // without get_retained (or get_retained false) nothing is sent
        await using plain = await join(r.url);
        await subscribe(plain, "com.ret.a");
        await subscribe(plain, "com.ret.a", { get_retained: false, match: "prefix" });
        assert.deepEqual(await plain.quiet(100), []);
        // nothing retained on this topic
        await subscribe(plain, "com.ret.none", { get_retained: true });
        assert.deepEqual(await plain.quiet(100), []);

        // ordinary events still flow; a retained publish also reaches current subscribers
        await publish(pub, "com.ret.a", { retain: true }, ["third"]);
        const live = await sub.next();
        assert.deepEqual(
          [live[3], live[4]],
          [{}, ["third"]],
          "live events are not marked retained",
        );
      },
    );

    await t.step("prefix and wildcard subscriptions get one per matching topic", async () => {
      await using pub = await join(r.url);
      await publish(pub, "com.rp.a", { retain: true }, ["A"]);
      await publish(pub, "com.rp.b", { retain: true }, ["B"]);
      await publish(pub, "com.rpx", { retain: true }, ["X"]);
      await publish(pub, "org.rp.a", { retain: true }, ["O"]);

      await using sub = await join(r.url);
      const pre = await subscribe(sub, "com.rp.", { match: "prefix", get_retained: true });
      const evs = [await sub.next(), await sub.next()];
      assert.deepEqual(await sub.quiet(100), []);
      const byTopic = evs.map((e) => ({ sub: e[1], details: e[3], args: e[4] })).sort((x, y) =>
        String((x.details as D).topic).localeCompare(String((y.details as D).topic))
      );
      assert.deepEqual(byTopic, [
        { sub: pre, details: { retained: true, topic: "com.rp.a" }, args: ["A"] },
        { sub: pre, details: { retained: true, topic: "com.rp.b" }, args: ["B"] },
      ]);

      const wild = await subscribe(sub, ".rp.a", { match: "wildcard", get_retained: true });
      const w = [await sub.next(), await sub.next()];
      assert.deepEqual(await sub.quiet(100), []);
      assert.deepEqual(
        w.map((e) => [e[1], (e[3] as D).topic, (e[3] as D).retained, e[4]]).sort((x, y) =>
          String(x[1]).localeCompare(String(y[1]))
        ),
        [[wild, "com.rp.a", true, ["A"]], [wild, "org.rp.a", true, ["O"]]],
      );
    });

    await t.step("black/white lists of the retained publish decide who gets it", async () => {
      const xj = await RawClient.join(r.url, ser);
      const yj = await RawClient.join(r.url, ser);
      await using x = xj.client;
      await using y = yj.client;
      const xAuthid = (xj.welcome[2] as D).authid;
      await using pub = await join(r.url);

      // a retained event for everyone, then one only x may see: each gets the latest it may see
      await publish(pub, "com.bw.t", { retain: true }, ["all"]);
      await publish(pub, "com.bw.t", { retain: true, eligible: [xj.session] }, ["only x"]);
      await subscribe(x, "com.bw.t", { get_retained: true });
      assert.deepEqual((await x.next())[4], ["only x"]);
      await subscribe(y, "com.bw.t", { get_retained: true });
      assert.deepEqual((await y.next())[4], ["all"], "the retained event for everyone is kept");
      assert.deepEqual(await x.quiet(100), []);
      assert.deepEqual(await y.quiet(0), []);

      await publish(pub, "com.bw.u", { retain: true, exclude_authid: [xAuthid] }, ["not x"]);
      await subscribe(x, "com.bw.u", { get_retained: true });
      await subscribe(y, "com.bw.u", { get_retained: true });
      assert.deepEqual((await y.next())[4], ["not x"]);
      assert.deepEqual(await x.quiet(100), []);

      await publish(pub, "com.bw.v", { retain: true, exclude: [yj.session] }, ["v"]);
      await publish(pub, "com.bw.w", { retain: true, eligible_authrole: ["nobody"] }, ["w"]);
      await subscribe(x, "com.bw.v", { get_retained: true });
      assert.deepEqual((await x.next())[4], ["v"]);
      await subscribe(y, "com.bw.v", { get_retained: true });
      await subscribe(x, "com.bw.w", { get_retained: true });
      await subscribe(y, "com.bw.w", { get_retained: true });
      assert.deepEqual(await x.quiet(100), []);
      assert.deepEqual(await y.quiet(0), []);

      // a new retained event for everyone replaces all earlier ones
      await publish(pub, "com.bw.t", { retain: true }, ["all again"]);
      await x.quiet(50); // the live EVENTs
      await y.quiet(0);
      await using z = await join(r.url);
      await subscribe(z, "com.bw.t", { get_retained: true });
      assert.deepEqual((await z.next())[4], ["all again"]);
      assert.deepEqual(await z.quiet(100), []);
      // x subscribing again with get_retained: the newest event it may see
      await subscribe(x, "com.bw.t", { get_retained: true });
      assert.deepEqual((await x.next())[4], ["all again"]);
    });

    await t.step("retained passthru events only go to subscribers announcing it", async () => {
      await using pub = await join(r.url, roles({ publisher: { payload_passthru_mode: true } }));
      await publish(pub, "com.ret.ppt", { retain: true, ...PPT }, [BYTES]);
      await using plain = await join(r.url);
      await subscribe(plain, "com.ret.ppt", { get_retained: true });
      assert.deepEqual(await plain.quiet(100), []);
      await using ppt = await join(r.url, roles({ subscriber: { payload_passthru_mode: true } }));
      await subscribe(ppt, "com.ret.ppt", { get_retained: true });
      const ev = await ppt.next();
      assert.deepEqual(ev[3], { retained: true, ...PPT });
      assert.deepEqual(ev[4], [BYTES]);
    });
  });

  Deno.test(`event history over ${ser}`, async (t) => {
    await using r = await startRouter(testConfig({
      store: {
        type: "memory",
        "event-history": [
          { uri: "com.hist", match: "exact", limit: 3 },
          { uri: "com.hp.", match: "prefix", limit: 2 },
        ],
      },
    }));
    await using pub = await join(r.url);
    await using sub = await join(r.url);
    await using admin = await join(r.url);

    await t.step("the last `limit` events, oldest first, for get_events", async () => {
      const pubs: number[] = [];
      pubs.push(await publish(pub, "com.hist", {}, ["e0"])); // before anyone subscribed
      const s = await subscribe(sub, "com.hist");
      pubs.push(await publish(pub, "com.hist", {}, ["e1"]));
      pubs.push(await publish(pub, "com.hist", {}, ["e2"], { n: 2 }));
      pubs.push(await publish(pub, "com.other", {}, ["not kept"]));
      pubs.push(await publish(pub, "com.hist", {}, ["e3"]));
      pubs.push(await publish(pub, "com.hist", {}));
      await sub.quiet(50);

      const res = await call(admin, "wamp.subscription.get_events", [s]);
      assert.equal(res[0], 50, JSON.stringify(res));
      const events = (res[3] as unknown[])[0] as D[];
      assert.equal(events.length, 3, "limit 3 (default get_events limit is 10)");
      for (const e of events) {
        assert.match(e.timestamp as string, ISO_UTC);
        assert.equal(e.subscription, s);
        assert.equal(e.topic, "com.hist");
      }
      assert.deepEqual(events.map((e) => e.publication), [pubs[2], pubs[4], pubs[5]]);
      assert.deepEqual(
        events.map(({ timestamp: _t, subscription: _s, publication: _p, ...rest }) => rest),
        [
          { topic: "com.hist", args: ["e2"], kwargs: { n: 2 } },
          { topic: "com.hist", args: ["e3"] },
          { topic: "com.hist" },
        ],
      );
      const two = await call(admin, "wamp.subscription.get_events", [s, 2]);
      assert.deepEqual(
        ((two[3] as unknown[])[0] as D[]).map((e) => e.publication),
        [pubs[4], pubs[5]],
      );
      const none = await call(admin, "wamp.subscription.get_events", [s, 0]);
      assert.deepEqual((none[3] as unknown[])[0], []);
      const bad = await call(admin, "wamp.subscription.get_events", [s, -1]);
      assert.deepEqual([bad[0], bad[4]], [8, "wamp.error.invalid_argument"]);
    });

    await t.step("prefix history keeps each event's topic", async () => {
      const s = await subscribe(sub, "com.hp.", { match: "prefix" });
      for (const x of ["a", "b", "c"]) await publish(pub, `com.hp.${x}`, {}, [x]);
      await sub.quiet(50);
      const res = await call(admin, "wamp.subscription.get_events", [s, 10]);
      const events = (res[3] as unknown[])[0] as D[];
      assert.deepEqual(events.map((e) => [e.subscription, e.topic, e.args]), [
        [s, "com.hp.b", ["b"]],
        [s, "com.hp.c", ["c"]],
      ]);
    });

    await t.step("history_unavailable where none is configured", async () => {
      for (
        const [topic, match] of [["com.nohist", "exact"], ["com.hist", "prefix"], [
          "com.hp.a",
          "exact",
        ]]
      ) {
        const s = await subscribe(sub, topic!, { match });
        const res = await call(admin, "wamp.subscription.get_events", [s]);
        assert.deepEqual([res[0], res[4]], [8, "wamp.error.history_unavailable"], topic);
      }
      const res = await call(admin, "wamp.subscription.get_events", [12345]);
      assert.deepEqual([res[0], res[4]], [8, "wamp.error.no_such_subscription"]);
    });
  });

  Deno.test(`payload passthru (pub/sub) over ${ser}`, async (t) => {
    await using r = await startRouter();

    await t.step(
      "payload untouched, ppt_* in EVENT details, only to announcing subscribers",
      async () => {
        await using pub = await join(r.url, roles({ publisher: { payload_passthru_mode: true } }));
        await using s1 = await join(r.url, roles({ subscriber: { payload_passthru_mode: true } }));
        await using s2 = await join(r.url);
        const raw: string[] = [];
        s1.ws.addEventListener("message", (ev) => {
          if (typeof ev.data === "string") raw.push(ev.data);
        });
        const id1 = await subscribe(s1, "com.ppt");
        const pat = await subscribe(s1, "com.pp", { match: "prefix" });
        await subscribe(s2, "com.ppt");

        await publish(pub, "com.ppt", PPT, [BYTES]);
        const evs = [await s1.next(), await s1.next()];
        const exact = evs.find((e) => e[1] === id1)!;
        const prefix = evs.find((e) => e[1] === pat)!;
        assert.deepEqual(exact[3], PPT, "exactly the ppt_* keys");
        assert.deepEqual(exact[4], [BYTES]);
        assert.ok(exact[4] && (exact[4] as unknown[])[0] instanceof Uint8Array);
        assert.equal(exact.length, 5, "no kwargs added");
        assert.deepEqual(prefix[3], { ...PPT, topic: "com.ppt" });
        assert.deepEqual(
          await s2.quiet(100),
          [],
          "the subscriber without the feature gets nothing",
        );
        if (ser === "json") {
          // on the wire: the "\u0000" + base64 convention
          const frames = raw.map((f) => JSON.parse(f) as Msg).filter((m) => m[0] === 36);
          assert.equal(frames.length, 2);
          for (const f of frames) assert.deepEqual(f[4], [BYTES_JSON]);
        }

        // only ppt_scheme given; an empty ppt_scheme is not passthru
        await publish(pub, "com.ppt", { ppt_scheme: "mqtt" }, [BYTES]);
        const only = await take(s1, (m) => m[1] === id1);
        assert.deepEqual(only[3], { ppt_scheme: "mqtt" });
        await take(s1, (m) => m[1] === pat);
        await publish(pub, "com.ppt", { ppt_scheme: "" }, ["plain"]);
        assert.deepEqual((await take(s1, (m) => m[1] === id1))[3], {});
        assert.deepEqual((await s2.next())[3], {});

        // ordinary events still reach both
        await publish(pub, "com.ppt", {}, ["hi"]);
        assert.deepEqual((await take(s1, (m) => m[1] === id1))[4], ["hi"]);
        assert.deepEqual((await s2.next())[4], ["hi"]);
      },
    );

    if (ser === "json") {
      await t.step(
        "json: a \\u0000-base64 string sent as text arrives as the same bytes",
        async () => {
          await using pub = await join(
            r.url,
            roles({ publisher: { payload_passthru_mode: true } }),
          );
          await using s1 = await join(
            r.url,
            roles({ subscriber: { payload_passthru_mode: true } }),
          );
          await subscribe(s1, "com.ppt.raw");
          pub.sendRaw(JSON.stringify([16, 7, { ...PPT, acknowledge: true }, "com.ppt.raw", [
            BYTES_JSON,
          ]]));
          assert.equal((await pub.next())[0], 17);
          assert.deepEqual((await s1.next())[4], [BYTES]);
        },
      );
    }

    await t.step("a publisher that did not announce payload_passthru_mode is aborted", async () => {
      await using sub = await join(r.url, roles({ subscriber: { payload_passthru_mode: true } }));
      await subscribe(sub, "com.ppt.no");
      await using pub = await join(r.url);
      pub.send([16, 1, { ...PPT, acknowledge: true }, "com.ppt.no", [BYTES]]);
      await expectAbort(pub);
      assert.deepEqual(await sub.quiet(100), []);
      // announced for another role only: still a violation
      await using pub2 = await join(r.url, roles({ subscriber: { payload_passthru_mode: true } }));
      pub2.send([16, 1, { ppt_scheme: "x_custom" }, "com.ppt.no", [BYTES]]);
      await expectAbort(pub2);
    });
  });
}
