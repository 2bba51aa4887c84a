/**
 * The fixed corpus: every failure the fuzzer found, minimized to the messages that trigger it, so
 * each one stays reproducible without a seed. Each case states the orderly behavior the rule
 * asks for, and runs against a router serving {@linkcode fuzzConfig}.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readExactly } from "../../src/transport/rawsocket.ts";
import { isValidUri } from "../../src/wamp/uris.ts";
import { type Conn, RsConn, WsConn } from "./conn.ts";
import { lit } from "./describe.ts";
import { leaks, waitUntil } from "./leaks.ts";
import { REALMS } from "./scenario.ts";
import type { Endpoint, FuzzTarget } from "./target.ts";
import { concat, rsFrame, utf8, writeAll } from "./wire.ts";

/** What a corpus case runs against. */
export interface CorpusContext {
  readonly target: FuzzTarget;
  readonly endpoint: Endpoint;
  /** How long closed sessions may take to disappear from the router. */
  readonly cleanupMs: number;
}

export interface CorpusCase {
  readonly name: string;
  run(ctx: CorpusContext): Promise<void>;
}

/** The next message, or a description of what came instead. */
async function expectMsg(c: Conn, what: string): Promise<unknown[]> {
  const i = await c.next();
  assert.ok(i.kind === "msg", `${what}: expected a message, got ${lit(i)}`);
  return i.msg;
}

async function joinRaw(c: Conn, roles: Record<string, unknown>, realm = "realm1"): Promise<void> {
  c.sendMsg([1, realm, { roles }]);
  const w = await expectMsg(c, "HELLO");
  assert.equal(w[0], 2, `HELLO answered ${lit(w)}`);
}

const callee = { callee: { features: { call_canceling: true } }, caller: {}, subscriber: {} };

export const CORPUS: readonly CorpusCase[] = [
  {
    name: "WAMP-CRA with an empty authid is a failed authentication, not an internal error",
    async run({ endpoint }) {
      await using c = await WsConn.open(endpoint, "json");
      c.sendMsg([1, "realm1", { roles: { caller: {} }, authmethods: ["wampcra"], authid: "" }]);
      let reply = await expectMsg(c, "HELLO");
      if (reply[0] === 4) {
        c.sendMsg([5, "x", {}]);
        reply = await expectMsg(c, "AUTHENTICATE");
      }
      assert.equal(reply[0], 3, `expected ABORT, got ${lit(reply)}`);
      assert.notEqual(reply[2], "wamp.error.runtime_error", `internal error: ${lit(reply)}`);
    },
  },
  {
    name: "a RawSocket client with a 512-byte maximum leaves no session behind",
    async run({ endpoint, cleanupMs, target }) {
      const { router, clock } = target;
      {
        await using c = await RsConn.open(endpoint, "json", 0);
        c.sendMsg([1, "realm1", { roles: { caller: {} } }]);
        await c.next(); // WELCOME or ABORT
      }
      const left = await waitUntil(
        () => leaks(router, clock, REALMS, -1, -1),
        (found) => found.length === 0,
        cleanupMs,
      );
      assert.deepEqual(left, []);
    },
  },
  {
    name: "nothing follows ABORT to a session that called its own procedure",
    async run({ endpoint }) {
      await using c = await WsConn.open(endpoint, "json");
      await joinRaw(c, callee);
      c.sendMsg([64, 1, {}, "com.corpus.self"]);
      assert.equal((await expectMsg(c, "REGISTER"))[0], 65);
      c.sendMsg([48, 2, {}, "com.corpus.self"]);
      assert.equal((await expectMsg(c, "CALL"))[0], 68);
      c.sendMsg([99]);
      assert.equal((await expectMsg(c, "[99]"))[0], 3);
      const after = await c.next();
      assert.equal(after.kind, "closed", `after ABORT: ${lit(after)}`);
    },
  },
  {
    name: "nothing follows the GOODBYE reply to a session that called its own procedure",
    async run({ endpoint }) {
      await using c = await WsConn.open(endpoint, "json");
      await joinRaw(c, callee);
      c.sendMsg([64, 1, {}, "com.corpus.self2"]);
      assert.equal((await expectMsg(c, "REGISTER"))[0], 65);
      c.sendMsg([48, 2, {}, "com.corpus.self2"]);
      assert.equal((await expectMsg(c, "CALL"))[0], 68);
      c.sendMsg([6, {}, "wamp.close.normal"]);
      assert.equal((await expectMsg(c, "GOODBYE"))[0], 6);
      // the session is closed: the next message can only be the WELCOME of a new HELLO
      c.sendMsg([1, "realm1", { roles: { caller: {} } }]);
      const next = await expectMsg(c, "HELLO after GOODBYE");
      assert.equal(next[0], 2, `after GOODBYE: ${lit(next)}`);
    },
  },
  {
    name: "no meta EVENT follows ABORT to a session watching its own subscriptions",
    async run({ endpoint }) {
      await using c = await WsConn.open(endpoint, "json");
      await joinRaw(c, { subscriber: {} });
      c.sendMsg([32, 1, {}, "com.corpus.any"]);
      assert.equal((await expectMsg(c, "SUBSCRIBE"))[0], 33);
      c.sendMsg([32, 2, {}, "wamp.subscription.on_unsubscribe"]);
      assert.equal((await expectMsg(c, "SUBSCRIBE"))[0], 33);
      c.sendMsg([99]);
      assert.equal((await expectMsg(c, "[99]"))[0], 3);
      const after = await c.next();
      assert.equal(after.kind, "closed", `after ABORT: ${lit(after)}`);
    },
  },
  {
    name: "a callee's ERROR with an invalid error URI does not reach the caller",
    async run({ endpoint }) {
      await using provider = await WsConn.open(endpoint, "json");
      await using caller = await WsConn.open(endpoint, "json");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.error"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      caller.sendMsg([48, 1, {}, "com.corpus.error"]);
      const inv = await expectMsg(provider, "CALL");
      provider.sendMsg([8, 68, inv[1], {}, "not a uri #"]);
      const reply = await expectMsg(caller, "ERROR from the callee");
      assert.equal(reply[0], 8);
      assert.ok(isValidUri(reply[4] as string, "exact", false), `caller got ${lit(reply)}`);
    },
  },
  {
    name: "an INVOCATION the callee's serializer cannot carry still ends the call",
    async run({ endpoint }) {
      await using provider = await WsConn.open(endpoint, "msgpack");
      await using caller = await WsConn.open(endpoint, "json");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.big"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      // 2^64 fits JSON but no MessagePack integer
      caller.sendPayload('[48,1,{},"com.corpus.big",[18446744073709551616]]');
      const reply = await caller.next();
      assert.ok(
        reply.kind === "msg" && (reply.msg[0] === 50 || reply.msg[0] === 8),
        `the caller got no RESULT or ERROR: ${lit(reply)}`,
      );
    },
  },
  {
    name: "a CALL timeout of 2^31 ms does not cancel the call at once",
    async run({ endpoint }) {
      await using provider = await WsConn.open(endpoint, "json");
      await using caller = await WsConn.open(endpoint, "json");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.slow"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      caller.sendMsg([48, 1, { timeout: 2 ** 31 }, "com.corpus.slow"]);
      const inv = await expectMsg(provider, "CALL");
      await new Promise((r) => setTimeout(r, 50)); // a callee that takes a moment
      provider.sendMsg([70, inv[1], {}, ["done"]]);
      const reply = await expectMsg(caller, "CALL");
      assert.notEqual(reply[4], "wamp.error.canceled", `a 24-day timeout fired: ${lit(reply)}`);
    },
  },
  {
    name: "a CHALLENGE too large for a RawSocket client leaves no timer armed",
    async run({ endpoint, cleanupMs, target }) {
      const { clock } = target;
      {
        await using c = await RsConn.open(endpoint, "json", 0);
        c.sendMsg([1, "realm1", {
          roles: { caller: {} },
          authmethods: ["wampcra"],
          authid: "x".repeat(600),
        }]);
        const reply = await c.next();
        assert.ok(reply.kind === "msg" && reply.msg[0] === 3, `expected ABORT, got ${lit(reply)}`);
      }
      await waitUntil(() => clock.armed.size, (n) => n === 0, cleanupMs);
      const armed = [...clock.armed.values()];
      // the router's own timer would also trip Deno's op sanitizer: clear it for the next steps
      for (const id of [...clock.armed.keys()]) clock.clearTimer(id);
      assert.deepEqual(armed, []);
    },
  },
  {
    name: "a RawSocket framing violation still sends ABORT while writes are pending",
    async run({ endpoint, target }) {
      const { router } = target;
      const conn = await Deno.connect({ hostname: endpoint.rsHost, port: endpoint.rsPort });
      const publisher = await router.session("realm1");
      try {
        await writeAll(conn, new Uint8Array([0x7f, 0xf1, 0, 0]));
        await readExactly(conn, 4);
        const json = (m: unknown[]) => utf8.encode(JSON.stringify(m));
        await writeAll(conn, rsFrame(0, json([1, "realm1", { roles: { subscriber: {} } }])));
        await writeAll(conn, rsFrame(0, json([32, 1, {}, "com.corpus.flood"])));
        let buf: Uint8Array = new Uint8Array(0);
        const frames: string[] = [];
        const readFrame = async (): Promise<string | null> => {
          for (;;) {
            const length = buf.length >= 4 ? (buf[1]! << 16) | (buf[2]! << 8) | buf[3]! : -1;
            if (length >= 0 && buf.length >= 4 + length) {
              const text = new TextDecoder().decode(buf.subarray(4, 4 + length));
              buf = buf.slice(4 + length);
              return text;
            }
            const more = new Uint8Array(64 * 1024);
            const n = await conn.read(more).catch(() => null);
            if (n === null) return null;
            buf = concat(buf, more.subarray(0, n));
          }
        };
        assert.match((await readFrame()) ?? "", /^\[2,/);
        assert.match((await readFrame()) ?? "", /^\[33,/);
        // 24 MB of EVENTs this client does not read yet: the router's writes to it stall
        for (let i = 0; i < 400; i++) {
          await publisher.publish("com.corpus.flood", [
            "x".repeat(60_000),
          ]);
        }
        await writeAll(conn, new Uint8Array([0x08, 0, 0, 2, 0x5b, 0x5d])); // reserved bits set
        for (let f = await readFrame(); f !== null; f = await readFrame()) {
          frames.push(
            f.slice(0, 80),
          );
        }
        assert.ok(
          frames.some((f) => f.startsWith("[3,")),
          `no ABORT among the ${frames.length} frames before the close`,
        );
      } finally {
        conn.close();
        await publisher.close();
      }
    },
  },
  {
    name: "a msgpack string starting with U+0000 does not reach a JSON peer undecodable",
    async run({ endpoint }) {
      await using provider = await WsConn.open(endpoint, "json");
      await using caller = await WsConn.open(endpoint, "msgpack");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {}, publisher: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.nul"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      // a plain string for MessagePack; in WAMP's JSON a leading U+0000 marks base64 bytes
      caller.sendMsg([48, 1, {}, "com.corpus.nul", ["\u0000!!"]]);
      caller.sendMsg([16, 2, { acknowledge: true }, "com.corpus.probe"]);
      let refused = false;
      for (;;) {
        const m = await expectMsg(caller, "CALL");
        if (m[0] === 17) break;
        if ((m[0] === 8 && m[2] === 1) || m[0] === 3) {
          refused = true;
          break;
        }
      }
      if (!refused) {
        const inv = await provider.next();
        assert.ok(inv.kind === "msg", `the JSON callee got ${lit(inv)}`);
      }
    },
  },
  {
    name: "a RawSocket client with a small maximum still gets its ABORT",
    async run({ endpoint }) {
      await using c = await RsConn.open(endpoint, "json", 0);
      c.sendMsg([1, "x".repeat(600), { roles: { caller: {} } }]);
      const reply = await c.next();
      assert.ok(reply.kind === "msg" && reply.msg[0] === 3, `expected ABORT, got ${lit(reply)}`);
    },
  },
  {
    // seed 12345, batch 10: the ABORT quoting a long URI did not fit a 1 KiB maximum and went
    // out without its message
    name: "an ABORT too long for a small RawSocket maximum keeps a shortened message",
    async run({ endpoint }) {
      await using c = await RsConn.open(endpoint, "cbor", 1);
      await joinRaw(c, { callee: {} });
      c.sendMsg([8, 68, 1, {}, `com.${"u".repeat(1400)} not a uri`]);
      const reply = await c.next();
      assert.ok(reply.kind === "msg" && reply.msg[0] === 3, `expected ABORT, got ${lit(reply)}`);
      assert.equal(reply.msg[2], "wamp.error.protocol_violation");
      const message = (reply.msg[1] as { message?: unknown }).message;
      assert.ok(typeof message === "string" && message.length > 0, `no message: ${lit(reply)}`);
    },
  },
];
