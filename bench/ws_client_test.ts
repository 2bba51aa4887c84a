/**
 * Tests of the bench WebSocket client against `Deno.serve` and against a raw TCP server that
 * sends what `Deno.upgradeWebSocket` never does (pings, fragmented and 64-bit-length frames).
 *
 * Run: `deno test --allow-net=127.0.0.1 bench/ws_client_test.ts`
 *
 * @module
 */

import { connectWebSocket, WebSocketError } from "./ws_client.ts";

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  actual:   ${a}\n  expected: ${e}`);
}

/** An echo server with subprotocol negotiation (first offered protocol that it knows). */
function echoServer(known: readonly string[] = ["wamp.2.json", "wamp.2.msgpack"]) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) =>
      s.trim()
    );
    const protocol = offered.find((p) => known.includes(p));
    const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      if (e.data === "close-me") socket.close(4000, "asked to");
      else socket.send(e.data);
    };
    return response;
  });
}

function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("handshake negotiates the offered subprotocol; text and binary echo", async () => {
  await using server = echoServer();
  const ws = await connectWebSocket({
    port: server.addr.port,
    protocols: ["wamp.2.msgpack"],
  });
  assertEquals(ws.protocol, "wamp.2.msgpack");
  const got: Array<string | Uint8Array> = [];
  const three = new Promise<void>((resolve) => {
    ws.onmessage = (m) => {
      got.push(m);
      if (got.length === 3) resolve();
    };
  });
  ws.send("héllo");
  ws.send(bytes(10));
  ws.send("");
  await three;
  assertEquals(got[0], "héllo");
  assert(got[1] instanceof Uint8Array && sameBytes(got[1], bytes(10)), "binary echo");
  assertEquals(got[2], "");
  const info = await ws.close();
  assert(info.wasClean, "clean close");
  assertEquals(info.code, 1000);
});

Deno.test("large messages (16/64-bit lengths) and fragmented sends round-trip", async () => {
  await using server = echoServer();
  const ws = await connectWebSocket({ port: server.addr.port, protocols: ["wamp.2.json"] });
  const sizes = [125, 126, 65535, 65536, 70_000, 1 << 20];
  const got: Array<string | Uint8Array> = [];
  let want = sizes.length + 2;
  const all = new Promise<void>((resolve) => {
    ws.onmessage = (m) => {
      got.push(m);
      if (--want === 0) resolve();
    };
  });
  for (const n of sizes) ws.send(bytes(n, n));
  ws.send(bytes(100_000, 3), 4096); // 25 frames: binary + continuations
  ws.send("x".repeat(70_000), 1000); // text in 70 fragments
  await all;
  for (const [i, n] of sizes.entries()) {
    const m = got[i];
    assert(m instanceof Uint8Array && sameBytes(m, bytes(n, n)), `echo of ${n} bytes`);
  }
  const frag = got[sizes.length];
  assert(frag instanceof Uint8Array && sameBytes(frag, bytes(100_000, 3)), "fragmented binary");
  assertEquals(got[sizes.length + 1], "x".repeat(70_000), "fragmented text");
  await ws.close();
});

Deno.test("server-initiated close is answered and reported", async () => {
  await using server = echoServer();
  const ws = await connectWebSocket({ port: server.addr.port, protocols: ["wamp.2.json"] });
  ws.send("close-me");
  const info = await ws.closed;
  assertEquals(info.code, 4000);
  assertEquals(info.reason, "asked to");
  assert(info.wasClean, "both close frames exchanged");
});

Deno.test("handshake fails when the server picks no offered subprotocol", async () => {
  await using server = echoServer(["wamp.2.cbor"]);
  let error: unknown = null;
  try {
    await connectWebSocket({ port: server.addr.port, protocols: ["wamp.2.json"] });
  } catch (err) {
    error = err;
  }
  assert(error instanceof WebSocketError, "WebSocketError");
  assert(error.message.includes("none of the offered subprotocols"), error.message);
});

Deno.test("handshake fails on a non-101 answer", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("no", { status: 403 }),
  );
  let error: unknown = null;
  try {
    await connectWebSocket({ port: server.addr.port });
  } catch (err) {
    error = err;
  }
  assert(error instanceof WebSocketError && error.message.includes("403"), String(error));
});

// ---- a raw server, to send frames Deno's server API cannot ---------------------------------

const enc = new TextEncoder();

async function acceptOf(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    enc.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** Unmasked server frame with the minimal length encoding, or a forced 64-bit one. */
function serverFrame(fin: boolean, opcode: number, payload: Uint8Array, long = false): Uint8Array {
  const n = payload.length;
  const head = long || n >= 65536 ? 10 : n >= 126 ? 4 : 2;
  const out = new Uint8Array(head + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (head === 2) out[1] = n;
  else if (head === 4) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setUint32(6, n);
  }
  out.set(payload, head);
  return out;
}

/** Reads exactly one masked client frame; returns opcode and unmasked payload. */
async function readClientFrame(
  conn: Deno.Conn,
  state: { buf: Uint8Array },
): Promise<{ opcode: number; payload: Uint8Array }> {
  const need = async (n: number) => {
    while (state.buf.length < n) {
      const chunk = new Uint8Array(65536);
      const r = await conn.read(chunk);
      if (r === null) throw new Error("client closed");
      const joined = new Uint8Array(state.buf.length + r);
      joined.set(state.buf);
      joined.set(chunk.subarray(0, r), state.buf.length);
      state.buf = joined;
    }
  };
  await need(2);
  let len = state.buf[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    await need(4);
    len = (state.buf[2]! << 8) | state.buf[3]!;
    at = 4;
  } else if (len === 127) {
    await need(10);
    len = new DataView(state.buf.buffer, state.buf.byteOffset + 6, 4).getUint32(0);
    at = 10;
  }
  assert((state.buf[1]! & 0x80) !== 0, "client frames are masked");
  await need(at + 4 + len);
  const mask = state.buf.slice(at, at + 4);
  const payload = state.buf.slice(at + 4, at + 4 + len);
  for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!;
  const opcode = state.buf[0]! & 0x0f;
  state.buf = state.buf.slice(at + 4 + len);
  return { opcode, payload };
}

Deno.test("raw server: ping → pong, fragmented and 64-bit-length frames, close", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serverSide = (async () => {
    const conn = await listener.accept();
    const state = { buf: new Uint8Array(0) };
    // Handshake.
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("no handshake");
      head += new TextDecoder().decode(chunk.subarray(0, n));
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
    assert(/sec-websocket-protocol: *wamp\.2\.json/i.test(head), "protocol offered");
    await conn.write(enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${await acceptOf(
          key,
        )}\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n`,
    ));
    // A ping must come back as a pong with the same payload.
    await conn.write(serverFrame(true, 0x9, enc.encode("are you there")));
    const pong = await readClientFrame(conn, state);
    assertEquals(pong.opcode, 0xa, "pong opcode");
    assertEquals(new TextDecoder().decode(pong.payload), "are you there");
    // Fragmented text with a ping in between; a small message with a 64-bit length; 70 KiB.
    const parts = ["[36,1,2,", "{},", '["frag"]]'];
    await conn.write(serverFrame(false, 0x1, enc.encode(parts[0])));
    await conn.write(serverFrame(true, 0x9, new Uint8Array(0)));
    await conn.write(serverFrame(false, 0x0, enc.encode(parts[1])));
    await conn.write(serverFrame(true, 0x0, enc.encode(parts[2])));
    const pong2 = await readClientFrame(conn, state);
    assertEquals(pong2.opcode, 0xa, "second pong");
    await conn.write(serverFrame(true, 0x2, bytes(5), true));
    // 70 KiB written in small pieces, so the client reassembles across reads.
    const big = serverFrame(true, 0x2, bytes(70_000));
    for (let at = 0; at < big.length; at += 1000) {
      await conn.write(big.subarray(at, at + 1000));
    }
    // Client-initiated close is echoed.
    const close = await readClientFrame(conn, state);
    assertEquals(close.opcode, 0x8, "close opcode");
    await conn.write(serverFrame(true, 0x8, close.payload));
    conn.close();
  })();

  const ws = await connectWebSocket({
    port: (listener.addr as Deno.NetAddr).port,
    protocols: ["wamp.2.json"],
  });
  const got: Array<string | Uint8Array> = [];
  const three = new Promise<void>((resolve) => {
    ws.onmessage = (m) => {
      got.push(m);
      if (got.length === 3) resolve();
    };
  });
  await three;
  assertEquals(got[0], '[36,1,2,{},["frag"]]');
  assert(got[1] instanceof Uint8Array && sameBytes(got[1], bytes(5)), "64-bit length frame");
  assert(got[2] instanceof Uint8Array && sameBytes(got[2], bytes(70_000)), "70 KB frame");
  const info = await ws.close(1000, "bye");
  assert(info.wasClean, "clean close");
  await serverSide;
  listener.close();
});

Deno.test("ping() resolves on the server's pong", async () => {
  await using server = echoServer();
  const ws = await connectWebSocket({ port: server.addr.port, protocols: ["wamp.2.json"] });
  await ws.ping(enc.encode("x"));
  await ws.close();
});
