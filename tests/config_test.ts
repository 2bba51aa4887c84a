import assert from "node:assert/strict";
import example from "../config.example.json" with { type: "json" };
import { applyOverrides, ConfigError, loadConfigFile, parseConfig } from "../src/config/config.ts";
import type { RouterConfig, WebSocketEndpointConfig } from "../src/config/types.ts";

type Json = Record<string, unknown>;

/** A minimal valid realm, with fields replaced or added by `extra`. */
function realm(extra: Json = {}): Json {
  return { name: "realm1", roles: [], ...extra };
}

/** A node config with one router worker holding `realms` and `transports`. */
function node(realms: unknown[], transports: unknown[] = [], worker: Json = {}): Json {
  return { version: 2, workers: [{ type: "router", realms, transports, ...worker }] };
}

/** A node config whose only realm has the given `stats`. */
function withStats(stats: unknown): Json {
  return node([realm({ stats })]);
}

/** A node config whose only realm has one role with the given permissions. */
function withPermissions(permissions: unknown[]): Json {
  return node([realm({ roles: [{ name: "user", permissions }] })]);
}

/** A node config with one transport. */
function withTransport(transport: unknown): Json {
  return node([realm()], [transport]);
}

const TCP = { type: "tcp", port: 9000 };

/** Asserts that parsing `input` throws a ConfigError at `path` whose reason contains `reason`. */
function assertConfigError(input: unknown, path: string, reason: string): ConfigError {
  let caught: unknown;
  try {
    parseConfig(input);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.path, path);
  assert.ok(
    caught.reason.includes(reason),
    `reason ${JSON.stringify(caught.reason)} lacks ${JSON.stringify(reason)}`,
  );
  assert.equal(caught.message, `${path}: ${caught.reason}`);
  assert.equal(caught.name, "ConfigError");
  return caught;
}

function onlyRealm(config: RouterConfig) {
  assert.equal(config.realms.length, 1);
  return config.realms[0]!;
}

const NO_METHODS = { anonymous: null, ticket: null, wampcra: null, cryptosign: null };
const DEFAULT_LIMITS = { challenge_timeout: 10, max_failures: 5, failure_window: 60, max_delay: 8 };
/** Connection limits every endpoint has by default (issue 9: hardening). */
const DEFAULT_CONNECTION_LIMITS = {
  max_nesting: 64,
  open_handshake_timeout: 10_000,
  close_handshake_timeout: 5_000,
  ping_timeout: 30_000,
  trusted_proxies: [],
  // Crossbar's WebSocket options (issue 11): any origin, no frame limit, empty pings
  allowed_origins: ["*"],
  allow_null_origin: true,
  max_frame_size: 0,
  ping_size: 0,
  require_subprotocol: true,
};
const DEFAULT_SLOW_CONSUMER = {
  max_queue_bytes: 4 * 1024 * 1024,
  max_queue_messages: 100_000,
  policy: "drop" as const,
  timeout: 10_000,
};
const DEFAULT_ENDPOINT: WebSocketEndpointConfig = {
  serializers: ["json", "msgpack", "cbor"],
  auth: { ...NO_METHODS, anonymous: { role: "anonymous", authid: null } },
  auth_limits: DEFAULT_LIMITS,
  slow_consumer: DEFAULT_SLOW_CONSUMER,
  ping_interval: 30,
  max_message_size: 1024 * 1024,
  ...DEFAULT_CONNECTION_LIMITS,
};

// ---------------------------------------------------------------------------------------------
// Valid configs

Deno.test("config.example.json parses to the expected resolved config", () => {
  const config = parseConfig(example);
  assert.equal(config.realms.length, 1);
  assert.deepEqual(config.realms[0], {
    name: "realm1",
    roles: [{
      name: "anonymous",
      permissions: [{
        uri: "",
        match: "prefix",
        allow: { call: true, register: true, publish: true, subscribe: true },
        disclose: { caller: false, publisher: false },
        cache: true,
      }],
    }],
    options: { uri_check: "loose", enable_meta_api: true },
    stats: {
      rated_message_size: 256,
      trigger_after_rated_messages: 10,
      trigger_after_duration: 0,
      trigger_on_join: true,
      trigger_on_leave: true,
    },
    history: [],
  });
  assert.equal(config.transports.length, 1);
  const web = config.transports[0]!;
  assert.equal(web.type, "web");
  assert.deepEqual(web.endpoint, {
    host: "127.0.0.1",
    port: 8080,
    tls: null,
    max_connections: 10_000,
  });
  assert.equal(web.websocket, null);
  assert.deepEqual([...web.paths.keys()], ["ws"]);
  assert.deepEqual(web.paths.get("ws"), DEFAULT_ENDPOINT);
});

Deno.test("a websocket transport parses with defaults and explicit values", () => {
  const defaults = parseConfig(withTransport({ type: "websocket", id: "ws1", endpoint: TCP }));
  assert.deepEqual(defaults.transports[0], {
    type: "websocket",
    endpoint: { host: "0.0.0.0", port: 9000, tls: null, max_connections: 10_000 },
    websocket: DEFAULT_ENDPOINT,
    paths: new Map(),
  });

  const explicit = parseConfig(withTransport({
    type: "websocket",
    endpoint: { type: "tcp", port: 0, interface: "::1", version: 6 },
    serializers: ["cbor", "json"],
    auth: { anonymous: { type: "static", role: "guest", authid: "bob" } },
    options: { max_message_size: 65536 },
  }));
  assert.deepEqual(explicit.transports[0], {
    type: "websocket",
    endpoint: { host: "::1", port: 0, tls: null, max_connections: 10_000 },
    websocket: {
      serializers: ["cbor", "json"],
      auth: { ...NO_METHODS, anonymous: { role: "guest", authid: "bob" } },
      auth_limits: DEFAULT_LIMITS,
      slow_consumer: DEFAULT_SLOW_CONSUMER,
      ping_interval: 30,
      max_message_size: 65536,
      ...DEFAULT_CONNECTION_LIMITS,
    },
    paths: new Map(),
  });
});

Deno.test("endpoint without interface listens on all interfaces (IPv6 with version 6)", () => {
  const v6 = parseConfig(withTransport({
    type: "websocket",
    endpoint: { type: "tcp", port: 9000, version: 6 },
  }));
  assert.equal(v6.transports[0]!.endpoint.host, "::");
  const v4 = parseConfig(withTransport({
    type: "websocket",
    endpoint: { type: "tcp", port: 9000, version: 4 },
  }));
  assert.equal(v4.transports[0]!.endpoint.host, "0.0.0.0");
});

Deno.test("anonymous auth without role gets role anonymous", () => {
  const config = parseConfig(withTransport({
    type: "websocket",
    endpoint: TCP,
    auth: { anonymous: { type: "static" } },
  }));
  assert.deepEqual(config.transports[0]!.websocket?.auth, {
    ...NO_METHODS,
    anonymous: { role: "anonymous", authid: null },
  });
});

Deno.test("a web transport maps several websocket paths, root as the empty string", () => {
  const config = parseConfig(withTransport({
    type: "web",
    endpoint: TCP,
    paths: {
      "/": { type: "websocket" },
      "ws-json": { type: "websocket", serializers: ["json"], options: { max_message_size: 1024 } },
    },
  }));
  const web = config.transports[0]!;
  assert.equal(web.type, "web");
  const paths = web.paths;
  assert.deepEqual([...paths.keys()], ["", "ws-json"]);
  assert.deepEqual(paths.get(""), DEFAULT_ENDPOINT);
  assert.deepEqual(paths.get("ws-json"), {
    ...DEFAULT_ENDPOINT,
    serializers: ["json"],
    max_message_size: 1024,
  });
});

Deno.test("version may be absent; transports may be absent (embedding)", () => {
  const config = parseConfig({ workers: [{ type: "router", id: "r1", realms: [realm()] }] });
  assert.deepEqual(config.transports, []);
  assert.equal(onlyRealm(config).name, "realm1");
});

Deno.test("realm defaults: no roles, loose URIs, meta API on, no stats", () => {
  const config = parseConfig(node([{ name: "com.example-realm@x_1" }]));
  assert.deepEqual(onlyRealm(config), {
    name: "com.example-realm@x_1",
    roles: [],
    options: { uri_check: "loose", enable_meta_api: true },
    stats: null,
    history: [],
  });
});

Deno.test("realm options are read", () => {
  const config = parseConfig(
    node([realm({ options: { uri_check: "strict", enable_meta_api: false } })]),
  );
  assert.deepEqual(onlyRealm(config).options, { uri_check: "strict", enable_meta_api: false });
});

Deno.test("stats {} gets every default", () => {
  assert.deepEqual(onlyRealm(parseConfig(withStats({}))).stats, {
    rated_message_size: 512,
    trigger_after_rated_messages: 0,
    trigger_after_duration: 0,
    trigger_on_join: true,
    trigger_on_leave: true,
  });
});

Deno.test("absent stats resolve to null", () => {
  assert.equal(onlyRealm(parseConfig(node([realm()]))).stats, null);
});

Deno.test("stats accept the bounds 1 and 2^30 and explicit false triggers", () => {
  for (const size of [1, 2, 1024, 2 ** 30]) {
    const stats = onlyRealm(parseConfig(withStats({ rated_message_size: size }))).stats;
    assert.equal(stats?.rated_message_size, size);
  }
  const stats = onlyRealm(parseConfig(withStats({
    trigger_after_rated_messages: 5,
    trigger_after_duration: 60,
    trigger_on_join: false,
    trigger_on_leave: false,
  }))).stats;
  assert.deepEqual(stats, {
    rated_message_size: 512,
    trigger_after_rated_messages: 5,
    trigger_after_duration: 60,
    trigger_on_join: false,
    trigger_on_leave: false,
  });
});

Deno.test("permission defaults: allow and disclose false, cache false", () => {
  const config = parseConfig(withPermissions([{ uri: "com.example.proc", match: "exact" }]));
  assert.deepEqual(onlyRealm(config).roles[0]!.permissions[0], {
    uri: "com.example.proc",
    match: "exact",
    allow: { call: false, register: false, publish: false, subscribe: false },
    disclose: { caller: false, publisher: false },
    cache: false,
  });
});

Deno.test("starred permission URIs resolve to uri and match", async (t) => {
  const cases: [string, string, string][] = [
    ["com.example.topic", "com.example.topic", "exact"],
    ["com.example.*", "com.example.", "prefix"],
    ["*", "", "prefix"],
    ["com.*.foo", "com..foo", "wildcard"],
    ["com.*.*", "com..", "wildcard"],
    ["*.foo", ".foo", "wildcard"],
    ["com.example..foo", "com.example..foo", "exact"],
  ];
  for (const [starred, uri, match] of cases) {
    await t.step(starred, () => {
      const permission = onlyRealm(parseConfig(withPermissions([{ uri: starred }])))
        .roles[0]!.permissions[0]!;
      assert.equal(permission.uri, uri);
      assert.equal(permission.match, match);
    });
  }
});

Deno.test("an explicit match takes the URI literally", () => {
  const permission = onlyRealm(parseConfig(withPermissions([
    { uri: "com.example.*", match: "prefix", allow: { call: true } },
  ]))).roles[0]!.permissions[0]!;
  assert.equal(permission.uri, "com.example.*");
  assert.equal(permission.match, "prefix");
  assert.equal(permission.allow.call, true);
  assert.equal(permission.allow.publish, false);
});

// ---------------------------------------------------------------------------------------------
// Stats errors

const STATS = "workers[0].realms[0].stats";

Deno.test("stats: unknown key trigger_on_joins is named", () => {
  assertConfigError(
    withStats({ trigger_on_joins: true }),
    `${STATS}.trigger_on_joins`,
    "unknown key",
  );
});

Deno.test("stats: not an object", () => {
  assertConfigError(withStats(true), STATS, "must be an object, got boolean true");
  assertConfigError(withStats(null), STATS, "must be an object, got null");
  assertConfigError(withStats([]), STATS, "must be an object, got an array");
});

Deno.test("stats: rated_message_size not a power of two", () => {
  const error = assertConfigError(
    withStats({ rated_message_size: 300 }),
    `${STATS}.rated_message_size`,
    "must be a power of two between 1 and 1073741824, got 300",
  );
  assert.equal(
    error.message,
    `${STATS}.rated_message_size: must be a power of two between 1 and 1073741824, got 300`,
  );
});

Deno.test("stats: rated_message_size 0", () => {
  assertConfigError(
    withStats({ rated_message_size: 0 }),
    `${STATS}.rated_message_size`,
    "power of two between 1 and 1073741824, got 0",
  );
});

Deno.test("stats: rated_message_size negative", () => {
  assertConfigError(
    withStats({ rated_message_size: -512 }),
    `${STATS}.rated_message_size`,
    "got -512",
  );
});

Deno.test("stats: rated_message_size above 2^30", () => {
  assertConfigError(
    withStats({ rated_message_size: 2 ** 31 }),
    `${STATS}.rated_message_size`,
    "power of two between 1 and 1073741824, got 2147483648",
  );
});

Deno.test("stats: rated_message_size float", () => {
  assertConfigError(
    withStats({ rated_message_size: 512.5 }),
    `${STATS}.rated_message_size`,
    "must be an integer, got non-integer 512.5",
  );
});

Deno.test("stats: rated_message_size string", () => {
  assertConfigError(
    withStats({ rated_message_size: "512" }),
    `${STATS}.rated_message_size`,
    'must be an integer, got string "512"',
  );
});

Deno.test("stats: rated_message_size boolean is not an integer", () => {
  assertConfigError(
    withStats({ rated_message_size: true }),
    `${STATS}.rated_message_size`,
    "must be an integer, got boolean true",
  );
});

for (const key of ["trigger_after_rated_messages", "trigger_after_duration"]) {
  Deno.test(`stats: ${key} negative`, () => {
    assertConfigError(withStats({ [key]: -1 }), `${STATS}.${key}`, "must be an integer >= 0");
  });
  Deno.test(`stats: ${key} float`, () => {
    assertConfigError(withStats({ [key]: 1.5 }), `${STATS}.${key}`, "must be an integer, got");
  });
  Deno.test(`stats: ${key} string`, () => {
    assertConfigError(withStats({ [key]: "10" }), `${STATS}.${key}`, 'got string "10"');
  });
  Deno.test(`stats: ${key} boolean is not an integer`, () => {
    assertConfigError(withStats({ [key]: false }), `${STATS}.${key}`, "got boolean false");
  });
  Deno.test(`stats: ${key} null`, () => {
    assertConfigError(
      withStats({ [key]: null }),
      `${STATS}.${key}`,
      "must be an integer, got null",
    );
  });
}

for (const key of ["trigger_on_join", "trigger_on_leave"]) {
  Deno.test(`stats: ${key} integer is not a boolean`, () => {
    assertConfigError(withStats({ [key]: 1 }), `${STATS}.${key}`, "must be a boolean");
  });
  Deno.test(`stats: ${key} string is not a boolean`, () => {
    assertConfigError(withStats({ [key]: "true" }), `${STATS}.${key}`, 'got string "true"');
  });
}

Deno.test("stats: an unknown key is reported before a bad value", () => {
  assertConfigError(
    withStats({ rated_message_size: 300, trigger_on_joins: true }),
    `${STATS}.trigger_on_joins`,
    "unknown key",
  );
});

// ---------------------------------------------------------------------------------------------
// Top level and worker errors

Deno.test("root must be an object", () => {
  assertConfigError([], "(root)", "must be an object, got an array");
  assertConfigError("x", "(root)", "must be an object");
});

Deno.test("root: controller and $schema are accepted with a warning each", () => {
  const config = parseConfig({
    $schema: "https://example.com/crossbar.json",
    ...node([realm()]),
    controller: { id: "node1", options: { shutdown: ["shutdown_on_worker_exit"] } },
  });
  assert.deepEqual(config.warnings?.map((w) => w.path), ["$schema", "controller"]);
  assert.match(config.warnings![1]!.message, /no node controller/);
});

Deno.test("root: unknown key", () => {
  assertConfigError({ ...node([realm()]), "my key": 1 }, '["my key"]', "unknown key");
  assertConfigError({ ...node([realm()]), controllers: {} }, "controllers", "unknown key");
});

Deno.test("root: version must be 2", () => {
  assertConfigError({ ...node([realm()]), version: 1 }, "version", "must be 2");
  assertConfigError({ ...node([realm()]), version: "2" }, "version", 'got string "2"');
});

Deno.test("root: workers missing, empty, a second router worker", () => {
  assertConfigError({ version: 2 }, "workers", "is required");
  assertConfigError(
    { version: 2, workers: [] },
    "workers",
    'must contain a worker of type "router"',
  );
  const two = node([realm()]);
  (two.workers as unknown[]).push({ type: "router", realms: [] });
  assertConfigError(two, "workers[1]", "a second router worker is not supported");
});

Deno.test("worker: type other than router", () => {
  assertConfigError(
    { workers: [{ type: "xbrmm", realms: [] }] },
    "workers[0].type",
    'worker type "xbrmm" is not implemented',
  );
  assertConfigError(
    { workers: [{ type: "routr", realms: [] }] },
    "workers[0].type",
    'must be "router", "container", "guest", "proxy" or "websocket-testee", got string "routr"',
  );
});

Deno.test("worker: options, components and connections warn; unknown keys rejected", () => {
  const config = parseConfig(
    node([realm()], [], { options: { pythonpath: [".."] }, components: [], connections: [] }),
  );
  assert.deepEqual(config.warnings?.map((w) => w.path), [
    "workers[0].options",
    "workers[0].components",
    "workers[0].connections",
  ]);
  assertConfigError(node([realm()], [], { realm: [] }), "workers[0].realm", "unknown key");
});

Deno.test("worker: realms optional (a web-only router), must be an array", () => {
  assert.deepEqual(parseConfig({ workers: [{ type: "router" }] }).realms, []);
  assertConfigError(
    { workers: [{ type: "router", realms: {} }] },
    "workers[0].realms",
    "must be an array, got an object",
  );
});

// ---------------------------------------------------------------------------------------------
// Realm, role and permission errors

const REALM = "workers[0].realms[0]";
const PERM = `${REALM}.roles[0].permissions[0]`;

Deno.test("realm: duplicate name", () => {
  assertConfigError(
    node([realm(), realm({ name: "other" }), realm()]),
    "workers[0].realms[2].name",
    'duplicate realm name "realm1"',
  );
});

Deno.test("realm: bad names", () => {
  for (const name of ["r1", "1realm", "realm 1", "realm#1", "", "a".repeat(256)]) {
    assertConfigError(node([realm({ name })]), `${REALM}.name`, "invalid realm name");
  }
  assertConfigError(node([realm({ name: 7 })]), `${REALM}.name`, "must be a string, got 7");
  assertConfigError(node([{ roles: [] }]), `${REALM}.name`, "is required");
});

Deno.test("realm: unknown key", () => {
  assertConfigError(node([realm({ storage: {} })]), `${REALM}.storage`, "unknown key");
});

Deno.test("realm store: memory event history, with defaults and errors", () => {
  const config = parseConfig(node([realm({
    store: {
      type: "memory",
      "event-history": [{ uri: "com.a" }, { uri: "com.b.", match: "prefix", limit: 5 }],
    },
  })]));
  assert.deepEqual(onlyRealm(config).history, [
    { uri: "com.a", match: "exact", limit: 100 },
    { uri: "com.b.", match: "prefix", limit: 5 },
  ]);
  assertConfigError(node([realm({ store: {} })]), `${REALM}.store.type`, "is required");
  assertConfigError(node([realm({ store: { type: "lmdb" } })]), `${REALM}.store.type`, "memory");
  assertConfigError(
    node([realm({ store: { type: "memory", "event-history": [{ uri: "x", limit: 0 }] } })]),
    `${REALM}.store["event-history"][0].limit`,
    "between 1 and 1000000",
  );
  assertConfigError(
    node([realm({ store: { type: "memory", "event-history": [{ uri: "x", size: 1 }] } })]),
    `${REALM}.store["event-history"][0].size`,
    "unknown key",
  );
});

Deno.test("realm options: unknown and unsupported keys, bad values", () => {
  assertConfigError(
    node([realm({ options: { event_dispatching_chunk_size: 100 } })]),
    `${REALM}.options.event_dispatching_chunk_size`,
    "not supported",
  );
  assertConfigError(
    node([realm({ options: { uri_checks: "loose" } })]),
    `${REALM}.options.uri_checks`,
    "unknown key",
  );
  assertConfigError(
    node([realm({ options: { uri_check: "lax" } })]),
    `${REALM}.options.uri_check`,
    'must be "loose" or "strict", got string "lax"',
  );
  assertConfigError(
    node([realm({ options: { enable_meta_api: "yes" } })]),
    `${REALM}.options.enable_meta_api`,
    "must be a boolean",
  );
});

Deno.test("role: reserved name trusted", () => {
  assertConfigError(
    node([realm({ roles: [{ name: "trusted", permissions: [] }] })]),
    `${REALM}.roles[0].name`,
    "reserved",
  );
});

Deno.test("role: duplicate name", () => {
  assertConfigError(
    node([realm({ roles: [{ name: "user" }, { name: "user" }] })]),
    `${REALM}.roles[1].name`,
    'duplicate role name "user"',
  );
});

Deno.test("role: empty name, authorizer, unknown key", () => {
  assertConfigError(
    node([realm({ roles: [{ name: "" }] })]),
    `${REALM}.roles[0].name`,
    "non-empty",
  );
  assert.deepEqual(
    onlyRealm(
      parseConfig(
        node([realm({ roles: [{ name: "user", authorizer: "com.example.authorize" }] })]),
      ),
    )
      .roles[0],
    { name: "user", permissions: [], authorizer: "com.example.authorize" },
  );
  assertConfigError(
    node([realm({ roles: [{ name: "user", authorizer: "" }] })]),
    `${REALM}.roles[0].authorizer`,
    "non-empty",
  );
  assertConfigError(
    node([realm({ roles: [{ name: "user", permission: [] }] })]),
    `${REALM}.roles[0].permission`,
    "unknown key",
  );
});

Deno.test("permission: uri missing, wrong type or invalid", () => {
  assertConfigError(withPermissions([{ match: "exact" }]), `${PERM}.uri`, "is required");
  assertConfigError(withPermissions([{ uri: 5 }]), `${PERM}.uri`, "must be a string, got 5");
  for (const uri of ["com.exa mple", "com.#.foo", "com..#"]) {
    assertConfigError(withPermissions([{ uri }]), `${PERM}.uri`, "invalid permission URI");
  }
});

Deno.test("permission: bad match", () => {
  assertConfigError(
    withPermissions([{ uri: "a", match: "regex" }]),
    `${PERM}.match`,
    'must be "exact", "prefix" or "wildcard", got string "regex"',
  );
});

Deno.test("permission: validate, unknown keys, bad allow/disclose/cache", () => {
  assertConfigError(
    withPermissions([{ uri: "a", validate: {} }]),
    `${PERM}.validate`,
    "not supported",
  );
  assertConfigError(withPermissions([{ uri: "a", allows: {} }]), `${PERM}.allows`, "unknown key");
  assertConfigError(
    withPermissions([{ uri: "a", allow: { call: true, admin: true } }]),
    `${PERM}.allow.admin`,
    "unknown key",
  );
  assertConfigError(
    withPermissions([{ uri: "a", allow: { publish: 1 } }]),
    `${PERM}.allow.publish`,
    "must be a boolean",
  );
  assertConfigError(
    withPermissions([{ uri: "a", disclose: { callee: true } }]),
    `${PERM}.disclose.callee`,
    "unknown key",
  );
  assertConfigError(
    withPermissions([{ uri: "a", cache: "yes" }]),
    `${PERM}.cache`,
    "must be a boolean",
  );
});

Deno.test("permission: duplicate uri and match in one role: the later one decides, with a warning", () => {
  const config = parseConfig(withPermissions([
    { uri: "com.example.*", allow: { call: true } },
    { uri: "com.example.", match: "prefix", allow: { publish: true } },
  ]));
  const permissions = onlyRealm(config).roles[0]!.permissions;
  assert.deepEqual(permissions.map((p) => [p.uri, p.match, p.allow.call, p.allow.publish]), [
    ["com.example.", "prefix", false, true],
  ]);
  assert.deepEqual(config.warnings?.map((w) => w.path), [`${REALM}.roles[0].permissions[0]`]);
  assert.match(config.warnings![0]!.message, /replaced by .*permissions\[1\]/);
});

// ---------------------------------------------------------------------------------------------
// Transport errors

const TRANSPORT = "workers[0].transports[0]";

Deno.test("transport: unsupported types", () => {
  for (const type of ["flashpolicy"]) {
    assertConfigError(
      withTransport({ type, endpoint: TCP }),
      `${TRANSPORT}.type`,
      "not implemented yet",
    );
  }
  // mqtt is refused (see crossbar_config_test.ts)
  assertConfigError(withTransport({ type: "mqtt", endpoint: TCP }), `${TRANSPORT}.type`, "MQTT");
  assertConfigError(
    withTransport({ type: "universal", endpoint: TCP }),
    TRANSPORT,
    "needs rawsocket settings",
  );
  assertConfigError(withTransport({ type: "http", endpoint: TCP }), `${TRANSPORT}.type`, "must be");
});

Deno.test("transport: rawsocket over TCP or a Unix socket", () => {
  const tcp = parseConfig(
    withTransport({ type: "rawsocket", endpoint: TCP, serializers: ["msgpack"] }),
  );
  assert.equal(tcp.transports[0]!.type, "rawsocket");
  assert.deepEqual(tcp.transports[0]!.rawsocket!.serializers, ["msgpack"]);
  const unix = parseConfig(
    withTransport({ type: "rawsocket", endpoint: { type: "unix", path: "/tmp/x.sock" } }),
  );
  assert.equal(unix.transports[0]!.type, "rawsocket");
  assert.equal(unix.transports[0]!.endpoint.unix, "/tmp/x.sock");
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { type: "unix", path: "/tmp/x.sock" } }),
    `${TRANSPORT}.endpoint.type`,
    "only available for rawsocket",
  );
  assertConfigError(
    withTransport({ type: "rawsocket", endpoint: { type: "unix" } }),
    `${TRANSPORT}.endpoint.path`,
    "is required",
  );
});

Deno.test("transport: unknown and rejected keys", () => {
  assertConfigError(
    withTransport({ type: "websocket", endpoint: TCP, url: "ws://localhost:9000" }),
    `${TRANSPORT}.url`,
    "not supported",
  );
  assert.deepEqual(
    parseConfig(withTransport({ type: "websocket", endpoint: TCP, debug: true })).warnings?.map(
      (w) => w.path,
    ),
    [`${TRANSPORT}.debug`],
  );
  assertConfigError(
    // cookie tracking is for WebSocket endpoints (see cookie_auth_test.ts)
    withTransport({ type: "rawsocket", endpoint: TCP, cookie: {} }),
    `${TRANSPORT}.cookie`,
    "unknown key",
  );
  assertConfigError(
    withTransport({ type: "web", endpoint: TCP, serializers: ["json"], paths: {} }),
    `${TRANSPORT}.serializers`,
    "unknown key",
  );
});

Deno.test("transport: bad ports", () => {
  for (const port of [-1, 65536, 80.5, "8080", null]) {
    assertConfigError(
      withTransport({ type: "websocket", endpoint: { type: "tcp", port } }),
      `${TRANSPORT}.endpoint.port`,
      "must be an integer port between 0 and 65535",
    );
  }
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { type: "tcp" } }),
    `${TRANSPORT}.endpoint.port`,
    "is required",
  );
});

Deno.test("transport: endpoint tls, unix, version, unknown key", () => {
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { ...TCP, tls: {} } }),
    `${TRANSPORT}.endpoint.tls.certificate`,
    "is required",
  );
  assertConfigError(
    withTransport({
      type: "websocket",
      endpoint: { ...TCP, tls: { certificate: "c", key: "k", ca: "x" } },
    }),
    `${TRANSPORT}.endpoint.tls.ca`,
    "unknown key",
  );
  assert.deepEqual(
    parseConfig(
      withTransport({
        type: "websocket",
        endpoint: { ...TCP, tls: { certificate: "c.pem", key: "k.pem" } },
      }),
    )
      .transports[0]!.endpoint.tls,
    { certificate: "c.pem", key: "k.pem" },
  );
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { type: "unix", path: "/tmp/s" } }),
    `${TRANSPORT}.endpoint.type`,
    "only available for rawsocket",
  );
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { ...TCP, path: "/tmp/s" } }),
    `${TRANSPORT}.endpoint.path`,
    "unknown key",
  );
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { ...TCP, version: 5 } }),
    `${TRANSPORT}.endpoint.version`,
    "must be 4 or 6, got 5",
  );
  assertConfigError(
    withTransport({ type: "websocket", endpoint: { ...TCP, interface: "" } }),
    `${TRANSPORT}.endpoint.interface`,
    "non-empty",
  );
});

Deno.test("transport: bad serializers", () => {
  const ws = (serializers: unknown) =>
    withTransport({ type: "websocket", endpoint: TCP, serializers });
  assertConfigError(ws(["json", "xml"]), `${TRANSPORT}.serializers[1]`, 'got string "xml"');
  assertConfigError(ws(["flatbuffers"]), `${TRANSPORT}.serializers[0]`, "not supported");
  assertConfigError(ws(["json", "ubjson", "ubjson"]), `${TRANSPORT}.serializers[2]`, "duplicate");
  assertConfigError(ws(["json", "json"]), `${TRANSPORT}.serializers[1]`, "duplicate serializer");
  assertConfigError(ws([]), `${TRANSPORT}.serializers`, "at least one");
  assertConfigError(ws("json"), `${TRANSPORT}.serializers`, "must be an array");
});

Deno.test("transport: ubjson is accepted with one warning and not served", () => {
  const config = parseConfig(withTransport({
    type: "websocket",
    endpoint: TCP,
    serializers: ["json", "ubjson", "cbor"],
  }));
  assert.deepEqual(config.transports[0]!.websocket!.serializers, ["json", "cbor"]);
  assert.equal(config.warnings?.length, 1, JSON.stringify(config.warnings));
  const warning = config.warnings[0]!;
  assert.equal(warning.path, `${TRANSPORT}.serializers[1]`);
  assert.match(warning.message, /"ubjson" is not offered .*serves "json", "cbor"/);
  // the reason names every codec evaluated, what is wrong with each, and the BJData split
  for (const part of ["@jsonjoy.com/json-pack", "@shelacek/ubjson", "ubjson 0.0.8", "BJData"]) {
    assert.ok(warning.message.includes(part), `warning names ${part}: ${warning.message}`);
  }
  // a Crossbar config's usual list; RawSocket endpoints parse the same way
  const rawsocket = parseConfig(withTransport({
    type: "rawsocket",
    endpoint: TCP,
    serializers: ["cbor", "msgpack", "ubjson", "json"],
  }));
  assert.equal(rawsocket.transports[0]!.type, "rawsocket");
  assert.deepEqual(rawsocket.transports[0]!.rawsocket!.serializers, ["cbor", "msgpack", "json"]);
  assert.deepEqual(rawsocket.warnings?.map((w) => w.path), [`${TRANSPORT}.serializers[2]`]);
  // without ubjson nothing is warned
  const plain = parseConfig(withTransport({ type: "websocket", endpoint: TCP }));
  assert.deepEqual(plain.warnings, []);
});

Deno.test("transport: a serializers list of ubjson alone is an error naming the key", () => {
  const error = assertConfigError(
    withTransport({ type: "websocket", endpoint: TCP, serializers: ["ubjson"] }),
    `${TRANSPORT}.serializers`,
    '"ubjson" is not offered',
  );
  assert.match(error.reason, /list "json", "msgpack" or "cbor"$/);
  assert.match(error.reason, /@shelacek\/ubjson/);
});

Deno.test("transport: ticket, wampcra and cryptosign principals", () => {
  const config = parseConfig(withTransport({
    type: "websocket",
    endpoint: TCP,
    auth: {
      ticket: {
        type: "static",
        principals: { alice: { ticket: "s3cret", role: "user", realm: "realm1" } },
      },
      wampcra: {
        type: "static",
        users: {
          bob: { secret: "pw", role: "user" },
          carol: { secret: "pw2", role: "user", salt: "salt123", iterations: 100, keylen: 32 },
        },
      },
      cryptosign: {
        type: "static",
        principals: { dave: { authorized_keys: ["AB".repeat(32)], role: "user" } },
      },
    },
  }));
  const auth = config.transports[0]!.websocket!.auth;
  assert.equal(auth.anonymous, null);
  assert.deepEqual(auth.ticket!.get("alice"), { ticket: "s3cret", role: "user", realm: "realm1" });
  assert.deepEqual(auth.wampcra!.get("bob"), {
    secret: "pw",
    role: "user",
    realm: null,
    salt: null,
    iterations: 1000,
    keylen: 32,
  });
  assert.equal(auth.wampcra!.get("carol")!.salt, "salt123");
  assert.deepEqual(auth.cryptosign!.get("dave")!.authorized_keys, ["ab".repeat(32)]);
});

Deno.test("transport: secrets from environment variables", () => {
  Deno.env.set("SWITCHBOARD_TEST_TICKET", "from-env");
  try {
    const config = parseConfig(withTransport({
      type: "websocket",
      endpoint: TCP,
      auth: {
        ticket: {
          type: "static",
          principals: { a: { ticket: "$SWITCHBOARD_TEST_TICKET", role: "u" } },
        },
      },
    }));
    assert.equal(config.transports[0]!.websocket!.auth.ticket!.get("a")!.ticket, "from-env");
  } finally {
    Deno.env.delete("SWITCHBOARD_TEST_TICKET");
  }
  assertConfigError(
    withTransport({
      type: "websocket",
      endpoint: TCP,
      auth: {
        ticket: {
          type: "static",
          principals: { a: { ticket: "$SWITCHBOARD_UNSET_VAR", role: "u" } },
        },
      },
    }),
    `${TRANSPORT}.auth.ticket.principals.a.ticket`,
    "SWITCHBOARD_UNSET_VAR is not set",
  );
});

Deno.test("transport: bad auth methods", () => {
  const auth = (a: unknown) => withTransport({ type: "websocket", endpoint: TCP, auth: a });
  const path = `${TRANSPORT}.auth`;
  assertConfigError(auth({ magic: {} }), `${path}.magic`, "unknown key");
  assertConfigError(
    auth({ ticket: { type: "dynamic" } }),
    `${path}.ticket.authenticator`,
    "is required",
  );
  assert.deepEqual(
    parseConfig(auth({
      ticket: { type: "dynamic", authenticator: "com.a", "authenticator-realm": "auth" },
    })).transports[0]!.websocket!.auth.dynamic,
    { ticket: { authenticator: "com.a", realm: "auth" } },
  );
  assertConfigError(
    auth({ ticket: { type: "magic" } }),
    `${path}.ticket.type`,
    'must be "static" or "dynamic"',
  );
  assertConfigError(
    auth({ ticket: { type: "static" } }),
    `${path}.ticket.principals`,
    "is required",
  );
  assertConfigError(
    auth({ ticket: { type: "static", principals: { a: { ticket: "t" } } } }),
    `${path}.ticket.principals.a.role`,
    "is required",
  );
  assertConfigError(
    auth({ ticket: { type: "static", principals: { a: { ticket: "t", role: "trusted" } } } }),
    `${path}.ticket.principals.a.role`,
    "reserved",
  );
  assertConfigError(
    auth({ anonymous: { type: "static", role: "trusted" } }),
    `${path}.anonymous.role`,
    "reserved",
  );
  assertConfigError(
    auth({ wampcra: { type: "static", users: { b: { secret: "s", role: "u", iterations: 10 } } } }),
    `${path}.wampcra.users.b.salt`,
    "is required",
  );
  assertConfigError(
    auth({
      cryptosign: { type: "static", principals: { d: { authorized_keys: ["xyz"], role: "u" } } },
    }),
    `${path}.cryptosign.principals.d.authorized_keys[0]`,
    "64 hex characters",
  );
});

Deno.test("transport: bad anonymous auth", () => {
  const anon = (anonymous: unknown) =>
    withTransport({ type: "websocket", endpoint: TCP, auth: { anonymous } });
  const path = `${TRANSPORT}.auth.anonymous`;
  assertConfigError(anon({ type: "dynamic" }), `${path}.authenticator`, "is required");
  assertConfigError(anon({ role: "x" }), `${path}.type`, "is required");
  assertConfigError(anon({ type: "static", role: 1 }), `${path}.role`, "must be a string");
  // `realm` admits anonymous sessions to that realm only (see crossbar_auth_test.ts)
  assertConfigError(anon({ type: "static", realm: 1 }), `${path}.realm`, "must be a string");
  assertConfigError(anon({ type: "static", realmz: "realm1" }), `${path}.realmz`, "unknown key");
  assertConfigError(
    withTransport({ type: "websocket", endpoint: TCP, auth: {} }),
    `${TRANSPORT}.auth`,
    "at least one authentication method",
  );
});

Deno.test("transport: websocket options", () => {
  const opts = (options: unknown) => withTransport({ type: "websocket", endpoint: TCP, options });
  assertConfigError(
    opts({ max_message_size: 0 }),
    `${TRANSPORT}.options.max_message_size`,
    "positive",
  );
  assertConfigError(
    opts({ max_message_size: 1.5 }),
    `${TRANSPORT}.options.max_message_size`,
    "must be an integer",
  );
  assertConfigError(opts({ compression: 1 }), `${TRANSPORT}.options.compression`, "object");
  assertConfigError(
    opts({ no_such_option: 1 }),
    `${TRANSPORT}.options.no_such_option`,
    "unknown key",
  );
});

Deno.test("transport: the authentication limits, auth_max_delay included", () => {
  const opts = (options: unknown) => withTransport({ type: "websocket", endpoint: TCP, options });
  const limits = (options: unknown) =>
    parseConfig(opts(options)).transports[0]!.websocket!.auth_limits;
  assert.deepEqual(limits({}), DEFAULT_LIMITS);
  assert.deepEqual(
    limits({
      auth_challenge_timeout: 3,
      auth_max_failures: 2,
      auth_failure_window: 30,
      auth_max_delay: 4,
    }),
    { challenge_timeout: 3, max_failures: 2, failure_window: 30, max_delay: 4 },
  );
  for (const bad of [0, -1, 1.5, "8"]) {
    assertConfigError(opts({ auth_max_delay: bad }), `${TRANSPORT}.options.auth_max_delay`, "");
  }
  assertConfigError(opts({ auth_max_delay: 0 }), `${TRANSPORT}.options.auth_max_delay`, "positive");
});

Deno.test("transport: web paths", () => {
  const web = (paths: unknown) => withTransport({ type: "web", endpoint: TCP, paths });
  const paths = `${TRANSPORT}.paths`;
  assertConfigError(
    web({ "/": { type: "path", paths: {} } }),
    `${paths}["/"].type`,
    'path type "path" is not implemented yet',
  );
  assertConfigError(
    web({ "/": { type: "wsgi", module: "x", object: "y" } }),
    `${paths}["/"].type`,
    "Switchboard cannot run",
  );
  assertConfigError(web({ call: { type: "caller" } }), `${paths}.call.realm`, "is required");
  assertConfigError(web({ "a/b": { type: "websocket" } }), `${paths}["a/b"]`, "invalid path");
  assertConfigError(
    web({ ws: { type: "websocket", url: "x" } }),
    `${paths}.ws.url`,
    "not supported",
  );
  assertConfigError(
    web({ ws: { type: "websocket", serializers: ["yaml"] } }),
    `${paths}.ws.serializers[0]`,
    'got string "yaml"',
  );
  assertConfigError(web({}), paths, "at least one websocket, publisher, caller, static");
  assertConfigError(withTransport({ type: "web", endpoint: TCP }), paths, "is required");
});

Deno.test("transport: colliding endpoints", () => {
  const ws = (endpoint: Json) => ({ type: "websocket", endpoint: { type: "tcp", ...endpoint } });
  assertConfigError(
    node([realm()], [ws({ port: 9000 }), ws({ port: 9001 }), ws({ port: 9000 })]),
    "workers[0].transports[2].endpoint",
    "collides with workers[0].transports[0]",
  );
  assertConfigError(
    node([realm()], [ws({ port: 9000, interface: "127.0.0.1" }), ws({ port: 9000 })]),
    "workers[0].transports[1].endpoint",
    "collides",
  );
  // Port 0 never collides; different hosts on one port are fine.
  const ok = parseConfig(node([realm()], [
    ws({ port: 0 }),
    ws({ port: 0 }),
    ws({ port: 9000, interface: "127.0.0.1" }),
    ws({ port: 9000, interface: "127.0.0.2" }),
  ]));
  assert.equal(ok.transports.length, 4);
});

// ---------------------------------------------------------------------------------------------
// loadConfigFile

/** Temp-file tests need `--allow-write` (the `test` task grants it); without it they show as ignored. */
const canWrite = Deno.permissions.querySync({ name: "write" }).state === "granted";

/** Writes `text` to a new temp file, runs `fn` on its path, then removes the file. */
async function withTempFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "switchboard_config_", suffix: ".json" });
  try {
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

/** Asserts that `promise` rejects with a ConfigError at `path` whose reason contains each of `parts`. */
async function assertRejectsConfig(
  promise: Promise<unknown>,
  path: string,
  parts: readonly string[],
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.path, path);
  for (const part of parts) {
    assert.ok(
      caught.reason.includes(part),
      `reason ${JSON.stringify(caught.reason)} lacks ${part}`,
    );
  }
  return caught;
}

Deno.test("loadConfigFile: missing file names the file", async () => {
  const path = new URL("./__missing_switchboard_config__.json", import.meta.url).pathname;
  const error = await assertRejectsConfig(loadConfigFile(path), "(file)", [
    JSON.stringify(path),
    "not found",
  ]);
  assert.ok(error.cause instanceof Deno.errors.NotFound);
});

Deno.test("loadConfigFile: a file that is not JSON (this test's source)", async () => {
  const path = new URL(import.meta.url).pathname;
  const error = await assertRejectsConfig(loadConfigFile(path), "(file)", [
    `invalid JSON in ${JSON.stringify(path)}`,
  ]);
  assert.ok(error.cause instanceof SyntaxError);
});

Deno.test({
  name: "loadConfigFile reads and parses a temp file",
  ignore: !canWrite,
  fn: () =>
    withTempFile(JSON.stringify(example), async (path) => {
      assert.deepEqual(await loadConfigFile(path), parseConfig(example));
    }),
});

Deno.test({
  name: "loadConfigFile: truncated JSON in a temp file",
  ignore: !canWrite,
  fn: () =>
    withTempFile('{"version": 2,', async (path) => {
      const error = await assertRejectsConfig(loadConfigFile(path), "(file)", [
        `invalid JSON in ${JSON.stringify(path)}`,
      ]);
      assert.ok(error.cause instanceof SyntaxError);
    }),
});

Deno.test({
  name: "loadConfigFile: valid JSON but invalid config keeps the JSON path",
  ignore: !canWrite,
  fn: () =>
    withTempFile(JSON.stringify(withStats({ trigger_on_joins: true })), async (path) => {
      await assertRejectsConfig(loadConfigFile(path), `${STATS}.trigger_on_joins`, ["unknown key"]);
    }),
});

// ---------------------------------------------------------------------------------------------
// applyOverrides

Deno.test("applyOverrides replaces the first transport's host and port only", () => {
  const base = parseConfig(node([realm()], [
    { type: "websocket", endpoint: { type: "tcp", port: 9000, interface: "127.0.0.1" } },
    { type: "websocket", endpoint: { type: "tcp", port: 9001, interface: "127.0.0.1" } },
  ]));
  const both = applyOverrides(base, { host: "::1", port: 0 });
  assert.deepEqual(both.transports[0]!.endpoint, {
    host: "::1",
    port: 0,
    tls: null,
    max_connections: 10_000,
  });
  const cap = { max_connections: 10_000 };
  assert.deepEqual(both.transports[1]!.endpoint, {
    host: "127.0.0.1",
    port: 9001,
    tls: null,
    ...cap,
  });
  assert.equal(both.transports[0]!.websocket, base.transports[0]!.websocket);
  assert.deepEqual(base.transports[0]!.endpoint, {
    host: "127.0.0.1",
    port: 9000,
    tls: null,
    ...cap,
  });

  assert.deepEqual(applyOverrides(base, { port: 7000 }).transports[0]!.endpoint, {
    host: "127.0.0.1",
    port: 7000,
    tls: null,
    ...cap,
  });
  assert.deepEqual(applyOverrides(base, { host: "0.0.0.0" }).transports[0]!.endpoint, {
    host: "0.0.0.0",
    port: 9000,
    tls: null,
    ...cap,
  });
  assert.equal(applyOverrides(base, {}), base);
});

Deno.test("applyOverrides errors", () => {
  const empty = parseConfig(node([realm()]));
  assert.throws(() => applyOverrides(empty, { port: 8080 }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.path, "workers[0].transports");
    assert.ok(error.reason.includes("no transport"));
    return true;
  });
  assert.equal(applyOverrides(empty, {}), empty);

  const base = parseConfig(example);
  assert.throws(() => applyOverrides(base, { port: 70000 }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.path, "(override).port");
    return true;
  });
  assert.throws(() => applyOverrides(base, { host: "" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.path, "(override).host");
    return true;
  });

  const two = parseConfig(node([realm()], [
    { type: "websocket", endpoint: { type: "tcp", port: 9000 } },
    { type: "websocket", endpoint: { type: "tcp", port: 9001 } },
  ]));
  assert.throws(() => applyOverrides(two, { port: 9001 }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.path, "workers[0].transports[1].endpoint");
    assert.ok(error.reason.includes("collides"));
    return true;
  });
});
