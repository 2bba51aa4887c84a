/**
 * `ConnStream` (src/transport/conn_stream.ts) reads over a real TCP connection: bytes reach the
 * `data` listener in order, whether a read is emitted at once (flowing, nothing buffered, a
 * listener) or pushed (paused, or nobody listening), and nothing is lost across a pause or a
 * hand-over from one listener to the next, as from `node:http` to `ws` at an upgrade.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { ConnStream } from "../src/transport/conn_stream.ts";

/** A server-side ConnStream and the client's end of its connection. */
async function connected(): Promise<
  { stream: ConnStream; client: Deno.TcpConn; [Symbol.asyncDispose](): Promise<void> }
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  const stream = new ConnStream(server);
  return {
    stream,
    client,
    async [Symbol.asyncDispose]() {
      const closed = new Promise((resolve) => stream.once("close", resolve));
      stream.destroy();
      await closed;
      client.close();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `count` numbered 4-byte chunks, one per write, a little apart. */
async function writeNumbered(client: Deno.TcpConn, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const chunk = new Uint8Array(4);
    new DataView(chunk.buffer).setUint32(0, i);
    await client.write(chunk);
    if (i % 8 === 0) await sleep(1);
  }
}

function numbers(chunks: Buffer[]): number[] {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  const view = new DataView(all.buffer);
  return Array.from({ length: all.byteLength / 4 }, (_, i) => view.getUint32(i * 4));
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await sleep(5);
  assert(check(), what);
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

Deno.test("conn stream: flowing reads reach the data listener in order", async () => {
  await using c = await connected();
  const got: Buffer[] = [];
  c.stream.on("data", (chunk: Buffer) => got.push(chunk));
  await writeNumbered(c.client, 0, 200);
  await until(() => numbers(got).length === 200, "all 200 arrived");
  assert.deepEqual(numbers(got), range(0, 200));
});

Deno.test("conn stream: reads while paused wait, in order, and follow on resume", async () => {
  await using c = await connected();
  const got: Buffer[] = [];
  c.stream.on("data", (chunk: Buffer) => got.push(chunk));
  await writeNumbered(c.client, 0, 10);
  await until(() => numbers(got).length === 10, "the first 10 arrived");
  c.stream.pause();
  await writeNumbered(c.client, 10, 50);
  await sleep(50);
  assert.equal(numbers(got).length, 10, "nothing emitted while paused");
  c.stream.resume();
  await writeNumbered(c.client, 60, 20);
  await until(() => numbers(got).length === 80, "all 80 arrived");
  assert.deepEqual(numbers(got), range(0, 80));
});

Deno.test("conn stream: handed over as at an upgrade, reads are kept for the next listener", async () => {
  await using c = await connected();
  const first: Buffer[] = [];
  const onFirst = (chunk: Buffer) => first.push(chunk);
  c.stream.on("data", onFirst);
  await writeNumbered(c.client, 0, 5);
  await until(() => numbers(first).length === 5, "the first 5 arrived");
  // as node:http does at an upgrade: its listener goes, the stream is neither flowing nor paused
  c.stream.removeListener("data", onFirst);
  (c.stream as { readableFlowing: boolean | null }).readableFlowing = null; // (typed read-only)
  await writeNumbered(c.client, 5, 30);
  await sleep(50);
  const second: Buffer[] = [];
  c.stream.on("data", (chunk: Buffer) => second.push(chunk)); // as ws does: it flows again
  await writeNumbered(c.client, 35, 5);
  await until(() => numbers(second).length === 35, "the other 35 arrived");
  assert.deepEqual(numbers(first), range(0, 5));
  assert.deepEqual(numbers(second), range(5, 35));
});

Deno.test("conn stream: with setEncoding, flowing reads arrive as text", async () => {
  await using c = await connected();
  c.stream.setEncoding("utf8");
  const got: unknown[] = [];
  c.stream.on("data", (chunk: unknown) => got.push(chunk));
  await c.client.write(new TextEncoder().encode("grüße"));
  await until(() => got.join("") === "grüße", "the text arrived");
  assert.ok(got.every((chunk) => typeof chunk === "string"), "every chunk is a string");
});
