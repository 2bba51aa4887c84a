/**
 * The HTTP bridge: publisher and caller paths answer plain `fetch` requests.
 */

import assert from "node:assert/strict";
import { WampError } from "../mod.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

function config() {
  const c = testConfig({
    roles: [
      {
        name: "anonymous",
        permissions: [{ uri: "", match: "prefix", allow: { subscribe: true, register: true } }],
      },
      {
        name: "http",
        permissions: [{ uri: "com.open.", match: "prefix", allow: { publish: true, call: true } }],
      },
    ],
  });
  const paths = c.workers[0].transports[0].paths as Record<string, unknown>;
  paths.publish = { type: "publisher", realm: "realm1", role: "http" };
  paths.call = {
    type: "caller",
    realm: "realm1",
    role: "http",
    options: { post_body_limit: 1024 },
  };
  paths.elsewhere = { type: "caller", realm: "no.such.realm", role: "http" };
  return c;
}

async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

Deno.test("HTTP bridge: publish and call with fetch, errors as JSON with the right status", async () => {
  await using r = await startRouter(config());
  const base = `http://127.0.0.1:${r.port}`;
  await using sub = (await RawClient.join(r.url, "msgpack")).client;
  sub.send([32, 1, {}, "com.open.news"]);
  assert.equal((await sub.next())[0], 33);
  const backend = await r.router.session("realm1", { authrole: "anonymous" });
  await backend.register("com.open.add", ([a, b]) => (a as number) + (b as number));
  await backend.register("com.open.fail", () => {
    throw new WampError("com.example.error.bad", "it went wrong", ["it went wrong"], { code: 7 });
  });

  // publish
  const p = await post(`${base}/publish`, {
    topic: "com.open.news",
    args: ["héllo", 2 ** 53],
    kwargs: { k: 1 },
  });
  assert.equal(p.status, 200);
  assert.equal(typeof p.json.id, "number");
  const ev = await sub.next();
  assert.equal(ev[0], 36);
  assert.equal(ev[2], p.json.id);
  assert.deepEqual(ev[4], ["héllo", 2 ** 53]);
  assert.deepEqual(ev[5], { k: 1 });

  // call
  const c = await post(`${base}/call`, { procedure: "com.open.add", args: [2, 3] });
  assert.deepEqual(c, { status: 200, json: { args: [5], kwargs: {} } });

  // errors
  const appError = await post(`${base}/call`, { procedure: "com.open.fail" });
  assert.equal(appError.status, 500);
  assert.equal(appError.json.error, "com.example.error.bad");
  assert.deepEqual(appError.json.kwargs, { code: 7 });
  assert.equal((await post(`${base}/call`, { procedure: "com.open.none" })).status, 404);
  const denied = await post(`${base}/publish`, { topic: "com.closed.x" });
  assert.deepEqual([denied.status, denied.json.error], [403, "wamp.error.not_authorized"]);
  const badUri = await post(`${base}/publish`, { topic: "bad uri" });
  assert.deepEqual([badUri.status, badUri.json.error], [400, "wamp.error.invalid_uri"]);
  assert.equal((await post(`${base}/publish`, "{not json")).status, 400);
  assert.equal((await post(`${base}/publish`, { args: [] })).status, 400);
  assert.equal(
    (await post(`${base}/call`, { procedure: "com.open.add", args: ["x".repeat(2000)] })).status,
    413,
  );
  assert.equal((await post(`${base}/elsewhere`, { procedure: "com.open.add" })).status, 503);
  const get = await fetch(`${base}/call`);
  assert.equal(get.status, 405);
  await get.body?.cancel();
  await backend.close();
});

Deno.test("HTTP bridge config: publisher/caller need realm and role; trusted is refused", async () => {
  const { parseConfig, ConfigError } = await import("../mod.ts");
  const bad = (service: Record<string, unknown>) => {
    const c = testConfig();
    (c.workers[0].transports[0].paths as Record<string, unknown>).x = service;
    return () => parseConfig(c);
  };
  assert.throws(
    bad({ type: "publisher", role: "http" }),
    (e: unknown) => e instanceof ConfigError && /realm/.test(e.path),
  );
  assert.throws(
    bad({ type: "caller", realm: "realm1" }),
    (e: unknown) => e instanceof ConfigError && /role/.test(e.path),
  );
  assert.throws(
    bad({ type: "caller", realm: "realm1", role: "trusted" }),
    (e: unknown) => e instanceof ConfigError && /reserved/.test(e.message),
  );
  assert.throws(
    bad({ type: "caller", realm: "realm1", role: "x", options: { key: "k" } }),
    (e: unknown) => e instanceof ConfigError && /options\.key/.test(e.path),
  );
});

Deno.test("HTTP bridge: a client that goes away cancels its call (the callee gets INTERRUPT)", async () => {
  await using r = await startRouter(config());
  const base = `http://127.0.0.1:${r.port}`;
  // RawClient.join announces call_canceling for the callee role.
  await using callee = (await RawClient.join(r.url, "json")).client;
  callee.send([64, 1, {}, "com.open.slow"]);
  assert.equal((await callee.next())[0], 65);

  const abort = new AbortController();
  const pending = fetch(`${base}/call`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ procedure: "com.open.slow" }),
    signal: abort.signal,
  });
  const invocation = await callee.nextOf(68);
  abort.abort();
  await assert.rejects(pending);
  const interrupt = await callee.nextOf(69);
  assert.deepEqual(interrupt.slice(0, 2), [69, invocation[1]]);
  assert.equal((interrupt[2] as Record<string, unknown>).mode, "killnowait");
  // A late answer is dropped and the bridge keeps working.
  callee.send([70, invocation[1], {}, ["late"]]);
  const backend = await r.router.session("realm1", { authrole: "anonymous" });
  await backend.register("com.open.add", ([a, b]) => (a as number) + (b as number));
  const c = await post(`${base}/call`, { procedure: "com.open.add", args: [2, 3] });
  assert.deepEqual(c, { status: 200, json: { args: [5], kwargs: {} } });
  await backend.close();
});
