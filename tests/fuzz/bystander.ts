/**
 * The health check after every batch: a long-lived bystander session in realm1 (exact, prefix and
 * wildcard subscriptions and registrations) must still get the EVENTs it publishes to itself and
 * answer its own CALLs, a fresh session must join and call all three registrations, and nothing
 * of the fuzz sessions may remain in the router.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Conn, openConn, WsConn } from "./conn.ts";
import { errText, lit } from "./describe.ts";
import type { FuzzEnv } from "./env.ts";
import { leaks, waitUntil } from "./leaks.ts";
import { malformed } from "./oracle.ts";
import { BYSTANDER_PROC, BYSTANDER_TOPIC, REALMS } from "./scenario.ts";

export interface Bystander {
  conn: Conn;
  id: number;
  marker: string;
  problems: string[];
  request: number;
}

export async function startBystander(env: FuzzEnv): Promise<Bystander> {
  const conn = await WsConn.open(env.endpoint, "msgpack");
  const b: Bystander = { conn, id: 0, marker: "", problems: [], request: 0 };
  conn.sendMsg([1, "realm1", {
    roles: {
      publisher: {},
      subscriber: {},
      caller: {},
      callee: { features: { call_canceling: true } },
    },
  }]);
  const w = await conn.next();
  assert.ok(w.kind === "msg" && w.msg[0] === 2, `bystander HELLO: ${lit(w)}`);
  b.id = w.msg[1] as number;
  const setup: unknown[][] = [
    [32, ++b.request, {}, BYSTANDER_TOPIC],
    [32, ++b.request, { match: "prefix" }, "com.bystander."],
    [32, ++b.request, { match: "wildcard" }, "com..topic"],
    [64, ++b.request, {}, BYSTANDER_PROC],
    [64, ++b.request, { match: "prefix" }, "com.bystander.pfx."],
    [64, ++b.request, { match: "wildcard" }, "com.bystander..wild"],
  ];
  for (const m of setup) {
    conn.sendMsg(m);
    const reply = await conn.next();
    assert.ok(
      reply.kind === "msg" && reply.msg[0] === (m[0] === 32 ? 33 : 65),
      `bystander setup ${lit(m)}: ${lit(reply)}`,
    );
  }
  conn.intercept = (m) => {
    const problem = malformed(m);
    if (problem) b.problems.push(`bystander: ${problem}: ${lit(m)}`);
    if (m[0] === 68) {
      // echo the payload back, so RESULTs cross serializers too
      const kwargs = m[5];
      if (!conn.sendMsg([70, m[1], {}, m[4] ?? [], ...(kwargs ? [kwargs] : [])])) {
        conn.sendMsg([70, m[1], {}, ["ok"]]);
      }
      return true;
    }
    if (m[0] === 69) {
      conn.sendMsg([8, 68, m[1], {}, "wamp.error.canceled"]);
      return true;
    }
    if (m[0] === 3 || m[0] === 6) b.problems.push(`bystander got ${lit(m)}`);
    if (m[0] === 36) {
      const args = m[4];
      return !(Array.isArray(args) && args[0] === b.marker);
    }
    return false;
  };
  return b;
}

/** After a batch: the bystander still works, a fresh session can join and call, nothing leaked. */
export async function healthCheck(
  env: FuzzEnv,
  b: Bystander,
  n: number,
  stage: string,
): Promise<string[]> {
  const problems = b.problems.splice(0).map((p) => `${stage}: ${p}`);
  const marker = `Ωcheck-${n}`;
  b.marker = marker;
  // The bystander publishes to itself: one EVENT per matching subscription (exact, prefix, wildcard).
  const pub = ++b.request;
  b.conn.sendMsg([16, pub, { exclude_me: false, acknowledge: true }, BYSTANDER_TOPIC, [marker]]);
  let events = 0;
  let published = false;
  while (events < 3 || !published) {
    const i = await b.conn.next();
    if (i.kind !== "msg") {
      problems.push(`${stage}: bystander waiting for its own EVENTs: ${i.kind}`);
      break;
    }
    if (i.msg[0] === 36) events++;
    else if (i.msg[0] === 17 && i.msg[1] === pub) published = true;
    else if (i.msg[0] === 8 || i.msg[0] === 3) {
      problems.push(`${stage}: bystander publish: ${lit(i.msg)}`);
      break;
    }
  }
  // The bystander calls its own procedure.
  const call = ++b.request;
  b.conn.sendMsg([48, call, {}, BYSTANDER_PROC, [marker]]);
  for (;;) {
    const i = await b.conn.next();
    if (i.kind !== "msg") {
      problems.push(`${stage}: bystander calling itself: ${i.kind}`);
      break;
    }
    if (i.msg[0] === 50 && i.msg[1] === call) {
      if (lit(i.msg[3]) !== lit([marker])) problems.push(`${stage}: self call ${lit(i.msg)}`);
      break;
    }
    if (i.msg[0] === 8 || i.msg[0] === 3) {
      problems.push(`${stage}: bystander calling itself: ${lit(i.msg)}`);
      break;
    }
  }
  // A fresh session (rotating transport and serializer) joins and calls all three registrations.
  const kinds = [
    ["ws", "json"],
    ["rs", "msgpack"],
    ["ws", "cbor"],
    ["rs", "json"],
    ["ws", "msgpack"],
    ["rs", "cbor"],
  ] as const;
  const [transport, ser] = kinds[n % kinds.length]!;
  try {
    await using fresh = await openConn(env.endpoint, transport, ser);
    fresh.sendMsg([1, "realm1", { roles: { caller: {} } }]);
    const w = await fresh.next();
    if (w.kind !== "msg" || w.msg[0] !== 2) {
      problems.push(`${stage}: a fresh ${fresh.label} session could not join: ${lit(w)}`);
    } else {
      const procedures = [BYSTANDER_PROC, `com.bystander.pfx.Ω${n}`, `com.bystander.Ω${n}.wild`];
      for (const [k, procedure] of procedures.entries()) {
        fresh.sendMsg([48, k + 1, {}, procedure, [marker]]);
        const res = await fresh.next();
        if (res.kind !== "msg" || res.msg[0] !== 50 || lit(res.msg[3]) !== lit([marker])) {
          problems.push(`${stage}: ${fresh.label} CALL ${procedure}: ${lit(res)}`);
        }
      }
      fresh.sendMsg([6, {}, "wamp.close.normal"]);
      const bye = await fresh.next();
      if (bye.kind !== "msg" || bye.msg[0] !== 6) {
        problems.push(`${stage}: ${fresh.label} GOODBYE: ${lit(bye)}`);
      }
    }
  } catch (e) {
    problems.push(`${stage}: a fresh ${transport}/${ser} session: ${errText(e)}`);
  }
  // Nothing of the fuzz sessions may remain once their connections are gone.
  const { router, clock } = env.target;
  const leftovers = await waitUntil(
    () => leaks(router, clock, REALMS, b.id, env.authorizer),
    (found) => !found.some((l) => !env.reportedLeftovers.has(l)),
    env.cleanupMs,
  );
  // timers left armed are reported here; disarmed, they do not trip the op sanitizer again
  for (const id of [...clock.armed.keys()]) clock.clearTimer(id);
  // a leftover is reported once, not again after every later batch
  for (const l of leftovers) {
    if (env.reportedLeftovers.has(l)) continue;
    env.reportedLeftovers.add(l);
    const owner = env.peers.get(l.match(/tcp4:[\d.]+:\d+/)?.[0] ?? "");
    const story = owner
      ? `\n  left by ${owner.where}\n  HELLO: ${lit(owner.hello)}\n  last exchanges:\n    ${
        owner.transcript.slice(-6).map((t) => t.slice(0, 300)).join("\n    ")
      }`
      : "";
    problems.push(`${stage}: leftover: ${l}${story}`);
  }
  problems.push(...b.problems.splice(0).map((p) => `${stage}: ${p}`));
  return problems;
}
