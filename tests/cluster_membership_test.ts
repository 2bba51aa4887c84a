/**
 * Membership on the in-memory twin and a FakeClock: node numbers claimed with compare-and-set
 * (unique, re-claimed after expiry), heartbeats, `up`/`down` events after `node_timeout` of
 * silence (a SIGKILLed node), at once for a node that stops or restarts (a new incarnation),
 * and session ids `number × 2^43 + random 43 bits`.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { MemoryCluster } from "../src/cluster/memory_link.ts";
import {
  Membership,
  type NodeEvent,
  nodeNumberOf,
  NODES_BUCKET,
  numberKey,
  sessionIdOf,
} from "../src/cluster/membership.ts";
import { encode } from "../src/cluster/codec.ts";
import { silentLogger } from "../src/log.ts";

function member(cluster: MemoryCluster, clock: FakeClock, node: string, link = node): Membership {
  return new Membership(cluster.link(link), {
    node,
    heartbeatMs: 1000,
    timeoutMs: 3000,
    clock,
    logger: silentLogger,
  });
}

/** Advances the clock in heartbeat steps, letting the twin deliver after each. */
async function run(cluster: MemoryCluster, clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 250) {
    clock.advance(250);
    await cluster.settle();
  }
}

Deno.test("membership: session ids carry the node number and stay within 2^53", () => {
  assert.equal(sessionIdOf(1, 0), 2 ** 43);
  assert.equal(nodeNumberOf(sessionIdOf(1023, 0.999999999999)), 1023);
  const top = sessionIdOf(1023, 1 - Number.EPSILON);
  assert.ok(top <= 2 ** 53 && Number.isSafeInteger(top), String(top));
  for (let i = 0; i < 1000; i++) {
    const id = sessionIdOf(77);
    assert.equal(nodeNumberOf(id), 77);
    assert.ok(Number.isSafeInteger(id));
  }
});

Deno.test("membership: nodes claim distinct numbers, hear each other, ids are theirs", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const nodes = ["a", "b", "c"].map((n) => member(cluster, clock, n));
  const events: string[] = [];
  nodes[0]!.onChange((e) => events.push(`${e.kind} ${e.peer.node}`));
  await Promise.all(nodes.map((m) => m.start()));
  const numbers = nodes.map((m) => m.number);
  assert.equal(new Set(numbers).size, 3);
  for (const n of numbers) assert.ok(n >= 1 && n <= 1023);
  await run(cluster, clock, 1000);
  assert.deepEqual(nodes[0]!.peers.map((p) => p.node).sort(), ["b", "c"]);
  assert.deepEqual(events.sort(), ["up b", "up c"]);
  for (const m of nodes) assert.equal(nodeNumberOf(m.newSessionId()), m.number);
  const bucket = await cluster.link("probe").bucket(NODES_BUCKET);
  assert.equal((await bucket.keys("n.")).length, 3);
  await Promise.all(nodes.map((m) => m.stop()));
  await cluster.settle();
  assert.deepEqual(await bucket.keys("n."), [], "a stopped node releases its number");
});

Deno.test("membership: two nodes whose names hash alike still get different numbers", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  // the same name on two links: the same starting number, so the second must move on
  const first = member(cluster, clock, "same", "l1");
  const second = member(cluster, clock, "same", "l2");
  await first.start();
  await second.start();
  assert.notEqual(first.number, second.number);
  await first.stop();
  await second.stop();
});

Deno.test("membership: a silent (killed) node is down after node_timeout, not before", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = member(cluster, clock, "a");
  const b = member(cluster, clock, "b");
  await a.start();
  await b.start();
  const events: NodeEvent[] = [];
  a.onChange((e) => events.push(e));
  await run(cluster, clock, 1000);
  cluster.kill("b");
  await run(cluster, clock, 2500);
  assert.deepEqual(events.filter((e) => e.kind === "down"), [], "not down before 3 s");
  await run(cluster, clock, 2000);
  const down = events.filter((e) => e.kind === "down");
  assert.equal(down.length, 1);
  assert.equal(down[0]!.peer.node, "b");
  assert.equal(down[0]!.peer.number, b.number);
  assert.equal(down[0]!.peer.incarnation, b.incarnation);
  assert.deepEqual(a.peers, []);
  // the dead node's number is free again once its claim expired (10 s)
  await run(cluster, clock, 10_000);
  const bucket = await cluster.link("probe").bucket(NODES_BUCKET);
  assert.deepEqual(await bucket.keys("n."), [numberKey(a.number)]);
  await a.stop();
});

Deno.test("membership: a stopping node is down at once; a restarted one is a new incarnation", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = member(cluster, clock, "a");
  const b1 = member(cluster, clock, "b", "b1");
  const events: string[] = [];
  a.onChange((e) => events.push(`${e.kind} ${e.peer.node} ${e.peer.incarnation}`));
  await a.start();
  await b1.start();
  await run(cluster, clock, 1000);
  await b1.stop();
  await cluster.settle();
  assert.deepEqual(events, [`up b ${b1.incarnation}`, `down b ${b1.incarnation}`]);
  // b restarts, then restarts again without stopping (a crash and a quick restart)
  const b2 = member(cluster, clock, "b", "b2");
  await b2.start();
  await run(cluster, clock, 1000);
  cluster.kill("b2");
  const b3 = member(cluster, clock, "b", "b3");
  await b3.start();
  await run(cluster, clock, 1000);
  assert.deepEqual(events.slice(2), [
    `up b ${b2.incarnation}`,
    `down b ${b2.incarnation}`,
    `up b ${b3.incarnation}`,
  ]);
  await a.stop();
  await b3.stop();
});

Deno.test("membership: a claim that expired while NATS was out of reach is taken again", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = member(cluster, clock, "a");
  await a.start();
  const number = a.number;
  cluster.disconnect("a");
  await run(cluster, clock, 12_000);
  cluster.reconnect("a");
  await run(cluster, clock, 2000);
  const bucket = await cluster.link("probe").bucket(NODES_BUCKET);
  assert.deepEqual(await bucket.keys("n."), [numberKey(number)]);
  assert.equal(a.number, number);
  await a.stop();
});

Deno.test("membership: hostile heartbeats are ignored", async () => {
  const clock = new FakeClock();
  const cluster = new MemoryCluster({ clock });
  const a = member(cluster, clock, "a");
  await a.start();
  const evil = cluster.link("evil");
  evil.publish("sb.hb", new Uint8Array([0xc1, 0xff, 0x00]));
  evil.publish("sb.hb", encode({ node: 5, incarnation: [], number: "x" }));
  evil.publish("sb.hb", encode([1, 2, 3]));
  await run(cluster, clock, 1000);
  assert.deepEqual(a.peers, []);
  await a.stop();
});
