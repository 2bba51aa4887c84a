/**
 * What one message costs everyone else (issue 9, item 15): the router decodes, routes and
 * encodes a message on its event loop in one go, so the largest message it accepts bounds how
 * long one client can stall every other session.
 *
 * For each size, a router child (`targets.ts`) with `max_message_size` set to that size gets one
 * pathological PUBLISH of about that size — a dictionary of many small keys, the costliest
 * shape per byte to decode and encode — fanned out to one subscriber per serializer, while a
 * bystander makes back-to-back RPC calls to its own callee. Reported: the bystander's slowest
 * call during the publication (the stall) and its median call beforehand, medians of
 * `--rounds` rounds.
 *
 * `--shape binary` sends one byte string of that size instead (the cheapest shape per byte).
 *
 * ```
 * deno run --allow-net=127.0.0.1 --allow-read --allow-run --allow-env bench/stall.ts
 * deno run ... bench/stall.ts --sizes 262144,1048576 --rounds 5 --shape binary
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { benchNodeConfig, type JsonObject } from "./config.ts";
import { BENCH_SERIALIZERS } from "./serializers.ts";
import { startRouter } from "./targets.ts";
import { WampClient } from "./wamp_client.ts";
import { cborSerializer } from "../src/serializer/cbor.ts";
import type { Serializer } from "../src/serializer/serializer.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "65536,262144,1048576,4194304" },
    rounds: { type: "string", default: "3" },
    shape: { type: "string", default: "keys" },
  },
});
const sizes = values.sizes!.split(",").map(Number);
const rounds = Number(values.rounds);

/** A kwargs dictionary of about `bytes` bytes of JSON: many keys with tiny values. */
function manyKeys(bytes: number): Record<string, number> {
  const out: Record<string, number> = {};
  // `"k123456":1,` is about 12 bytes per key
  const n = Math.floor(bytes / 12);
  for (let i = 0; i < n; i++) out[`k${i}`] = 1;
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const json = BENCH_SERIALIZERS.get("json")!;
const subscribers: Serializer[] = [json, BENCH_SERIALIZERS.get("msgpack")!, cborSerializer];

async function round(size: number): Promise<{ stall: number; base: number; bytes: number }> {
  const config = benchNodeConfig();
  const transports = (config.workers as JsonObject[])[0]!.transports as JsonObject[];
  for (const t of transports) {
    // the message itself, plus room for its envelope (and JSON's base64 for binary)
    t.options = { ...(t.options as JsonObject ?? {}), max_message_size: 2 * size + 4096 };
  }
  const router = await startRouter(config);
  try {
    const port = router.ports.websocket ?? router.port;
    const connect = (serializer: Serializer) => WampClient.connect({ port, serializer });
    const callee = await connect(json);
    await callee.register("com.stall.echo", (inv) => inv.args);
    const subs = await Promise.all(subscribers.map(connect));
    let delivered = 0;
    for (const s of subs) await s.subscribe("com.stall.topic", () => void delivered++);
    const caller = await connect(json);
    const publisher = await connect(json);
    const payload = values.shape === "binary" ? new Uint8Array(size) : manyKeys(size);
    const bytes = payload instanceof Uint8Array
      ? size
      : new TextEncoder().encode(JSON.stringify(payload)).byteLength;
    // the bystander's normal latency
    const before: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await caller.call("com.stall.echo", [i]);
      before.push(performance.now() - t0);
    }
    // calls during the publication: the slowest is the stall
    let stop = false;
    const during: number[] = [];
    const calling = (async () => {
      while (!stop) {
        const t0 = performance.now();
        await caller.call("com.stall.echo", [0]);
        during.push(performance.now() - t0);
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    await publisher.publishAcknowledged("com.stall.topic", [payload]);
    while (delivered < subs.length) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await calling;
    for (const c of [callee, caller, publisher, ...subs]) await c.leave();
    return { stall: Math.max(...during), base: median(before), bytes };
  } finally {
    await router.close();
  }
}

console.log(
  "size (max_message_size)  message bytes  bystander call p50 before  slowest call during",
);
for (const size of sizes) {
  const results = [];
  for (let i = 0; i < rounds; i++) results.push(await round(size));
  const stall = median(results.map((r) => r.stall));
  const base = median(results.map((r) => r.base));
  console.log(
    `${String(size).padStart(22)}  ${String(results[0]!.bytes).padStart(13)}  ${
      base.toFixed(2).padStart(24)
    } ms  ${stall.toFixed(1).padStart(16)} ms`,
  );
}
