/**
 * Crossbar drop-in behaviour (issue 11, points 1–8), checked with Autobahn|Python clients
 * written as Crossbar's examples write them (tests/interop/crossbar_client.py: ApplicationRunner
 * and Component, a ticket login reading `MYTICKET`, the docs' one-argument `on_leave` monitor,
 * HELLO without a realm) and with raw WAMP where the wire itself is the point.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../mod.ts";
import type { WebTransportConfig } from "../src/config/types.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";
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
