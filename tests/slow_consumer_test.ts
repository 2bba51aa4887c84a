/**
 * Slow consumers: a subscriber that stops reading never slows delivery to the others, and the
 * router's buffer for it stays bounded (its EVENTs are dropped and counted, or it is
 * disconnected, per the endpoint's policy).
 */

import assert from "node:assert/strict";
import type { Router } from "../mod.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

const encoder = new TextEncoder();

/** A masked client text frame (RFC 6455) for a short payload. */
function textFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  assert.ok(payload.length < 126);
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(2 + 4 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(mask, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

/** Joins and subscribes over a raw TCP WebSocket, then never reads again. */
async function stalledSubscriber(port: number, topic: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n",
  ));
  await conn.write(textFrame(JSON.stringify([1, "realm1", { roles: { subscriber: {} } }])));
  await conn.write(textFrame(JSON.stringify([32, 1, {}, topic])));
  // read the handshake, WELCOME and SUBSCRIBED, then stop reading for good
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  while (!text.includes("[33,")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed during setup");
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return conn;
}

function config(
  policy: "drop" | "disconnect",
  options: Record<string, unknown> = { max_queue_bytes: 256 * 1024 },
) {
  const c = testConfig();
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>).ws!;
  ws.options = { ...options, slow_consumer: policy };
  return c;
}

const EVENTS = 3000;
const PAYLOAD = "x".repeat(4096);

const WINDOW = 20;

/**
 * Publishes EVENTS events in windows of WINDOW, each window waiting until the healthy
 * subscriber has them all (so only the stalled subscriber falls behind). Returns how many the
 * healthy subscriber got, in order, and the most the router held queued for all sessions
 * together, sampled after each window.
 */
async function flood(
  router: Router,
  pub: RawClient,
  healthy: RawClient,
  topic: string,
): Promise<{ received: number; maxQueued: number }> {
  let received = 0;
  let maxQueued = 0;
  for (let sent = 0; sent < EVENTS;) {
    for (let k = 0; k < WINDOW; k++, sent++) {
      pub.send([16, sent + 1, {}, topic, [PAYLOAD, sent]]);
    }
    maxQueued = Math.max(maxQueued, router.queuedBytes);
    while (received < sent) {
      const m = await healthy.next(5000);
      if (m[0] !== 36) continue;
      assert.equal((m[4] as unknown[])[1], received, "every event, in order");
      received++;
    }
  }
  return { received, maxQueued };
}

/** The router's queue bound plus what may legitimately be in flight besides the stalled one. */
const QUEUE_BOUND = 256 * 1024;
const SLACK = (WINDOW + 1) * (PAYLOAD.length + 64);

Deno.test("slow consumer (drop): the others get every event, the stalled one's events are dropped", async () => {
  await using r = await startRouter(config("drop"));
  const stalled = await stalledSubscriber(r.port, "com.flood");
  try {
    await using healthy = (await RawClient.join(r.url, "json")).client;
    healthy.send([32, 1, {}, "com.flood"]);
    assert.equal((await healthy.next())[0], 33);
    await using pub = (await RawClient.join(r.url, "json")).client;
    const { received, maxQueued } = await flood(r.router, pub, healthy, "com.flood");
    assert.equal(received, EVENTS);
    // ~12 MB were published to the stalled subscriber; the router never held more than its
    // bound for it (the kernel's socket buffer took a little more) and dropped the rest
    assert.ok(maxQueued <= QUEUE_BOUND + SLACK, `queued up to ${maxQueued} bytes`);
    assert.ok(r.router.droppedEvents > EVENTS / 2, `dropped ${r.router.droppedEvents}`);
    assert.equal(r.router.sessionCount, 3, "the stalled session is still there");
  } finally {
    stalled.close();
  }
});

Deno.test("slow consumer bound in messages: events beyond max_queue_messages are dropped", async () => {
  await using r = await startRouter(
    config("drop", { max_queue_bytes: 1 << 30, max_queue_messages: 200 }),
  );
  const stalled = await stalledSubscriber(r.port, "com.flood");
  try {
    await using healthy = (await RawClient.join(r.url, "json")).client;
    healthy.send([32, 1, {}, "com.flood"]);
    assert.equal((await healthy.next())[0], 33);
    await using pub = (await RawClient.join(r.url, "json")).client;
    const { received, maxQueued } = await flood(r.router, pub, healthy, "com.flood");
    assert.equal(received, EVENTS);
    // 200 messages of ~4 KiB: the message bound holds the stalled queue under ~1 MiB
    assert.ok(maxQueued <= 200 * (PAYLOAD.length + 64) + SLACK, `queued up to ${maxQueued} bytes`);
    assert.ok(r.router.droppedEvents > EVENTS / 2, `dropped ${r.router.droppedEvents}`);
  } finally {
    stalled.close();
  }
});

Deno.test("slow consumer (disconnect): the stalled session is ended, the others are unaffected", async () => {
  await using r = await startRouter(config("disconnect"));
  const stalled = await stalledSubscriber(r.port, "com.flood");
  try {
    await using healthy = (await RawClient.join(r.url, "json")).client;
    healthy.send([32, 1, {}, "com.flood"]);
    assert.equal((await healthy.next())[0], 33);
    await using pub = (await RawClient.join(r.url, "json")).client;
    const { received, maxQueued } = await flood(r.router, pub, healthy, "com.flood");
    assert.equal(received, EVENTS);
    assert.ok(maxQueued <= QUEUE_BOUND + SLACK, `queued up to ${maxQueued} bytes`);
    assert.equal(r.router.droppedEvents, 0);
    assert.equal(r.router.sessionCount, 2, "the stalled session was ended");
  } finally {
    stalled.close();
  }
});

Deno.test("WebSocket pings close a connection that does not answer them", async () => {
  const c = testConfig();
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>).ws!;
  ws.options = { auto_ping_interval: 1000 };
  await using r = await startRouter(c);
  const dead = await stalledSubscriber(r.port, "com.any"); // never reads, so never answers a ping
  try {
    await using alive = (await RawClient.join(r.url, "json")).client; // the built-in client answers pings
    assert.equal(r.router.sessionCount, 2);
    for (let i = 0; i < 100 && r.router.sessionCount > 1; i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(r.router.sessionCount, 1, "the dead connection was closed");
    alive.send([16, 1, { acknowledge: true }, "com.any", []]);
    assert.equal((await alive.next())[0], 17);
  } finally {
    dead.close();
  }
});

Deno.test("with pings off (auto_ping_interval 0) a silent connection stays open", async () => {
  const c = testConfig();
  const ws = (c.workers[0]!.transports[0]!.paths as Record<string, Record<string, unknown>>).ws!;
  ws.options = { auto_ping_interval: 0 };
  await using r = await startRouter(c);
  const quiet = await stalledSubscriber(r.port, "com.any");
  try {
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(r.router.sessionCount, 1);
  } finally {
    quiet.close();
  }
});
