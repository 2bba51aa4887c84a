/**
 * `GET /healthz` and `GET /readyz` on `web` and `universal` transports, over real HTTP: status,
 * body, HEAD, other methods, configuration (off, moved, path collisions), the readiness checks
 * (the router's own: listeners, realms, shutdown; and ones added with `addReadinessCheck`).
 */

import assert from "node:assert/strict";
import { ConfigError, createRouter, parseConfig } from "../mod.ts";
import { ALLOW_ALL, startRouter, testConfig } from "./_helpers.ts";

/** `testConfig()` with `more` merged into its one `web` transport. */
function webConfig(more: Record<string, unknown>) {
  const config = testConfig();
  const worker = config.workers[0]!;
  return {
    ...config,
    workers: [{ ...worker, transports: [{ ...worker.transports[0]!, ...more }] }],
  };
}

async function get(url: string, method = "GET") {
  const res = await fetch(url, { method });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

Deno.test("/healthz answers 200 while serving; HEAD without a body; other methods 405", async () => {
  await using r = await startRouter();
  const base = `http://127.0.0.1:${r.port}`;
  const ok = await get(`${base}/healthz`);
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.text), { status: "ok" });
  assert.equal(ok.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(ok.headers.get("cache-control"), "no-store");
  const head = await get(`${base}/healthz`, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
  const post = await get(`${base}/healthz`, "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.equal((await get(`${base}/healthz/`)).status, 200, "a trailing slash is the same path");
});

Deno.test("/readyz: 200 when every listener is up and realms started", async () => {
  await using r = await startRouter();
  const res = await get(`http://127.0.0.1:${r.port}/readyz`);
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.text), { status: "ready" });
  assert.equal(res.headers.get("cache-control"), "no-store");
});

Deno.test("/readyz: an added check that fails gives 503 with its reason; removed, 200 again", async () => {
  await using r = await startRouter();
  const url = `http://127.0.0.1:${r.port}/readyz`;
  let connected = false;
  const remove = r.router.addReadinessCheck({
    name: "cluster",
    check: () => connected ? null : "cluster link not connected",
  });
  const down = await get(url);
  assert.equal(down.status, 503);
  assert.deepEqual(JSON.parse(down.text), {
    status: "not_ready",
    reasons: [{ check: "cluster", reason: "cluster link not connected" }],
  });
  const head = await get(url, "HEAD");
  assert.equal(head.status, 503);
  assert.equal(head.text, "");
  assert.equal((await get(url, "DELETE")).status, 405);
  connected = true;
  assert.equal((await get(url)).status, 200);
  connected = false;
  remove();
  assert.equal((await get(url)).status, 200, "a removed check is no longer asked");
});

Deno.test("/readyz: a check that throws counts as not ready and its error is not shown", async () => {
  await using r = await startRouter();
  r.router.addReadinessCheck({
    name: "broken",
    check: () => {
      throw new Error("secret-host.internal:4222 refused");
    },
  });
  const res = await get(`http://127.0.0.1:${r.port}/readyz`);
  assert.equal(res.status, 503);
  assert.deepEqual(JSON.parse(res.text).reasons, [{ check: "broken", reason: "check failed" }]);
  assert.ok(!res.text.includes("secret-host"));
  // liveness does not depend on readiness
  assert.equal((await get(`http://127.0.0.1:${r.port}/healthz`)).status, 200);
});

Deno.test("/readyz: 503 while a configured listener is not up (the second one's port is taken)", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (blocker.addr as Deno.NetAddr).port;
  // a free port for the first listener, so the test knows where it is after serve() rejects
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const free = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const transport = (port: number) => ({
    type: "web",
    endpoint: { type: "tcp", interface: "127.0.0.1", port },
    paths: { ws: { type: "websocket" } },
  });
  const router = createRouter({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [transport(free), transport(taken)],
    }],
  });
  try {
    await assert.rejects(router.serve());
    await router.ready;
    const failures = [{ check: "router", reason: "1 of 2 listeners up" }];
    // the first listener is up and says so
    const addr = free;
    const res = await get(`http://127.0.0.1:${addr}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(JSON.parse(res.text).reasons, failures);
    assert.equal((await get(`http://127.0.0.1:${addr}/healthz`)).status, 200);
  } finally {
    blocker.close();
    await router.close(100);
  }
});

Deno.test("readiness: realms starting, then ready, then shutting down (router mounted with handler())", async () => {
  const router = createRouter(testConfig());
  const handler = router.handler();
  const ask = async () => {
    const res = await handler(new Request("http://router.test/readyz"));
    return { status: res.status, body: await res.json() };
  };
  const starting = await ask();
  assert.equal(starting.status, 503);
  assert.deepEqual(starting.body.reasons, [{ check: "router", reason: "realms starting" }]);
  await router.ready;
  assert.equal(
    (await ask()).status,
    200,
    "a mounted router has no listeners of its own to wait for",
  );
  const closing = router.close(100);
  const during = await ask();
  assert.equal(during.status, 503);
  assert.deepEqual(during.body.reasons, [{ check: "router", reason: "shutting down" }]);
  await closing;
});

Deno.test("healthz/readyz config: off with false, moved with {path}", async () => {
  await using r = await startRouter(webConfig({ healthz: false, readyz: { path: "/ready/" } }));
  const base = `http://127.0.0.1:${r.port}`;
  assert.equal((await get(`${base}/healthz`)).status, 404);
  assert.equal((await get(`${base}/readyz`)).status, 404);
  assert.equal((await get(`${base}/ready`)).status, 200);
});

Deno.test("healthz/readyz config: collisions and bad values name the key", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ readyz: { path: "ws" } }, "readyz", "already a WebSocket path"],
    [
      { healthz: { path: "metrics" } },
      "healthz",
      'the healthz and metrics share the path "/metrics"',
    ],
    [{ readyz: { path: "healthz" } }, "readyz", 'the readyz and healthz share the path "/healthz"'],
    [{ healthz: { path: "a/b" } }, "healthz.path", "must be one path segment"],
    [{ readyz: true }, "readyz", "must be an object"],
    [{ healthz: { path: "x", interval: 5 } }, "healthz.interval", ""],
    [
      { paths: { ws: { type: "websocket" }, healthz: { type: "websocket" } } },
      "healthz",
      "already a WebSocket path",
    ],
  ];
  for (const [more, key, reason] of cases) {
    let caught: unknown;
    try {
      parseConfig(webConfig(more));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigError, `${JSON.stringify(more)}: ${String(caught)}`);
    assert.equal(caught.path.replace(/^.*transports\[0\]\./, ""), key, JSON.stringify(more));
    assert.ok(caught.reason.includes(reason), `${caught.reason} lacks ${reason}`);
  }
  // turning the metrics off frees its path for a probe
  const config = parseConfig(webConfig({ metrics: false, healthz: { path: "metrics" } }));
  const t = config.transports[0]!;
  assert.ok(t.type === "web");
  assert.equal(t.healthz_path, "metrics");
  assert.equal(t.metrics_path, null);
});

Deno.test("universal transport serves the probes too", async () => {
  await using r = await startRouter({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [{
        type: "universal",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        rawsocket: { serializers: ["json"] },
        websocket: { ws: { serializers: ["json"] } },
        readyz: { path: "ready" },
      }],
    }],
  });
  const base = `http://127.0.0.1:${r.port}`;
  assert.equal((await get(`${base}/healthz`)).status, 200);
  assert.equal((await get(`${base}/ready`)).status, 200);
  assert.equal((await get(`${base}/readyz`)).status, 404);
});
