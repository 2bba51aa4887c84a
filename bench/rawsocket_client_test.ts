/**
 * Tests of the bench RawSocket client against a scripted TCP server (handshake and its error
 * replies, frames split and coalesced across reads, PING/PONG, limits), and of the bench WAMP
 * client on both transports of the bench router (`router_server.ts` with the bench config,
 * which must report both ports).
 *
 * Run: `deno test --allow-net=127.0.0.1 --allow-read --allow-run --allow-env bench/rawsocket_client_test.ts`
 *
 * @module
 */

import { buildNodeConfig } from "./config.ts";
import { connectRawSocket, RawSocketClientError } from "./rawsocket_client.ts";
import { BENCH_SERIALIZERS } from "./serializers.ts";
import { startRouter } from "./targets.ts";
import { type TransportKind, WampClient } from "./wamp_client.ts";

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  actual:   ${a}\n  expected: ${e}`);
}

async function readN(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) return out.subarray(0, at);
    at += got;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

function frame(type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + body.length);
  f[0] = type;
  f[1] = body.length >> 16;
  f[2] = (body.length >> 8) & 0xff;
  f[3] = body.length & 0xff;
  f.set(body, 4);
  return f;
}

async function readFrame(conn: Deno.Conn): Promise<{ type: number; body: Uint8Array }> {
  const head = await readN(conn, 4);
  assertEquals(head.length, 4, "frame header");
  const len = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
  return { type: head[0]! & 7, body: await readN(conn, len) };
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Closes a connection that may already be closed. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}

/**
 * A one-connection TCP server: answers the handshake with `reply(hello)` (or, when that is
 * null, just records it), then runs `script` on the connection.
 */
function scriptedServer(
  reply: (hello: Uint8Array) => number[] | null,
  script: (conn: Deno.Conn) => Promise<void> = async () => {},
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hello: { bytes: number[] } = { bytes: [] };
  const done = (async () => {
    const conn = await listener.accept();
    try {
      const h = await readN(conn, 4);
      hello.bytes = [...h];
      const answer = reply(h);
      if (answer !== null) await writeAll(conn, new Uint8Array(answer));
      await script(conn);
    } finally {
      closeQuietly(conn);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    hello,
    async [Symbol.asyncDispose]() {
      await done;
      listener.close();
    },
  };
}

Deno.test("rawsocket client: handshake octets, messages both ways, PING/PONG, split frames", async () => {
  const text = new TextEncoder();
  const big = bytes(300_000, 5);
  await using server = scriptedServer(
    (h) => [0x7f, (3 << 4) | (h[1]! & 0x0f), 0, 0],
    async (conn) => {
      // Nothing is sent before the client's first message (as with WAMP: HELLO goes first).
      assertEquals(new TextDecoder().decode((await readFrame(conn)).body), "ready");
      // Two small frames and the start of a large one in one write, the rest byte by byte
      // and in a large chunk: the client must reassemble across reads.
      const a = frame(0, text.encode("[1]"));
      const b = frame(0, new Uint8Array([0xc3]));
      const c = frame(0, big);
      const first = new Uint8Array(a.length + b.length + 10);
      first.set(a);
      first.set(b, a.length);
      first.set(c.subarray(0, 10), a.length + b.length);
      await writeAll(conn, first);
      for (let i = 10; i < 20; i++) await writeAll(conn, c.subarray(i, i + 1));
      await writeAll(conn, c.subarray(20));
      // The router pings: the client answers with the same payload.
      await writeAll(conn, frame(1, new Uint8Array([9, 8, 7])));
      const pong = await readFrame(conn);
      assertEquals([pong.type, ...pong.body], [2, 9, 8, 7], "PONG echoes the PING payload");
      // The client's messages and PING, in order.
      const m1 = await readFrame(conn);
      assertEquals([m1.type, new TextDecoder().decode(m1.body)], [0, "hello"], "text as UTF-8");
      const m2 = await readFrame(conn);
      assertEquals([m2.type, ...m2.body], [0, 1, 2, 3], "binary as sent");
      const ping = await readFrame(conn);
      assertEquals(ping.type, 1, "client PING");
      await writeAll(conn, frame(2, ping.body));
      // The client closes: end of stream.
      assertEquals((await readN(conn, 1)).length, 0, "client closed the connection");
    },
  );
  const client = await connectRawSocket({
    port: server.port,
    serializerId: 2,
    maxLengthExponent: 10,
  });
  const got: Array<string | Uint8Array> = [];
  const three = new Promise<void>((resolve) => {
    client.onmessage = (m) => {
      got.push(m);
      if (got.length === 3) resolve();
    };
  });
  client.send("ready");
  await three;
  assertEquals(server.hello.bytes, [0x7f, (10 << 4) | 2, 0, 0], "client handshake");
  assertEquals(client.maxIncoming, 2 ** 19, "own limit 2^(9+10)");
  assertEquals(client.maxOutgoing, 2 ** 12, "router's limit 2^(9+3)");
  assert(got[0] instanceof Uint8Array && got[0].length === 3, "binary serializer: bytes");
  assertEquals([...(got[1] as Uint8Array)], [0xc3]);
  const m3 = got[2];
  assert(m3 instanceof Uint8Array && m3.length === big.length, "large frame reassembled");
  assert(m3.every((v, i) => v === big[i]), "large frame content");
  client.send("hello");
  client.send(new Uint8Array([1, 2, 3]));
  await client.ping();
  let tooLong: unknown = null;
  try {
    client.send(new Uint8Array(2 ** 12 + 1));
  } catch (err) {
    tooLong = err;
  }
  assert(tooLong instanceof RawSocketClientError, "longer than the router accepts: refused");
  const info = await client.close();
  assert(info.wasClean && !client.isOpen, "closed after its writes went out");
});

Deno.test("rawsocket client: JSON payloads arrive as strings; a drop is reported", async () => {
  await using server = scriptedServer(
    (h) => [0x7f, 0xf0 | (h[1]! & 0x0f), 0, 0],
    async (conn) => {
      await readFrame(conn);
      await writeAll(conn, frame(0, new TextEncoder().encode('[2,1,{"x":"é"}]')));
    },
  );
  const client = await connectRawSocket({ port: server.port, serializerId: 1 });
  const received = new Promise<unknown>((resolve) => (client.onmessage = resolve));
  client.send("[1]");
  const got = await received;
  assertEquals(got, '[2,1,{"x":"é"}]', "JSON as a string");
  const info = await client.closed;
  assert(!info.wasClean && info.reason !== "", `drop reported: ${info.reason}`);
});

Deno.test("rawsocket client: handshake error replies and wrong answers", async (t) => {
  const attempt = async (reply: number[]): Promise<unknown> => {
    await using server = scriptedServer(() => reply);
    try {
      const c = await connectRawSocket({ port: server.port, serializerId: 2 });
      await c.close();
      return null;
    } catch (err) {
      return err;
    }
  };
  for (
    const [name, reply, text] of [
      ["serializer unsupported", [0x7f, 0x10, 0, 0], "serializer unsupported"],
      ["length unacceptable", [0x7f, 0x20, 0, 0], "maximum message length"],
      ["other serializer", [0x7f, 0xf1, 0, 0], "serializer 1"],
      ["not RawSocket", [0x48, 0x54, 0x54, 0x50], "not a RawSocket"],
      ["reserved octets", [0x7f, 0xf2, 0, 1], "reserved"],
    ] as const
  ) {
    await t.step(name, async () => {
      const err = await attempt([...reply]);
      assert(err instanceof RawSocketClientError, `RawSocketClientError, got ${err}`);
      assert(err.message.includes(text), err.message);
    });
  }
});

Deno.test("bench router: both ports reported; WAMP over RawSocket and WebSocket, each serializer", async () => {
  const router = await startRouter(buildNodeConfig([]));
  const clients: WampClient[] = [];
  try {
    const ws = router.ports.websocket;
    const rs = router.ports.rawsocket;
    assert(typeof ws === "number" && ws > 0, "websocket port");
    assert(typeof rs === "number" && rs > 0 && rs !== ws, "rawsocket port of its own");
    assertEquals(router.port, ws, "the main port is the WebSocket one");
    const portOf = (t: TransportKind) => t === "rawsocket" ? rs : ws;
    for (const [name, serializer] of BENCH_SERIALIZERS) {
      // Subscribers on both transports, publishers on both: every event reaches both.
      const connect = async (transport: TransportKind) => {
        const c = await WampClient.connect({ port: portOf(transport), transport, serializer });
        clients.push(c);
        assert(c.sessionId > 0, `${name}/${transport}: joined`);
        return c;
      };
      const subRs = await connect("rawsocket");
      const subWs = await connect("websocket");
      const pubRs = await connect("rawsocket");
      const pubWs = await connect("websocket");
      const topic = `bench.test.rs.${name}`;
      const seen: Record<string, unknown[]> = { rs: [], ws: [] };
      const all = new Promise<void>((resolve) => {
        const on = (key: string) => (ev: { args: readonly unknown[] }) => {
          seen[key]!.push(ev.args[0]);
          if (seen.rs!.length === 2 && seen.ws!.length === 2) resolve();
        };
        Promise.all([subRs.subscribe(topic, on("rs")), subWs.subscribe(topic, on("ws"))]).then(
          async () => {
            await pubRs.publishAcknowledged(topic, ["from-rs"]);
            pubWs.publish(topic, ["from-ws"]);
          },
        );
      });
      await all;
      assertEquals(seen.rs, ["from-rs", "from-ws"], `${name}: RawSocket subscriber`);
      assertEquals(seen.ws, ["from-rs", "from-ws"], `${name}: WebSocket subscriber`);
      await subRs.transport.ping();
      const callee = await connect("rawsocket");
      await callee.register(`bench.test.echo.${name}`, (inv) => [...inv.args, "rs"]);
      const result = await pubWs.call(`bench.test.echo.${name}`, [1, "x".repeat(2000)]);
      assertEquals(result.args.length, 3, `${name}: call through a RawSocket callee`);
      await Promise.all(clients.splice(0).map((c) => c.leave(1000)));
    }
  } finally {
    await Promise.all(clients.map((c) => c.leave(500)));
    await router.close();
  }
});
