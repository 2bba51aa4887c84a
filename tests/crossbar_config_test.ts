/**
 * Crossbar config keys (issue 11, "Configs: what to accept, implement, or refuse"): the keys
 * accepted with exactly one warning naming their JSON path, the refused features (each a
 * `RefusedFeatureError` naming its path), and the router logging the warnings when it starts
 * and when it reloads.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError, type ConfigWarning, parseConfig, Router } from "../mod.ts";
import { RefusedFeatureError } from "../src/config/kit.ts";
import type { Logger } from "../src/log.ts";
import { RawClient, startRouter } from "./_helpers.ts";

type Json = Record<string, unknown>;

const REALM = { name: "realm1", roles: [] };

/** A node config of `workers`, the first a router with realm1 unless given. */
function nodeOf(workers: Json[], extra: Json = {}): Json {
  return { version: 2, workers, ...extra };
}

function router(extra: Json = {}): Json {
  return { type: "router", realms: [REALM], transports: [], ...extra };
}

/** The warnings of `input`, as `path` → message. */
function warnings(input: unknown): Map<string, string> {
  const list: readonly ConfigWarning[] = parseConfig(input, { env: () => undefined }).warnings ??
    [];
  const out = new Map(list.map((w) => [w.path, w.message]));
  assert.equal(out.size, list.length, `one warning per path: ${JSON.stringify(list)}`);
  return out;
}

function assertError(input: unknown, path: string, pattern: RegExp): ConfigError {
  let caught: unknown;
  try {
    parseConfig(input, { env: () => undefined });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.path, path, caught.message);
  assert.match(caught.reason, pattern);
  return caught;
}

// ---------------------------------------------------------------------------------------------
// The node shell

Deno.test("node: $schema, controller and router worker options warn once each", () => {
  const w = warnings(nodeOf([
    router({
      options: { title: "r", pythonpath: [".."], cpu_affinity: [0], env: { inherit: true } },
      components: [{ type: "class", classname: "app.Backend", realm: "realm1" }],
      connections: [{ id: "db", type: "postgres" }],
    }),
  ], { $schema: "x", controller: { id: "node1", fabric: { transport: {} } } }));
  assert.deepEqual([...w.keys()], [
    "$schema",
    "controller",
    "workers[0].options",
    "workers[0].components",
    "workers[0].connections",
  ]);
  assert.match(w.get("workers[0].options")!, /title, pythonpath, cpu_affinity, env/);
  assert.match(w.get("workers[0].components")!, /run each as a separate process or client/);
});

Deno.test("node: container, guest, proxy and websocket-testee workers warn once each", () => {
  const w = warnings(nodeOf([
    { type: "guest", executable: "node", arguments: ["backend.js"], options: { workdir: ".." } },
    router(),
    { type: "container", components: [{ type: "class", classname: "x.Y" }] },
    { type: "proxy", routes: {}, connections: {}, transport: { type: "web" } },
    { type: "websocket-testee", transport: { type: "websocket", endpoint: {} } },
  ]));
  assert.deepEqual([...w.keys()], ["workers[0]", "workers[2]", "workers[3]", "workers[4]"]);
  for (const [path, type] of [["workers[0]", "guest"], ["workers[3]", "proxy"]] as const) {
    assert.equal(
      w.get(path),
      `not hosted by Switchboard: a "${type}" worker is a process of its own in Crossbar; ` +
        "run it as a separate process or client",
    );
  }
  // the router worker is still the one served
  assert.deepEqual(parseConfig(nodeOf([{ type: "guest" }, router()])).realms.map((r) => r.name), [
    "realm1",
  ]);
});

Deno.test("node: only unhosted workers give a router with nothing to serve", () => {
  const config = parseConfig(nodeOf([{ type: "websocket-testee" }, { type: "guest" }]));
  assert.deepEqual([config.realms, config.transports], [[], []]);
  assert.equal(config.warnings?.length, 2);
});

Deno.test("node: a copy of the router worker (Crossbar's multi-core scaling) warns once", () => {
  const transport = {
    type: "web",
    endpoint: { type: "tcp", port: 8080, shared: true },
    paths: { ws: { type: "websocket" } },
  };
  const copy = (cpu: number, id: string) =>
    router({ id, options: { cpu_affinity: [cpu] }, transports: [transport] });
  const w = warnings(nodeOf([copy(0, "w0"), copy(1, "w1"), copy(2, "w2")]));
  assert.match(w.get("workers[1]")!, /^a copy of workers\[0\] .* serves workers\[0\] once/);
  assert.ok(w.has("workers[2]"));
  assert.ok(!w.has("workers[1].options"), "a copy gets one warning, not one per key");
  // a key order of its own is still a copy
  const reordered = { paths: transport.paths, endpoint: transport.endpoint, type: "web" };
  assert.ok(
    warnings(nodeOf([copy(0, "a"), router({ transports: [reordered] })])).has("workers[1]"),
  );
});

Deno.test("node: a second router worker that is not a copy is an error naming it", () => {
  assertError(
    nodeOf([router(), router({ realms: [{ name: "realm2", roles: [] }] })]),
    "workers[1]",
    /a second router worker is not supported: Crossbar runs each router worker as a process of its own/,
  );
  assertError(nodeOf([]), "workers", /must contain a worker of type "router", got none/);
  assertError(nodeOf([{ type: "xbrmm" }]), "workers[0].type", /not implemented/);
});

// ---------------------------------------------------------------------------------------------
// The router logs the warnings

/** A logger that keeps its warn lines. */
function recorder(): Logger & { warned: string[] } {
  const warned: string[] = [];
  return {
    warned,
    error() {},
    warn: (m) => warned.push(m),
    info() {},
    debug() {},
  };
}

Deno.test("router: warnings are logged at start and again at each reload", async () => {
  const logger = recorder();
  const first = parseConfig(nodeOf([router()], { $schema: "x" }));
  const r = new Router(first, { logger });
  try {
    await r.ready;
    assert.deepEqual(logger.warned, [`config: $schema: ${first.warnings![0]!.message}`]);
    const next = parseConfig(nodeOf([router({ options: {} }), { type: "guest" }]));
    await r.reload(next);
    assert.deepEqual(logger.warned.slice(1), [
      `config: workers[0].options: ${next.warnings![0]!.message}`,
      `config: workers[1]: ${next.warnings![1]!.message}`,
    ]);
  } finally {
    await r.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Transports

const TCP = { type: "tcp", port: 8080 };

function withTransports(...transports: Json[]): Json {
  return nodeOf([router({ transports })]);
}

Deno.test("transports: endpoint backlog and shared, debug warn once each", () => {
  const ws = { type: "websocket", debug: true, options: { max_message_size: 1048576 } };
  const w = warnings(withTransports(
    { type: "web", endpoint: { ...TCP, backlog: 1024, shared: true }, paths: { ws } },
    {
      type: "rawsocket",
      endpoint: { type: "unix", path: "/tmp/x.sock", backlog: 10 },
      debug: false,
    },
    { type: "websocket", endpoint: { type: "tcp", port: 8081 }, debug: false },
    {
      type: "universal",
      endpoint: { type: "tcp", port: 8082, backlog: 5 },
      rawsocket: { debug: true },
    },
  ));
  const T = "workers[0].transports";
  assert.deepEqual(
    [...w.keys()].sort(),
    [
      `${T}[0].endpoint.backlog`,
      `${T}[0].endpoint.shared`,
      `${T}[0].paths.ws.debug`,
      `${T}[1].debug`,
      `${T}[1].endpoint.backlog`,
      `${T}[2].debug`,
      `${T}[3].endpoint.backlog`,
      `${T}[3].rawsocket.debug`,
    ].sort(),
  );
  assert.equal(w.get(`${T}[0].endpoint.backlog`), "ignored: Deno chooses the listen backlog");
  assert.match(w.get(`${T}[1].debug`)!, /--log-level debug/);
});

// ---------------------------------------------------------------------------------------------
// Refused features

function assertRefused(input: unknown, path: string, feature: string): void {
  const e = assertError(input, path, /./);
  assert.ok(e instanceof RefusedFeatureError, `${e.message} is not a refusal`);
  assert.equal(e.feature, feature);
  assert.equal(e.name, "ConfigError");
}

Deno.test("refused: Python function authenticators, on every method", () => {
  for (const method of ["anonymous", "ticket", "wampcra", "cryptosign", "scram"]) {
    const auth = {
      [method]: { type: "function", create: "auth.create_authenticator", config: {} },
    };
    assertRefused(
      withTransports({ type: "websocket", endpoint: TCP, auth }),
      `workers[0].transports[0].auth.${method}.type`,
      "function authenticator",
    );
  }
});

Deno.test("refused: cfxdb stores, router links, mqtt, wsgi", () => {
  const realm = (extra: Json) => nodeOf([router({ realms: [{ ...REALM, ...extra }] })]);
  assertRefused(
    realm({ store: { type: "cfxdb", path: "../.db", maxsize: 1024, "event-history": [] } }),
    "workers[0].realms[0].store.type",
    "cfxdb store",
  );
  assertRefused(
    realm({ rlinks: [{ id: "to-node2", realm: "realm1", transport: {} }] }),
    "workers[0].realms[0].rlinks",
    "router links",
  );
  assertRefused(
    withTransports({ type: "mqtt", endpoint: TCP, options: { realm: "realm1" } }),
    "workers[0].transports[0].type",
    "mqtt transport",
  );
  assertRefused(
    withTransports({ type: "universal", endpoint: TCP, mqtt: { options: {} }, rawsocket: {} }),
    "workers[0].transports[0].mqtt",
    "mqtt transport",
  );
  assertRefused(
    withTransports({
      type: "web",
      endpoint: TCP,
      paths: { ws: { type: "websocket" }, app: { type: "wsgi", module: "app", object: "app" } },
    }),
    "workers[0].transports[0].paths.app.type",
    "wsgi web path",
  );
});

Deno.test("refused: template placeholders in any string, before anything else", () => {
  // the realm name would be invalid too: the placeholder is what the error names
  assertRefused(
    nodeOf([router({ realms: [{ name: "{{ realm }}", roles: [] }] })]),
    "workers[0].realms[0].name",
    "template placeholder",
  );
  assertRefused(
    withTransports({
      type: "websocket",
      endpoint: { type: "tcp", port: 8080, tls: {} },
      x: ["{{port}}"],
    }),
    "workers[0].transports[0].x[0]",
    "template placeholder",
  );
  assertRefused({ "{{ key }}": 1 }, '["{{ key }}"]', "template placeholder");
  // braces that are no placeholder are plain text
  assert.ok(parseConfig(nodeOf([router({ id: "{ not {a} template }" })])));
});

// ---------------------------------------------------------------------------------------------
// Implemented: allow-by-default, the version-1 permission form, store limit

function roles(...list: Json[]): Json {
  return nodeOf([router({ realms: [{ name: "realm1", roles: list }] })]);
}

const ROLE = "workers[0].realms[0].roles[0]";

Deno.test("allow-by-default: a role with neither permissions nor authorizer, as Crossbar", () => {
  const all = parseConfig(roles({ name: "open", "allow-by-default": true }));
  assert.deepEqual(all.realms[0]!.roles[0]!.permissions, [{
    uri: "",
    match: "prefix",
    allow: { call: true, register: true, publish: true, subscribe: true },
    disclose: { caller: false, publisher: false },
    cache: false,
  }]);
  assert.deepEqual(all.warnings, []);
  const none = parseConfig(roles({ name: "closed", "allow-by-default": false }));
  assert.deepEqual(none.realms[0]!.roles[0]!.permissions, []);
  assertError(
    roles({ name: "x", "allow-by-default": "yes" }),
    `${ROLE}["allow-by-default"]`,
    /boolean/,
  );
});

Deno.test("allow-by-default: beside permissions or an authorizer it is ignored, with a warning", () => {
  // Crossbar reads allow-by-default only for a role without permissions and authorizer
  const rule = { uri: "com.app.", match: "prefix", allow: { call: true } };
  const input = roles(
    { name: "user", "allow-by-default": true, permissions: [rule] },
    { name: "empty", "allow-by-default": true, permissions: [] },
    { name: "dyn", "allow-by-default": true, authorizer: "com.app.authorize" },
  );
  const [user, empty, dyn] = parseConfig(input).realms[0]!.roles;
  assert.deepEqual(user!.permissions.map((p) => p.uri), ["com.app."]);
  assert.deepEqual(empty!.permissions, []);
  assert.deepEqual(dyn!.permissions, []);
  const w = [...warnings(input)];
  assert.deepEqual(w.map(([path]) => path), [
    `${ROLE}["allow-by-default"]`,
    'workers[0].realms[0].roles[1]["allow-by-default"]',
    'workers[0].realms[0].roles[2]["allow-by-default"]',
  ]);
  assert.match(w[0]![1], /ignored, as Crossbar ignores it: a role with permissions is decided/);
  assert.match(w[2]![1], /a role with an authorizer is decided by it alone/);
});

Deno.test("permissions: Crossbar's version-1 form (actions on the permission)", () => {
  const config = parseConfig(roles({
    name: "user",
    permissions: [
      { uri: "*", publish: true, subscribe: true, call: true, register: true },
      { uri: "com.example.*", call: true },
      { uri: "com.*.admin", match: "wildcard", publish: false },
    ],
  }));
  const p = config.realms[0]!.roles[0]!.permissions;
  assert.deepEqual(p.map((x) => [x.uri, x.match, x.allow]), [
    ["", "prefix", { call: true, register: true, publish: true, subscribe: true }],
    ["com.example.", "prefix", { call: true, register: false, publish: false, subscribe: false }],
    ["com.*.admin", "wildcard", { call: false, register: false, publish: false, subscribe: false }],
  ]);
  const P = `${ROLE}.permissions[0]`;
  assertError(roles({ name: "u", permissions: [{ uri: "a", call: 1 }] }), `${P}.call`, /boolean/);
  assertError(
    roles({ name: "u", permissions: [{ uri: "a", allow: { call: true }, publish: true }] }),
    `${P}.publish`,
    /mixes the version-1 form .* with "allow"/,
  );
});

Deno.test("store: limit is the limit of every event-history entry without its own", () => {
  const store = (s: Json) => nodeOf([router({ realms: [{ ...REALM, store: s }] })]);
  const config = parseConfig(store({
    type: "memory",
    limit: 7,
    "event-history": [{ uri: "com.a" }, { uri: "com.b", limit: 1000 }],
  }));
  assert.deepEqual(config.realms[0]!.history.map((h) => [h.uri, h.limit]), [["com.a", 7], [
    "com.b",
    1000,
  ]]);
  // without it, Crossbar's default
  const plain = parseConfig(store({ type: "memory", "event-history": [{ uri: "com.a" }] }));
  assert.equal(plain.realms[0]!.history[0]!.limit, 100);
  for (const limit of [0, -1, 1.5, "10", 1_000_001]) {
    assertError(store({ type: "memory", limit }), "workers[0].realms[0].store.limit", /./);
  }
});

Deno.test("web paths: longpoll, archive and the like are not served, one warning each", () => {
  const P = "workers[0].transports[0].paths";
  const w = warnings(withTransports({
    type: "web",
    endpoint: TCP,
    paths: {
      ws: { type: "websocket" },
      lp: { type: "longpoll", options: { debug: true, session_timeout: 30 } },
      autobahn: { type: "archive", archive: "autobahn.zip", origin: "https://x", cache: true },
      upload: { type: "upload", directory: "uploads", temp_directory: "tmp" },
      hook: { type: "webhook", realm: "realm1", role: "anonymous", options: { topic: "t" } },
      proxy1: { type: "websocket-reverseproxy", backend: {} },
      call: { type: "caller", realm: "realm1", role: "anonymous", options: { debug: true } },
    },
  }));
  assert.deepEqual([...w.keys()], [
    `${P}.lp`,
    `${P}.autobahn`,
    `${P}.upload`,
    `${P}.hook`,
    `${P}.proxy1`,
    `${P}.call.options.debug`,
  ]);
  assert.match(w.get(`${P}.lp`)!, /^not served \(HTTP 404\): WAMP over HTTP long-poll/);
  assertRefused(
    withTransports({
      type: "web",
      endpoint: TCP,
      paths: { r: { type: "resource", classname: "app.Resource" } },
    }),
    `${P}.r.type`,
    "python web resource",
  );
});

Deno.test("auth: Crossbar's proxy methods are not offered, one warning each", () => {
  const A = "workers[0].transports[0].auth";
  const input = withTransports({
    type: "rawsocket",
    endpoint: { type: "unix", path: "router.sock" },
    auth: {
      "anonymous-proxy": { type: "static" },
      "cryptosign-proxy": { type: "static" },
      ticket: { type: "static", principals: { u: { ticket: "t", role: "user" } } },
    },
  });
  assert.deepEqual([...warnings(input).keys()], [
    `${A}["anonymous-proxy"]`,
    `${A}["cryptosign-proxy"]`,
  ]);
  const t = parseConfig(input).transports[0]!;
  assert.ok(t.type === "rawsocket");
  assert.deepEqual([t.rawsocket.auth.anonymous, t.rawsocket.auth.ticket?.size], [null, 1]);
});

Deno.test("web paths: a path that is not served answers HTTP 404, the others work", async () => {
  await using r = await startRouter(withTransports({
    type: "web",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
    paths: { ws: { type: "websocket" }, lp: { type: "longpoll" } },
  }));
  const base = `http://127.0.0.1:${r.port}`;
  for (const path of ["/lp", "/lp/open"]) {
    const res = await fetch(`${base}${path}`, { method: "POST", body: "{}" });
    await res.body?.cancel();
    assert.equal(res.status, 404, path);
  }
  const { client } = await RawClient.join(`ws://127.0.0.1:${r.port}/ws`, "json");
  await client[Symbol.asyncDispose]();
});
