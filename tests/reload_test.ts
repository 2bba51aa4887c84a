/**
 * Configuration reload: realms, roles, permissions and stats change without dropping sessions;
 * an invalid configuration is rejected and the old one stays; SIGHUP and the
 * `switchboard.reload_config` procedure trigger it.
 */

import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../mod.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

function allow(prefix: string) {
  return {
    roles: [{
      name: "anonymous",
      permissions: [
        { uri: prefix, match: "prefix", allow: { publish: true, subscribe: true } },
        { uri: "switchboard.reload_config", allow: { call: true } },
      ],
    }],
  };
}

Deno.test("reload: permissions change for live sessions; realms are added and removed", async () => {
  await using r = await startRouter(
    testConfig(allow("com.a."), [{ name: "old.realm", roles: [] }]),
  );
  await using c = (await RawClient.join(r.url, "json")).client;
  const old = await RawClient.join(r.url, "json", "old.realm");
  c.send([16, 1, { acknowledge: true }, "com.a.x", []]);
  assert.equal((await c.next())[0], 17);
  c.send([16, 2, { acknowledge: true }, "com.b.x", []]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");

  const result = await r.router.reload(
    parseConfig(testConfig(allow("com.b."), [{ name: "new.realm", roles: [] }])),
  );
  assert.deepEqual(result, { added: ["new.realm"], updated: ["realm1"], removed: ["old.realm"] });

  // the same session, new permissions
  c.send([16, 3, { acknowledge: true }, "com.a.x", []]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
  c.send([16, 4, { acknowledge: true }, "com.b.x", []]);
  assert.equal((await c.next())[0], 17);
  // the removed realm's session got GOODBYE close_realm; the new realm accepts sessions
  const bye = await old.client.next();
  assert.deepEqual([bye[0], bye[2]], [6, "wamp.close.close_realm"]);
  await old.client[Symbol.asyncDispose]();
  const fresh = await RawClient.join(r.url, "msgpack", "new.realm");
  assert.equal((fresh.welcome[2] as Record<string, unknown>).realm, "new.realm");
  await fresh.client[Symbol.asyncDispose]();
});

Deno.test("reload: stats settings apply to live sessions and to sessions that join afterwards", async () => {
  await using r = await startRouter(testConfig(allow("")));
  await using mon = (await RawClient.join(r.url, "json")).client;
  mon.send([32, 1, {}, "wamp.session.on_stats"]);
  assert.equal((await mon.next())[0], 33);
  const live = await RawClient.join(r.url, "msgpack");
  await using c = live.client;
  assert.deepEqual(await mon.quiet(), [], "no stats before the reload");

  // Statistics turned on: the live session reports after 3 rated messages, no join event.
  await r.router.reload(parseConfig(testConfig({
    ...allow(""),
    stats: { trigger_after_rated_messages: 3, trigger_on_join: false },
  })));
  // HELLO and WELCOME were counted before the reload; this PUBLISH is the third message.
  c.send([16, 1, { acknowledge: true }, "com.x", []]);
  assert.equal((await c.next())[0], 17);
  const ev = await mon.nextOf(36);
  const [info, stats] = ev[4] as Record<string, unknown>[];
  assert.equal(info!.session, live.session);
  assert.equal(stats!.first, true);
  assert.equal(stats!.cycle, 1);
  assert.equal(stats!.serializer, "msgpack");
  assert.equal(stats!.messages, 3, "the window kept what was counted before the reload");
  // (WELCOME announces every feature and is over 512 bytes: 2 rated messages)
  assert.ok((stats!.rated_messages as number) >= 3);

  // A session that joins now gets the new settings (no join event either).
  const late = await RawClient.join(r.url, "json");
  await using _late = late.client;
  assert.deepEqual(await mon.quiet(), []);

  // Statistics removed: nobody reports any more, not even on leave.
  await r.router.reload(parseConfig(testConfig(allow(""))));
  for (let i = 2; i <= 7; i++) {
    c.send([16, i, { acknowledge: true }, "com.x", []]);
    assert.equal((await c.next())[0], 17);
  }
  await c[Symbol.asyncDispose]();
  const after = await mon.quiet(300);
  assert.deepEqual(after.filter((m) => m[0] === 36), []);
});

Deno.test("reload: an invalid configuration is rejected and the old one stays", async () => {
  await using r = await startRouter(testConfig(allow("com.a.")));
  await using c = (await RawClient.join(r.url, "json")).client;
  r.router.configSource = () =>
    Promise.resolve(
      parseConfig({ version: 2, workers: [{ type: "router", realms: [{ name: "x" }] }] }),
    );
  await assert.rejects(() => r.router.reload(), ConfigError);
  c.send([16, 1, { acknowledge: true }, "com.a.x", []]);
  assert.equal((await c.next())[0], 17);
});

Deno.test("reload through the switchboard.reload_config procedure (permission-checked)", async () => {
  await using r = await startRouter(testConfig(allow("com.a.")));
  let next = testConfig(allow("com.b."));
  r.router.configSource = () => Promise.resolve(parseConfig(next));
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([48, 1, {}, "switchboard.reload_config"]);
  const res = await c.next();
  assert.equal(res[0], 50);
  assert.deepEqual((res[3] as unknown[])[0], { added: [], updated: ["realm1"], removed: [] });
  c.send([16, 2, { acknowledge: true }, "com.b.x", []]);
  assert.equal((await c.next())[0], 17);
  // a broken config comes back as an error; the config in force is unchanged
  next = {
    version: 2,
    workers: [{ type: "router", realms: [{ name: "realm1", roles: [{ name: 7 }] }] }],
  } as never;
  c.send([48, 3, {}, "switchboard.reload_config"]);
  const err = await c.next();
  assert.equal(err[0], 8);
  assert.equal(err[4], "switchboard.error.invalid_config");
  c.send([16, 4, { acknowledge: true }, "com.b.x", []]);
  assert.equal((await c.next())[0], 17);
  // clients may not register switchboard.* procedures
  c.send([64, 5, {}, "switchboard.reload_config"]);
  assert.equal((await c.next())[4], "wamp.error.invalid_uri");
});
