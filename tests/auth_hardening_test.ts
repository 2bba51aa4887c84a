/**
 * Authentication hardening, for what an attacker outside the router found: the failure limiter
 * must not lock out the innocent. Failures count per (address, authid), attempts beyond the free
 * ones are delayed (slots, 1 s, 2 s, 4 s … up to auth_max_delay) rather than refused, anonymous
 * and other authids from the same address are never affected, and a challenge the client walks
 * away from counts. Real routers over real WebSockets; the routers here run on a FakeClock, so a
 * delayed attempt cannot proceed before the test moves time (one test uses the real clock end to
 * end).
 */

import assert from "node:assert/strict";
import { createRouter, parseConfig } from "../mod.ts";
import { FakeClock } from "../src/clock.ts";
import type { AuthConfig } from "../src/config/types.ts";
import type { Hello } from "../src/wamp/messages.ts";
import { ALLOW_ALL, RawClient, sleep, startRouter } from "./_helpers.ts";
import { show } from "./interop/common.ts";

type D = Record<string, unknown>;

const HELLO = 1, WELCOME = 2, ABORT = 3, CHALLENGE = 4, AUTHENTICATE = 5;
const NOT_AUTHORIZED = "wamp.error.not_authorized";
const ROLES = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } };

const PERMS = [{
  uri: "",
  match: "prefix",
  allow: { call: true, register: true, publish: true, subscribe: true },
}];
const REALM_ROLES = [ALLOW_ALL, { name: "user", permissions: PERMS }, {
  name: "admin",
  permissions: PERMS,
}];

// ---------------------------------------------------------------------------------------------
// Config

/**
 * A mixed WAMP-CRA endpoint: two salted users with the same parameters, one salted user with
 * other parameters (the minority), and bob, unsalted, with role admin.
 */
const SAM = { secret: "sam-secret", salt: "9Xh3kTq2bWmZ4LpA", iterations: 1000, keylen: 32 };
const CRA_USERS = {
  sam: { ...SAM, role: "user" },
  sue: {
    secret: "sue-secret",
    role: "user",
    salt: "R2d7Yv0cN8sLq1Ue",
    iterations: 1000,
    keylen: 32,
  },
  odd: { secret: "odd-secret", role: "user", salt: "pepper", iterations: 10, keylen: 16 },
  bob: { secret: "bob-secret", role: "admin" },
};
/** Only unsalted users. */
const PLAIN_USERS = {
  bob: { secret: "bob-secret", role: "admin" },
  carol: { secret: "carol-secret", role: "user" },
};
const TICKETS = {
  alice: { ticket: "alice-ticket", role: "user" },
  bob: { ticket: "bob-ticket", role: "user" },
};

/**
 * realm1; one `web` transport on 127.0.0.1:0 with paths `cra` (the mixed users), `plain` (the
 * unsalted ones) and `ws` (anonymous and ticket), all with `options`.
 */
function config(options: D = {}) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: REALM_ROLES }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: {
          cra: {
            type: "websocket",
            auth: { wampcra: { type: "static", users: CRA_USERS } },
            options,
          },
          plain: {
            type: "websocket",
            auth: { wampcra: { type: "static", users: PLAIN_USERS } },
            options,
          },
          ws: {
            type: "websocket",
            auth: {
              anonymous: { type: "static", role: "anonymous" },
              ticket: { type: "static", principals: TICKETS },
            },
            options,
          },
        },
      }],
    }],
  };
}

/** No limiter delays. */
const LENIENT = { auth_max_failures: 1_000_000 };

/** The resolved `auth` of one path of `config()`. */
function authOf(path: string, options: D = LENIENT): AuthConfig {
  return parseConfig(config(options)).transports[0].paths.get(path)!.auth;
}

/** A started router on a FakeClock (closed without grace: the fake clock does not run). */
async function clockRouter(options: D = {}) {
  const clock = new FakeClock(1_000_000);
  const router = createRouter(config(options), { clock });
  const [listener] = await router.serve();
  const base = `ws://127.0.0.1:${listener.port}`;
  return {
    clock,
    router,
    ws: `${base}/ws`,
    [Symbol.asyncDispose]: () => router.close(0),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function helloMsg(details: D): Hello {
  return { type: HELLO, realm: "realm1", details: { ...ROLES, ...details } } as Hello;
}

function hello(c: RawClient, details: D): void {
  c.send([HELLO, "realm1", { ...ROLES, ...details }]);
}

/** Expects ABORT `reason` (then the close); returns its message. */
async function expectAbort(c: RawClient, reason: string): Promise<string> {
  const m = await c.next();
  assert.equal(m[0], ABORT, `expected ABORT ${reason}, got ${show(m)}`);
  assert.equal(m[2], reason, show(m));
  await c.closed();
  return String((m[1] as D).message);
}

// ---------------------------------------------------------------------------------------------
// Failure limiter

Deno.test("limitedSubject: who an attempt is counted for", async () => {
  const { limitedSubject } = await import("../src/auth/authenticator.ts");
  const auth = authOf("ws");
  const cra = authOf("cra");
  const key = "AB".repeat(32);
  assert.equal(limitedSubject(helloMsg({}), auth), null, "anonymous is never limited");
  assert.equal(limitedSubject(helloMsg({ authmethods: ["scram"] }), auth), null);
  assert.equal(
    limitedSubject(helloMsg({ authmethods: ["ticket"], authid: "alice" }), auth),
    "alice",
  );
  assert.equal(limitedSubject(helloMsg({ authmethods: ["ticket"] }), auth), "");
  assert.equal(limitedSubject(helloMsg({ authmethods: ["wampcra"], authid: "sam" }), cra), "sam");
  const cs = parseConfig({
    ...config(),
    workers: [{
      ...config().workers[0],
      transports: [{
        type: "websocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        auth: {
          cryptosign: {
            type: "static",
            principals: { dave: { authorized_keys: [key.toLowerCase()], role: "user" } },
          },
        },
      }],
    }],
  }).transports[0].websocket!.auth;
  const signed = (d: D) => limitedSubject(helloMsg({ authmethods: ["cryptosign"], ...d }), cs);
  assert.equal(
    signed({ authextra: { pubkey: key } }),
    key.toLowerCase(),
    "without authid: the key",
  );
  assert.equal(signed({ authid: "dave", authextra: { pubkey: key } }), "dave");
});

/** The number of failures and pending attempts the router counts for (127.0.0.1, authid). */
async function counted(r: { router: { authFailures: unknown }; clock: FakeClock }, authid: string) {
  const { limiterKey } = await import("../src/auth/failure_limiter.ts");
  const limiter = r.router.authFailures as { failures(key: string, now: number): number };
  return limiter.failures(limiterKey("tcp4:127.0.0.1", authid), r.clock.nowMs());
}

/** Polls until `authid` is counted `n` times (the router has taken the HELLO). */
async function untilCounted(
  r: { router: { authFailures: unknown }; clock: FakeClock },
  authid: string,
  n: number,
) {
  for (let i = 0; i < 300; i++) {
    if (await counted(r, authid) === n) return;
    await sleep(10);
  }
  assert.equal(await counted(r, authid), n, `${authid} counted`);
}

/**
 * One ticket attempt for `authid` on a FakeClock router that must wait exactly `waitMs` for
 * its turn: no CHALLENGE before the clock has moved that far, then the CHALLENGE. `before` is
 * what the router counted for the authid before this attempt. Returns the WELCOME or ABORT.
 */
async function delayedTicket(
  r: Awaited<ReturnType<typeof clockRouter>>,
  authid: string,
  ticket: string,
  waitMs: number,
  before: number,
): Promise<unknown[]> {
  await using c = await RawClient.connect(r.ws);
  hello(c, { authmethods: ["ticket"], authid });
  if (waitMs > 0) {
    assert.deepEqual(await c.quiet(150), [], `no CHALLENGE for ${authid} before ${waitMs} ms`);
    await untilCounted(r, authid, before + 1);
    r.clock.advance(waitMs - 1);
    assert.deepEqual(await c.quiet(50), [], `no CHALLENGE 1 ms before ${waitMs} ms`);
    r.clock.advance(1);
  }
  assert.deepEqual(await c.next(), [CHALLENGE, "ticket", {}]);
  c.send([AUTHENTICATE, ticket, {}]);
  const m = await c.next();
  if (m[0] === ABORT) await c.closed();
  return m;
}

Deno.test("limiter: after 12 wrong tickets for alice, anonymous and bob get in at once, alice after her delay", async () => {
  // the defaults: 5 free failures in 60 s, then 1 s, 2 s, 4 s, 8 s, 8 s …
  await using r = await clockRouter();
  const waits = [0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000, 8000];
  for (const [i, wait] of waits.entries()) {
    const m = await delayedTicket(r, "alice", "wrong", wait, Math.min(i, 9));
    assert.deepEqual([m[0], m[2]], [ABORT, NOT_AUTHORIZED], `attempt ${i + 1}: ${show(m)}`);
  }

  // anonymous from the same address: welcomed without the clock moving
  const anon = await RawClient.join(r.ws);
  assert.equal((anon.welcome[2] as D).authmethod, "anonymous");
  await anon.client[Symbol.asyncDispose]();
  // another authid from the same address: not delayed at all
  const bob = await delayedTicket(r, "bob", "bob-ticket", 0, 0);
  assert.equal(bob[0], WELCOME, show(bob));
  assert.equal((bob[2] as D).authid, "bob");

  // alice with the right ticket: in after the capped delay (8 s), not refused
  const alice = await delayedTicket(r, "alice", "alice-ticket", 8000, 9);
  assert.equal(alice[0], WELCOME, show(alice));
  assert.equal((alice[2] as D).authid, "alice");
  // the success reset her count
  assert.equal(await counted(r, "alice"), 0);
  const again = await delayedTicket(r, "alice", "alice-ticket", 0, 0);
  assert.equal(again[0], WELCOME, show(again));
});

Deno.test("limiter: parallel attempts for one authid are serialized into slots; one too far away is refused", async () => {
  await using r = await clockRouter();
  for (let i = 0; i < 5; i++) await delayedTicket(r, "alice", "wrong", 0, i);
  // four HELLOs at once: slots 1 s, 1+2 s and 3+4 s away; the fourth would be 7+8 s away,
  // more than auth_max_delay (8 s): refused at once
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await RawClient.connect(r.ws));
    for (const c of clients) hello(c, { authmethods: ["ticket"], authid: "alice" });
    // the refusal comes once the router has taken all four HELLOs
    for (let n = 0; n < 300 && clients.every((c) => c.received.length === 0); n++) await sleep(10);
    await sleep(100);
    const refused = clients.filter((c) => c.received.length > 0);
    assert.equal(refused.length, 1, show(clients.map((c) => c.received)));
    const message = await expectAbort(refused[0], NOT_AUTHORIZED);
    assert.match(message, /too many failed authentication attempts for this authid/);
    assert.match(message, /retry later \(in 7 s\)/);
    await untilCounted(r, "alice", 8); // 5 failures + 3 attempts holding a slot

    // bob, meanwhile, is not held
    const bob = await delayedTicket(r, "bob", "bob-ticket", 0, 0);
    assert.equal(bob[0], WELCOME, show(bob));

    // the three others get their turns one at a time, 1 s, 2 s and 4 s apart
    const waiting = clients.filter((c) => c !== refused[0]);
    for (const [i, step] of [1000, 2000, 4000].entries()) {
      r.clock.advance(step - 1);
      await sleep(50);
      assert.equal(waiting.filter((c) => c.received.length > 0).length, 0, `before slot ${i + 1}`);
      r.clock.advance(1);
      let turn: RawClient[] = [];
      for (let n = 0; n < 100 && turn.length === 0; n++) {
        await sleep(10);
        turn = waiting.filter((c) => c.received.length > 0);
      }
      assert.equal(turn.length, 1, `slot ${i + 1}: exactly one CHALLENGE`);
      const c = turn[0];
      waiting.splice(waiting.indexOf(c), 1);
      assert.deepEqual(await c.next(), [CHALLENGE, "ticket", {}]);
      // the last one has the right ticket
      c.send([AUTHENTICATE, i === 2 ? "alice-ticket" : "wrong", {}]);
      const m = await c.next();
      assert.equal(m[0], i === 2 ? WELCOME : ABORT, show(m));
    }
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

Deno.test("limiter: a challenge the client walks away from counts as a failure", async () => {
  await using r = await clockRouter({ auth_max_failures: 1 });
  {
    await using c = await RawClient.connect(r.ws);
    hello(c, { authmethods: ["ticket"], authid: "alice" });
    assert.deepEqual(await c.next(), [CHALLENGE, "ticket", {}]);
  } // closed without AUTHENTICATE
  // the next attempt waits 1 s for its turn
  const m = await delayedTicket(r, "alice", "alice-ticket", 1000, 1);
  assert.equal(m[0], WELCOME, show(m));
});

Deno.test("limiter (real clock): the right ticket gets in after a real delay of at most auth_max_delay", async () => {
  await using r = await startRouter(config({ auth_max_failures: 1, auth_max_delay: 1 }));
  const url = `ws://127.0.0.1:${r.port}/ws`;
  const attempt = async (ticket: string) => {
    await using c = await RawClient.connect(url);
    hello(c, { authmethods: ["ticket"], authid: "alice" });
    assert.deepEqual(await c.next(3000), [CHALLENGE, "ticket", {}]);
    c.send([AUTHENTICATE, ticket, {}]);
    return await c.next();
  };
  assert.equal((await attempt("wrong"))[0], ABORT);
  assert.equal((await attempt("wrong"))[0], ABORT); // waited 1 s
  const m = await attempt("alice-ticket"); // waited 1 s (the cap)
  assert.equal(m[0], WELCOME, show(m));
});
