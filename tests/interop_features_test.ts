/**
 * Advanced Profile broker and dealer features through AutobahnJS (npm `autobahn`, in-process)
 * over real WebSockets to an in-process router, on JSON and MessagePack:
 *
 * - broker: publisher exclusion (`exclude_me` default / true / false), subscriber black- and
 *   whitelisting (`exclude`, `exclude_authid`, `exclude_authrole`, `eligible`,
 *   `eligible_authid`, `eligible_authrole`), publisher identification (`disclose_me` and
 *   `session.publisher_disclose_me`), pattern-based subscriptions (prefix and wildcard, with
 *   the concrete topic on the event);
 * - dealer: caller identification (`disclose_me`, `session.caller_disclose_me`,
 *   `disclose_caller`), pattern-based registrations (prefix and wildcard, with the concrete
 *   procedure on the invocation), shared registrations (single, roundrobin, first, last,
 *   random, and the errors for a conflicting or unknown policy), progressive call results
 *   (`receive_progress`), call canceling and call timeout.
 *
 * Clients get distinct identities from the transport: `/ws` is anonymous (random authid, role
 * `anonymous`), `/red` and `/blue` are anonymous with a fixed authid and role (`alice`/`red`,
 * `bob`/`blue`).
 *
 * Every "did not get it" is proved with a marker: a later event or call over the same
 * connection that the client does get, so nothing here waits a fixed time.
 *
 * What AutobahnJS 26.3.1 cannot do (lib/session.js), and so is left to the raw-frame tests
 * (tests/dealer_test.ts):
 * - As a callee it announces neither `call_canceling` nor `call_timeout` and has no INTERRUPT
 *   handler (an INTERRUPT would be a protocol violation for it), so the router must treat it as
 *   a callee without canceling (`skip`). The callee side of INTERRUPT is checked here with a
 *   raw callee that announces `call_canceling`, the caller being AutobahnJS.
 * - `call.cancel({mode: "skip" | "killnowait"})` (and `cancel()` without a mode) rejects the
 *   call locally with `Error("Cancelled")` and forgets the request; the ERROR
 *   `wamp.error.canceled` the spec has the dealer send for those modes then arrives for an
 *   unknown request and AutobahnJS fails its own transport ("CALL-ERROR received for
 *   non-pending request ID"). Only `mode: "kill"`, where AutobahnJS waits for the router's
 *   answer, is usable with it.
 * - A callee cannot send a progressive YIELD unless the INVOCATION has `receive_progress`
 *   (`details.progress` is null otherwise), nor read `Invocation.timeout` (forward_timeout).
 * - Progressive results need a deferred with `notify`: the ES6 promises AutobahnJS uses with
 *   `use_es6_promises` have none, and `when` is not installed, so these clients pass their own
 *   deferred factory (`use_deferred`, a documented Connection option) that records progress.
 */

import assert from "node:assert/strict";
import { ALLOW_ALL, RawClient, startRouter } from "./_helpers.ts";
import { autobahn, AutobahnClient, deadline, deferred, rejection, show } from "./interop/common.ts";

type D = Record<string, unknown>;
type Ser = "json" | "msgpack";
const SERS: readonly Ser[] = ["json", "msgpack"];

/** The transport paths: who a client is. */
type Path = "ws" | "red" | "blue";

const ALLOW = {
  uri: "",
  match: "prefix",
  allow: { call: true, register: true, publish: true, subscribe: true },
};

/** One realm, roles anonymous/red/blue; a web transport whose path decides the identity. */
function config() {
  const ws = (anonymous?: { role: string; authid: string }) => ({
    type: "websocket",
    serializers: ["json", "msgpack"],
    ...(anonymous ? { auth: { anonymous: { type: "static", ...anonymous } } } : {}),
  });
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [ALLOW_ALL, { name: "red", permissions: [ALLOW] }, {
          name: "blue",
          permissions: [ALLOW],
        }],
      }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: {
          ws: ws(),
          red: ws({ role: "red", authid: "alice" }),
          blue: ws({ role: "blue", authid: "bob" }),
        },
      }],
    }],
  };
}

// ---------------------------------------------------------------------------------------------
// AutobahnJS, typed for what these tests use

/** AutobahnJS's `Event` (the third argument of an event handler). */
interface AbEvent {
  publication: number;
  topic: string;
  publisher?: number;
  publisher_authid?: string;
  publisher_authrole?: string;
}

/** AutobahnJS's `Invocation` (the third argument of an endpoint). */
interface AbInvocation {
  procedure: string;
  progress: ((args?: unknown[], kwargs?: D) => void) | null;
  caller?: number;
  caller_authid?: string;
  caller_authrole?: string;
}

interface AbSubscription {
  id: number;
  topic: string;
}

interface AbRegistration {
  id: number;
  procedure: string;
  unregister(): Promise<unknown>;
}

/** What `session.call` returns with the deferred factory below. */
interface AbCall extends Promise<unknown> {
  /** Progressive results, in arrival order (recorded by `notify`). */
  readonly progress: unknown[];
  cancel(options?: { mode?: string }): void;
}

type Handler = (args: unknown[], kwargs: D, event: AbEvent) => void;
type Endpoint = (args: unknown[], kwargs: D, invocation: AbInvocation) => unknown;

interface Session {
  readonly id: number;
  readonly isOpen: boolean;
  publisher_disclose_me: boolean;
  caller_disclose_me: boolean;
  subscribe(topic: string, handler: Handler, options?: D): Promise<AbSubscription>;
  publish(
    topic: string,
    args?: unknown[],
    kwargs?: D,
    options?: D,
  ): Promise<{ id: number }> | null;
  register(procedure: string, endpoint: Endpoint, options?: D): Promise<AbRegistration>;
  call(procedure: string, args?: unknown[], kwargs?: D, options?: D): AbCall;
}

const AbResultClass = autobahn.Result;

/** A deferred whose promise records progressive results (AutobahnJS calls `notify`). */
function progressDeferred() {
  const d = deferred<unknown>();
  const progress: unknown[] = [];
  return {
    promise: Object.assign(d.promise, { progress }),
    resolve: d.resolve,
    reject: d.reject,
    notify: (value: unknown) => progress.push(value),
  };
}

/** An AutobahnJS session (progressive-result deferreds) on one transport path. */
type AbClient = AutobahnClient<Session>;

/** Joins realm1 over `/path` offering only `ser`; checks the negotiated subprotocol. */
async function joinPath(port: number, path: Path, ser: Ser): Promise<AbClient> {
  const c = await AutobahnClient.join<Session>(`ws://127.0.0.1:${port}/${path}`, ser, "realm1", {
    use_deferred: progressDeferred,
  });
  assert.equal(c.protocol, `wamp.2.${ser}`);
  return c;
}

/** Items in arrival order, and a bounded wait for one that matches. */
class Inbox<T> {
  readonly items: T[] = [];
  #waiters: { pred: (x: T) => boolean; resolve: (x: T) => void }[] = [];

  push(x: T): void {
    this.items.push(x);
    for (const w of [...this.#waiters]) {
      if (w.pred(x)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(x);
      }
    }
  }

  async waitFor(pred: (x: T) => boolean, what: string, ms = 3000): Promise<T> {
    const found = this.items.find(pred);
    if (found !== undefined) return found;
    const d = deferred<T>();
    const waiter = { pred, resolve: d.resolve };
    this.#waiters.push(waiter);
    try {
      return await deadline(d.promise, ms, what);
    } finally {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
    }
  }
}

interface Received {
  args: unknown[];
  kwargs: D;
  event: AbEvent;
}

/** The WAMP error URI (and args) of an AutobahnJS rejection. */
async function wampError(fn: () => Promise<unknown>, what: string) {
  const e = await rejection(fn, what);
  assert.ok(e instanceof autobahn.Error, `${what}: not an autobahn.Error: ${show(e)} ${e}`);
  const err = e as { error: string; args: unknown[] };
  return { error: err.error, args: err.args };
}

// ---------------------------------------------------------------------------------------------

for (const ser of SERS) {
  Deno.test(`interop features: AutobahnJS over ${ser}`, async (t) => {
    await using r = await startRouter(config());
    const join = (path: Path = "ws") => joinPath(r.port, path, ser);

    await t.step("broker: publisher exclusion and subscriber black/white listing", async () => {
      const topic = `com.bw.${ser}`;
      const [p, a, b, c] = await Promise.all([join(), join("red"), join("blue"), join()]);
      await using _p = p;
      await using _a = a;
      await using _b = b;
      await using _c = c;
      assert.deepEqual([a.authid, a.welcome.authrole], ["alice", "red"]);
      assert.deepEqual([b.authid, b.welcome.authrole], ["bob", "blue"]);
      assert.deepEqual([c.welcome.authrole, p.welcome.authrole], ["anonymous", "anonymous"]);
      assert.ok(c.authid && p.authid && c.authid !== p.authid, "distinct random authids");
      const clients = [["p", p], ["a", a], ["b", b], ["c", c]] as const;
      const inboxes = new Map<string, Inbox<unknown>>();
      for (const [name, x] of clients) {
        const inbox = new Inbox<unknown>();
        inboxes.set(name, inbox);
        await x.session.subscribe(topic, (args) => inbox.push(args[0]));
      }

      /** Who got the publication `label` with `options`: a marker to all follows it. */
      const receivers = async (label: string, options: D) => {
        const ack = await p.session.publish(topic, [label], {}, { ...options, acknowledge: true });
        assert.ok(Number.isInteger(ack?.id), `${label}: PUBLISHED`);
        const marker = `marker ${label}`;
        await p.session.publish(topic, [marker], {}, { exclude_me: false, acknowledge: true });
        const got: string[] = [];
        for (const [name] of clients) {
          const inbox = inboxes.get(name)!;
          await inbox.waitFor((x) => x === marker, `${name}: ${marker}`);
          if (inbox.items.includes(label)) got.push(name);
        }
        return got;
      };

      assert.deepEqual(await receivers("default", {}), ["a", "b", "c"], "exclude_me defaults true");
      assert.deepEqual(await receivers("me-true", { exclude_me: true }), ["a", "b", "c"]);
      assert.deepEqual(await receivers("me-false", { exclude_me: false }), ["p", "a", "b", "c"]);
      assert.deepEqual(await receivers("exclude", { exclude: [b.id] }), ["a", "c"]);
      assert.deepEqual(
        await receivers("exclude+me", { exclude_me: false, exclude: [p.id, c.id] }),
        ["a", "b"],
      );
      assert.deepEqual(await receivers("eligible", { eligible: [b.id, c.id] }), ["b", "c"]);
      assert.deepEqual(
        await receivers("eligible-me", { exclude_me: false, eligible: [p.id] }),
        ["p"],
      );
      assert.deepEqual(
        await receivers("eligible-but-excluded-me", { eligible: [p.id] }),
        [],
        "exclude_me applies within eligible",
      );
      assert.deepEqual(await receivers("exclude_authid", { exclude_authid: ["alice"] }), [
        "b",
        "c",
      ]);
      assert.deepEqual(
        await receivers("eligible_authid", { eligible_authid: ["alice", "bob"] }),
        ["a", "b"],
      );
      assert.deepEqual(
        await receivers("eligible_authid-random", {
          exclude_me: false,
          eligible_authid: [c.authid],
        }),
        ["c"],
      );
      assert.deepEqual(await receivers("exclude_authrole", { exclude_authrole: ["red"] }), [
        "b",
        "c",
      ]);
      assert.deepEqual(
        await receivers("exclude_authrole-anon", {
          exclude_me: false,
          exclude_authrole: ["anonymous"],
        }),
        ["a", "b"],
      );
      assert.deepEqual(
        await receivers("eligible_authrole", { eligible_authrole: ["blue"] }),
        ["b"],
      );
      assert.deepEqual(
        await receivers("eligible_authrole-2", {
          exclude_me: false,
          eligible_authrole: ["red", "anonymous"],
        }),
        ["p", "a", "c"],
      );
      assert.deepEqual(
        await receivers("combined", {
          eligible_authrole: ["red", "blue"],
          exclude_authid: ["bob"],
        }),
        ["a"],
      );
      assert.deepEqual(
        await receivers("exclude-wins", { eligible: [a.id, b.id], exclude: [b.id] }),
        ["a"],
      );
      const err = await wampError(
        () => p.session.publish(topic, ["bad"], {}, { exclude: "nope", acknowledge: true })!,
        "PUBLISH with exclude not a list",
      );
      assert.equal(err.error, "wamp.error.invalid_argument");
      for (const [name, x] of clients) x.assertHealthy(name);
    });

    await t.step("broker: publisher identification (disclose_me)", async () => {
      const topic = `com.pubid.${ser}`;
      await using pub = await join("red");
      await using sub = await join();
      const inbox = new Inbox<Received>();
      await sub.session.subscribe(topic, (args, kwargs, event) => {
        inbox.push({ args, kwargs, event });
      });
      const s = pub.session;
      await s.publish(topic, ["plain"], {}, { acknowledge: true });
      await s.publish(topic, ["disclosed"], {}, { disclose_me: true, acknowledge: true });
      s.publisher_disclose_me = true; // AutobahnJS then sends disclose_me: true itself
      await s.publish(topic, ["session-default"], {}, { acknowledge: true });
      await s.publish(topic, ["opt-out"], {}, { disclose_me: false, acknowledge: true });
      await inbox.waitFor((e) => e.args[0] === "opt-out", "last EVENT");
      const who = inbox.items.map((e) => [
        e.args[0],
        e.event.publisher ?? null,
        e.event.publisher_authid ?? null,
        e.event.publisher_authrole ?? null,
      ]);
      assert.deepEqual(who, [
        ["plain", null, null, null],
        ["disclosed", pub.id, "alice", "red"],
        ["session-default", pub.id, "alice", "red"],
        ["opt-out", null, null, null],
      ]);
      sub.assertHealthy("subscriber");
    });

    await t.step("broker: pattern-based subscriptions (prefix, wildcard) with topic", async () => {
      const base = `com.pat.${ser}`;
      await using pub = await join();
      await using sub = await join();
      await using other = await join("blue");
      const inbox = new Inbox<[string, string, unknown, number]>();
      const on = (kind: string): Handler => (args, _kwargs, event) =>
        inbox.push([kind, event.topic, args[0], event.publication]);
      const exact = await sub.session.subscribe(`${base}.a.b`, on("exact"));
      const prefix = await sub.session.subscribe(base, on("prefix"), { match: "prefix" });
      const wild = await sub.session.subscribe(`${base}..b`, on("wildcard"), {
        match: "wildcard",
      });
      assert.equal(new Set([exact.id, prefix.id, wild.id]).size, 3);
      const otherInbox = new Inbox<[string, unknown]>();
      const otherSub = await other.session.subscribe(base, (args, _kw, event) => {
        otherInbox.push([event.topic, args[0]]);
      }, { match: "prefix" });
      assert.equal(otherSub.id, prefix.id, "one subscription id for (uri, prefix)");

      const ack = await pub.session.publish(`${base}.a.b`, [1], {}, { acknowledge: true });
      await pub.session.publish(`${base}.z.b`, [2], {}, { acknowledge: true });
      await pub.session.publish(`${base}.a`, [3], {}, { acknowledge: true });
      await pub.session.publish(`${base}x`, [4], {}, { acknowledge: true }); // string prefix
      await pub.session.publish(`com.pat.other.a.b`, [5], {}, { acknowledge: true });
      await pub.session.publish(`${base}.end`, ["end"], {}, { acknowledge: true });
      await inbox.waitFor((e) => e[2] === "end", "marker EVENT");
      await otherInbox.waitFor((e) => e[1] === "end", "marker EVENT (other)");

      const byKind = (kind: string) =>
        inbox.items.filter((e) => e[0] === kind).map((e) => [e[1], e[2]]);
      assert.deepEqual(byKind("exact"), [[`${base}.a.b`, 1]]);
      assert.deepEqual(byKind("prefix"), [
        [`${base}.a.b`, 1],
        [`${base}.z.b`, 2],
        [`${base}.a`, 3],
        [`${base}x`, 4],
        [`${base}.end`, "end"],
      ]);
      assert.deepEqual(byKind("wildcard"), [[`${base}.a.b`, 1], [`${base}.z.b`, 2]]);
      assert.deepEqual(otherInbox.items, byKind("prefix"));
      const first = inbox.items.filter((e) => e[2] === 1).map((e) => e[3]);
      assert.deepEqual(first, [ack!.id, ack!.id, ack!.id], "one publication id on each EVENT");

      const bogus = await wampError(
        () => sub.session.subscribe(base, () => {}, { match: "bogus" }),
        "SUBSCRIBE match bogus",
      );
      assert.equal(bogus.error, "wamp.error.invalid_argument");
      const badUri = await wampError(
        () => sub.session.subscribe("com.#bad", () => {}, { match: "wildcard" }),
        "SUBSCRIBE wildcard with a bad URI",
      );
      assert.equal(badUri.error, "wamp.error.invalid_uri");
      sub.assertHealthy("subscriber");
      other.assertHealthy("other subscriber");
    });

    await t.step("dealer: caller identification (disclose_me, disclose_caller)", async () => {
      const proc = `com.callerid.${ser}`;
      await using callee = await join();
      await using caller = await join("red");
      const seen: AbInvocation[] = [];
      const endpoint: Endpoint = (_args, _kwargs, inv) => {
        seen.push(inv);
        return seen.length;
      };
      await callee.session.register(`${proc}.plain`, endpoint);
      await callee.session.register(`${proc}.reg`, endpoint, { disclose_caller: true });
      const s = caller.session;
      assert.equal(await s.call(`${proc}.plain`), 1);
      assert.equal(await s.call(`${proc}.plain`, [], {}, { disclose_me: true }), 2);
      s.caller_disclose_me = true; // AutobahnJS then sends disclose_me: true itself
      assert.equal(await s.call(`${proc}.plain`), 3);
      s.caller_disclose_me = false;
      assert.equal(await s.call(`${proc}.reg`), 4);
      assert.equal(await s.call(`${proc}.plain`, [], {}, { disclose_me: false }), 5);
      const who = seen.map((i) => [
        i.caller ?? null,
        i.caller_authid ?? null,
        i.caller_authrole ?? null,
      ]);
      const disclosed = [caller.id, "alice", "red"];
      assert.deepEqual(who, [
        [null, null, null],
        disclosed,
        disclosed,
        disclosed, // the registration's disclose_caller
        [null, null, null],
      ]);
      callee.assertHealthy("callee");
    });

    await t.step("dealer: pattern-based registrations with the called procedure", async () => {
      const b = `pr_${ser}`;
      await using callee = await join();
      await using caller = await join();
      const reg = async (uri: string, match: string, label: string) =>
        await callee.session.register(
          uri,
          (_args, _kwargs, inv) => [label, inv.procedure],
          match === "exact" ? {} : { match },
        );
      await reg(`${b}.a1.b2.c3`, "exact", "exact");
      const p2 = await reg(`${b}.a1.b2`, "prefix", "prefix a1.b2");
      await reg(`${b}.a1`, "prefix", "prefix a1");
      await reg(`${b}.w1...d4`, "wildcard", "wildcard w1...d4");
      await reg(`${b}.w1.b2..d4`, "wildcard", "wildcard w1.b2..d4");
      assert.equal(p2.procedure, `${b}.a1.b2`);
      const call = (procedure: string) => caller.session.call(procedure);
      assert.deepEqual(await call(`${b}.a1.b2.c3`), ["exact", `${b}.a1.b2.c3`]);
      assert.deepEqual(await call(`${b}.a1.b2.c3.d4`), ["prefix a1.b2", `${b}.a1.b2.c3.d4`]);
      assert.deepEqual(await call(`${b}.a1.x.c3`), ["prefix a1", `${b}.a1.x.c3`]);
      assert.deepEqual(await call(`${b}.w1.b2.c3.d4`), [
        "wildcard w1.b2..d4",
        `${b}.w1.b2.c3.d4`,
      ]);
      assert.deepEqual(await call(`${b}.w1.x.c3.d4`), ["wildcard w1...d4", `${b}.w1.x.c3.d4`]);
      const none = await wampError(() => call(`${b}.w1.b2.c3`), "CALL matching nothing");
      assert.equal(none.error, "wamp.error.no_such_procedure");
      const bogus = await wampError(
        () => callee.session.register(`${b}.x`, () => null, { match: "bogus" }),
        "REGISTER match bogus",
      );
      assert.equal(bogus.error, "wamp.error.invalid_argument");
      callee.assertHealthy("callee");
    });

    await t.step("dealer: shared registrations", async () => {
      const base = `com.shared.${ser}`;
      const [a, b, caller] = await Promise.all([join(), join("blue"), join()]);
      await using _a = a;
      await using _b = b;
      await using _caller = caller;
      const both = async (proc: string, invoke?: string) => {
        const options = invoke ? { invoke } : {};
        const ra = await a.session.register(proc, () => "a", options);
        const rb = await b.session.register(proc, () => "b", options);
        assert.equal(ra.id, rb.id, `${proc}: one registration shared by both callees`);
        return [ra, rb];
      };
      const serve = async (proc: string, n: number) => {
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(await caller.session.call(proc));
        return out;
      };

      await both(`${base}.rr`, "roundrobin");
      assert.deepEqual(await serve(`${base}.rr`, 5), ["a", "b", "a", "b", "a"]);

      const [fa] = await both(`${base}.first`, "first");
      assert.deepEqual(await serve(`${base}.first`, 3), ["a", "a", "a"]);
      await fa!.unregister();
      assert.deepEqual(await serve(`${base}.first`, 1), ["b"]);

      const [, lb] = await both(`${base}.last`, "last");
      assert.deepEqual(await serve(`${base}.last`, 3), ["b", "b", "b"]);
      await lb!.unregister();
      assert.deepEqual(await serve(`${base}.last`, 1), ["a"]);

      // random: both callees serve within 40 calls (all-one-callee odds 2^-39)
      await both(`${base}.random`, "random");
      const random = await serve(`${base}.random`, 40);
      assert.ok(random.every((x) => x === "a" || x === "b"), show(random));
      assert.deepEqual([...new Set(random)].sort(), ["a", "b"], show(random));

      // single (the default and explicit): a second callee is refused
      for (const [proc, invoke] of [[`${base}.single`, undefined], [`${base}.single2`, "single"]]) {
        await a.session.register(proc!, () => "a", invoke ? { invoke } : {});
        const err = await wampError(
          () => b.session.register(proc!, () => "b", invoke ? { invoke } : {}),
          `second single REGISTER ${proc}`,
        );
        assert.equal(err.error, "wamp.error.procedure_already_exists");
        assert.deepEqual(await serve(proc!, 2), ["a", "a"]);
      }

      // a different policy on a shared procedure
      const conflict = await wampError(
        () => b.session.register(`${base}.rr`, () => "b", { invoke: "random" }),
        "REGISTER with a conflicting policy",
      );
      assert.equal(conflict.error, "wamp.error.procedure_exists_with_different_invocation_policy");
      const unknown = await wampError(
        () => b.session.register(`${base}.bad`, () => "b", { invoke: "sometimes" }),
        "REGISTER with an unknown policy",
      );
      assert.equal(unknown.error, "wamp.error.invalid_argument");
      // the refused registrations changed nothing
      assert.deepEqual(await serve(`${base}.rr`, 2), ["b", "a"]);
      for (const [name, x] of [["a", a], ["b", b]] as const) x.assertHealthy(name);
    });

    await t.step("dealer: progressive call results (receive_progress)", async () => {
      const proc = `com.progress.${ser}`;
      await using callee = await join();
      await using caller = await join();
      const asked: boolean[] = [];
      await callee.session.register(proc, (args, _kwargs, inv) => {
        asked.push(inv.progress !== null);
        if (inv.progress) {
          inv.progress([1]);
          inv.progress([2], { pct: 66 });
        }
        return new AbResultClass([args[0]], { done: true });
      });

      const call = caller.session.call(proc, ["final"], {}, { receive_progress: true });
      const result = await deadline(call, 3000, "RESULT") as { args: unknown[]; kwargs: D };
      assert.deepEqual({ args: result.args, kwargs: result.kwargs }, {
        args: ["final"],
        kwargs: { done: true },
      });
      assert.equal(call.progress.length, 2, show(call.progress));
      assert.equal(call.progress[0], 1);
      const p2 = call.progress[1] as { args: unknown[]; kwargs: D };
      assert.deepEqual({ args: p2.args, kwargs: p2.kwargs }, { args: [2], kwargs: { pct: 66 } });

      // without receive_progress the callee is not asked for progress
      const plain = caller.session.call(proc, ["only"]);
      const r2 = await deadline(plain, 3000, "RESULT") as { args: unknown[] };
      assert.deepEqual(r2.args, ["only"]);
      assert.deepEqual(plain.progress, []);
      assert.deepEqual(asked, [true, false], "INVOCATION.Details.receive_progress");
      caller.assertHealthy("caller");
      callee.assertHealthy("callee");
    });

    await t.step("dealer: call canceling (cancel mode kill)", async () => {
      const proc = `com.cancel.${ser}`;
      await using callee = await join();
      await using caller = await join();
      const invoked = new Inbox<string>();
      const release = deferred<string>();
      await callee.session.register(proc, (args) => {
        invoked.push(args[0] as string);
        return args[0] === "hold" ? release.promise : args[0];
      });

      // an AutobahnJS callee has no call_canceling: the router answers the caller at once
      // (no INTERRUPT, which AutobahnJS would take as a protocol violation)
      const call = caller.session.call(proc, ["hold"]);
      call.catch(() => {}); // awaited below; a failed assertion before must not leave it unhandled
      await invoked.waitFor((x) => x === "hold", "INVOCATION");
      call.cancel({ mode: "kill" });
      const err = await wampError(() => deadline(call, 3000, "canceled call"), "canceled call");
      assert.equal(err.error, "wamp.error.canceled");
      // the callee's late answer is dropped; a later call to the same callee goes through it
      // after that YIELD, so a forwarded late RESULT would arrive first and break the caller
      release.resolve("late");
      assert.equal(await deadline(caller.session.call(proc, ["after"]), 3000, "after"), "after");
      caller.assertHealthy("caller");
      callee.assertHealthy("callee");

      // a (raw) callee announcing call_canceling: INTERRUPT kill, and the caller gets the
      // callee's own answer
      const rawProc = `com.cancel.raw.${ser}`;
      await using raw = (await RawClient.join(`ws://127.0.0.1:${r.port}/ws`, ser)).client;
      raw.send([64, 1, {}, rawProc]);
      assert.equal((await raw.next())[0], 65);
      const call2 = caller.session.call(rawProc, ["x"]);
      call2.catch(() => {});
      const inv = await raw.next();
      assert.equal(inv[0], 68, show(inv));
      call2.cancel({ mode: "kill" });
      const interrupt = await raw.next();
      assert.deepEqual([interrupt[0], interrupt[1], (interrupt[2] as D).mode], [
        69,
        inv[1],
        "kill",
      ]);
      raw.send([8, 68, inv[1], {}, "wamp.error.canceled", ["stopped by callee"]]);
      const err2 = await wampError(() => deadline(call2, 3000, "killed call"), "killed call");
      assert.deepEqual(err2, { error: "wamp.error.canceled", args: ["stopped by callee"] });
      caller.assertHealthy("caller");
    });

    await t.step("dealer: call timeout (ms, router-enforced)", async () => {
      const proc = `com.timeout.${ser}`;
      await using callee = await join();
      await using caller = await join();
      const invoked = new Inbox<string>();
      const release = deferred<string>();
      await callee.session.register(proc, (args) => {
        invoked.push(args[0] as string);
        return args[0] === "hold" ? release.promise : args[0];
      });

      const call = caller.session.call(proc, ["hold"], {}, { timeout: 200 });
      call.catch(() => {});
      const err = await wampError(() => deadline(call, 3000, "timed-out call"), "timed out call");
      assert.equal(err.error, "wamp.error.canceled", "decisions.md: canceled on timeout");
      assert.match(String(err.args[0]), /timed out/);
      assert.deepEqual(invoked.items, ["hold"], "the callee was invoked");
      // late answer dropped; no INTERRUPT to this callee (it would break AutobahnJS), which the
      // next call through the same callee proves
      release.resolve("late");
      assert.equal(await deadline(caller.session.call(proc, ["after"]), 3000, "after"), "after");
      // a timeout the callee beats changes nothing
      const quick = caller.session.call(proc, ["quick"], {}, { timeout: 10_000 });
      assert.equal(await deadline(quick, 3000, "quick"), "quick");
      const bad = await wampError(
        () => caller.session.call(proc, ["x"], {}, { timeout: -5 }),
        "negative timeout",
      );
      assert.equal(bad.error, "wamp.error.invalid_argument");
      caller.assertHealthy("caller");
      callee.assertHealthy("callee");

      // a (raw) callee announcing call_canceling gets INTERRUPT when the call times out
      const rawProc = `com.timeout.raw.${ser}`;
      await using raw = (await RawClient.join(`ws://127.0.0.1:${r.port}/ws`, ser)).client;
      raw.send([64, 1, {}, rawProc]);
      assert.equal((await raw.next())[0], 65);
      const call2 = caller.session.call(rawProc, [], {}, { timeout: 200 });
      call2.catch(() => {});
      const inv = await raw.next();
      assert.equal(inv[0], 68, show(inv));
      const err2 = await wampError(() => deadline(call2, 3000, "timed-out call"), "timeout 2");
      assert.equal(err2.error, "wamp.error.canceled");
      const interrupt = await raw.next();
      assert.deepEqual([interrupt[0], interrupt[1]], [69, inv[1]]);
      // its late answer is dropped (tests/dealer_test.ts checks that on the wire); the caller
      // and the raw callee carry on
      raw.send([70, inv[1], {}, ["late"]]);
      raw.send([64, 2, {}, `${rawProc}.next`]);
      assert.deepEqual((await raw.next()).slice(0, 2), [65, 2], "no protocol violation");
      assert.equal(
        await deadline(caller.session.call(proc, ["after raw"]), 3000, "after raw"),
        "after raw",
      );
      caller.assertHealthy("caller");
    });
  });
}
