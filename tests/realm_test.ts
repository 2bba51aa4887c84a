/**
 * The realm between sessions and the broker/dealer, through in-process sessions of a router
 * that never listens (no sockets): reserved URIs, permissions, testaments, reconfiguration
 * and the session meta events.
 */

import assert from "node:assert/strict";
import { createRouter, parseConfig, type Router, type WampClient, WampError } from "../mod.ts";
import { routerInternals } from "../src/router/router.ts";
import type { Realm } from "../src/router/realm.ts";
import type { Args, Dict, Kwargs } from "../src/wamp/messages.ts";
import { testConfig } from "./_helpers.ts";

/** What an event handler was given. */
interface Got {
  args: Args;
  kwargs: Kwargs;
  details: Dict;
}

/**
 * Collects events; `take(n)` waits until `n` more have arrived. Its timer only keeps a broken
 * test from hanging: everything here is in-process and arrives without waiting.
 */
class Inbox {
  readonly items: Got[] = [];
  #taken = 0;
  #wake: (() => void) | null = null;
  readonly handler = (args: Args, kwargs: Kwargs, details: Dict) => {
    this.items.push({ args, kwargs, details });
    this.#wake?.();
  };
  async take(n = 1): Promise<Got[]> {
    while (this.items.length < this.#taken + n) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve;
        timer = setTimeout(() => reject(new Error(`only ${this.items.length} events`)), 5000);
      }).finally(() => {
        clearTimeout(timer);
        this.#wake = null;
      });
    }
    const out = this.items.slice(this.#taken, this.#taken + n);
    this.#taken += n;
    return out;
  }
  /** What arrived and was not taken. */
  get rest(): Got[] {
    return this.items.slice(this.#taken);
  }
}

function realmOf(router: Router, name = "realm1"): Realm {
  const realm = routerInternals(router).realm(name);
  assert.ok(realm, `realm ${name}`);
  return realm;
}

/** The server side of an in-process client. */
function serverSession(router: Router, client: WampClient) {
  const s = realmOf(router).sessions.get(client.sessionId);
  assert.ok(s, "the client's session is joined");
  return s;
}

function isWampError(uri: string) {
  return (e: unknown) => {
    assert.ok(e instanceof WampError, `a WampError, got ${e}`);
    assert.equal(e.uri, uri);
    return true;
  };
}

const ACK = { acknowledge: true };

Deno.test("realm: only the trusted role publishes to reserved wamp.* and switchboard.* topics", async () => {
  await using router = createRouter(testConfig());
  const anon = await router.session("realm1", { authrole: "anonymous" });
  const trusted = await router.session("realm1");
  const inbox = new Inbox();
  // subscribing to a reserved topic is allowed (that is how the meta API is used)
  await anon.subscribe("wamp.fake.topic", inbox.handler);
  for (const topic of ["wamp.fake.topic", "wamp.session.on_join", "switchboard.x", "wamp"]) {
    await assert.rejects(
      anon.publish(topic, ["forged"], {}, ACK),
      isWampError("wamp.error.invalid_uri"),
      topic,
    );
  }
  await trusted.publish("wamp.fake.topic", ["real"], {}, ACK);
  assert.deepEqual((await inbox.take())[0]!.args, ["real"]);
  assert.deepEqual(inbox.rest, [], "the refused publications delivered nothing");
});

Deno.test("realm: what a role's permissions do not allow is refused with not_authorized", async () => {
  await using router = createRouter(testConfig({
    roles: [{
      name: "limited",
      permissions: [{ uri: "com.ok.", match: "prefix", allow: { publish: true, subscribe: true } }],
    }],
  }));
  const limited = await router.session("realm1", { authrole: "limited" });
  const denied = isWampError("wamp.error.not_authorized");
  await assert.rejects(limited.publish("com.no.x", [], {}, ACK), denied);
  await assert.rejects(limited.subscribe("com.no.x", () => {}), denied);
  await assert.rejects(limited.subscribe("org.", () => {}, { match: "prefix" }), denied);
  await assert.rejects(limited.call("com.ok.x"), denied, "call is not allowed on com.ok.");
  await assert.rejects(limited.register("com.ok.x", () => 1), denied);
  // what is allowed goes through
  const inbox = new Inbox();
  await limited.subscribe("com.ok.x", inbox.handler);
  await limited.publish("com.ok.x", ["yes"], {}, { ...ACK, exclude_me: false });
  assert.deepEqual((await inbox.take())[0]!.args, ["yes"]);
  // a pattern the role covers only in part is allowed, and filtered per event
  const partial = new Inbox();
  await limited.subscribe("com.", partial.handler, { match: "prefix" });
  const trusted = await router.session("realm1");
  await trusted.publish("com.no.x", ["hidden"], {}, ACK);
  await trusted.publish("com.ok.y", ["shown"], {}, ACK);
  assert.deepEqual((await partial.take())[0]!.args, ["shown"]);
  assert.deepEqual(partial.rest, []);
  const s = serverSession(router, limited);
  assert.deepEqual(realmOf(router).broker.subscriptionsOf(s).map((x) => x.uri), [
    "com.ok.x",
    "com.",
  ]);
  assert.deepEqual(realmOf(router).dealer.registrationsOf(s), []);
});

Deno.test("realm: a registration that could match a reserved procedure is refused", async () => {
  await using router = createRouter(testConfig());
  const anon = await router.session("realm1", { authrole: "anonymous" });
  const refused: [string, string][] = [
    ["wamp.session.list", "exact"],
    ["switchboard.reload_config", "exact"],
    ["", "prefix"],
    ["wa", "prefix"],
    ["wamp", "prefix"],
    ["wamp.session.", "prefix"],
    ["switch", "prefix"],
    [".session.list", "wildcard"],
    ["wamp..list", "wildcard"],
  ];
  for (const [uri, match] of refused) {
    await assert.rejects(
      anon.register(uri, () => "hijacked", { match }),
      isWampError("wamp.error.invalid_uri"),
      `${match} "${uri}"`,
    );
  }
  // patterns that cannot reach wamp.* or switchboard.* are fine
  await anon.register("com.", () => "prefix", { match: "prefix" });
  await anon.register("com..run", () => "wildcard", { match: "wildcard" });
  await anon.register("wampx", () => "wampx", { match: "prefix" });
  // the meta procedures are still the router's
  const count = await anon.call("wamp.session.count");
  assert.equal(count.args[0], 1);
  // the trusted role may register under wamp.*
  const trusted = await router.session("realm1");
  await trusted.register("wamp.custom.", () => "mine", { match: "prefix" });
  assert.equal((await anon.call("wamp.custom.thing")).args[0], "mine");
});

Deno.test("realm: testaments are published when their session leaves; flushed ones are not", async () => {
  await using router = createRouter(testConfig());
  const watcher = await router.session("realm1");
  const inbox = new Inbox();
  await watcher.subscribe("com.will", inbox.handler);

  const a = await router.session("realm1", { authrole: "anonymous" });
  await a.call("wamp.session.add_testament", ["com.will", ["a left"], { who: "a" }]);
  await a.call("wamp.session.add_testament", ["com.will", ["a detached"]], {
    scope: "detached",
  });
  assert.deepEqual(inbox.rest, [], "nothing before the session leaves");
  await a.close();
  const wills = await inbox.take(2);
  // detached first, then destroyed, as published by the leaving session
  assert.deepEqual(wills.map((w) => [w.args, w.kwargs]), [
    [["a detached"], {}],
    [["a left"], { who: "a" }],
  ]);

  const b = await router.session("realm1", { authrole: "anonymous" });
  await b.call("wamp.session.add_testament", ["com.will", ["b left"]]);
  await b.call("wamp.session.add_testament", ["com.will", ["b kept"]], { scope: "detached" });
  assert.equal((await b.call("wamp.session.flush_testaments")).args[0], 1, "one destroyed");
  assert.equal((await b.call("wamp.session.flush_testaments")).args[0], 0, "already flushed");
  await assert.rejects(
    b.call("wamp.session.flush_testaments", [], { scope: "forever" }),
    isWampError("wamp.error.testament_error"),
  );
  await b.close();
  await watcher.publish("com.will", ["marker"], {}, { ...ACK, exclude_me: false });
  assert.deepEqual((await inbox.take(2)).map((w) => w.args), [["b kept"], ["marker"]]);
  assert.deepEqual(inbox.rest, []);
});

Deno.test("realm: a reload revokes the subscriptions and registrations no longer permitted", async () => {
  const roles = (prefix: string) => ({
    roles: [{
      name: "anonymous",
      permissions: [{
        uri: prefix,
        match: "prefix",
        allow: { call: true, register: true, publish: true, subscribe: true },
      }],
    }],
  });
  await using router = createRouter(testConfig(roles("com.a.")));
  const monitor = await router.session("realm1");
  const unsubscribed = new Inbox();
  const unregistered = new Inbox();
  await monitor.subscribe("wamp.subscription.on_unsubscribe", unsubscribed.handler);
  await monitor.subscribe("wamp.registration.on_unregister", unregistered.handler);
  const anonEvents = new Inbox();
  const trustedEvents = new Inbox();
  const anon = await router.session("realm1", { authrole: "anonymous" });
  const sub = await anon.subscribe("com.a.x", anonEvents.handler);
  const kept = await anon.subscribe("com.b.x", () => {}).catch(() => null);
  assert.equal(kept, null, "com.b. is not permitted yet");
  const reg = await anon.register("com.a.proc", () => "old");
  await monitor.subscribe("com.a.x", trustedEvents.handler);

  await router.reload(parseConfig(testConfig(roles("com.b."))));

  const s = serverSession(router, anon);
  assert.deepEqual(realmOf(router).broker.subscriptionsOf(s), []);
  assert.deepEqual(realmOf(router).dealer.registrationsOf(s), []);
  assert.deepEqual((await unsubscribed.take())[0]!.args, [anon.sessionId, sub.id]);
  assert.deepEqual((await unregistered.take())[0]!.args, [anon.sessionId, reg.id]);
  // the trusted session keeps its subscription to the same topic
  await monitor.publish("com.a.x", ["after"], {}, { ...ACK, exclude_me: false });
  assert.deepEqual((await trustedEvents.take())[0]!.args, ["after"]);
  assert.deepEqual(anonEvents.items, []);
  await assert.rejects(monitor.call("com.a.proc"), isWampError("wamp.error.no_such_procedure"));
  // and the anonymous session has the new permissions
  await anon.subscribe("com.b.x", () => {});
  await assert.rejects(
    anon.subscribe("com.a.x", () => {}),
    isWampError("wamp.error.not_authorized"),
  );
});

Deno.test("realm: on_join and on_leave reach subscribers; the service session is not listed", async () => {
  await using router = createRouter(testConfig());
  await router.ready;
  const realm = realmOf(router);
  const internal = [...realm.sessions.values()].filter((s) => s.internal).map((s) => s.id);
  assert.equal(internal.length, 1, "the realm's service session");

  const monitor = await router.session("realm1");
  const joins = new Inbox();
  const leaves = new Inbox();
  await monitor.subscribe("wamp.session.on_join", joins.handler);
  await monitor.subscribe("wamp.session.on_leave", leaves.handler);
  const guest = await router.session("realm1", { authrole: "anonymous", authid: "guest" });
  const [join] = await joins.take();
  assert.equal(join!.args.length, 1);
  const details = join!.args[0] as Dict;
  assert.equal(details.session, guest.sessionId);
  assert.equal(details.authid, "guest");
  assert.equal(details.authrole, "anonymous");
  assert.equal(details.realm, "realm1");
  assert.equal(join!.details.publisher, internal[0], "published by the service session");

  const list = (await monitor.call("wamp.session.list")).args[0] as number[];
  assert.deepEqual(list.sort(), [monitor.sessionId, guest.sessionId].sort());
  assert.equal((await monitor.call("wamp.session.count")).args[0], 2);
  assert.equal(realm.sessions.size, 3, "the realm itself holds the service session too");
  await assert.rejects(
    monitor.call("wamp.session.get", [internal[0]]),
    isWampError("wamp.error.no_such_session"),
  );

  const guestId = guest.sessionId;
  await guest.close();
  const [leave] = await leaves.take();
  assert.deepEqual(leave!.args, [guestId], "exactly [session_id], as Crossbar sends it");
  assert.deepEqual((await monitor.call("wamp.session.list")).args[0], [monitor.sessionId]);
  assert.deepEqual(joins.rest, [], "no on_join but the guest's");
});
