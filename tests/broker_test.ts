/**
 * Broker features announced in WELCOME, with raw WAMP messages over real WebSockets, on JSON
 * and MessagePack: publisher exclusion, black- and whitelisting, publisher identification and
 * pattern-based subscriptions. Then the `Broker` class on its own, in-process: fake sessions,
 * a fake clock, no router and no sockets.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { Broker, type BrokerObserver, type Subscription } from "../src/router/broker.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { WampError } from "../src/wamp/errors.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import type { Dict, Event, Message, Publish } from "../src/wamp/messages.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";
import { fakeSession } from "./_session_ref.ts";

type D = Record<string, unknown>;

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`broker over ${ser}`, async (t) => {
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
            uri: "com.loud.",
            match: "prefix",
            allow: { publish: true, subscribe: true },
            disclose: { publisher: true },
          },
        ],
      }],
    }));

    await t.step("WELCOME announces the broker features that are implemented", async () => {
      const j = await RawClient.join(r.url, ser);
      await using _c = j.client;
      const features = ((j.welcome[2] as D).roles as { broker: { features: D } }).broker.features;
      assert.deepEqual(Object.keys(features).sort(), [
        "event_history",
        "event_retention",
        "pattern_based_subscription",
        "payload_passthru_mode",
        "publisher_exclusion",
        "publisher_identification",
        "session_meta_api",
        "subscriber_blackwhite_listing",
        "subscription_meta_api",
        "subscription_revocation",
      ]);
    });

    await t.step("publisher exclusion and black/white listing", async () => {
      const clients = await Promise.all([0, 1, 2].map(() => RawClient.join(r.url, ser)));
      await using a = clients[0]!.client;
      await using b = clients[1]!.client;
      await using c = clients[2]!.client;
      const ids = clients.map((x) => x.session);
      const authids = clients.map((x) => (x.welcome[2] as D).authid);
      for (const x of [a, b, c]) {
        x.send([32, 1, {}, "com.bw"]);
        assert.equal((await x.next())[0], 33);
      }
      const receivers = async (req: number, options: D) => {
        a.send([16, req, { acknowledge: true, ...options }, "com.bw", [req]]);
        const ack = await a.nextOf(17).catch(() => null);
        assert.ok(ack, "PUBLISHED");
        // A marker event to everyone follows on each connection: what a client got before
        // its marker is exactly what the tested publication delivered to it.
        a.send([16, 1000 + req, { exclude_me: false }, "com.bw", ["marker"]]);
        const got: string[] = [];
        for (const [name, x] of [["a", a], ["b", b], ["c", c]] as const) {
          const before: unknown[][] = [...x.skipped.splice(0)];
          for (;;) {
            const m = await x.next();
            if (m[0] === 36 && (m[4] as unknown[])[0] === "marker") break;
            before.push(m);
          }
          if (before.some((m) => m[0] === 36 && (m[4] as unknown[])[0] === req)) got.push(name);
        }
        return got;
      };
      assert.deepEqual(await receivers(1, {}), ["b", "c"]);
      assert.deepEqual(await receivers(2, { exclude_me: false }), ["a", "b", "c"]);
      assert.deepEqual(await receivers(3, { exclude: [ids[1]] }), ["c"]);
      assert.deepEqual(await receivers(4, { eligible: [ids[1]] }), ["b"]);
      assert.deepEqual(
        await receivers(5, { exclude_me: false, eligible_authid: [authids[0], authids[2]] }),
        [
          "a",
          "c",
        ],
      );
      assert.deepEqual(await receivers(6, { exclude_authid: [authids[2]] }), ["b"]);
      assert.deepEqual(await receivers(7, { eligible_authrole: ["anonymous"] }), ["b", "c"]);
      assert.deepEqual(await receivers(8, { exclude_authrole: ["anonymous"] }), []);
      a.send([16, 9, { acknowledge: true, exclude: "nope" }, "com.bw"]);
      const err = await a.nextOf(8);
      assert.equal(err[4], "wamp.error.invalid_argument");
    });

    await t.step(
      "publisher identification: disclose_me and the permission's disclose.publisher",
      async () => {
        const pj = await RawClient.join(r.url, ser);
        await using pub = pj.client;
        await using sub = (await RawClient.join(r.url, ser)).client;
        sub.send([32, 1, {}, "com.quiet.t"]);
        sub.send([32, 2, {}, "com.loud.t"]);
        await sub.next();
        await sub.next();
        pub.send([16, 1, {}, "com.quiet.t"]);
        assert.deepEqual((await sub.next())[3], {});
        pub.send([16, 2, { disclose_me: true }, "com.quiet.t"]);
        const d = (await sub.next())[3] as D;
        assert.equal(d.publisher, pj.session);
        assert.equal(d.publisher_authid, (pj.welcome[2] as D).authid);
        assert.equal(d.publisher_authrole, "anonymous");
        pub.send([16, 3, {}, "com.loud.t"]);
        assert.equal(((await sub.next())[3] as D).publisher, pj.session);
      },
    );

    await t.step(
      "pattern-based subscriptions: one EVENT per matching subscription, with topic",
      async () => {
        await using pub = (await RawClient.join(r.url, ser)).client;
        await using sub = (await RawClient.join(r.url, ser)).client;
        await using other = (await RawClient.join(r.url, ser)).client;
        sub.send([32, 1, {}, "com.pat.a.b"]);
        sub.send([32, 2, { match: "prefix" }, "com.pat"]);
        sub.send([32, 3, { match: "wildcard" }, "com.pat..b"]);
        other.send([32, 1, { match: "prefix" }, "com.pat"]);
        const subIds = new Map<unknown, string>();
        for (const kind of ["exact", "prefix", "wildcard"]) subIds.set((await sub.next())[2], kind);
        const otherSub = (await other.next())[2];
        assert.ok(
          subIds.has(otherSub),
          "two subscribers of (com.pat, prefix) share one subscription id",
        );
        pub.send([16, 1, {}, "com.pat.a.b", ["x"]]);
        const events = [await sub.next(), await sub.next(), await sub.next()];
        const pubIds = new Set(events.map((e) => e[2]));
        assert.equal(pubIds.size, 1, "same publication id on every EVENT");
        const byKind = new Map(events.map((e) => [subIds.get(e[1]), e[3] as D]));
        assert.deepEqual(byKind.get("exact"), {});
        assert.equal(byKind.get("prefix")!.topic, "com.pat.a.b");
        assert.equal(byKind.get("wildcard")!.topic, "com.pat.a.b");
        assert.equal(((await other.next())[3] as D).topic, "com.pat.a.b");
        pub.send([16, 2, {}, "com.pattern", ["y"]]); // plain string prefix "com.pat" matches
        const e2 = await sub.next();
        assert.equal(subIds.get(e2[1]), "prefix");
        assert.deepEqual(await sub.quiet(50), []);
        sub.send([32, 9, { match: "bogus" }, "com.pat"]);
        assert.equal((await sub.next())[4], "wamp.error.invalid_argument");
        sub.send([32, 10, { match: "wildcard" }, "com.#bad"]);
        assert.equal((await sub.next())[4], "wamp.error.invalid_uri");
      },
    );
  });
}

// ---- the Broker in-process ---------------------------------------------------------------

/** A PUBLISH of `topic` with `options` and args `[n]`. */
function pub(topic: string, options: Dict = {}, args: unknown[] = [1]): Publish {
  return { type: T.PUBLISH, request: 1, options, topic, args };
}

/** The EVENTs `s` was handed. */
function events(s: { of(type: number): Message[] }): Event[] {
  return s.of(T.EVENT) as Event[];
}

/** An observer that records its calls as `hook session-id subscription-uri`. */
function recordingObserver(): BrokerObserver & { calls: string[] } {
  const calls: string[] = [];
  const rec = (hook: string) => (s: SessionRef, sub: Subscription) =>
    calls.push(`${hook} ${s.id} ${sub.uri}`);
  return {
    calls,
    onCreate: rec("create"),
    onSubscribe: rec("subscribe"),
    onUnsubscribe: rec("unsubscribe"),
    onDelete: rec("delete"),
  };
}

function assertWampError(fn: () => unknown, uri: string): void {
  assert.throws(fn, (e: unknown) => e instanceof WampError && e.uri === uri);
}

Deno.test("Broker: exact, prefix and wildcard subscriptions match their topics", () => {
  const broker = new Broker(new FakeClock());
  const exact = fakeSession(1);
  const prefix = fakeSession(2);
  const wildcard = fakeSession(3);
  const publisher = fakeSession(9);
  const e = broker.subscribe(exact, "com.x.y", "exact");
  const p = broker.subscribe(prefix, "com.x", "prefix");
  const w = broker.subscribe(wildcard, "com..y", "wildcard");
  assert.equal(new Set([e.id, p.id, w.id]).size, 3, "three subscriptions");
  const ids = (topic: string) => broker.match(topic).map((s) => s.id).sort();
  assert.deepEqual(ids("com.x.y"), [e.id, p.id, w.id].sort());
  assert.deepEqual(ids("com.x.z"), [p.id]);
  assert.deepEqual(ids("com.a.y"), [w.id]);
  assert.deepEqual(ids("com.a.y.z"), [], "a wildcard matches the same number of components");
  assert.deepEqual(ids("org.x.y"), []);
  assert.equal(broker.lookup("com.x", "prefix"), p);
  assert.equal(broker.lookup("com.x", "exact"), undefined);
  assert.equal(broker.get(w.id), w);

  const publication = broker.publish(publisher, pub("com.x.y"), false);
  for (const [s, sub] of [[exact, e], [prefix, p], [wildcard, w]] as const) {
    const got = events(s);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.subscription, sub.id);
    assert.equal(got[0]!.publication, publication);
    assert.deepEqual(got[0]!.args, [1]);
  }
  assert.deepEqual(events(exact)[0]!.details, {}, "no topic for an exact subscription");
  assert.equal(events(prefix)[0]!.details.topic, "com.x.y");
  assert.equal(events(wildcard)[0]!.details.topic, "com.x.y");
  assert.deepEqual(publisher.sent, []);
  broker.publish(publisher, pub("com.x.z"), false);
  assert.deepEqual([events(exact).length, events(prefix).length, events(wildcard).length], [
    1,
    2,
    1,
  ]);
});

Deno.test("Broker: one subscription per (uri, match), shared; deleted with its last subscriber", () => {
  const observer = recordingObserver();
  const broker = new Broker(new FakeClock(), observer);
  const a = fakeSession(1);
  const b = fakeSession(2);
  const sa = broker.subscribe(a, "com.s", "exact");
  const sb = broker.subscribe(b, "com.s", "exact");
  assert.equal(sb, sa, "the same subscription");
  assert.deepEqual([...sa.subscribers], [a, b]);
  assert.equal(broker.subscribe(a, "com.s", "exact"), sa, "subscribing again changes nothing");
  assert.notEqual(broker.subscribe(a, "com.s", "prefix").id, sa.id, "another match policy");
  assert.deepEqual(observer.calls, [
    "create 1 com.s",
    "subscribe 1 com.s",
    "subscribe 2 com.s",
    "create 1 com.s",
    "subscribe 1 com.s",
  ]);
  observer.calls.length = 0;

  // one EVENT per subscriber of the shared subscription, with its id
  broker.publish(fakeSession(9), pub("com.s"), false);
  assert.deepEqual(events(b).map((e) => e.subscription), [sa.id]);

  assert.equal(broker.unsubscribe(a, sa.id), sa);
  assert.equal(broker.get(sa.id), sa, "b still holds it");
  assert.deepEqual([...sa.subscribers], [b]);
  assertWampError(() => broker.unsubscribe(a, sa.id), "wamp.error.no_such_subscription");
  broker.unsubscribe(b, sa.id);
  assert.equal(broker.get(sa.id), undefined);
  assert.equal(broker.lookup("com.s", "exact"), undefined);
  assert.deepEqual(broker.match("com.s").map((s) => s.match), ["prefix"]);
  assert.deepEqual(observer.calls, [
    "unsubscribe 1 com.s",
    "unsubscribe 2 com.s",
    "delete 2 com.s",
  ]);
  assertWampError(() => broker.unsubscribe(b, sa.id), "wamp.error.no_such_subscription");
  assertWampError(() => broker.unsubscribe(b, 12345), "wamp.error.no_such_subscription");
  // the next subscriber creates a new one
  assert.notEqual(broker.subscribe(b, "com.s", "exact"), sa);
});

Deno.test("Broker: subscriptionsOf and removeSession drop every subscription of a session", () => {
  const observer = recordingObserver();
  const broker = new Broker(new FakeClock(), observer);
  const a = fakeSession(1);
  const b = fakeSession(2);
  const shared = broker.subscribe(a, "com.shared", "exact");
  broker.subscribe(b, "com.shared", "exact");
  const own1 = broker.subscribe(a, "com.own", "prefix");
  const own2 = broker.subscribe(a, "com..x", "wildcard");
  assert.deepEqual(new Set(broker.subscriptionsOf(a)), new Set([shared, own1, own2]));
  assert.deepEqual(broker.subscriptionsOf(b), [shared]);
  assert.deepEqual(broker.subscriptionsOf(fakeSession(3)), []);
  observer.calls.length = 0;

  broker.removeSession(a);
  assert.deepEqual(broker.subscriptionsOf(a), []);
  assert.deepEqual(broker.subscriptionsOf(b), [shared]);
  assert.deepEqual([...broker.all()], [shared]);
  assert.deepEqual([...shared.subscribers], [b]);
  assert.deepEqual(observer.calls.sort(), [
    "delete 1 com..x",
    "delete 1 com.own",
    "unsubscribe 1 com..x",
    "unsubscribe 1 com.own",
    "unsubscribe 1 com.shared",
  ]);
  broker.publish(fakeSession(9), pub("com.shared"), false);
  broker.publish(fakeSession(9), pub("com.own.x"), false);
  assert.deepEqual(a.sent, [], "nothing for the removed session");
  assert.equal(events(b).length, 1);
  broker.removeSession(a); // again: nothing left, nothing fires
  assert.equal(observer.calls.length, 5);
});

Deno.test("Broker: the publisher is excluded unless exclude_me is false", () => {
  const broker = new Broker(new FakeClock());
  const self = fakeSession(1);
  const other = fakeSession(2);
  broker.subscribe(self, "com.me", "exact");
  broker.subscribe(other, "com.me", "exact");
  broker.publish(self, pub("com.me", {}, ["default"]), false);
  broker.publish(self, pub("com.me", { exclude_me: true }, ["true"]), false);
  broker.publish(self, pub("com.me", { exclude_me: false }, ["false"]), false);
  // exclude_me false together with a list: the publisher is judged by the list only
  broker.publish(self, pub("com.me", { exclude_me: false, eligible: [1] }, ["list"]), false);
  assert.deepEqual(events(self).map((e) => e.args![0]), ["false", "list"]);
  assert.deepEqual(events(other).map((e) => e.args![0]), ["default", "true", "false"]);
});

Deno.test("Broker: eligible and exclude lists by session id, authid and authrole", () => {
  const broker = new Broker(new FakeClock());
  const a = fakeSession(1, { authid: "alice", authrole: "user" });
  const b = fakeSession(2, { authid: "bob", authrole: "user" });
  const c = fakeSession(3, { authid: "carol", authrole: "admin" });
  const publisher = fakeSession(9);
  for (const s of [a, b, c]) broker.subscribe(s, "com.bw", "exact");
  const receivers = (options: Dict): number[] => {
    for (const s of [a, b, c]) s.sent.length = 0;
    broker.publish(publisher, pub("com.bw", options), false);
    return [a, b, c].filter((s) => events(s).length === 1).map((s) => s.id);
  };
  assert.deepEqual(receivers({}), [1, 2, 3]);
  assert.deepEqual(receivers({ eligible: [1, 3] }), [1, 3]);
  assert.deepEqual(receivers({ exclude: [2] }), [1, 3]);
  assert.deepEqual(receivers({ eligible: [1, 2], exclude: [2] }), [1], "exclude wins");
  assert.deepEqual(receivers({ eligible_authid: ["bob", "carol"] }), [2, 3]);
  assert.deepEqual(receivers({ exclude_authid: ["alice"] }), [2, 3]);
  assert.deepEqual(receivers({ eligible_authrole: ["admin"] }), [3]);
  assert.deepEqual(receivers({ exclude_authrole: ["user"] }), [3]);
  assert.deepEqual(receivers({ eligible_authrole: ["user"], exclude_authid: ["bob"] }), [1]);
  assert.deepEqual(receivers({ eligible: [] }), [], "an empty whitelist admits nobody");
  for (
    const bad of [
      { exclude: "nope" },
      { eligible: ["1"] },
      { exclude_authid: [1] },
      { eligible_authrole: "user" },
    ]
  ) {
    assertWampError(
      () => broker.publish(publisher, pub("com.bw", bad), false),
      "wamp.error.invalid_argument",
    );
  }
  assert.deepEqual([a, b, c].map((s) => s.sent.length), [0, 0, 0], "nothing for a refused list");
});

Deno.test("Broker: disclose puts the publisher's id, authid and authrole in EVENT details", () => {
  const broker = new Broker(new FakeClock());
  const sub = fakeSession(1);
  const publisher = fakeSession(7, { authid: "pete", authrole: "publisher-role" });
  const exact = broker.subscribe(sub, "com.d", "exact");
  const prefix = broker.subscribe(sub, "com.", "prefix");
  const details = () => {
    const got = events(sub);
    sub.sent.length = 0;
    return [exact, prefix].map((x) => got.find((e) => e.subscription === x.id)!.details);
  };
  broker.publish(publisher, pub("com.d"), false);
  const [plainExact, plainPrefix] = details();
  broker.publish(publisher, pub("com.d"), true);
  const [loudExact, loudPrefix] = details();
  assert.deepEqual(plainExact, {});
  assert.deepEqual(plainPrefix, { topic: "com.d" });
  const who = { publisher: 7, publisher_authid: "pete", publisher_authrole: "publisher-role" };
  assert.deepEqual(loudExact, who);
  assert.deepEqual(loudPrefix, { ...who, topic: "com.d" });
});

Deno.test("Broker: a subscriber whose send fails does not stop delivery to the others", () => {
  const broker = new Broker(new FakeClock());
  const gone = fakeSession(1, { outcome: () => "dropped" });
  const huge = fakeSession(2, { outcome: () => "too_large" });
  const odd = fakeSession(3, { outcome: () => "unencodable" });
  const fine = fakeSession(4);
  for (const s of [gone, huge, odd, fine]) broker.subscribe(s, "com.f", "exact");
  broker.subscribe(gone, "com.", "prefix");
  broker.subscribe(fine, "com.", "prefix");
  broker.publish(fakeSession(9), pub("com.f", {}, ["x"]), false);
  assert.deepEqual([gone, huge, odd, fine].map((s) => events(s).length), [2, 1, 1, 2]);
  assert.deepEqual(events(fine).map((e) => e.args), [["x"], ["x"]]);
  // every subscriber of one subscription got the same EVENT and the same encode cache
  const cacheOf = (s: typeof fine, i: number) => s.caches[s.sent.indexOf(events(s)[i]!)];
  assert.equal(events(fine)[0], events(gone)[0]);
  assert.ok(cacheOf(fine, 0) !== undefined && cacheOf(fine, 0) === cacheOf(gone, 0));
  assert.notEqual(cacheOf(fine, 0), cacheOf(fine, 1), "a cache per subscription");
  // the broker keeps them: the failure was the session's to handle
  assert.equal(broker.subscriptionsOf(gone).length, 2);
});

Deno.test("Broker: the delivery option reaches every subscriber's send", () => {
  const broker = new Broker(new FakeClock());
  const s = fakeSession(1);
  broker.subscribe(s, "com.stats", "exact");
  const delivery = { triggersStats: false } as const;
  broker.publish(fakeSession(9), pub("com.stats"), false, delivery);
  broker.publish(fakeSession(9), pub("com.stats"), false);
  assert.deepEqual(s.deliveries, [delivery, undefined]);
});

Deno.test("Broker: retained events go to new subscriptions that ask for them", () => {
  const broker = new Broker(new FakeClock());
  const publisher = fakeSession(9);
  broker.publish(publisher, pub("com.r.a", { retain: true }, ["first"]), false);
  broker.publish(publisher, pub("com.r.a", { retain: true }, ["latest"]), true);
  broker.publish(publisher, pub("com.r.b", {}, ["not retained"]), false);
  broker.publish(publisher, pub("com.r.c", { retain: true, eligible: [2] }, ["for 2"]), false);

  const one = fakeSession(1);
  const exact = broker.subscribe(one, "com.r.a", "exact");
  broker.sendRetained(one, exact);
  const [ev] = events(one);
  assert.equal(events(one).length, 1);
  assert.equal(ev!.subscription, exact.id);
  assert.deepEqual(ev!.args, ["latest"], "the latest retained event");
  assert.deepEqual(ev!.details, {
    publisher: 9,
    publisher_authid: "s9",
    publisher_authrole: "anonymous",
    retained: true,
  });

  // a pattern subscription gets one per matching topic, with the topic, if eligible
  const two = fakeSession(2);
  const prefix = broker.subscribe(two, "com.r", "prefix");
  broker.sendRetained(two, prefix);
  const got = new Map(events(two).map((e) => [e.details.topic, e.args![0]]));
  assert.deepEqual(got, new Map([["com.r.a", "latest"], ["com.r.c", "for 2"]]));
  one.sent.length = 0;
  broker.sendRetained(one, broker.subscribe(one, "com.r", "prefix"));
  assert.deepEqual(events(one).map((e) => e.details.topic), ["com.r.a"], "not eligible for c");

  // the publisher does not get its own retained event (exclude_me by default)
  broker.sendRetained(publisher, broker.subscribe(publisher, "com.r.a", "exact"));
  assert.deepEqual(publisher.sent, []);
});

Deno.test("Broker: event history keeps the configured number of events per subscription", () => {
  const clock = new FakeClock(0, 1_700_000_000_000_000_000n);
  const broker = new Broker(clock, {}, [{ uri: "com.h", match: "prefix", limit: 2 }]);
  const s = fakeSession(1);
  const sub = broker.subscribe(s, "com.h", "prefix");
  const publisher = fakeSession(9);
  const pubs: number[] = [];
  for (const n of [1, 2, 3]) {
    clock.advance(1000);
    pubs.push(broker.publish(publisher, pub(`com.h.t${n}`, {}, [n]), false));
  }
  broker.publish(publisher, pub("com.other", {}, [0]), false);
  const history = broker.history(sub, 10);
  assert.deepEqual(history, [
    {
      timestamp: new Date(1_700_000_002_000).toISOString(),
      subscription: sub.id,
      publication: pubs[1],
      topic: "com.h.t2",
      args: [2],
    },
    {
      timestamp: new Date(1_700_000_003_000).toISOString(),
      subscription: sub.id,
      publication: pubs[2],
      topic: "com.h.t3",
      args: [3],
    },
  ]);
  assert.deepEqual(broker.history(sub, 1).map((e) => e.topic), ["com.h.t3"]);
  assert.deepEqual(broker.history(sub, 0), []);
  // new settings keep the stored events of an entry that stays, within its new limit
  broker.setHistory([{ uri: "com.h", match: "prefix", limit: 1 }]);
  assert.deepEqual(broker.history(sub, 10).map((e) => e.topic), ["com.h.t3"]);
  const other = broker.subscribe(s, "com.h", "exact");
  assertWampError(() => broker.history(other, 10), "wamp.error.history_unavailable");
  broker.setHistory([]);
  assertWampError(() => broker.history(sub, 10), "wamp.error.history_unavailable");
});

Deno.test("Broker: revoke removes a subscriber and tells it if it announced revocation", () => {
  const observer = recordingObserver();
  const broker = new Broker(new FakeClock(), observer);
  const told = fakeSession(1, { features: ["subscriber.subscription_revocation"] });
  const silent = fakeSession(2);
  const sub = broker.subscribe(told, "com.rv", "exact");
  broker.subscribe(silent, "com.rv", "exact");
  observer.calls.length = 0;

  broker.revoke(told, sub, "wamp.error.not_authorized");
  assert.deepEqual(told.sent, [{
    type: T.UNSUBSCRIBED,
    request: 0,
    details: { subscription: sub.id, reason: "wamp.error.not_authorized" },
  }]);
  assert.deepEqual(broker.subscriptionsOf(told), []);
  broker.revoke(told, sub, "again"); // no longer a subscriber: nothing happens
  assert.equal(told.sent.length, 1);

  broker.revoke(silent, sub);
  assert.deepEqual(silent.sent, [], "no UNSUBSCRIBED without subscription_revocation");
  assert.equal(broker.get(sub.id), undefined);
  assert.deepEqual(observer.calls, [
    "unsubscribe 1 com.rv",
    "unsubscribe 2 com.rv",
    "delete 2 com.rv",
  ]);
});

Deno.test("Broker: filtered subscribers get only the topics the predicate admits, asked once per role", () => {
  const asked: string[] = [];
  const broker = new Broker(new FakeClock(), {}, [], (s, topic) => {
    asked.push(`${s.authrole} ${topic}`);
    return !topic.endsWith(".secret");
  });
  const f1 = fakeSession(1, { authrole: "limited" });
  const f2 = fakeSession(2, { authrole: "limited" });
  const full = fakeSession(3, { authrole: "limited" });
  const sub = broker.subscribe(f1, "com.", "prefix", true);
  broker.subscribe(f2, "com.", "prefix", true);
  broker.subscribe(full, "com.", "prefix");
  assert.deepEqual(sub.filtered, new Set([f1, f2]));
  broker.publish(fakeSession(9), pub("com.open"), false);
  broker.publish(fakeSession(9), pub("com.x.secret"), false);
  assert.deepEqual(asked, ["limited com.open", "limited com.x.secret"]);
  assert.deepEqual([f1, f2, full].map((s) => events(s).map((e) => e.details.topic)), [
    ["com.open"],
    ["com.open"],
    ["com.open", "com.x.secret"],
  ]);
  broker.setFiltered(f1, sub, false);
  broker.removeSession(f2);
  assert.equal(sub.filtered, null, "no filtered subscriber left");
});

Deno.test("Broker: payload passthru events go only to subscribers that announced it", () => {
  const broker = new Broker(new FakeClock());
  const ppt = fakeSession(1, { features: ["subscriber.payload_passthru_mode"] });
  const plain = fakeSession(2);
  broker.subscribe(ppt, "com.p", "exact");
  broker.subscribe(plain, "com.p", "exact");
  broker.publish(
    fakeSession(9),
    pub("com.p", { ppt_scheme: "x_custom", ppt_serializer: "native" }),
    false,
  );
  assert.deepEqual(events(plain), []);
  assert.equal(events(ppt).length, 1);
  assert.equal(events(ppt)[0]!.details.ppt_scheme, "x_custom");
});
