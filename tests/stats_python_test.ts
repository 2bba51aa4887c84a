/**
 * Session statistics end to end with Autobahn|Python (the client Crossbar's docs use), over
 * json, msgpack and cbor: fields, types, the exact 64-bit timestamp, sums of messages and
 * bytes matching what the client's own serializer metered, and the rated trigger.
 */

import assert from "node:assert/strict";
import { startRouter, testConfig } from "./_helpers.ts";

type Tagged = unknown;
type D = Record<string, Tagged>;

/** Values from the script: integers arrive as {"int": "<digits>"} so big ones stay exact. */
function int(v: Tagged): bigint {
  const digits = (v as { int?: string }).int;
  assert.ok(typeof digits === "string", `expected an integer, got ${JSON.stringify(v)}`);
  return BigInt(digits);
}

const PUBLISHES = 25;

for (const ser of ["json", "msgpack", "cbor"] as const) {
  Deno.test(`on_stats end to end with Autobahn|Python over ${ser}`, async () => {
    await using r = await startRouter(testConfig({
      stats: {
        rated_message_size: 256,
        trigger_after_rated_messages: 10,
        trigger_after_duration: 0,
        trigger_on_join: true,
        trigger_on_leave: true,
      },
    }));
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./interop/stats_check.py", import.meta.url).pathname,
        "--url",
        r.url,
        "--serializer",
        ser,
        "--publishes",
        String(PUBLISHES),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `stats_check.py failed: ${stderr}`);
    const result = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      session: string;
      events: { topic: string; args: Tagged[] }[];
      client_totals: { bytes: number; messages: number };
    };
    const topics = result.events.map((e) => e.topic);
    // order: on_join, join stats, ..., final stats, on_leave
    assert.equal(topics[0], "on_join");
    assert.equal(topics[1], "on_stats");
    assert.equal(topics.at(-2), "on_stats");
    assert.equal(topics.at(-1), "on_leave");
    assert.ok(topics.slice(1, -1).every((t) => t === "on_stats"));

    const stats = result.events.filter((e) => e.topic === "on_stats").map((e) => e.args[1] as D);
    const sessions = result.events.filter((e) => e.topic === "on_stats").map((e) => e.args[0] as D);
    for (const s of sessions) {
      assert.deepEqual(Object.keys(s).sort(), ["authid", "authrole", "realm", "session"]);
      assert.equal(int(s.session), BigInt(result.session));
    }
    let cycle = 1n;
    let messages = 0n;
    let bytes = 0n;
    for (const [i, s] of stats.entries()) {
      assert.deepEqual(Object.keys(s).sort(), [
        "bytes",
        "cycle",
        "duration",
        "first",
        "last",
        "messages",
        "rated_messages",
        "serializer",
        "timestamp",
      ]);
      assert.equal(int(s.cycle), cycle++);
      assert.equal(s.serializer, ser);
      assert.equal(s.first, i === 0);
      assert.equal(s.last, i === stats.length - 1);
      // exact 64-bit nanoseconds, decoded by Python as an int above 2^53
      const ts = int(s.timestamp);
      assert.ok(ts > 2n ** 53n);
      assert.ok(int(s.duration) >= 0n);
      messages += int(s.messages);
      bytes += int(s.bytes);
      // the rated trigger fires at the configured count (threshold windows only)
      // (every message here is under 256 bytes, so each counts one rated message)
      if (i > 0 && i < stats.length - 1) assert.equal(int(s.rated_messages), 10n);
    }
    // windows are contiguous: each timestamp + duration is the next window's timestamp
    for (let i = 0; i + 1 < stats.length; i++) {
      assert.equal(
        int(stats[i]!.timestamp) + int(stats[i]!.duration),
        int(stats[i + 1]!.timestamp),
      );
    }
    // a float64 near 1.8e18 is a multiple of 256: a timestamp that is not proves exact digits
    assert.ok(stats.some((s) => int(s.timestamp) % 256n !== 0n));
    // the join window holds HELLO and WELCOME
    assert.equal(int(stats[0]!.messages), 2n);
    // the sums match what the client's own serializer metered on this connection
    assert.equal(messages, BigInt(result.client_totals.messages));
    assert.equal(bytes, BigInt(result.client_totals.bytes));
    // PUBLISHES small publishes: the rated trigger (10) fired at least floor(25/10) times
    assert.ok(
      stats.length - 2 >= Math.floor(PUBLISHES / 10),
      `threshold events: ${stats.length - 2}`,
    );
  });
}
