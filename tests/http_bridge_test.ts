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
  const paths = c.workers[0]!.transports[0]!.paths as Record<string, unknown>;
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
    (c.workers[0]!.transports[0]!.paths as Record<string, unknown>).x = service;
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

// ---- browsers: content type and origins (cross-site request forgery) -----------------------

/** The bridge config above plus paths with origin settings. */
function originConfig() {
  const c = config();
  const paths = c.workers[0]!.transports[0]!.paths as Record<string, unknown>;
  paths.listed = {
    type: "publisher",
    realm: "realm1",
    role: "http",
    options: { allowed_origins: ["https://app.example.com", "https://*.example.org:8443"] },
  };
  paths.any = {
    type: "caller",
    realm: "realm1",
    role: "http",
    options: { allowed_origins: ["*"] },
  };
  paths.nullok = {
    type: "caller",
    realm: "realm1",
    role: "http",
    options: { allow_null_origin: true },
  };
  return c;
}

/** A subscriber to com.open.news and a callee of com.open.echo over real WebSockets. */
async function witnesses(url: string) {
  const sub = (await RawClient.join(url, "json")).client;
  sub.send([32, 1, {}, "com.open.news"]);
  assert.equal((await sub.next())[0], 33);
  const callee = (await RawClient.join(url, "json")).client;
  callee.send([64, 2, {}, "com.open.echo"]);
  assert.equal((await callee.next())[0], 65);
  return { sub, callee };
}

/** POSTs a raw body with the given headers; returns status, headers and the JSON body if any. */
async function send(url: string, init: RequestInit) {
  const res = await fetch(url, { method: "POST", ...init });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  if (text !== "" && (res.headers.get("content-type") ?? "").startsWith("application/json")) {
    json = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, json };
}

/**
 * Publishes and calls once with a proper request and checks that these are the first event and
 * invocation the witnesses see: nothing that was refused before got through.
 */
async function assertOnlyMarkerArrives(
  base: string,
  w: { sub: RawClient; callee: RawClient },
): Promise<void> {
  const marker = crypto.randomUUID();
  const p = await post(`${base}/publish`, { topic: "com.open.news", args: [marker] });
  assert.equal(p.status, 200);
  const ev = await w.sub.next();
  assert.deepEqual([ev[0], ev[4]], [36, [marker]], "the first event is the marker's");
  const pending = post(`${base}/call`, { procedure: "com.open.echo", args: [marker] });
  const inv = await w.callee.next();
  assert.deepEqual([inv[0], inv[4]], [68, [marker]], "the first invocation is the marker's");
  w.callee.send([70, inv[1], {}, [marker]]);
  assert.deepEqual(await pending, { status: 200, json: { args: [marker], kwargs: {} } });
}

Deno.test("HTTP bridge: text/plain, form and untyped posts get 415; nothing is published or called", async () => {
  await using r = await startRouter(config());
  const base = `http://127.0.0.1:${r.port}`;
  const w = await witnesses(r.url);
  await using _sub = w.sub;
  await using _callee = w.callee;

  const publish = JSON.stringify({ topic: "com.open.news", args: ["forged"] });
  const call = JSON.stringify({ procedure: "com.open.echo", args: ["forged"] });
  const form = new FormData();
  form.set("topic", "com.open.news");
  const bodies: [string, RequestInit][] = [
    ["text/plain", { headers: { "content-type": "text/plain" }, body: publish }],
    ["text/plain (fetch default)", { body: publish }],
    ["urlencoded", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: publish,
    }],
    ["multipart", { body: form }],
    ["no type", { body: new TextEncoder().encode(publish) }],
    ["json-like", { headers: { "content-type": "application/jsonp" }, body: publish }],
    ["+json", { headers: { "content-type": "application/ld+json" }, body: publish }],
  ];
  for (const [what, init] of bodies) {
    for (const [path, body] of [["publish", publish], ["call", call]]) {
      const res = await send(`${base}/${path}`, {
        ...init,
        body: init.body === publish ? body : init.body,
      });
      assert.equal(res.status, 415, `${what} to /${path}`);
      assert.equal(res.json?.error, "switchboard.error.unsupported_media_type", what);
      assert.equal(typeof res.json?.message, "string");
    }
  }
  // application/json with parameters and in any case is fine
  for (const type of ["application/json; charset=utf-8", "Application/JSON;Charset=UTF-8"]) {
    const res = await send(`${base}/publish`, {
      headers: { "content-type": type },
      body: JSON.stringify({ topic: "com.open.other" }),
    });
    assert.equal(res.status, 200, type);
  }
  await assertOnlyMarkerArrives(base, w);
});

Deno.test("HTTP bridge: a cross-origin Origin is refused (403) unless allowed; same-origin and no Origin pass", async () => {
  await using r = await startRouter(originConfig());
  const base = `http://127.0.0.1:${r.port}`;
  const w = await witnesses(r.url);
  await using _sub = w.sub;
  await using _callee = w.callee;
  const body = (path: string) =>
    JSON.stringify(
      path === "publish" || path === "listed"
        ? { topic: "com.open.news", args: ["forged"] }
        : { procedure: "com.open.echo", args: ["forged"] },
    );
  const from = (path: string, origin: string) =>
    send(`${base}/${path}`, {
      headers: { "content-type": "application/json", origin },
      body: body(path),
    });

  const refused: [string, string][] = [
    ["publish", "http://evil.example"],
    ["call", "https://evil.example"],
    ["publish", `http://localhost:${r.port}`], // another name for the same address
    ["publish", `http://127.0.0.1:${r.port + 1}`],
    ["publish", `http://127.0.0.1:${r.port}.evil.example`],
    ["publish", "null"],
    ["call", "null"],
    ["any", "null"], // "*" does not include null
    ["listed", "http://app.example.com"], // scheme
    ["listed", "https://app.example.com:444"], // port
    ["listed", "https://app.example.com.evil.example"],
    ["listed", "https://evilapp.example.com"],
    ["listed", "https://x.example.org"], // 443, not 8443
    ["listed", "https://example.org:8443"], // "*." needs a label
    ["listed", "https://x.example.org.evil:8443"],
    ["listed", `http://127.0.0.1:${r.port}`], // a list replaces same-origin
    ["listed", "https://app.example.com/path"],
    ["listed", "https://app.example.com, https://evil.example"],
    ["nullok", "https://evil.example"],
  ];
  for (const [path, origin] of refused) {
    const res = await from(path, origin);
    assert.equal(res.status, 403, `${origin} on /${path}`);
    assert.equal(res.json?.error, "switchboard.error.origin_not_allowed");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  }
  await assertOnlyMarkerArrives(base, w); // (the marker posts have no Origin)

  // same-origin (Origin = Host) passes without CORS headers
  const same = await from("publish", `http://127.0.0.1:${r.port}`);
  assert.equal(same.status, 200);
  assert.equal(same.headers.get("access-control-allow-origin"), null);
  assert.deepEqual((await w.sub.next())[4], ["forged"]);

  // allowed cross origins: exact and wildcard, with CORS headers
  for (const origin of ["https://app.example.com", "https://a.b.example.org:8443"]) {
    const res = await from("listed", origin);
    assert.equal(res.status, 200, origin);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.match(res.headers.get("vary") ?? "", /\borigin\b/i);
    assert.deepEqual((await w.sub.next())[4], ["forged"]);
  }
  // an error answer to an allowed origin is readable by its page too
  const typed = await send(`${base}/listed`, {
    headers: { "content-type": "text/plain", origin: "https://app.example.com" },
    body: body("listed"),
  });
  assert.equal(typed.status, 415);
  assert.equal(typed.headers.get("access-control-allow-origin"), "https://app.example.com");

  // "*" allows any origin; allow_null_origin allows null
  const anyCall = from("any", "https://whoever.example");
  const inv = await w.callee.next();
  w.callee.send([70, inv[1], {}, ["ok"]]);
  const anyRes = await anyCall;
  assert.equal(anyRes.status, 200);
  assert.equal(anyRes.headers.get("access-control-allow-origin"), "https://whoever.example");
  const nullCall = from("nullok", "null");
  const inv2 = await w.callee.next();
  w.callee.send([70, inv2[1], {}, ["ok"]]);
  const nullRes = await nullCall;
  assert.equal(nullRes.status, 200);
  assert.equal(nullRes.headers.get("access-control-allow-origin"), "null");
});

Deno.test("HTTP bridge: CORS preflight (OPTIONS) is answered for allowed origins only", async () => {
  await using r = await startRouter(originConfig());
  const base = `http://127.0.0.1:${r.port}`;
  const preflight = async (path: string, origin: string) => {
    const res = await fetch(`${base}/${path}`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    await res.body?.cancel();
    return res;
  };
  for (const origin of ["https://app.example.com", "https://x.example.org:8443"]) {
    const ok = await preflight("listed", origin);
    assert.equal(ok.status, 204, origin);
    assert.equal(ok.headers.get("access-control-allow-origin"), origin);
    assert.equal(ok.headers.get("access-control-allow-methods"), "POST");
    assert.match(ok.headers.get("access-control-allow-headers") ?? "", /^content-type$/i);
    assert.match(ok.headers.get("vary") ?? "", /\borigin\b/i);
  }
  for (
    const [path, origin] of [
      ["listed", "https://evil.example"],
      ["publish", "https://evil.example"],
      ["call", "null"],
    ]
  ) {
    const no = await preflight(path!, origin!);
    assert.equal(no.status, 403, `${origin} on /${path}`);
    assert.equal(no.headers.get("access-control-allow-origin"), null);
    assert.equal(no.headers.get("access-control-allow-methods"), null);
  }
});

Deno.test("HTTP bridge config: allowed_origins and allow_null_origin are validated", async () => {
  const { parseConfig, ConfigError } = await import("../mod.ts");
  const withOptions = (options: unknown) => {
    const c = testConfig();
    (c.workers[0]!.transports[0]!.paths as Record<string, unknown>).pub = {
      type: "publisher",
      realm: "realm1",
      role: "http",
      options,
    };
    return c;
  };
  const at = "workers[0].transports[0].paths.pub.options";
  const fails = (options: unknown, path: string, reason: RegExp) =>
    assert.throws(
      () => parseConfig(withOptions(options)),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.path, path);
        assert.match(e.reason, reason);
        return true;
      },
    );
  fails({ allowed_origins: "https://a.example" }, `${at}.allowed_origins`, /must be an array/);
  fails({ allowed_origins: [7] }, `${at}.allowed_origins[0]`, /must be a string, got 7/);
  fails({ allowed_origins: [""] }, `${at}.allowed_origins[0]`, /non-empty/);
  for (
    const bad of [
      "a.example",
      "https://a.example/",
      "https://a.example/path",
      "https://a.example:99999",
      "https://a.example:*x", // `:*` (any port) is valid since issue 11
      "*://a.example",
      "https://a example",
      "null",
    ]
  ) {
    fails({ allowed_origins: ["https://ok.example", bad] }, `${at}.allowed_origins[1]`, /origin/);
  }
  fails(
    { allowed_origins: ["https://a.example", "HTTPS://A.example"] },
    `${at}.allowed_origins[1]`,
    /duplicate/,
  );
  fails({ allow_null_origin: "yes" }, `${at}.allow_null_origin`, /must be a boolean/);
  fails({ allowed_origin: [] }, `${at}.allowed_origin`, /unknown key/);

  const ok = parseConfig(withOptions({
    allowed_origins: ["*", "https://*.example.com", "http://localhost:8080", "http://[::1]:3000"],
    allow_null_origin: true,
  }));
  const web = ok.transports[0]!;
  assert.equal(web.type, "web");
  const bridge = web.bridges.get("pub")!;
  assert.deepEqual(bridge.allowed_origins, [
    "*",
    "https://*.example.com",
    "http://localhost:8080",
    "http://[::1]:3000",
  ]);
  assert.equal(bridge.allow_null_origin, true);
  const plain = parseConfig(withOptions({})).transports[0]!;
  assert.equal(plain.type, "web");
  const defaults = plain.bridges.get("pub")!;
  assert.deepEqual([defaults.allowed_origins, defaults.allow_null_origin], [null, false]);
});
