/**
 * The `Router` under a `FakeClock`: shutdown waits on the router's clock, never on real time;
 * realm names and session counts; reloads that add and remove realms; the internals accessor;
 * `await using`.
 */

import assert from "node:assert/strict";
import { createRouter, FakeClock, parseConfig, Router, WampError } from "../mod.ts";
import { routerInternals } from "../src/router/router.ts";
import { RawClient, sleep, startRouter, testConfig } from "./_helpers.ts";

/** Tracks whether a promise has settled. */
function track(p: Promise<unknown>): { readonly settled: boolean; readonly done: Promise<void> } {
  let settled = false;
  const done = p.then(() => {
    settled = true;
  });
  return {
    get settled() {
      return settled;
    },
    done,
  };
}

Deno.test("router: close(100) waits for a silent client on the router's clock, not on real time", async () => {
  const clock = new FakeClock();
  await using r = await startRouter(testConfig(), { clock });
  const { client } = await RawClient.join(r.url);
  await using _c = client;
  const closing = track(r.router.close(100));
  const bye = await client.next();
  assert.deepEqual([bye[0], bye[2]], [6, "wamp.close.system_shutdown"]);
  // The client never answers. Real time passing changes nothing: only the router's clock does.
  await sleep(250);
  assert.equal(closing.settled, false, "not before the fake clock moves");
  clock.advance(99);
  await sleep(50);
  assert.equal(closing.settled, false, "not before the grace period is over");
  clock.advance(1);
  await closing.done;
  await client.closed();
  assert.equal(r.router.sessionCount, 0);
  assert.equal(clock.pendingTimers, 0, "no timer of the router or its connections left armed");
});

Deno.test("router: close() without sessions resolves without the clock moving", async () => {
  const clock = new FakeClock();
  const served = createRouter(testConfig(), { clock });
  const [listener] = await served.serve();
  assert.ok(listener!.port > 0);
  await served.close();
  // the listener is gone: a new connection is refused
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: listener!.port }));
  await served.close(); // a second close is a no-op
  // and a closed router opens no in-process session either
  await assert.rejects(served.session("realm1"), (e: unknown) => {
    assert.ok(e instanceof WampError);
    assert.equal(e.uri, "wamp.close.system_shutdown");
    return true;
  });

  const idle = createRouter(testConfig(), { clock });
  await idle.ready;
  // in-process sessions answer GOODBYE at once: nothing to wait for either
  const local = await idle.session("realm1");
  let reason = "";
  local.onClose = (why) => reason = why;
  await idle.close();
  assert.equal(reason, "wamp.close.system_shutdown");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("router: close() right after createRouter, before the realms are up, is clean", async () => {
  // The realms' service sessions are still registering the meta procedures: closing them
  // under that registration must neither reject close() nor leave an unhandled rejection.
  const router = createRouter(testConfig({}, [{ name: "realm2" }]), { clock: new FakeClock() });
  await router.close();
  await router.ready;
  assert.equal(router.sessionCount, 0);
});

Deno.test("router: realmNames and sessionCount (service sessions not counted)", async () => {
  const clock = new FakeClock();
  await using r = await startRouter(
    testConfig({}, [{ name: "realm2", roles: [{ name: "anonymous", permissions: [] }] }]),
    { clock },
  );
  assert.deepEqual(r.router.realmNames, ["realm1", "realm2"]);
  assert.equal(r.router.sessionCount, 0, "the two realms' service sessions are not counted");
  const a = await r.router.session("realm1");
  const b = await r.router.session("realm2", { authrole: "anonymous" });
  const raw = await RawClient.join(r.url, "json", "realm2");
  await using _raw = raw.client;
  assert.equal(r.router.sessionCount, 3);
  await a.close();
  assert.equal(r.router.sessionCount, 2);
  raw.client.send([6, {}, "wamp.close.close_realm"]);
  assert.equal((await raw.client.next())[0], 6);
  assert.equal(r.router.sessionCount, 1);
  await b.close();
  assert.equal(r.router.sessionCount, 0);
});

Deno.test("router: reload adds and removes realms; the removed realm's sessions get close_realm", async () => {
  const clock = new FakeClock();
  await using r = await startRouter(testConfig({}, [{ name: "old", roles: [] }]), { clock });
  const local = await r.router.session("old");
  let localReason = "";
  local.onClose = (why) => localReason = why;
  const result = await r.router.reload(
    parseConfig(testConfig({}, [{ name: "new", roles: [] }])),
  );
  assert.deepEqual(result, { added: ["new"], updated: ["realm1"], removed: ["old"] });
  assert.deepEqual(r.router.realmNames, ["realm1", "new"]);
  assert.equal(localReason, "wamp.close.close_realm");
  assert.equal(routerInternals(r.router).realm("old"), undefined);
  await assert.rejects(r.router.session("old"), (e: unknown) => {
    assert.ok(e instanceof WampError);
    assert.equal(e.uri, "wamp.error.no_such_realm");
    return true;
  });
  // the new realm is served, with its meta procedures
  const fresh = await r.router.session("new");
  assert.equal((await fresh.call("wamp.session.count")).args[0], 1);
  assert.equal(r.router.sessionCount, 1);
});

Deno.test("router: a removed realm's network session gets GOODBYE close_realm", async () => {
  const clock = new FakeClock();
  await using r = await startRouter(testConfig({}, [{ name: "old" }]), { clock });
  const { client } = await RawClient.join(r.url, "msgpack", "old");
  await using _c = client;
  await r.router.reload(parseConfig(testConfig()));
  const bye = await client.next();
  assert.deepEqual([bye[0], bye[2]], [6, "wamp.close.close_realm"]);
  client.send([6, {}, "wamp.close.goodbye_and_out"]);
  assert.deepEqual(r.router.realmNames, ["realm1"]);
  assert.equal(r.router.sessionCount, 0);
});

Deno.test("router: routerInternals is only for routers", async () => {
  assert.throws(() => routerInternals({} as Router), TypeError);
  assert.throws(() => routerInternals(Object.create(Router.prototype)), TypeError);
  await using router = createRouter(testConfig(), { clock: new FakeClock() });
  const internals = routerInternals(router);
  assert.equal(internals.realm("realm1")?.name, "realm1");
  assert.equal(internals.realm("nope"), undefined);
  assert.equal(internals.host.clock, router.clock);
});

Deno.test("router: await using closes the router", async () => {
  const clock = new FakeClock();
  let reason = "";
  let port = 0;
  {
    await using router = createRouter(testConfig(), { clock });
    port = (await router.serve())[0]!.port;
    const local = await router.session("realm1");
    local.onClose = (why) => reason = why;
  }
  assert.equal(reason, "wamp.close.system_shutdown");
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});
