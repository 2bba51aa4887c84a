/**
 * Dynamic authenticators: WAMP procedures, registered by a component, that decide who may
 * join (Crossbar's `{"type": "dynamic", "authenticator": "<procedure>"}`).
 */

import assert from "node:assert/strict";
import { WampError } from "../mod.ts";
import { craKey, craSign } from "./_cra.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;

function config(auth: D) {
  const c = testConfig({
    roles: [
      {
        name: "user",
        permissions: [{ uri: "com.", match: "prefix", allow: { call: true, publish: true } }],
      },
      {
        name: "backend",
        permissions: [{ uri: "", match: "prefix", allow: { register: true, call: true } }],
      },
    ],
  });
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, D>).ws!;
  ws.auth = auth;
  return c;
}

Deno.test("dynamic ticket authenticator: accepts, denies with its own error, gets Crossbar's arguments", async () => {
  await using r = await startRouter(config({
    ticket: { type: "dynamic", authenticator: "com.example.authenticate" },
  }));
  const backend = await r.router.session("realm1", { authrole: "backend", authid: "auth-service" });
  const seen: unknown[][] = [];
  await backend.register("com.example.authenticate", (args) => {
    seen.push(args);
    const [, authid, details] = args as [string, string, D];
    if (details.ticket === "good") return { role: "user", extra: { greeting: `hi ${authid}` } };
    throw new WampError("com.example.invalid_ticket", "wrong ticket");
  });
  for (const ser of ["json", "msgpack"] as const) {
    const c = await RawClient.connect(r.url, ser);
    c.send([1, "realm1", { roles: { caller: {} }, authmethods: ["ticket"], authid: "alice" }]);
    assert.deepEqual(await c.next(), [4, "ticket", {}]);
    c.send([5, "good", {}]);
    const welcome = await c.next();
    assert.equal(welcome[0], 2);
    const d = welcome[2] as D;
    assert.equal(d.authid, "alice");
    assert.equal(d.authrole, "user");
    assert.equal(d.authmethod, "ticket");
    assert.equal(d.authprovider, "dynamic");
    assert.deepEqual(d.authextra, { greeting: "hi alice" });
    await c[Symbol.asyncDispose]();

    const bad = await RawClient.connect(r.url, ser);
    bad.send([1, "realm1", { roles: { caller: {} }, authmethods: ["ticket"], authid: "mallory" }]);
    await bad.next();
    bad.send([5, "bad", {}]);
    const abort = await bad.next();
    assert.equal(abort[0], 3);
    assert.equal(abort[2], "com.example.invalid_ticket");
    await bad.closed();
  }
  const [realm, authid, details] = seen[0] as [string, string, D];
  assert.equal(realm, "realm1");
  assert.equal(authid, "alice");
  assert.equal(details.authmethod, "ticket");
  assert.equal(details.ticket, "good");
  assert.equal(typeof details.session, "number");
  await backend.close();
});

Deno.test("dynamic wampcra authenticator supplies the secret; unavailable authenticator fails clearly", async () => {
  await using r = await startRouter(config({
    wampcra: { type: "dynamic", authenticator: "com.example.cra" },
  }));
  // no authenticator registered yet
  const early = await RawClient.connect(r.url, "json");
  early.send([1, "realm1", { roles: { caller: {} }, authmethods: ["wampcra"], authid: "bob" }]);
  const a = await early.next();
  assert.equal(a[0], 3);
  assert.equal(a[2], "wamp.error.authentication_failed");
  await early.closed();

  const backend = await r.router.session("realm1", { authrole: "backend" });
  await backend.register("com.example.cra", (args) => {
    const authid = args[1];
    if (authid === "bob") {
      return { role: "user", secret: "pw", salt: "s4lt", iterations: 10, keylen: 32 };
    }
    throw new WampError("wamp.error.not_authorized", "unknown user");
  });
  const c = await RawClient.connect(r.url, "msgpack");
  c.send([1, "realm1", { roles: { caller: {} }, authmethods: ["wampcra"], authid: "bob" }]);
  const challenge = await c.next();
  assert.equal(challenge[1], "wampcra");
  const extra = challenge[2] as D;
  assert.equal(extra.salt, "s4lt");
  // the challenge names the role HELLO asked for (none here), not the one the authenticator gave
  assert.equal(JSON.parse(extra.challenge as string).authrole, null);
  const key = await craKey({ secret: "pw", salt: "s4lt", iterations: 10, keylen: 32 });
  c.send([5, await craSign(key, extra.challenge as string), {}]);
  const welcome = await c.next();
  assert.equal(welcome[0], 2);
  assert.equal((welcome[2] as D).authrole, "user");
  await c[Symbol.asyncDispose]();
  await backend.close();
});
