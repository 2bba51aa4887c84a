/**
 * Calls and registrations across nodes, in-process: two or three nodes, each a real `Dealer`
 * with fake sessions, joined by the in-memory twin of NATS (MemoryCluster) on a FakeClock.
 * What a cluster must agree on (single races, policies, order, pattern resolution) and what
 * a forwarded call must keep (payloads, errors, progressive results and invocations, cancel
 * modes, timeouts, disclosure), plus failure: a dead node, no responders, a node cut off whose
 * exclusive registration is taken meanwhile, and hostile messages on the bus.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import {
  ClusterRegistrations,
  REVOKED_REASON,
  TOMBSTONE_MS,
} from "../src/cluster/cluster_registrations.ts";
import { decode, encode } from "../src/cluster/codec.ts";
import { nodeSubject } from "../src/cluster/call_wire.ts";
import { PATTERN_LISTING_BURST, PATTERN_LISTING_INTERVAL_MS } from "../src/cluster/call_miss.ts";
import type { ClusterLink, KvBucket, KvBucketOptions } from "../src/cluster/link.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import { MAX_KEY_LENGTH, registrationId } from "../src/cluster/registration_wire.ts";
import { uriKey } from "../src/cluster/subjects.ts";
import { ACK_AFTER_MS, FORWARD_TIMEOUT_MS, RemoteCalls } from "../src/cluster/remote_calls.ts";
import type { Logger } from "../src/log.ts";
import { agreedLink } from "../src/router/agreed_dispatch.ts";
import { Dealer } from "../src/router/dealer.ts";
import type { DealerLink } from "../src/router/dealer_link.ts";
import type { Session } from "../src/router/session.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { WampError } from "../src/wamp/errors.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import type { Dict, ErrorMessage, Invocation, Message, Result } from "../src/wamp/messages.ts";
import type { MatchPolicy } from "../src/wamp/uris.ts";
import { type FakeSession, fakeSession } from "./_session_ref.ts";

const CALLEE = [
  "callee.progressive_call_results",
  "callee.progressive_call_invocations",
  "callee.call_canceling",
  "callee.registration_revocation",
];
const CALLER = [
  "caller.progressive_call_results",
  "caller.progressive_call_invocations",
  "caller.call_canceling",
];

interface TestLogger extends Logger {
  readonly lines: string[];
}

function testLogger(): TestLogger {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { lines, error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug") };
}

let nextSession = 1;

class TestNode {
  readonly dealer: Dealer;
  readonly sessions = new Map<number, SessionRef>();
  readonly calls: RemoteCalls;
  readonly regs: ClusterRegistrations;
  readonly dealerLink: DealerLink;
  readonly logger = testLogger();
  /** The registration meta events this node's dealer raised, as `kind session`. */
  readonly meta: string[] = [];

  constructor(readonly name: string, readonly link: ClusterLink, clock: FakeClock) {
    const note = (kind: string) => (s: SessionRef) => this.meta.push(`${kind} ${s.id}`);
    this.dealer = new Dealer(clock, {
      onCreate: note("create"),
      onRegister: note("register"),
      onUnregister: note("unregister"),
      onDelete: note("delete"),
    });
    const realm = { dealer: this.dealer, sessions: this.sessions };
    const host = { realm: (n: string) => n === "r" ? realm : undefined };
    this.calls = new RemoteCalls(link, name, host, this.logger, clock);
    this.regs = new ClusterRegistrations(
      link,
      name,
      `${name}-1`,
      host,
      this.calls,
      clock,
      this.logger,
    );
    this.dealerLink = this.regs.linkFor("r");
  }

  async start(): Promise<this> {
    await this.calls.start();
    await this.regs.start();
    this.regs.applyRealm("r");
    return this;
  }

  join(features: string[] = [...CALLEE, ...CALLER]): FakeSession {
    const s = fakeSession(nextSession++ * 1000 + this.name.length, { features });
    this.sessions.set(s.id, s);
    return s;
  }

  /** REGISTER as the realm does it: agree, then commit; the id, or the refusing error. */
  async register(
    s: SessionRef,
    uri: string,
    options: Dict = {},
    match: MatchPolicy = "exact",
  ): Promise<number | WampError> {
    try {
      const commit = await this.dealerLink.register(s, uri, match, options);
      return commit().id;
    } catch (e) {
      if (e instanceof WampError) return e;
      throw e;
    }
  }

  async unregister(s: SessionRef, id: number): Promise<void> {
    const reg = this.dealer.get(id)!;
    (await this.dealerLink.unregister(s, reg))();
  }

  leave(s: SessionRef): void {
    this.sessions.delete(s.id);
    this.dealer.removeSession(s);
    this.dealerLink.sessionLeft(s);
    // as a router session does once it ended (src/router/session.ts)
    (s as { id: number }).id = 0;
  }

  call(s: SessionRef, request: number, procedure: string, options: Dict = {}, more: Dict = {}) {
    this.dealer.call(s, { type: T.CALL, request, options, procedure, ...more }, false);
  }
}

async function cluster(...names: string[]) {
  return await clusterWith({}, ...names);
}

async function clusterWith(
  options: { maxPayload?: number; wrap?: (name: string, link: ClusterLink) => ClusterLink },
  ...names: string[]
) {
  const clock = new FakeClock();
  const mem = new MemoryCluster({ clock, maxPayload: options.maxPayload });
  const wrap = options.wrap ?? ((_: string, link: ClusterLink) => link);
  const nodes = await Promise.all(
    names.map((n) => new TestNode(n, wrap(n, mem.link(n)), clock).start()),
  );
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await mem.settle();
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { clock, mem, nodes, settle };
}

function last<M extends Message>(s: FakeSession, type: number): M {
  const all = s.of(type);
  assert.ok(all.length > 0, `no message of type ${type} in ${JSON.stringify(s.sent)}`);
  return all[all.length - 1] as M;
}

Deno.test("a single registration is exclusive across nodes: of two racing, exactly one wins", async () => {
  for (let round = 0; round < 10; round++) {
    const { nodes: [a, b], settle } = await cluster("a", "b");
    const [ra, rb] = await Promise.all([
      a!.register(a!.join(), "com.p"),
      b!.register(b!.join(), "com.p"),
    ]);
    const won = [ra, rb].filter((r) => typeof r === "number");
    const lost = [ra, rb].filter((r) => r instanceof WampError) as WampError[];
    assert.equal(won.length, 1, `round ${round}: ${String(ra)} ${String(rb)}`);
    assert.equal(lost[0]!.uri, "wamp.error.procedure_already_exists");
    await settle();
    // Both dealers agree on the one registration and its id.
    const id = registrationId("r", "exact", "com.p");
    assert.equal(won[0], id);
    assert.equal(a!.dealer.lookup("com.p", "exact")?.id, id);
    assert.equal(b!.dealer.lookup("com.p", "exact")?.id, id);
    assert.equal(a!.dealer.lookup("com.p", "exact")?.callees.length, 1);
    assert.equal(b!.dealer.lookup("com.p", "exact")?.callees.length, 1);
  }
});

Deno.test("one invoke policy cluster-wide: another policy on another node is refused", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  assert.equal(typeof await a!.register(a!.join(), "com.p", { invoke: "roundrobin" }), "number");
  await settle();
  const r = await b!.register(b!.join(), "com.p", { invoke: "random" });
  assert.ok(r instanceof WampError);
  assert.equal(r.uri, "wamp.error.procedure_exists_with_different_invocation_policy");
  const bad = await b!.register(b!.join(), "com.q", { invoke: "sometimes" });
  assert.ok(bad instanceof WampError);
  assert.equal(bad.uri, "wamp.error.invalid_argument");
});

Deno.test("a call reaches a callee on another node: args, kwargs, binary, disclosure, callee error", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  const id = await b!.register(callee, "com.echo", { disclose_caller: true });
  await settle();
  const caller = a!.join();
  const bytes = new Uint8Array([0, 1, 2, 255]);
  a!.call(caller, 7, "com.echo", {}, { args: [1, "x", bytes], kwargs: { k: bytes } });
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  assert.equal(inv.registration, id);
  assert.deepEqual(inv.args, [1, "x", bytes]);
  assert.ok(inv.args![2] instanceof Uint8Array);
  assert.deepEqual(inv.kwargs, { k: bytes });
  assert.equal(inv.details.caller, caller.id);
  assert.equal(inv.details.caller_authid, caller.authid);
  b!.dealer.yield(callee, {
    type: T.YIELD,
    request: inv.request,
    options: {},
    args: [bytes],
    kwargs: { ok: true },
  });
  await settle();
  const res = last<Result>(caller, T.RESULT);
  assert.equal(res.request, 7);
  assert.deepEqual(res.args, [bytes]);
  assert.ok(res.args![0] instanceof Uint8Array);
  assert.deepEqual(res.kwargs, { ok: true });
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });

  a!.call(caller, 8, "com.echo", {}, { args: [2] });
  await settle();
  const inv2 = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.error(callee, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: inv2.request,
    details: {},
    error: "com.error.bad",
    args: ["nope"],
    kwargs: { why: 1 },
  });
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(err.request, 8);
  assert.equal(err.error, "com.error.bad");
  assert.deepEqual(err.args, ["nope"]);
  assert.deepEqual(err.kwargs, { why: 1 });
});

Deno.test("progressive results and progressive invocations cross nodes", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.stream");
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.stream", { receive_progress: true, progress: true }, { args: [1] });
  await settle();
  const first = last<Invocation>(callee, T.INVOCATION);
  assert.equal(first.details.receive_progress, true);
  assert.equal(first.details.progress, true);
  a!.call(caller, 1, "com.stream", { progress: true }, { args: [2] });
  a!.call(caller, 1, "com.stream", {}, { args: [3] });
  await settle();
  const invs = callee.of(T.INVOCATION) as Invocation[];
  assert.deepEqual(invs.map((i) => i.args), [[1], [2], [3]]);
  assert.ok(invs.every((i) => i.request === first.request));
  assert.deepEqual(invs.map((i) => i.details.progress === true), [true, true, false]);
  for (const n of [10, 20]) {
    b!.dealer.yield(callee, {
      type: T.YIELD,
      request: first.request,
      options: { progress: true },
      args: [n],
    });
  }
  b!.dealer.yield(callee, { type: T.YIELD, request: first.request, options: {}, args: [30] });
  await settle();
  const results = caller.of(T.RESULT) as Result[];
  assert.deepEqual(results.map((r) => [r.args, r.details.progress === true]), [
    [[10], true],
    [[20], true],
    [[30], false],
  ]);
});

Deno.test("cancel across nodes: skip, kill and killnowait behave as on one node", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.slow");
  await settle();
  const caller = a!.join();
  const cancel = (request: number, mode: string) =>
    a!.dealer.cancel(caller, { type: T.CANCEL, request, options: { mode } });

  a!.call(caller, 1, "com.slow");
  await settle();
  cancel(1, "skip");
  await settle();
  assert.equal(last<ErrorMessage>(caller, T.ERROR).error, "wamp.error.canceled");
  assert.equal(callee.of(T.INTERRUPT).length, 0);

  a!.call(caller, 2, "com.slow");
  await settle();
  cancel(2, "killnowait");
  await settle();
  assert.equal(last<ErrorMessage>(caller, T.ERROR).request, 2);
  assert.deepEqual((last(callee, T.INTERRUPT) as { options: Dict }).options.mode, "killnowait");

  a!.call(caller, 3, "com.slow");
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  cancel(3, "kill");
  await settle();
  assert.equal((last(callee, T.INTERRUPT) as { options: Dict }).options.mode, "kill");
  assert.equal(caller.of(T.ERROR).length, 2, "kill waits for the callee's answer");
  b!.dealer.error(callee, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: inv.request,
    details: {},
    error: "wamp.error.canceled",
  });
  await settle();
  assert.equal(last<ErrorMessage>(caller, T.ERROR).request, 3);
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
});

Deno.test("the dealer-enforced timeout of a forwarded call runs on the callee's node", async () => {
  const { clock, nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.slow", { forward_timeout: false });
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.slow", { timeout: 500 });
  await settle();
  assert.equal(last<Invocation>(callee, T.INVOCATION).details.timeout, undefined);
  clock.advance(499);
  await settle();
  assert.equal(caller.of(T.ERROR).length, 0);
  clock.advance(1);
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(err.error, "wamp.error.canceled");
  assert.match(String(err.args?.[0]), /timed out after 500 ms/);
  assert.equal((last(callee, T.INTERRUPT) as { options: Dict }).options.mode, "killnowait");
});

Deno.test("roundrobin spreads over callees of every node; first/last follow one cluster-wide order", async () => {
  const { nodes: [a, b, c], settle } = await cluster("a", "b", "c");
  const ca = a!.join(), cb = b!.join(), cc = c!.join();
  await a!.register(ca, "com.rr", { invoke: "roundrobin" });
  await settle();
  await b!.register(cb, "com.rr", { invoke: "roundrobin" });
  await settle();
  await c!.register(cc, "com.rr", { invoke: "roundrobin" });
  await settle();
  const caller = a!.join();
  for (let i = 1; i <= 6; i++) a!.call(caller, i, "com.rr");
  await settle();
  assert.deepEqual([ca, cb, cc].map((s) => s.of(T.INVOCATION).length), [2, 2, 2]);

  // first/last: every node's dealer has the callees in the same (registration) order.
  const f1 = c!.join(), f2 = a!.join(), f3 = b!.join();
  await c!.register(f1, "com.first", { invoke: "first" });
  await settle();
  await a!.register(f2, "com.first", { invoke: "first" });
  await settle();
  await b!.register(f3, "com.first", { invoke: "first" });
  await settle();
  for (const n of [a!, b!, c!]) {
    assert.deepEqual(n.dealer.lookup("com.first", "exact")!.callees.map((x) => x.session.id), [
      f1.id,
      f2.id,
      f3.id,
    ]);
  }
  b!.call(b!.join(), 1, "com.first");
  await settle();
  assert.equal(f1.of(T.INVOCATION).length, 1);
});

/** `s`, a callee of `node`, answers its last INVOCATION with `wamp.error.unavailable`. */
function unavailable(node: TestNode, s: FakeSession): void {
  node.dealer.error(s, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: last<Invocation>(s, T.INVOCATION).request,
    details: {},
    error: "wamp.error.unavailable",
    args: ["busy"],
  });
}

Deno.test("call re-routing: a call moves over the callees of every node, by the cluster-wide policy", async () => {
  const { clock, nodes: [a, b, c], settle } = await cluster("a", "b", "c");
  // "first": b1, b2, a1, c1 in the cluster-wide order; the caller is on a
  const b1 = b!.join(), b2 = b!.join(), a1 = a!.join(), c1 = c!.join();
  for (const [node, s] of [[b!, b1], [b!, b2], [a!, a1], [c!, c1]] as const) {
    await node.register(s, "com.busy", { invoke: "first", forward_timeout: false });
    await settle();
  }
  const caller = a!.join();
  a!.call(caller, 1, "com.busy", { timeout: 1000 }, { args: ["x"], kwargs: { k: 1 } });
  await settle();
  const order: number[] = [];
  for (const [node, s] of [[b!, b1], [b!, b2], [a!, a1]] as const) {
    assert.equal(s.of(T.INVOCATION).length, 1, `callee ${s.id} invoked`);
    order.push(s.id);
    clock.advance(100);
    unavailable(node, s);
    await settle();
  }
  const inv = last<Invocation>(c1, T.INVOCATION);
  assert.deepEqual([inv.args, inv.kwargs], [["x"], { k: 1 }]);
  assert.equal(caller.of(T.ERROR).length, 0, "the caller never sees unavailable");
  c!.dealer.yield(c1, { type: T.YIELD, request: inv.request, options: {}, args: ["done"] });
  await settle();
  assert.deepEqual(last<Result>(caller, T.RESULT).args, ["done"]);
  assert.deepEqual(order, [b1.id, b2.id, a1.id]);
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  for (const [node, s] of [[b!, b1], [b!, b2], [a!, a1], [c!, c1]] as const) {
    assert.deepEqual(node.dealer.openCalls(s), { asCaller: 0, asCallee: 0 });
  }

  // every callee unavailable: no_available_callee once, each tried once
  a!.call(caller, 2, "com.busy");
  await settle();
  for (const [node, s] of [[b!, b1], [b!, b2], [a!, a1], [c!, c1]] as const) {
    assert.equal(s.of(T.INVOCATION).length, 2);
    unavailable(node, s);
    await settle();
  }
  const none = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([none.request, none.error], [2, "wamp.error.no_available_callee"]);
  assert.equal(caller.of(T.ERROR).length, 1);

  // the time left goes along: 1000 ms in all, 400 spent on slow1 and slow2, the rest on slow3
  const slow1 = b!.join(), slow2 = a!.join(), slow3 = c!.join();
  for (const [node, s] of [[b!, slow1], [a!, slow2], [c!, slow3]] as const) {
    await node.register(s, "com.slow", { invoke: "first", forward_timeout: false });
    await settle();
  }
  a!.call(caller, 4, "com.slow", { timeout: 1000 });
  await settle();
  clock.advance(300);
  unavailable(b!, slow1);
  await settle();
  clock.advance(100);
  unavailable(a!, slow2);
  await settle();
  assert.equal(slow3.of(T.INVOCATION).length, 1);
  clock.advance(599);
  await settle();
  assert.equal(caller.of(T.ERROR).length, 1, "not yet");
  clock.advance(1);
  await settle();
  const late = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([late.request, late.error], [4, "wamp.error.canceled"]);
  // c enforced it (a's own timer for slow2 was dropped when the call left a): the time left
  assert.match(String(late.args?.[0]), /timed out after 600 ms/);
  assert.equal((last(slow3, T.INTERRUPT) as { options: Dict }).options.mode, "killnowait");
});

Deno.test("call re-routing across nodes: roundrobin moves on; a call canceled with kill does not move", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const rb = b!.join(), ra = a!.join();
  await b!.register(rb, "com.rr", { invoke: "roundrobin" });
  await settle();
  await a!.register(ra, "com.rr", { invoke: "roundrobin" });
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.rr");
  await settle();
  assert.equal(rb.of(T.INVOCATION).length, 1);
  unavailable(b!, rb);
  await settle();
  assert.equal(ra.of(T.INVOCATION).length, 1, "moved to a's callee");
  unavailable(a!, ra);
  await settle();
  assert.equal(last<ErrorMessage>(caller, T.ERROR).error, "wamp.error.no_available_callee");
  // a local callee unavailable moves the call to the other node's
  a!.call(caller, 2, "com.rr");
  await settle();
  const first = ra.of(T.INVOCATION).length === 2 ? ra : rb;
  const [here, there] = first === ra ? [a!, b!] : [b!, a!];
  unavailable(here, first);
  await settle();
  const other = first === ra ? rb : ra;
  const inv = last<Invocation>(other, T.INVOCATION);
  there.dealer.yield(other, { type: T.YIELD, request: inv.request, options: {}, args: [2] });
  await settle();
  assert.deepEqual(last<Result>(caller, T.RESULT).args, [2]);
  // kill: the callee's unavailable goes to the caller unchanged, as on one node
  const kb = b!.join();
  await b!.register(kb, "com.kill", { invoke: "roundrobin" });
  await settle();
  await a!.register(a!.join(), "com.kill", { invoke: "roundrobin" });
  await settle();
  a!.call(caller, 3, "com.kill");
  await settle();
  assert.equal(kb.of(T.INVOCATION).length, 1, "roundrobin starts at b's callee, registered first");
  a!.dealer.cancel(caller, { type: T.CANCEL, request: 3, options: { mode: "kill" } });
  await settle();
  unavailable(b!, kb);
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([err.request, err.error], [3, "wamp.error.unavailable"]);
});

Deno.test("pattern registrations resolve exact > longest prefix > wildcard over the whole cluster", async () => {
  const { nodes: [a, b, c], settle } = await cluster("a", "b", "c");
  const wild = a!.join(), short = b!.join(), long = c!.join(), exact = a!.join();
  await a!.register(wild, "org..x", {}, "wildcard");
  await b!.register(short, "com.", {}, "prefix");
  await c!.register(long, "com.app.", {}, "prefix");
  await a!.register(exact, "com.app.x", {});
  await settle();
  const caller = b!.join();
  b!.call(caller, 1, "com.app.x");
  b!.call(caller, 2, "com.app.y");
  b!.call(caller, 3, "com.other.x");
  b!.call(caller, 4, "org.z.x");
  await settle();
  assert.equal(exact.of(T.INVOCATION).length, 1);
  assert.equal(long.of(T.INVOCATION).length, 1);
  assert.equal((long.of(T.INVOCATION)[0] as Invocation).details.procedure, "com.app.y");
  assert.equal(short.of(T.INVOCATION).length, 1);
  assert.equal(wild.of(T.INVOCATION).length, 1);
  assert.equal((wild.of(T.INVOCATION)[0] as Invocation).details.procedure, "org.z.x");
  b!.call(caller, 5, "net.q");
  await settle();
  const none = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([none.request, none.error], [5, "wamp.error.no_such_procedure"]);
  assert.match(String(none.args?.[0]), /no callee registered/);
});

Deno.test("unregister and leave on one node free a single registration for another", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const s1 = a!.join();
  const id = await a!.register(s1, "com.p") as number;
  await settle();
  assert.ok(await b!.register(b!.join(), "com.p") instanceof WampError);
  await a!.unregister(s1, id);
  await settle();
  assert.equal(b!.dealer.lookup("com.p", "exact"), undefined);
  const s2 = b!.join();
  assert.equal(await b!.register(s2, "com.p"), id);
  await settle();
  b!.leave(s2);
  await settle();
  assert.equal(a!.dealer.lookup("com.p", "exact"), undefined);
  assert.equal(await a!.register(a!.join(), "com.p"), id);
  await settle();
  assert.equal(a!.regs.sizes.remoteCallees, 0);
  assert.equal(b!.regs.sizes.remoteCallees, 1);
});

Deno.test("callee or caller leaving mid-call: the other side hears of it", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.slow", { invoke: "roundrobin" });
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.slow");
  await settle();
  b!.leave(callee);
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(err.error, "wamp.error.canceled");
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });

  const callee2 = b!.join();
  await b!.register(callee2, "com.slow", { invoke: "roundrobin" });
  await settle();
  a!.call(caller, 2, "com.slow");
  await settle();
  assert.equal(callee2.of(T.INVOCATION).length, 1);
  a!.leave(caller);
  await settle();
  assert.equal((last(callee2, T.INTERRUPT) as { options: Dict }).options.mode, "killnowait");
  assert.deepEqual(b!.dealer.openCalls(callee2), { asCaller: 0, asCallee: 0 });
});

Deno.test("a dead node: its in-flight calls end with ERROR, its single registration can be taken", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.p");
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.p");
  await settle();
  assert.equal(callee.of(T.INVOCATION).length, 1);
  mem.kill("b");
  // a call made after the kill, before the node is declared dead: no responders
  a!.call(caller, 2, "com.p");
  await settle();
  const noResponders = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(noResponders.request, 2);
  assert.equal(noResponders.error, "wamp.error.network_failure");
  // membership declares b dead
  a!.calls.nodeDown("b");
  a!.regs.nodeDown("b", "b-1");
  await settle();
  const err = caller.of(T.ERROR).find((m) => (m as ErrorMessage).request === 1) as ErrorMessage;
  assert.equal(err?.error, "wamp.error.canceled");
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  assert.equal(a!.dealer.lookup("com.p", "exact"), undefined);
  assert.equal(typeof await a!.register(a!.join(), "com.p"), "number");
});

Deno.test("a node cut off whose exclusive registration is taken meanwhile revokes its own", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  const held = a!.join();
  const id = await a!.register(held, "com.p") as number;
  await settle();
  mem.disconnect("a");
  // b takes a for dead (its heartbeats stopped), cleans up, and takes the registration
  b!.calls.nodeDown("a");
  b!.regs.nodeDown("a", "a-1");
  await settle();
  const taker = b!.join();
  assert.equal(await b!.register(taker, "com.p"), id);
  await settle();
  // a kept serving its local callee meanwhile
  assert.equal(a!.dealer.lookup("com.p", "exact")?.callees[0]?.session, held);
  mem.reconnect("a");
  await settle();
  const revoked = last(held, T.UNREGISTERED) as { request: number; details: Dict };
  assert.equal(revoked.request, 0);
  assert.deepEqual(revoked.details, { registration: id, reason: REVOKED_REASON });
  await settle();
  assert.deepEqual(a!.dealer.lookup("com.p", "exact")?.callees.map((c) => c.session.id), [
    taker.id,
  ]);
  assert.equal(b!.dealer.lookup("com.p", "exact")?.callees.length, 1);
});

Deno.test("a node cut off re-asserts its registrations when nothing was taken", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  const held = a!.join();
  await a!.register(held, "com.p", { invoke: "roundrobin" });
  await settle();
  mem.disconnect("a");
  b!.calls.nodeDown("a");
  b!.regs.nodeDown("a", "a-1");
  await settle();
  assert.equal(b!.dealer.lookup("com.p", "exact"), undefined);
  mem.reconnect("a");
  await settle();
  assert.deepEqual(b!.dealer.lookup("com.p", "exact")?.callees.map((c) => c.session.id), [held.id]);
  assert.equal(held.of(T.UNREGISTERED).length, 0);
});

Deno.test("hostile bus messages are dropped and logged; the node goes on routing", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  const evil = mem.link("evil");
  const callee = b!.join();
  await b!.register(callee, "com.p");
  await settle();
  for (
    const junk of [
      new Uint8Array([0xc1]),
      encode({ k: "start" }),
      encode([1, 2]),
      encode({ k: "gone", realm: 1 }),
    ]
  ) {
    evil.publish(nodeSubject("b", "call"), junk);
    evil.publish(nodeSubject("a", "res"), junk);
  }
  const reply = await evil.request(nodeSubject("b", "call"), encode({ k: "chunk" }), 1000);
  assert.ok(reply.byteLength > 0);
  await settle();
  assert.ok(b!.logger.lines.some((l) => l.includes("malformed call message")));
  assert.ok(a!.logger.lines.some((l) => l.includes("malformed call reply")));
  const caller = a!.join();
  a!.call(caller, 1, "com.p");
  await settle();
  assert.equal(callee.of(T.INVOCATION).length, 1);
});

Deno.test("messages larger than the cluster passes end the call with payload_size_exceeded", async () => {
  const { nodes: [a, b], settle } = await clusterWith({ maxPayload: 4096 }, "a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.big");
  await settle();
  const caller = a!.join();
  const big = "x".repeat(8192);
  const errorOf = (request: number) =>
    caller.of(T.ERROR).find((m) => (m as ErrorMessage).request === request) as ErrorMessage;

  a!.call(caller, 1, "com.big", {}, { args: [big] });
  await settle();
  assert.equal(errorOf(1)?.error, "wamp.error.payload_size_exceeded");
  assert.equal(callee.of(T.INVOCATION).length, 0);

  a!.call(caller, 2, "com.big", {}, { args: ["small"] });
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {}, args: [big] });
  await settle();
  assert.equal(errorOf(2)?.error, "wamp.error.payload_size_exceeded");

  a!.call(caller, 3, "com.big");
  await settle();
  const inv3 = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.error(callee, {
    type: T.ERROR,
    requestType: T.INVOCATION,
    request: inv3.request,
    details: {},
    error: "com.error.huge",
    args: [big],
  });
  await settle();
  assert.equal(errorOf(3)?.error, "wamp.error.payload_size_exceeded");

  a!.call(caller, 4, "com.big", { progress: true }, { args: ["first"] });
  await settle();
  a!.call(caller, 4, "com.big", { progress: true }, { args: [big] });
  await settle();
  assert.equal(errorOf(4)?.error, "wamp.error.payload_size_exceeded");
  assert.equal((last(callee, T.INTERRUPT) as { options: Dict }).options.mode, "killnowait");
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
  assert.deepEqual(b!.dealer.openCalls(callee), { asCaller: 0, asCallee: 0 });
  // later chunks of the ended call are dropped, never a new call
  a!.call(caller, 4, "com.big", {}, { args: ["last"] });
  await settle();
  assert.equal(callee.of(T.INVOCATION).length, 3);
});

Deno.test("a callee revoked on its node (remove_callee, a reload) leaves the registration everywhere", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const ca = a!.join(), cb = b!.join();
  await a!.register(ca, "com.rr", { invoke: "roundrobin" });
  await b!.register(cb, "com.rr", { invoke: "roundrobin" });
  await settle();
  const reg = a!.dealer.lookup("com.rr", "exact")!;
  assert.equal(reg.callees.length, 2);
  a!.dealer.revoke(ca, reg, "wamp.error.not_authorized");
  await settle();
  assert.deepEqual(last(ca, T.UNREGISTERED), {
    type: T.UNREGISTERED,
    request: 0,
    details: { registration: reg.id, reason: "wamp.error.not_authorized" },
  });
  for (const n of [a!, b!]) {
    assert.deepEqual(n.dealer.lookup("com.rr", "exact")?.callees.map((c) => c.session.id), [cb.id]);
  }
  // a later change of the key does not bring it back
  await b!.register(b!.join(), "com.rr", { invoke: "roundrobin" });
  await settle();
  assert.ok(!a!.dealer.lookup("com.rr", "exact")!.callees.some((c) => c.session === ca));
});

Deno.test("a session leaving while its REGISTER is being agreed leaves no entry behind", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const s = a!.join();
  const pending = a!.dealerLink.register(s, "com.p", "exact", {});
  a!.leave(s);
  await pending; // agreed, but never committed: the realm does not reply to a gone session
  await settle();
  assert.equal(a!.dealer.lookup("com.p", "exact"), undefined);
  assert.equal(b!.dealer.lookup("com.p", "exact"), undefined);
  assert.equal(typeof await b!.register(b!.join(), "com.p"), "number");
});

Deno.test("a REGISTER while NATS is out of reach is decided locally and agreed on reconnection", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  mem.disconnect("a");
  const s = a!.join();
  const id = await a!.register(s, "com.offline", { invoke: "roundrobin" });
  assert.equal(id, registrationId("r", "exact", "com.offline"));
  assert.equal(a!.dealer.lookup("com.offline", "exact")?.callees[0]?.session, s);
  assert.ok(a!.logger.lines.some((l) => l.includes("registration not agreed")));
  mem.reconnect("a");
  await settle();
  assert.deepEqual(b!.dealer.lookup("com.offline", "exact")?.callees.map((c) => c.session.id), [
    s.id,
  ]);
});

Deno.test("registration meta events come from the node of the callee, once", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const ca = a!.join(), cb = b!.join();
  await a!.register(ca, "com.m", { invoke: "roundrobin" });
  await settle();
  await b!.register(cb, "com.m", { invoke: "roundrobin" });
  await settle();
  assert.deepEqual(a!.meta, [`create ${ca.id}`, `register ${ca.id}`]);
  assert.deepEqual(b!.meta, [`register ${cb.id}`]);
  const [ida, idb] = [ca.id, cb.id];
  a!.leave(ca);
  await settle();
  b!.leave(cb);
  await settle();
  assert.deepEqual(a!.meta.slice(2), [`unregister ${ida}`]);
  assert.deepEqual(b!.meta.slice(1), [`unregister ${idb}`, `delete ${idb}`]);
});

Deno.test("the caller's node dies: the callees of its calls are interrupted", async () => {
  const { mem, nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.slow");
  await settle();
  const caller = a!.join();
  a!.call(caller, 1, "com.slow");
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  mem.kill("a");
  b!.calls.nodeDown("a");
  b!.regs.nodeDown("a", "a-1");
  await settle();
  const interrupt = last(callee, T.INTERRUPT) as { request: number; options: Dict };
  assert.equal(interrupt.request, inv.request);
  assert.equal(interrupt.options.mode, "killnowait");
  assert.deepEqual(b!.dealer.openCalls(callee), { asCaller: 0, asCallee: 0 });
});

Deno.test("callee churn across nodes leaves nothing behind", async () => {
  const { clock, nodes: [a, b], settle } = await cluster("a", "b");
  const caller = a!.join();
  for (let round = 0; round < 3; round++) {
    const sessions = Array.from({ length: 100 }, () => b!.join());
    await Promise.all(
      sessions.map((s, i) =>
        b!.register(s, i % 2 ? `com.churn.${round}.${i}` : "com.shared", { invoke: "random" })
      ),
    );
    await settle();
    assert.equal(a!.regs.sizes.remoteCallees, 100);
    a!.call(caller, round + 1, "com.shared");
    for (const s of sessions) b!.leave(s);
    await settle();
  }
  for (const n of [a!, b!]) {
    assert.deepEqual([...n.dealer.all()], []);
    const { held, sessions, remoteCallees } = n.regs.sizes;
    assert.deepEqual({ held, sessions, remoteCallees }, { held: 0, sessions: 0, remoteCallees: 0 });
  }
  assert.ok(a!.regs.sizes.keys > 0, "deleted keys are remembered for a while");
  clock.advance(TOMBSTONE_MS);
  await settle();
  assert.equal(a!.regs.sizes.keys, 0);
  assert.equal(b!.regs.sizes.keys, 0);
  assert.deepEqual(a!.dealer.openCalls(caller), { asCaller: 0, asCallee: 0 });
});

Deno.test("a forwarded call is two NATS messages: its answer acknowledges the start; a long one is acknowledged with ok", async () => {
  const { clock, mem, nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.p");
  await settle();
  // what crosses to b's call subject besides the calls themselves (a's cancels)
  const spy = mem.link("spy");
  const toB: string[] = [];
  await spy.subscribe(
    nodeSubject("b", "call"),
    (m) => toB.push((decode(m.data) as { k: string }).k),
  );
  const caller = a!.join();
  a!.call(caller, 1, "com.p");
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {}, args: ["quick"] });
  await settle();
  assert.deepEqual(last<Result>(caller, T.RESULT).args, ["quick"]);
  // a dropped its wait for the start's reply: nothing times out, nothing is canceled at b
  clock.advance(FORWARD_TIMEOUT_MS + ACK_AFTER_MS);
  await settle();
  assert.equal(caller.of(T.ERROR).length, 0);
  assert.deepEqual(toB, ["start"]);

  // a call running longer than the forward timeout: b's ok keeps a waiting for its answer
  a!.call(caller, 2, "com.p");
  await settle();
  for (let t = 0; t < FORWARD_TIMEOUT_MS * 2; t += 250) {
    clock.advance(250);
    await settle();
  }
  assert.equal(caller.of(T.ERROR).length, 0, "no network_failure: b acknowledged the call");
  const inv2 = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.yield(callee, { type: T.YIELD, request: inv2.request, options: {}, args: ["slow"] });
  await settle();
  assert.deepEqual(last<Result>(caller, T.RESULT).args, ["slow"]);
  assert.deepEqual(toB, ["start", "start"]);
});

Deno.test("a callee node that does not take a call in time: network_failure, and the call is canceled there", async () => {
  const { clock, mem, nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.p");
  await settle();
  // b stops answering (its handlers are gone) but something still listens on its subject
  b!.calls.stop();
  const mute = mem.link("mute");
  const heard: unknown[] = [];
  await mute.subscribe(nodeSubject("b", "call"), (m) => heard.push(decode(m.data)));
  const caller = a!.join();
  a!.call(caller, 1, "com.p");
  await settle();
  assert.equal(caller.of(T.ERROR).length, 0);
  clock.advance(FORWARD_TIMEOUT_MS);
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(err.error, "wamp.error.network_failure");
  assert.deepEqual(heard.map((m) => (m as { k: string }).k), ["start", "cancel"]);
});

Deno.test("a call to a callee that just left its node, before this node heard: no_such_procedure", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join();
  await b!.register(callee, "com.p", { invoke: "first" });
  await settle();
  const caller = a!.join();
  b!.leave(callee);
  a!.call(caller, 1, "com.p", { progress: true }, { args: [1] });
  a!.call(caller, 1, "com.p", {}, { args: [2] });
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.equal(err.error, "wamp.error.no_such_procedure");
  assert.equal(caller.of(T.ERROR).length, 1, "the later chunk is dropped, not a new call");
  assert.equal(a!.dealer.lookup("com.p", "exact"), undefined);
});

Deno.test("disclose_me, forward_timeout and payload passthru cross nodes", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  const callee = b!.join([...CALLEE, "callee.payload_passthru_mode"]);
  await b!.register(callee, "com.p", { forward_timeout: true });
  await settle();
  const caller = a!.join([...CALLER, "caller.payload_passthru_mode"]);
  // the realm decided to disclose the caller (disclose_me, or its role's rule)
  a!.dealer.call(caller, {
    type: T.CALL,
    request: 1,
    options: { timeout: 1000, ppt_scheme: "x_custom", ppt_serializer: "native" },
    procedure: "com.p",
    args: [new Uint8Array([1, 2])],
  }, true);
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  assert.equal(inv.details.caller, caller.id);
  assert.equal(inv.details.timeout, 1000);
  assert.equal(inv.details.ppt_scheme, "x_custom");
  assert.equal(inv.details.ppt_serializer, "native");
  b!.dealer.yield(callee, {
    type: T.YIELD,
    request: inv.request,
    options: { ppt_scheme: "x_custom", ppt_serializer: "native" },
    args: [new Uint8Array([3])],
  });
  await settle();
  const res = last<Result>(caller, T.RESULT);
  assert.equal(res.details.ppt_scheme, "x_custom");
  assert.deepEqual(res.args, [new Uint8Array([3])]);

  // a caller without passthru gets the callee's passthru result refused, as on one node
  const plain = a!.join();
  a!.call(plain, 2, "com.p");
  await settle();
  const inv2 = last<Invocation>(callee, T.INVOCATION);
  b!.dealer.yield(callee, {
    type: T.YIELD,
    request: inv2.request,
    options: { ppt_scheme: "x_custom" },
    args: [],
  });
  await settle();
  assert.equal(last<ErrorMessage>(plain, T.ERROR).error, "wamp.error.feature_not_supported");
});

Deno.test("reserved URIs stay node-local: not agreed, and never taken from the bucket", async () => {
  const { mem, nodes: [a], settle } = await cluster("a");
  const link = a!.dealerLink;
  const client = { internal: false } as unknown as Session;
  const service = { internal: true } as unknown as Session;
  const register = (procedure: string): Message => ({
    type: T.REGISTER,
    request: 1,
    options: {},
    procedure,
  });
  assert.equal(agreedLink(link, client, register("com.x"), a!.dealer), link);
  assert.equal(agreedLink(link, client, register("wamp.session.count"), a!.dealer), null);
  assert.equal(agreedLink(link, client, register("switchboard.reload_config"), a!.dealer), null);
  assert.equal(agreedLink(link, service, register("com.x"), a!.dealer), null);
  assert.equal(agreedLink(undefined, client, register("com.x"), a!.dealer), null);

  // a node's own procedure is not replaced by what a peer writes in the bucket
  const own = a!.join();
  a!.dealer.register(own, "wamp.session.count", "exact", {});
  const evil = mem.link("evil");
  const bucket = await evil.bucket("sb_regs");
  await bucket.put(
    uriKey("r", "exact", "wamp.session.count"),
    encode({
      id: 1,
      invoke: "single",
      created: "x",
      callees: [{
        node: "evil",
        incarnation: "1",
        session: 5,
        authid: "x",
        authrole: "x",
        features: 0,
        disclose_caller: false,
        forward_timeout: false,
      }],
    }),
  );
  await settle();
  assert.deepEqual(
    a!.dealer.lookup("wamp.session.count", "exact")?.callees.map((c) => c.session),
    [own],
  );
});

Deno.test("a registration with more callees than one bucket entry holds refuses the next one", async () => {
  const { nodes: [a, b], settle } = await clusterWith({ maxPayload: 2000 }, "a", "b");
  const results: (number | WampError)[] = [];
  for (let i = 0; i < 30; i++) {
    const n = i % 2 ? a! : b!;
    results.push(await n.register(n.join(), "com.crowd", { invoke: "roundrobin" }));
  }
  await settle();
  const refused = results.filter((r) => r instanceof WampError) as WampError[];
  const taken = results.length - refused.length;
  assert.ok(taken > 5 && refused.length > 0, `${taken} taken, ${refused.length} refused`);
  assert.equal(refused[0]!.uri, "wamp.error.runtime_error");
  assert.match(refused[0]!.message, /more than the cluster can store/);
  for (const n of [a!, b!]) {
    assert.equal(n.dealer.lookup("com.crowd", "exact")?.callees.length, taken);
  }
  assert.ok(!a!.logger.lines.some((l) => l.includes("not agreed")));
});

Deno.test("a call that overtakes the watch (an event announced the registration) still reaches the callee", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  // a's watch lags: stopped here, so only a direct read of the bucket can tell
  a!.regs.stop();
  const callee = b!.join();
  await b!.register(callee, "com.fresh");
  await settle();
  assert.equal(a!.dealer.lookup("com.fresh", "exact"), undefined);
  const caller = a!.join();
  a!.call(caller, 1, "com.fresh", {}, { args: ["hi"] });
  await settle();
  const inv = last<Invocation>(callee, T.INVOCATION);
  assert.deepEqual(inv.args, ["hi"]);
  b!.dealer.yield(callee, { type: T.YIELD, request: inv.request, options: {}, args: ["ok"] });
  await settle();
  assert.deepEqual(last<Result>(caller, T.RESULT).args, ["ok"]);
  // what is not in the bucket either: no_such_procedure, once
  a!.call(caller, 2, "com.never");
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([err.request, err.error], [2, "wamp.error.no_such_procedure"]);
  assert.equal(caller.of(T.ERROR).length, 1);
  // a progressive call invocation is not looked up (its chunks would race the lookup)
  const other = b!.join();
  await b!.register(other, "com.fresh2");
  await settle();
  assert.throws(
    () => a!.call(caller, 3, "com.fresh2", { progress: true }),
    /no callee registered for "com.fresh2"/,
  );
});

Deno.test("a procedure too long for a bucket key is refused; a call to one finds only patterns (no exact key to read)", async () => {
  const log: string[] = [];
  const { nodes: [a, b], settle } = await clusterWith(
    { wrap: (name, link) => name === "a" ? recorded(link, log) : link },
    "a",
    "b",
  );
  const long = `com.${"x".repeat(3000)}`;
  const r = await b!.register(b!.join(), long);
  assert.ok(r instanceof WampError);
  assert.equal(r.uri, "wamp.error.invalid_uri");
  assert.match(r.message, /too long/);
  const caller = a!.join();
  a!.call(caller, 1, long);
  await settle();
  assert.deepEqual(
    caller.of(T.ERROR).map((m) => (m as ErrorMessage).error),
    ["wamp.error.no_such_procedure"],
  );
  // routing goes on
  const callee = b!.join();
  await b!.register(callee, "com.ok");
  await settle();
  a!.call(caller, 2, "com.ok");
  await settle();
  assert.equal(callee.of(T.INVOCATION).length, 1);
  // a long procedure a pattern matches, registered elsewhere an instant ago (a's watch lags)
  a!.regs.stop();
  const pre = b!.join();
  await b!.register(pre, "com.x", {}, "prefix");
  await settle();
  assert.equal(a!.dealer.match(long), undefined);
  a!.call(caller, 3, long);
  await settle();
  assert.equal(last<Invocation>(pre, T.INVOCATION).details.procedure, long);
  assert.ok(log.some((l) => l.startsWith("keys ")));
  assert.ok(!log.some((l) => l.startsWith("get ") && l.length > 4 + MAX_KEY_LENGTH));
});

/**
 * `link` whose buckets record their `get` and `keys` calls in `log` (`get <key>`, `keys <prefix>`);
 * a listing, once it has read the bucket, waits for `gate()` before it answers.
 */
function recorded(
  link: ClusterLink,
  log: string[],
  gate: () => Promise<void> = () => Promise.resolve(),
): ClusterLink {
  const bucket = async (name: string, options?: KvBucketOptions): Promise<KvBucket> => {
    const b = await link.bucket(name, options);
    return {
      get: (key) => (log.push(`get ${key}`), b.get(key)),
      put: (key, value) => b.put(key, value),
      create: (key, value) => b.create(key, value),
      update: (key, value, revision) => b.update(key, value, revision),
      delete: (key, revision) => b.delete(key, revision),
      keys: async (prefix) => {
        log.push(`keys ${prefix}`);
        const keys = await b.keys(prefix);
        await gate();
        return keys;
      },
      watch: (onEntry, options) => b.watch(onEntry, options),
    };
  };
  return new Proxy(link, {
    get: (target, p) => {
      if (p === "bucket") return bucket;
      const v = Reflect.get(target, p);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test("a call that overtakes the watch finds prefix and wildcard registrations made on another node", async () => {
  const { nodes: [a, b], settle } = await cluster("a", "b");
  // a's watch lags: stopped here, so only a read of the bucket can tell
  a!.regs.stop();
  const pre = b!.join();
  await b!.register(pre, "com.pre", {}, "prefix");
  const wild = b!.join();
  await b!.register(wild, "org..run", {}, "wildcard");
  await settle();
  assert.equal(a!.dealer.lookup("com.pre", "prefix"), undefined);
  assert.equal(a!.dealer.lookup("org..run", "wildcard"), undefined);
  const caller = a!.join();
  a!.call(caller, 1, "com.prefixed.x", {}, { args: ["p"] });
  a!.call(caller, 2, "org.z.run", {}, { args: ["w"] });
  await settle();
  const ip = last<Invocation>(pre, T.INVOCATION);
  const iw = last<Invocation>(wild, T.INVOCATION);
  assert.deepEqual([ip.args, ip.details.procedure], [["p"], "com.prefixed.x"]);
  assert.deepEqual([iw.args, iw.details.procedure], [["w"], "org.z.run"]);
  b!.dealer.yield(pre, { type: T.YIELD, request: ip.request, options: {}, args: ["P"] });
  b!.dealer.yield(wild, { type: T.YIELD, request: iw.request, options: {}, args: ["W"] });
  await settle();
  assert.deepEqual(
    caller.of(T.RESULT).map((m) => [(m as Result).request, (m as Result).args]),
    [[1, ["P"]], [2, ["W"]]],
  );
  // a procedure no pattern matches: no_such_procedure, once
  a!.call(caller, 3, "org.z.walk");
  await settle();
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([err.request, err.error], [3, "wamp.error.no_such_procedure"]);
  assert.equal(caller.of(T.ERROR).length, 1);
});

Deno.test("a call that overtakes the watch resolves exact > longest prefix > wildcard, as a watched one", async () => {
  const registered: [string, string, MatchPolicy][] = [
    ["exact", "com.app.x.go", "exact"],
    ["prefix", "com.app", "prefix"],
    ["longer prefix", "com.app.x", "prefix"],
    ["wildcard", "com.app..go", "wildcard"],
    ["other wildcard", "com..y.go", "wildcard"],
  ];
  /** Which callee a CALL on a to `procedure` reaches, all registered on b, a's watch lagging. */
  const route = async (procedure: string, lagging: boolean) => {
    const { nodes: [a, b], settle } = await cluster("a", "b");
    if (lagging) a!.regs.stop();
    const callees = new Map<string, FakeSession>();
    for (const [name, uri, match] of registered) {
      const s = b!.join();
      callees.set(name, s);
      assert.equal(typeof await b!.register(s, uri, {}, match), "number");
    }
    await settle();
    assert.equal(a!.dealer.match(procedure) === undefined, lagging);
    const caller = a!.join();
    a!.call(caller, 1, procedure);
    await settle();
    assert.equal(caller.of(T.ERROR).length, 0, procedure);
    return [...callees].filter(([, s]) => s.of(T.INVOCATION).length > 0).map(([n]) => n);
  };
  for (
    const [procedure, expected] of [
      ["com.app.x.go", "exact"], // exact, both prefixes, the wildcard
      ["com.app.x.stop", "longer prefix"], // both prefixes
      ["com.app.y.go", "prefix"], // a prefix, both wildcards
      ["com.b.y.go", "other wildcard"], // a wildcard only
      ["com.apple", "prefix"], // a string prefix
    ]
  ) {
    assert.deepEqual(await route(procedure!, true), [expected], procedure);
    assert.deepEqual(await route(procedure!, false), [expected], procedure);
  }
});

Deno.test("a burst of calls to unknown procedures lists the bucket a bounded number of times; every caller gets no_such_procedure, other calls go on", async () => {
  const log: string[] = [];
  const { nodes: [a, b], settle, clock } = await clusterWith(
    { wrap: (name, link) => name === "a" ? recorded(link, log) : link },
    "a",
    "b",
  );
  const known = b!.join();
  await b!.register(known, "com.known");
  await settle();
  // a's watch lags from here on: what b registers now, a can learn of only from the bucket
  a!.regs.stop();
  const fresh = b!.join();
  await b!.register(fresh, "com.fresh", {}, "prefix");
  for (let i = 0; i < 20; i++) await b!.register(b!.join(), `net.n${i}`, {}, "prefix");
  await settle();
  log.length = 0;
  const listings = () => log.filter((l) => l.startsWith("keys ")).length;
  const hostile = Array.from({ length: 10 }, () => a!.join());
  let sent = 0;
  const spam = (n: number) => {
    for (let i = 0; i < n; i++, sent++) a!.call(hostile[sent % 10]!, sent + 1, `com.nope.${sent}`);
  };
  const errors = () => hostile.flatMap((s) => s.of(T.ERROR) as ErrorMessage[]);
  const friend = a!.join();
  spam(1000);
  // meanwhile: a call a's dealer can route, and a miss that the bucket answers
  a!.call(friend, 1, "com.known");
  a!.call(friend, 2, "com.fresh.x");
  await settle();
  const burst = listings();
  assert.ok(burst > 0 && burst <= 4, `${burst} listings for 1,000 misses (at most two rounds)`);
  assert.equal(errors().length, 1000);
  assert.ok(errors().every((e) => e.error === "wamp.error.no_such_procedure"));
  assert.deepEqual(
    errors().map((e) => e.request).sort((x, y) => x - y),
    [...Array(1000).keys()].map((i) => i + 1),
  );
  assert.equal(known.of(T.INVOCATION).length, 1);
  assert.equal(last<Invocation>(fresh, T.INVOCATION).details.procedure, "com.fresh.x");
  assert.equal(friend.of(T.ERROR).length, 0);
  // sustained misses (the clock does not move): the burst allowance is spent, then they wait
  for (let wave = 0; wave < 2 * PATTERN_LISTING_BURST; wave++) {
    spam(100);
    await settle();
  }
  assert.ok(listings() <= 2 * PATTERN_LISTING_BURST, `${listings()} listings`);
  assert.ok(errors().length < sent, "some misses wait for the next round");
  // a call the dealer can route is not held up meanwhile
  a!.call(friend, 3, "com.known");
  await settle();
  assert.equal(known.of(T.INVOCATION).length, 2);
  // one round per interval answers them all
  let rounds = 0;
  for (; rounds < 5 && errors().length < sent; rounds++) {
    clock.advance(PATTERN_LISTING_INTERVAL_MS);
    await settle();
  }
  assert.equal(errors().length, sent);
  assert.ok(errors().every((e) => e.error === "wamp.error.no_such_procedure"));
  assert.ok(listings() <= 2 * (PATTERN_LISTING_BURST + rounds), `${listings()} listings`);
  assert.ok(!a!.logger.lines.some((l) => l.startsWith("warn")), a!.logger.lines.join("\n"));
});

Deno.test("a miss that arrives while a listing of the patterns runs waits for the next one, which sees what was registered meanwhile", async () => {
  const log: string[] = [];
  let open!: () => void;
  let gate = new Promise<void>((resolve) => open = resolve);
  const { nodes: [a, b], settle } = await clusterWith(
    { wrap: (name, link) => name === "a" ? recorded(link, log, () => gate) : link },
    "a",
    "b",
  );
  a!.regs.stop();
  const caller = a!.join();
  a!.call(caller, 1, "com.late.x");
  await settle();
  assert.equal(log.filter((l) => l.startsWith("keys ")).length, 2, "a round is listing");
  // registered after that round read the bucket's keys (held here), before the next miss
  const late = b!.join();
  await b!.register(late, "com.late", {}, "prefix");
  a!.call(caller, 2, "com.late.y");
  const held = gate;
  gate = Promise.resolve();
  open();
  await held;
  await settle();
  assert.equal(log.filter((l) => l.startsWith("keys ")).length, 4, "then one more round");
  // the first call came before the registration, the second after it
  const err = last<ErrorMessage>(caller, T.ERROR);
  assert.deepEqual([err.request, err.error], [1, "wamp.error.no_such_procedure"]);
  assert.deepEqual(late.of(T.INVOCATION).map((m) => (m as Invocation).details.procedure), [
    "com.late.y",
  ]);
});
