/**
 * Bad input ends only the offending session with ABORT wamp.error.protocol_violation and a
 * close; after each case a new session works and an existing one is unaffected.
 */

import assert from "node:assert/strict";
import { createRouter } from "../mod.ts";
import { routerInternals } from "../src/router/router.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

async function expectViolation(c: RawClient, pattern: RegExp): Promise<void> {
  const abort = await c.next();
  assert.equal(abort[0], 3, `expected ABORT, got ${JSON.stringify(abort)}`);
  assert.equal(abort[2], "wamp.error.protocol_violation");
  const message = (abort[1] as { message?: string }).message ?? "";
  assert.match(message, pattern);
  await c.closed();
}

async function stillWorks(url: string, bystander: RawClient): Promise<void> {
  // A new session joins and round-trips a call to the bystander's procedure.
  await using fresh = (await RawClient.join(url, "msgpack")).client;
  fresh.send([48, 1, {}, "com.bystander.ping", ["x"]]);
  const inv = await bystander.nextOf(68);
  bystander.send([70, inv[1], {}, ["pong"]]);
  const result = await fresh.nextOf(50);
  assert.deepEqual(result[3], ["pong"]);
}

Deno.test("bad input: each case aborts only the offending session", async (t) => {
  await using r = await startRouter(testConfig({}, []));
  await using bystander = (await RawClient.join(r.url, "json")).client;
  bystander.send([64, 1, {}, "com.bystander.ping"]);
  assert.equal((await bystander.next())[0], 65);

  const cases: {
    name: string;
    serializer?: "json" | "msgpack" | "cbor";
    join?: boolean;
    act: (c: RawClient) => void;
    expect: RegExp;
  }[] = [
    { name: "malformed JSON", act: (c) => c.sendRaw('[1, "realm1", {'), expect: /malformed json/i },
    {
      name: "malformed msgpack",
      serializer: "msgpack",
      act: (c) => c.sendRaw(new Uint8Array([0x93, 0x01, 0xa6, 0x72])),
      expect: /malformed msgpack/i,
    },
    {
      name: "binary frame on JSON",
      act: (c) => c.sendRaw(new Uint8Array([0x5b, 0x31, 0x5d])),
      expect: /binary frame/,
    },
    {
      name: "text frame on CBOR",
      serializer: "cbor",
      act: (c) => c.sendRaw("[1]"),
      expect: /text frame/,
    },
    { name: "unknown message type", act: (c) => c.send([99, "x"]), expect: /unknown message type/ },
    {
      name: "not an array",
      act: (c) => c.send({ a: 1 } as unknown as unknown[]),
      expect: /non-empty array/,
    },
    { name: "empty array", act: (c) => c.send([]), expect: /non-empty array/ },
    {
      name: "wrong field type",
      join: true,
      act: (c) => c.send([32, "one", {}, "com.topic"]),
      expect: /SUBSCRIBE\.request must be an id/,
    },
    {
      name: "wrong arity",
      join: true,
      act: (c) => c.send([16, 1, {}]),
      expect: /PUBLISH must have/,
    },
    {
      name: "message before HELLO",
      act: (c) => c.send([16, 1, {}, "com.topic"]),
      expect: /PUBLISH received before HELLO/,
    },
    {
      name: "second HELLO",
      join: true,
      act: (c) => c.send([1, "realm1", { roles: { caller: {} } }]),
      expect: /HELLO received on an established session/,
    },
    {
      name: "router-only message from a client",
      join: true,
      act: (c) => c.send([36, 1, 2, {}]),
      expect: /EVENT is not a message a client may send/,
    },
    {
      name: "ERROR for a non-INVOCATION request",
      join: true,
      act: (c) => c.send([8, 48, 1, {}, "com.error"]),
      expect: /only for INVOCATION/,
    },
    {
      name: "HELLO without roles",
      act: (c) => c.send([1, "realm1", {}]),
      expect: /roles/,
    },
  ];

  for (const tc of cases) {
    await t.step(tc.name, async () => {
      const c = tc.join
        ? (await RawClient.join(r.url, tc.serializer ?? "json")).client
        : await RawClient.connect(r.url, tc.serializer ?? "json");
      await using _c = c;
      tc.act(c);
      await expectViolation(c, tc.expect);
      await stillWorks(r.url, bystander);
    });
  }
});

Deno.test("bad input: oversized message (configurable limit) aborts the session", async () => {
  const config = testConfig();
  const ws = (config.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>)
    .ws!;
  ws.options = { max_message_size: 1024 };
  await using r = await startRouter(config);
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([16, 1, {}, "com.topic", ["x".repeat(2000)]]);
  await expectViolation(c, /exceeds the limit of 1024 bytes/);
  await using again = (await RawClient.join(r.url, "json")).client;
  again.send([16, 2, { acknowledge: true }, "com.topic", ["small"]]);
  assert.equal((await again.next())[0], 17);
});

Deno.test("bad input: default message limit is 1 MiB", () => {
  const router = createRouter(testConfig());
  const web = router.config.transports[0]!;
  assert.equal(web.type, "web");
  const ws = web.paths.get("ws")!;
  assert.equal(ws.max_message_size, 1024 * 1024);
});

Deno.test("an internal error ends only the session that caused it", async () => {
  await using r = await startRouter();
  const realm = routerInternals(r.router).realm("realm1")!;
  const original = realm.broker.publish.bind(realm.broker);
  realm.broker.publish = (publisher, msg, disclose) => {
    if (msg.topic === "com.trigger.bug") throw new TypeError("simulated bug");
    return original(publisher, msg, disclose);
  };
  await using other = (await RawClient.join(r.url, "json")).client;
  await using victim = (await RawClient.join(r.url, "msgpack")).client;
  victim.send([16, 1, { acknowledge: true }, "com.trigger.bug", []]);
  const abort = await victim.next();
  assert.equal(abort[0], 3);
  assert.equal(abort[2], "wamp.error.runtime_error");
  await victim.closed();
  other.send([16, 2, { acknowledge: true }, "com.fine", []]);
  assert.equal((await other.next())[0], 17);
});
