/**
 * Attacks on the transport layer (issue 9, items 8-12, 14-16), each against a real router over
 * real sockets on 127.0.0.1, bounded in count and time: what the attacker sees at each limit,
 * that the router's memory stays bounded, that the process survives, and that a bystander is
 * unaffected.
 */

import assert from "node:assert/strict";
import { RawClient, sleep, startRouter, testConfig } from "./_helpers.ts";
import {
  ByteReader,
  clientFrame,
  closeCode,
  rawUpgrade,
  readJson,
  sendJson,
} from "./_ws_frames.ts";

type Obj = Record<string, unknown>;

/** A test config whose `/ws` path has these options (and the endpoint these extra keys). */
function withOptions(options: Obj, endpoint: Obj = {}): ReturnType<typeof testConfig> {
  const c = testConfig();
  const t = c.workers[0]!.transports[0] as Obj;
  t.endpoint = { ...(t.endpoint as Obj), ...endpoint };
  ((t.paths as Obj).ws as Obj).options = options;
  return c;
}

const HELLO = [1, "realm1", { roles: { subscriber: {}, publisher: {}, caller: {}, callee: {} } }];

/** A bystander that must keep working: publishes with acknowledgement and reads PUBLISHED. */
async function bystanderWorks(url: string): Promise<void> {
  await using c = (await RawClient.join(url, "json")).client;
  c.send([16, 77, { acknowledge: true }, "com.bystander", ["alive"]]);
  assert.equal((await c.next(5000))[0], 17);
}

// ---- item 16: WebSocket conformance ---------------------------------------------------------

Deno.test("WebSocket: protocol errors end with RFC 6455 close codes", async (t) => {
  await using r = await startRouter();
  const cases: [string, Uint8Array, number][] = [
    ["an unmasked client frame", clientFrame(1, JSON.stringify(HELLO), { mask: false }), 1002],
    [
      "invalid UTF-8 in a text frame",
      clientFrame(1, new Uint8Array([0x5b, 0xff, 0xfe, 0x5d])),
      1007,
    ],
    ["reserved bits set", clientFrame(1, JSON.stringify(HELLO), { rsv: 2 }), 1002],
    ["an unknown opcode", clientFrame(3, "x"), 1002],
    ["a fragmented control frame", clientFrame(9, "p", { fin: false }), 1002],
  ];
  for (const [what, frame, code] of cases) {
    await t.step(`${what} → close ${code}`, async () => {
      const { conn, reader, head } = await rawUpgrade(r.port);
      try {
        assert.match(head, /^HTTP\/1\.1 101 /);
        await conn.write(frame);
        assert.equal(await closeCode(reader), code);
        assert.ok(await reader.ended(), "the router closes the connection");
      } finally {
        conn.close();
      }
    });
  }
  await bystanderWorks(r.url);
});

// ---- item 12: the frame limit holds while a frame arrives -------------------------------------

/** Resident set size of this process in MiB (the router runs in it). */
function rssMiB(): number {
  return Deno.memoryUsage().rss / (1024 * 1024);
}

/**
 * Streams the payload of a frame that announced `announced` bytes, 1 MiB at a time, until the
 * router stops reading (the write fails) or `announced` bytes went out. Returns the bytes sent.
 */
async function flood(conn: Deno.Conn, announced: number): Promise<number> {
  const chunk = new Uint8Array(1024 * 1024).fill(0x61);
  let sent = 0;
  try {
    while (sent < announced) sent += await conn.write(chunk.subarray(0, announced - sent));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset)) throw e;
  }
  return sent;
}

Deno.test("max_message_size bounds memory while a frame arrives: 8 × 60 MiB frames against a 64 KiB limit", async () => {
  await using r = await startRouter(withOptions({ max_message_size: 65536 }));
  const before = rssMiB();
  const attackers = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const a = await rawUpgrade(r.port, "ws", "wamp.2.msgpack");
      assert.match(a.head, /^HTTP\/1\.1 101 /);
      // half of them join first: the limit holds before and after HELLO
      if (i % 2 === 1) {
        await a.conn.write(
          clientFrame(
            2,
            new Uint8Array([
              0x93,
              0x01,
              0xa6,
              ...new TextEncoder().encode("realm1"),
              0x81,
              0xa5,
              ...new TextEncoder().encode("roles"),
              0x81,
              0xa6,
              ...new TextEncoder().encode("caller"),
              0x80,
            ]),
          ),
        );
      }
      return a;
    }),
  );
  try {
    const results = await Promise.all(attackers.map(async ({ conn, reader }) => {
      const code = closeCode(reader);
      await conn.write(clientFrame(2, new Uint8Array(0), { announce: 60 * 1024 * 1024 }));
      const sent = await flood(conn, 60 * 1024 * 1024);
      return { code: await code, sent };
    }));
    for (const { code } of results) assert.equal(code, 1009, "close: message too big");
    const grown = rssMiB() - before;
    // Deno's own WebSocket server buffered every frame whole: +487 MiB for this load
    assert.ok(grown < 64, `the router's memory grew by ${grown.toFixed(1)} MiB`);
  } finally {
    for (const { conn } of attackers) conn.close();
  }
  await bystanderWorks(r.url);
});

// ---- item 8: out of file descriptors, and the connection cap ----------------------------------

import { Child, CLI_PERMISSIONS } from "./_process.ts";

const ROOT = new URL("../", import.meta.url);

/** The router CLI in a child process with its file-descriptor limit lowered to `nofile`. */
async function routerProcess(config: unknown, nofile: number): Promise<Child & { dir: string }> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(file, JSON.stringify(config));
  const deno = Deno.execPath();
  const child = new Child(
    new Deno.Command("bash", {
      args: [
        "-c",
        `ulimit -n ${nofile} && exec "$0" run ${CLI_PERMISSIONS.join(" ")} main.ts --config "$1"`,
        deno,
        file,
      ],
      cwd: new URL(ROOT).pathname,
      stdout: "piped",
      stderr: "piped",
    }),
  );
  return Object.assign(child, { dir });
}

/** Opens up to `n` idle TCP connections to `port`; stops early when connecting fails. */
async function openIdle(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionRefused) {
        throw new Error("the router stopped listening");
      }
      break;
    }
  }
  return conns;
}

Deno.test("out of file descriptors: the router backs off, logs once per burst, and serves again", async () => {
  const config = {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [{
          name: "anonymous",
          permissions: [{
            uri: "",
            match: "prefix",
            allow: { call: true, register: true, publish: true, subscribe: true },
          }],
        }],
      }],
      transports: [
        {
          type: "web",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          paths: { ws: { type: "websocket" } },
        },
        { type: "rawsocket", endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 } },
      ],
    }],
  };
  await using child = await routerProcess(config, 256);
  try {
    const ws = Number((await child.stdoutLine(/listening on ws:\/\//)).match(/:(\d+)\/ws/)![1]);
    const rs = Number((await child.stdoutLine(/listening on rs:\/\//)).match(/:(\d+) /)![1]);
    // twice as many connections as the process may have files, on both listeners
    for (const port of [ws, rs]) {
      const idle = await openIdle(port, 600);
      assert.ok(idle.length >= 500, `opened ${idle.length}`);
      await child.output(/cannot accept connections; retrying with back-off/, 10_000);
      for (const c of idle) c.close();
      await child.output(/accepting connections again/, 10_000);
    }
    const warnings = child.stderr.split("\n").filter((l) =>
      l.includes("cannot accept connections")
    );
    assert.equal(warnings.length, 2, "one warning per burst and listener:\n" + warnings.join("\n"));
    // still alive and serving
    await bystanderWorks(`ws://127.0.0.1:${ws}/ws`);
    const probe = await Deno.connect({ hostname: "127.0.0.1", port: rs });
    await probe.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    const reply = new Uint8Array(4);
    assert.equal(await probe.read(reply), 4);
    assert.equal(reply[0], 0x7f);
    probe.close();
  } finally {
    await Deno.remove(child.dir, { recursive: true });
  }
});

Deno.test("max_connections: connections over the cap are refused cleanly (HTTP 503, RawSocket error 4)", async () => {
  const c = withOptions({}, { max_connections: 20 });
  (c.workers[0]!.transports as Obj[]).push({
    type: "rawsocket",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0, max_connections: 5 },
  });
  await using r = await startRouter(c);
  const [, rs] = await r.listeners();
  const held = [...await openIdle(r.port, 20), ...await openIdle(rs!.port, 5)];
  try {
    const over = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    const reader = new ByteReader(over);
    assert.match((await reader.head()) ?? "", /^HTTP\/1\.1 503 /);
    assert.ok(await reader.ended(), "and closed");
    over.close();
    const rsOver = await Deno.connect({ hostname: "127.0.0.1", port: rs!.port });
    await rsOver.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    const rsReader = new ByteReader(rsOver);
    assert.ok(await rsReader.need(4));
    assert.deepEqual([...rsReader.take(4)], [0x7f, 0x40, 0, 0], "maximum connection count reached");
    assert.ok(await rsReader.ended());
    rsOver.close();
    assert.equal(r.router.connectionStats.refused, 2);
  } finally {
    for (const h of held) h.close();
  }
  for (let i = 0; i < 100 && r.router.connectionStats.open > 0; i++) await sleep(20);
  await bystanderWorks(r.url);
});

// ---- item 9: slow and silent clients ----------------------------------------------------------

/** Resolves true when the connection ends (the router closed it) within `ms`, else false. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const reader = new ByteReader(conn);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    const drained = (async () => {
      for (;;) {
        if (await reader.ended()) return true;
        reader.take(Number.MAX_SAFE_INTEGER);
      }
    })();
    return await Promise.race([drained, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const SHORT = { open_handshake_timeout: 1000, close_handshake_timeout: 1000 };

Deno.test("slowloris: 200 connections trickling their headers are closed by open_handshake_timeout", async () => {
  await using r = await startRouter(withOptions(SHORT));
  const conns = await openIdle(r.port, 200);
  assert.equal(conns.length, 200);
  let stop = false;
  const trickle = Promise.all(conns.map(async (c) => {
    const bytes = new TextEncoder().encode("GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    for (let i = 0; !stop; i++) {
      try {
        await c.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
      } catch {
        return; // closed by the router
      }
      await sleep(300);
    }
  }));
  try {
    await bystanderWorks(r.url); // served while they trickle
    const closed = await Promise.all(conns.map((c) => closedWithin(c, 6000)));
    assert.equal(closed.filter((x) => x).length, 200, "every slowloris connection was closed");
  } finally {
    stop = true;
    await trickle;
    for (const c of conns) c.close();
  }
});

Deno.test("open_handshake_timeout: upgraded connections that never say HELLO, slow bodies, idle sessions", async (t) => {
  const config = withOptions({ ...SHORT, auto_ping_interval: 200 });
  // a bridge path, whose handler reads the request body
  const paths = (config.workers[0]!.transports[0] as Obj).paths as Obj;
  paths.call = { type: "caller", realm: "realm1", role: "anonymous" };
  await using r = await startRouter(config);
  await t.step("50 WebSockets that answer pings but never send HELLO are closed", async () => {
    const upgraded = await Promise.all(Array.from({ length: 50 }, () => rawUpgrade(r.port)));
    try {
      // the router pings every 200 ms: answer every ping, never send HELLO
      const ends = await Promise.all(upgraded.map(async ({ conn, reader }) => {
        const timer = setTimeout(() => conn.close(), 6000);
        try {
          for (;;) {
            if (!(await reader.need(2))) return true;
            const [b0, b1] = reader.take(2);
            const len = b1! & 0x7f;
            if (!(await reader.need(len))) return true;
            const payload = reader.take(len);
            if ((b0! & 0x0f) === 9) await conn.write(clientFrame(10, payload)).catch(() => 0);
            if ((b0! & 0x0f) === 8) return true;
          }
        } finally {
          clearTimeout(timer);
        }
      }));
      assert.ok(ends.every((x) => x));
    } finally {
      for (const { conn } of upgraded) conn.close();
    }
  });
  await t.step("a request body that trickles is cut off", async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
    await c.write(new TextEncoder().encode(
      "POST /call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    ));
    const trickling = (async () => {
      for (let i = 0; i < 30; i++) {
        if (await c.write(new Uint8Array([0x20])).then(() => false, () => true)) return;
        await sleep(200);
      }
    })();
    assert.ok(await closedWithin(c, 6000), "closed while its body was still arriving");
    await trickling;
    c.close();
  });
  await t.step("a session that said GOODBYE and stays idle is closed", async () => {
    const { conn, reader } = await rawUpgrade(r.port);
    try {
      await sendJson(conn, HELLO);
      assert.equal((await readJson(reader))?.[0], 2);
      await sendJson(conn, [6, {}, "wamp.close.normal"]);
      assert.equal((await readJson(reader))?.[0], 6);
      assert.ok(await closedWithin(conn, 6000), "closed after the idle timeout");
    } finally {
      conn.close();
    }
  });
  await t.step("a joined session is not subject to the open handshake deadline", async () => {
    await using c = (await RawClient.join(r.url, "json")).client;
    await sleep(1500);
    c.send([16, 1, { acknowledge: true }, "com.still.here", []]);
    assert.equal((await c.next())[0], 17);
  });
});

Deno.test("close_handshake_timeout: a killed session that never answers GOODBYE is dropped", async () => {
  await using r = await startRouter(withOptions(SHORT));
  const { conn, reader } = await rawUpgrade(r.port);
  try {
    await sendJson(conn, HELLO);
    const welcome = await readJson(reader);
    assert.equal(welcome?.[0], 2);
    await using admin = (await RawClient.join(r.url, "json")).client;
    admin.send([48, 1, {}, "wamp.session.kill", [welcome![1]]]);
    assert.equal((await admin.next())[0], 50);
    assert.equal((await readJson(reader))?.[0], 6, "the router's GOODBYE");
    // never answered: the connection goes after close_handshake_timeout
    assert.ok(await closedWithin(conn, 6000));
  } finally {
    conn.close();
  }
});

Deno.test("RawSocket: no handshake, or a handshake and no HELLO, is closed by open_handshake_timeout", async () => {
  const c = testConfig();
  c.workers[0]!.transports = [{
    type: "rawsocket",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
    options: SHORT,
  } as never];
  await using r = await startRouter(c);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  const shook = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  try {
    await shook.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    const [a, b] = await Promise.all([closedWithin(silent, 6000), closedWithin(shook, 6000)]);
    assert.ok(a, "no handshake: closed");
    assert.ok(b, "no HELLO: closed");
  } finally {
    silent.close();
    shook.close();
  }
});

// ---- items 10 and 11: outgoing queues ----------------------------------------------------------

/** Joins over a raw WebSocket, runs `setup` on the connection, and from then on never reads. */
async function joinThenStopReading(
  port: number,
  setup: (conn: Deno.Conn, reader: ByteReader) => Promise<void> = async () => {},
): Promise<Deno.TcpConn> {
  const { conn, reader } = await rawUpgrade(port);
  await sendJson(conn, HELLO);
  assert.equal((await readJson(reader))?.[0], 2);
  await setup(conn, reader);
  return conn;
}

const BOUND = 1024 * 1024;
const BIG = "x".repeat(256 * 1024);

Deno.test("the queue bound covers every message: a caller that never reads its RESULTs is ended", async () => {
  await using r = await startRouter(withOptions({ max_queue_bytes: BOUND }));
  await using callee = (await RawClient.join(r.url, "json")).client;
  callee.send([64, 1, {}, "com.big"]);
  assert.equal((await callee.next())[0], 65);
  const answering = (async () => {
    for (;;) {
      let m: unknown[];
      try {
        m = await callee.next(10_000);
      } catch {
        return;
      }
      if (m[0] === 68) callee.send([70, m[1], {}, [BIG]]);
    }
  })();
  const attacker = await joinThenStopReading(r.port);
  let maxQueued = 0;
  try {
    for (let i = 1; i <= 2000; i++) {
      const ok = await attacker.write(clientFrame(1, JSON.stringify([48, i, {}, "com.big"])))
        .then(() => true, () => false);
      if (!ok) break;
      if (i % 20 === 0) {
        maxQueued = Math.max(maxQueued, r.router.queuedBytes);
        await sleep(1);
      }
      if (r.router.sessionCount < 2) break; // the attacker was ended
    }
    for (let i = 0; i < 200 && r.router.sessionCount > 1; i++) await sleep(20);
    assert.equal(r.router.sessionCount, 1, "the caller that never reads was ended");
    // 2000 × 256 KB = 500 MB were asked for; the router held at most the bound plus a message
    assert.ok(maxQueued <= BOUND + 2 * BIG.length + 64 * 1024, `queued up to ${maxQueued} bytes`);
  } finally {
    attacker.close();
    callee.ws.close();
    await answering;
  }
  await bystanderWorks(r.url);
});

Deno.test("the queue bound covers INVOCATIONs: a callee that never reads is ended, its callers get errors", async () => {
  await using r = await startRouter(withOptions({ max_queue_bytes: BOUND }));
  const callee = await joinThenStopReading(r.port, async (conn, reader) => {
    await sendJson(conn, [64, 1, {}, "com.sink"]);
    assert.equal((await readJson(reader))?.[0], 65);
  });
  try {
    await using caller = (await RawClient.join(r.url, "json")).client;
    for (let i = 1; i <= 200; i++) caller.send([48, i, {}, "com.sink", [BIG]]);
    // every call ends: with an ERROR once the callee is gone (none may hang)
    const ends = new Set<number>();
    while (ends.size < 200) {
      const m = await caller.next(10_000);
      if (m[0] === 8) ends.add(m[2] as number);
    }
    assert.equal(r.router.sessionCount, 1, "the callee that never reads was ended");
  } finally {
    callee.close();
  }
});

Deno.test("stalled subscribers at their bound are closed after slow_consumer_timeout; memory is freed", async () => {
  await using r = await startRouter(withOptions({
    max_queue_bytes: 256 * 1024,
    slow_consumer_timeout: 1000,
    auto_ping_interval: 0,
  }));
  const stalled = await Promise.all(
    Array.from({ length: 20 }, () =>
      joinThenStopReading(r.port, async (conn, reader) => {
        await sendJson(conn, [32, 1, {}, "com.flood"]);
        assert.equal((await readJson(reader))?.[0], 33);
      })),
  );
  try {
    await using healthy = (await RawClient.join(r.url, "json")).client;
    healthy.send([32, 1, {}, "com.flood"]);
    assert.equal((await healthy.next())[0], 33);
    await using pub = (await RawClient.join(r.url, "json")).client;
    const payload = "y".repeat(4096);
    let received = 0;
    for (let sent = 0; sent < 3000;) {
      for (let k = 0; k < 20; k++, sent++) {
        pub.send([16, sent + 1, {}, "com.flood", [payload, sent]]);
      }
      while (received < sent) {
        const m = await healthy.next(5000);
        if (m[0] !== 36) continue;
        assert.equal((m[4] as unknown[])[1], received, "every event, in order");
        received++;
      }
    }
    assert.equal(r.router.sessionCount, 22, "the stalled ones are still joined while recent");
    for (let i = 0; i < 300 && r.router.sessionCount > 2; i++) await sleep(20);
    assert.equal(r.router.sessionCount, 2, "every stalled subscriber was closed");
    assert.ok(r.router.queuedBytes < 64 * 1024, `${r.router.queuedBytes} bytes still queued`);
  } finally {
    for (const c of stalled) c.close();
  }
});

// ---- items 14 and 15: what one message may cost ----------------------------------------------

import { createRouter } from "../mod.ts";
import type { Logger } from "../src/log.ts";

/** `depth` nested lists around a string: nested(1) = ["x"]. */
function nested(depth: number): unknown {
  let v: unknown = "x";
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

Deno.test("max_nesting: what is accepted is delivered on every serializer; deeper is refused at decode", async () => {
  await using r = await startRouter();
  const subs = await Promise.all((["json", "msgpack", "cbor"] as const).map(async (ser) => {
    const c = (await RawClient.join(r.url, ser)).client;
    c.send([32, 1, {}, "com.deep"]);
    assert.equal((await c.next())[0], 33);
    return c;
  }));
  try {
    // the PUBLISH array is level 1 and its args list level 2: 62 more reach the default of 64
    await using pub = (await RawClient.join(r.url, "msgpack")).client;
    pub.send([16, 1, { acknowledge: true }, "com.deep", [nested(62)]]);
    assert.equal((await pub.next())[0], 17);
    for (const s of subs) {
      const ev = await s.next();
      assert.equal(ev[0], 36);
      assert.deepEqual(ev[4], [nested(62)]);
    }
    for (
      const [depth, ser] of [[63, "msgpack"], [63, "cbor"], [63, "json"], [5000, "json"]] as const
    ) {
      await using deep = (await RawClient.join(r.url, ser)).client;
      deep.send([16, 2, { acknowledge: true }, "com.deep", [nested(depth)]]);
      const abort = await deep.next();
      assert.equal(abort[0], 3, `depth ${depth + 2} over ${ser} is refused`);
      assert.equal(abort[2], "wamp.error.protocol_violation");
      assert.match(String((abort[1] as Obj).message), /deeper than the limit of 64 levels/);
    }
    for (const s of subs) assert.deepEqual(await s.quiet(200), [], "nothing half-delivered");
  } finally {
    for (const s of subs) s.ws.close();
  }
});

Deno.test("an event a serializer cannot encode is found once per serializer, not once per subscriber", async () => {
  const lines: string[] = [];
  const logger: Logger = {
    error: (m) => void lines.push(m),
    warn: () => {},
    info: () => {},
    debug: () => {},
  };
  const router = createRouter(testConfig(), { logger });
  const [listener] = await router.serve();
  const url = listener!.urls[0]!;
  const subs: RawClient[] = [];
  try {
    for (let i = 0; i < 300; i++) {
      const c = (await RawClient.join(url, "msgpack")).client;
      c.send([32, 1, {}, "com.huge"]);
      assert.equal((await c.next())[0], 33);
      subs.push(c);
    }
    await using pub = (await RawClient.join(url, "json")).client;
    // 2^64 + 1 fits JSON and CBOR, but no MessagePack integer
    pub.sendRaw('[16, 1, {"acknowledge": true}, "com.huge", [18446744073709551617]]');
    assert.equal((await pub.next())[0], 17);
    await sleep(100);
    assert.equal(lines.filter((l) => l.includes("cannot encode")).length, 1);
  } finally {
    await Promise.all(subs.map((s) => s[Symbol.asyncDispose]()));
    await router.close(100);
  }
});
