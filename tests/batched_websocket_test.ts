/**
 * Batched WebSocket subprotocols (`wamp.2.json.batched`, `wamp.2.msgpack.batched`,
 * `wamp.2.cbor.batched`): the framing functions, negotiation, several messages per frame in
 * both directions over raw frames, the hostile side (malformed batches, limits per message and
 * per frame: each closes that connection with a protocol error, others keep working), and
 * Autobahn|Python, which offers the batched variants first.
 */

import assert from "node:assert/strict";
import { BATCH_MAX_MESSAGES } from "../src/transport/outgoing_batch.ts";
import { BatchError, joinByteBatch, joinTextBatch, splitBatch } from "../src/serializer/batched.ts";
import {
  BATCHED_SERIALIZERS,
  negotiateSubprotocol,
  SERIALIZERS,
} from "../src/serializer/registry.ts";
import type { Serializer } from "../src/serializer/serializer.ts";
import { routerInternals } from "../src/router/router.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";
import { Rng } from "./fuzz/rng.ts";
import { type ByteReader, clientFrame, rawUpgrade, readMessage } from "./_ws_frames.ts";

type Name = "json" | "msgpack" | "cbor";
const NAMES: Name[] = ["json", "msgpack", "cbor"];
const HELLO = [1, "realm1", { roles: { subscriber: {}, publisher: {}, caller: {}, callee: {} } }];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function codec(name: Name): Serializer {
  return SERIALIZERS.find((s) => s.name === name)!;
}

/** A batch written by hand, as the spec frames it (not with the router's own join). */
function batch(name: Name, messages: unknown[][]): Uint8Array {
  const s = codec(name);
  const chunks: number[] = [];
  for (const m of messages) {
    const p = s.encode(m);
    const bytes = typeof p === "string" ? encoder.encode(p) : p;
    if (name === "json") chunks.push(...bytes, 0x1e);
    else {
      const n = bytes.byteLength;
      chunks.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...bytes);
    }
  }
  return new Uint8Array(chunks);
}

/** A client frame carrying `payload` on `name`'s frame type. */
function frameFor(name: Name, payload: Uint8Array): Uint8Array {
  return clientFrame(name === "json" ? 1 : 2, payload);
}

/** Splits one frame from the router by hand and decodes its messages. */
function unbatch(name: Name, payload: Uint8Array): unknown[][] {
  const s = codec(name);
  const out: unknown[][] = [];
  if (name === "json") {
    const text = decoder.decode(payload);
    assert.ok(text.endsWith("\x1e"), "every JSON message ends with 0x1e");
    for (const part of text.slice(0, -1).split("\x1e")) out.push(s.decode(part) as unknown[]);
    return out;
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let at = 0;
  while (at < payload.byteLength) {
    const n = view.getUint32(at);
    out.push(s.decode(payload.subarray(at + 4, at + 4 + n)) as unknown[]);
    at += 4 + n;
  }
  assert.equal(at, payload.byteLength, "the length prefixes cover the frame exactly");
  return out;
}

async function nextBatch(name: Name, reader: ByteReader): Promise<unknown[][]> {
  const m = await readMessage(reader);
  assert.ok(m, "a frame from the router");
  return unbatch(name, m);
}

async function joinBatched(port: number, name: Name) {
  const { conn, reader, head } = await rawUpgrade(port, "ws", `wamp.2.${name}.batched`);
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, new RegExp(`sec-websocket-protocol: wamp\\.2\\.${name}\\.batched\\r\\n`, "i"));
  await conn.write(frameFor(name, batch(name, [HELLO])));
  const [welcome] = await nextBatch(name, reader);
  assert.equal(welcome?.[0], 2, "WELCOME");
  return { conn, reader };
}

async function bystanderWorks(url: string): Promise<void> {
  await using c = (await RawClient.join(url, "json")).client;
  c.send([16, 77, { acknowledge: true }, "com.bystander", ["alive"]]);
  assert.equal((await c.next(5000))[0], 17);
}

// ---- framing -----------------------------------------------------------------------------

Deno.test("batch framing: split and join, JSON and binary", () => {
  const json = codec("json");
  assert.deepEqual(splitBatch(json, '[1]\x1e[2,"x"]\x1e', 100), ["[1]", '[2,"x"]']);
  assert.equal(joinTextBatch(["[1]", "[2]"]), "[1]\x1e[2]\x1e");
  assert.deepEqual(
    [...joinByteBatch([encoder.encode("[1]")], false)],
    [...encoder.encode("[1]\x1e")],
  );
  const bin = codec("msgpack");
  const joined = joinByteBatch([new Uint8Array([1, 2, 3]), new Uint8Array([9])], true);
  assert.deepEqual([...joined], [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 1, 9]);
  assert.deepEqual(splitBatch(bin, joined, 100).map((p) => [...(p as Uint8Array)]), [[1, 2, 3], [
    9,
  ]]);
  const bad: [Serializer, string | Uint8Array, RegExp][] = [
    [json, "", /empty batch/],
    [json, "[1]", /lacks its record separator/],
    [json, "[1]\x1e\x1e", /empty message at position 2/],
    [json, "\x1e", /empty message at position 1/],
    [
      json,
      `[${"1,".repeat(60)}1]\x1e`,
      /message 1 of the batch has 123 bytes, over the limit of 100/,
    ],
    [bin, new Uint8Array(0), /empty batch/],
    [bin, new Uint8Array([0, 0, 1]), /3 bytes left where a 4-byte length prefix/],
    [bin, new Uint8Array([0, 0, 0, 5, 1, 2]), /message 1 announces 5 bytes, 2 follow/],
    [bin, new Uint8Array([0, 0, 0, 0]), /empty message at position 1/],
    [bin, new Uint8Array([0, 0, 0, 1, 7, 0, 0, 0]), /3 bytes left/],
    [bin, new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]), /4294967295 bytes, over the limit/],
  ];
  for (const [s, payload, reason] of bad) {
    assert.throws(() => splitBatch(s, payload, 100), (e: unknown) => {
      assert.ok(e instanceof BatchError);
      assert.match(e.message, reason);
      return true;
    });
  }
});

Deno.test("negotiation: the batched variants, allowed with their serializer", () => {
  const all = ["json", "msgpack", "cbor"] as const;
  for (const [i, b] of BATCHED_SERIALIZERS.entries()) {
    assert.equal(b.subprotocol, `${SERIALIZERS[i]!.subprotocol}.batched`);
    assert.equal(b.index, SERIALIZERS[i]!.index, "same codec, same encode-cache slot");
    assert.equal(b.batched, true);
    assert.equal(negotiateSubprotocol([b.subprotocol], all), b);
  }
  assert.equal(negotiateSubprotocol(["wamp.2.cbor.batched"], ["json"]), null);
  assert.equal(
    negotiateSubprotocol(["wamp.2.cbor.batched", "wamp.2.json.batched"], ["json"])?.subprotocol,
    "wamp.2.json.batched",
  );
  assert.equal(negotiateSubprotocol(["wamp.2.ubjson.batched"], all), null);
});

// ---- both directions over raw frames ----------------------------------------------------------

for (const name of NAMES) {
  Deno.test(`${name}.batched: several messages per frame, both directions`, async () => {
    await using r = await startRouter();
    const sub = await joinBatched(r.port, name);
    const pub = await joinBatched(r.port, name);
    try {
      // three requests in one frame, three answers
      await sub.conn.write(frameFor(
        name,
        batch(name, [
          [32, 1, {}, "com.b.topic"],
          [64, 2, {}, "com.b.echo"],
          [16, 3, { acknowledge: true }, "com.b.other"],
        ]),
      ));
      const answers: unknown[][] = [];
      while (answers.length < 3) answers.push(...await nextBatch(name, sub.reader));
      assert.deepEqual(answers.map((m) => [m[0], m[1]]), [[33, 1], [65, 2], [17, 3]]);
      const registration = answers[1]![2];

      // 20 acknowledged publications in one frame: the subscriber gets the 20 EVENTs in one
      // frame (they are sent in one task), the publisher its 20 PUBLISHED in one frame
      const pubs = Array.from(
        { length: 20 },
        (_, i) => [16, 100 + i, { acknowledge: true }, "com.b.topic", [i]],
      );
      await pub.conn.write(frameFor(name, batch(name, pubs)));
      const events = await nextBatch(name, sub.reader);
      assert.equal(events.length, 20, "one frame holds the 20 EVENTs");
      assert.deepEqual(
        events.map((e) => [e[0], (e[4] as number[])[0]]),
        pubs.map((_, i) => [36, i]),
      );
      const acks = await nextBatch(name, pub.reader);
      assert.deepEqual(acks.map((m) => [m[0], m[1]]), pubs.map((p) => [17, p[1]]));

      // a CALL and its RESULT, across the batched sessions
      await pub.conn.write(frameFor(name, batch(name, [[48, 7, {}, "com.b.echo", ["x"]]])));
      const [inv] = await nextBatch(name, sub.reader);
      assert.deepEqual([inv?.[0], inv?.[2]], [68, registration]);
      await sub.conn.write(frameFor(name, batch(name, [[70, inv![1], {}, ["y"]]])));
      const [result] = await nextBatch(name, pub.reader);
      assert.deepEqual(result, [50, 7, {}, ["y"]]);

      // GOODBYE and its reply arrive before the close
      await pub.conn.write(frameFor(name, batch(name, [[6, {}, "wamp.close.normal"]])));
      const [bye] = await nextBatch(name, pub.reader);
      assert.deepEqual(bye, [6, {}, "wamp.close.goodbye_and_out"]);
    } finally {
      sub.conn.close();
      pub.conn.close();
    }
    await bystanderWorks(r.url);
  });
}

for (const name of ["json", "cbor"] as const) {
  Deno.test(`${name}.batched: subscribers of the same events share one batch; different ones get theirs`, async () => {
    await using r = await startRouter();
    const a = await joinBatched(r.port, name);
    const b = await joinBatched(r.port, name);
    const c = await joinBatched(r.port, name);
    const pub = await joinBatched(r.port, name);
    try {
      for (
        const [s, topics] of [[a, ["com.s.1"]], [b, ["com.s.1"]], [c, [
          "com.s.1",
          "com.s.2",
        ]]] as const
      ) {
        await s.conn.write(frameFor(name, batch(name, topics.map((t, i) => [32, i + 1, {}, t]))));
        let got = 0;
        while (got < topics.length) got += (await nextBatch(name, s.reader)).length;
      }
      await pub.conn.write(frameFor(
        name,
        batch(name, [
          [16, 1, {}, "com.s.1", ["x"]],
          [16, 2, {}, "com.s.2", ["y"]],
          [16, 3, {}, "com.s.1", ["z"]],
        ]),
      ));
      const frameA = await readMessage(a.reader);
      const frameB = await readMessage(b.reader);
      assert.deepEqual(frameA, frameB, "a and b get the same batch, byte for byte");
      assert.deepEqual(unbatch(name, frameA!).map((e) => e[4]), [["x"], ["z"]]);
      const fromC = await nextBatch(name, c.reader);
      assert.deepEqual(fromC.map((e) => e[4]), [["x"], ["y"], ["z"]], "c's batch holds all three");
    } finally {
      for (const s of [a, b, c, pub]) s.conn.close();
    }
  });
}

Deno.test("json.batched: an outgoing burst is split at the batch bound", async () => {
  await using r = await startRouter();
  const sub = await joinBatched(r.port, "json");
  const pub = await joinBatched(r.port, "json");
  try {
    await sub.conn.write(frameFor("json", batch("json", [[32, 1, {}, "com.b.t"]])));
    assert.equal((await nextBatch("json", sub.reader))[0]?.[0], 33);
    const n = BATCH_MAX_MESSAGES + 10;
    const pubs = Array.from({ length: n }, (_, i) => [16, i + 1, {}, "com.b.t", [i]]);
    await pub.conn.write(frameFor("json", batch("json", pubs)));
    const first = await nextBatch("json", sub.reader);
    assert.equal(first.length, BATCH_MAX_MESSAGES, "a full batch leaves at once");
    const rest = await nextBatch("json", sub.reader);
    assert.equal(rest.length, 10);
    assert.deepEqual([...first, ...rest].map((e) => (e[4] as number[])[0]), pubs.map((_, i) => i));
  } finally {
    sub.conn.close();
    pub.conn.close();
  }
});

Deno.test("json.batched: a client separating with 0x18 (Autobahn|Python's b'\\30') gets 0x18 back", async () => {
  await using r = await startRouter();
  const { conn, reader, head } = await rawUpgrade(r.port, "ws", "wamp.2.json.batched");
  try {
    assert.match(head, /^HTTP\/1\.1 101 /);
    await conn.write(clientFrame(1, JSON.stringify(HELLO) + "\x18"));
    const welcome = decoder.decode((await readMessage(reader))!);
    assert.ok(welcome.endsWith("\x18") && !welcome.includes("\x1e"), JSON.stringify(welcome));
    assert.equal(JSON.parse(welcome.slice(0, -1))[0], 2);
    await conn.write(
      clientFrame(1, '[32,1,{},"com.t"]\x18[16,2,{"acknowledge":true},"com.t"]\x18'),
    );
    const answers = decoder.decode((await readMessage(reader))!).split("\x18");
    assert.equal(answers.pop(), "", "each message ends with 0x18");
    assert.deepEqual(answers.map((a) => JSON.parse(a)[0]), [33, 17], "SUBSCRIBED, PUBLISHED");
    // the separator is the connection's: a batch with the other one is malformed
    await conn.write(clientFrame(1, '[16,3,{},"com.t"]\x1e'));
    let abort: unknown[] | null = null;
    while (abort === null) {
      const m = decoder.decode((await readMessage(reader))!);
      for (const part of m.split("\x18").slice(0, -1)) {
        const msg = JSON.parse(part) as unknown[];
        if (msg[0] === 3) abort = msg;
      }
    }
    assert.equal(abort[2], "wamp.error.protocol_violation");
    assert.match(
      String((abort[1] as { message: string }).message),
      /lacks its record separator \(0x18\)/,
    );
  } finally {
    conn.close();
  }
});

Deno.test("batched through Router.handler() (Deno's own WebSocket): both directions", async () => {
  const { createRouter } = await import("../mod.ts");
  const router = createRouter(testConfig());
  await router.ready;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, router.handler());
  try {
    for (const name of NAMES) {
      const { conn, reader } = await joinBatched(server.addr.port, name);
      try {
        await conn.write(frameFor(
          name,
          batch(name, [
            [32, 1, {}, "com.h"],
            [16, 2, { acknowledge: true, exclude_me: false }, "com.h", [name]],
          ]),
        ));
        const got: unknown[][] = [];
        while (got.length < 3) got.push(...await nextBatch(name, reader));
        assert.deepEqual(got.map((m) => m[0]).sort(), [17, 33, 36]);
      } finally {
        conn.close();
      }
    }
  } finally {
    await router.close(100);
    await server.shutdown();
  }
});

for (const name of ["json", "msgpack"] as const) {
  Deno.test(`${name}.batched: traffic is counted as Crossbar counts it (statistics, /metrics)`, async () => {
    await using r = await startRouter();
    const metric = async (key: string) => {
      const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(key + " "));
      return Number(line?.slice(key.length + 1) ?? 0);
    };
    const IN = `switchboard_bytes_total{direction="in",serializer="${name}"}`;
    const OUT = `switchboard_bytes_total{direction="out",serializer="${name}"}`;
    const PUBLISHES =
      `switchboard_messages_total{direction="in",type="PUBLISH",serializer="${name}"}`;
    const { conn, reader } = await joinBatched(r.port, name);
    try {
      const session = [...routerInternals(r.router).realm("realm1")!.sessions.values()].find((x) =>
        !x.internal
      )!;
      assert.equal(session.serializerName, `${name}.batched`);
      assert.equal(session.details().serializer, `${name}.batched`);
      const meter = session.meter!;
      assert.equal(meter.serializer, `${name}.batched`);
      const [m0, b0, r0, in0, out0] = [
        meter.messages,
        meter.bytes,
        meter.ratedMessages,
        await metric(IN),
        await metric(OUT),
      ];
      // incoming: the whole payload (framing included), its messages, rated once per payload
      const pubs = [
        [16, 1, {}, "com.m", ["é".repeat(300)]],
        [16, 2, {}, "com.m", ["x".repeat(300)]],
        [16, 3, { acknowledge: true }, "com.m"],
      ];
      const payload = batch(name, pubs);
      await conn.write(frameFor(name, payload));
      const [ack] = await nextBatch(name, reader);
      assert.equal(ack?.[0], 17);
      assert.equal(await metric(PUBLISHES), 3);
      assert.equal(await metric(IN) - in0, payload.byteLength);
      // outgoing: each message with its framing (the PUBLISHED: 1 separator or 4 length bytes)
      const ackBytes = batch(name, [ack!]).byteLength;
      assert.equal(await metric(OUT) - out0, ackBytes);
      assert.equal(meter.messages - m0, 4);
      assert.equal(meter.bytes - b0, payload.byteLength + ackBytes);
      assert.equal(
        meter.ratedMessages - r0,
        Math.ceil(payload.byteLength / 512) + 1,
        "the payload rated once, the PUBLISHED once",
      );
    } finally {
      conn.close();
    }
  });
}

// ---- hostile batches ---------------------------------------------------------------------

/** Sends `payload` after joining on `name`.batched; returns the ABORT the router answers. */
async function abortFor(port: number, name: Name, payload: Uint8Array): Promise<unknown[]> {
  const { conn, reader } = await joinBatched(port, name);
  try {
    await conn.write(frameFor(name, payload));
    const [abort] = await nextBatch(name, reader);
    return abort!;
  } finally {
    conn.close();
  }
}

Deno.test("hostile batches: malformed framing and limits end the session with a protocol violation", async (t) => {
  const config = testConfig();
  const ws = (config.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>)
    .ws!;
  ws.options = { max_message_size: 1024 };
  await using r = await startRouter(config);
  const big = [16, 1, {}, "com.x", ["a".repeat(2000)]];
  const small = [16, 1, {}, "com.x", []];
  const cases: [string, Name, Uint8Array, RegExp][] = [
    ["an empty JSON batch", "json", new Uint8Array(0), /empty batch/],
    [
      "a JSON batch without its last separator",
      "json",
      encoder.encode('[16,1,{},"a"]'),
      /lacks its record separator/,
    ],
    ["an empty JSON message", "json", encoder.encode("\x1e"), /empty message/],
    ["an empty binary batch", "msgpack", new Uint8Array(0), /empty batch/],
    ["a truncated length prefix", "msgpack", new Uint8Array([0, 0]), /2 bytes left/],
    [
      "a length past the end",
      "cbor",
      new Uint8Array([0, 0, 0, 9, 0x80]),
      /announces 9 bytes, 1 follow/,
    ],
    ["a zero length", "cbor", new Uint8Array([0, 0, 0, 0]), /empty message/],
    [
      "a huge length",
      "msgpack",
      new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0]),
      /over the limit of 1024/,
    ],
    [
      "a frame over max_message_size",
      "json",
      batch("json", Array(60).fill(small)),
      /batch of \d+ bytes exceeds the limit of 1024/,
    ],
    [
      "a message over max_message_size",
      "msgpack",
      batch("msgpack", [big]),
      /exceeds the limit of 1024|over the limit of 1024/,
    ],
    [
      "a bad message after a good one",
      "json",
      encoder.encode('[16,1,{},"com.ok"]\x1e[16,2,{\x1e'),
      /malformed json message/,
    ],
    ["a batch carrying a second HELLO", "cbor", batch("cbor", [small, HELLO]), /HELLO/],
  ];
  for (const [what, name, payload, reason] of cases) {
    await t.step(`${name}: ${what}`, async () => {
      const abort = await abortFor(r.port, name, payload);
      assert.equal(abort[0], 3, `ABORT, got ${JSON.stringify(abort)}`);
      assert.equal(abort[2], "wamp.error.protocol_violation");
      assert.match(String((abort[1] as { message?: string }).message), reason);
    });
  }
  await t.step("text frames on a binary batched protocol, binary on JSON", async () => {
    const a = await joinBatched(r.port, "msgpack");
    try {
      await a.conn.write(clientFrame(1, "[1]\x1e"));
      const [abort] = await nextBatch("msgpack", a.reader);
      assert.equal(abort?.[2], "wamp.error.protocol_violation");
    } finally {
      a.conn.close();
    }
  });
  await bystanderWorks(r.url);
});

// ---- randomized framing -------------------------------------------------------------------

/** Splits a frame from the router, or says why it is not a well-formed batch. */
function splitOrWhy(name: Name, payload: Uint8Array): unknown[][] | string {
  try {
    return unbatch(name, payload);
  } catch (e) {
    return `not a well-formed batch: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** One mutation of a valid batch, drawn from `rng`. */
function mutate(rng: Rng, name: Name, valid: Uint8Array): { what: string; bytes: Uint8Array } {
  const b = valid.slice();
  const at = () => rng.int(Math.max(1, b.length));
  // JSON mutations stay in ASCII, so the frame stays valid UTF-8 (else close 1007, tested elsewhere)
  const byte = () =>
    name === "json"
      ? rng.pick([0x1e, 0x18, 0x5b, 0x5d, 0x2c, 0x22, 0x30 + rng.int(10)])
      : rng.int(256);
  switch (rng.int(8)) {
    case 0:
      return { what: "unchanged", bytes: b };
    case 1: {
      const n = at();
      return { what: `truncated to ${n}`, bytes: b.subarray(0, n) };
    }
    case 2: {
      const i = at();
      b[i] = byte();
      return { what: `byte ${i} replaced`, bytes: b };
    }
    case 3: {
      const i = rng.int(Math.min(4, b.length));
      b[i] = rng.int(256);
      return {
        what: name === "json" ? "unchanged" : `length prefix byte ${i} replaced`,
        bytes: name === "json" ? valid : b,
      };
    }
    case 4: {
      const extra = name === "json" ? new Uint8Array([0x1e]) : new Uint8Array([0, 0, 0, 0]);
      const i = at();
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, i));
      out.set(extra, i);
      out.set(b.subarray(i), i + extra.length);
      return { what: `empty message inserted at ${i}`, bytes: out };
    }
    case 5: {
      const tail = Uint8Array.from({ length: 1 + rng.int(8) }, byte);
      const out = new Uint8Array(b.length + tail.length);
      out.set(b);
      out.set(tail, b.length);
      return { what: `${tail.length} bytes appended`, bytes: out };
    }
    case 6:
      return { what: "empty", bytes: new Uint8Array(0) };
    default: {
      const view = new DataView(b.buffer);
      if (name !== "json" && b.length >= 4) view.setUint32(0, rng.int(2 ** 32));
      return { what: "first length replaced", bytes: b };
    }
  }
}

Deno.test("randomized batch framing: every frame is answered or refused with a protocol violation; nothing breaks", async () => {
  const errors: string[] = [];
  const logger = {
    error: (m: string, f?: Record<string, unknown>) => errors.push(`${m} ${JSON.stringify(f)}`),
    warn: () => {},
    info: () => {},
    debug: () => {},
  };
  await using r = await startRouter(testConfig(), { logger });
  const rng = new Rng(0x5eed_ba7c);
  const outcomes = new Map<string, number>();
  const CASES = 150;
  for (let k = 0; k < CASES; k++) {
    const name = rng.pick(NAMES);
    const messages = Array.from({ length: 1 + rng.int(4) }, (_, i) =>
      rng.pick([
        [16, 100 + i, { acknowledge: true }, "com.fz", [i, "é"]],
        [32, 100 + i, {}, "com.fz"],
        [48, 100 + i, {}, "com.fz.nobody", [i]],
      ]));
    const { what, bytes } = mutate(rng, name, batch(name, messages));
    const where = `case ${k} (${name}, ${what})`;
    const { conn, reader } = await joinBatched(r.port, name);
    try {
      await conn.write(frameFor(name, bytes));
      await conn.write(
        frameFor(name, batch(name, [[16, 999999, { acknowledge: true }, "com.fz.probe"]])),
      );
      let outcome: string | null = null;
      while (outcome === null) {
        const frame = await readMessage(reader);
        if (frame === null) {
          outcome = "closed";
          break;
        }
        const got = splitOrWhy(name, frame);
        assert.ok(typeof got !== "string", `${where}: ${got}`);
        for (const m of got) {
          if (m[0] === 3) {
            assert.equal(m[2], "wamp.error.protocol_violation", `${where}: ${JSON.stringify(m)}`);
            assert.equal(typeof (m[1] as { message?: unknown }).message, "string", where);
            outcome = "abort";
          } else if (m[0] === 17 && m[1] === 999999) {
            outcome = "alive";
          } else {
            assert.ok(
              [17, 33, 8, 36].includes(m[0] as number),
              `${where}: unexpected ${JSON.stringify(m)}`,
            );
          }
        }
      }
      assert.notEqual(outcome, "closed", `${where}: closed without ABORT`);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    } finally {
      conn.close();
    }
  }
  if (Deno.env.get("FUZZ_VERBOSE")) console.log([...outcomes]);
  assert.deepEqual(errors, [], "no internal errors logged");
  assert.ok(
    (outcomes.get("alive") ?? 0) > 10 && (outcomes.get("abort") ?? 0) > 10,
    JSON.stringify([...outcomes]),
  );
  await bystanderWorks(r.url);
});

// ---- Autobahn|Python ---------------------------------------------------------------------

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./interop/batched_client.py", import.meta.url).pathname;

async function python(url: string, serializers?: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, "--url", url, ...(serializers ? ["--serializers", serializers] : [])],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = decoder.decode(out.stderr);
  assert.equal(out.code, 0, `batched_client.py failed:\n${stderr}`);
  return JSON.parse(decoder.decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test("Autobahn|Python: its default offer negotiates wamp.2.cbor.batched; every batched variant works", async (t) => {
  await using r = await startRouter();
  const cases: [string, string | undefined, string][] = [
    ["the default offer", undefined, "cbor.batched"],
    ["json.batched", "json.batched,json", "json.batched"],
    ["msgpack.batched", "msgpack.batched", "msgpack.batched"],
    ["cbor.batched", "cbor.batched", "cbor.batched"],
  ];
  for (const [what, offer, serializer] of cases) {
    await t.step(what, async () => {
      const res = await python(r.url, offer);
      assert.equal(res.joined, true, JSON.stringify(res));
      assert.equal(res.serializer, serializer);
      assert.deepEqual(res.events, Array.from({ length: 200 }, (_, i) => i));
      assert.equal(res.acks, 200);
      assert.deepEqual(res.echo, ["héllo ✓", 2 ** 53, 1.5]);
      assert.equal(res.binary_ok, true);
      // 404 WAMP messages came (WELCOME, REGISTERED, SUBSCRIBED, 200 EVENTs, 200 PUBLISHED,
      // RESULT); each publication's EVENT and PUBLISHED leave in the same task, so together
      if (serializer.endsWith(".batched")) {
        assert.ok((res.frames as number) <= 204, `${res.frames} frames for 404 messages`);
      }
    });
  }
});
