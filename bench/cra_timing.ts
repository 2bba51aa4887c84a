/**
 * WAMP-CRA timing by kind of authid: does a salted user, an unsalted user or an unknown authid
 * take longer to be challenged or to be refused? Prints medians (µs) of many runs, the kinds
 * interleaved so that drift hits them alike.
 *
 *   deno run -A bench/cra_timing.ts [runs]      (default 2,000 in process, runs / 4 over sockets)
 *
 * In process: `authenticate()` until its CHALLENGE, then `verify()` of a wrong signature.
 * Over sockets (a router in this process on 127.0.0.1, JSON): HELLO sent → CHALLENGE received,
 * and AUTHENTICATE sent → ABORT received. The endpoint mixes salted and unsalted users.
 *
 * @module
 */

import { createRouter, parseConfig } from "../mod.ts";
import { authenticate } from "../src/auth/authenticator.ts";
import type { Hello } from "../src/wamp/messages.ts";

const runs = Number(Deno.args[0] ?? 2000);

const USERS = {
  sam: {
    secret: "sam-secret",
    role: "user",
    salt: "9Xh3kTq2bWmZ4LpA",
    iterations: 1000,
    keylen: 32,
  },
  sue: {
    secret: "sue-secret",
    role: "user",
    salt: "R2d7Yv0cN8sLq1Ue",
    iterations: 1000,
    keylen: 32,
  },
  bob: { secret: "bob-secret", role: "admin" },
};
const KINDS = { "salted user": "sam", "unsalted user": "bob", "unknown authid": "nobody" };

const config = {
  version: 2,
  workers: [{
    type: "router",
    realms: [{ name: "realm1", roles: [{ name: "user", permissions: [] }] }],
    transports: [{
      type: "websocket",
      endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
      serializers: ["json"],
      auth: { wampcra: { type: "static", users: USERS } },
      options: { auth_max_failures: 1_000_000_000 },
    }],
  }],
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function hello(authid: string) {
  return {
    type: 1,
    realm: "realm1",
    details: { roles: { caller: {} }, authmethods: ["wampcra"], authid },
  } as Hello;
}

type Samples = Record<string, { challenge: number[]; refuse: number[] }>;

function report(title: string, samples: Samples): void {
  console.log(`\n${title} (medians, µs)`);
  console.log("kind             challenge   refusal");
  for (const [kind, s] of Object.entries(samples)) {
    const c = (median(s.challenge) * 1000).toFixed(0).padStart(9);
    const r = (median(s.refuse) * 1000).toFixed(0).padStart(9);
    console.log(`${kind.padEnd(16)} ${c} ${r}   (${s.challenge.length} runs)`);
  }
}

const empty = (): Samples =>
  Object.fromEntries(Object.keys(KINDS).map((k) => [k, { challenge: [], refuse: [] }]));

// ---- in process ----------------------------------------------------------------------------

const transport = parseConfig(config).transports[0]!;
if (transport.type !== "websocket") {
  throw new Error("the benchmark config has a websocket transport");
}
const auth = transport.websocket.auth;
const inProcess = empty();
for (let i = 0; i < runs + 100; i++) {
  for (const [kind, authid] of Object.entries(KINDS)) {
    const t0 = performance.now();
    const step = await authenticate(hello(authid), auth, 1);
    const t1 = performance.now();
    if (step.kind !== "challenge") throw new Error(`no challenge for ${authid}`);
    const identity = await step.verify({ type: 5, signature: "wrong", extra: {} });
    const t2 = performance.now();
    if (identity !== null) throw new Error("a wrong signature was accepted");
    if (i < 100) continue; // warm-up
    inProcess[kind]!.challenge.push(t1 - t0);
    inProcess[kind]!.refuse.push(t2 - t1);
  }
}
report("in process: authenticate() → CHALLENGE, verify() → refused", inProcess);

// ---- over sockets --------------------------------------------------------------------------

const router = createRouter(config);
const [listener] = await router.serve();

/** One HELLO → CHALLENGE → wrong AUTHENTICATE → ABORT round trip; returns the two times. */
async function overSocket(authid: string): Promise<[number, number]> {
  const ws = new WebSocket(listener!.urls[0]!, ["wamp.2.json"]);
  const inbox: unknown[][] = [];
  let wake = () => {};
  ws.onmessage = (e) => {
    inbox.push(JSON.parse(e.data as string));
    wake();
  };
  const closed = new Promise((resolve) => ws.onclose = resolve);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const next = async () => {
    while (inbox.length === 0) await new Promise<void>((resolve) => wake = resolve);
    return inbox.shift()!;
  };
  const t0 = performance.now();
  ws.send(JSON.stringify([1, "realm1", hello(authid).details]));
  const challenge = await next();
  const t1 = performance.now();
  if (challenge[0] !== 4) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`);
  ws.send(JSON.stringify([5, "wrong", {}]));
  const abort = await next();
  const t2 = performance.now();
  if (abort[0] !== 3) throw new Error(`expected ABORT, got ${JSON.stringify(abort)}`);
  await closed;
  return [t1 - t0, t2 - t1];
}

const sockets = empty();
const socketRuns = Math.max(1, Math.floor(runs / 4));
for (let i = 0; i < socketRuns + 25; i++) {
  for (const [kind, authid] of Object.entries(KINDS)) {
    const [c, r] = await overSocket(authid);
    if (i < 25) continue; // warm-up
    sockets[kind]!.challenge.push(c);
    sockets[kind]!.refuse.push(r);
  }
}
report("over WebSocket: HELLO → CHALLENGE, AUTHENTICATE → ABORT", sockets);
await router.close(100);
