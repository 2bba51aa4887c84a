/**
 * Features that were implemented but untested: `wamp.session.kill_by_authid` and
 * `wamp.session.kill_by_authrole`, shared registrations with `invoke: "random"`, dynamic
 * authenticators (ticket and cryptosign) registered by a client connected over a real WebSocket
 * on a separate authenticator realm, and the HTTP bridge's 504 for a call whose callee never
 * answers.
 */

import assert from "node:assert/strict";
import { hex, newEdKey, RawClient, startRouter, testConfig, unhex } from "./_helpers.ts";
import type { SerializerName } from "../src/serializer/serializer.ts";

type D = Record<string, unknown>;

const HELLO = 1, WELCOME = 2, ABORT = 3, CHALLENGE = 4, AUTHENTICATE = 5, GOODBYE = 6;
const ERROR = 8, CALL = 48, RESULT = 50, REGISTER = 64, REGISTERED = 65;
const INVOCATION = 68, INTERRUPT = 69, YIELD = 70;

const ROLES = {
  publisher: {},
  subscriber: {},
  caller: { features: { call_canceling: true, progressive_call_results: true } },
  callee: { features: { call_canceling: true, progressive_call_results: true } },
};

/** Sends CALL `req` and returns the RESULT or ERROR answering it (other messages are kept). */
async function call(
  c: RawClient,
  req: number,
  procedure: string,
  args: unknown[] = [],
  kwargs: D = {},
): Promise<unknown[]> {
  c.send([CALL, req, {}, procedure, args, kwargs]);
  for (;;) {
    const m = await c.next();
    if ((m[0] === RESULT && m[1] === req) || (m[0] === ERROR && m[1] === CALL && m[2] === req)) {
      return m;
    }
    c.skipped.push(m);
  }
}

/** Asserts that `c` is still a live session: a CALL gets an ERROR reply, nothing else came. */
async function assertAlive(c: RawClient, req: number): Promise<void> {
  assert.deepEqual(c.received, [], "the session received something unexpected");
  c.send([CALL, req, {}, "com.example.nothing_here"]);
  const m = await c.next();
  assert.deepEqual(m.slice(0, 5), [ERROR, CALL, req, {}, "wamp.error.no_such_procedure"]);
}

/**
 * Answers every INVOCATION `c` receives with `answer(invocation)` until its socket closes;
 * resolves to the invocations handled. Other messages go to `c.skipped`.
 */
function serve(
  c: RawClient,
  answer: (inv: unknown[]) => unknown[] | null | Promise<unknown[] | null>,
): Promise<unknown[][]> {
  return (async () => {
    const seen: unknown[][] = [];
    for (;;) {
      let m: unknown[];
      try {
        m = await c.next(60_000);
      } catch {
        return seen; // the socket closed
      }
      if (m[0] !== INVOCATION) {
        c.skipped.push(m);
        continue;
      }
      seen.push(m);
      const reply = await answer(m);
      if (reply) c.send(reply);
    }
  })();
}

// ---------------------------------------------------------------------------------------------
// 1. wamp.session.kill_by_authid / kill_by_authrole

/** realm1 with ticket principals: alice and bob are admins, carol a user, dave a guest. */
function killConfig() {
  const c = testConfig({
    roles: [
      {
        name: "admin",
        permissions: [{ uri: "", match: "prefix", allow: { call: true, subscribe: true } }],
      },
      { name: "user", permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }] },
      { name: "guest", permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }] },
    ],
  });
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, D>).ws!;
  ws.auth = {
    ticket: {
      type: "static",
      principals: {
        alice: { ticket: "alice-ticket", role: "admin" },
        bob: { ticket: "bob-ticket", role: "admin" },
        carol: { ticket: "carol-ticket", role: "user" },
        dave: { ticket: "dave-ticket", role: "guest" },
      },
    },
  };
  return c;
}

/** Joins realm1 with ticket authentication as `authid`; returns the client and session id. */
async function ticketJoin(url: string, authid: string, ser: SerializerName = "json") {
  const c = await RawClient.connect(url, ser);
  c.send([HELLO, "realm1", { roles: ROLES, authmethods: ["ticket"], authid }]);
  assert.deepEqual(await c.next(), [CHALLENGE, "ticket", {}]);
  c.send([AUTHENTICATE, `${authid}-ticket`, {}]);
  const welcome = await c.next();
  assert.equal(welcome[0], WELCOME, JSON.stringify(welcome));
  assert.equal((welcome[2] as D).authid, authid);
  return { client: c, session: welcome[1] as number };
}

/** The GOODBYE a killed session gets; it answers it as the spec asks. */
async function expectKilled(c: RawClient): Promise<unknown[]> {
  const m = await c.next();
  assert.equal(m[0], GOODBYE, JSON.stringify(m));
  c.send([GOODBYE, {}, "wamp.close.goodbye_and_out"]);
  return m;
}

async function sessionList(admin: RawClient, req: number): Promise<number[]> {
  const list = await call(admin, req, "wamp.session.list");
  assert.equal(list[0], RESULT, JSON.stringify(list));
  return [...(list[3] as number[][])[0]!].sort((a, b) => a - b);
}

const ascending = (ids: number[]) => [...ids].sort((a, b) => a - b);

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`kill_by_authid over ${ser}: kills the authid's other sessions, returns their ids`, async () => {
    await using r = await startRouter(killConfig());
    const { client: a1, session: a1Id } = await ticketJoin(r.url, "alice", ser);
    await using _a1 = a1;
    const { client: a2, session: a2Id } = await ticketJoin(r.url, "alice", ser);
    await using _a2 = a2;
    const { client: a3, session: a3Id } = await ticketJoin(r.url, "alice", ser);
    await using _a3 = a3;
    const { client: bob, session: bobId } = await ticketJoin(r.url, "bob", ser);
    await using _bob = bob;
    const { client: carol, session: carolId } = await ticketJoin(r.url, "carol", ser);
    await using _carol = carol;

    // A role without permission to call it is refused, and nobody is killed.
    const denied = await call(carol, 1, "wamp.session.kill_by_authid", ["alice"]);
    assert.deepEqual(denied.slice(0, 5), [ERROR, CALL, 1, {}, "wamp.error.not_authorized"]);
    assert.deepEqual(
      await sessionList(a1, 2),
      ascending([a1Id, a2Id, a3Id, bobId, carolId]),
    );

    // An invalid reason is refused before anyone is killed.
    const badReason = await call(a1, 3, "wamp.session.kill_by_authid", ["carol"], {
      reason: "not a uri",
    });
    assert.deepEqual(badReason.slice(0, 5), [ERROR, CALL, 3, {}, "wamp.error.invalid_uri"]);
    const badArg = await call(a1, 4, "wamp.session.kill_by_authid", [42]);
    assert.deepEqual(badArg.slice(0, 5), [ERROR, CALL, 4, {}, "wamp.error.invalid_argument"]);
    await assertAlive(carol, 5);

    // The caller is alice too: the other two alice sessions go, the caller stays.
    const res = await call(a1, 6, "wamp.session.kill_by_authid", ["alice"], {
      reason: "com.example.kicked",
      message: "bye, alice",
    });
    assert.equal(res[0], RESULT, JSON.stringify(res));
    assert.equal((res[3] as unknown[]).length, 1);
    assert.deepEqual(ascending((res[3] as number[][])[0]!), ascending([a2Id, a3Id]));
    for (const killed of [a2, a3]) {
      assert.deepEqual(await expectKilled(killed), [
        GOODBYE,
        { message: "bye, alice" },
        "com.example.kicked",
      ]);
    }
    assert.deepEqual(await sessionList(a1, 7), ascending([a1Id, bobId, carolId]));
    await assertAlive(a1, 8);
    await assertAlive(bob, 9);
    await assertAlive(carol, 10);

    // Without reason and message: wamp.close.killed and no message.
    const res2 = await call(a1, 11, "wamp.session.kill_by_authid", ["bob"]);
    assert.deepEqual(res2, [RESULT, 11, {}, [[bobId]]]);
    assert.deepEqual(await expectKilled(bob), [GOODBYE, {}, "wamp.close.killed"]);

    // Nobody with that authid, and only the caller itself: empty list, caller untouched.
    assert.deepEqual(await call(a1, 12, "wamp.session.kill_by_authid", ["nobody"]), [
      RESULT,
      12,
      {},
      [[]],
    ]);
    assert.deepEqual(await call(a1, 13, "wamp.session.kill_by_authid", ["alice"]), [
      RESULT,
      13,
      {},
      [[]],
    ]);
    assert.deepEqual(await sessionList(a1, 14), ascending([a1Id, carolId]));
    await assertAlive(a1, 15);
    await assertAlive(carol, 16);
  });
}

Deno.test("kill_by_authrole: kills the role's other sessions, returns how many", async () => {
  await using r = await startRouter(killConfig());
  const { client: a1, session: a1Id } = await ticketJoin(r.url, "alice");
  await using _a1 = a1;
  const { client: a2 } = await ticketJoin(r.url, "alice", "msgpack");
  await using _a2 = a2;
  const { client: bob } = await ticketJoin(r.url, "bob");
  await using _bob = bob;
  const { client: c1 } = await ticketJoin(r.url, "carol");
  await using _c1 = c1;
  const { client: c2 } = await ticketJoin(r.url, "carol", "msgpack");
  await using _c2 = c2;
  const { client: dave, session: daveId } = await ticketJoin(r.url, "dave");
  await using _dave = dave;

  // Roles without permission (user, guest) are refused; nobody is killed.
  const denied = await call(dave, 1, "wamp.session.kill_by_authrole", ["admin"]);
  assert.deepEqual(denied.slice(0, 5), [ERROR, CALL, 1, {}, "wamp.error.not_authorized"]);
  const denied2 = await call(c1, 2, "wamp.session.kill_by_authrole", ["guest"]);
  assert.deepEqual(denied2.slice(0, 5), [ERROR, CALL, 2, {}, "wamp.error.not_authorized"]);
  assert.equal((await sessionList(a1, 3)).length, 6);
  const badArg = await call(a1, 4, "wamp.session.kill_by_authrole", [["user"]]);
  assert.deepEqual(badArg.slice(0, 5), [ERROR, CALL, 4, {}, "wamp.error.invalid_argument"]);

  // The caller is an admin: the other admins (alice's second session, bob) go, with the default
  // reason; the caller stays.
  assert.deepEqual(await call(a1, 5, "wamp.session.kill_by_authrole", ["admin"]), [
    RESULT,
    5,
    {},
    [2],
  ]);
  for (const killed of [a2, bob]) {
    assert.deepEqual(await expectKilled(killed), [GOODBYE, {}, "wamp.close.killed"]);
  }
  await assertAlive(a1, 6);
  await assertAlive(c1, 7);
  await assertAlive(c2, 8);
  await assertAlive(dave, 9);

  // Another role, with reason and message; the guest is untouched.
  assert.deepEqual(
    await call(a1, 10, "wamp.session.kill_by_authrole", ["user"], {
      reason: "com.example.maintenance",
      message: "back soon",
    }),
    [RESULT, 10, {}, [2]],
  );
  for (const killed of [c1, c2]) {
    assert.deepEqual(await expectKilled(killed), [
      GOODBYE,
      { message: "back soon" },
      "com.example.maintenance",
    ]);
  }
  assert.deepEqual(await sessionList(a1, 11), ascending([a1Id, daveId]));
  await assertAlive(dave, 12);

  // No such role, and the caller's own role with nobody else in it: 0.
  assert.deepEqual(await call(a1, 13, "wamp.session.kill_by_authrole", ["nobody"]), [
    RESULT,
    13,
    {},
    [0],
  ]);
  assert.deepEqual(await call(a1, 14, "wamp.session.kill_by_authrole", ["admin"]), [
    RESULT,
    14,
    {},
    [0],
  ]);
  await assertAlive(a1, 15);
  await assertAlive(dave, 16);
});

// ---------------------------------------------------------------------------------------------
// 2. Shared registration, invoke "random"

Deno.test("shared registration with invoke random: both callees serve, every call answered", async () => {
  await using r = await startRouter();
  const callees: RawClient[] = [];
  const served: Promise<unknown[][]>[] = [];
  const registrations: unknown[] = [];
  for (const name of ["a", "b"]) {
    const c = (await RawClient.join(r.url, "json")).client;
    callees.push(c);
    c.send([REGISTER, 1, { invoke: "random" }, "com.example.shared"]);
    const reg = await c.next();
    assert.equal(reg[0], REGISTERED, JSON.stringify(reg));
    registrations.push(reg[2]);
    served.push(serve(c, (inv) => [YIELD, inv[1], {}, [name, ...(inv[4] as unknown[])]]));
  }
  assert.equal(registrations[0], registrations[1], "one shared registration");
  try {
    await using caller = (await RawClient.join(r.url, "msgpack")).client;
    const N = 200;
    for (let i = 1; i <= N; i++) caller.send([CALL, i, {}, "com.example.shared", [i]]);
    const picks: string[] = new Array(N + 1);
    for (let n = 0; n < N; n++) {
      const m = await caller.next();
      assert.equal(m[0], RESULT, JSON.stringify(m));
      const req = m[1] as number;
      const [who, echoed] = m[3] as [string, number];
      assert.equal(echoed, req, "each call gets its own result");
      assert.equal(picks[req], undefined, `request ${req} answered twice`);
      picks[req] = who;
    }
    const order = picks.slice(1);
    const count = (name: string) => order.filter((p) => p === name).length;
    assert.equal(count("a") + count("b"), N);
    // With a fair random choice: one callee never picked, probability 2^-199; fewer than 40 of
    // 200 (mean 100, standard deviation 7.1), below 1e-15; strict alternation, 2^-199.
    assert.ok(count("a") > 0 && count("b") > 0, `a: ${count("a")}, b: ${count("b")}`);
    assert.ok(count("a") >= 40 && count("b") >= 40, `a: ${count("a")}, b: ${count("b")}`);
    assert.ok(
      order.some((p, i) => i > 0 && p === order[i - 1]),
      "strict alternation: round robin, not random",
    );
    assert.deepEqual(await caller.quiet(50), []);
    for (const c of callees) await c[Symbol.asyncDispose]();
    const [servedA, servedB] = await Promise.all(served);
    assert.equal(servedA!.length, count("a"));
    assert.equal(servedB!.length, count("b"));
  } finally {
    for (const c of callees) await c[Symbol.asyncDispose]();
    await Promise.all(served);
  }
});

// ---------------------------------------------------------------------------------------------
// 3. Dynamic authenticators registered by a connected client

/**
 * realm1 authenticates `/ws` clients (ticket, cryptosign) through `com.example.authenticate` on
 * realm `auth`; `/backend` lets anonymous clients in as `authenticator`, a role that exists only
 * on `auth` and may register the procedure (Crossbar's `authenticator-realm` setup).
 */
function dynamicConfig() {
  const dynamic = {
    type: "dynamic",
    authenticator: "com.example.authenticate",
    "authenticator-realm": "auth",
  };
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [
        {
          name: "realm1",
          roles: [{
            name: "user",
            permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }],
          }],
        },
        {
          name: "auth",
          roles: [{
            name: "authenticator",
            permissions: [{
              uri: "com.example.authenticate",
              match: "exact",
              allow: { register: true },
            }],
          }],
        },
      ],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: {
          ws: {
            type: "websocket",
            serializers: ["json", "msgpack"],
            auth: { ticket: dynamic, cryptosign: dynamic },
            options: { auth_max_failures: 100 },
          },
          backend: {
            type: "websocket",
            serializers: ["json", "msgpack"],
            auth: { anonymous: { type: "static", role: "authenticator" } },
          },
        },
      }],
    }],
  };
}

async function expectAbort(c: RawClient, reason: string): Promise<unknown[]> {
  const m = await c.next();
  assert.equal(m[0], ABORT, JSON.stringify(m));
  assert.equal(m[2], reason);
  await c.closed();
  return m;
}

async function ticketHello(url: string, authid: string, ticket: string, ser: SerializerName) {
  const c = await RawClient.connect(url, ser);
  c.send([HELLO, "realm1", { roles: ROLES, authmethods: ["ticket"], authid }]);
  assert.deepEqual(await c.next(), [CHALLENGE, "ticket", {}]);
  c.send([AUTHENTICATE, ticket, {}]);
  return c;
}

for (const ser of ["json", "msgpack"] as const) {
  Deno.test(`dynamic authenticator on a connected ${ser} client: ticket and cryptosign`, async () => {
    await using r = await startRouter(dynamicConfig());
    const base = `ws://127.0.0.1:${r.port}`;
    const DAVE = await newEdKey();
    const OTHER = await newEdKey();

    // Before any authenticator is registered: authentication_failed.
    {
      const early = await ticketHello(`${base}/ws`, "alice", "alice-ticket", ser);
      await using _early = early;
      await expectAbort(early, "wamp.error.authentication_failed");
    }

    // The authenticator role exists only on realm `auth`.
    {
      await using wrong = await RawClient.connect(`${base}/backend`, ser);
      wrong.send([HELLO, "realm1", { roles: ROLES }]);
      await expectAbort(wrong, "wamp.error.no_such_role");
    }

    const { client: auth, welcome } = await RawClient.join(`${base}/backend`, ser, "auth");
    assert.equal((welcome[2] as D).authrole, "authenticator");
    auth.send([REGISTER, 1, {}, "com.example.authenticate"]);
    const reg = await auth.next();
    assert.equal(reg[0], REGISTERED, JSON.stringify(reg));
    const invocations = serve(auth, (inv) => {
      const [realm, authid, details] = inv[4] as [string, string | null, D];
      const fail = (uri: string, text: string) => [ERROR, INVOCATION, inv[1], {}, uri, [text]];
      if (realm !== "realm1") return fail("com.example.wrong_realm", realm);
      if (details.authmethod === "ticket") {
        if (authid === "alice" && details.ticket === "alice-ticket") {
          return [YIELD, inv[1], {}, [{ role: "user", extra: { greeting: "hi alice" } }]];
        }
        return fail("com.example.invalid_ticket", "wrong ticket");
      }
      if (details.authmethod === "cryptosign") {
        const pubkey = (details.authextra as D).pubkey;
        if (authid === "dave" && pubkey === DAVE.publicHex) {
          return [YIELD, inv[1], {}, [{ role: "user", pubkey: DAVE.publicHex }]];
        }
        if (authid === "eve") {
          // an answer whose key is not the one the client holds
          return [YIELD, inv[1], {}, [{ role: "user", authorized_keys: [OTHER.publicHex] }]];
        }
        return fail("com.example.unknown_key", "unknown key");
      }
      return fail("com.example.unexpected", String(details.authmethod));
    });

    try {
      // ticket: accepted
      {
        await using c = await ticketHello(`${base}/ws`, "alice", "alice-ticket", ser);
        const w = await c.next();
        assert.equal(w[0], WELCOME, JSON.stringify(w));
        const d = w[2] as D;
        assert.equal(d.authid, "alice");
        assert.equal(d.authrole, "user");
        assert.equal(d.authmethod, "ticket");
        assert.equal(d.authprovider, "dynamic");
        assert.deepEqual(d.authextra, { greeting: "hi alice" });
        await assertAlive(c, 1);
      }
      // ticket: rejected with the authenticator's own error URI
      {
        await using c = await ticketHello(`${base}/ws`, "alice", "wrong", ser);
        const abort = await expectAbort(c, "com.example.invalid_ticket");
        assert.equal(typeof (abort[1] as D).message, "string");
      }
      // cryptosign: the answer supplies the key; signature over the challenge → WELCOME
      {
        await using c = await RawClient.connect(`${base}/ws`, ser);
        c.send([HELLO, "realm1", {
          roles: ROLES,
          authmethods: ["cryptosign"],
          authid: "dave",
          authextra: { pubkey: DAVE.publicHex },
        }]);
        const ch = await c.next();
        assert.equal(ch[0], CHALLENGE, JSON.stringify(ch));
        assert.equal(ch[1], "cryptosign");
        const challenge = unhex((ch[2] as D).challenge as string);
        const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", DAVE.privateKey, challenge));
        c.send([AUTHENTICATE, hex(sig) + hex(challenge), {}]);
        const w = await c.next();
        assert.equal(w[0], WELCOME, JSON.stringify(w));
        const d = w[2] as D;
        assert.equal(d.authid, "dave");
        assert.equal(d.authrole, "user");
        assert.equal(d.authmethod, "cryptosign");
        assert.equal(d.authprovider, "dynamic");
        assert.equal((d.authextra as D).pubkey, DAVE.publicHex);
        await assertAlive(c, 1);
      }
      // cryptosign: rejected with the authenticator's own error URI, at HELLO
      {
        await using c = await RawClient.connect(`${base}/ws`, ser);
        c.send([HELLO, "realm1", {
          roles: ROLES,
          authmethods: ["cryptosign"],
          authid: "mallory",
          authextra: { pubkey: OTHER.publicHex },
        }]);
        await expectAbort(c, "com.example.unknown_key");
      }
      // cryptosign: the authenticator authorizes another key → the signature cannot match
      {
        await using c = await RawClient.connect(`${base}/ws`, ser);
        c.send([HELLO, "realm1", {
          roles: ROLES,
          authmethods: ["cryptosign"],
          authid: "eve",
          authextra: { pubkey: DAVE.publicHex },
        }]);
        const ch = await c.next();
        assert.equal(ch[0], CHALLENGE, JSON.stringify(ch));
        const challenge = unhex((ch[2] as D).challenge as string);
        const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", DAVE.privateKey, challenge));
        c.send([AUTHENTICATE, hex(sig) + hex(challenge), {}]);
        await expectAbort(c, "wamp.error.not_authorized");
      }
    } finally {
      await auth[Symbol.asyncDispose]();
    }
    const seen = await invocations;
    // ticket ok, ticket bad, cryptosign ok, cryptosign rejected, cryptosign wrong key
    assert.equal(seen.length, 5);
    const [realm, authid, details] = seen[0]![4] as [string, string, D];
    assert.equal(realm, "realm1");
    assert.equal(authid, "alice");
    assert.equal(details.authmethod, "ticket");
    assert.equal(details.ticket, "alice-ticket");
    assert.equal(typeof details.session, "number");
    const cs = seen[2]![4] as [string, string, D];
    assert.equal(cs[1], "dave");
    assert.equal(cs[2].authmethod, "cryptosign");
    assert.deepEqual(cs[2].authextra, { pubkey: DAVE.publicHex });

    // The authenticator has left: authentication fails clearly again.
    {
      await using c = await ticketHello(`${base}/ws`, "alice", "alice-ticket", ser);
      await expectAbort(c, "wamp.error.authentication_failed");
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 4. HTTP bridge: a call the callee never answers

function bridgeConfig() {
  const c = testConfig({
    roles: [
      {
        name: "anonymous",
        permissions: [{ uri: "", match: "prefix", allow: { register: true } }],
      },
      {
        name: "http",
        permissions: [{ uri: "com.open.", match: "prefix", allow: { call: true } }],
      },
    ],
  });
  const paths = c.workers[0]!.transports[0]!.paths as Record<string, unknown>;
  paths.call = { type: "caller", realm: "realm1", role: "http" };
  return c;
}

/** POSTs `body`; aborts (and fails) after `ms` so a hanging bridge cannot hang the test. */
async function post(url: string, body: unknown, ms = 5000) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no HTTP response within ${ms} ms`)), ms);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    const type = res.headers.get("content-type");
    return { status: res.status, type, json: await res.json() as D };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("HTTP bridge: a callee that never answers → 504 with a JSON error", async () => {
  await using r = await startRouter(bridgeConfig());
  const url = `http://127.0.0.1:${r.port}/call`;
  await using callee = (await RawClient.join(r.url, "json")).client;
  callee.send([REGISTER, 1, {}, "com.open.silent"]);
  const reg = await callee.next();
  assert.equal(reg[0], REGISTERED, JSON.stringify(reg));

  // The per-call timeout (CALL.Options.timeout, milliseconds) given in the body's options.
  const pending = post(url, { procedure: "com.open.silent", args: [1], options: { timeout: 100 } });
  const inv = await callee.next();
  assert.equal(inv[0], INVOCATION);
  assert.deepEqual(inv[4], [1]);
  // never answered: the router interrupts the callee and the HTTP caller gets 504
  const res = await pending;
  assert.equal(res.status, 504);
  assert.match(res.type ?? "", /^application\/json/);
  assert.equal(res.json.error, "wamp.error.canceled");
  assert.equal(typeof res.json.message, "string");
  const interrupt = await callee.next();
  assert.deepEqual(interrupt, [INTERRUPT, inv[1], {
    mode: "killnowait",
    reason: "wamp.error.canceled",
  }]);

  // A late answer is dropped; the bridge keeps working for the next call.
  callee.send([YIELD, inv[1], {}, ["too late"]]);
  const next = post(url, { procedure: "com.open.silent", args: [2], options: { timeout: 5000 } });
  const inv2 = await callee.next();
  assert.deepEqual(inv2[4], [2]);
  callee.send([YIELD, inv2[1], {}, ["on time"]]);
  assert.deepEqual(await next, {
    status: 200,
    type: "application/json; charset=utf-8",
    json: { args: ["on time"], kwargs: {} },
  });

  // An invalid timeout is a bad request.
  const bad = await post(url, { procedure: "com.open.silent", options: { timeout: -1 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, "wamp.error.invalid_argument");
  assert.deepEqual(callee.received, []);
});

Deno.test("HTTP bridge: without a timeout, a callee that leaves unanswered → 504", async () => {
  await using r = await startRouter(bridgeConfig());
  const url = `http://127.0.0.1:${r.port}/call`;
  const callee = (await RawClient.join(r.url, "json")).client;
  try {
    callee.send([REGISTER, 1, {}, "com.open.leaving"]);
    assert.equal((await callee.next())[0], REGISTERED);
    const pending = post(url, { procedure: "com.open.leaving" });
    const inv = await callee.next();
    assert.equal(inv[0], INVOCATION);
    await callee[Symbol.asyncDispose]();
    const res = await pending;
    assert.equal(res.status, 504);
    assert.equal(res.json.error, "wamp.error.canceled");
    assert.equal(typeof res.json.message, "string");
  } finally {
    await callee[Symbol.asyncDispose]();
  }
});
