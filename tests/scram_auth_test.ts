/**
 * WAMP-SCRAM: RFC 7677's SCRAM-SHA-256 test vector through the router's AuthMessage and proof
 * check; then over real sockets, a SCRAM client written here from the spec (raw WAMP, JSON)
 * against static and dynamic principals with both KDFs (Argon2id, PBKDF2): success and the
 * router's verifier, wrong passwords and unknown authids (indistinguishable challenges),
 * replayed and malformed AUTHENTICATEs, channel binding, the failure limiter. The Autobahn|Python
 * client (Argon2id; its PBKDF2 path cannot run, see below) is in scram_interop_test.ts.
 */

import assert from "node:assert/strict";
import { limitedSubject } from "../src/auth/authenticator.ts";
import { authMessages, checkProof } from "../src/auth/scram.ts";
import { deriveScramCredential, saltedPassword, scramKeys } from "../src/auth/scram_kdf.ts";
import { parseConfig } from "../src/config/config.ts";
import type { Hello } from "../src/wamp/messages.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import { WampError } from "../mod.ts";
import { ALLOW_ALL, RawClient, startRouter } from "./_helpers.ts";

type D = Record<string, unknown>;
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// The test vector

Deno.test("scram: RFC 7677 SCRAM-SHA-256 test vector (PBKDF2, user/pencil)", async () => {
  const salt = Uint8Array.fromBase64("W22ZaJ0SNY7soEsUEjb6gQ==");
  const keys = await scramKeys(await saltedPassword("pbkdf2", "pencil", salt, 4096, null));
  const clientNonce = "rOprNGfwEbeRWgbNEkqO";
  const serverNonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const messages = authMessages({
    username: "user",
    clientNonce,
    serverNonce,
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    iterations: 4096,
    binding: null,
    bindingData: null,
  });
  assert.equal(
    messages[0],
    "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  );
  const proof = Uint8Array.fromBase64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  assert.equal(
    await checkProof(proof, messages, keys),
    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  );
  const wrong = proof.slice();
  wrong[0]! ^= 1;
  assert.equal(await checkProof(wrong, messages, keys), null);
});

// ---------------------------------------------------------------------------------------------
// A client from the spec

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(data)));
}

interface Proof {
  proof: string;
  /** The ServerSignature the client expects in WELCOME. */
  verifier: string;
}

/**
 * The ClientProof for a CHALLENGE's extra, computed as the spec's pseudocode says
 * (`form: "autobahn"`: Autobahn|Python's AuthMessage, with `c=` empty).
 */
async function clientProof(
  authid: string,
  password: string,
  clientNonce: string,
  extra: D,
  form: "spec" | "autobahn" = "spec",
  binding: { name: string; data: Uint8Array | null } | null = null,
): Promise<Proof> {
  const salted = await saltedPassword(
    extra.kdf as "pbkdf2",
    password,
    Uint8Array.fromBase64(extra.salt as string),
    extra.iterations as number,
    (extra.memory as number | undefined) ?? null,
  );
  const { clientKey, storedKey, serverKey } = await scramKeys(salted);
  const cbind = binding === null
    ? "n,,"
    : `p=${binding.name},,` + (binding.data ? String.fromCharCode(...binding.data) : "");
  const c = form === "spec" ? btoa(cbind) : "";
  const name = form === "spec" ? authid.replaceAll("=", "=3D").replaceAll(",", "=2C") : authid;
  const message = `n=${name},r=${clientNonce},r=${extra.nonce},s=${extra.salt},` +
    `i=${extra.iterations},c=${c},r=${extra.nonce}`;
  const signature = await hmac(storedKey, message);
  return {
    proof: clientKey.map((b, i) => b ^ signature[i]!).toBase64(),
    verifier: (await hmac(serverKey, message)).toBase64(),
  };
}

function newNonce(): string {
  return crypto.getRandomValues(new Uint8Array(16)).toBase64();
}

// ---------------------------------------------------------------------------------------------
// The router

const FAST_ARGON = { iterations: 2, memory: 1024 };
const ALICE = await deriveScramCredential("alice-pw", { kdf: "argon2id-13", ...FAST_ARGON });
const CARL = await deriveScramCredential("carl-pw", { kdf: "argon2id13", ...FAST_ARGON });
const PAUL = await deriveScramCredential("paul-pw", { kdf: "pbkdf2", iterations: 1000 });
const ROLES = [ALLOW_ALL, { ...ALLOW_ALL, name: "user" }];

function config(options: D = { auth_max_failures: 1000 }, scram?: D) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }, { name: "realm2", roles: ROLES }],
      transports: [{
        type: "websocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        serializers: ["json"],
        options,
        auth: {
          scram: scram ?? {
            type: "static",
            principals: {
              alice: { ...ALICE, role: "user" },
              carl: { ...CARL, role: "user" },
              paul: { ...PAUL, role: "user", realm: "realm1" },
            },
          },
        },
      }],
    }],
  };
}

const ROLES_HELLO = { subscriber: {}, publisher: {}, caller: {}, callee: {} };

/** HELLO for `authid` with a fresh nonce; returns the client, its nonce and the reply. */
async function helloScram(url: string, authid: string | null, more: D = {}, realm = "realm1") {
  const c = await RawClient.connect(url, "json");
  const nonce = newNonce();
  c.send([T.HELLO, realm, {
    roles: ROLES_HELLO,
    authmethods: ["scram"],
    ...(authid === null ? {} : { authid }),
    authextra: { nonce },
    ...more,
  }]);
  return { c, nonce, reply: await c.next() };
}

/** A whole login; returns the final reply (WELCOME or ABORT) and what the client expected. */
async function login(url: string, authid: string, password: string, realm = "realm1") {
  const { c, nonce, reply } = await helloScram(url, authid, {}, realm);
  assert.equal(reply[0], T.CHALLENGE, JSON.stringify(reply));
  const extra = reply[2] as D;
  const p = await clientProof(authid, password, nonce, extra);
  c.send([T.AUTHENTICATE, p.proof, { nonce: extra.nonce }]);
  const final = await c.next();
  await c[Symbol.asyncDispose]();
  return { final, expected: p, challenge: extra };
}

Deno.test("scram: both KDFs join, and WELCOME carries the server signature the client expects", async () => {
  await using r = await startRouter(config());
  for (
    const [authid, pw, kdf] of [
      ["alice", "alice-pw", "argon2id-13"],
      ["carl", "carl-pw", "argon2id13"],
      ["paul", "paul-pw", "pbkdf2"],
    ] as const
  ) {
    const { final, expected, challenge } = await login(r.url, authid, pw);
    assert.equal(final[0], T.WELCOME, `${authid}: ${JSON.stringify(final)}`);
    const d = final[2] as D;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider], [
      authid,
      "user",
      "scram",
      "static",
    ]);
    assert.equal((d.authextra as D).verifier, expected.verifier);
    assert.equal((d.authextra as D).scram_server_signature, expected.verifier);
    assert.equal(challenge.kdf, kdf);
    assert.equal("memory" in challenge, kdf !== "pbkdf2", "PBKDF2 challenges carry no memory");
  }
});

Deno.test("scram: the spec's method name wamp-scram, and Autobahn's AuthMessage form", async () => {
  await using r = await startRouter(config());
  const { c, nonce, reply } = await helloScram(r.url, "paul", { authmethods: ["wamp-scram"] });
  assert.deepEqual([reply[0], reply[1]], [T.CHALLENGE, "wamp-scram"]);
  const extra = reply[2] as D;
  const p = await clientProof("paul", "paul-pw", nonce, extra, "autobahn");
  c.send([T.AUTHENTICATE, p.proof, {}]);
  const w = await c.next();
  await c[Symbol.asyncDispose]();
  assert.equal(w[0], T.WELCOME);
  assert.equal((w[2] as D).authmethod, "wamp-scram");
  assert.equal(((w[2] as D).authextra as D).verifier, p.verifier);
});

Deno.test("scram: a wrong password and an unknown authid fail the same way, after the same-shaped challenge", async () => {
  await using r = await startRouter(config());
  const wrong = await login(r.url, "alice", "not-alice");
  const unknown = await login(r.url, "mallory", "anything");
  const unknownAgain = await login(r.url, "mallory", "anything");
  for (const { final } of [wrong, unknown]) {
    assert.deepEqual(final.slice(0, 3), [T.ABORT, final[1] as D, "wamp.error.not_authorized"]);
  }
  assert.deepEqual(wrong.final[1], unknown.final[1], "the same ABORT details");
  assert.deepEqual(Object.keys(wrong.challenge).sort(), Object.keys(unknown.challenge).sort());
  assert.equal(
    unknown.challenge.salt,
    unknownAgain.challenge.salt,
    "an unknown authid's salt is stable",
  );
  assert.equal(
    Uint8Array.fromBase64(unknown.challenge.salt as string).length,
    Uint8Array.fromBase64(wrong.challenge.salt as string).length,
  );
  assert.equal(unknown.challenge.kdf, "argon2id-13", "the most common KDF of the principals");
  // a principal bound to realm1 fails on realm2 like a wrong password
  const elsewhere = await login(r.url, "paul", "paul-pw", "realm2");
  assert.deepEqual(elsewhere.final[1], wrong.final[1]);
});

Deno.test("scram: a captured proof does not work again (fresh server nonce per challenge)", async () => {
  await using r = await startRouter(config());
  const first = await helloScram(r.url, "alice");
  const extra = first.reply[2] as D;
  const p = await clientProof("alice", "alice-pw", first.nonce, extra);
  first.c.send([T.AUTHENTICATE, p.proof, {}]);
  assert.equal((await first.c.next())[0], T.WELCOME);
  await first.c[Symbol.asyncDispose]();
  // the same client nonce again: the server's part differs, so the old proof fails
  const c = await RawClient.connect(r.url, "json");
  c.send([T.HELLO, "realm1", {
    roles: ROLES_HELLO,
    authmethods: ["scram"],
    authid: "alice",
    authextra: { nonce: first.nonce },
  }]);
  const again = await c.next();
  assert.notEqual((again[2] as D).nonce, extra.nonce);
  assert.ok(
    ((again[2] as D).nonce as string).startsWith(first.nonce),
    "the client nonce comes first",
  );
  c.send([T.AUTHENTICATE, p.proof, {}]);
  const a = await c.next();
  await c[Symbol.asyncDispose]();
  assert.deepEqual([a[0], a[2]], [T.ABORT, "wamp.error.not_authorized"]);
});

Deno.test("scram: malformed HELLOs and AUTHENTICATEs are refused", async (t) => {
  await using r = await startRouter(config());
  const aborts = async (authid: string | null, more: D) => {
    const { c, reply } = await helloScram(r.url, authid, more);
    await c[Symbol.asyncDispose]();
    assert.equal(reply[0], T.ABORT, JSON.stringify(reply));
    assert.equal(reply[2], "wamp.error.not_authorized");
    return (reply[1] as D).message as string;
  };
  await t.step("HELLO", async () => {
    assert.match(await aborts(null, {}), /needs an authid/);
    for (const nonce of [undefined, 7, "", "not base64!", "YWJj", "AAAA\n", "QUJDREVGR0g"]) {
      assert.match(
        await aborts("alice", { authextra: { nonce } }),
        /authextra\.nonce/,
        String(nonce),
      );
    }
    assert.match(
      await aborts("alice", {
        authextra: { nonce: newNonce(), channel_binding: "tls-server-end-point" },
      }),
      /not supported/,
    );
    assert.match(await aborts("al\u0000ice", {}), /SASLprep/);
  });
  await t.step("AUTHENTICATE", async () => {
    const bad = async (signature: unknown, extra: (challenge: D, proof: string) => D) => {
      const { c, nonce, reply } = await helloScram(r.url, "alice");
      const challenge = reply[2] as D;
      const p = await clientProof("alice", "alice-pw", nonce, challenge);
      c.send([T.AUTHENTICATE, signature ?? p.proof, extra(challenge, p.proof)]);
      const a = await c.next();
      await c[Symbol.asyncDispose]();
      return a;
    };
    for (
      const [signature, extra] of [
        ["", () => ({})],
        ["!!!!", () => ({})],
        [btoa("short"), () => ({})],
        [null, () => ({ nonce: newNonce() })],
        [null, () => ({ channel_binding: "tls-unique" })],
        [null, () => ({ cbind_data: "AAAA" })],
      ] as const
    ) {
      const a = await bad(signature, extra as (c: D, p: string) => D);
      assert.deepEqual([a[0], a[2]], [T.ABORT, "wamp.error.not_authorized"], JSON.stringify(a));
    }
  });
});

Deno.test("scram: tls-unique on a plain connection proceeds without binding (the spec's AuthMessage)", async () => {
  await using r = await startRouter(config());
  const client = await RawClient.connect(r.url, "json");
  const n = newNonce();
  client.send([T.HELLO, "realm1", {
    roles: ROLES_HELLO,
    authmethods: ["scram"],
    authid: "carl",
    authextra: { nonce: n, channel_binding: "tls-unique" },
  }]);
  const ch = await client.next();
  assert.equal(ch[0], T.CHALLENGE);
  const extra = ch[2] as D;
  const data = new Uint8Array([1, 2, 3, 4]);
  const p = await clientProof("carl", "carl-pw", n, extra, "spec", { name: "tls-unique", data });
  client.send([T.AUTHENTICATE, p.proof, {
    nonce: extra.nonce,
    channel_binding: "tls-unique",
    cbind_data: data.toBase64(),
  }]);
  const w = await client.next();
  await client[Symbol.asyncDispose]();
  assert.equal(w[0], T.WELCOME, JSON.stringify(w));
  assert.equal(((w[2] as D).authextra as D).verifier, p.verifier);
});

Deno.test("scram: dynamic authenticators supply the credential", async () => {
  const cfg = config({ auth_max_failures: 1000 }, {
    type: "dynamic",
    authenticator: "com.example.authenticate",
  });
  await using r = await startRouter(cfg);
  const service = await r.router.session("realm1", { authrole: "trusted", authid: "auth-service" });
  await service.register("com.example.authenticate", (args) => {
    const [, authid] = args as [string, string];
    if (authid === "dana") return { role: "user", ...PAUL, extra: { via: "authenticator" } };
    if (authid === "broken") return { role: "user", kdf: "md5" };
    throw new WampError("com.example.no_such_user", "no such user");
  });
  const ok = await login(r.url, "dana", "paul-pw");
  assert.equal(ok.final[0], T.WELCOME);
  const d = ok.final[2] as D;
  assert.deepEqual([d.authid, d.authprovider, (d.authextra as D).via], [
    "dana",
    "dynamic",
    "authenticator",
  ]);
  assert.equal((d.authextra as D).verifier, ok.expected.verifier);
  const wrong = await login(r.url, "dana", "nope");
  assert.deepEqual([wrong.final[0], wrong.final[2]], [T.ABORT, "wamp.error.not_authorized"]);
  const broken = await helloScram(r.url, "broken");
  await broken.c[Symbol.asyncDispose]();
  assert.deepEqual([broken.reply[0], broken.reply[2]], [
    T.ABORT,
    "wamp.error.authentication_failed",
  ]);
  await service.close();
});

Deno.test("scram: the failure limiter counts scram attempts per authid", () => {
  const parsed = parseConfig(config(), { env: () => undefined });
  const t = parsed.transports[0]!;
  assert.equal(t.type, "websocket");
  const auth = (t as { websocket: { auth: Parameters<typeof limitedSubject>[1] } }).websocket.auth;
  const hello = (details: D): Hello => ({ type: T.HELLO, realm: "realm1", details });
  assert.equal(limitedSubject(hello({ authmethods: ["scram"], authid: "alice" }), auth), "alice");
  assert.equal(limitedSubject(hello({ authmethods: ["wamp-scram"], authid: "bob" }), auth), "bob");
});

Deno.test("scram: after auth_max_failures the next attempt waits its turn, then is refused when too far", async () => {
  await using r = await startRouter(config({ auth_max_failures: 1, auth_max_delay: 1 }));
  for (let i = 0; i < 2; i++) {
    const wrong = await login(r.url, "alice", "nope");
    assert.equal(wrong.final[0], T.ABORT);
  }
  // two attempts in parallel: the second's turn is farther away than auth_max_delay
  const a = await RawClient.connect(r.url, "json");
  const b = await RawClient.connect(r.url, "json");
  for (const c of [a, b]) {
    c.send([T.HELLO, "realm1", {
      roles: ROLES_HELLO,
      authmethods: ["scram"],
      authid: "alice",
      authextra: { nonce: newNonce() },
    }]);
  }
  const refused = await b.next(5000);
  assert.deepEqual([refused[0], refused[2]], [T.ABORT, "wamp.error.not_authorized"]);
  assert.match((refused[1] as D).message as string, /too many failed authentication attempts/);
  await a[Symbol.asyncDispose]();
  await b[Symbol.asyncDispose]();
});

Deno.test("scram config: principals are checked, keys are secrets", () => {
  const bad = (principal: D) => () =>
    parseConfig(config({}, { type: "static", principals: { x: { role: "user", ...principal } } }), {
      env: (name) => name === "STORED" ? ALICE["stored-key"] : undefined,
    });
  assert.throws(bad({ ...ALICE, kdf: "scrypt" }), /principals\.x\.kdf: must be "argon2id-13"/);
  assert.throws(bad({ ...ALICE, memory: undefined }), /principals\.x\.memory/);
  assert.throws(bad({ ...ALICE, salt: "zz" }), /principals\.x\.salt: must be hex/);
  assert.throws(bad({ ...ALICE, "server-key": "abc" }), (e: Error) => {
    assert.match(e.message, /"server-key"\]: must be 64 hex characters/);
    assert.ok(!e.message.includes("abc"), "never quotes the key");
    return true;
  });
  assert.throws(
    bad({ ...ALICE, "stored-key": 5 }),
    /"stored-key"\]: must be a non-empty string.*got a number/,
  );
  bad({ ...ALICE, "stored-key": "$STORED" })();
  assert.throws(bad({ ...PAUL, extra: 1 }), /principals\.x\.extra: unknown key/);
});
