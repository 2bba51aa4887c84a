/**
 * Crossbar's authentication keys over real WebSockets: `auth.anonymous.realm` (anonymous
 * sessions of that transport join that realm only) and a dynamic authenticator's
 * `authenticator-role` (the authenticator is called as a session of that role, so that role's
 * permissions decide whether it may be called at all; `trusted`, the default, may call any).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseConfig } from "../mod.ts";
import { RawClient, startRouter } from "./_helpers.ts";

type D = Record<string, unknown>;

const ALL = { call: true, register: true, publish: true, subscribe: true };

/** realm1 and realm2; `paths` (name → auth) on one web transport. */
function config(paths: Record<string, D>) {
  const roles = [
    { name: "user", permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }] },
    {
      name: "authenticator",
      permissions: [{ uri: "com.example.authenticate", allow: { call: true } }],
    },
    { name: "weak", permissions: [{ uri: "com.other.", match: "prefix", allow: ALL }] },
    { name: "backend", permissions: [{ uri: "", match: "prefix", allow: ALL }] },
  ];
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles }, { name: "realm2", roles }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: Object.fromEntries(
          Object.entries(paths).map(([name, auth]) => [name, { type: "websocket", auth }]),
        ),
      }],
    }],
  };
}

/** HELLO on `path` for `realm`; resolves to WELCOME or ABORT. */
async function hello(url: string, path: string, realm: string, details: D = {}) {
  const c = await RawClient.connect(url.replace(/\/[^/]+$/, `/${path}`), "json");
  c.send([1, realm, { roles: { caller: {} }, ...details }]);
  const reply = await c.next();
  await c[Symbol.asyncDispose]();
  return reply;
}

Deno.test("config: anonymous realm and authenticator-role are read, and checked", () => {
  const c = parseConfig(config({
    a: { anonymous: { type: "static", role: "user", realm: "realm2" } },
    d: {
      ticket: {
        type: "dynamic",
        authenticator: "com.example.authenticate",
        "authenticator-realm": "realm1",
        "authenticator-role": "authenticator",
      },
    },
  }));
  const t = c.transports[0]!;
  assert.ok(t.type === "web");
  assert.deepEqual(t.paths.get("a")!.auth.anonymous, {
    role: "user",
    authid: null,
    realm: "realm2",
  });
  assert.deepEqual(t.paths.get("d")!.auth.dynamic?.ticket, {
    authenticator: "com.example.authenticate",
    realm: "realm1",
    role: "authenticator",
  });
  assert.deepEqual(c.warnings, []);
  for (
    const [auth, path] of [
      [{ anonymous: { type: "static", realm: "" } }, "anonymous.realm"],
      [{ anonymous: { type: "static", realm: 1 } }, "anonymous.realm"],
      [
        { anonymous: { type: "dynamic", authenticator: "x.y", "authenticator-role": 7 } },
        'anonymous["authenticator-role"]',
      ],
    ] as const
  ) {
    assert.throws(
      () => parseConfig(config({ p: auth as D })),
      (e: Error) => e.message.startsWith(`workers[0].transports[0].paths.p.auth.${path}: `),
    );
  }
});

Deno.test("anonymous realm: anonymous sessions of that transport join that realm only", async () => {
  await using r = await startRouter(config({
    only2: { anonymous: { type: "static", role: "user", realm: "realm2" } },
    any: { anonymous: { type: "static", role: "user" } },
  }));
  const welcome = await hello(r.url, "only2", "realm2");
  assert.equal(welcome[0], 2);
  const refused = await hello(r.url, "only2", "realm1");
  assert.deepEqual(refused.slice(0, 1).concat(refused[2]), [3, "wamp.error.not_authorized"]);
  assert.match((refused[1] as D).message as string, /may join realm "realm2" only/);
  // without it, any realm
  for (const realm of ["realm1", "realm2"]) assert.equal((await hello(r.url, "any", realm))[0], 2);
});

Deno.test("authenticator-role: the authenticator is called as that role, whose permissions decide", async () => {
  const dynamic = (role?: string) => ({
    anonymous: {
      type: "dynamic",
      authenticator: "com.example.authenticate",
      ...(role === undefined ? {} : { "authenticator-role": role }),
    },
  });
  await using r = await startRouter(config({
    granted: dynamic("authenticator"),
    weak: dynamic("weak"),
    missing: dynamic("nosuchrole"),
    trusted: dynamic("trusted"),
    plain: dynamic(),
  }));
  const backend = await r.router.session("realm1", { authrole: "backend" });
  const callers: unknown[] = [];
  const sessions: unknown[] = [];
  await backend.register("com.example.authenticate", (_args, _kwargs, details) => {
    callers.push(details.caller_authrole);
    sessions.push(details.caller);
    return { role: "user" };
  }, { disclose_caller: true });

  for (const path of ["granted", "trusted", "plain"]) {
    const welcome = await hello(r.url, path, "realm1");
    assert.equal(welcome[0], 2, `${path}: ${JSON.stringify(welcome)}`);
    assert.equal((welcome[2] as D).authrole, "user");
  }
  assert.deepEqual(callers, ["authenticator", "trusted", "trusted"]);
  // a role that may not call the authenticator, or no such role: nobody gets in
  for (const path of ["weak", "missing"]) {
    const abort = await hello(r.url, path, "realm1");
    assert.equal(abort[0], 3, `${path}: ${JSON.stringify(abort)}`);
  }
  assert.equal(callers.length, 3, "the authenticator was not reached");
  // the role's session is reused: a second join calls from the same session
  assert.equal((await hello(r.url, "granted", "realm1"))[0], 2);
  assert.deepEqual(callers.slice(3), ["authenticator"]);
  assert.equal(typeof sessions[0], "number");
  assert.equal(sessions[3], sessions[0]);
  await backend.close();
});

Deno.test("authenticator-role: a realm removed and added again gets a new session of the role", async () => {
  const paths = {
    granted: {
      anonymous: {
        type: "dynamic",
        authenticator: "com.example.authenticate",
        "authenticator-realm": "realm2",
        "authenticator-role": "authenticator",
      },
    },
  };
  const full = config(paths);
  await using r = await startRouter(full);
  const register = async () => {
    const backend = await r.router.session("realm2", { authrole: "backend" });
    const callers: unknown[] = [];
    await backend.register("com.example.authenticate", (_a, _k, details) => {
      callers.push(details.caller);
      return { role: "user" };
    }, { disclose_caller: true });
    return { backend, callers };
  };
  const first = await register();
  assert.equal((await hello(r.url, "granted", "realm1"))[0], 2);
  // realm2 goes (its sessions with it), then comes back
  const without = structuredClone(full);
  without.workers[0]!.realms.pop();
  await r.router.reload(parseConfig(without));
  assert.equal(first.backend.isOpen, false);
  await r.router.reload(parseConfig(full));
  const second = await register();
  assert.equal((await hello(r.url, "granted", "realm1"))[0], 2);
  assert.equal(second.callers.length, 1);
  assert.notEqual(second.callers[0], first.callers[0]);
  await second.backend.close();
});
