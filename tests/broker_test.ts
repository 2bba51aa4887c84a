/**
 * Broker features announced in WELCOME, with raw WAMP messages over real WebSockets, on JSON
 * and MessagePack: publisher exclusion, black- and whitelisting, publisher identification and
 * pattern-based subscriptions.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

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
