/**
 * `Forwarded`/`X-Forwarded-For` are trusted only from configured proxies (issue 9, item 5):
 * the pure rule, and what a session and the auth failure limit see over a real socket.
 */

import assert from "node:assert/strict";
import { clientAddress, TrustedProxies } from "../src/transport/forwarded.ts";
import { startRouter, testConfig } from "./_helpers.ts";
import { rawUpgrade, readJson, sendJson } from "./_ws_frames.ts";

function headers(h: Record<string, string>): (name: string) => string | undefined {
  return (name) => h[name];
}

Deno.test("trusted_proxies: addresses and CIDR ranges, v4 and v6; anything else is refused", () => {
  const t = new TrustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"]);
  assert.ok(t.trusts("10.200.3.4"));
  assert.ok(t.trusts("192.168.1.7"));
  assert.ok(!t.trusts("192.168.1.8"));
  assert.ok(t.trusts("fd12::5"));
  assert.ok(t.trusts("::1"));
  assert.ok(t.trusts("::ffff:10.1.1.1"), "IPv4-mapped IPv6 is the IPv4 address");
  assert.ok(!t.trusts("8.8.8.8"));
  assert.ok(!t.trusts("not an address"));
  for (const bad of ["1.2.3", "10.0.0.0/33", "example.com", "10.0.0.0/8x", ""]) {
    assert.throws(() => new TrustedProxies([bad]), RangeError, bad);
  }
});

Deno.test("clientAddress: headers count only from a trusted proxy; the first untrusted hop is the client", () => {
  const proxies = new TrustedProxies(["10.0.0.0/8"]);
  const xff = headers({ "x-forwarded-for": "203.0.113.9, 10.0.0.2" });
  // from anywhere else: the headers are ignored
  assert.equal(clientAddress("198.51.100.1", xff, proxies), "198.51.100.1");
  assert.equal(clientAddress("198.51.100.1", xff, new TrustedProxies([])), "198.51.100.1");
  // through two trusted proxies
  assert.equal(clientAddress("10.0.0.1", xff, proxies), "203.0.113.9");
  // a client cannot insert an address in front of its own: the nearest untrusted hop wins
  assert.equal(
    clientAddress("10.0.0.1", headers({ "x-forwarded-for": "1.1.1.1, 203.0.113.9" }), proxies),
    "203.0.113.9",
  );
  // Forwarded wins over X-Forwarded-For; quoted IPv6 with a port
  assert.equal(
    clientAddress(
      "10.0.0.1",
      headers({
        forwarded: 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.3',
        "x-forwarded-for": "203.0.113.9",
      }),
      proxies,
    ),
    "2001:db8::1",
  );
  // a hop that is no address ends the walk at the last address known
  assert.equal(
    clientAddress("10.0.0.1", headers({ "x-forwarded-for": "junk, 10.0.0.4" }), proxies),
    "10.0.0.4",
  );
  assert.equal(
    clientAddress("10.0.0.1", headers({ forwarded: "for=unknown" }), proxies),
    "10.0.0.1",
  );
  // IPv4 with a port
  assert.equal(
    clientAddress("10.0.0.1", headers({ "x-forwarded-for": "203.0.113.9:5555" }), proxies),
    "203.0.113.9",
  );
});

/** Joins over a raw WebSocket with `extra` request headers; returns the session's peer string. */
async function peerSeenBy(port: number, extra: string): Promise<string> {
  const { conn, reader } = await rawUpgrade(port, "ws", "wamp.2.json", extra);
  try {
    await sendJson(conn, [1, "realm1", { roles: { caller: {} } }]);
    const welcome = await readJson(reader);
    assert.equal(welcome?.[0], 2);
    await sendJson(conn, [48, 1, {}, "wamp.session.get", [welcome![1]]]);
    const result = await readJson(reader);
    assert.equal(result?.[0], 50, JSON.stringify(result));
    const details = (result![3] as unknown[])[0] as { transport: { peer: string } };
    return details.transport.peer;
  } finally {
    conn.close();
  }
}

function withProxies(trusted: string[] | null) {
  const c = testConfig();
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>).ws!;
  if (trusted) ws.options = { trusted_proxies: trusted };
  return c;
}

Deno.test("a session behind a trusted proxy shows the forwarded client; without the setting the header is ignored", async () => {
  const header = "X-Forwarded-For: 203.0.113.7\r\n";
  {
    await using r = await startRouter(withProxies(null));
    assert.match(await peerSeenBy(r.port, header), /^tcp4:127\.0\.0\.1:\d+$/);
  }
  {
    await using r = await startRouter(withProxies(["127.0.0.1"]));
    assert.equal(await peerSeenBy(r.port, header), "tcp4:203.0.113.7:0");
    assert.equal(
      await peerSeenBy(r.port, 'Forwarded: for="[2001:db8::5]"\r\n'),
      "tcp6:2001:db8::5:0",
    );
    assert.match(await peerSeenBy(r.port, ""), /^tcp4:127\.0\.0\.1:\d+$/, "no header: the proxy");
  }
});

Deno.test("behind a trusted proxy, one client's failed logins do not delay another client's", async () => {
  const c = testConfig();
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>).ws!;
  ws.auth = {
    ticket: { type: "static", principals: { alice: { ticket: "right", role: "anonymous" } } },
  };
  ws.options = { trusted_proxies: ["127.0.0.1"], auth_max_failures: 1, auth_max_delay: 2 };
  await using r = await startRouter(c);
  const attempt = async (client: string, ticket: string) => {
    const { conn, reader } = await rawUpgrade(
      r.port,
      "ws",
      "wamp.2.json",
      `X-Forwarded-For: ${client}\r\n`,
    );
    try {
      const t0 = performance.now();
      await sendJson(conn, [1, "realm1", {
        roles: { caller: {} },
        authmethods: ["ticket"],
        authid: "alice",
      }]);
      const challenge = await readJson(reader);
      const waited = performance.now() - t0;
      if (challenge?.[0] !== 4) return { reply: challenge, waited };
      await sendJson(conn, [5, ticket, {}]);
      return { reply: await readJson(reader), waited };
    } finally {
      conn.close();
    }
  };
  // the attacker fails twice, so its next attempt must wait
  for (let i = 0; i < 2; i++) assert.equal((await attempt("198.51.100.66", "wrong")).reply?.[0], 3);
  const attacker = await attempt("198.51.100.66", "wrong");
  assert.ok(attacker.waited >= 900, `the attacker's attempt was delayed (${attacker.waited} ms)`);
  // a different client through the same proxy is not
  const innocent = await attempt("203.0.113.20", "right");
  assert.equal(innocent.reply?.[0], 2, JSON.stringify(innocent.reply));
  assert.ok(innocent.waited < 900, `the other client was not delayed (${innocent.waited} ms)`);
});
