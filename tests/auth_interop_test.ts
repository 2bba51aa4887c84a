/**
 * Authentication with real clients: Autobahn|Python (asyncio, tests/interop/auth_client.py as
 * a child process) and AutobahnJS (npm `autobahn`, in-process) with ticket, WAMP-CRA (a salted
 * user, and one without a salt of its own, which then gets a synthesized one) and cryptosign
 * against static principals, over JSON and MessagePack, each with a failure case. Then TLS: a router serving `wss://` with a self-signed certificate made here
 * with openssl, reached by clients that verify it (Deno's WebSocket with the certificate as
 * CA, Autobahn|Python with an ssl context loading it), and refused by the same clients without
 * it.
 */

import assert from "node:assert/strict";
import { autobahn as autobahnModule } from "./_npm.ts";
import { selfSigned } from "./_certificates.ts";
import { ALLOW_ALL, hex, startRouter, unhex } from "./_helpers.ts";
import { deadline, deferred, show } from "./interop/common.ts";
import { python, runPython } from "./interop/auth_client.ts";

type D = Record<string, unknown>;
type Ser = "json" | "msgpack";
const SERS: readonly Ser[] = ["json", "msgpack"];

const NOT_AUTHORIZED = "wamp.error.not_authorized";

// ---------------------------------------------------------------------------------------------
// Keys and config

/** An Ed25519 key as both clients take it: the 32-byte seed and the public key, hex. */
interface SeedKey {
  seed: string;
  pub: string;
}

/** A random seed and its public key (PKCS#8 import, JWK export). */
async function newSeedKey(): Promise<SeedKey> {
  const seed = hex(crypto.getRandomValues(new Uint8Array(32)));
  const pkcs8 = unhex("302e020100300506032b657004220420" + seed);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const x = atob(jwk.x!.replace(/-/g, "+").replace(/_/g, "/"));
  return { seed, pub: hex(Uint8Array.from(x, (c) => c.charCodeAt(0))) };
}

const DAVE = await newSeedKey();
const STRANGER = await newSeedKey();

const SAM = { secret: "sam-secret", salt: "salt123", iterations: 100, keylen: 16 };
const ROLES = [ALLOW_ALL, {
  name: "user",
  permissions: [{
    uri: "",
    match: "prefix",
    allow: { call: true, register: true, publish: true, subscribe: true },
  }],
}];

const AUTH = {
  ticket: { type: "static", principals: { alice: { ticket: "alice-ticket", role: "user" } } },
  wampcra: {
    type: "static",
    users: {
      sam: { secret: SAM.secret, role: "user", salt: SAM.salt, iterations: 100, keylen: 16 },
      carol: { secret: "carol-secret", role: "user" },
    },
  },
  cryptosign: {
    type: "static",
    principals: { dave: { authorized_keys: [DAVE.pub], role: "user" } },
  },
};

/** One realm; a `websocket` transport with all three methods (TLS when `tls` is given). */
function config(tls?: { certificate: string; key: string }) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }],
      transports: [{
        type: "websocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0, ...(tls ? { tls } : {}) },
        serializers: ["json", "msgpack"],
        auth: AUTH,
        options: { auth_max_failures: 1000 },
      }],
    }],
  };
}

/** The WELCOME identity fields of a report. */
function identity(r: D): D {
  const { authid, authrole, authmethod, authprovider, authextra } = r;
  return { authid, authrole, authmethod, authprovider, authextra };
}

// ---------------------------------------------------------------------------------------------
// Autobahn|Python

function assertAbort(res: D, reason: string): void {
  assert.equal(res.joined, false, show(res));
  assert.equal(res.reason, reason, show(res));
  assert.ok(typeof res.message === "string" && res.message.length > 0, show(res));
}

Deno.test("auth interop: Autobahn|Python", async (t) => {
  const py = await python();
  await using r = await startRouter(config());
  const run = (ser: Ser, args: string[]) => runPython(py, r.url, ser, args);

  for (const ser of SERS) {
    await t.step(`${ser}: ticket`, async () => {
      const ok = await run(ser, [
        "--method",
        "ticket",
        "--authid",
        "alice",
        "--ticket",
        "alice-ticket",
      ]);
      assert.equal(ok.joined, true, show(ok));
      assert.deepEqual(identity(ok), {
        authid: "alice",
        authrole: "user",
        authmethod: "ticket",
        authprovider: "static",
        authextra: {},
      });
      assert.deepEqual(ok.challenge, { method: "ticket", extra: {} });
      const bad = await run(ser, ["--method", "ticket", "--authid", "alice", "--ticket", "nope"]);
      assertAbort(bad, NOT_AUTHORIZED);
    });

    await t.step(`${ser}: wampcra salted (derive_key + compute_wcs)`, async () => {
      const ok = await run(ser, ["--method", "wampcra", "--authid", "sam", "--secret", SAM.secret]);
      assert.equal(ok.joined, true, show(ok));
      assert.deepEqual(identity(ok), {
        authid: "sam",
        authrole: "user",
        authmethod: "wampcra",
        authprovider: "static",
        authextra: {},
      });
      const extra = (ok.challenge as D).extra as D;
      assert.deepEqual([extra.salt, extra.iterations, extra.keylen], ["salt123", 100, 16]);
      const bad = await run(ser, ["--method", "wampcra", "--authid", "sam", "--secret", "guess"]);
      assertAbort(bad, NOT_AUTHORIZED);
    });

    await t.step(`${ser}: wampcra, a user without a salt of its own`, async () => {
      const ok = await run(ser, [
        "--method",
        "wampcra",
        "--authid",
        "carol",
        "--secret",
        "carol-secret",
      ]);
      assert.equal(ok.joined, true, show(ok));
      assert.equal(ok.authid, "carol");
      assert.equal(ok.authmethod, "wampcra");
      // salted like sam's (derive_key ran): the endpoint has a salted user
      const extra = (ok.challenge as D).extra as D;
      assert.deepEqual([typeof extra.salt, extra.iterations, extra.keylen], ["string", 100, 16]);
      const bad = await run(ser, ["--method", "wampcra", "--authid", "carol", "--secret", "x"]);
      assertAbort(bad, NOT_AUTHORIZED);
    });

    await t.step(`${ser}: cryptosign (CryptosignKey.sign_challenge)`, async () => {
      const ok = await run(ser, [
        "--method",
        "cryptosign",
        "--authid",
        "dave",
        "--private-key",
        DAVE.seed,
      ]);
      assert.equal(ok.joined, true, show(ok));
      assert.deepEqual(identity(ok), {
        authid: "dave",
        authrole: "user",
        authmethod: "cryptosign",
        authprovider: "static",
        authextra: { pubkey: DAVE.pub },
      });
      // the principal found by its key alone
      const byKey = await run(ser, ["--method", "cryptosign", "--private-key", DAVE.seed]);
      assert.equal(byKey.joined, true, show(byKey));
      assert.equal(byKey.authid, "dave");
      // a key no principal has
      const bad = await run(ser, [
        "--method",
        "cryptosign",
        "--authid",
        "dave",
        "--private-key",
        STRANGER.seed,
      ]);
      assertAbort(bad, NOT_AUTHORIZED);
      assert.equal((bad.challenge as D)?.method, "cryptosign", "an unknown key is challenged too");
      // dave's public key announced, but signed with another private key
      const forged = await run(ser, [
        "--method",
        "cryptosign",
        "--authid",
        "dave",
        "--pubkey",
        DAVE.pub,
        "--private-key",
        STRANGER.seed,
      ]);
      assertAbort(forged, NOT_AUTHORIZED);
    });

    await t.step(`${ser}: asking for authrole "trusted" gets the configured role`, async () => {
      const ok = await run(ser, [
        "--method",
        "ticket",
        "--authid",
        "alice",
        "--ticket",
        "alice-ticket",
        "--authrole",
        "trusted",
      ]);
      assert.equal(ok.joined, true, show(ok));
      assert.equal(ok.authrole, "user");
    });
  }
});

// ---------------------------------------------------------------------------------------------
// AutobahnJS

interface AbSession {
  readonly id: number;
}

interface AbConnection {
  onopen: (session: AbSession, details: D) => void;
  onclose: (reason: string, details: { reason: string | null; message: string | null }) => boolean;
  readonly isConnected: boolean;
  open(): void;
  close(): void;
}

interface AbModule {
  Connection: new (options: D) => AbConnection;
  serializer: Record<string, new () => unknown>;
  auth_cra: {
    derive_key(secret: string, salt: string, iterations: number, keylen: number): string;
    sign(key: string, challenge: string): string;
  };
  auth_cryptosign: {
    sign_challenge(pkey: { publicKey: Uint8Array; secretKey: Uint8Array }, extra: D): string;
  };
}

const ab = autobahnModule as unknown as AbModule;

interface AbClosed {
  reason: string;
  wampReason: string | null;
  message: string | null;
}

/** An AutobahnJS connection with authentication options; never retries. */
class AbAuthClient implements AsyncDisposable {
  readonly #connection: AbConnection;
  readonly joined: Promise<{ session: AbSession; details: D }>;
  readonly closed: Promise<AbClosed>;
  /** The CHALLENGE the router sent, if any. */
  challenge: { method: string; extra: D } | null = null;

  constructor(url: string, ser: Ser, auth: D, sign: (method: string, extra: D) => string) {
    const joined = deferred<{ session: AbSession; details: D }>();
    const closed = deferred<AbClosed>();
    this.joined = joined.promise;
    this.closed = closed.promise;
    this.joined.catch(() => {}); // a failed join is reported through `closed` too
    this.#connection = new ab.Connection({
      url,
      realm: "realm1",
      serializers: [new ab.serializer[ser === "json" ? "JSONSerializer" : "MsgpackSerializer"]!()],
      max_retries: 0,
      retry_if_unreachable: false,
      use_es6_promises: true,
      ...auth,
      onchallenge: (_session: unknown, method: string, extra: D) => {
        this.challenge = { method, extra };
        return sign(method, extra);
      },
    });
    this.#connection.onopen = (session, details) => joined.resolve({ session, details });
    this.#connection.onclose = (reason, details) => {
      const info = { reason, wampReason: details.reason, message: details.message };
      joined.reject(new Error(`connection closed: ${show(info)}`));
      closed.resolve(info);
      return true;
    };
    this.#connection.open();
  }

  /** The WELCOME details, or the close that ended the attempt. */
  async outcome(): Promise<{ welcome: D } | { closed: AbClosed }> {
    try {
      const { details } = await deadline(this.joined, 5000, "AutobahnJS join");
      return { welcome: details };
    } catch {
      return { closed: await deadline(this.closed, 5000, "AutobahnJS close") };
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#connection.isConnected) {
      try {
        this.#connection.close();
      } catch {
        // already closed
      }
    }
    await deadline(this.closed, 5000, "AutobahnJS close");
  }
}

function ticketSigner(ticket: string) {
  return (method: string) => {
    if (method !== "ticket") throw new Error(`unexpected ${method} challenge`);
    return ticket;
  };
}

function craSigner(secret: string) {
  return (method: string, extra: D) => {
    if (method !== "wampcra") throw new Error(`unexpected ${method} challenge`);
    const key = extra.salt === undefined ? secret : ab.auth_cra.derive_key(
      secret,
      extra.salt as string,
      extra.iterations as number,
      extra.keylen as number,
    );
    return ab.auth_cra.sign(key, extra.challenge as string);
  };
}

function cryptosignSigner(key: SeedKey) {
  // tweetnacl's secret key is seed ‖ public key
  const pkey = { publicKey: unhex(key.pub), secretKey: unhex(key.seed + key.pub) };
  return (method: string, extra: D) => {
    if (method !== "cryptosign") throw new Error(`unexpected ${method} challenge`);
    return ab.auth_cryptosign.sign_challenge(pkey, extra);
  };
}

function assertWelcome(o: { welcome: D } | { closed: AbClosed }, expected: D): void {
  assert.ok("welcome" in o, `expected WELCOME, got ${show(o)}`);
  assert.deepEqual(identity(o.welcome), expected);
}

function assertClosed(o: { welcome: D } | { closed: AbClosed }, reason: string): void {
  assert.ok("closed" in o, `expected ABORT ${reason}, got ${show(o)}`);
  assert.equal(o.closed.wampReason, reason, show(o));
  assert.ok(o.closed.message, show(o));
}

Deno.test("auth interop: AutobahnJS", async (t) => {
  await using r = await startRouter(config());
  const attempt = async (ser: Ser, auth: D, sign: (m: string, e: D) => string) => {
    await using c = new AbAuthClient(r.url, ser, auth, sign);
    return { outcome: await c.outcome(), challenge: c.challenge };
  };

  for (const ser of SERS) {
    await t.step(`${ser}: ticket`, async () => {
      const auth = { authmethods: ["ticket"], authid: "alice" };
      const ok = await attempt(ser, auth, ticketSigner("alice-ticket"));
      assertWelcome(ok.outcome, {
        authid: "alice",
        authrole: "user",
        authmethod: "ticket",
        authprovider: "static",
        authextra: {},
      });
      const bad = await attempt(ser, auth, ticketSigner("alice-ticket "));
      assertClosed(bad.outcome, NOT_AUTHORIZED);
    });

    await t.step(`${ser}: wampcra salted (auth_cra.derive_key + sign)`, async () => {
      const auth = { authmethods: ["wampcra"], authid: "sam" };
      const ok = await attempt(ser, auth, craSigner(SAM.secret));
      assertWelcome(ok.outcome, {
        authid: "sam",
        authrole: "user",
        authmethod: "wampcra",
        authprovider: "static",
        authextra: {},
      });
      assert.equal(ok.challenge?.extra.salt, SAM.salt);
      const bad = await attempt(ser, auth, craSigner("sam-secreT"));
      assertClosed(bad.outcome, NOT_AUTHORIZED);
    });

    await t.step(
      `${ser}: wampcra, a user without a salt of its own (derive_key + sign)`,
      async () => {
        const auth = { authmethods: ["wampcra"], authid: "carol" };
        const ok = await attempt(ser, auth, craSigner("carol-secret"));
        assertWelcome(ok.outcome, {
          authid: "carol",
          authrole: "user",
          authmethod: "wampcra",
          authprovider: "static",
          authextra: {},
        });
        // an unsalted user of an endpoint with salted users gets a salt too (the same shape as
        // sam's), and AutobahnJS derives the key from it
        const extra = ok.challenge?.extra ?? {};
        assert.equal(typeof extra.salt, "string", show(extra));
        assert.equal((extra.salt as string).length, SAM.salt.length, show(extra));
        assert.deepEqual([extra.iterations, extra.keylen], [SAM.iterations, SAM.keylen]);
        const bad = await attempt(ser, auth, craSigner("carol"));
        assertClosed(bad.outcome, NOT_AUTHORIZED);
      },
    );

    await t.step(`${ser}: cryptosign (auth_cryptosign.sign_challenge)`, async () => {
      const ok = await attempt(
        ser,
        { authmethods: ["cryptosign"], authid: "dave", authextra: { pubkey: DAVE.pub } },
        cryptosignSigner(DAVE),
      );
      assertWelcome(ok.outcome, {
        authid: "dave",
        authrole: "user",
        authmethod: "cryptosign",
        authprovider: "static",
        authextra: { pubkey: DAVE.pub },
      });
      const bad = await attempt(
        ser,
        { authmethods: ["cryptosign"], authid: "dave", authextra: { pubkey: STRANGER.pub } },
        cryptosignSigner(STRANGER),
      );
      assertClosed(bad.outcome, NOT_AUTHORIZED);
      // dave's public key announced, but signed with another private key
      const forged = await attempt(
        ser,
        { authmethods: ["cryptosign"], authid: "dave", authextra: { pubkey: DAVE.pub } },
        cryptosignSigner({ seed: STRANGER.seed, pub: DAVE.pub }),
      );
      assertClosed(forged.outcome, NOT_AUTHORIZED);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// TLS

/**
 * Opens a Deno WebSocket (wamp.2.json) with `client` and joins realm1 with a ticket; returns
 * the WELCOME details, or the connection error's message.
 */
async function denoTicketJoin(
  url: string,
  client: Deno.HttpClient | null,
): Promise<{ welcome: D } | { error: string }> {
  const ws = client
    ? new WebSocket(url, { protocols: ["wamp.2.json"], client })
    : new WebSocket(url, ["wamp.2.json"]);
  const inbox: unknown[][] = [];
  let wake = () => {};
  let error: string | null = null;
  const opened = deferred<boolean>();
  const closed = new Promise<void>((resolve) => {
    ws.onclose = () => {
      opened.resolve(false);
      wake();
      resolve();
    };
  });
  ws.onopen = () => opened.resolve(true);
  ws.onerror = (e) => {
    error = (e as ErrorEvent).message;
  };
  ws.onmessage = (e) => {
    inbox.push(JSON.parse(e.data as string));
    wake();
  };
  const next = async () => {
    while (inbox.length === 0 && ws.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => wake = resolve);
    }
    const m = inbox.shift();
    if (!m) throw new Error(`socket closed: ${error}`);
    return m;
  };
  try {
    if (!await deadline(opened.promise, 5000, "TLS WebSocket open")) {
      return { error: error ?? "closed without an error" };
    }
    ws.send(JSON.stringify([1, "realm1", {
      roles: { caller: {} },
      authmethods: ["ticket"],
      authid: "alice",
    }]));
    const challenge = await deadline(next(), 5000, "CHALLENGE");
    assert.deepEqual(challenge, [4, "ticket", {}]);
    ws.send(JSON.stringify([5, "alice-ticket", {}]));
    const welcome = await deadline(next(), 5000, "WELCOME");
    assert.equal(welcome[0], 2, show(welcome));
    return { welcome: welcome[2] as D };
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
    await closed;
  }
}

Deno.test("TLS: wss:// with a certificate the clients verify", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard_auth_tls_" });
  try {
    const tls = await selfSigned(dir);
    const pem = await Deno.readTextFile(tls.certificate);
    await using r = await startRouter(config(tls));

    await t.step("the listener URL is wss://", () => {
      assert.match(r.url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
    });

    await t.step("Deno's WebSocket trusting the certificate joins", async () => {
      const client = Deno.createHttpClient({ caCerts: [pem] });
      try {
        const res = await denoTicketJoin(r.url, client);
        assert.ok("welcome" in res, show(res));
        assert.equal(res.welcome.authid, "alice");
        assert.equal(res.welcome.authmethod, "ticket");
      } finally {
        client.close();
      }
    });

    await t.step(
      "session details say TLS; cryptosign channel binding is refused on TLS too",
      async () => {
        const admin = await r.router.session("realm1");
        const joins: D[] = [];
        await admin.subscribe("wamp.session.on_join", (args) => void joins.push(args[0] as D));
        const client = Deno.createHttpClient({ caCerts: [pem] });
        try {
          const res = await denoTicketJoin(r.url, client);
          assert.ok("welcome" in res, show(res));
          const mine = joins.find((j) => j.authid === "alice");
          assert.ok(mine, show(joins));
          const transport = mine.transport as D;
          assert.equal(transport.is_secure, true);
          assert.equal(transport.channel_type, "tls");

          // Deno exposes no TLS Finished message (tls-unique), so the binding is refused clearly.
          const ws = new WebSocket(r.url, { protocols: ["wamp.2.json"], client });
          const reply = deferred<unknown[]>();
          ws.onmessage = (e) => reply.resolve(JSON.parse(e.data as string));
          const closed = new Promise((resolve) => ws.onclose = resolve);
          await new Promise((resolve) => ws.onopen = resolve);
          ws.send(JSON.stringify([1, "realm1", {
            roles: { caller: {} },
            authmethods: ["cryptosign"],
            authid: "dave",
            authextra: { pubkey: DAVE.pub, channel_binding: "tls-unique" },
          }]));
          const abort = await deadline(reply.promise, 5000, "ABORT");
          assert.equal(abort[0], 3, show(abort));
          assert.equal(abort[2], "wamp.error.not_authorized");
          assert.match(String((abort[1] as D).message), /channel binding "tls-unique"/);
          await closed;
        } finally {
          client.close();
          await admin.close();
        }
      },
    );

    await t.step("Deno's WebSocket without the CA fails verification", async () => {
      const res = await denoTicketJoin(r.url, null);
      assert.ok("error" in res, show(res));
      assert.match(res.error, /certificate|UnknownIssuer/i);
    });

    const py = await python();
    for (const ser of SERS) {
      await t.step(
        `${ser}: Autobahn|Python with cafile=cert.pem: ticket and cryptosign`,
        async () => {
          const ticket = await runPython(py, r.url, ser, [
            "--cafile",
            tls.certificate,
            "--method",
            "ticket",
            "--authid",
            "alice",
            "--ticket",
            "alice-ticket",
          ]);
          assert.equal(ticket.joined, true, show(ticket));
          assert.equal(ticket.authid, "alice");
          const signed = await runPython(py, r.url, ser, [
            "--cafile",
            tls.certificate,
            "--method",
            "cryptosign",
            "--private-key",
            DAVE.seed,
          ]);
          assert.equal(signed.joined, true, show(signed));
          assert.equal(signed.authmethod, "cryptosign");
          assert.equal(signed.authid, "dave");
        },
      );
    }

    await t.step("Autobahn|Python without the CA fails verification", async () => {
      const res = await runPython(py, r.url, "json", [
        "--method",
        "ticket",
        "--authid",
        "alice",
        "--ticket",
        "alice-ticket",
      ]);
      assert.equal(res.joined, false, show(res));
      assert.match(
        String(res.error),
        /CERTIFICATE_VERIFY_FAILED|certificate verify failed/,
        show(res),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
