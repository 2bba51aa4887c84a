/**
 * The WAMP Basic Profile over real WebSockets with raw messages, on every serializer.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

const SERIALIZERS = ["json", "msgpack", "cbor"] as const;
const MAX_SAFE = 2 ** 53;

for (const ser of SERIALIZERS) {
  Deno.test(`basic profile over ${ser}`, async (t) => {
    await using r = await startRouter();

    await t.step("WELCOME announces roles, realm and identity", async () => {
      const joined = await RawClient.join(r.url, ser);
      await using _c = joined.client;
      // deno-lint-ignore no-explicit-any
      const details = joined.welcome[2] as Record<string, any>;
      assert.equal(details.realm, "realm1");
      assert.equal(details.authrole, "anonymous");
      assert.equal(details.authmethod, "anonymous");
      assert.match(details.authid, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){5}$/);
      assert.ok(details.roles.broker.features);
      assert.ok(details.roles.dealer.features);
      const id = joined.session;
      assert.ok(Number.isInteger(id) && id >= 1 && id <= MAX_SAFE);
    });

    await t.step("pub/sub with args/kwargs round trip and acknowledge", async () => {
      await using sub = (await RawClient.join(r.url, ser)).client;
      await using pub = (await RawClient.join(r.url, ser)).client;
      sub.send([32, 1, {}, "com.example.topic"]);
      const subscribed = await sub.next();
      assert.equal(subscribed[0], 33);
      assert.equal(subscribed[1], 1);
      const args = ["héllo wörld ✓ 𝄞", MAX_SAFE, -1.5, { nested: [1, { deep: true }] }, null];
      const kwargs = { k: "v", big: MAX_SAFE, list: [1, 2, 3] };
      pub.send([16, 7, { acknowledge: true }, "com.example.topic", args, kwargs]);
      const published = await pub.next();
      assert.equal(published[0], 17);
      assert.equal(published[1], 7);
      const event = await sub.next();
      assert.equal(event[0], 36);
      assert.equal(event[1], subscribed[2]);
      assert.equal(event[2], published[2]);
      assert.deepEqual(event[4], args);
      assert.deepEqual(event[5], kwargs);
      // publisher exclusion (default): the publisher subscribed too, but gets nothing
      pub.send([32, 2, {}, "com.example.topic"]);
      assert.equal((await pub.next())[0], 33);
      pub.send([16, 8, {}, "com.example.topic", ["again"]]);
      assert.deepEqual((await sub.next())[4], ["again"]);
      assert.deepEqual(await pub.quiet(), []);
      // unsubscribe, then unknown subscription
      sub.send([34, 2, subscribed[2]]);
      assert.deepEqual(await sub.next(), [35, 2]);
      sub.send([34, 3, subscribed[2]]);
      const err = await sub.next();
      assert.equal(err[0], 8);
      assert.equal(err[1], 34);
      assert.equal(err[2], 3);
      assert.equal(err[4], "wamp.error.no_such_subscription");
    });

    await t.step("RPC, error propagation, unregister", async () => {
      await using callee = (await RawClient.join(r.url, ser)).client;
      await using caller = (await RawClient.join(r.url, ser)).client;
      callee.send([64, 1, {}, "com.example.add"]);
      const registered = await callee.next();
      assert.equal(registered[0], 65);
      caller.send([48, 1, {}, "com.example.add", [2, 3], { scale: 10 }]);
      const inv = await callee.next();
      assert.equal(inv[0], 68);
      assert.equal(inv[2], registered[2]);
      assert.deepEqual(inv[4], [2, 3]);
      assert.deepEqual(inv[5], { scale: 10 });
      callee.send([70, inv[1], {}, [50], { unit: "x" }]);
      assert.deepEqual(await caller.next(), [50, 1, {}, [50], { unit: "x" }]);
      // application error
      caller.send([48, 2, {}, "com.example.add", ["a"]]);
      const inv2 = await callee.next();
      callee.send([8, 68, inv2[1], {}, "com.example.error.bad_input", ["not a number"], {
        got: "a",
      }]);
      assert.deepEqual(await caller.next(), [8, 48, 2, {}, "com.example.error.bad_input", [
        "not a number",
      ], {
        got: "a",
      }]);
      // duplicate registration
      caller.send([64, 3, {}, "com.example.add"]);
      const dup = await caller.next();
      assert.equal(dup[4], "wamp.error.procedure_already_exists");
      // unregister, then the call fails, and unknown unregister fails
      callee.send([66, 2, registered[2]]);
      assert.deepEqual(await callee.next(), [67, 2]);
      caller.send([48, 4, {}, "com.example.add", [1, 1]]);
      const noProc = await caller.next();
      assert.equal(noProc[0], 8);
      assert.equal(noProc[4], "wamp.error.no_such_procedure");
      callee.send([66, 3, registered[2]]);
      assert.equal((await callee.next())[4], "wamp.error.no_such_registration");
    });

    await t.step(
      "a callee that leaves fails its pending calls with wamp.error.canceled",
      async () => {
        const callee = (await RawClient.join(r.url, ser)).client;
        await using caller = (await RawClient.join(r.url, ser)).client;
        callee.send([64, 1, {}, "com.example.slow"]);
        await callee.next();
        caller.send([48, 9, {}, "com.example.slow"]);
        await callee.next();
        await callee[Symbol.asyncDispose]();
        const err = await caller.next();
        assert.equal(err[0], 8);
        assert.equal(err[2], 9);
        assert.equal(err[4], "wamp.error.canceled");
      },
    );

    await t.step("GOODBYE is answered with GOODBYE and the transport can join again", async () => {
      await using c = (await RawClient.join(r.url, ser)).client;
      c.send([6, {}, "wamp.close.close_realm"]);
      const bye = await c.next();
      assert.deepEqual(bye, [6, {}, "wamp.close.goodbye_and_out"]);
      c.send([1, "realm1", { roles: { subscriber: {} } }]);
      assert.equal((await c.next())[0], 2);
    });

    await t.step("unknown realm gets ABORT wamp.error.no_such_realm", async () => {
      await using c = await RawClient.connect(r.url, ser);
      c.send([1, "nope.realm", { roles: { caller: {} } }]);
      const abort = await c.next();
      assert.equal(abort[0], 3);
      assert.equal(abort[2], "wamp.error.no_such_realm");
      await c.closed();
    });

    await t.step(
      "clients may not publish to or register wamp.* URIs, but may subscribe",
      async () => {
        await using c = (await RawClient.join(r.url, ser)).client;
        c.send([16, 1, { acknowledge: true }, "wamp.session.on_join", []]);
        assert.equal((await c.next())[4], "wamp.error.invalid_uri");
        c.send([64, 2, {}, "wamp.session.count"]);
        assert.equal((await c.next())[4], "wamp.error.invalid_uri");
        c.send([32, 3, {}, "wamp.session.on_join"]);
        assert.equal((await c.next())[0], 33);
        c.send([16, 4, { acknowledge: true }, "bad uri#x", []]);
        assert.equal((await c.next())[4], "wamp.error.invalid_uri");
      },
    );
  });
}

Deno.test("cross-serializer delivery: msgpack publisher, json and cbor subscribers", async () => {
  await using r = await startRouter();
  await using js = (await RawClient.join(r.url, "json")).client;
  await using cb = (await RawClient.join(r.url, "cbor")).client;
  await using mp = (await RawClient.join(r.url, "msgpack")).client;
  js.send([32, 1, {}, "com.x"]);
  cb.send([32, 1, {}, "com.x"]);
  await js.next();
  await cb.next();
  const bytes = new Uint8Array([0x10, 0xe3, 0xff, 0x90]);
  mp.send([16, 1, {}, "com.x", ["ü", MAX_SAFE, bytes], { big: 1574688364518998111n }]);
  for (const c of [js, cb]) {
    const ev = await c.next();
    assert.equal(ev[4] && (ev[4] as unknown[])[0], "ü");
    assert.equal((ev[4] as unknown[])[1], MAX_SAFE);
    assert.deepEqual((ev[4] as unknown[])[2], bytes);
    assert.equal((ev[5] as Record<string, unknown>).big, 1574688364518998111n);
  }
});

Deno.test("permission denial gives wamp.error.not_authorized", async () => {
  await using r = await startRouter(testConfig({
    roles: [{
      name: "anonymous",
      permissions: [
        {
          uri: "com.open.",
          match: "prefix",
          allow: { call: true, subscribe: true, publish: true },
        },
        { uri: "com.open..admin", match: "wildcard", allow: {} },
      ],
    }],
  }));
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([32, 1, {}, "com.closed.topic"]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
  c.send([64, 2, {}, "com.open.proc"]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
  c.send([16, 3, { acknowledge: true }, "com.open.x.admin", []]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
  c.send([16, 4, { acknowledge: true }, "com.open.x.user", []]);
  assert.equal((await c.next())[0], 17);
  // unacknowledged denied publish: silence
  c.send([16, 5, {}, "com.closed.topic", []]);
  assert.deepEqual(await c.quiet(), []);
});

Deno.test("HTTP: no supported subprotocol gets 400, other paths 404", async () => {
  await using r = await startRouter();
  const plain = await fetch(r.url.replace("ws://", "http://"));
  assert.equal(plain.status, 400);
  assert.match(await plain.text(), /WebSocket/);
  const other = await fetch(`http://127.0.0.1:${r.port}/elsewhere`);
  assert.equal(other.status, 404);
  await other.body?.cancel();
  await assert.rejects(async () => {
    const ws = new WebSocket(r.url, ["wamp.2.ubjson"]);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("rejected"));
    });
  });
  // the same check as a raw request, to read the plain reason
  const res = await fetch(`http://127.0.0.1:${r.port}/ws`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-protocol": "wamp.2.ubjson",
    },
  });
  assert.equal(res.status, 400);
  assert.match(
    await res.text(),
    /No supported WAMP subprotocol offered.*wamp\.2\.ubjson.*wamp\.2\.json/s,
  );
});

Deno.test("HTTP: subprotocol offers without spaces after commas are negotiated", async () => {
  await using r = await startRouter();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  const request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.ubjson.batched,wamp.2.msgpack,wamp.2.json\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(2048);
  const n = await conn.read(buf);
  const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
  conn.close();
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.match(head, /sec-websocket-protocol: wamp\.2\.msgpack\r\n/i);
});

Deno.test("the transport's configured anonymous role and authid are used", async () => {
  const config = testConfig({
    roles: [{
      name: "guest",
      permissions: [{ uri: "com.", match: "prefix", allow: { publish: true } }],
    }],
  });
  const ws = (config.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>)
    .ws!;
  ws.auth = { anonymous: { type: "static", role: "guest", authid: "visitor" } };
  await using r = await startRouter(config);
  const j = await RawClient.join(r.url, "json");
  await using c = j.client;
  const details = j.welcome[2] as Record<string, unknown>;
  assert.equal(details.authrole, "guest");
  assert.equal(details.authid, "visitor");
  c.send([16, 1, { acknowledge: true }, "com.ok", []]);
  assert.equal((await c.next())[0], 17);
  c.send([32, 2, {}, "com.ok"]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
});

Deno.test("uri_check strict rejects what loose accepts", async () => {
  await using r = await startRouter(testConfig({ options: { uri_check: "strict" } }));
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([16, 1, { acknowledge: true }, "com.Example.Topic", []]);
  assert.equal((await c.next())[4], "wamp.error.invalid_uri");
  c.send([16, 2, { acknowledge: true }, "com.example.topic_1", []]);
  assert.equal((await c.next())[0], 17);
  await using r2 = await startRouter();
  await using l = (await RawClient.join(r2.url, "json")).client;
  l.send([16, 1, { acknowledge: true }, "com.Example.Topic", []]);
  assert.equal((await l.next())[0], 17);
});
