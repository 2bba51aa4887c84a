/**
 * Crossbar's web services on `web` and `universal` transports, served by a real router over
 * real sockets: `static` (index file, content types, GET/HEAD, ETag/Last-Modified and 304,
 * caching headers, directory listing, default file, streaming a big file), `redirect`, `json`,
 * `nodeinfo`; and the hostile side: traversal attempts written byte for byte (`..`, `%2e%2e`,
 * `%2f`, backslashes, NUL, hidden files, symbolic links out of the directory), huge paths,
 * a FIFO, concurrent requests, a missing directory (an error when serving, a problem reported
 * by `checkServedFiles` without serving), and the config errors of each service.
 */

import assert from "node:assert/strict";
import {
  checkServedFiles,
  ConfigError,
  createRouter,
  loadConfigFile,
  parseConfig,
  Router,
  systemClock,
} from "../mod.ts";
import { ALLOW_ALL, RawClient, startRouter } from "./_helpers.ts";
import { rawRequest } from "./_raw_http.ts";

type D = Record<string, unknown>;

const BASE = await Deno.makeTempDir({ prefix: "switchboard-web-" });
const ROOT = `${BASE}/site`;
const SECRET = "TOP-SECRET-OUTSIDE-THE-DIRECTORY";
await Deno.mkdir(`${ROOT}/sub/deeper`, { recursive: true });
await Deno.mkdir(`${ROOT}/listed/inner`, { recursive: true });
await Deno.mkdir(`${ROOT}/.crossbar`, { recursive: true });
await Deno.mkdir(`${ROOT}/.well-known`, { recursive: true });
await Deno.writeTextFile(`${BASE}/secret.txt`, SECRET);
await Deno.writeTextFile(`${ROOT}/index.html`, "<h1>home</h1>");
await Deno.writeTextFile(`${ROOT}/style.css`, "body{}");
await Deno.writeTextFile(`${ROOT}/app.js`, "1;");
await Deno.writeTextFile(`${ROOT}/data.xyz`, "xyz");
await Deno.writeTextFile(`${ROOT}/noext`, "plain");
await Deno.writeTextFile(`${ROOT}/hé llo.txt`, "unicode name");
await Deno.writeTextFile(`${ROOT}/sub/deeper/leaf.txt`, "leaf");
await Deno.writeTextFile(`${ROOT}/listed/a<b>.txt`, "a");
await Deno.writeTextFile(`${ROOT}/listed/.hidden`, "hidden");
await Deno.writeTextFile(`${ROOT}/.crossbar/config.json`, `{"secret": "${SECRET}"}`);
await Deno.writeTextFile(`${ROOT}/.env`, SECRET);
await Deno.writeTextFile(`${ROOT}/.well-known/security.txt`, "Contact: x");
await Deno.symlink(`${BASE}/secret.txt`, `${ROOT}/link-out`);
await Deno.symlink(BASE, `${ROOT}/dir-out`);
await Deno.symlink(`${ROOT}/style.css`, `${ROOT}/link-in`);
await Deno.symlink(`${ROOT}/.env`, `${ROOT}/link-hidden`);
/** 64 MiB, sparse: streamed, never read whole. */
const BIG_SIZE = 64 * 1024 * 1024;
{
  const f = await Deno.open(`${ROOT}/big.bin`, { create: true, write: true });
  await f.truncate(BIG_SIZE);
  f.close();
}
const FIFO = await new Deno.Command("mkfifo", { args: [`${ROOT}/fifo`] }).output();
assert.ok(FIFO.success, "mkfifo");

function node(transport: D): D {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [transport],
    }],
  };
}

function web(paths: D, extra: D = {}): D {
  return node({
    type: "web",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
    paths,
    ...extra,
  });
}

const SITE = web({
  "/": {
    type: "static",
    directory: ROOT,
    options: { mime_types: { ".xyz": "application/x-test" } },
  },
  ws: { type: "websocket" },
  listed: {
    type: "static",
    directory: `${ROOT}/listed`,
    options: { enable_directory_listing: true, cache_timeout: null },
  },
  spa: { type: "static", directory: `${ROOT}/sub`, options: { default_file: "deeper/leaf.txt" } },
  go: { type: "redirect", url: "https://example.com/elsewhere" },
  moved: { type: "redirect", url: "/new", status: 301 },
  config: { type: "json", value: { a: [1, 2], "é": "ü" } },
  pretty: {
    type: "json",
    value: { a: 1 },
    options: { prettify: true, allow_cross_origin: false, discourage_caching: true },
  },
  info: { type: "nodeinfo" },
});

Deno.test("static: index, content types, caching headers, HEAD", async () => {
  await using r = await startRouter(SITE);
  const base = `http://127.0.0.1:${r.port}`;
  const home = await fetch(`${base}/`);
  assert.equal(home.status, 200);
  assert.equal(await home.text(), "<h1>home</h1>");
  assert.equal(home.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(home.headers.get("cache-control"), "max-age=43200, public");
  assert.ok(home.headers.get("expires"));
  assert.match(home.headers.get("etag")!, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
  assert.ok(home.headers.get("last-modified"));
  assert.equal(home.headers.get("access-control-allow-origin"), "*");
  assert.equal(home.headers.get("x-content-type-options"), "nosniff");
  const index = await fetch(`${base}/index.html`);
  assert.equal(await index.text(), "<h1>home</h1>");
  for (
    const [path, type] of [
      ["/style.css", "text/css; charset=utf-8"],
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/data.xyz", "application/x-test"],
      ["/noext", "application/octet-stream"],
      ["/link-in", "application/octet-stream"], // by the name asked for,
      ["/.well-known/security.txt", "text/plain; charset=utf-8"],
    ]
  ) {
    const res = await fetch(base + path);
    await res.body?.cancel();
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
  }
  const unicode = await fetch(`${base}/h%C3%A9%20llo.txt`);
  assert.equal(await unicode.text(), "unicode name");
  // HEAD: the headers of GET, no body
  const head = await fetch(`${base}/style.css`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "6");
  assert.equal(await head.text(), "");
  // a directory without its slash is redirected to it; with it and no index: 404 (no listing)
  const noSlash = await fetch(`${base}/sub?x=1`, { redirect: "manual" });
  await noSlash.body?.cancel();
  assert.equal(noSlash.status, 302);
  assert.equal(noSlash.headers.get("location"), "/sub/?x=1");
  const dir = await fetch(`${base}/sub/`);
  await dir.body?.cancel();
  assert.equal(dir.status, 404);
  const leaf = await fetch(`${base}/sub/deeper/leaf.txt`);
  assert.equal(await leaf.text(), "leaf");
  // other methods
  const post = await fetch(`${base}/index.html`, { method: "POST", body: "x" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  // the WebSocket path beside the root static service still works
  const { client, session } = await RawClient.join(`ws://127.0.0.1:${r.port}/ws`);
  await using _client = client;
  assert.ok(session > 0);
});

Deno.test("static: ETag and Last-Modified answer 304", async () => {
  await using r = await startRouter(SITE);
  const url = `http://127.0.0.1:${r.port}/style.css`;
  const first = await fetch(url);
  await first.body?.cancel();
  const etag = first.headers.get("etag")!;
  const modified = first.headers.get("last-modified")!;
  const byTag = await fetch(url, { headers: { "if-none-match": etag } });
  assert.equal(byTag.status, 304);
  assert.equal(await byTag.text(), "");
  assert.equal(byTag.headers.get("etag"), etag);
  const byList = await fetch(url, { headers: { "if-none-match": `"other", ${etag}` } });
  await byList.body?.cancel();
  assert.equal(byList.status, 304);
  const strongForm = await fetch(url, { headers: { "if-none-match": etag.slice(2) } });
  await strongForm.body?.cancel();
  assert.equal(strongForm.status, 304, "weak comparison");
  const otherTag = await fetch(url, { headers: { "if-none-match": '"nope"' } });
  assert.equal(otherTag.status, 200);
  assert.equal(await otherTag.text(), "body{}");
  const byDate = await fetch(url, { headers: { "if-modified-since": modified } });
  await byDate.body?.cancel();
  assert.equal(byDate.status, 304);
  const older = await fetch(url, {
    headers: { "if-modified-since": new Date(Date.parse(modified) - 60_000).toUTCString() },
  });
  assert.equal(older.status, 200);
  await older.body?.cancel();
  // If-None-Match wins over If-Modified-Since
  const both = await fetch(url, {
    headers: { "if-none-match": '"nope"', "if-modified-since": modified },
  });
  assert.equal(both.status, 200);
  await both.body?.cancel();
  const garbage = await fetch(url, { headers: { "if-modified-since": "yesterday-ish" } });
  assert.equal(garbage.status, 200);
  await garbage.body?.cancel();
});

Deno.test("static: a big file streams; HEAD on it reads nothing; concurrent requests", async () => {
  await using r = await startRouter(SITE);
  const url = `http://127.0.0.1:${r.port}/big.bin`;
  const heads = await Promise.all(
    Array.from({ length: 40 }, () => fetch(url, { method: "HEAD" })),
  );
  for (const h of heads) {
    assert.equal(h.status, 200);
    assert.equal(h.headers.get("content-length"), String(BIG_SIZE));
    assert.equal(await h.text(), "");
  }
  const before = Deno.memoryUsage().rss;
  const gets = await Promise.all(Array.from({ length: 3 }, async () => {
    const res = await fetch(url);
    let n = 0;
    for await (const chunk of res.body!) n += chunk.byteLength;
    return n;
  }));
  assert.deepEqual(gets, [BIG_SIZE, BIG_SIZE, BIG_SIZE]);
  // three 64 MiB files held whole would add 192 MiB; streamed, far less stays resident
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 150 * 1024 * 1024, `rss grew by ${grown} bytes`);
  // a client that goes away mid-file: the file is closed (the resource sanitizer checks)
  const cut = await fetch(url);
  const reader = cut.body!.getReader();
  await reader.read();
  await reader.cancel();
  const small = await Promise.all(
    Array.from(
      { length: 60 },
      (_, i) => fetch(`http://127.0.0.1:${r.port}/${i % 2 ? "style.css" : ""}`),
    ),
  );
  for (const [i, res] of small.entries()) {
    assert.equal(await res.text(), i % 2 ? "body{}" : "<h1>home</h1>");
  }
});

Deno.test("static: nothing outside the directory is served (requests written byte for byte)", async () => {
  await using r = await startRouter(SITE);
  const attempts: [string, number[]][] = [
    ["/../secret.txt", [404]],
    ["/../../../../etc/passwd", [404]],
    ["/%2e%2e/secret.txt", [404]],
    ["/%2E%2E/%2e%2e/secret.txt", [404]],
    ["/..%2fsecret.txt", [400]],
    ["/%2e%2e%2fsecret.txt", [400]],
    ["/sub/..%2f..%2fsecret.txt", [400]],
    ["/..%5csecret.txt", [400]],
    ["/sub/..%5c..%5csecret.txt", [400]],
    ["/..\\secret.txt", [404]],
    ["/sub\\..\\..\\secret.txt", [404]],
    ["/%00", [400]],
    ["/index.html%00.txt", [400]],
    ["/%c0%ae%c0%ae/secret.txt", [400]],
    ["/%zz", [400]],
    ["/.env", [404]],
    ["/.crossbar/config.json", [404]],
    ["/%2ecrossbar/config.json", [404]],
    ["/link-out", [404]],
    ["/dir-out/secret.txt", [404]],
    ["/link-hidden", [404]],
    ["/listed/.hidden", [404]],
    ["/sub//deeper/leaf.txt", [404]],
    ["//etc/passwd", [404]],
    [`/${"a".repeat(300)}`, [404]],
    [`/${"a/".repeat(2500)}x`, [404]],
    ["/fifo", [404]],
  ];
  for (const [target, statuses] of attempts) {
    const res = await rawRequest(r.port, target);
    assert.ok(statuses.includes(res.status), `${target}: ${res.status} ${res.text.slice(0, 80)}`);
    assert.ok(!res.text.includes(SECRET), `${target} leaked the secret`);
  }
  // a request line beyond the header limit: refused by the HTTP parser, the server goes on
  const huge = await rawRequest(r.port, `/${"a".repeat(40_000)}`);
  assert.equal(huge.status, 431);
  const absolute = await rawRequest(r.port, `http://127.0.0.1:${r.port}/../secret.txt`);
  assert.equal(absolute.status, 404);
  const fine = await rawRequest(r.port, "/link-in");
  assert.equal(fine.status, 200);
  assert.equal(fine.text, "body{}");
});

Deno.test("static: directory listing (escaped, no hidden files) and the default file", async () => {
  await using r = await startRouter(SITE);
  const base = `http://127.0.0.1:${r.port}`;
  const listing = await fetch(`${base}/listed/`);
  assert.equal(listing.status, 200);
  assert.equal(listing.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(listing.headers.get("cache-control"), "no-cache");
  const html = await listing.text();
  assert.ok(html.includes('href="a%3Cb%3E.txt"'), html);
  assert.ok(html.includes("a&#60;b&#62;.txt"), html);
  assert.ok(html.includes('href="inner/"'), html);
  assert.ok(!html.includes("hidden"), html);
  assert.ok(!html.includes("<b>"), html);
  const file = await fetch(`${base}/listed/a%3Cb%3E.txt`);
  assert.equal(file.headers.get("cache-control"), null, "cache_timeout: null");
  assert.equal(await file.text(), "a");
  const mount = await fetch(`${base}/listed`, { redirect: "manual" });
  await mount.body?.cancel();
  assert.equal(mount.headers.get("location"), "/listed/");
  // default_file: every path naming nothing gets it (single-page applications)
  for (const path of ["/spa/some/client/route", "/spa/", "/spa/.hidden"]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), "leaf", path);
  }
  const real = await fetch(`${base}/spa/deeper/leaf.txt`);
  assert.equal(await real.text(), "leaf");
  const bad = await fetch(`${base}/spa/%2e%2e%2fx`);
  await bad.body?.cancel();
  assert.equal(bad.status, 400, "a refused path is not answered with the default file");
});

Deno.test("redirect, json and nodeinfo services", async () => {
  await using r = await startRouter(SITE);
  const base = `http://127.0.0.1:${r.port}`;
  for (const path of ["/go", "/go/", "/go/deeper/x?y=1"]) {
    const res = await fetch(base + path, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 302, path);
    assert.equal(res.headers.get("location"), "https://example.com/elsewhere", path);
  }
  const moved = await fetch(`${base}/moved`, { redirect: "manual" });
  await moved.body?.cancel();
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.get("location"), "/new");
  const postRedirect = await fetch(`${base}/go`, { method: "POST", redirect: "manual" });
  await postRedirect.body?.cancel();
  assert.equal(postRedirect.status, 405);

  const json = await fetch(`${base}/config`, { headers: { origin: "https://app.example.com" } });
  assert.equal(json.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(json.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.equal(json.headers.get("access-control-allow-credentials"), "true");
  assert.equal(await json.text(), '{"a":[1,2],"é":"ü"}');
  const slash = await fetch(`${base}/config/`);
  assert.deepEqual(await slash.json(), { a: [1, 2], "é": "ü" });
  const below = await fetch(`${base}/config/x`);
  await below.body?.cancel();
  assert.equal(below.status, 404);
  const pretty = await fetch(`${base}/pretty`, { headers: { origin: "https://app.example.com" } });
  assert.equal(await pretty.text(), '{\n   "a": 1\n}');
  assert.equal(pretty.headers.get("access-control-allow-origin"), null);
  assert.equal(
    pretty.headers.get("cache-control"),
    "no-store, no-cache, must-revalidate, max-age=0",
  );
  const jsonHead = await fetch(`${base}/config`, { method: "HEAD" });
  assert.equal(jsonHead.status, 200);
  assert.equal(await jsonHead.text(), "");

  const info = await fetch(`${base}/info`);
  assert.equal(info.headers.get("content-type"), "text/html; charset=utf-8");
  const page = await info.text();
  assert.match(page, /Switchboard/);
  assert.match(page, /version \d+\.\d+\.\d+/);
  assert.match(page, /127\.0\.0\.1:\d+/);
});

Deno.test("static on a universal transport, beside RawSocket and WebSocket", async () => {
  await using r = await startRouter(node({
    type: "universal",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
    rawsocket: { serializers: ["json"] },
    websocket: { ws: { serializers: ["json"] } },
    web: { paths: { "/": { type: "static", directory: ROOT }, hello: { type: "json", value: 1 } } },
  }));
  const base = `http://127.0.0.1:${r.port}`;
  assert.equal(await (await fetch(`${base}/`)).text(), "<h1>home</h1>");
  assert.equal(await (await fetch(`${base}/hello`)).text(), "1");
  const traversal = await rawRequest(r.port, "/%2e%2e%2fsecret.txt");
  assert.equal(traversal.status, 400);
  const { client, session } = await RawClient.join(`ws://127.0.0.1:${r.port}/ws`);
  await using _client = client;
  assert.ok(session > 0);
});

Deno.test("static through Router.handler() (a router mounted in someone else's server)", async () => {
  const router = createRouter(SITE);
  try {
    const handler = router.handler();
    const res = await handler(new Request("http://x/style.css"));
    assert.equal(await res.text(), "body{}");
    const out = await handler(new Request("http://x/link-out"));
    await out.body?.cancel();
    assert.equal(out.status, 404);
  } finally {
    await router.close(100);
  }
});

Deno.test("a missing static directory: serve() fails naming the key; checkServedFiles reports it", async () => {
  const config = web({
    "/": { type: "static", directory: `${BASE}/does-not-exist` },
    file: { type: "static", directory: `${ROOT}/index.html` },
    spa: { type: "static", directory: ROOT, options: { default_file: "missing.html" } },
    ws: { type: "websocket" },
  });
  const router = createRouter(config);
  try {
    await assert.rejects(router.serve(), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.path, 'workers[0].transports[0].paths["/"].directory');
      assert.match(e.reason, /does-not-exist/);
      return true;
    });
  } finally {
    await router.close(100);
  }
  const problems = await checkServedFiles(parseConfig(config), systemClock);
  assert.deepEqual(problems.map((p) => p.path), [
    'workers[0].transports[0].paths["/"].directory',
    "workers[0].transports[0].paths.file.directory",
    "workers[0].transports[0].paths.spa.directory",
  ]);
  assert.match(problems[1]!.reason, /not a directory/);
  assert.match(problems[2]!.reason, /default file "missing.html"/);
  assert.deepEqual(await checkServedFiles(parseConfig(SITE), systemClock), []);
});

Deno.test("web service config errors name their path", () => {
  const paths = "workers[0].transports[0].paths";
  const cases: [D, string, RegExp][] = [
    [
      { s: { type: "static", package: "crossbar", resource: "web" } },
      `${paths}.s.package`,
      /Python/,
    ],
    [{ s: { type: "static" } }, `${paths}.s.directory`, /required/],
    [{ s: { type: "static", directory: "" } }, `${paths}.s.directory`, /non-empty/],
    [
      { s: { type: "static", directory: ROOT, options: { listing: true } } },
      `${paths}.s.options.listing`,
      /unknown key/,
    ],
    [
      {
        s: {
          type: "static",
          directory: ROOT,
          options: { mime_types: { wasm: "application/wasm" } },
        },
      },
      `${paths}.s.options.mime_types.wasm`,
      /extension with its dot/,
    ],
    [
      { s: { type: "static", directory: ROOT, options: { mime_types: { ".x": "a\r\nb: c" } } } },
      `${paths}.s.options.mime_types[".x"]`,
      /content type/,
    ],
    [
      { s: { type: "static", directory: ROOT, options: { cache_timeout: -1 } } },
      `${paths}.s.options.cache_timeout`,
      /seconds/,
    ],
    [
      { s: { type: "static", directory: ROOT, options: { default_file: "../x.html" } } },
      `${paths}.s.options.default_file`,
      /inside the directory/,
    ],
    [
      { s: { type: "static", directory: ROOT, options: { enable_directory_listing: "yes" } } },
      `${paths}.s.options.enable_directory_listing`,
      /boolean/,
    ],
    [{ r: { type: "redirect" } }, `${paths}.r.url`, /required/],
    [
      { r: { type: "redirect", url: "https://x/\r\nSet-Cookie: a=b" } },
      `${paths}.r.url`,
      /printable ASCII/,
    ],
    [{ r: { type: "redirect", url: "/x", status: 200 } }, `${paths}.r.status`, /301, 302/],
    [{ j: { type: "json" } }, `${paths}.j.value`, /required/],
    [
      { j: { type: "json", value: 1, options: { prettify: 1 } } },
      `${paths}.j.options.prettify`,
      /boolean/,
    ],
    [
      { j: { type: "json", value: 1, options: { sort_keys: true } } },
      `${paths}.j.options.sort_keys`,
      /unknown key/,
    ],
    [{ n: { type: "nodeinfo", extra: 1 } }, `${paths}.n.extra`, /unknown key/],
    [
      { metrics: { type: "json", value: 1 } },
      "workers[0].transports[0].metrics",
      /already a json path/,
    ],
  ];
  for (const [p, path, reason] of cases) {
    let caught: unknown;
    try {
      parseConfig(web(p));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigError, `${path}: ${String(caught)}`);
    assert.equal(caught.path, path);
    assert.match(caught.reason, reason);
  }
  // a universal transport's metrics and status paths may not shadow its web paths either
  let shadow: unknown;
  try {
    parseConfig(node({
      type: "universal",
      endpoint: { type: "tcp", port: 0 },
      web: { paths: { status: { type: "static", directory: ROOT } } },
    }));
  } catch (e) {
    shadow = e;
  }
  assert.ok(shadow instanceof ConfigError, String(shadow));
  assert.equal(shadow.path, "workers[0].transports[0].status");
  assert.match(shadow.reason, /already a static path/);
  // accepted: Crossbar's keys, null cache_timeout, ids
  const ok = parseConfig(web({
    "/": {
      type: "static",
      id: "s1",
      directory: "relative/dir",
      options: {
        enable_directory_listing: false,
        cache_timeout: null,
        mime_types: { ".WASM": "application/wasm" },
      },
    },
    n: { type: "nodeinfo", id: "n1" },
    metrics: { type: "json", value: null },
  }, { metrics: { path: "prom" } }));
  const t = ok.transports[0]!;
  assert.ok(t.type === "web");
  const root = t.services.get("")!;
  assert.ok(root.type === "static");
  assert.equal(root.directory, "relative/dir");
  assert.equal(root.cache_timeout, null);
  assert.equal(root.mime_types.get(".wasm"), "application/wasm");
  assert.equal(root.mime_types.get(".svg"), "image/svg+xml");
  assert.deepEqual(ok.warnings, []);
});

globalThis.addEventListener("unload", () => Deno.removeSync(BASE, { recursive: true }));

Deno.test("a relative static directory resolves against the config file's directory", async () => {
  const dir = await Deno.makeTempDir({ dir: BASE });
  await Deno.mkdir(`${dir}/.crossbar`);
  await Deno.mkdir(`${dir}/web`);
  await Deno.writeTextFile(`${dir}/web/index.html`, "relative home");
  await Deno.writeTextFile(
    `${dir}/.crossbar/config.json`,
    JSON.stringify(
      web({ "/": { type: "static", directory: "../web" }, ws: { type: "websocket" } }),
    ),
  );
  const config = await loadConfigFile(`${dir}/.crossbar/config.json`);
  const t = config.transports[0]!;
  assert.ok(t.type === "web");
  const root = t.services.get("")!;
  assert.ok(root.type === "static");
  assert.equal(root.directory, `${dir}/web`);
  const router = new Router(config);
  try {
    const [listener] = await router.serve();
    const res = await fetch(`http://127.0.0.1:${listener!.port}/`);
    assert.equal(await res.text(), "relative home");
  } finally {
    await router.close(100);
  }
});

Deno.test("static: a client that stops reading a big file is dropped after the idle deadline", async () => {
  await using r = await startRouter(web({
    "/": { type: "static", directory: ROOT },
    ws: { type: "websocket", options: { open_handshake_timeout: 300 } },
  }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  try {
    await conn.write(new TextEncoder().encode(`GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n`));
    // read nothing for a while: the router's writes stall, and it gives up on this client
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let total = 0;
    const buf = new Uint8Array(1024 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      total += n;
    }
    assert.ok(
      total < BIG_SIZE,
      `the whole file arrived (${total} bytes): the client was not dropped`,
    );
  } finally {
    conn.close();
  }
  // the router still serves others
  assert.equal(await (await fetch(`http://127.0.0.1:${r.port}/style.css`)).text(), "body{}");
});

Deno.test("static: a slow but steady reader gets the whole big file past the idle deadline", async () => {
  await using r = await startRouter(web({
    "/": { type: "static", directory: ROOT },
    ws: { type: "websocket", options: { open_handshake_timeout: 300 } },
  }));
  const res = await fetch(`http://127.0.0.1:${r.port}/big.bin`);
  let total = 0;
  let chunks = 0;
  for await (const chunk of res.body!) {
    total += chunk.byteLength;
    // pause now and then: the download takes several times the 300 ms deadline
    if (++chunks % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(total, BIG_SIZE);
});
