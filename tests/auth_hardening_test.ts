/**
 * Authentication hardening, for what an attacker outside the router found:
 *
 * - WAMP-CRA challenges must not tell which authids exist or what role they have: a salted
 *   user, an unsalted user and an unknown authid get challenges of the same shape, with the
 *   authrole HELLO asked for, salts that never change for a config (not after 20,000
 *   unanswered challenges, not on another router or in another process), and the same key
 *   derivations (observed through injected primitives, never timed); real clients still log in.
 * - The failure limiter must not lock out the innocent: failures count per (address, authid),
 *   attempts beyond the free ones are delayed (slots, 1 s, 2 s, 4 s … up to auth_max_delay)
 *   rather than refused, anonymous and other authids from the same address are never affected,
 *   and a challenge the client walks away from counts. Real routers over real WebSockets; the
 *   routers here run on a FakeClock, so a delayed attempt cannot proceed before the test moves
 *   time (one test uses the real clock end to end).
 */

import assert from "node:assert/strict";
import { createRouter, parseConfig, type Router } from "../mod.ts";
import { authenticate } from "../src/auth/authenticator.ts";
import type { CraPrimitives } from "../src/auth/wampcra_primitives.ts";
import { FakeClock } from "../src/clock.ts";
import type { AuthConfig } from "../src/config/types.ts";
import type { Hello } from "../src/wamp/messages.ts";
import { ALLOW_ALL, RawClient, sleep, startRouter } from "./_helpers.ts";
import { python, runPython } from "./interop/auth_client.ts";
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

/** No limiter delays where the CRA tests open many challenges. */
const LENIENT = { auth_max_failures: 1_000_000 };

/** The resolved `auth` of one path of `config()`. */
function authOf(path: string, options: D = LENIENT): AuthConfig {
  const web = parseConfig(config(options)).transports[0]!;
  assert.equal(web.type, "web");
  return web.paths.get(path)!.auth;
}

/** A started router on a FakeClock (closed without grace: the fake clock does not run). */
async function clockRouter(options: D = {}) {
  const clock = new FakeClock(1_000_000);
  const router = createRouter(config(options), { clock });
  const [listener] = await router.serve();
  const base = `ws://127.0.0.1:${listener!.port}`;
  return {
    clock,
    router,
    ws: `${base}/ws`,
    [Symbol.asyncDispose]: () => router.close(0),
  };
}

async function startCra(options: D = LENIENT) {
  const r = await startRouter(config(options));
  return Object.assign(r, {
    cra: `ws://127.0.0.1:${r.port}/cra`,
    plain: `ws://127.0.0.1:${r.port}/plain`,
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

const enc = new TextEncoder();

function helloMsg(details: D): Hello {
  return { type: HELLO, realm: "realm1", details: { ...ROLES, ...details } } as Hello;
}

function hello(c: RawClient, details: D): void {
  c.send([HELLO, "realm1", { ...ROLES, ...details }]);
}

/** base64(HMAC-SHA256(key text, message text)), computed here with WebCrypto. */
async function hmacB64(key: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    enc.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(message))).toBase64();
}

/** The base64 text of PBKDF2-HMAC-SHA256(secret, salt): the salted WAMP-CRA key. */
async function pbkdf2B64(secret: string, extra: D): Promise<string> {
  const base = await crypto.subtle.importKey("raw", enc.encode(secret), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: enc.encode(extra.salt as string),
      iterations: extra.iterations as number,
    },
    base,
    (extra.keylen as number) * 8,
  );
  return new Uint8Array(bits).toBase64();
}

/** Opens a connection, sends a wampcra HELLO and returns the CHALLENGE extra (left unanswered). */
async function craChallenge(url: string, details: D): Promise<D> {
  await using c = await RawClient.connect(url);
  hello(c, { authmethods: ["wampcra"], ...details });
  const m = await c.next();
  assert.equal(m[0], CHALLENGE, show(m));
  assert.equal(m[1], "wampcra");
  return m[2] as D;
}

/** The CHALLENGE extra of an in-process `authenticate()` for `authid` (never answered). */
async function inProcessChallenge(auth: AuthConfig, authid: string): Promise<D> {
  const step = await authenticate(helloMsg({ authmethods: ["wampcra"], authid }), auth, 1);
  assert.equal(step.kind, "challenge", show(step));
  return (step as { extra: D }).extra;
}

function typesOf(d: D): D {
  return Object.fromEntries(Object.keys(d).sort().map((k) => [k, typeof d[k]]));
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
// WAMP-CRA

Deno.test("wampcra: a salted user, an unsalted user and an unknown authid get challenges of the same shape", async () => {
  await using r = await startCra();
  const sam = await craChallenge(r.cra, { authid: "sam", authrole: 42 });
  const bob = await craChallenge(r.cra, { authid: "bob" });
  const nobody = await craChallenge(r.cra, { authid: "nobody", authrole: "guest" });
  const all = { sam, bob, nobody };

  for (const [who, extra] of Object.entries(all)) {
    assert.deepEqual(typesOf(extra), {
      challenge: "string",
      iterations: "number",
      keylen: "number",
      salt: "string",
    }, `${who}: ${show(extra)}`);
    // the most common parameters of the salted users (sam's and sue's, not odd's)
    assert.deepEqual([extra.iterations, extra.keylen], [1000, 32], who);
    // written like the configured salts: 16 letters and digits
    assert.match(extra.salt as string, /^[A-Za-z0-9]{16}$/, who);
  }
  assert.equal(sam.salt, SAM.salt, "a salted user keeps its own salt");
  assert.notEqual(bob.salt, nobody.salt);

  // the challenge text: the same fields; the authrole is what HELLO asked for (a string), else
  // null, never the configured role
  const text = (extra: D) => JSON.parse(extra.challenge as string) as D;
  const keys = Object.keys(text(sam)).sort();
  for (const extra of Object.values(all)) assert.deepEqual(Object.keys(text(extra)).sort(), keys);
  assert.deepEqual(
    [text(sam).authrole, text(bob).authrole, text(nobody).authrole],
    [null, null, "guest"],
  );
  const asked = await craChallenge(r.cra, { authid: "bob", authrole: "user" });
  assert.equal(text(asked).authrole, "user", "bob asked for user: not admin");

  // salts are stable: the unsalted user's and the unknown authid's alike
  assert.equal(asked.salt, bob.salt);
  assert.equal((await craChallenge(r.cra, { authid: "nobody" })).salt, nobody.salt);
  // a salted user with other parameters than the most common keeps its own
  const odd = await craChallenge(r.cra, { authid: "odd" });
  assert.deepEqual([odd.salt, odd.iterations, odd.keylen], ["pepper", 10, 16]);

  // with no salted user, no challenge carries a salt, unknown authids included
  for (const authid of ["bob", "carol", "nobody"]) {
    const extra = await craChallenge(r.plain, { authid });
    assert.deepEqual(Object.keys(extra), ["challenge"], `${authid}: ${show(extra)}`);
    assert.equal(text(extra).authrole, null);
  }
});

Deno.test("wampcra: an unsalted user of a salted endpoint signs with PBKDF2 of the salt it was given", async () => {
  await using r = await startCra();
  await using c = await RawClient.connect(r.cra, "msgpack");
  hello(c, { authmethods: ["wampcra"], authid: "bob" });
  const m = await c.next();
  assert.equal(m[0], CHALLENGE, show(m));
  const extra = m[2] as D;
  const key = await pbkdf2B64("bob-secret", extra);
  c.send([AUTHENTICATE, await hmacB64(key, extra.challenge as string), {}]);
  const w = await c.next();
  assert.equal(w[0], WELCOME, show(w));
  assert.equal((w[2] as D).authrole, "admin");
  assert.equal((w[2] as D).authid, "bob");

  // the raw secret (what an unsalted user signed with before) no longer works here
  await using plain = await RawClient.connect(r.cra);
  hello(plain, { authmethods: ["wampcra"], authid: "bob" });
  const ch = (await plain.next())[2] as D;
  plain.send([AUTHENTICATE, await hmacB64("bob-secret", ch.challenge as string), {}]);
  const wrong = await expectAbort(plain, NOT_AUTHORIZED);
  // an unknown authid fails the same way
  await using stranger = await RawClient.connect(r.cra);
  hello(stranger, { authmethods: ["wampcra"], authid: "nobody" });
  const sx = (await stranger.next())[2] as D;
  stranger.send([
    AUTHENTICATE,
    await hmacB64(await pbkdf2B64("guess", sx), sx.challenge as string),
    {},
  ]);
  assert.equal(await expectAbort(stranger, NOT_AUTHORIZED), wrong);
});

Deno.test("wampcra: an unknown authid's salt survives 20,000 unanswered challenges, other routers and processes", async () => {
  const auth = authOf("cra");
  const first = (await inProcessChallenge(auth, "nobody")).salt;
  assert.equal(typeof first, "string");
  // 20,000 unanswered challenges for other unknown authids (in process: no sockets needed)
  for (let i = 0; i < 20_000; i++) await inProcessChallenge(auth, `unknown-${i}`);
  assert.equal((await inProcessChallenge(auth, "nobody")).salt, first, "after 20,000 challenges");
  // a new parse of the same config (a restart) gives the same salt
  assert.equal((await inProcessChallenge(authOf("cra"), "nobody")).salt, first);

  // over sockets, on two routers with the same config: unanswered challenges, the same salt
  for (let n = 0; n < 2; n++) {
    await using r = await startCra();
    for (let i = 0; i < 3; i++) {
      assert.equal((await craChallenge(r.cra, { authid: "nobody" })).salt, first, `router ${n}`);
    }
  }

  // and in another process
  const code = `
    import { parseConfig } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    import { authenticate } from ${
    JSON.stringify(new URL("../src/auth/authenticator.ts", import.meta.url).href)
  };
    const auth = parseConfig(${
    JSON.stringify(config(LENIENT))
  }).transports[0].paths.get("cra").auth;
    const step = await authenticate({ type: 1, realm: "realm1", details: {
      roles: { caller: {} }, authmethods: ["wampcra"], authid: "nobody" } }, auth, 1);
    console.log(JSON.stringify(step.extra.salt));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(JSON.parse(new TextDecoder().decode(out.stdout).trim()), first);
});

Deno.test("wampcra: known and unknown authids run the same key derivations with the same parameters", async () => {
  const { webCryptoCra } = await import("../src/auth/wampcra_primitives.ts");
  /** What one authentication ran: the operations and their parameters (no secrets). */
  const observe = async (auth: AuthConfig, authid: string) => {
    const ops: string[] = [];
    const cra: CraPrimitives = {
      saltBlock(key, data) {
        ops.push("salt block (HMAC-SHA256)");
        return webCryptoCra.saltBlock(key, data);
      },
      pbkdf2(secret, salt, iterations, keylen) {
        const long = enc.encode(secret).length > 64 ? "long" : "short";
        ops.push(`pbkdf2 ${long} secret, ${salt.length}-char salt, ${iterations} it, ${keylen} B`);
        return webCryptoCra.pbkdf2(secret, salt, iterations, keylen);
      },
      sign(key, message) {
        ops.push(`sign (HMAC-SHA256) ${enc.encode(key).length > 64 ? "long" : "short"} key`);
        return webCryptoCra.sign(key, message);
      },
    };
    const step = await authenticate(
      helloMsg({ authmethods: ["wampcra"], authid }),
      auth,
      1,
      null,
      {},
      { cra },
    );
    assert.equal(step.kind, "challenge");
    const challengeOps = ops.splice(0);
    const s = step as { verify(m: unknown): Promise<unknown> };
    const identity = await s.verify({ type: AUTHENTICATE, signature: "wrong", extra: {} });
    assert.equal(identity, null);
    return { challenge: challengeOps, verify: ops };
  };

  const salted = authOf("cra");
  const sam = await observe(salted, "sam");
  assert.deepEqual(sam, {
    challenge: ["salt block (HMAC-SHA256)", "salt block (HMAC-SHA256)"],
    verify: ["pbkdf2 short secret, 16-char salt, 1000 it, 32 B", "sign (HMAC-SHA256) short key"],
  });
  for (const authid of ["bob", "nobody", "x".repeat(300)]) {
    assert.deepEqual(await observe(salted, authid), sam, authid);
  }

  const plain = authOf("plain");
  const carol = await observe(plain, "carol");
  assert.deepEqual(carol, {
    challenge: ["salt block (HMAC-SHA256)"], // derived though unused: no salt is sent here
    verify: ["sign (HMAC-SHA256) short key"],
  });
  assert.deepEqual(await observe(plain, "nobody"), carol);
});

Deno.test("wampcra interop: Autobahn|Python joins as a salted and as an unsalted user of a mixed endpoint", async () => {
  const py = await python();
  await using r = await startCra();
  const run = (args: string[]) => runPython(py, r.cra, "json", ["--method", "wampcra", ...args]);
  const sam = await run(["--authid", "sam", "--secret", "sam-secret"]);
  assert.equal(sam.joined, true, show(sam));
  assert.equal(sam.authrole, "user");
  const bob = await run(["--authid", "bob", "--secret", "bob-secret"]);
  assert.equal(bob.joined, true, show(bob));
  assert.deepEqual([bob.authid, bob.authrole, bob.authmethod], ["bob", "admin", "wampcra"]);
  // bob was challenged with a salt, so Autobahn derived the key (derive_key)
  const extra = (bob.challenge as D).extra as D;
  assert.deepEqual([typeof extra.salt, extra.iterations, extra.keylen], ["string", 1000, 32]);
  for (const authid of ["bob", "nobody"]) {
    const bad = await run(["--authid", authid, "--secret", "guess"]);
    assert.equal(bad.joined, false, show(bad));
    assert.equal(bad.reason, NOT_AUTHORIZED, show(bad));
  }
});

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
  }).transports[0]!.websocket!.auth;
  const signed = (d: D) => limitedSubject(helloMsg({ authmethods: ["cryptosign"], ...d }), cs);
  assert.equal(
    signed({ authextra: { pubkey: key } }),
    key.toLowerCase(),
    "without authid: the key",
  );
  assert.equal(signed({ authid: "dave", authextra: { pubkey: key } }), "dave");
});

/** The number of failures and pending attempts the router counts for (127.0.0.1, authid). */
async function counted(r: { router: Router; clock: FakeClock }, authid: string) {
  const { limiterKey } = await import("../src/auth/failure_limiter.ts");
  const { routerInternals } = await import("../src/router/router.ts");
  const limiter = routerInternals(r.router).authFailures;
  return limiter.failures(limiterKey("tcp4:127.0.0.1", authid), r.clock.nowMs());
}

/** Polls until `authid` is counted `n` times (the router has taken the HELLO). */
async function untilCounted(
  r: { router: Router; clock: FakeClock },
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
    const message = await expectAbort(refused[0]!, NOT_AUTHORIZED);
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
      const c = turn[0]!;
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
