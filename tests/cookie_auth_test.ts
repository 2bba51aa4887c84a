/**
 * Cookie authentication over real sockets: the WebSocket upgrade response sets the tracking
 * cookie, a ticket-authenticated session binds it, and a later connection presenting it with
 * `authmethods: ["cookie", ...]` is welcomed as the same authid/authrole without a CHALLENGE.
 * Then what an attacker tries: a cookie value of their own choosing (fixation), a bound cookie
 * presented on a connection that authenticates as someone else, a cookie bound on another realm,
 * an expired cookie (the router's clock), logout, and the store bounds.
 */

import assert from "node:assert/strict";
import { createRouter } from "../mod.ts";
import { parseConfig } from "../src/config/config.ts";
import type {
  RouterConfig,
  WebSocketEndpointConfig,
  WebTransportConfig,
} from "../src/config/types.ts";
import { type Clock, systemClock, type TimerId } from "../src/clock.ts";
import { ALLOW_ALL } from "./_helpers.ts";
import { type ByteReader, rawUpgrade, readJson, sendJson } from "./_ws_frames.ts";

type D = Record<string, unknown>;

const ROLES = [ALLOW_ALL, { ...ALLOW_ALL, name: "user" }];

function config(cookie: D = {}, auth: D = {}) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }, { name: "realm2", roles: ROLES }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: {
          ws: {
            type: "websocket",
            serializers: ["json"],
            cookie,
            auth: {
              anonymous: { type: "static", role: "anonymous" },
              ticket: {
                type: "static",
                principals: {
                  alice: { ticket: "alice-ticket", role: "user" },
                  bob: { ticket: "bob-ticket", role: "user" },
                },
              },
              cookie: {},
              ...auth,
            },
          },
        },
      }],
    }],
  };
}

/** The system clock, moved forward by `offset` ms (its timers run on the real one). */
class TestClock implements Clock {
  offset = 0;
  nowNs(): bigint {
    return systemClock.nowNs() + BigInt(this.offset) * 1_000_000n;
  }
  nowMs(): number {
    return systemClock.nowMs() + this.offset;
  }
  setTimer(fn: () => void, ms: number): TimerId {
    return systemClock.setTimer(fn, ms);
  }
  clearTimer(id: TimerId): void {
    systemClock.clearTimer(id);
  }
}

async function start(cookie: D = {}, clock?: Clock, auth: D = {}) {
  const router = createRouter(config(cookie, auth), clock ? { clock } : {});
  const [listener] = await router.serve();
  return { router, port: listener!.port, [Symbol.asyncDispose]: () => router.close(100) };
}

const ROLES_HELLO = { subscriber: {}, publisher: {}, caller: {}, callee: {} };

interface Visit {
  conn: Deno.TcpConn;
  reader: ByteReader;
  /** The Set-Cookie header of the upgrade response, or null. */
  setCookie: string | null;
  /** Its `name=value`. */
  pair: string | null;
}

/** Upgrades on /ws, presenting `cookie` (a Cookie header value) when given. */
async function visit(port: number, cookie?: string): Promise<Visit> {
  const { conn, reader, head } = await rawUpgrade(
    port,
    "ws",
    "wamp.2.json",
    cookie ? `Cookie: ${cookie}\r\n` : "",
  );
  assert.match(head, /^HTTP\/1\.1 101/);
  const line = head.split("\r\n").find((l) => /^set-cookie:/i.test(l));
  const setCookie = line ? line.slice(line.indexOf(":") + 1).trim() : null;
  return { conn, reader, setCookie, pair: setCookie?.split(";")[0] ?? null };
}

/** HELLO and the first reply; answers a ticket CHALLENGE with `ticket`. */
async function hello(v: Visit, details: D, ticket?: string, realm = "realm1") {
  await sendJson(v.conn, [1, realm, { roles: ROLES_HELLO, ...details }]);
  let reply = await readJson(v.reader);
  if (reply?.[0] === 4 && ticket !== undefined) {
    await sendJson(v.conn, [5, ticket, {}]);
    reply = await readJson(v.reader);
  }
  return reply;
}

/** Logs in as alice by ticket on a fresh connection; returns the cookie pair it was given. */
async function loginAlice(port: number, realm = "realm1"): Promise<string> {
  const v = await visit(port);
  assert.ok(v.pair, "the first upgrade sets a cookie");
  const w = await hello(
    v,
    { authmethods: ["cookie", "ticket"], authid: "alice" },
    "alice-ticket",
    realm,
  );
  assert.equal(w?.[0], 2, JSON.stringify(w));
  assert.equal((w![2] as D).authmethod, "ticket");
  v.conn.close();
  return v.pair!;
}

Deno.test("cookie: the upgrade sets a random HttpOnly SameSite=Strict cookie of 24 characters", async () => {
  await using r = await start();
  const a = await visit(r.port);
  const b = await visit(r.port);
  a.conn.close();
  b.conn.close();
  assert.match(
    a.setCookie!,
    /^cbtid=[A-Za-z0-9_-]{24}; Max-Age=604800; Path=\/ws; HttpOnly; SameSite=Strict$/,
  );
  assert.notEqual(a.pair, b.pair);
});

Deno.test("cookie: a ticket session binds the cookie; the next connection joins by cookie without a challenge", async () => {
  await using r = await start();
  const pair = await loginAlice(r.port);
  const v = await visit(r.port, `other=1; ${pair}`);
  assert.equal(v.setCookie, null, "a bound cookie is not replaced");
  const w = await hello(v, { authmethods: ["cookie", "ticket"] });
  v.conn.close();
  assert.equal(w?.[0], 2, `WELCOME at once, got ${JSON.stringify(w)}`);
  const d = w![2] as D;
  assert.deepEqual(
    [d.authid, d.authrole, d.authmethod, d.authprovider],
    ["alice", "user", "ticket", "cookie"],
  );
});

Deno.test("cookie: without a bound cookie the method is skipped for the next one, or no_auth_method", async () => {
  await using r = await start();
  const v = await visit(r.port);
  const c = await hello(v, { authmethods: ["cookie", "ticket"], authid: "bob" });
  v.conn.close();
  assert.equal(c?.[0], 4, "the ticket CHALLENGE comes next");
  const u = await visit(r.port);
  const a = await hello(u, { authmethods: ["cookie"] });
  u.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
});

Deno.test("cookie: a client-chosen value never becomes valid (fixation)", async () => {
  await using r = await start();
  const chosen = "cbtid=AAAAAAAAAAAAAAAAAAAAAAAA";
  const v = await visit(r.port, chosen);
  assert.ok(v.pair && v.pair !== chosen, "an unknown value gets a fresh cookie");
  const w = await hello(v, { authmethods: ["ticket"], authid: "alice" }, "alice-ticket");
  assert.equal(w?.[0], 2);
  v.conn.close();
  // the chosen value is still nobody; the issued one is alice
  const x = await visit(r.port, chosen);
  const a = await hello(x, { authmethods: ["cookie"] });
  x.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
  const y = await visit(r.port, v.pair!);
  const b = await hello(y, { authmethods: ["cookie"] });
  y.conn.close();
  assert.equal((b?.[2] as D).authid, "alice");
});

Deno.test("cookie: a bound cookie on a connection that authenticates as someone else is unbound, not rebound", async () => {
  await using r = await start();
  const pair = await loginAlice(r.port);
  const v = await visit(r.port, pair);
  const w = await hello(v, { authmethods: ["ticket"], authid: "bob" }, "bob-ticket");
  assert.equal((w?.[2] as D).authid, "bob");
  v.conn.close();
  const x = await visit(r.port, pair);
  assert.ok(x.pair && x.pair !== pair, "the unbound cookie is replaced");
  const a = await hello(x, { authmethods: ["cookie"] });
  x.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
});

Deno.test("cookie: bound on one realm, it does not authenticate on another", async () => {
  await using r = await start();
  const pair = await loginAlice(r.port, "realm1");
  const v = await visit(r.port, pair);
  const a = await hello(
    v,
    { authmethods: ["cookie", "ticket"], authid: "alice" },
    undefined,
    "realm2",
  );
  v.conn.close();
  assert.equal(a?.[0], 4, "falls through to the ticket CHALLENGE");
});

Deno.test("cookie: anonymous sessions bind nothing", async () => {
  await using r = await start();
  const v = await visit(r.port);
  const w = await hello(v, { authmethods: ["anonymous"] });
  assert.equal(w?.[0], 2);
  v.conn.close();
  const x = await visit(r.port, v.pair!);
  assert.ok(x.pair, "the cookie was never bound, so a new one is set");
  x.conn.close();
});

Deno.test("cookie: expires max_age after it was set, by the router's clock", async () => {
  const clock = new TestClock();
  await using r = await start({ max_age: 60 }, clock);
  const pair = await loginAlice(r.port);
  clock.offset = 59_000;
  const v = await visit(r.port, pair);
  assert.equal((await hello(v, { authmethods: ["cookie"] }))?.[0], 2);
  v.conn.close();
  clock.offset = 60_000;
  const x = await visit(r.port, pair);
  assert.ok(x.pair, "an expired cookie is replaced");
  const a = await hello(x, { authmethods: ["cookie"] });
  x.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
});

Deno.test("cookie: GOODBYE wamp.close.logout unbinds the cookie", async () => {
  await using r = await start();
  const pair = await loginAlice(r.port);
  const v = await visit(r.port, pair);
  assert.equal((await hello(v, { authmethods: ["cookie"] }))?.[0], 2);
  await sendJson(v.conn, [6, {}, "wamp.close.logout"]);
  assert.equal((await readJson(v.reader))?.[0], 6);
  v.conn.close();
  const x = await visit(r.port, pair);
  const a = await hello(x, { authmethods: ["cookie"] });
  x.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
});

Deno.test("cookie: the store is bounded per authid (the oldest binding goes)", async () => {
  await using r = await start({ max_cookies_per_authid: 2 });
  const first = await loginAlice(r.port);
  const second = await loginAlice(r.port);
  const third = await loginAlice(r.port);
  const joined = async (pair: string) => {
    const v = await visit(r.port, pair);
    const w = await hello(v, { authmethods: ["cookie"] });
    v.conn.close();
    return w?.[0] === 2;
  };
  assert.deepEqual([await joined(first), await joined(second), await joined(third)], [
    false,
    true,
    true,
  ]);
});

Deno.test("cookie: Secure on TLS-less endpoints only when configured; SameSite and HttpOnly as set", async () => {
  await using r = await start({
    secure: true,
    same_site: "Lax",
    http_strict: false,
    name: "sb_id",
  });
  const v = await visit(r.port);
  v.conn.close();
  assert.match(
    v.setCookie!,
    /^sb_id=[A-Za-z0-9_-]{24}; Max-Age=604800; Path=\/ws; Secure; SameSite=Lax$/,
  );
});

Deno.test("cookie: the store is bounded overall (max_cookies; the oldest binding goes)", async () => {
  await using r = await start({ max_cookies: 2 });
  const first = await loginAlice(r.port);
  const v = await visit(r.port);
  assert.equal((await hello(v, { authmethods: ["ticket"], authid: "bob" }, "bob-ticket"))?.[0], 2);
  v.conn.close();
  const third = await loginAlice(r.port);
  const joined = async (pair: string) => {
    const x = await visit(r.port, pair);
    const w = await hello(x, { authmethods: ["cookie"] });
    x.conn.close();
    return (w?.[2] as D | undefined)?.authid ?? null;
  };
  assert.deepEqual([await joined(first), await joined(v.pair!), await joined(third)], [
    null,
    "bob",
    "alice",
  ]);
});

// ---------------------------------------------------------------------------------------------
// Configuration

function parseWith(cookie: unknown, auth: D, transport: D = {}) {
  const c = config({}, {}) as unknown as { workers: [{ transports: [D] }] };
  const path = (c.workers[0].transports[0].paths as D).ws as D;
  if (cookie === undefined) delete path.cookie;
  else path.cookie = cookie;
  path.auth = auth;
  Object.assign(c.workers[0].transports[0], transport);
  return parseConfig(c, { env: () => undefined });
}

/** The `ws` path's endpoint of a parsed config. */
function wsPath(config: RouterConfig): WebSocketEndpointConfig {
  const t = config.transports[0]!;
  assert.equal(t.type, "web");
  return (t as WebTransportConfig).paths.get("ws")!;
}

const TICKET = { type: "static", principals: { a: { ticket: "t", role: "user" } } };

Deno.test("cookie config: auth.cookie needs tracking, another method than anonymous, and WebSocket", () => {
  assert.throws(
    () => parseWith(undefined, { cookie: {}, ticket: TICKET }),
    /paths\.ws\.auth\.cookie: cookie authentication needs cookie tracking/,
  );
  assert.throws(
    () => parseWith({}, { cookie: {}, anonymous: { type: "static" } }),
    /needs another method besides anonymous/,
  );
  const raw = {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }],
      transports: [{
        type: "rawsocket",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        auth: { cookie: {}, ticket: TICKET },
      }],
    }],
  };
  assert.throws(() => parseConfig(raw, { env: () => undefined }), /only available on WebSocket/);
  assert.throws(
    () => parseWith({ length: 21 }, { cookie: {}, ticket: TICKET }),
    /cookie\.length: must be between 22 and 64/,
  );
  assert.throws(
    () => parseWith({ name: "Bad" }, { cookie: {}, ticket: TICKET }),
    /cookie\.name: must match/,
  );
  assert.throws(
    () => parseWith({ same_site: "strict" }, { cookie: {}, ticket: TICKET }),
    /same_site/,
  );
  assert.throws(
    () => parseWith({ store: { type: "redis" } }, { cookie: {}, ticket: TICKET }),
    /store\.type/,
  );
});

Deno.test("cookie config: file and database stores are kept in memory, with a warning; tracking alone warns", () => {
  const file = parseWith(
    { store: { type: "file", filename: "cookies.dat", purge_on_startup: false } },
    { cookie: {}, ticket: TICKET },
  );
  assert.deepEqual(file.warnings!.map((w) => w.path), [
    "workers[0].transports[0].paths.ws.cookie.store.type",
  ]);
  assert.match(file.warnings![0]!.message, /kept in memory.*lost at restart/);
  const ws = wsPath(file);
  assert.equal((ws.cookie as { max_cookies: number }).max_cookies, 100_000);
  const alone = parseWith({}, { ticket: TICKET });
  assert.match(alone.warnings![0]!.message, /no effect without "cookie"/);
  assert.equal(
    wsPath(alone).cookie,
    undefined,
  );
});

Deno.test("cookie: a HELLO without a realm joins the realm the cookie was bound on (as Crossbar)", async () => {
  await using r = await start();
  const pair = await loginAlice(r.port, "realm2");
  const v = await visit(r.port, pair);
  await sendJson(v.conn, [1, null, { roles: ROLES_HELLO, authmethods: ["cookie"] }]);
  const w = await readJson(v.reader);
  v.conn.close();
  assert.equal(w?.[0], 2, JSON.stringify(w));
  assert.deepEqual([(w![2] as D).realm, (w![2] as D).authid], ["realm2", "alice"]);
  // naming another realm than the cookie's skips the method, as before
  const x = await visit(r.port, pair);
  const a = await hello(x, { authmethods: ["cookie"] }, undefined, "realm1");
  x.conn.close();
  assert.deepEqual([a?.[0], a?.[2]], [3, "wamp.error.no_auth_method"]);
});
