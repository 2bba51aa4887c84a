/**
 * Crossbar drop-in behaviour (issue 11, points 1–8), checked with Autobahn|Python clients
 * written as Crossbar's examples write them (tests/interop/crossbar_client.py: ApplicationRunner
 * and Component, a ticket login reading `MYTICKET`, the docs' one-argument `on_leave` monitor,
 * HELLO without a realm) and with raw WAMP where the wire itself is the point.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  loadConfigFile,
  type Logger,
  parseConfig,
  Router,
  silentLogger,
  WampError,
} from "../mod.ts";
import { deriveScramCredential } from "../src/auth/scram_kdf.ts";
import { joinedRealm } from "../src/auth/step.ts";
import { selfSigned } from "./_certificates.ts";
import { craSign } from "./_cra.ts";
import type { WebTransportConfig } from "../src/config/types.ts";
import {
  type EdKey,
  hex,
  newEdKey,
  RawClient,
  startRouter,
  testConfig,
  unhex,
} from "./_helpers.ts";
import { Child } from "./_process.ts";
import { WampyClient } from "./interop/common.ts";
import { findPython } from "./interop/python.ts";

type D = Record<string, unknown>;

const SCRIPT = new URL("./interop/crossbar_client.py", import.meta.url).pathname;

/** The Python interpreter with Autobahn (fails the test when there is none). */
async function python(): Promise<string> {
  const { python, tried } = await findPython();
  if (!python) throw new Error(`no Python with Autobahn: ${tried.join("; ")}`);
  return python;
}

/** Starts crossbar_client.py with `args`; `env` adds to its environment (MYTICKET...). */
function crossbarClient(py: string, args: string[], env: Record<string, string> = {}): Child {
  return new Child(
    new Deno.Command(py, {
      args: [SCRIPT, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1", ...env },
      signal: AbortSignal.timeout(20_000),
    }),
  );
}

/** Runs crossbar_client.py to its end and returns its JSON result line. */
async function clientResult(
  py: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<D> {
  await using child = crossbarClient(py, args, env);
  const status = await child.status();
  const last = child.stdout.trim().split("\n").at(-1) ?? "";
  assert.equal(status.code, 0, `crossbar_client.py failed:\n${child.stdout}\n${child.stderr}`);
  assert.ok(last.startsWith("{"), `no result line:\n${child.stdout}\n${child.stderr}`);
  return JSON.parse(last) as D;
}

/** testConfig whose WebSocket path has `auth`, with roles `frontend` and `backend` too. */
function authConfig(auth: D, realms: D[] = []) {
  const roles = [
    { name: "frontend", permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }] },
    { name: "backend", permissions: [{ uri: "", match: "prefix", allow: { register: true } }] },
  ];
  const c = testConfig({ roles }, realms.map((r) => ({ roles, ...r })));
  (c.workers[0]!.transports[0]!.paths.ws as D).auth = auth;
  return c;
}

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail("no ConfigError");
}

// ---- 1. "${VAR}" secrets --------------------------------------------------------------------

const TICKET_PATH = "workers[0].transports[0].paths.ws.auth.ticket.principals.client1.ticket";

/** A static ticket principal `client1` whose ticket is `ticket` (as written in the file). */
function ticketAuth(ticket: string, realm?: string): D {
  return {
    ticket: {
      type: "static",
      principals: { client1: { ticket, role: "frontend", ...(realm ? { realm } : {}) } },
    },
  };
}

/** The ticket `client1` gets when the config is parsed with `env`. */
function ticketOf(ticket: string, env: Record<string, string>): string {
  const parsed = parseConfig(authConfig(ticketAuth(ticket)), { env: (n) => env[n] });
  const web = parsed.transports[0]! as WebTransportConfig;
  return web.paths.get("ws")!.auth.ticket!.get("client1")!.ticket;
}

Deno.test('1. "${VAR}" and "$VAR" secrets read the environment; unset or malformed is an error naming the key', () => {
  const env = { MYTICKET: "secret123" };
  assert.equal(ticketOf("${MYTICKET}", env), "secret123");
  assert.equal(ticketOf("$MYTICKET", env), "secret123");
  // not a reference: taken as written
  assert.equal(ticketOf("${MYTICKET", env), "${MYTICKET");
  assert.equal(ticketOf("pre${MYTICKET}", env), "pre${MYTICKET}");
  for (const written of ["${MYTICKET}", "$MYTICKET"]) {
    const e = configError(() => parseConfig(authConfig(ticketAuth(written)), { env: () => "" }));
    assert.equal(e.path, TICKET_PATH);
    assert.match(e.reason, /environment variable MYTICKET is not set/);
  }
  for (const bad of ["${MY-TICKET}", "${}", "${1ABC}", "${MY TICKET}"]) {
    const e = configError(() => parseConfig(authConfig(ticketAuth(bad)), { env: () => "x" }));
    assert.equal(e.path, TICKET_PATH, bad);
    assert.match(e.reason, /must name an environment variable/, bad);
  }
  // the wampcra secret and scram keys are read the same way
  const cra = authConfig({
    wampcra: { type: "static", users: { bob: { secret: "${SB_UNSET}", role: "frontend" } } },
  });
  const e = configError(() => parseConfig(cra, { env: () => undefined }));
  assert.equal(e.path, "workers[0].transports[0].paths.ws.auth.wampcra.users.bob.secret");
  assert.match(e.reason, /SB_UNSET/);
});

Deno.test('1. Autobahn|Python: the ticket from "${MYTICKET}" gets in, the literal "${MYTICKET}" does not', async () => {
  const py = await python();
  const name = "SB_CB_BEHAVIOUR_TICKET";
  Deno.env.set(name, "secret123");
  let r;
  try {
    r = await startRouter(authConfig(ticketAuth(`\${${name}}`)));
  } finally {
    Deno.env.delete(name);
  }
  await using _ = r;
  const args = ["--url", r.url, "--scenario", "ticket", "--realm", "realm1"];
  const right = await clientResult(py, args, { MYTICKET: "secret123" });
  assert.equal(right.joined, true, JSON.stringify(right));
  assert.equal(right.authid, "client1");
  assert.equal(right.authrole, "frontend");
  const literal = await clientResult(py, args, { MYTICKET: `\${${name}}` });
  assert.equal(literal.joined, false, JSON.stringify(literal));
  assert.equal(literal.leave_reason, "wamp.error.not_authorized");
});

// ---- 2. on_leave carries exactly [session_id] -----------------------------------------------

Deno.test("2. wamp.session.on_leave is exactly [session_id]: the docs' one-argument monitor works", async () => {
  const py = await python();
  await using r = await startRouter();
  await using monitor = crossbarClient(py, [
    "--url",
    r.url,
    "--scenario",
    "monitor",
    "--realm",
    "realm1",
    "--count",
    "2",
  ]);
  await monitor.stdoutLine(/^READY$/);
  const ids: number[] = [];
  for (const how of ["goodbye", "disconnect"]) {
    const { client, session } = await RawClient.join(r.url, "json");
    ids.push(session);
    if (how === "goodbye") {
      client.send([6, {}, "wamp.close.close_realm"]);
      assert.equal((await client.next())[0], 6);
    }
    await client[Symbol.asyncDispose]();
    await monitor.stdoutLine(new RegExp(`^LEFT ${session}$`));
  }
  assert.equal((await monitor.status()).code, 0, monitor.stderr);
  const result = JSON.parse(monitor.stdout.trim().split("\n").at(-1)!) as D;
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.left, ids);

  // on the wire: one positional argument, nothing else
  await using raw = (await RawClient.join(r.url, "json")).client;
  raw.send([32, 1, {}, "wamp.session.on_leave"]);
  assert.equal((await raw.next())[0], 33);
  const { client, session } = await RawClient.join(r.url, "msgpack");
  await client[Symbol.asyncDispose]();
  const ev = await raw.nextOf(36);
  assert.deepEqual(ev.slice(4), [[session]]);
});

// ---- 3. receive_progress reaches callees that did not announce progressive results ----------

Deno.test("3. a wampy callee (no progressive_call_results announced) is asked for progress and its progressive YIELDs reach the caller", async () => {
  await using r = await startRouter();
  await using callee = await WampyClient.join(r.url, "json");
  const asked: unknown[] = [];
  await callee.wampy.register("com.example.countdown", (invocation: {
    details: D;
    argsList?: unknown[];
    result_handler: (result: { options: D; argsList: unknown[] }) => void;
  }) => {
    asked.push(invocation.details.receive_progress ?? false);
    if (invocation.details.receive_progress) {
      for (const n of [2, 1]) {
        invocation.result_handler({ options: { progress: true }, argsList: [n] });
      }
    }
    return { argsList: ["liftoff"] };
  });
  await using caller = (await RawClient.join(r.url, "json")).client;
  caller.send([48, 1, { receive_progress: true }, "com.example.countdown", []]);
  assert.deepEqual(await caller.next(), [50, 1, { progress: true }, [2]]);
  assert.deepEqual(await caller.next(), [50, 1, { progress: true }, [1]]);
  assert.deepEqual(await caller.next(), [50, 1, {}, ["liftoff"]]);
  // a caller that does not ask gets the final result only, and the callee is not asked
  caller.send([48, 2, {}, "com.example.countdown", []]);
  assert.deepEqual(await caller.next(), [50, 2, {}, ["liftoff"]]);
  assert.deepEqual(asked, [true, false]);
});

// ---- 5. channel_binding "tls-unique" without TLS proceeds unbound; on TLS it is refused -----

/** A logger that keeps every line. */
function recordingLogger(lines: { level: string; message: string; fields?: D }[]): Logger {
  const at = (level: string) => (message: string, fields?: D) =>
    void lines.push({ level, message, fields });
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

/** HELLO asking cryptosign with `channel_binding` for key `key`, authid dave. */
function cryptosignHello(c: RawClient, key: EdKey, binding: string, realm = "realm1"): void {
  c.send([1, realm, {
    roles: { caller: {} },
    authmethods: ["cryptosign"],
    authid: "dave",
    authextra: { pubkey: key.publicHex, channel_binding: binding },
  }]);
}

Deno.test('5. cryptosign with channel_binding "tls-unique" on a plain transport joins unbound, logged at debug', async () => {
  const dave = await newEdKey();
  const lines: { level: string; message: string; fields?: D }[] = [];
  await using r = await startRouter(
    authConfig({
      cryptosign: {
        type: "static",
        principals: { dave: { authorized_keys: [dave.publicHex], role: "frontend" } },
      },
    }),
    { logger: recordingLogger(lines) },
  );
  await using c = await RawClient.connect(r.url, "json");
  cryptosignHello(c, dave, "tls-unique");
  const challenge = await c.next();
  assert.equal(challenge[0], 4, JSON.stringify(challenge));
  const extra = challenge[2] as D;
  assert.equal(extra.channel_binding, "tls-unique", "echoed, as Crossbar does");
  const bytes = unhex(extra.challenge as string);
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", dave.privateKey, bytes));
  c.send([5, hex(signature) + hex(bytes), {}]);
  const welcome = await c.next();
  assert.equal(welcome[0], 2, JSON.stringify(welcome));
  assert.equal((welcome[2] as D).authid, "dave");
  const debug = lines.filter((l) => l.level === "debug" && /without binding/.test(l.message));
  assert.equal(debug.length, 1, JSON.stringify(lines));
  assert.equal(debug[0]!.fields?.binding, "tls-unique");
});

// ---- 6. relative paths resolve against the config file's directory --------------------------

/** The next message on a JSON WebSocket, or null when it closes first. */
function nextJson(ws: WebSocket): Promise<unknown[] | null> {
  return new Promise((resolve) => {
    ws.onmessage = (e) => resolve(JSON.parse(e.data as string));
    ws.onclose = () => resolve(null);
  });
}

/** The Unix socket the test run may use (`--allow-net=unix:...`). */
const UNIX_SOCKET = "/tmp/switchboard-rawsocket-test.sock";

Deno.test("6. TLS files and a Unix socket written relative resolve against the config file's directory, from another cwd", async (t) => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sb_cb_paths_" });
  try {
    await Deno.mkdir(`${dir}/tls`);
    await selfSigned(`${dir}/tls`);
    const dave = await newEdKey();
    const scram = await deriveScramCredential("carl-pw", { kdf: "pbkdf2", iterations: 1000 });
    const roles = [{ name: "frontend", permissions: [] }];
    const file = {
      version: 2,
      workers: [{
        type: "router",
        realms: [{ name: "realm1", roles }],
        transports: [
          {
            type: "websocket",
            endpoint: {
              type: "tcp",
              interface: "127.0.0.1",
              port: 0,
              tls: { certificate: "tls/cert.pem", key: "./tls/key.pem" },
            },
            auth: {
              anonymous: { type: "static", role: "frontend" },
              cryptosign: {
                type: "static",
                principals: { dave: { authorized_keys: [dave.publicHex], role: "frontend" } },
              },
              scram: { type: "static", principals: { carl: { ...scram, role: "frontend" } } },
            },
          },
          {
            type: "rawsocket",
            endpoint: { type: "unix", path: `../${UNIX_SOCKET.split("/").at(-1)}` },
          },
        ],
      }],
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(file));
    assert.notEqual(Deno.cwd(), dir);
    const config = await loadConfigFile(`${dir}/config.json`);

    await t.step("the parsed endpoints name the files next to the config", () => {
      const ws = config.transports[0]!;
      assert.deepEqual(ws.endpoint.tls, {
        certificate: `${dir}/tls/cert.pem`,
        key: `${dir}/tls/key.pem`,
      });
      const raw = config.transports[1]!;
      assert.equal(raw.type, "rawsocket");
      if (raw.type === "rawsocket") assert.equal(raw.endpoint.unix, UNIX_SOCKET);
      // a config given as an object has no file: paths stay as written (the working directory)
      const inline = parseConfig(file);
      assert.equal(inline.transports[0]!.endpoint.tls?.certificate, "tls/cert.pem");
    });

    const router = new Router(config, { logger: silentLogger });
    try {
      const listeners = await router.serve();
      const url = listeners[0]!.urls[0]!;
      assert.match(url, /^wss:\/\//);
      const pem = await Deno.readTextFile(`${dir}/tls/cert.pem`);
      const client = Deno.createHttpClient({ caCerts: [pem] });
      const open = async () => {
        const ws = new WebSocket(url, { protocols: ["wamp.2.json"], client });
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = () => reject(new Error("wss connection failed"));
        });
        return ws;
      };
      try {
        await t.step("wss:// serves with the certificate found next to the config", async () => {
          const ws = await open();
          const reply = nextJson(ws);
          ws.send(JSON.stringify([1, "realm1", { roles: { caller: {} } }]));
          const welcome = await reply;
          assert.equal(welcome?.[0], 2, JSON.stringify(welcome));
          const closed = nextJson(ws);
          ws.close();
          await closed;
        });

        await t.step(
          '5. on TLS, "tls-unique" (not computable in Deno) is still refused: cryptosign and scram',
          async () => {
            for (
              const authextra of [
                { pubkey: dave.publicHex, channel_binding: "tls-unique" },
                { nonce: btoa("0123456789abcdef"), channel_binding: "tls-unique" },
              ]
            ) {
              const ws = await open();
              const reply = nextJson(ws);
              ws.send(JSON.stringify([1, "realm1", {
                roles: { caller: {} },
                authmethods: ["pubkey" in authextra ? "cryptosign" : "scram"],
                authid: "pubkey" in authextra ? "dave" : "carl",
                authextra,
              }]));
              const abort = await reply;
              assert.equal(abort?.[0], 3, JSON.stringify(abort));
              assert.match(String((abort![1] as D).message), /"tls-unique" is not available/);
              if (ws.readyState !== WebSocket.CLOSED) await nextJson(ws);
            }
          },
        );
      } finally {
        client.close();
      }

      await t.step("the RawSocket listens on the Unix socket next to the config", async () => {
        const conn = await Deno.connect({ transport: "unix", path: UNIX_SOCKET });
        try {
          await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
          const reply = new Uint8Array(4);
          let n = 0;
          while (n < 4) {
            const got = await conn.read(reply.subarray(n));
            if (got === null) break;
            n += got;
          }
          assert.equal(reply[0], 0x7f, "RawSocket handshake reply");
          assert.equal(reply[1]! & 0x0f, 1, "JSON accepted");
        } finally {
          conn.close();
        }
      });
    } finally {
      await router.close(100);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- 8. universal transports: errors and warnings name the path as written ------------------

/** A node config whose only transport is `universal` with `more` keys. */
function universal(more: D) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [] }] }],
      transports: [{
        type: "universal",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        ...more,
      }],
    }],
  };
}

const U = "workers[0].transports[0]";

Deno.test("8. universal transports: config errors name websocket.<path> and web.paths.<path> as written", () => {
  const ws = (item: D) => universal({ websocket: { ws: { type: "websocket", ...item } } });
  const web = (paths: D) => universal({ web: { paths } });
  const cases: [unknown, string, RegExp][] = [
    [ws({ serializers: ["bogus"] }), `${U}.websocket.ws.serializers[0]`, /must be/],
    [ws({ nonsense: 1 }), `${U}.websocket.ws.nonsense`, /unknown key/],
    [ws({ type: "nope" }), `${U}.websocket.ws.type`, /not implemented/],
    [
      ws({ auth: { ticket: { type: "static", principals: { alice: { ticket: "t" } } } } }),
      `${U}.websocket.ws.auth.ticket.principals.alice.role`,
      /required/,
    ],
    [
      universal({ websocket: { "/": { type: "websocket", options: { max_message_size: -1 } } } }),
      `${U}.websocket["/"].options.max_message_size`,
      /./,
    ],
    [web({ w2: { type: "websocket", serializers: [] } }), `${U}.web.paths.w2.serializers`, /./],
    [web({ pub: { type: "publisher" } }), `${U}.web.paths.pub.realm`, /required/],
    [web({ "bad path": { type: "websocket" } }), `${U}.web.paths["bad path"]`, /invalid path/],
    [
      universal({
        websocket: { ws: { type: "websocket" } },
        web: { paths: { ws: { type: "caller", realm: "realm1", role: "anonymous" } } },
      }),
      `${U}.web.paths.ws`,
      /also a websocket path/,
    ],
    [
      web({ w2: { type: "websocket", auth: { tls: { type: "dynamic", authenticator: "a.b" } } } }),
      `${U}.web.paths.w2.auth.tls`,
      /TLS/,
    ],
    [
      ws({ auth: { tls: { type: "dynamic", authenticator: "a.b" } } }),
      `${U}.websocket.ws.auth.tls`,
      /TLS/,
    ],
  ];
  for (const [config, path, reason] of cases) {
    const e = configError(() => parseConfig(config, { env: () => undefined }));
    assert.equal(e.path, path, e.message);
    assert.match(e.reason, reason, e.message);
    assert.ok(!e.message.includes(`${U}.paths`), `internal path in: ${e.message}`);
  }
  // warnings too
  const warned = parseConfig(
    web({
      w2: { type: "websocket", cookie: { store: { type: "file", filename: "cookies.dat" } } },
    }),
  );
  const paths = warned.warnings?.map((w) => w.path) ?? [];
  assert.ok(paths.includes(`${U}.web.paths.w2.cookie.store.type`), JSON.stringify(paths));
  assert.ok(paths.every((p) => p.startsWith(`${U}.web.paths.w2.`)), JSON.stringify(paths));
});

// ---- 4. the realm assigned by authentication ------------------------------------------------

/** realm1 and realm2, a ticket principal `client1` assigned to realm2 (MYTICKET "t1"). */
function assignedConfig(more: D = {}) {
  return authConfig({
    ticket: {
      type: "static",
      principals: {
        client1: { ticket: "t1", role: "frontend", realm: "realm2" },
        floating: { ticket: "t2", role: "frontend" },
        nowhere: { ticket: "t3", role: "frontend", realm: "realm9" },
      },
    },
    ...more,
  }, [{ name: "realm2" }]);
}

/** HELLO (realm may be null), then AUTHENTICATE with `ticket`; the reply after it. */
async function ticketJoin(url: string, realm: string | null, authid: string, ticket: string) {
  await using c = await RawClient.connect(url, "json");
  c.send([1, realm, { roles: { caller: {} }, authmethods: ["ticket"], authid }]);
  const challenge = await c.next();
  if (challenge[0] !== 4) return challenge;
  c.send([5, ticket, {}]);
  return await c.next();
}

Deno.test("4. Autobahn|Python with realm=None joins the realm its ticket principal is assigned (ApplicationRunner and Component)", async () => {
  const py = await python();
  await using r = await startRouter(assignedConfig());
  for (const scenario of ["ticket", "component"]) {
    const joined = await clientResult(py, ["--url", r.url, "--scenario", scenario], {
      MYTICKET: "t1",
    });
    assert.equal(joined.joined, true, `${scenario}: ${JSON.stringify(joined)}`);
    assert.equal(joined.realm, "realm2", scenario);
    assert.equal(joined.authid, "client1", scenario);
    assert.equal(joined.authrole, "frontend", scenario);
    const wrong = await clientResult(py, ["--url", r.url, "--scenario", scenario], {
      MYTICKET: "t2",
    });
    assert.equal(wrong.joined, false, `${scenario}: ${JSON.stringify(wrong)}`);
    assert.equal(wrong.leave_reason, "wamp.error.not_authorized", scenario);
  }
  // naming the assigned realm works as before
  const named = await clientResult(py, [
    "--url",
    r.url,
    "--scenario",
    "ticket",
    "--realm",
    "realm2",
  ], {
    MYTICKET: "t1",
  });
  assert.equal(named.realm, "realm2");
});

Deno.test("4. Autobahn|Python with realm=None joins the realm a dynamic authenticator answers", async () => {
  const py = await python();
  await using r = await startRouter(authConfig({
    ticket: {
      type: "dynamic",
      authenticator: "com.example.authenticate",
      "authenticator-realm": "realm1",
    },
  }, [{ name: "realm2" }]));
  const backend = await r.router.session("realm1", {
    authrole: "backend",
    authid: "authenticator",
  });
  const seen: unknown[][] = [];
  await backend.register("com.example.authenticate", (args) => {
    seen.push(args);
    const [realm, authid, details] = args as [string | null, string, D];
    if (details.ticket !== "t1") throw new WampError("com.example.invalid_ticket", "wrong ticket");
    if (authid === "client1") return { realm: "realm2", role: "frontend", extra: { k: 1 } };
    if (authid === "lost") return { realm: "realm9", role: "frontend" };
    if (authid === "vague") return { role: "frontend" };
    return { realm: realm ?? "realm1", role: "frontend" };
  });
  try {
    const joined = await clientResult(py, ["--url", r.url, "--scenario", "ticket"], {
      MYTICKET: "t1",
    });
    assert.equal(joined.joined, true, JSON.stringify(joined));
    assert.equal(joined.realm, "realm2");
    assert.equal(joined.authid, "client1");
    assert.equal(seen[0]![0], null, "the authenticator is told HELLO named no realm");
    const refused = await clientResult(py, ["--url", r.url, "--scenario", "component"], {
      MYTICKET: "nope",
    });
    assert.equal(refused.joined, false);
    assert.equal(refused.leave_reason, "com.example.invalid_ticket");

    // an answer realm the router does not have, or none for a realm-less HELLO
    assert.equal((await ticketJoin(r.url, null, "lost", "t1"))[2], "wamp.error.no_such_realm");
    assert.equal((await ticketJoin(r.url, null, "vague", "t1"))[2], "wamp.error.no_such_realm");
    // HELLO naming realm1 while the answer assigns realm2: no session (not redirected)
    const other = await ticketJoin(r.url, "realm1", "client1", "t1");
    assert.equal(other[0], 3, JSON.stringify(other));
    assert.equal(other[2], "wamp.error.authentication_failed");
    // the answer may confirm the realm HELLO named
    const same = await ticketJoin(r.url, "realm2", "client1", "t1");
    assert.equal(same[0], 2, JSON.stringify(same));
    assert.equal((same[2] as D).realm, "realm2");
  } finally {
    await backend.close();
  }
});

Deno.test("4. a HELLO without a realm reaches only the realm its principal is assigned; none assigned is no_such_realm", async (t) => {
  const dave = await newEdKey();
  await using r = await startRouter(assignedConfig({
    anonymous: { type: "static", role: "frontend" },
    cryptosign: {
      type: "static",
      principals: {
        dave: { authorized_keys: [dave.publicHex], role: "frontend", realm: "realm2" },
      },
    },
    wampcra: { type: "dynamic", authenticator: "com.example.cra" },
  }));

  await t.step(
    "static ticket: assigned realm, wrong ticket, no realm, unknown realm, other realm",
    async () => {
      const welcome = await ticketJoin(r.url, null, "client1", "t1");
      assert.equal(welcome[0], 2, JSON.stringify(welcome));
      assert.equal((welcome[2] as D).realm, "realm2");
      assert.deepEqual((await ticketJoin(r.url, null, "client1", "t2")).slice(0, 1), [3]);
      assert.equal(
        (await ticketJoin(r.url, null, "client1", "t2"))[2],
        "wamp.error.not_authorized",
      );
      // a principal without a realm: only the right ticket learns that none is assigned
      assert.equal(
        (await ticketJoin(r.url, null, "floating", "t1"))[2],
        "wamp.error.not_authorized",
      );
      assert.equal(
        (await ticketJoin(r.url, null, "floating", "t2"))[2],
        "wamp.error.no_such_realm",
      );
      assert.equal((await ticketJoin(r.url, null, "nowhere", "t3"))[2], "wamp.error.no_such_realm");
      // HELLO naming another realm than the assigned one fails like a wrong ticket
      assert.equal(
        (await ticketJoin(r.url, "realm1", "client1", "t1"))[2],
        "wamp.error.not_authorized",
      );
      assert.equal(
        (await ticketJoin(r.url, "nosuch", "client1", "t1"))[2],
        "wamp.error.no_such_realm",
      );
    },
  );

  await t.step(
    "anonymous, and a dynamic authenticator without authenticator-realm: no_such_realm",
    async () => {
      for (const authmethods of [["anonymous"], ["wampcra"]]) {
        await using c = await RawClient.connect(r.url, "json");
        c.send([1, null, { roles: { caller: {} }, authmethods, authid: "x" }]);
        const abort = await c.next();
        assert.deepEqual(abort.slice(0, 1), [3], JSON.stringify(abort));
        assert.equal(abort[2], "wamp.error.no_such_realm", JSON.stringify(abort));
      }
    },
  );

  await t.step("static cryptosign: the assigned realm", async () => {
    await using c = await RawClient.connect(r.url, "msgpack");
    c.send([1, null, {
      roles: { caller: {} },
      authmethods: ["cryptosign"],
      authextra: { pubkey: dave.publicHex },
    }]);
    const challenge = await c.next();
    const bytes = unhex((challenge[2] as D).challenge as string);
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", dave.privateKey, bytes));
    c.send([5, hex(sig) + hex(bytes), {}]);
    const welcome = await c.next();
    assert.equal(welcome[0], 2, JSON.stringify(welcome));
    assert.deepEqual([(welcome[2] as D).realm, (welcome[2] as D).authid], ["realm2", "dave"]);
  });

  await t.step("the HELLO realm must be a string or null", async () => {
    for (const realm of [5, ["realm2"], { name: "realm2" }]) {
      await using c = await RawClient.connect(r.url, "json");
      c.send([1, realm, { roles: { caller: {} } }]);
      const abort = await c.next();
      assert.equal(abort[2], "wamp.error.protocol_violation", JSON.stringify(abort));
    }
  });
});

// ---- 7. the GOODBYE reply --------------------------------------------------------------------

Deno.test("7. the GOODBYE reply is the spec's wamp.close.goodbye_and_out (Crossbar answers wamp.close.normal)", async () => {
  const py = await python();
  await using r = await startRouter(authConfig(ticketAuth("t1")));
  const left = await clientResult(
    py,
    ["--url", r.url, "--scenario", "ticket", "--realm", "realm1"],
    {
      MYTICKET: "t1",
    },
  );
  assert.equal(left.joined, true, JSON.stringify(left));
  assert.equal(left.leave_reason, "wamp.close.goodbye_and_out");
});

Deno.test("4. static wampcra: a HELLO without a realm joins the user's realm; the rule in joinedRealm", async () => {
  await using r = await startRouter(authConfig({
    wampcra: {
      type: "static",
      users: { carol: { secret: "carol-secret", role: "frontend", realm: "realm2" } },
    },
  }, [{ name: "realm2" }]));
  await using c = await RawClient.connect(r.url, "json");
  c.send([1, null, { roles: { caller: {} }, authmethods: ["wampcra"], authid: "carol" }]);
  const challenge = await c.next();
  assert.equal(challenge[0], 4, JSON.stringify(challenge));
  c.send([5, await craSign("carol-secret", (challenge[2] as D).challenge as string), {}]);
  const welcome = await c.next();
  assert.equal(welcome[0], 2, JSON.stringify(welcome));
  assert.equal((welcome[2] as D).realm, "realm2");

  // requested × assigned → joined (undefined: refused)
  assert.equal(joinedRealm(null, null), null);
  assert.equal(joinedRealm(null, "realm2"), "realm2");
  assert.equal(joinedRealm("realm1", null), "realm1");
  assert.equal(joinedRealm("realm2", "realm2"), "realm2");
  assert.equal(joinedRealm("realm1", "realm2"), undefined);
});

Deno.test("4. Autobahn|Python Component with realm=None and WAMP-SCRAM joins the scram principal's realm", async () => {
  const py = await python();
  const credential = await deriveScramCredential("carl-pw", {
    kdf: "argon2id-13",
    iterations: 3,
    memory: 4096,
  });
  await using r = await startRouter(authConfig({
    scram: {
      type: "static",
      principals: { carl: { ...credential, role: "frontend", realm: "realm2" } },
    },
  }, [{ name: "realm2" }]));
  const args = ["--url", r.url, "--scenario", "component-scram", "--authid", "carl"];
  const joined = await clientResult(py, args, { MYPASSWORD: "carl-pw" });
  assert.equal(joined.joined, true, JSON.stringify(joined));
  assert.deepEqual([joined.realm, joined.authid], ["realm2", "carl"]);
  const wrong = await clientResult(py, args, { MYPASSWORD: "carl-pW" });
  assert.equal(wrong.joined, false, JSON.stringify(wrong));
  assert.equal(wrong.leave_reason, "wamp.error.not_authorized");
});
