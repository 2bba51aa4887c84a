/**
 * Session meta events and procedures, and session statistics, over real WebSockets.
 */

import assert from "node:assert/strict";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

type D = Record<string, unknown>;

const STATS = {
  rated_message_size: 256,
  trigger_after_rated_messages: 10,
  trigger_after_duration: 0,
  trigger_on_join: true,
  trigger_on_leave: true,
};

for (const ser of ["json", "msgpack", "cbor"] as const) {
  Deno.test(`meta events and stats over ${ser}: order, fields, sums`, async () => {
    await using r = await startRouter(testConfig({ stats: STATS }));
    await using mon = (await RawClient.join(r.url, ser)).client;
    const topics = ["wamp.session.on_join", "wamp.session.on_stats", "wamp.session.on_leave"];
    const subIds = new Map<unknown, string>();
    for (let i = 0; i < topics.length; i++) {
      mon.send([32, i + 1, {}, topics[i]]);
      const s = await mon.nextOf(33); // the monitor's own join stats may arrive first
      subIds.set(s[2], topics[i]!);
    }
    let session = 0;
    // The next meta event about the session under test (the monitor's own stats are skipped).
    const nextMeta = async () => {
      for (;;) {
        const ev = await mon.nextOf(36);
        const args = ev[4] as unknown[];
        const subject = typeof args[0] === "number" ? args[0] : (args[0] as D).session;
        if (subject !== session) continue;
        return { topic: subIds.get(ev[1])!, details: ev[3] as D, args };
      }
    };

    const joined = await RawClient.join(r.url, ser);
    const c = joined.client;
    session = joined.session;
    const join = await nextMeta();
    assert.equal(join.topic, "wamp.session.on_join");
    const info = join.args[0] as D;
    assert.equal(info.session, session);
    assert.equal(info.realm, "realm1");
    assert.equal(info.authrole, "anonymous");
    assert.equal(info.authmethod, "anonymous");
    assert.equal(info.serializer, ser);
    assert.equal(join.details.publisher_authrole, "trusted");

    const first = await nextMeta();
    assert.equal(first.topic, "wamp.session.on_stats");
    const [who, s1] = first.args as [D, D];
    assert.deepEqual(Object.keys(who).sort(), ["authid", "authrole", "realm", "session"]);
    assert.equal(who.session, session);
    assert.deepEqual(Object.keys(s1).sort(), [
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
    assert.equal(s1.cycle, 1);
    assert.equal(s1.first, true);
    assert.equal(s1.last, false);
    assert.equal(s1.messages, 2); // HELLO + WELCOME
    assert.equal(s1.serializer, ser);
    // timestamp: exact 64-bit integer nanoseconds (> 2^53), within a minute of now
    assert.equal(typeof s1.timestamp, "bigint");
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(nowNs - (s1.timestamp as bigint) < 60_000_000_000n);
    assert.ok(Number.isInteger(s1.duration) && (s1.duration as number) >= 0);

    // generate known traffic: 10 unacknowledged publishes of small events -> 10 rated
    let sentBytes = 0;
    for (let i = 0; i < 10; i++) {
      const m = [16, i + 1, {}, "com.example.t", [i]];
      sentBytes += c.serializer.byteLength(c.serializer.encode(m));
      c.send(m);
    }
    const second = await nextMeta();
    assert.equal(second.topic, "wamp.session.on_stats");
    const s2 = (second.args as D[])[1]!;
    assert.equal(s2.cycle, 2);
    assert.equal(s2.first, false);
    assert.equal(s2.messages, 10);
    assert.equal(s2.rated_messages, 10);
    assert.equal(s2.bytes, sentBytes);

    // leave with GOODBYE: final stats (last) then on_leave
    const bye = [6, {}, "wamp.close.close_realm"];
    const byeBytes = c.serializer.byteLength(c.serializer.encode(bye));
    c.send(bye);
    const reply = await c.next();
    const replyBytes = c.serializer.byteLength(c.serializer.encode(reply));
    const last = await nextMeta();
    assert.equal(last.topic, "wamp.session.on_stats");
    const s3 = (last.args as D[])[1]!;
    assert.equal((last.args as D[])[0]!.session, session);
    assert.equal(s3.last, true);
    assert.equal(s3.cycle, 3);
    assert.equal(s3.messages, 2);
    assert.equal(s3.bytes, byeBytes + replyBytes);
    const leave = await nextMeta();
    assert.equal(leave.topic, "wamp.session.on_leave");
    assert.equal(leave.args[0], session);
    await c[Symbol.asyncDispose]();
  });
}

Deno.test("a realm without stats publishes no on_stats; on_join/on_leave still flow", async () => {
  await using r = await startRouter(testConfig());
  await using mon = (await RawClient.join(r.url, "json")).client;
  mon.send([32, 1, {}, "wamp.session.on_stats"]);
  mon.send([32, 2, {}, "wamp.session.on_leave"]);
  await mon.next();
  await mon.next();
  const { client: c, session } = await RawClient.join(r.url, "json");
  c.send([16, 1, {}, "com.x", [1]]);
  await c[Symbol.asyncDispose]();
  const ev = await mon.next();
  assert.equal(ev[0], 36);
  assert.deepEqual((ev[4] as unknown[])[0], session);
  assert.deepEqual(await mon.quiet(), []);
});

Deno.test("a session subscribed to its own stats with threshold 1 does not run away", async () => {
  await using r = await startRouter(
    testConfig({ stats: { ...STATS, trigger_after_rated_messages: 1, trigger_on_join: false } }),
  );
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([32, 1, {}, "wamp.session.on_stats"]);
  assert.equal((await c.next())[0], 33);
  // Two real messages crossed the threshold: SUBSCRIBE (with HELLO and WELCOME in its
  // window) and the SUBSCRIBED reply. Their two stats events arrive, and receiving them does
  // not trigger further stats events by itself: then silence.
  const events = [await c.nextOf(36), await c.nextOf(36)];
  assert.deepEqual(events.map((e) => (e[4] as D[])[1]!.cycle), [1, 2]);
  assert.equal((events[0]![4] as D[])[1]!.messages, 3);
  assert.equal((events[1]![4] as D[])[1]!.messages, 1);
  assert.deepEqual(await c.quiet(300), []);
  // The next real message triggers again; its window holds the two stats events received.
  const publish = [16, 2, {}, "com.x"];
  c.send(publish);
  const ev = await c.nextOf(36);
  const s3 = (ev[4] as D[])[1]!;
  const size = (m: unknown[]) => c.serializer.byteLength(c.serializer.encode(m));
  assert.equal(s3.cycle, 3);
  assert.equal(s3.messages, 3);
  assert.equal(s3.bytes, size(events[0]!) + size(events[1]!) + size(publish));
  assert.equal(
    s3.rated_messages,
    Math.ceil(size(events[0]!) / 256) + Math.ceil(size(events[1]!) / 256) + 1,
  );
});

Deno.test("duration trigger fires on an idle session (real timer)", async () => {
  await using r = await startRouter(
    testConfig({
      stats: {
        ...STATS,
        trigger_after_rated_messages: 0,
        trigger_after_duration: 1,
        trigger_on_join: false,
      },
    }),
  );
  await using mon = (await RawClient.join(r.url, "json")).client;
  mon.send([32, 1, {}, "wamp.session.on_stats"]);
  await mon.next();
  const { client: idle, session } = await RawClient.join(r.url, "msgpack");
  await using _idle = idle;
  let ev;
  do {
    ev = await mon.nextOf(36, 3000);
  } while ((ev[4] as D[])[0]!.session !== session);
  const s = (ev[4] as D[])[1]!;
  assert.equal(s.first, true);
  assert.ok((s.duration as number) >= 900_000_000, `duration ${s.duration}`);
});

Deno.test("session meta procedures: count, list, get, kill, filters", async () => {
  await using r = await startRouter(testConfig({}, []));
  await using admin = (await RawClient.join(r.url, "json")).client;
  const { client: a, session: aId } = await RawClient.join(r.url, "msgpack");
  await using _a = a;
  const call = async (req: number, proc: string, args: unknown[] = [], kwargs: D = {}) => {
    admin.send([48, req, {}, proc, args, kwargs]);
    return await admin.nextOf(50).catch(() => admin.skipped.at(-1)!);
  };
  const count = await call(1, "wamp.session.count");
  assert.deepEqual(count[3], [2]);
  const list = await call(2, "wamp.session.list");
  assert.ok((list[3] as number[][])[0]!.includes(aId));
  assert.deepEqual((await call(3, "wamp.session.count", [["nobody"]]))[3], [0]);
  const got = await call(4, "wamp.session.get", [aId]);
  assert.equal((got[3] as D[])[0]!.session, aId);
  assert.equal((got[3] as D[])[0]!.serializer, "msgpack");
  admin.send([48, 5, {}, "wamp.session.get", [12345]]);
  const err = await admin.nextOf(8);
  assert.equal(err[4], "wamp.error.no_such_session");
  // kill with reason and message
  admin.send([48, 6, {}, "wamp.session.kill", [aId], {
    reason: "com.example.bye",
    message: "go away",
  }]);
  const killed = await a.nextOf(6);
  assert.equal(killed[2], "com.example.bye");
  assert.equal((killed[1] as D).message, "go away");
  assert.equal((await admin.nextOf(50))[1], 6);
  // the caller is never killed
  admin.send([48, 7, {}, "wamp.session.kill_all"]);
  const all = await admin.nextOf(50);
  assert.deepEqual(all[3], [0]);
  admin.send([48, 8, {}, "wamp.session.kill", [
    (admin as unknown as { session?: number }).session ?? 0,
  ]]);
  assert.equal((await admin.nextOf(8))[4], "wamp.error.no_such_session");
});

Deno.test("meta procedures obey the caller's permissions", async () => {
  await using r = await startRouter(testConfig({
    roles: [{
      name: "anonymous",
      permissions: [{ uri: "com.", match: "prefix", allow: { call: true } }],
    }],
  }));
  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([48, 1, {}, "wamp.session.count"]);
  assert.equal((await c.next())[4], "wamp.error.not_authorized");
});
