/**
 * Dynamic authorizers: a role with `"authorizer": "<procedure>"` instead of permissions; the
 * procedure decides each action, answers are cached per session and URI when they ask for it,
 * and a failing authorizer denies with `wamp.error.authorization_failed`.
 */

import assert from "node:assert/strict";
import { WampError } from "../mod.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;

Deno.test("dynamic authorizer: decisions, cache, failures, order", async (t) => {
  const config = testConfig({
    roles: [
      { name: "dyn", authorizer: "com.example.authorize" },
      {
        name: "backend",
        permissions: [{ uri: "", match: "prefix", allow: { register: true, subscribe: true } }],
      },
    ],
  });
  const ws = (config.workers[0]!.transports[0]!.paths as Record<string, D>).ws!;
  ws.auth = { anonymous: { type: "static", role: "dyn" } };
  await using r = await startRouter(config);
  const backend = await r.router.session("realm1", { authrole: "backend" });
  const calls: [D, string, string][] = [];
  await backend.register("com.example.authorize", (args) => {
    const [session, uri, action] = args as [D, string, string];
    calls.push([session, uri, action]);
    if (uri === "com.fail") throw new WampError("com.example.oops", "authorizer bug");
    if (uri === "com.invalid") return "yes";
    if (uri.startsWith("com.cached")) return { allow: true, cache: true };
    return uri.startsWith("com.ok");
  });
  const received: unknown[] = [];
  await backend.subscribe("com.ok.order", (args) => received.push(args[0]));

  for (const ser of ["json", "msgpack"] as const) {
    await t.step(ser, async () => {
      calls.length = 0;
      received.length = 0;
      const j = await RawClient.join(r.url, ser);
      await using c = j.client;
      assert.equal((j.welcome[2] as D).authrole, "dyn");
      c.send([16, 1, { acknowledge: true }, "com.ok.x", []]);
      assert.equal((await c.next())[0], 17);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]![0].session, j.session);
      assert.equal(calls[0]![0].authrole, "dyn");
      assert.deepEqual(calls[0]!.slice(1), ["com.ok.x", "publish"]);
      c.send([16, 2, { acknowledge: true }, "com.no", []]);
      assert.equal((await c.next())[4], "wamp.error.not_authorized");
      c.send([32, 3, {}, "com.no"]);
      assert.equal((await c.next())[4], "wamp.error.not_authorized");
      // failures and invalid answers deny with authorization_failed
      c.send([16, 4, { acknowledge: true }, "com.fail", []]);
      assert.equal((await c.next())[4], "wamp.error.authorization_failed");
      c.send([48, 5, {}, "com.invalid"]);
      assert.equal((await c.next())[4], "wamp.error.authorization_failed");
      // cache: asked once for com.cached, every time for com.ok.x
      const before = calls.length;
      for (let i = 0; i < 3; i++) {
        c.send([16, 10 + i, { acknowledge: true }, "com.cached.t", []]);
        assert.equal((await c.next())[0], 17);
        c.send([16, 20 + i, { acknowledge: true }, "com.ok.x", []]);
        assert.equal((await c.next())[0], 17);
      }
      const asked = calls.slice(before).map((x) => x[1]);
      assert.equal(asked.filter((u) => u === "com.cached.t").length, 1);
      assert.equal(asked.filter((u) => u === "com.ok.x").length, 3);
      // order is kept while decisions are pending
      for (let i = 0; i < 20; i++) c.send([16, 100 + i, {}, "com.ok.order", [i]]);
      c.send([16, 200, { acknowledge: true }, "com.ok.order", ["end"]]);
      assert.equal((await c.nextOf(17))[1], 200);
      await new Promise((res) => setTimeout(res, 20));
      assert.deepEqual(received, [...Array(20).keys(), "end"]);
    });
  }
  await backend.close();
});

Deno.test("a role has permissions or an authorizer, not both", async () => {
  const { parseConfig, ConfigError } = await import("../mod.ts");
  assert.throws(
    () =>
      parseConfig(testConfig({
        roles: [{ name: "x", authorizer: "com.a", permissions: [] }],
      })),
    (e: unknown) => e instanceof ConfigError && e.path.endsWith("roles[0].authorizer"),
  );
});

Deno.test("an authorizer that does not answer in time denies with authorization_failed", async () => {
  const { createRouter, FakeClock } = await import("../mod.ts");
  const clock = new FakeClock();
  const router = createRouter(
    testConfig({
      roles: [
        { name: "dyn", authorizer: "com.example.slow_authorize" },
        { name: "backend", permissions: [{ uri: "", match: "prefix", allow: { register: true } }] },
      ],
    }),
    { clock },
  );
  try {
    const backend = await router.session("realm1", { authrole: "backend" });
    let asked = 0;
    await backend.register("com.example.slow_authorize", () => {
      asked++;
      return new Promise(() => {}); // never answers
    });
    const client = await router.session("realm1", { authrole: "dyn" });
    const result = client.publish("com.x", [], {}, { acknowledge: true });
    // let the CALL reach the authorizer, then let the (fake) 10 s pass
    for (let i = 0; i < 10 && asked === 0; i++) await new Promise((r) => setTimeout(r, 0));
    assert.equal(asked, 1);
    clock.advance(10_000);
    await assert.rejects(
      result,
      (e: unknown) => e instanceof WampError && e.uri === "wamp.error.authorization_failed",
    );
  } finally {
    await router.close(0);
  }
});
