/**
 * One conformance suite for `ClusterLink`, run against the in-memory twin (on a FakeClock) and
 * against nats.js with a real nats-server; then what only one of them has: the twin's fault
 * injection, and a NATS server that dies and comes back.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import {
  type ClusterLink,
  KvConflictError,
  type KvEntry,
  type LinkMessage,
  LinkRequestError,
  type LinkStatus,
} from "../src/cluster/link.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import { freePort, NatsServer } from "./_nats.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects what a handler receives; `waitFor` waits (with a deadline) for a count of them. */
class Inbox<T> {
  readonly items: T[] = [];
  #wake: (() => void)[] = [];
  readonly push = (item: T) => {
    this.items.push(item);
    for (const w of this.#wake.splice(0)) w();
  };
  async waitFor(count: number, ms = 10_000): Promise<T[]> {
    const deadline = Date.now() + ms;
    while (this.items.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`waited for ${count} items, got ${this.items.length}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.items;
  }
}

/** A logger that keeps the errors it is given. */
function errorLog(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  return { logger: { ...silentLogger, error: (message) => errors.push(message) }, errors };
}

/** One engine behind the links under test. */
interface Engine extends AsyncDisposable {
  /** The errors the links logged. */
  readonly errors: string[];
  /** A new link named `name`. */
  link(name: string): Promise<ClusterLink>;
  /** Lets `ms` of the engine's time pass (the FakeClock moves; real time is waited for). */
  passTime(ms: number): Promise<void>;
  /** Waits until `check` holds, letting time pass; fails after a deadline. */
  until(check: () => Promise<boolean>, stepMs: number): Promise<void>;
}

function memoryEngine(): Engine {
  const clock = new FakeClock();
  const { logger, errors } = errorLog();
  const cluster = new MemoryCluster({ clock, logger });
  const links: ClusterLink[] = [];
  return {
    errors,
    link(name) {
      const link = cluster.link(name);
      links.push(link);
      return Promise.resolve(link);
    },
    async passTime(ms) {
      clock.advance(ms);
      await cluster.settle();
    },
    async until(check, stepMs) {
      for (let i = 0; i < 100; i++) {
        if (await check()) return;
        clock.advance(stepMs);
        await cluster.settle();
      }
      throw new Error("condition never held");
    },
    async [Symbol.asyncDispose]() {
      for (const link of links) await link.close();
      await cluster.settle();
    },
  };
}

async function natsEngine(): Promise<Engine> {
  const { connectNats } = await import("../src/cluster/nats_link.ts");
  const server = await NatsServer.start();
  const { logger, errors } = errorLog();
  const links: ClusterLink[] = [];
  return {
    errors,
    async link(name) {
      const link = await connectNats([server.url], { name, logger });
      links.push(link);
      return link;
    },
    async passTime(ms) {
      await sleep(ms);
    },
    async until(check, stepMs) {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (await check()) return;
        await sleep(Math.min(stepMs, 200));
      }
      throw new Error("condition never held");
    },
    async [Symbol.asyncDispose]() {
      for (const link of links) await link.close();
      await server[Symbol.asyncDispose]();
    },
  };
}

const ENGINES: [string, () => Promise<Engine>][] = [
  ["memory", () => Promise.resolve(memoryEngine())],
  ["nats", natsEngine],
];

function conformance(
  title: string,
  body: (engine: Engine) => Promise<void>,
): void {
  for (const [name, make] of ENGINES) {
    Deno.test(`cluster link (${name}): ${title}`, async () => {
      await using engine = await make();
      await body(engine);
    });
  }
}

conformance("wildcard subscriptions get what matches, never the publisher's own", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const c = await e.link("c");
  const atA = new Inbox<LinkMessage>();
  const oneToken = new Inbox<LinkMessage>();
  const tail = new Inbox<LinkMessage>();
  await a.subscribe("t.>", atA.push);
  await b.subscribe("t.*.x", oneToken.push);
  await c.subscribe("t.>", tail.push);
  a.publish("t.a.x", enc("1"));
  a.publish("t.a.y", enc("2"));
  a.publish("t.a.b.x", enc("3"));
  a.publish("t", enc("not under t.>"));
  await tail.waitFor(3);
  await oneToken.waitFor(1);
  // b's message reaches a after anything of a's own would have (one server, in order).
  b.publish("t.end", enc("4"));
  await tail.waitFor(4);
  await atA.waitFor(1);
  assert.deepEqual(tail.items.map((m) => [m.subject, dec(m.data)]), [
    ["t.a.x", "1"],
    ["t.a.y", "2"],
    ["t.a.b.x", "3"],
    ["t.end", "4"],
  ]);
  assert.deepEqual(atA.items.map((m) => m.subject), ["t.end"]);
  assert.deepEqual(oneToken.items.map((m) => m.subject), ["t.a.x"]);
  assert.equal(oneToken.items[0]!.respond, undefined);
});

conformance("a subscription is registered when subscribe resolves", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const got = new Inbox<string>();
  for (let i = 0; i < 20; i++) {
    await b.subscribe(`reg.${i}`, (m) => got.push(m.subject));
    a.publish(`reg.${i}`, enc("x"));
  }
  await got.waitFor(20);
  assert.deepEqual(got.items, Array.from({ length: 20 }, (_, i) => `reg.${i}`));
});

conformance("a link's messages arrive in publication order", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const got = new Inbox<number>();
  await b.subscribe("order.*", (m) => got.push(Number(dec(m.data))));
  for (let i = 0; i < 1000; i++) a.publish(`order.${i % 7}`, enc(String(i)));
  await got.waitFor(1000);
  assert.deepEqual(got.items, Array.from({ length: 1000 }, (_, i) => i));
});

conformance("request: reply, no responders, timeout", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  await b.subscribe("svc.echo", (m) => m.respond?.(enc(`echo ${dec(m.data)}`)));
  await b.subscribe("svc.silent", () => {});
  assert.equal(dec(await a.request("svc.echo", enc("hi"), 5000)), "echo hi");
  await assert.rejects(
    a.request("svc.none", enc("?"), 5000),
    (error) => error instanceof LinkRequestError && error.kind === "no_responders",
  );
  // A link's own subscription does not answer its requests (no echo): nobody else does.
  await a.subscribe("svc.self", (m) => m.respond?.(enc("self")));
  await assert.rejects(
    a.request("svc.self", enc("?"), 5000),
    (error) => error instanceof LinkRequestError && error.kind === "no_responders",
  );
  const silent = a.request("svc.silent", enc("?"), 300);
  const outcome = silent.then(() => "replied", (error) => error);
  await e.passTime(300);
  const error = await outcome;
  assert.ok(error instanceof LinkRequestError, String(error));
  assert.equal(error.kind, "timeout");
});

conformance("ask: after cancel neither the reply nor the timeout settles it", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const asked = new Inbox<(data: Uint8Array) => void>();
  await b.subscribe("svc.later", (m) => asked.push(m.respond!));
  const dropped = a.ask("svc.later", enc("x"), 300);
  const timedOut = a.ask("svc.later", enc("y"), 300);
  let settled = 0;
  const note = () => void settled++;
  dropped.reply.then(note, note);
  timedOut.reply.then(note, note);
  await asked.waitFor(2);
  dropped.cancel();
  timedOut.cancel();
  asked.items[0]!(enc("late"));
  await e.passTime(400);
  assert.equal(settled, 0);
  // one not canceled is answered as a request is
  const kept = a.ask("svc.later", enc("z"), 5000);
  await asked.waitFor(3);
  asked.items[2]!(enc("answer"));
  assert.equal(dec(await kept.reply), "answer");
});

conformance("unsubscribe stops delivery", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const first = new Inbox<string>();
  const sentinel = new Inbox<string>();
  const sub = await b.subscribe("u.data", (m) => first.push(dec(m.data)));
  await b.subscribe("u.sentinel", (m) => sentinel.push(dec(m.data)));
  assert.equal(sub.subject, "u.data");
  a.publish("u.data", enc("1"));
  await first.waitFor(1);
  sub.unsubscribe();
  sub.unsubscribe();
  a.publish("u.data", enc("2"));
  a.publish("u.sentinel", enc("done"));
  await sentinel.waitFor(1);
  assert.deepEqual(first.items, ["1"]);
});

conformance("bucket: get, put, create, update and delete with revisions, keys", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const ka = await a.bucket("sb_test");
  const kb = await b.bucket("sb_test");
  assert.equal(await ka.get("n.1"), null);
  const r1 = await ka.create("n.1", enc("one"));
  await assert.rejects(kb.create("n.1", enc("uno")), KvConflictError);
  const r2 = await kb.put("n.2", enc("two"));
  assert.ok(r2 > r1, "revisions increase across keys");
  const got = await kb.get("n.1");
  assert.deepEqual(got && { ...got, value: dec(got.value) }, {
    key: "n.1",
    value: "one",
    revision: r1,
    operation: "put",
  });
  await assert.rejects(ka.update("n.1", enc("stale"), r1 + 100), KvConflictError);
  const r3 = await ka.update("n.1", enc("one'"), r1);
  assert.ok(r3 > r2);
  await assert.rejects(kb.update("n.1", enc("lost race"), r1), KvConflictError);
  assert.equal(dec((await kb.get("n.1"))!.value), "one'");
  await assert.rejects(kb.delete("n.1", r1), KvConflictError);
  await kb.delete("n.1", r3);
  assert.equal(await ka.get("n.1"), null);
  // A deleted key can be created again.
  const r4 = await ka.create("n.1", enc("again"));
  assert.ok(r4 > r3);
  await ka.put("other.1", enc("x"));
  await ka.put("n.10", enc("ten"));
  await kb.delete("n.2");
  assert.deepEqual((await kb.keys()).sort(), ["n.1", "n.10", "other.1"]);
  assert.deepEqual((await kb.keys("n.")).sort(), ["n.1", "n.10"]);
  assert.deepEqual((await kb.keys("n.1")).sort(), ["n.1", "n.10"]);
  assert.deepEqual(await kb.keys("none."), []);
  const bin = new Uint8Array([0, 255, 1, 254]);
  await ka.put("bin", bin);
  assert.deepEqual((await kb.get("bin"))!.value, bin);
});

conformance("watch: existing entries, then ready, then changes (own ones too)", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const ka = await a.bucket("sb_watch");
  const kb = await b.bucket("sb_watch");
  await ka.put("s.1", enc("1"));
  await ka.put("s.2", enc("2"));
  await ka.put("s.3", enc("3"));
  await ka.delete("s.2");
  await ka.put("x.1", enc("elsewhere"));
  const seen = new Inbox<string>();
  const revisions: number[] = [];
  const onEntry = (entry: KvEntry) => {
    revisions.push(entry.revision);
    seen.push(`${entry.operation} ${entry.key} ${dec(entry.value)}`);
  };
  const watch = await ka.watch(onEntry, { prefix: "s.", onReady: () => seen.push("ready") });
  await seen.waitFor(3);
  await ka.put("s.4", enc("own"));
  await kb.put("s.1", enc("1'"));
  await kb.put("x.2", enc("not watched"));
  await kb.delete("s.3");
  await seen.waitFor(6);
  assert.deepEqual(seen.items, [
    "put s.1 1",
    "put s.3 3",
    "ready",
    "put s.4 own",
    "put s.1 1'",
    "delete s.3 ",
  ]);
  assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y));
  watch.stop();
  // An empty selection is ready at once.
  const empty = new Inbox<string>();
  const w2 = await kb.watch((entry) => empty.push(entry.key), {
    prefix: "none.",
    onReady: () => empty.push("ready"),
  });
  await empty.waitFor(1);
  await ka.put("none.1", enc("x"));
  await empty.waitFor(2);
  assert.deepEqual(empty.items, ["ready", "none.1"]);
  w2.stop();
});

conformance("bucket max age: old entries vanish without a watch event", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const ka = await a.bucket("sb_lease", { maxAgeMs: 1000 });
  const kb = await b.bucket("sb_lease", { maxAgeMs: 1000 });
  const seen = new Inbox<string>();
  const watch = await kb.watch((entry) => seen.push(`${entry.operation} ${entry.key}`), {
    onReady: () => seen.push("ready"),
  });
  await seen.waitFor(1);
  await ka.create("lease.a", enc("held"));
  await seen.waitFor(2);
  await e.until(async () => (await kb.get("lease.a")) === null, 500);
  assert.deepEqual(await kb.keys(), []);
  // The key can be claimed again, and the next watch event is that claim.
  await kb.create("lease.a", enc("taken over"));
  await seen.waitFor(3);
  assert.deepEqual(seen.items, ["ready", "put lease.a", "put lease.a"]);
  watch.stop();
});

conformance("a handler that throws is logged, and delivery goes on", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  const got = new Inbox<string>();
  await b.subscribe("boom", (m) => {
    got.push(dec(m.data));
    if (got.items.length === 1) throw new Error("handler bug");
  });
  const kb = await b.bucket("sb_boom");
  const seen = new Inbox<string>();
  await kb.watch((entry) => {
    seen.push(entry.key);
    if (seen.items.length === 1) throw new Error("watch bug");
  });
  a.publish("boom", enc("1"));
  a.publish("boom", enc("2"));
  await kb.put("k.1", enc("1"));
  await kb.put("k.2", enc("2"));
  await got.waitFor(2);
  await seen.waitFor(2);
  assert.deepEqual(got.items, ["1", "2"]);
  assert.deepEqual(seen.items, ["k.1", "k.2"]);
  assert.equal(e.errors.length, 2, e.errors.join("; "));
});

conformance("close: requests fail with closed, status is reported, calls refused", async (e) => {
  const a = await e.link("a");
  const b = await e.link("b");
  await b.subscribe("svc.slow", () => {});
  const statuses: LinkStatus[] = [];
  const closed = new Inbox<LinkStatus>();
  a.onStatus((status) => {
    statuses.push(status);
    closed.push(status);
  });
  const bucket = await a.bucket("sb_close");
  const seen = new Inbox<string>();
  await bucket.watch((entry) => seen.push(entry.key));
  const pending = a.request("svc.slow", enc("?"), 30_000).then(() => "replied", (err) => err);
  await a.close();
  const error = await pending;
  assert.ok(error instanceof LinkRequestError, String(error));
  assert.equal(error.kind, "closed");
  await closed.waitFor(1);
  assert.deepEqual(statuses, ["closed"]);
  assert.equal(a.status, "closed");
  assert.throws(() => a.publish("x", enc("x")));
  await assert.rejects(a.subscribe("x", () => {}));
  await assert.rejects(a.request("x", enc("x"), 100), LinkRequestError);
  await a.close();
});

// ---- the twin's fault injection ----

Deno.test("memory link: a disconnected link loses messages to it and its own", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = cluster.link("a");
  const b = cluster.link("b");
  const statuses: LinkStatus[] = [];
  b.onStatus((s) => statuses.push(s));
  const atB = new Inbox<string>();
  const atA = new Inbox<string>();
  await b.subscribe("m.*", (m) => atB.push(dec(m.data)));
  await a.subscribe("m.*", (m) => atA.push(dec(m.data)));
  a.publish("m.1", enc("before"));
  a.publish("m.1", enc("queued, then lost"));
  cluster.disconnect("b");
  a.publish("m.1", enc("while b is away"));
  b.publish("m.2", enc("lost too"));
  const late = b.subscribe("late.x", (m) => atB.push(dec(m.data)));
  const request = b.request("m.1", enc("?"), 100).then(() => "replied", (err) => err.kind);
  await assert.rejects(b.bucket("x"), /disconnected/);
  await cluster.settle();
  assert.deepEqual(atB.items, []);
  assert.deepEqual(atA.items, []);
  clock.advance(100);
  assert.equal(await request, "timeout");
  cluster.reconnect("b");
  await late;
  a.publish("m.1", enc("after"));
  a.publish("late.x", enc("late"));
  await atB.waitFor(2);
  assert.deepEqual(atB.items, ["after", "late"]);
  b.publish("m.2", enc("b is back"));
  await atA.waitFor(1);
  assert.deepEqual(atA.items, ["b is back"]);
  assert.deepEqual(statuses, ["disconnected", "connected"]);
  await a.close();
  await b.close();
});

Deno.test("memory link: delivery is never synchronous", async () => {
  const cluster = new MemoryCluster({ clock: new FakeClock() });
  const a = cluster.link("a");
  const b = cluster.link("b");
  const got: string[] = [];
  const statuses: LinkStatus[] = [];
  b.onStatus((s) => statuses.push(s));
  await b.subscribe("x", (m) => got.push(dec(m.data)));
  a.publish("x", enc("1"));
  assert.deepEqual(got, []);
  // Still queued when b is cut off: lost with the connection.
  cluster.disconnect("b");
  assert.deepEqual(statuses, []);
  await cluster.settle();
  assert.deepEqual(got, []);
  assert.deepEqual(statuses, ["disconnected"]);
  cluster.reconnect("b");
  a.publish("x", enc("2"));
  assert.deepEqual(got, []);
  await cluster.settle();
  assert.deepEqual(got, ["2"]);
  assert.deepEqual(statuses, ["disconnected", "connected"]);
  await a.close();
  await b.close();
});

Deno.test("memory link: a watch catches up on reconnection", async () => {
  const cluster = new MemoryCluster({ clock: new FakeClock() });
  const a = cluster.link("a");
  const b = cluster.link("b");
  const ka = await a.bucket("w");
  const kb = await b.bucket("w");
  await ka.put("k.1", enc("1"));
  await ka.put("k.2", enc("2"));
  const seen = new Inbox<string>();
  await kb.watch((entry) => seen.push(`${entry.operation} ${entry.key} ${dec(entry.value)}`), {
    onReady: () => seen.push("ready"),
  });
  await seen.waitFor(3);
  cluster.disconnect("b");
  await ka.put("k.1", enc("1'"));
  await ka.put("k.1", enc("1''"));
  await ka.delete("k.2");
  await ka.put("k.3", enc("3"));
  await cluster.settle();
  assert.equal(seen.items.length, 3);
  cluster.reconnect("b");
  await seen.waitFor(6);
  assert.deepEqual(seen.items.slice(3), ["put k.1 1''", "delete k.2 ", "put k.3 3"]);
  await a.close();
  await b.close();
});

Deno.test("memory link: a killed link vanishes silently", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = cluster.link("a");
  const b = cluster.link("b");
  const statuses: LinkStatus[] = [];
  b.onStatus((s) => statuses.push(s));
  const atB = new Inbox<string>();
  await b.subscribe("svc", (m) => {
    atB.push(dec(m.data));
    m.respond?.(enc("ok"));
  });
  const lease = await (await b.bucket("lease", { maxAgeMs: 10_000 })).put("node.b", enc("b"));
  assert.equal(dec(await a.request("svc", enc("1"), 1000)), "ok");
  const stranded = b.request("svc", enc("?"), 1000);
  let settled = false;
  stranded.then(() => settled = true, () => settled = true);
  cluster.kill("b");
  await assert.rejects(
    a.request("svc", enc("2"), 1000),
    (error) => error instanceof LinkRequestError && error.kind === "no_responders",
  );
  const ka = await a.bucket("lease");
  assert.equal((await ka.get("node.b"))?.revision, lease, "its entries stay");
  clock.advance(10_000);
  assert.equal(await ka.get("node.b"), null, "until they expire");
  await cluster.settle();
  assert.equal(settled, false);
  assert.deepEqual(statuses, []);
  assert.deepEqual(atB.items, ["1"]);
  assert.equal(clock.pendingTimers, 0);
  // Its name can be used again, as by a restarted node.
  const b2 = cluster.link("b");
  await b.close();
  await a.close();
  await b2.close();
});

// ---- a real server that dies and comes back ----

Deno.test("nats link: server killed → disconnected, restarted → connected, all works again", async () => {
  const { connectNats } = await import("../src/cluster/nats_link.ts");
  await using server = await NatsServer.start();
  const a = await connectNats([server.url], { name: "a", reconnectWaitMs: 100 });
  const b = await connectNats([server.url], { name: "b", reconnectWaitMs: 100 });
  try {
    const statuses = new Inbox<LinkStatus>();
    a.onStatus(statuses.push);
    const bUp = new Inbox<LinkStatus>();
    b.onStatus(bUp.push);
    const atB = new Inbox<string>();
    await b.subscribe("life.*", (m) => atB.push(dec(m.data)));
    await b.subscribe("svc.life", (m) => m.respond?.(enc("pong")));
    const kb = await b.bucket("sb_life");
    const watched = new Inbox<string>();
    await kb.watch((entry) => watched.push(`${entry.key}=${dec(entry.value)}`));
    const ka = await a.bucket("sb_life");
    await ka.put("k", enc("1"));
    await watched.waitFor(1);

    await server.kill();
    await statuses.waitFor(1);
    assert.equal(a.status, "disconnected");
    await server.restart();
    await statuses.waitFor(2);
    await bUp.waitFor(2);
    assert.deepEqual(statuses.items, ["disconnected", "connected"]);
    assert.deepEqual(bUp.items, ["disconnected", "connected"]);

    // b's subscriptions are back: a request reaches them once b's interest is re-sent.
    let reply = "";
    for (let i = 0; i < 100 && reply === ""; i++) {
      try {
        reply = dec(await a.request("svc.life", enc("ping"), 1000));
      } catch (error) {
        if (!(error instanceof LinkRequestError)) throw error;
        await sleep(100);
      }
    }
    assert.equal(reply, "pong");
    a.publish("life.x", enc("after restart"));
    await atB.waitFor(1);
    assert.ok(atB.items.includes("after restart"));
    // The watch goes on with changes made after the restart.
    await ka.put("k", enc("2"));
    await watched.waitFor(2);
    assert.deepEqual(watched.items, ["k=1", "k=2"]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("nats link: a failed first connection names the server", async () => {
  const { connectNats } = await import("../src/cluster/nats_link.ts");
  const port = freePort();
  await assert.rejects(
    connectNats([`127.0.0.1:${port}`], { name: "lonely", connectTimeoutMs: 2000 }),
    (error) => error instanceof Error && error.message.includes(`127.0.0.1:${port}`),
  );
});

Deno.test("nats link: a bucket create that times out (server frozen past the API timeout) is tried again and succeeds", async () => {
  const { connectNats } = await import("../src/cluster/nats_link.ts");
  await using server = await NatsServer.start();
  const link = await connectNats([server.url], { name: "patient", apiTimeoutMs: 300 });
  try {
    server.pause();
    // frozen for longer than one API request may take: the first create times out
    const thawed = new Promise<void>((resolve) =>
      setTimeout(() => {
        server.resume();
        resolve();
      }, 450)
    );
    const bucket = await link.bucket("slow_start", { maxAgeMs: 10_000 });
    await thawed;
    await bucket.put("k", new TextEncoder().encode("v"));
    assert.deepEqual((await bucket.get("k"))?.value, new TextEncoder().encode("v"));
  } finally {
    server.resume();
    await link.close();
  }
});

Deno.test("nats link: nodes opening the same buckets at the same moment all get them (stream creation race; 24 links fail without the retry)", async () => {
  const { connectNats } = await import("../src/cluster/nats_link.ts");
  await using server = await NatsServer.start();
  const links = await Promise.all(
    Array.from({ length: 24 }, (_, i) => connectNats([server.url], { name: `racer${i}` })),
  );
  try {
    for (let round = 0; round < 15; round++) {
      const names = [`race_a${round}`, `race_b${round}`, `race_c${round}`];
      // every link opens every bucket at once, as nodes starting together do
      const buckets = await Promise.all(
        links.flatMap((l) => names.map((n) => l.bucket(n, { maxAgeMs: 10_000 }))),
      );
      assert.equal(buckets.length, links.length * names.length);
      await buckets[0]!.put("k", new TextEncoder().encode("v"));
      const other = buckets[buckets.length - 3]!; // the last link's handle of the same bucket
      assert.deepEqual((await other.get("k"))?.value, new TextEncoder().encode("v"));
    }
  } finally {
    for (const l of links) await l.close();
  }
});
