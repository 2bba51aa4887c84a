/**
 * `GET /metrics`: Prometheus text, checked against known traffic.
 */

import assert from "node:assert/strict";
import { RouterMetrics } from "../src/metrics.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

Deno.test("/metrics reports sessions, messages by type and serializer, errors, call latency", async () => {
  await using r = await startRouter(testConfig({
    roles: [{
      name: "anonymous",
      permissions: [{
        uri: "com.",
        match: "prefix",
        allow: { publish: true, subscribe: true, call: true, register: true },
      }],
    }],
  }));
  const url = `http://127.0.0.1:${r.port}/metrics`;
  const before = parse(await (await fetch(url)).text());
  assert.equal(before.get('switchboard_sessions{realm="realm1"}'), 0);

  await using a = (await RawClient.join(r.url, "json")).client;
  await using b = (await RawClient.join(r.url, "msgpack")).client;
  b.send([64, 1, {}, "com.echo"]);
  assert.equal((await b.next())[0], 65);
  for (let i = 0; i < 3; i++) {
    a.send([16, i + 1, { acknowledge: true }, "com.topic", [i]]);
    assert.equal((await a.next())[0], 17);
  }
  a.send([48, 10, {}, "com.echo", ["x"]]);
  const inv = await b.next();
  b.send([70, inv[1], {}, ["x"]]);
  assert.equal((await a.next())[0], 50);
  a.send([32, 11, {}, "org.denied"]);
  assert.equal((await a.next())[4], "wamp.error.not_authorized");

  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /# TYPE switchboard_messages_total counter/);
  const m = parse(text);
  assert.equal(m.get('switchboard_sessions{realm="realm1"}'), 2);
  assert.equal(m.get('switchboard_registrations{realm="realm1"}'), 1);
  assert.equal(
    m.get('switchboard_messages_total{direction="in",type="PUBLISH",serializer="json"}'),
    3,
  );
  assert.equal(
    m.get('switchboard_messages_total{direction="out",type="PUBLISHED",serializer="json"}'),
    3,
  );
  assert.equal(
    m.get('switchboard_messages_total{direction="out",type="INVOCATION",serializer="msgpack"}'),
    1,
  );
  assert.equal(
    m.get('switchboard_messages_total{direction="in",type="HELLO",serializer="msgpack"}'),
    1,
  );
  assert.equal(m.get('switchboard_errors_total{uri="wamp.error.not_authorized"}'), 1);
  assert.equal(m.get("switchboard_call_duration_seconds_count"), 1);
  assert.equal(m.get('switchboard_call_duration_seconds_bucket{le="+Inf"}'), 1);
  assert.ok((m.get('switchboard_bytes_total{direction="in",serializer="json"}') ?? 0) > 0);
  assert.equal(m.get("switchboard_dropped_events_total"), 0);
});

Deno.test("/metrics can be moved or switched off", async () => {
  const moved = testConfig();
  (moved.workers[0]!.transports[0] as Record<string, unknown>).metrics = { path: "stats/prom" };
  await assert.rejects(() => startRouter(moved)); // not one path segment
  const other = testConfig();
  (other.workers[0]!.transports[0] as Record<string, unknown>).metrics = { path: "prom" };
  {
    await using r = await startRouter(other);
    const ok = await fetch(`http://127.0.0.1:${r.port}/prom`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const gone = await fetch(`http://127.0.0.1:${r.port}/metrics`);
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
  }
  const off = testConfig();
  (off.workers[0]!.transports[0] as Record<string, unknown>).metrics = false;
  await using r = await startRouter(off);
  const res = await fetch(`http://127.0.0.1:${r.port}/metrics`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

Deno.test("/metrics bytes and messages equal the sum of the session's on_stats figures", async () => {
  // The only cbor session: its metered traffic is the whole of serializer="cbor" in /metrics.
  await using r = await startRouter(testConfig({ stats: { trigger_after_rated_messages: 4 } }));
  const url = `http://127.0.0.1:${r.port}/metrics`;
  const monitor = await r.router.session("realm1");
  const stats: Record<string, number>[] = [];
  let left = false;
  const target = { id: 0 };
  await monitor.subscribe("wamp.session.on_stats", ([info, s]) => {
    if ((info as Record<string, number>).session === target.id) {
      stats.push(s as Record<string, number>);
    }
  });
  await monitor.subscribe("wamp.session.on_leave", ([id]) => {
    if (id === target.id) left = true;
  });

  const joined = await RawClient.join(r.url, "cbor");
  target.id = joined.session;
  const c = joined.client;
  for (let i = 0; i < 9; i++) {
    c.send([16, i + 1, { acknowledge: true }, "com.metered", ["é".repeat(i * 50), i]]);
    assert.equal((await c.next())[0], 17);
  }
  c.send([6, {}, "wamp.close.close_realm"]);
  assert.equal((await c.nextOf(6))[0], 6);
  await c[Symbol.asyncDispose]();
  for (let i = 0; i < 100 && !left; i++) await new Promise((res) => setTimeout(res, 20));
  assert.ok(left, "on_leave arrived");
  await monitor.close();

  assert.ok(stats.length >= 3 && stats.at(-1)!.last, Deno.inspect(stats));
  const sum = (k: string) => stats.reduce((a, s) => a + s[k]!, 0);
  const m = parse(await (await fetch(url)).text());
  const bytes = (dir: string) =>
    m.get(`switchboard_bytes_total{direction="${dir}",serializer="cbor"}`)!;
  assert.equal(bytes("in") + bytes("out"), sum("bytes"));
  let messages = 0;
  for (const [k, v] of m) {
    if (k.startsWith("switchboard_messages_total{") && k.includes('serializer="cbor"')) {
      messages += v;
    }
  }
  // HELLO, WELCOME, 9 × (PUBLISH, PUBLISHED), GOODBYE, GOODBYE
  assert.equal(messages, 22);
  assert.equal(sum("messages"), 22);
});

Deno.test("/metrics: error URIs chosen by a callee cannot grow the page (at most 100 URIs + other)", async () => {
  await using r = await startRouter(testConfig());
  const url = `http://127.0.0.1:${r.port}/metrics`;
  await using callee = (await RawClient.join(r.url, "msgpack")).client;
  callee.send([64, 1, {}, "com.fail"]);
  assert.equal((await callee.next())[0], 65);
  await using caller = (await RawClient.join(r.url, "msgpack")).client;

  const long = (i: number) => `com.err.${"x".repeat(200)}.${i}`;
  const uris = [
    ...Array.from({ length: 20_001 }, (_, i) => `com.err.e${i}`),
    long(1),
    long(2),
    long(3),
  ];
  const BATCH = 500;
  for (let start = 0; start < uris.length; start += BATCH) {
    const end = Math.min(start + BATCH, uris.length);
    for (let i = start; i < end; i++) caller.send([48, i + 1, {}, "com.fail", [i]]);
    for (let i = start; i < end; i++) {
      const inv = await callee.next();
      assert.equal(inv[0], 68);
      callee.send([8, 68, inv[1], {}, uris[(inv[4] as number[])[0]!]]);
    }
    for (let i = start; i < end; i++) {
      const err = await caller.next();
      assert.deepEqual([err[0], err[2]], [8, i + 1]);
      assert.equal(err[4], uris[i]);
    }
  }

  const res = await fetch(url);
  const text = await res.text();
  const bytes = new TextEncoder().encode(text).byteLength;
  assert.ok(bytes < 16 * 1024, `the page has ${bytes} bytes`);
  const m = parse(text);
  const errors = [...m].filter(([k]) => k.startsWith("switchboard_errors_total{"));
  assert.equal(errors.length, 101, "100 URIs and other");
  assert.equal(errors.reduce((a, [, n]) => a + n, 0), uris.length, "totals add up");
  assert.equal(m.get('switchboard_errors_total{uri="com.err.e0"}'), 1);
  assert.equal(m.get('switchboard_errors_total{uri="com.err.e99"}'), 1);
  assert.equal(m.get('switchboard_errors_total{uri="com.err.e100"}'), undefined);
  assert.equal(m.get('switchboard_errors_total{uri="other"}'), uris.length - 100);
  assert.ok(!text.includes("x".repeat(129)), "no over-long label");
  for (const [k] of errors) {
    assert.ok(k.length <= 'switchboard_errors_total{uri=""}'.length + 128, k);
  }
  assert.match(text, /# HELP switchboard_errors_total .*first 100 .*"other"/);
  assert.match(text, /# HELP switchboard_aborts_total .*first 100 .*"other"/);
});

Deno.test("RouterMetrics: abort reasons and error URIs: first 100 valid ones, the rest as other", () => {
  const metrics = new RouterMetrics();
  const source = { realms: [], queuedBytes: 0, droppedEvents: 0 };
  metrics.abort("not a uri"); // invalid: other, and takes no slot
  metrics.abort("wamp.error.x\n# HELP forged"); // invalid
  metrics.abort(`wamp.error.${"y".repeat(200)}`); // too long
  metrics.abort("a".repeat(128)); // exactly 128: its own series
  for (let i = 0; i < 20_001; i++) metrics.abort(`com.reason.r${i}`);
  metrics.abort("com.reason.r0");
  metrics.error("bad uri");
  metrics.error("com.ok");
  metrics.error("com.ok");
  const m = parse(metrics.render(source));
  const aborts = [...m].filter(([k]) => k.startsWith("switchboard_aborts_total{"));
  assert.equal(aborts.length, 101);
  assert.equal(aborts.reduce((a, [, n]) => a + n, 0), 20_006);
  assert.equal(m.get(`switchboard_aborts_total{reason="${"a".repeat(128)}"}`), 1);
  assert.equal(m.get('switchboard_aborts_total{reason="com.reason.r0"}'), 2);
  assert.equal(m.get('switchboard_aborts_total{reason="com.reason.r98"}'), 1);
  assert.equal(m.get('switchboard_aborts_total{reason="com.reason.r99"}'), undefined);
  assert.equal(m.get('switchboard_aborts_total{reason="other"}'), 3 + 20_001 - 99);
  assert.equal(m.get('switchboard_errors_total{uri="com.ok"}'), 2);
  assert.equal(m.get('switchboard_errors_total{uri="other"}'), 1);
  assert.doesNotMatch(metrics.render(source), /forged|not a uri|bad uri/);
});
