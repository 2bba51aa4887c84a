/**
 * WAMP-SCRAM and cookie authentication with Autobahn|Python (asyncio, tests/interop/auth_client.py
 * as a child process): its AuthScram client (Argon2id, `argon2id-13`; needs Debian's
 * python3-argon2 and python3-passlib) joins with a credential made by `deriveScramCredential`
 * and checks the router's `scram_server_signature`; a wrong password and an unknown authid are
 * refused alike. Autobahn|Python 22.7's PBKDF2 path cannot run (it hands the base64 salt text to
 * its own `pbkdf2`, which raises "Invalid argument types"), so PBKDF2 is tested with the spec
 * client in scram_auth_test.ts. Then cookies: a ticket login receives the Set-Cookie of the
 * upgrade response, and a second process presenting it joins with `cookie` as the same authid.
 */

import assert from "node:assert/strict";
import { deriveScramCredential } from "../src/auth/scram_kdf.ts";
import { ALLOW_ALL, startRouter } from "./_helpers.ts";
import { python, runPython } from "./interop/auth_client.ts";

type D = Record<string, unknown>;

const ROLES = [ALLOW_ALL, { ...ALLOW_ALL, name: "user" }];
const ALICE = await deriveScramCredential("alice-pw", {
  kdf: "argon2id-13",
  iterations: 3,
  memory: 4096,
});

function config() {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: {
          ws: {
            type: "websocket",
            serializers: ["json", "msgpack"],
            cookie: {},
            options: { auth_max_failures: 1000 },
            auth: {
              scram: { type: "static", principals: { alice: { ...ALICE, role: "user" } } },
              ticket: {
                type: "static",
                principals: { bob: { ticket: "bob-ticket", role: "user" } },
              },
              cookie: {},
            },
          },
        },
      }],
    }],
  };
}

/** A Python whose Autobahn can do SCRAM (argon2-cffi and passlib), or a failed assertion. */
async function scramPython(): Promise<string> {
  const py = await python();
  const out = await new Deno.Command(py, {
    args: ["-c", "from autobahn.wamp.auth import HAS_ARGON; assert HAS_ARGON"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(
    out.success,
    `${py}: Autobahn cannot do WAMP-SCRAM (apt-get install python3-argon2 python3-passlib)`,
  );
  return py;
}

Deno.test("Autobahn|Python: WAMP-SCRAM with Argon2id joins and verifies the router; wrong passwords fail", async () => {
  const py = await scramPython();
  await using r = await startRouter(config());
  for (const ser of ["json", "msgpack"] as const) {
    const ok = await runPython(py, r.url, ser, [
      "--method",
      "scram",
      "--authid",
      "alice",
      "--password",
      "alice-pw",
    ]);
    assert.equal(ok.joined, true, JSON.stringify(ok));
    assert.deepEqual([ok.authid, ok.authrole, ok.authmethod, ok.authprovider], [
      "alice",
      "user",
      "scram",
      "static",
    ]);
    assert.equal(ok.verified, true, "Autobahn checked scram_server_signature");
    const challenge = (ok.challenge as D).extra as D;
    assert.deepEqual([challenge.kdf, challenge.iterations, challenge.memory], [
      "argon2id-13",
      3,
      4096,
    ]);
  }
  const wrong = await runPython(py, r.url, "json", [
    "--method",
    "scram",
    "--authid",
    "alice",
    "--password",
    "not-alice",
  ]);
  const unknown = await runPython(py, r.url, "json", [
    "--method",
    "scram",
    "--authid",
    "mallory",
    "--password",
    "x",
  ]);
  for (const out of [wrong, unknown]) {
    assert.equal(out.joined, false);
    assert.equal(out.reason, "wamp.error.not_authorized", JSON.stringify(out));
  }
  assert.equal(wrong.message, unknown.message);
});

Deno.test("Autobahn|Python: a ticket login gets the cookie; presenting it joins by cookie without a challenge", async () => {
  const py = await python();
  await using r = await startRouter(config());
  const first = await runPython(py, r.url, "json", [
    "--method",
    "ticket",
    "--authid",
    "bob",
    "--ticket",
    "bob-ticket",
  ]);
  assert.equal(first.joined, true, JSON.stringify(first));
  const setCookie = first.set_cookie as string;
  assert.match(setCookie, /^cbtid=[A-Za-z0-9_-]{24}; .*HttpOnly; SameSite=Strict$/);
  const pair = setCookie.split(";")[0]!;
  const second = await runPython(py, r.url, "msgpack", ["--method", "cookie", "--cookie", pair]);
  assert.equal(second.joined, true, JSON.stringify(second));
  assert.deepEqual([second.authid, second.authmethod, second.authprovider, second.challenge], [
    "bob",
    "ticket",
    "cookie",
    null,
  ]);
  assert.equal(second.set_cookie, null, "a bound cookie is kept");
  // a made-up cookie: the client falls back to its ticket method (here without a ticket)
  const forged = await runPython(py, r.url, "json", [
    "--method",
    "cookie",
    "--cookie",
    "cbtid=" + "A".repeat(24),
    "--authid",
    "bob",
  ]);
  assert.equal(forged.joined, false);
  assert.equal((forged.challenge as D | null)?.method, "ticket", JSON.stringify(forged));
});
