/**
 * RawSocket transport: handshake and its error replies, framing, PING/PONG, limits, Unix
 * sockets, and Autobahn|Python's RawSocket client on every serializer.
 */

import assert from "node:assert/strict";
import { createRouter, type Router } from "../mod.ts";
import { jsonSerializer } from "../src/serializer/json.ts";
import { readExactly } from "../src/transport/rawsocket.ts";
import { WampError } from "../src/wamp/errors.ts";
import { connectWebSocket } from "../bench/ws_client.ts";
import { ALLOW_ALL } from "./_helpers.ts";

function config(endpoint: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [{ type: "rawsocket", endpoint, ...extra }],
    }],
  };
}

async function start(
  endpoint: Record<string, unknown> = { type: "tcp", interface: "127.0.0.1", port: 0 },
  extra = {},
) {
  const router = createRouter(config(endpoint, extra));
  const l = (await router.serve())[0]!;
  return { router, port: l.port, url: l.urls[0], [Symbol.asyncDispose]: () => router.close(100) };
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
  const head = await readExactly(conn, 4);
  assert.equal(head.length, 4, "connection closed");
  const len = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
  return { type: head[0]! & 7, body: await readExactly(conn, len) };
}

const text = (m: unknown[]) => new TextEncoder().encode(jsonSerializer.encode(m) as string);
const parse = (b: Uint8Array) => jsonSerializer.decode(new TextDecoder().decode(b)) as unknown[];

Deno.test("rawsocket: handshake error replies", async (t) => {
  await using r = await start({ type: "tcp", interface: "127.0.0.1", port: 0 }, {
    serializers: ["json", "msgpack"],
  });
  const handshake = async (bytes: number[]) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    await conn.write(new Uint8Array(bytes));
    const reply = await readExactly(conn, 4);
    const rest = await readExactly(conn, 1);
    conn.close();
    return { reply: [...reply], closed: rest.length === 0 };
  };
  await t.step("unsupported serializer (UBJSON = 4)", async () => {
    assert.deepEqual(await handshake([0x7f, 0xf4, 0, 0]), {
      reply: [0x7f, 0x10, 0, 0],
      closed: true,
    });
  });
  await t.step("serializer not offered by the endpoint (CBOR = 3)", async () => {
    assert.deepEqual(await handshake([0x7f, 0xf3, 0, 0]), {
      reply: [0x7f, 0x10, 0, 0],
      closed: true,
    });
  });
  await t.step("reserved bits used", async () => {
    assert.deepEqual(await handshake([0x7f, 0xf1, 1, 0]), {
      reply: [0x7f, 0x30, 0, 0],
      closed: true,
    });
  });
  await t.step("not RawSocket at all: closed without reply", async () => {
    assert.deepEqual(await handshake([0x47, 0x45, 0x54, 0x20]), { reply: [], closed: true });
  });
  await t.step(
    "success echoes the serializer and announces our maximum (1 MiB: L = 11)",
    async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
      await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
      assert.deepEqual([...await readExactly(conn, 4)], [0x7f, 0xb1, 0, 0]);
      conn.close();
    },
  );
});

Deno.test("rawsocket: JSON session, PING/PONG, size limit", async () => {
  await using r = await start(
    { type: "tcp", interface: "127.0.0.1", port: 0 },
    { options: { max_message_size: 1024 } },
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  try {
    await conn.write(new Uint8Array([0x7f, 0x21, 0, 0])); // JSON; the client accepts 2 KiB
    const reply = await readExactly(conn, 4);
    assert.equal(reply[1]! & 0x0f, 1);
    assert.equal(reply[1]! >> 4, 1, "1024 bytes = 2^(9+1)");
    await conn.write(frame(0, text([1, "realm1", { roles: { subscriber: {}, publisher: {} } }])));
    const welcome = parse((await readFrame(conn)).body);
    assert.equal(welcome[0], 2);
    // PING is answered with a PONG echoing the payload
    await conn.write(frame(1, new Uint8Array([1, 2, 3])));
    const pong = await readFrame(conn);
    assert.deepEqual([pong.type, ...pong.body], [2, 1, 2, 3]);
    // pub/sub round trip on the same session
    await conn.write(frame(0, text([32, 1, {}, "com.t"])));
    assert.equal(parse((await readFrame(conn)).body)[0], 33);
    await conn.write(frame(0, text([16, 2, { exclude_me: false }, "com.t", ["ü"]])));
    const ev = parse((await readFrame(conn)).body);
    assert.deepEqual([ev[0], ev[4]], [36, ["ü"]]);
    // a message over our limit ends the session with ABORT
    await conn.write(frame(0, text([16, 3, {}, "com.t", ["x".repeat(2000)]])));
    const abort = parse((await readFrame(conn)).body);
    assert.equal(abort[0], 3);
    assert.equal(abort[2], "wamp.error.protocol_violation");
  } finally {
    conn.close();
  }
});

Deno.test("rawsocket over a Unix socket", async () => {
  // a fixed path: Deno grants Unix socket access per exact path (see the test task)
  const path = "/tmp/switchboard-rawsocket-test.sock";
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  try {
    await using r = await start({ type: "unix", path });
    assert.equal(r.url, `rs+unix://${path}`);
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    await readExactly(conn, 4);
    await conn.write(frame(0, text([1, "realm1", { roles: { caller: {} } }])));
    const welcome = parse((await readFrame(conn)).body);
    assert.equal(welcome[0], 2);
    assert.equal((welcome[2] as Record<string, unknown>).authrole, "anonymous");
    conn.close();
  } finally {
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
});

for (const ser of ["json", "msgpack", "cbor"] as const) {
  Deno.test(`rawsocket with Autobahn|Python over ${ser}`, async () => {
    await using r = await start();
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./interop/rawsocket_client.py", import.meta.url).pathname,
        "--port",
        String(r.port),
        "--serializer",
        ser,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const res = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(res.welcome.authrole, "anonymous");
    assert.deepEqual(res.event, [["héllo ✓", 2 ** 53, { nested: [1, 2] }], { k: "v" }]);
    assert.equal(res.result, 42);
    void (r.router as Router);
  });
}

Deno.test("universal transport: RawSocket, WebSocket and HTTP on one port", async () => {
  const router = createRouter({
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [{
        type: "universal",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        rawsocket: { serializers: ["json", "msgpack"] },
        websocket: { ws: { serializers: ["json", "msgpack", "cbor"] } },
      }],
    }],
  });
  try {
    const l = (await router.serve())[0]!;
    assert.deepEqual(l.urls, [`rs://127.0.0.1:${l.port}`, `ws://127.0.0.1:${l.port}/ws`]);
    // RawSocket
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: l.port });
    await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    assert.deepEqual([...await readExactly(conn, 4)], [0x7f, 0xb1, 0, 0]);
    await conn.write(frame(0, text([1, "realm1", { roles: { subscriber: {} } }])));
    assert.equal(parse((await readFrame(conn)).body)[0], 2);
    await conn.write(frame(0, text([32, 1, {}, "com.u"])));
    assert.equal(parse((await readFrame(conn)).body)[0], 33);
    // WebSocket on the same port, publishing to the RawSocket subscriber
    const { RawClient } = await import("./_helpers.ts");
    await using ws = (await RawClient.join(`ws://127.0.0.1:${l.port}/ws`, "cbor")).client;
    ws.send([16, 1, { acknowledge: true }, "com.u", ["both"]]);
    assert.equal((await ws.next())[0], 17);
    const ev = parse((await readFrame(conn)).body);
    assert.deepEqual([ev[0], ev[4]], [36, ["both"]]);
    // plain HTTP on the same port
    const res = await fetch(`http://127.0.0.1:${l.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /switchboard_sessions\{realm="realm1"\} 2/);
    conn.close();
  } finally {
    await router.close(100);
  }
});

Deno.test("universal transport: WebSocket sessions show the client's address, not the relay's", async () => {
  const router = createRouter(config({ type: "tcp", interface: "127.0.0.1", port: 0 }, {
    type: "universal",
    websocket: { ws: { serializers: ["json"] } },
  }));
  try {
    const l = (await router.serve())[0]!;
    const ws = await connectWebSocket({ port: l.port, path: "/ws", protocols: ["wamp.2.json"] });
    const welcome = new Promise<unknown[]>((resolve) => {
      ws.onmessage = (data) => resolve(JSON.parse(data as string));
    });
    ws.send(JSON.stringify([1, "realm1", { roles: { subscriber: {} } }]));
    const [type, session] = await welcome;
    assert.equal(type, 2);
    const admin = await router.session("realm1");
    const details = (await admin.call("wamp.session.get", [session])).args[0] as {
      transport: { peer: string };
    };
    // The per-address authentication failure limit keys on this too.
    assert.equal(details.transport.peer, `tcp4:127.0.0.1:${ws.localAddr.port}`);
    await ws.close();
  } finally {
    await router.close(100);
  }
});

/** `p`, or a failure after `ms` (so a missing reply fails the test instead of hanging it). */
async function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("rawsocket: replies larger than the client's maximum end the call with payload_size_exceeded", async () => {
  await using r = await start({ type: "tcp", interface: "127.0.0.1", port: 0 }, {
    serializers: ["json"],
  });
  const big = "x".repeat(2000);
  // A client that accepts at most 512 bytes cannot even get the WELCOME: ABORT, not silence.
  {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    await conn.write(new Uint8Array([0x7f, 0x01, 0, 0]));
    assert.equal((await within(readExactly(conn, 4)))[0], 0x7f);
    await conn.write(frame(0, text([1, "realm1", { roles: { caller: {}, callee: {} } }])));
    const abort = parse((await within(readFrame(conn))).body);
    assert.deepEqual([abort[0], abort[2]], [3, "wamp.error.payload_size_exceeded"]);
    assert.equal((await within(readExactly(conn, 1))).length, 0, "closed after the ABORT");
    conn.close();
  }
  const backend = await r.router.session("realm1");
  try {
    await backend.register("com.big.result", () => big);
    await backend.register("com.small.result", () => "ok");

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    try {
      // L = 1: the client accepts messages up to 2^10 = 1024 bytes.
      await conn.write(new Uint8Array([0x7f, 0x11, 0, 0]));
      assert.equal((await within(readExactly(conn, 4)))[0], 0x7f);
      await conn.write(frame(0, text([1, "realm1", { roles: { caller: {}, callee: {} } }])));
      const welcome = parse((await within(readFrame(conn))).body);
      assert.equal(welcome[0], 2, JSON.stringify(welcome));

      // A RESULT too large for the caller becomes an ERROR it can read.
      await conn.write(frame(0, text([48, 1, {}, "com.big.result", []])));
      const error = parse((await within(readFrame(conn))).body);
      assert.deepEqual(error.slice(0, 5), [8, 48, 1, {}, "wamp.error.payload_size_exceeded"]);
      assert.match(String((error[5] as unknown[])[0]), /RESULT is larger than/);

      // An INVOCATION too large for the callee fails the call for its caller.
      await conn.write(frame(0, text([64, 2, {}, "com.raw.proc"])));
      assert.equal(parse((await within(readFrame(conn))).body)[0], 65);
      await assert.rejects(
        backend.call("com.raw.proc", [big]),
        (e) => e instanceof WampError && e.uri === "wamp.error.payload_size_exceeded",
      );
      // (the oversized INVOCATION never reached the callee: the next frame is the reply below)

      // The session is still fine: a small call works.
      await conn.write(frame(0, text([48, 3, {}, "com.small.result", []])));
      assert.deepEqual(parse((await within(readFrame(conn))).body).slice(0, 4), [50, 3, {}, [
        "ok",
      ]]);
    } finally {
      conn.close();
    }
  } finally {
    await backend.close();
  }
});

Deno.test("rawsocket: auto_ping_interval PINGs; a peer that answers stays, a silent one is closed", async () => {
  await using r = await start({ type: "tcp", interface: "127.0.0.1", port: 0 }, {
    serializers: ["json"],
    options: { auto_ping_interval: 1000 },
  });
  const open = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    assert.equal((await readExactly(conn, 4))[0], 0x7f);
    await conn.write(frame(0, text([1, "realm1", { roles: { caller: {} } }])));
    assert.equal(parse((await readFrame(conn)).body)[0], 2);
    return conn;
  };
  const answering = await open();
  const silent = await open();
  try {
    await Promise.all([
      (async () => {
        // The silent peer reads its PING and answers nothing: closed at the next interval.
        const ping = await within(readFrame(silent), 5000);
        assert.equal(ping.type, 1);
        assert.equal(ping.body.length, 4);
        assert.equal((await within(readExactly(silent, 1), 5000)).length, 0, "closed");
      })(),
      (async () => {
        // The answering peer gets three PINGs, answers each with a PONG echoing its payload,
        // and is still served after them.
        for (let i = 0; i < 3; i++) {
          const f = await within(readFrame(answering), 5000);
          assert.equal(f.type, 1);
          await answering.write(frame(2, f.body));
        }
        await answering.write(frame(0, text([48, 1, {}, "com.none", []])));
        const reply = parse((await within(readFrame(answering), 5000)).body);
        assert.deepEqual([reply[0], reply[4]], [8, "wamp.error.no_such_procedure"]);
      })(),
    ]);
  } finally {
    answering.close();
    silent.close();
  }
});

Deno.test("rawsocket: no PINGs unless auto_ping_interval is set (Autobahn|Python cannot answer them)", () => {
  const router = createRouter(config({ type: "tcp", interface: "127.0.0.1", port: 0 }));
  const transport = router.config.transports[0]!;
  assert.equal(transport.type, "rawsocket");
  const rs = transport.rawsocket;
  assert.equal(rs.ping_interval, 0);
  const set = createRouter(
    config({ type: "tcp", interface: "127.0.0.1", port: 0 }, {
      options: { auto_ping_interval: 2500 },
    }),
  );
  assert.equal(set.config.transports[0]!.type, "rawsocket");
  assert.equal(set.config.transports[0]!.rawsocket!.ping_interval, 3);
});
