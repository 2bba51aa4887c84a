/**
 * The session state machine over an in-process link (no sockets): HELLO → WELCOME,
 * protocol violations, the GOODBYE handshake in both directions, re-joining on the same link.
 */

import assert from "node:assert/strict";
import { createRouter } from "../mod.ts";
import { routerInternals } from "../src/router/router.ts";
import { Session } from "../src/router/session.ts";
import { type ClientLink, linkedPeers } from "../src/transport/local.ts";
import type { Message } from "../src/wamp/messages.ts";
import { testConfig } from "./_helpers.ts";

/** A raw in-process connection to a router session: sends messages, collects replies. */
async function connect() {
  const router = createRouter(testConfig());
  await router.ready;
  const { peer, link, connect } = linkedPeers();
  const web = router.config.transports[0]!;
  assert.equal(web.type, "web");
  const endpoint = web.paths.get("ws")!;
  const session = new Session(
    peer,
    { methods: endpoint.auth, limits: endpoint.auth_limits },
    routerInternals(router).host,
  );
  const inbox: Message[] = [];
  let closed = false;
  link.attach({ receive: (m) => inbox.push(m), closed: () => (closed = true) });
  connect(session);
  return {
    router,
    session,
    link: link as ClientLink,
    inbox,
    isClosed: () => closed,
    [Symbol.asyncDispose]: () => router.close(0),
  };
}

const HELLO: Message = { type: 1, realm: "realm1", details: { roles: { subscriber: {} } } };

Deno.test("session: HELLO → WELCOME → established, then GOODBYE → closed and join again", async () => {
  await using c = await connect();
  assert.equal(c.session.state, "closed");
  c.link.send(HELLO);
  assert.equal(c.inbox.shift()?.type, 2);
  assert.equal(c.session.state, "established");
  assert.ok(c.session.id > 0);
  assert.ok(c.session.realm);
  c.link.send({ type: 6, details: {}, reason: "wamp.close.close_realm" });
  assert.deepEqual(c.inbox.shift(), { type: 6, details: {}, reason: "wamp.close.goodbye_and_out" });
  assert.equal(c.session.state, "closed");
  assert.equal(c.session.realm, null);
  c.link.send(HELLO);
  assert.equal(c.inbox.shift()?.type, 2);
  assert.equal(c.session.state, "established");
});

Deno.test("session: router-initiated GOODBYE waits in shutting_down for the reply", async () => {
  await using c = await connect();
  c.link.send(HELLO);
  c.inbox.shift();
  c.session.goodbye("wamp.close.killed", "bye");
  assert.deepEqual(c.inbox.shift(), {
    type: 6,
    details: { message: "bye" },
    reason: "wamp.close.killed",
  });
  assert.equal(c.session.state, "shutting_down");
  assert.equal(c.session.realm, null, "left the realm at once");
  c.link.send({ type: 16, request: 1, options: {}, topic: "com.ignored" }); // ignored while closing
  assert.equal(c.inbox.length, 0);
  c.link.send({ type: 6, details: {}, reason: "wamp.close.goodbye_and_out" });
  assert.equal(c.session.state, "closed");
  assert.equal(c.isClosed(), false, "the transport stays open for a new session");
});

Deno.test("session: violations abort with protocol_violation and close the link", async (t) => {
  const cases: [string, Message[], RegExp][] = [
    ["message before HELLO", [{ type: 32, request: 1, options: {}, topic: "t" }], /before HELLO/],
    ["second HELLO", [HELLO, HELLO], /established session/],
    [
      "GOODBYE before HELLO",
      [{ type: 6, details: {}, reason: "wamp.close.normal" }],
      /before HELLO/,
    ],
    [
      "router message from a client",
      [HELLO, { type: 65, request: 1, registration: 2 }],
      /not a message a client may send/,
    ],
  ];
  for (const [name, msgs, re] of cases) {
    await t.step(name, async () => {
      await using c = await connect();
      for (const m of msgs) c.link.send(m);
      const abort = c.inbox.at(-1) as Message & { type: 3 };
      assert.equal(abort.type, 3);
      assert.equal(abort.reason, "wamp.error.protocol_violation");
      assert.match(String(abort.details.message), re);
      assert.equal(c.isClosed(), true);
      assert.equal(c.session.closed, true);
    });
  }
});

Deno.test("session: unknown realm and unknown auth method abort without joining", async () => {
  await using c = await connect();
  c.link.send({ type: 1, realm: "nope", details: { roles: { caller: {} } } });
  const a = c.inbox.shift() as Message & { type: 3 };
  assert.equal(a.reason, "wamp.error.no_such_realm");
  await using d = await connect();
  d.link.send({
    type: 1,
    realm: "realm1",
    details: { roles: { caller: {} }, authmethods: ["ticket"] },
  });
  const b = d.inbox.shift() as Message & { type: 3 };
  assert.equal(b.reason, "wamp.error.no_auth_method");
  assert.equal(d.session.id, 0);
});
