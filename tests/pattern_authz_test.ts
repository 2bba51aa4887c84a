/**
 * Pattern subscriptions and registrations against permissions, over real WebSockets: the
 * attacks that used to get through (a prefix/wildcard SUBSCRIBE or REGISTER authorized on its
 * pattern string; pattern registrations shadowing wamp.* procedures; authorizer answers cached
 * without their match policy; reloads that left now-denied subscriptions in place).
 */

import assert from "node:assert/strict";
import { parseConfig } from "../mod.ts";
import { RawClient, type Running, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;
type Msg = unknown[];

const SERIALIZERS = ["json", "msgpack"] as const;
type Ser = typeof SERIALIZERS[number];
const ALL = { call: true, register: true, publish: true, subscribe: true };
const NOT_AUTHORIZED = "wamp.error.not_authorized";
const INVALID_URI = "wamp.error.invalid_uri";
const NO_SUCH_PROCEDURE = "wamp.error.no_such_procedure";

/** PUBLISHED, SUBSCRIBED, UNSUBSCRIBED, RESULT, REGISTERED, UNREGISTERED. */
const REPLIES: ReadonlySet<unknown> = new Set([17, 33, 35, 50, 65, 67]);

/** Client roles announcing subscription and registration revocation. */
const REVOCABLE = {
  publisher: {},
  subscriber: { features: { subscription_revocation: true } },
  caller: {},
  callee: { features: { registration_revocation: true } },
};

/**
 * realm1 with role `attacker` (the given rules; anonymous on `/ws`) and role `backend`
 * (everything; anonymous on `/backend`).
 */
function config(attacker: unknown[], realm: D = {}, more: D[] = []) {
  const c = testConfig({
    roles: [
      { name: "attacker", permissions: attacker },
      { name: "backend", permissions: [{ uri: "", match: "prefix", allow: ALL }] },
      ...more,
    ],
    ...realm,
  });
  const serializers = ["json", "msgpack", "cbor"];
  const path = (role: string) => ({
    type: "websocket",
    serializers,
    auth: { anonymous: { type: "static", role } },
  });
  (c.workers[0]!.transports[0] as D).paths = { ws: path("attacker"), backend: path("backend") };
  return c;
}

/** A joined raw client whose messages are read in order; `take` leaves the others queued. */
class Peer implements AsyncDisposable {
  readonly pending: Msg[] = [];
  #request = 0;
  private constructor(readonly client: RawClient, readonly session: number) {}

  static async join(r: Running, ser: Ser, path = "ws", roles?: D): Promise<Peer> {
    const url = r.url.replace(/\/ws$/, `/${path}`);
    const j = await RawClient.join(url, ser, "realm1", roles ? { roles } : {});
    return new Peer(j.client, j.session);
  }

  /** The first queued or arriving message `pred` accepts; the others stay queued in order. */
  async take(pred: (m: Msg) => boolean): Promise<Msg> {
    for (let i = 0;; i++) {
      if (i === this.pending.length) this.pending.push(await this.client.next());
      if (pred(this.pending[i]!)) return this.pending.splice(i, 1)[0]!;
    }
  }

  /** Sends a request (its id goes in position 1) and returns its reply or ERROR. */
  request(msg: Msg): Promise<Msg> {
    const id = ++this.#request;
    this.client.send([msg[0], id, ...msg.slice(1)]);
    return this.take((m) =>
      (m[0] === 8 && m[1] === msg[0] && m[2] === id) || (REPLIES.has(m[0]) && m[1] === id)
    );
  }

  async subscribe(topic: string, options: D = {}): Promise<number> {
    const reply = await this.request([32, options, topic]);
    assert.equal(reply[0], 33, `SUBSCRIBE ${JSON.stringify(options)} ${topic}: ${reply}`);
    return reply[2] as number;
  }

  async register(procedure: string, options: D = {}): Promise<number> {
    const reply = await this.request([64, options, procedure]);
    assert.equal(reply[0], 65, `REGISTER ${JSON.stringify(options)} ${procedure}: ${reply}`);
    return reply[2] as number;
  }

  /** The error URI of a request that must fail. */
  async refused(msg: Msg): Promise<string> {
    const reply = await this.request(msg);
    assert.equal(reply[0], 8, `expected ERROR for ${JSON.stringify(msg)}, got ${reply}`);
    return reply[4] as string;
  }

  publish(topic: string, args: unknown[] = [topic], options: D = {}): void {
    this.client.send([16, ++this.#request, options, topic, args]);
  }

  async published(topic: string, options: D = {}): Promise<void> {
    const reply = await this.request([16, { ...options, acknowledge: true }, topic, [topic]]);
    assert.equal(reply[0], 17, `PUBLISH ${topic}: ${reply}`);
  }

  /**
   * The EVENTs up to the `count`th whose first argument is `marker` (included), grouped by
   * subscription as their first arguments.
   */
  async eventsUntil(marker: string, count = 1): Promise<Map<number, unknown[]>> {
    const out = new Map<number, unknown[]>();
    for (let seen = 0;;) {
      const ev = await this.take((m) => m[0] === 36);
      const list = out.get(ev[1] as number) ?? [];
      list.push((ev[4] as unknown[])[0]);
      out.set(ev[1] as number, list);
      if ((ev[4] as unknown[])[0] === marker && ++seen === count) return out;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client[Symbol.asyncDispose]();
  }
}

const SUBSCRIBE_RULES = [
  { uri: "com.pub.news", match: "exact", allow: { subscribe: true } },
  { uri: "com.open.", match: "prefix", allow: { subscribe: true } },
  { uri: "com.open.secret.", match: "prefix", allow: {} },
];

Deno.test("pattern subscriptions get only the events their role may subscribe to", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      await using r = await startRouter(config(SUBSCRIBE_RULES));
      await using attacker = await Peer.join(r, ser);
      await using backend = await Peer.join(r, ser, "backend");
      await using reader = await Peer.join(r, ser, "backend");

      // retained events first, then a get_retained prefix subscription covered in part
      for (const topic of ["com.pub.news.secret", "com.pub.news", "com.pub.newsroom.private"]) {
        await backend.published(topic, { retain: true });
      }
      const news = await attacker.subscribe("com.pub.news", {
        match: "prefix",
        get_retained: true,
      });
      // the retained events, if any, come before this reply
      assert.equal(await attacker.refused([32, {}, "com.closed"]), NOT_AUTHORIZED);
      const retained = attacker.pending.splice(0);
      assert.deepEqual(retained.map((m) => [m[0], m[1], (m[3] as D).topic, (m[3] as D).retained]), [
        [36, news, "com.pub.news", true],
      ]);
      // another role's subscribers: the same prefix subscription (unfiltered), and an exact one
      assert.equal(await reader.subscribe("com.pub.news", { match: "prefix" }), news);
      const secret = await reader.subscribe("com.pub.news.secret");

      const pubWild = await attacker.subscribe("com.pub.", { match: "wildcard" });
      const open = await attacker.subscribe("com.open.", { match: "prefix" });
      const openWild = await attacker.subscribe("com.open..plans", { match: "wildcard" });
      // patterns their role covers nowhere are refused
      assert.equal(
        await attacker.refused([32, { match: "prefix" }, "com.open.secret."]),
        NOT_AUTHORIZED,
      );
      assert.equal(
        await attacker.refused([32, { match: "wildcard" }, "com.open.secret.."]),
        NOT_AUTHORIZED,
      );
      assert.equal(
        await attacker.refused([32, { match: "prefix" }, "com.closed."]),
        NOT_AUTHORIZED,
      );

      for (
        const topic of [
          "com.pub.news.secret",
          "com.pub.newsroom.private",
          "com.pub.news",
          "com.pub.other",
          "com.open.secret.plans",
          "com.open.team.plans",
          "com.open.public",
          "com.open.secret",
        ]
      ) backend.publish(topic);
      backend.publish("com.pub.news", ["end"]);

      // the marker reaches both com.pub.* subscriptions
      const got = await attacker.eventsUntil("end", 2);
      assert.deepEqual(Object.fromEntries(got), {
        [news]: ["com.pub.news", "end"],
        [pubWild]: ["com.pub.news", "end"],
        [open]: ["com.open.team.plans", "com.open.public", "com.open.secret"],
        [openWild]: ["com.open.team.plans"],
      });
      assert.deepEqual(attacker.pending, []);

      // the other role's subscribers are unaffected, on the shared subscription too
      const seen = await reader.eventsUntil("end");
      assert.deepEqual(Object.fromEntries(seen), {
        [news]: ["com.pub.news.secret", "com.pub.newsroom.private", "com.pub.news", "end"],
        [secret]: ["com.pub.news.secret"],
      });
    });
  }
});

Deno.test("pattern registrations are refused unless the role may register every match", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      await using r = await startRouter(config([
        { uri: "com.user.proc", match: "exact", allow: { register: true } },
        { uri: "com.user.ok.", match: "prefix", allow: { register: true } },
      ]));
      await using attacker = await Peer.join(r, ser);
      await using backend = await Peer.join(r, ser, "backend");

      assert.equal(
        await attacker.refused([64, { match: "prefix" }, "com.user.proc"]),
        NOT_AUTHORIZED,
      );
      assert.equal(
        await attacker.refused([64, { match: "wildcard" }, "com.user."]),
        NOT_AUTHORIZED,
      );
      assert.equal(
        await attacker.refused([64, { match: "prefix" }, "com.user.ok"]),
        NOT_AUTHORIZED,
      );
      const exact = await attacker.register("com.user.proc");
      const ok = await attacker.register("com.user.ok.", { match: "prefix" });

      // the calls the refused registrations would have taken find no callee
      for (const procedure of ["com.user.proc.delete_all", "com.user.process_payment"]) {
        const reply = await backend.request([48, {}, procedure, ["all"], { confirm: true }]);
        assert.deepEqual([reply[0], reply[4]], [8, NO_SUCH_PROCEDURE], procedure);
      }
      // the allowed ones work
      const call = backend.request([48, {}, "com.user.proc", [1]]);
      const inv = await attacker.take((m) => m[0] === 68);
      assert.deepEqual([inv[2], inv[4]], [exact, [1]]);
      attacker.client.send([70, inv[1], {}, ["done"]]);
      const result = await call;
      assert.deepEqual([result[0], result[3]], [50, ["done"]]);
      const call2 = backend.request([48, {}, "com.user.ok.x", [2]]);
      const inv2 = await attacker.take((m) => m[0] === 68);
      assert.deepEqual([inv2[2], (inv2[3] as D).procedure], [ok, "com.user.ok.x"]);
      attacker.client.send([70, inv2[1], {}, []]);
      assert.equal((await call2)[0], 50);
      assert.deepEqual(attacker.pending, []);
    });
  }
});

Deno.test("no client registration may match a reserved URI (meta API off)", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      await using r = await startRouter(
        config([{ uri: "", match: "prefix", allow: ALL }], {
          options: { enable_meta_api: false },
        }),
      );
      await using attacker = await Peer.join(r, ser);
      await using backend = await Peer.join(r, ser, "backend");
      const attempts: [string, string][] = [
        ["prefix", "wam"],
        ["prefix", ""],
        ["prefix", "w"],
        ["prefix", "wamp."],
        ["prefix", "wamp.session.co"],
        ["prefix", "switch"],
        ["wildcard", ".session.list"],
        ["wildcard", ".session.count"],
        ["wildcard", ".."], // matches wamp.session.count
        ["wildcard", ""], // matches "wamp"
        ["wildcard", "wamp..count"],
        ["exact", "wamp.session.count"],
        ["exact", "switchboard.reload_config"],
      ];
      for (const [match, uri] of attempts) {
        assert.equal(
          await attacker.refused([64, { match }, uri]),
          INVALID_URI,
          `${match} ${JSON.stringify(uri)}`,
        );
      }
      // nobody answers the meta procedures: no made-up results
      for (const procedure of ["wamp.session.count", "wamp.session.list", "wamp.session.get"]) {
        const reply = await backend.request([48, {}, procedure, []]);
        assert.deepEqual([reply[0], reply[4]], [8, NO_SUCH_PROCEDURE], procedure);
      }
      assert.deepEqual(attacker.pending, []);
      // patterns that cannot match a reserved URI still register; pattern subscriptions
      // covering wamp.* are allowed
      await attacker.register("wampx", { match: "prefix" });
      await attacker.register("com..count", { match: "wildcard" });
      await attacker.subscribe("", { match: "prefix" });
      await attacker.subscribe(".session.", { match: "wildcard" });
    });
  }
});

type Answer = (uri: string, action: string, options: D) => unknown;

/** A router whose `/ws` sessions have role `dyn`, decided by `answer`; records what it is asked. */
async function withAuthorizer(
  ser: Ser,
  answer: Answer,
  body: (r: Running, dyn: Peer, asked: [string, string, D][]) => Promise<void>,
): Promise<void> {
  const c = config([], {}, [{ name: "dyn", authorizer: "com.example.authorize" }]);
  const paths = (c.workers[0]!.transports[0] as D).paths as Record<string, D>;
  paths.ws!.auth = { anonymous: { type: "static", role: "dyn" } };
  await using r = await startRouter(c);
  const authorizer = await r.router.session("realm1", { authrole: "backend" });
  const asked: [string, string, D][] = [];
  await authorizer.register("com.example.authorize", (args) => {
    const [, uri, action, options] = args as [D, string, string, D];
    asked.push([uri, action, options]);
    return answer(uri, action, options);
  });
  await using dyn = await Peer.join(r, ser);
  await body(r, dyn, asked);
  await authorizer.close();
}

Deno.test("a dynamic authorizer is always told the match policy", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      // allows what it is told is exact, and the prefix com.p as a whole
      const answer: Answer = (uri, _action, options) =>
        options.match === "exact" || uri === "com.p";
      await withAuthorizer(ser, answer, async (r, dyn, asked) => {
        await using backend = await Peer.join(r, ser, "backend");
        await dyn.subscribe("com.x");
        assert.deepEqual(asked, [["com.x", "subscribe", { match: "exact" }]]);
        await dyn.register("com.x.y");
        assert.deepEqual(asked[1], ["com.x.y", "register", { match: "exact" }]);
        assert.equal(await dyn.refused([32, { match: "wildcard" }, "com..x"]), NOT_AUTHORIZED);
        assert.deepEqual(asked[2], ["com..x", "subscribe", { match: "wildcard" }]);
        // PUBLISH and CALL are always exact, whatever their options say
        await dyn.published("com.y", { match: "prefix" });
        assert.deepEqual(asked[3], ["com.y", "publish", { match: "exact", acknowledge: true }]);
        const call = await dyn.request([48, { match: "wildcard" }, "com.none"]);
        assert.deepEqual([call[0], call[4]], [8, NO_SUCH_PROCEDURE]);
        assert.deepEqual(asked[4], ["com.none", "call", { match: "exact" }]);

        // an allowed pattern is decided once for the whole pattern, not per event
        const sub = await dyn.subscribe("com.p", { match: "prefix" });
        assert.deepEqual(asked[5], ["com.p", "subscribe", { match: "prefix" }]);
        backend.publish("com.p.a");
        backend.publish("com.pb");
        backend.publish("com.p.end");
        assert.deepEqual(Object.fromEntries(await dyn.eventsUntil("com.p.end")), {
          [sub]: ["com.p.a", "com.pb", "com.p.end"],
        });
        assert.equal(asked.length, 6);
      });
    });
  }
});

Deno.test("a cached authorizer answer for an exact URI does not decide a pattern", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      // allows exact URIs only, and asks to be cached (a missing match counts as exact)
      const answer: Answer = (_uri, _action, options) => ({
        allow: (options.match ?? "exact") === "exact",
        cache: true,
      });
      await withAuthorizer(ser, answer, async (_r, dyn, asked) => {
        await dyn.subscribe("com.x");
        await dyn.subscribe("com.x"); // from the cache
        assert.equal(asked.length, 1);
        assert.equal(await dyn.refused([32, { match: "prefix" }, "com.x"]), NOT_AUTHORIZED);
        assert.equal(await dyn.refused([32, { match: "wildcard" }, "com.x"]), NOT_AUTHORIZED);
        await dyn.register("com.x");
        assert.equal(await dyn.refused([64, { match: "prefix" }, "com.x"]), NOT_AUTHORIZED);
        assert.deepEqual(asked.map(([uri, action, o]) => [uri, action, o.match ?? "exact"]), [
          ["com.x", "subscribe", "exact"],
          ["com.x", "subscribe", "prefix"],
          ["com.x", "subscribe", "wildcard"],
          ["com.x", "register", "exact"],
          ["com.x", "register", "prefix"],
        ]);
        // each answer is cached under its own match policy
        await dyn.subscribe("com.x");
        assert.equal(await dyn.refused([32, { match: "prefix" }, "com.x"]), NOT_AUTHORIZED);
        assert.equal(asked.length, 5);
      });
    });
  }
});

Deno.test("reload revokes the subscriptions and registrations the new rules deny", async (t) => {
  for (const ser of SERIALIZERS) {
    await t.step(ser, async () => {
      const before = [{
        uri: "com.app.",
        match: "prefix",
        allow: { subscribe: true, register: true },
      }];
      await using r = await startRouter(config(before));
      await using watcher = await Peer.join(r, ser, "backend");
      const unsubscribed = await watcher.subscribe("wamp.subscription.on_unsubscribe");
      const unregistered = await watcher.subscribe("wamp.registration.on_unregister");
      await using a1 = await Peer.join(r, ser, "ws", REVOCABLE);
      await using a2 = await Peer.join(r, ser); // announces no revocation
      await using backend = await Peer.join(r, ser, "backend");
      const exact = await a1.subscribe("com.app.a");
      assert.equal(await a2.subscribe("com.app.a"), exact);
      const prefix = await a1.subscribe("com.app.", { match: "prefix" });
      const marker = await a2.subscribe("com.app.z", { match: "prefix" });
      const proc = await a1.register("com.app.proc");
      const pfx = await a1.register("com.app.pfx.", { match: "prefix" });

      await r.router.reload(parseConfig(config([
        ...before,
        { uri: "com.app.a", match: "exact", allow: {} },
        { uri: "com.app.secret.", match: "prefix", allow: {} },
        { uri: "com.app.proc", match: "exact", allow: { subscribe: true } },
      ])));

      // a1 announced revocation: UNSUBSCRIBED / UNREGISTERED [.., 0, {...}]
      assert.deepEqual(await a1.take((m) => m[0] === 35), [35, 0, {
        subscription: exact,
        reason: NOT_AUTHORIZED,
      }]);
      assert.deepEqual(await a1.take((m) => m[0] === 67), [67, 0, {
        registration: proc,
        reason: NOT_AUTHORIZED,
      }]);
      // the meta events fire for both sessions
      const meta: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const ev = await watcher.take((m) => m[0] === 36);
        const kind = ev[1] === unsubscribed
          ? "unsubscribe"
          : ev[1] === unregistered
          ? "unregister"
          : ev[1];
        meta.push([kind, ev[4]]);
      }
      assert.deepEqual(
        new Set(meta.map((m) => JSON.stringify(m))),
        new Set([
          ["unsubscribe", [a1.session, exact]],
          ["unsubscribe", [a2.session, exact]],
          ["unregister", [a1.session, proc]],
        ].map((m) => JSON.stringify(m))),
      );

      // the revoked subscription delivers nothing; the prefix one is now filtered
      for (const topic of ["com.app.a", "com.app.secret.x", "com.app.b"]) backend.publish(topic);
      backend.publish("com.app.zend");
      assert.deepEqual(Object.fromEntries(await a1.eventsUntil("com.app.zend")), {
        [prefix]: ["com.app.b", "com.app.zend"],
      });
      assert.deepEqual(Object.fromEntries(await a2.eventsUntil("com.app.zend")), {
        [marker]: ["com.app.zend"],
      });
      // the revoked registration takes no calls; the other one does
      const reply = await backend.request([48, {}, "com.app.proc", []]);
      assert.deepEqual([reply[0], reply[4]], [8, NO_SUCH_PROCEDURE]);
      const call = backend.request([48, {}, "com.app.pfx.x", []]);
      const inv = await a1.take((m) => m[0] === 68);
      assert.equal(inv[2], pfx);
      a1.client.send([70, inv[1], {}, []]);
      assert.equal((await call)[0], 50);
      assert.deepEqual(a1.pending, []);
      assert.deepEqual(a2.pending, []);
    });
  }
});
