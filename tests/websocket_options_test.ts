/**
 * Crossbar's WebSocket `options` on a real router: the origin check (`allowed_origins` with `*`
 * wildcards, `allow_null_origin`; other origins get HTTP 403 before the upgrade, on the
 * router's own listeners and through `Router.handler()`), `max_frame_size`, `auto_ping_size`,
 * `require_websocket_subprotocol`; and the config side: Crossbar's example options block loads
 * with one warning per option Switchboard does not act on, options matching what Switchboard
 * does load silently, wrong values are errors naming their path, RawSocket refuses them.
 */

import assert from "node:assert/strict";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { ConfigError, createRouter, parseConfig } from "../mod.ts";
import { ALLOW_ALL, RawClient, startRouter } from "./_helpers.ts";
import { rawRequest } from "./_raw_http.ts";

type D = Record<string, unknown>;

function config(options: D, extra: D = {}): D {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: { ws: { type: "websocket", options, ...extra } },
      }],
    }],
  };
}

/** The status of a raw WebSocket upgrade on `/ws` with these extra header lines. */
async function upgrade(port: number, headers: string[], protocol = "wamp.2.json"): Promise<number> {
  const res = await rawRequest(port, "/ws", {
    headOnly: true,
    headers: [
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
      ...headers,
    ],
  });
  return res.status;
}

const HELLO = JSON.stringify([1, "realm1", { roles: { subscriber: {} } }]);

/** Opens a `ws` client (which can send any Origin), joins, and closes; returns the WELCOME. */
async function joinWith(url: string, opts: WebSocket.ClientOptions, protocols?: string[]) {
  const ws = new WebSocket(url, protocols, opts);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    const welcome = new Promise<unknown[]>((resolve) =>
      ws.once("message", (data) => resolve(JSON.parse(String(data))))
    );
    ws.send(HELLO);
    return { welcome: await welcome, protocol: ws.protocol };
  } finally {
    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.terminate();
    await closed;
  }
}

Deno.test("allowed_origins: other origins get 403 before the upgrade; null per allow_null_origin", async () => {
  await using r = await startRouter(config({
    allowed_origins: ["https://app.example.com", "http://*.example.org:8080", "http://localhost:*"],
  }));
  const cases: [string[], number][] = [
    [[], 101], // no Origin: a non-browser client
    [["Origin: https://app.example.com"], 101],
    [["Origin: HTTPS://APP.EXAMPLE.COM"], 101],
    [["Origin: https://app.example.com:443"], 101],
    [["Origin: http://a.b.example.org:8080"], 101],
    [["Origin: http://localhost:5173"], 101],
    [["Origin: null"], 101], // allow_null_origin defaults to true, as in Crossbar
    [["Origin: https://evil.example.net"], 403],
    [["Origin: http://app.example.com"], 403], // scheme differs
    [["Origin: https://app.example.com:8443"], 403], // port differs
    [["Origin: http://example.org:8080"], 403], // "*." needs a label
    [["Origin: http://a.example.org:9090"], 403],
    [["Origin: https://app.example.com.evil.net"], 403],
    [["Origin: https://app.example.com/path"], 403],
    [["Origin: not an origin"], 403],
    [["Origin: https://app.example.com", "Origin: https://evil.example.net"], 403],
  ];
  for (const [headers, status] of cases) {
    assert.equal(await upgrade(r.port, headers), status, headers.join(" | "));
  }
  // a refused upgrade leaves the router serving: a real client from an allowed origin joins
  const ok = await joinWith(`ws://127.0.0.1:${r.port}/ws`, { origin: "https://app.example.com" }, [
    "wamp.2.json",
  ]);
  assert.equal(ok.welcome[0], 2);
  await assert.rejects(
    joinWith(`ws://127.0.0.1:${r.port}/ws`, { origin: "https://evil.example.net" }, [
      "wamp.2.json",
    ]),
    /HTTP 403/,
  );
});

Deno.test("allowed_origins defaults to any origin; allow_null_origin false refuses null", async () => {
  {
    await using r = await startRouter(config({}));
    assert.equal(await upgrade(r.port, ["Origin: https://anything.example"]), 101);
    assert.equal(await upgrade(r.port, ["Origin: null"]), 101);
  }
  {
    await using r = await startRouter(config({ allowed_origins: ["*"], allow_null_origin: false }));
    assert.equal(await upgrade(r.port, ["Origin: https://anything.example"]), 101);
    assert.equal(await upgrade(r.port, ["Origin: null"]), 403);
    assert.equal(await upgrade(r.port, []), 101);
  }
});

Deno.test("the origin check also guards Router.handler()", async () => {
  const router = createRouter(config({ allowed_origins: ["https://app.example.com"] }));
  try {
    const handler = router.handler();
    const res = await handler(
      new Request("http://x/ws", {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-protocol": "wamp.2.json",
          origin: "https://evil.example.net",
        },
      }),
    );
    assert.equal(res.status, 403);
    assert.equal(await res.text(), "Origin not allowed.\n");
  } finally {
    await router.close(100);
  }
});

Deno.test("max_frame_size: a larger frame closes the connection with 1009", async () => {
  await using r = await startRouter(config({ max_frame_size: 1024 }));
  const { client } = await RawClient.join(`ws://127.0.0.1:${r.port}/ws`);
  await using c = client;
  c.send([16, 1, {}, "com.x", ["a".repeat(500)]]); // under the limit: fine (no ack asked)
  c.send([16, 2, {}, "com.x", ["a".repeat(2000)]]);
  const closed = await c.closed();
  assert.equal(closed.code, 1009);
  // other sessions are unaffected
  const { client: other } = await RawClient.join(`ws://127.0.0.1:${r.port}/ws`);
  await using _other = other;
});

Deno.test("auto_ping_size: keepalive pings carry that many bytes", async () => {
  await using r = await startRouter(config({ auto_ping_interval: 1000, auto_ping_size: 50 }));
  const ws = new WebSocket(`ws://127.0.0.1:${r.port}/ws`, ["wamp.2.json"]);
  try {
    const ping = new Promise<Uint8Array>((resolve) => ws.once("ping", (data) => resolve(data)));
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(HELLO);
    const payload = await ping;
    assert.equal(payload.byteLength, 50);
  } finally {
    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.terminate();
    await closed;
  }
});

Deno.test("require_websocket_subprotocol: by default refused without one; false speaks JSON", async () => {
  {
    await using r = await startRouter(config({}));
    assert.equal(await upgrade(r.port, [], ""), 400);
  }
  {
    await using r = await startRouter(config({ require_websocket_subprotocol: false }));
    assert.equal(await upgrade(r.port, [], ""), 101);
    const joined = await joinWith(`ws://127.0.0.1:${r.port}/ws`, {});
    assert.equal(joined.welcome[0], 2);
    assert.equal(joined.protocol, "");
    // an offered subprotocol is still negotiated
    const msgpackOnly = await upgrade(r.port, [], "wamp.2.msgpack");
    assert.equal(msgpackOnly, 101);
    assert.equal(await upgrade(r.port, [], "wamp.2.unknown"), 400);
  }
});

/** Crossbar's example WebSocket options block (crossbar-examples, many configs carry it). */
const CROSSBAR_EXAMPLE_OPTIONS = {
  allowed_origins: ["*"],
  allow_null_origin: true,
  enable_webstatus: false,
  max_frame_size: 1048576,
  max_message_size: 1048576,
  auto_fragment_size: 65536,
  fail_by_drop: true,
  open_handshake_timeout: 2500,
  close_handshake_timeout: 1000,
  auto_ping_interval: 10000,
  auto_ping_timeout: 5000,
  auto_ping_size: 12,
  compression: {
    deflate: {
      request_no_context_takeover: false,
      request_max_window_bits: 13,
      no_context_takeover: false,
      max_window_bits: 13,
      memory_level: 5,
    },
  },
};

Deno.test("config: Crossbar's example options load, one warning per option not acted on", () => {
  const options = "workers[0].transports[0].paths.ws.options";
  const parsed = parseConfig(config(CROSSBAR_EXAMPLE_OPTIONS));
  assert.deepEqual(parsed.warnings?.map((w) => w.path), [
    `${options}.compression`,
    `${options}.auto_fragment_size`,
    `${options}.fail_by_drop`,
  ]);
  assert.match(parsed.warnings![0]!.message, /permessage-deflate/);
  const t = parsed.transports[0]!;
  assert.ok(t.type === "web");
  const ws = t.paths.get("ws")!;
  assert.equal(ws.max_frame_size, 1048576);
  assert.equal(ws.ping_size, 12);
  assert.equal(ws.open_handshake_timeout, 2500); // milliseconds, as Crossbar
  assert.equal(ws.close_handshake_timeout, 1000);
  assert.equal(ws.ping_interval, 10); // seconds, from 10000 ms
  assert.equal(ws.ping_timeout, 5000);
  // options that say what Switchboard does anyway: silent
  const same = parseConfig(config({
    validate_utf8: true,
    tcp_nodelay: true,
    auto_fragment_size: 0,
    fail_by_drop: false,
    enable_hybi10: true,
    enable_rfc6455: true,
    require_masked_client_frames: true,
    mask_server_frames: false,
    enable_webstatus: false,
    auto_ping_restart_on_any_traffic: true,
  }));
  assert.deepEqual(same.warnings, []);
  // and those that do not: one warning each
  const differ = parseConfig(config({
    validate_utf8: false,
    enable_webstatus: true,
    external_port: 443,
    echo_close_codereason: true,
    show_server_version: true,
    flash_policy: {},
  }));
  assert.deepEqual(differ.warnings?.map((w) => w.path.slice(options.length + 1)), [
    "enable_webstatus",
    "external_port",
    "validate_utf8",
    "echo_close_codereason",
    "flash_policy",
    "show_server_version",
  ]);
});

Deno.test("config: WebSocket option errors name their path; RawSocket refuses them", () => {
  const options = "workers[0].transports[0].paths.ws.options";
  const cases: [D, string, RegExp][] = [
    [{ auto_ping_size: 5 }, `${options}.auto_ping_size`, /between 12 and 125/],
    [{ auto_ping_size: 126 }, `${options}.auto_ping_size`, /between 12 and 125/],
    [{ max_frame_size: -1 }, `${options}.max_frame_size`, /0 \(no limit\)/],
    [{ allowed_origins: "*" }, `${options}.allowed_origins`, /array/],
    [{ allowed_origins: ["https://x.example/path"] }, `${options}.allowed_origins[0]`, /no path/],
    [{ allow_null_origin: "yes" }, `${options}.allow_null_origin`, /boolean/],
    [{ require_websocket_subprotocol: 0 }, `${options}.require_websocket_subprotocol`, /boolean/],
    [{ compression: true }, `${options}.compression`, /object/],
    [{ fail_by_drop: 1 }, `${options}.fail_by_drop`, /boolean/],
    [{ not_an_option: 1 }, `${options}.not_an_option`, /unknown key/],
  ];
  for (const [opts, path, reason] of cases) {
    let caught: unknown;
    try {
      parseConfig(config(opts));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigError, `${path}: ${String(caught)}`);
    assert.equal(caught.path, path);
    assert.match(caught.reason, reason);
  }
  let caught: unknown;
  try {
    parseConfig({
      workers: [{
        type: "router",
        realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
        transports: [{
          type: "rawsocket",
          endpoint: { type: "tcp", port: 0 },
          options: { allowed_origins: ["*"] },
        }],
      }],
    });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError);
  assert.equal(caught.path, "workers[0].transports[0].options.allowed_origins");
  assert.match(caught.reason, /WebSocket option/);
});

Deno.test("Router.handler(): require_websocket_subprotocol false and allowed origins in Deno.serve", async () => {
  const router = createRouter(config({
    require_websocket_subprotocol: false,
    allowed_origins: ["https://app.example.com"],
  }));
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => resolve(addr as Deno.NetAddr) },
    router.handler(),
  );
  try {
    const url = `ws://127.0.0.1:${(await promise).port}/ws`;
    const bare = await joinWith(url, { origin: "https://app.example.com" });
    assert.equal(bare.welcome[0], 2);
    assert.equal(bare.protocol, "");
    const offered = await joinWith(url, {}, ["wamp.2.json"]);
    assert.equal(offered.protocol, "wamp.2.json");
    await assert.rejects(joinWith(url, { origin: "https://evil.example.net" }), /HTTP 403/);
  } finally {
    await router.close(100);
    await server.shutdown();
  }
});
