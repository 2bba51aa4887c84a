/**
 * The public surface of `mod.ts`: the exported names, the JSDoc example, config errors from
 * `createRouter`, in-process sessions (with each other and with WebSocket clients), the HTTP
 * handler mounted in the test's own `Deno.serve`, and shutdown.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Action,
  type AnonymousAuthConfig,
  type Args,
  CallResult,
  type ClientRegistration,
  type ClientSubscription,
  type Clock,
  ConfigError,
  type ConfigOverrides,
  createRouter,
  type Dict,
  type EventHandler,
  type Handler,
  type Kwargs,
  type Listener,
  type LocalSessionOptions,
  type Logger,
  type LogLevel,
  type MatchPolicy,
  type Message,
  type Permission,
  type Procedure,
  type RealmConfig,
  type RealmOptions,
  type RoleConfig,
  type RouterConfig,
  type RouterOptions,
  type Serializer,
  type SerializerName,
  type StatsConfig,
  type StatsSnapshot,
  type TransportConfig,
  WampError,
  type WebSocketEndpointConfig,
} from "../mod.ts";
import { ALLOW_ALL, RawClient, startRouter, testConfig } from "./_helpers.ts";

/** What mod.ts exports at run time today; a change here is an API change. */
const EXPECTED_EXPORTS = [
  "CallResult",
  "ClusterStartError",
  "ConfigError",
  "FakeClock",
  "MessageType",
  "ProtocolError",
  "Router",
  "Uri",
  "WampClient",
  "WampError",
  "applyOverrides",
  "consoleLogger",
  "createRouter",
  "isLogLevel",
  "jsonLogger",
  "loadConfigFile",
  "parseConfig",
  "silentLogger",
  "systemClock",
];

/**
 * The type-only exports: removing or renaming one breaks `deno check` of this file. The tuple
 * is never used at run time.
 */
export type TypeExports = [
  Action,
  AnonymousAuthConfig,
  Args,
  ClientRegistration,
  ClientSubscription,
  Clock,
  ConfigOverrides,
  Dict,
  EventHandler,
  Handler,
  Kwargs,
  Listener,
  LocalSessionOptions,
  Logger,
  LogLevel,
  MatchPolicy,
  Message,
  Permission,
  Procedure,
  RealmConfig,
  RealmOptions,
  RoleConfig,
  RouterConfig,
  RouterOptions,
  Serializer,
  SerializerName,
  StatsConfig,
  StatsSnapshot,
  TransportConfig,
  WebSocketEndpointConfig,
];

const GOODBYE = 6;
const SYSTEM_SHUTDOWN = "wamp.close.system_shutdown";

/** A node config with realm1 and no transports (in-process only). */
function inProcessConfig() {
  return {
    version: 2,
    workers: [{ type: "router", realms: [{ name: "realm1", roles: [ALLOW_ALL] }], transports: [] }],
  };
}

/** A promise with its resolver, for handlers that fire later. */
function later<T>() {
  return Promise.withResolvers<T>();
}

// ---- the surface -------------------------------------------------------------------------

Deno.test("mod: exports exactly the expected run-time names", async () => {
  const names = Object.keys(await import("../mod.ts")).sort();
  assert.deepEqual(names, EXPECTED_EXPORTS);
});

Deno.test("mod: the JSDoc examples type-check and run (deno test --doc mod.ts)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--doc", "--sanitize-ops", "--sanitize-resources", "mod.ts"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  // One runnable example (the other is `ts ignore`): it prints 5.
  assert.match(text, /^ok \| 1 passed \| 0 failed/m, text);
  assert.match(text, /post-test output -+\n5\n/, text);
});

Deno.test("mod: the JSDoc example's code, with assertions", async () => {
  const router = createRouter({
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [{
          name: "anonymous",
          permissions: [{
            uri: "",
            match: "prefix",
            allow: { call: true, register: true, publish: true, subscribe: true },
          }],
        }],
      }],
      transports: [],
    }],
  });
  const backend = await router.session("realm1");
  await backend.register("com.example.add", ([a, b]) => (a as number) + (b as number));
  const result = await backend.call("com.example.add", [2, 3]);
  assert.equal(result.args[0], 5);
  await router.close();
});

// ---- createRouter config errors ----------------------------------------------------------

Deno.test("mod: createRouter throws ConfigError with the JSON path", async (t) => {
  const cases: [string, unknown, string][] = [
    ["null", null, "(root)"],
    ["no workers", { version: 2 }, "workers"],
    [
      "unknown stats key",
      testConfig({ stats: { trigger_on_joins: true } }),
      "workers[0].realms[0].stats.trigger_on_joins",
    ],
    [
      "bad serializer",
      {
        version: 2,
        workers: [{
          type: "router",
          realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
          transports: [{
            type: "websocket",
            endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
            serializers: ["json", 7],
          }],
        }],
      },
      "workers[0].transports[0].serializers[1]",
    ],
  ];
  for (const [name, config, path] of cases) {
    await t.step(name, () => {
      let caught: unknown;
      try {
        createRouter(config);
      } catch (e) {
        caught = e;
      }
      assert.ok(caught instanceof ConfigError, `expected ConfigError, got ${caught}`);
      assert.equal(caught.name, "ConfigError");
      assert.equal(caught.path, path);
      assert.ok(caught.message.startsWith(`${path}: `), caught.message);
      assert.ok(caught.reason.length > 0);
    });
  }
});

// ---- in-process sessions -----------------------------------------------------------------

Deno.test("mod: two in-process sessions publish/subscribe and call/register", async () => {
  await using router = createRouter(inProcessConfig());
  const a = await router.session("realm1");
  const b = await router.session("realm1");
  assert.ok(a.sessionId > 0 && b.sessionId > 0);
  assert.notEqual(a.sessionId, b.sessionId);

  const event = later<[Args, Kwargs]>();
  const sub = await b.subscribe(
    "com.example.topic",
    (args, kwargs) => event.resolve([args, kwargs]),
  );
  const publication = await a.publish("com.example.topic", [1, "two"], { three: 3 }, {
    acknowledge: true,
  });
  assert.equal(typeof publication, "number");
  assert.deepEqual(await event.promise, [[1, "two"], { three: 3 }]);
  await sub.unsubscribe();

  await b.register("com.example.echo", (args, kwargs) => new CallResult(args, kwargs));
  const echoed = await a.call("com.example.echo", ["x"], { y: true });
  assert.deepEqual(echoed.args, ["x"]);
  assert.deepEqual(echoed.kwargs, { y: true });

  await b.register("com.example.fail", () => {
    throw new WampError("com.example.error.nope", "not today");
  });
  await assert.rejects(a.call("com.example.fail"), (e: unknown) => {
    assert.ok(e instanceof WampError);
    assert.equal(e.uri, "com.example.error.nope");
    assert.equal(e.message, "not today");
    return true;
  });
  await assert.rejects(a.call("com.example.missing"), (e: unknown) => {
    assert.ok(e instanceof WampError);
    assert.equal(e.uri, "wamp.error.no_such_procedure");
    return true;
  });

  await a.close();
  await b.close();
  assert.equal(a.isOpen, false);
});

Deno.test("mod: an in-process session and a WebSocket client talk both ways", async () => {
  await using running = await startRouter();
  const local = await running.router.session("realm1");
  const { client: ws } = await RawClient.join(running.url, "json");
  await using _ws = ws;

  // WebSocket subscribes, in-process publishes.
  ws.send([32, 1, {}, "com.example.to_ws"]);
  const subscribed = await ws.next();
  assert.equal(subscribed[0], 33);
  await local.publish("com.example.to_ws", [42], { k: "v" }, { acknowledge: true });
  const event = await ws.next();
  assert.equal(event[0], 36);
  assert.equal(event[1], subscribed[2]);
  assert.deepEqual(event.slice(4), [[42], { k: "v" }]);

  // In-process subscribes, WebSocket publishes.
  const got = later<Args>();
  await local.subscribe("com.example.to_local", (args) => got.resolve(args));
  ws.send([16, 2, { acknowledge: true }, "com.example.to_local", ["hello"]]);
  assert.equal((await ws.next())[0], 17);
  assert.deepEqual(await got.promise, ["hello"]);

  // In-process registers, WebSocket calls.
  await local.register("com.example.double", ([n]) => (n as number) * 2);
  ws.send([48, 3, {}, "com.example.double", [21]]);
  const result = await ws.next();
  assert.deepEqual([result[0], result[1], result[3]], [50, 3, [42]]);

  // WebSocket registers, in-process calls.
  ws.send([64, 4, {}, "com.example.upper"]);
  const registered = await ws.next();
  assert.equal(registered[0], 65);
  const calling = local.call("com.example.upper", ["abc"]);
  const invocation = await ws.next();
  assert.equal(invocation[0], 68);
  assert.equal(invocation[2], registered[2]);
  assert.deepEqual(invocation[4], ["abc"]);
  ws.send([70, invocation[1], {}, ["ABC"], { len: 3 }]);
  const answer = await calling;
  assert.deepEqual(answer.args, ["ABC"]);
  assert.deepEqual(answer.kwargs, { len: 3 });

  await local.close();
});

Deno.test("mod: router.session of an unknown realm rejects with no_such_realm", async () => {
  await using router = createRouter(inProcessConfig());
  await assert.rejects(router.session("nope"), (e: unknown) => {
    assert.ok(e instanceof WampError, `expected WampError, got ${e}`);
    assert.equal(e.uri, "wamp.error.no_such_realm");
    return true;
  });
  // The router still works afterwards.
  const ok = await router.session("realm1");
  assert.ok(ok.sessionId > 0);
});

// ---- handler() in the caller's own server ------------------------------------------------

/** Serves `handler` on 127.0.0.1:0 in the test's own Deno.serve. */
async function ownServer(handler: Handler) {
  const listening = later<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => listening.resolve(addr as Deno.NetAddr) },
    handler,
  );
  const addr = await listening.promise;
  return { server, base: `ws://127.0.0.1:${addr.port}` };
}

Deno.test("mod: router.handler() serves WAMP inside the caller's Deno.serve", async () => {
  const router = createRouter(testConfig());
  const { server, base } = await ownServer(router.handler());
  try {
    const { client, welcome } = await RawClient.join(`${base}/ws`, "cbor");
    await using _ = client;
    assert.equal(welcome[0], 2);
    assert.equal(client.ws.protocol, "wamp.2.cbor");

    // The transport's paths apply: other paths are 404.
    const res = await fetch(`${base.replace("ws:", "http:")}/elsewhere`);
    assert.equal(res.status, 404);
    await res.body?.cancel();

    // The embedding program and the WebSocket client meet on the same realm.
    const local = await router.session("realm1");
    await local.register("com.example.ping", () => "pong");
    client.send([48, 1, {}, "com.example.ping"]);
    const result = await client.next();
    assert.deepEqual([result[0], result[3]], [50, ["pong"]]);

    // router.close() also ends sessions that came in through the mounted handler.
    const closing = router.close();
    const goodbye = await client.next();
    assert.deepEqual([goodbye[0], goodbye[2]], [GOODBYE, SYSTEM_SHUTDOWN]);
    client.send([GOODBYE, {}, "wamp.close.goodbye_and_out"]);
    await closing;
    await client.closed();
  } finally {
    await router.close();
    await server.shutdown();
  }
});

Deno.test("mod: handler() of a config without transports serves any path", async () => {
  await using router = createRouter(inProcessConfig());
  const { server, base } = await ownServer(router.handler());
  try {
    for (const path of ["/", "/ws", "/a/b"]) {
      const { client, welcome } = await RawClient.join(`${base}${path}`, "msgpack");
      await using _ = client;
      assert.equal(welcome[0], 2);
      client.send([GOODBYE, {}, "wamp.close.close_realm"]);
      assert.equal((await client.next())[0], GOODBYE);
    }
  } finally {
    await server.shutdown();
  }
});

// ---- shutdown ----------------------------------------------------------------------------

Deno.test("mod: router.close() sends GOODBYE system_shutdown; in-process onClose fires", async () => {
  const running = await startRouter();
  const { client } = await RawClient.join(running.url, "json");
  await using _ = client;
  const local = await running.router.session("realm1");
  const localClosed = later<string>();
  local.onClose = (reason) => localClosed.resolve(reason);

  const closing = running.router.close();
  const goodbye = await client.next();
  assert.deepEqual([goodbye[0], goodbye[2]], [GOODBYE, SYSTEM_SHUTDOWN]);
  client.send([GOODBYE, {}, "wamp.close.goodbye_and_out"]);
  await closing;
  await client.closed();

  assert.equal(typeof await localClosed.promise, "string");
  assert.equal(local.isOpen, false);
});

Deno.test("mod: router.close() gives an in-process session the system_shutdown reason", async () => {
  // router.close() documents "Ends every session with GOODBYE wamp.close.system_shutdown".
  await using router = createRouter(inProcessConfig());
  const local = await router.session("realm1");
  const reason = later<string>();
  local.onClose = (r) => reason.resolve(r);
  await router.close();
  assert.equal(await reason.promise, SYSTEM_SHUTDOWN);
});

Deno.test("mod: router.close() with an in-process session of a non-trusted role", async () => {
  await using router = createRouter(inProcessConfig());
  const local = await router.session("realm1", { authrole: "anonymous" });
  const reason = later<string>();
  local.onClose = (r) => reason.resolve(r);
  await router.close();
  assert.equal(await reason.promise, SYSTEM_SHUTDOWN);
  assert.equal(local.isOpen, false);
});

Deno.test("mod: after close(), new sessions are refused and close() is idempotent", async () => {
  const router = createRouter(inProcessConfig());
  await router.close();
  await router.close();
  await assert.rejects(router.session("realm1"), WampError);
});
