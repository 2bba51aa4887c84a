/**
 * Calls and registrations across router processes joined by a real nats-server
 * (`tests/_cluster.ts` starts everything and always stops it), with clients on different
 * nodes: Autobahn|Python for the standard payload and an application error on three
 * serializers; AutobahnJS for args/kwargs/binary, callee errors, progressive results, cancel `kill`,
 * the dealer-enforced timeout, caller disclosure, the `single` race, roundrobin spread and
 * pattern resolution; raw WAMP clients over real WebSockets for what AutobahnJS cannot do as
 * a client (progressive call invocations, cancel `skip`/`killnowait` and the INTERRUPT a
 * callee with `call_canceling` gets: see tests/interop_features_test.ts). Then SIGKILL of the
 * callee's node mid-call: the caller gets an ERROR within 5 s and the node's `single`
 * registration can be taken elsewhere.
 */

import assert from "node:assert/strict";
import { TestCluster } from "./_cluster.ts";
import { RawClient } from "./_helpers.ts";
import { findPython } from "./interop/python.ts";
import {
  assertPayload,
  autobahn,
  AutobahnClient,
  deadline,
  deferred,
  rejection,
  type SerializerId,
  show,
} from "./interop/common.ts";

type D = Record<string, unknown>;

interface AbInvocation {
  procedure: string;
  progress: ((args?: unknown[], kwargs?: D) => void) | null;
  caller?: number;
  caller_authid?: string;
  caller_authrole?: string;
}

interface AbCall extends Promise<unknown> {
  readonly progress: unknown[];
  cancel(options?: { mode?: string }): void;
}

interface Session {
  readonly id: number;
  readonly isOpen: boolean;
  caller_disclose_me: boolean;
  register(
    procedure: string,
    endpoint: (args: unknown[], kwargs: D, inv: AbInvocation) => unknown,
    options?: D,
  ): Promise<{ id: number }>;
  call(procedure: string, args?: unknown[], kwargs?: D, options?: D): AbCall;
}

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

async function wampError(p: () => Promise<unknown>, what: string) {
  const e = await rejection(p, what);
  assert.ok(e instanceof autobahn.Error, `${what}: not an autobahn.Error: ${show(e)}`);
  return e as { error: string; args: unknown[]; kwargs: D };
}

/** Waits until `check` holds (a deadline, not a timing assertion). */
async function until(check: () => Promise<boolean> | boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const RAW_ROLES = {
  caller: {
    features: {
      call_canceling: true,
      progressive_call_results: true,
      progressive_call_invocations: true,
    },
  },
  callee: {
    features: {
      call_canceling: true,
      progressive_call_results: true,
      progressive_call_invocations: true,
    },
  },
};

Deno.test("cluster processes: calls and registrations across nodes", async (t) => {
  await using cluster = await TestCluster.start(["n1", "n2", "n3"]);
  await cluster.converged();
  const join = (node: string, ser: SerializerId = "json") =>
    AutobahnClient.join<Session>(cluster.node(node).url, ser, "realm1", {
      use_deferred: progressDeferred,
    });
  const raw = async (node: string, ser: "json" | "msgpack" = "msgpack") =>
    (await RawClient.join(cluster.node(node).url, ser, "realm1", { roles: RAW_ROLES })).client;
  /** How many callees node `node` sees for `uri` (the registration meta API is cluster-wide). */
  const callees = async (c: AutobahnClient<Session>, uri: string) => {
    const id = await c.session.call("wamp.registration.match", [uri]) as number | null;
    if (id === null) return 0;
    return (await c.session.call("wamp.registration.list_callees", [id]) as number[]).length;
  };

  await t.step("args, kwargs and binary payloads, caller disclosure, callee errors", async () => {
    for (const ser of ["msgpack", "cbor"] as const) {
      await using callee = await join("n2", ser);
      await using caller = await join("n1", ser);
      const proc = `com.echo.${ser}`;
      let seen: AbInvocation | null = null;
      await callee.session.register(proc, (args, kwargs, inv) => {
        seen = inv;
        return new autobahn.Result(args, kwargs);
      }, { disclose_caller: true });
      await until(() => callees(caller, proc).then((n) => n === 1), "n1 sees the callee");
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      const res = await deadline(
        caller.session.call(proc, ["text", 2 ** 53, bytes], { b: bytes, n: null }),
        5000,
        "cross-node call",
      ) as { args: unknown[]; kwargs: D };
      assert.equal(res.args[0], "text");
      assert.equal(Number(res.args[1]), 2 ** 53);
      assert.deepEqual(new Uint8Array(res.args[2] as Uint8Array), bytes);
      assert.deepEqual(new Uint8Array(res.kwargs.b as Uint8Array), bytes);
      assert.equal(res.kwargs.n, null);
      assert.equal(seen!.caller, caller.session.id);
      assert.equal(typeof seen!.caller_authid, "string");
      assert.equal(seen!.caller_authrole, "anonymous");

      const errProc = `com.fail.${ser}`;
      await callee.session.register(errProc, () => {
        throw new autobahn.Error("com.error.bad", ["no"], { why: 42 });
      });
      await until(() => callees(caller, errProc).then((n) => n === 1), "n1 sees the callee");
      const err = await wampError(() => caller.session.call(errProc, []), "callee error");
      assert.equal(err.error, "com.error.bad");
      assert.deepEqual(err.args, ["no"]);
      assert.deepEqual(err.kwargs, { why: 42 });
    }
    const metric = (text: string, name: string) =>
      Number(text.match(new RegExp(`^${name}\\{node="n\\d"\\} (\\d+)$`, "m"))?.[1]);
    assert.ok(
      metric(await cluster.metrics("n1"), "switchboard_cluster_calls_forwarded_total") >= 4,
    );
    assert.ok(metric(await cluster.metrics("n2"), "switchboard_cluster_calls_served_total") >= 4);
    assert.ok(metric(await cluster.metrics("n1"), "switchboard_cluster_remote_callees") >= 0);
  });

  await t.step("Autobahn|Python callee and caller on different nodes", async () => {
    const { python, tried } = await findPython();
    assert.ok(python, `Autobahn|Python is needed: ${tried.join("; ")}`);
    const script = new URL("./interop/cluster_rpc.py", import.meta.url).pathname;
    for (const ser of ["json", "msgpack", "cbor"]) {
      const out = await new Deno.Command(python, {
        args: [
          script,
          "--callee-url",
          cluster.node("n2").url,
          "--caller-url",
          cluster.node("n3").url,
          "--serializer",
          ser,
        ],
        stdout: "piped",
        stderr: "piped",
        env: { PYTHONDONTWRITEBYTECODE: "1" },
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `${ser}: ${stderr}`);
      const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
      const { node, ...kwargs } = result.kwargs as D;
      assert.equal(node, "callee");
      assertPayload(result.args, kwargs, `${ser} result`, { bigint64: ser === "cbor" });
      assertPayload(result.invocation.args, result.invocation.kwargs, `${ser} invocation`, {
        bigint64: ser === "cbor",
      });
      assert.deepEqual(result.error, {
        error: "com.example.cluster.bad",
        args: ["no"],
        kwargs: { code: 7 },
      });
    }
  });

  await t.step("progressive results, cancel kill, dealer-enforced timeout", async () => {
    await using callee = await join("n3");
    await using caller = await join("n1");
    await callee.session.register("com.progress", (args, _kw, inv) => {
      inv.progress?.([1]);
      inv.progress?.([2], { pct: 66 });
      return new autobahn.Result(["done", ...args]);
    });
    let release: () => void = () => {};
    await callee.session.register("com.hold", () =>
      new Promise((resolve) => {
        release = () => resolve(new autobahn.Result(["late"]));
      }));
    await until(() => callees(caller, "com.hold").then((n) => n === 1), "n1 sees com.hold");
    await until(() => callees(caller, "com.progress").then((n) => n === 1), "n1 sees it");
    const call = caller.session.call("com.progress", ["x"], {}, { receive_progress: true });
    const final = await deadline(call, 5000, "progressive call") as { args: unknown[] };
    assert.deepEqual(final.args, ["done", "x"]);
    assert.equal(call.progress.length, 2, show(call.progress));
    assert.equal(call.progress[0], 1);

    // cancel kill: AutobahnJS callees announce no call_canceling, so the dealer answers at once
    const held = caller.session.call("com.hold", []);
    await new Promise((r) => setTimeout(r, 100));
    held.cancel({ mode: "kill" });
    const canceled = await wampError(() => deadline(held, 5000, "canceled call"), "kill");
    assert.equal(canceled.error, "wamp.error.canceled");
    release();

    const timed = caller.session.call("com.hold", [], {}, { timeout: 200 });
    const expired = await wampError(() => deadline(timed, 5000, "timed-out call"), "timeout");
    assert.equal(expired.error, "wamp.error.canceled");
    assert.match(String(expired.args[0]), /timed out after 200 ms/);
    release();
  });

  await t.step(
    "progressive call invocations and cancel skip/killnowait (raw clients)",
    async () => {
      await using callee = await raw("n2");
      await using caller = await raw("n3");
      callee.send([64, 1, {}, "com.raw.stream"]);
      const registered = await callee.nextOf(65);
      const regId = registered[2] as number;
      await using watcher = await join("n3");
      await until(() => callees(watcher, "com.raw.stream").then((n) => n === 1), "n3 sees it");

      caller.send([48, 1, { progress: true, receive_progress: true }, "com.raw.stream", [1]]);
      caller.send([48, 1, { progress: true }, "com.raw.stream", [2]]);
      caller.send([48, 1, {}, "com.raw.stream", [3]]);
      const chunks = [await callee.nextOf(68), await callee.nextOf(68), await callee.nextOf(68)];
      assert.deepEqual(chunks.map((m) => m[4]), [[1], [2], [3]]);
      assert.ok(chunks.every((m) => m[1] === chunks[0]![1] && m[2] === regId));
      assert.deepEqual(chunks.map((m) => (m[3] as D).progress === true), [true, true, false]);
      const inv = chunks[0]![1] as number;
      callee.send([70, inv, { progress: true }, ["p1"]]);
      callee.send([70, inv, {}, ["final"]]);
      const r1 = await caller.nextOf(50);
      const r2 = await caller.nextOf(50);
      assert.deepEqual([r1[3], (r1[2] as D).progress], [["p1"], true]);
      assert.deepEqual([r2[3], (r2[2] as D).progress], [["final"], undefined]);

      caller.send([48, 2, {}, "com.raw.stream", ["skip me"]]);
      await callee.nextOf(68);
      caller.send([49, 2, { mode: "skip" }]);
      const skipped = await caller.nextOf(8);
      assert.deepEqual([skipped[2], skipped[4]], [2, "wamp.error.canceled"]);

      caller.send([48, 3, {}, "com.raw.stream", ["kill me"]]);
      const inv3 = await callee.nextOf(68);
      caller.send([49, 3, { mode: "killnowait" }]);
      const killed = await caller.nextOf(8);
      assert.deepEqual([killed[2], killed[4]], [3, "wamp.error.canceled"]);
      const interrupt = await callee.nextOf(69);
      assert.equal(interrupt[1], inv3[1]);
      assert.equal((interrupt[2] as D).mode, "killnowait");
      // nothing was interrupted for the skipped call
      assert.ok(!callee.skipped.some((m) => m[0] === 69));

      // within the router's message limit, past what NATS passes between nodes (1 MiB each)
      await using big = await raw("n3", "json");
      big.send([48, 9, {}, "com.raw.stream", ["x".repeat(1_048_500)]]);
      const tooBig = await big.nextOf(8, 5000);
      assert.deepEqual([tooBig[2], tooBig[4]], [9, "wamp.error.payload_size_exceeded"]);
      assert.ok(!callee.received.some((m) => m[0] === 68), "the callee got nothing");
    },
  );

  await t.step("a single registration: of two nodes racing, exactly one wins", async () => {
    await using a = await join("n1");
    await using b = await join("n2");
    for (let i = 0; i < 10; i++) {
      const proc = `com.race.${i}`;
      const results = await Promise.allSettled([
        a.session.register(proc, () => "a"),
        b.session.register(proc, () => "b"),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      const summary = results.map((r) =>
        r.status === "fulfilled" ? "registered" : (r.reason as { error?: string }).error
      );
      assert.equal(won.length, 1, `round ${i}: ${summary.join(", ")}`);
      assert.equal(
        (lost[0]!.reason as { error: string }).error,
        "wamp.error.procedure_already_exists",
      );
    }
  });

  await t.step(
    "call re-routing: an unavailable callee's call moves to other nodes' callees",
    async () => {
      // "first" order: n2's, n1's, n3's callee; the first two answer wamp.error.unavailable
      const clients = await Promise.all(["n2", "n1", "n3"].map((n) => join(n)));
      try {
        await using caller = await join("n1");
        const tried: string[] = [];
        for (const [i, c] of clients.entries()) {
          const name = ["n2", "n1", "n3"][i]!;
          await c.session.register("com.reroute", (args) => {
            tried.push(name);
            if (name !== "n3") throw new autobahn.Error("wamp.error.unavailable", ["busy"]);
            return `n3 got ${args?.[0]}`;
          }, { invoke: "first" });
          await until(
            () => callees(caller, "com.reroute").then((n) => n === i + 1),
            `n1 sees ${i + 1} callees`,
          );
        }
        assert.equal(await caller.session.call("com.reroute", ["x"]), "n3 got x");
        assert.deepEqual(tried, ["n2", "n1", "n3"]);
        // from n3 the same cluster-wide order
        await using far = await join("n3");
        tried.length = 0;
        assert.equal(await far.session.call("com.reroute", ["y"]), "n3 got y");
        assert.deepEqual(tried, ["n2", "n1", "n3"]);
        // every callee unavailable: no_available_callee
        await using lonely = await join("n2");
        await lonely.session.register("com.busy", () => {
          throw new autobahn.Error("wamp.error.unavailable");
        }, { invoke: "roundrobin" });
        await clients[1]!.session.register("com.busy", () => {
          throw new autobahn.Error("wamp.error.unavailable");
        }, { invoke: "roundrobin" });
        await until(() => callees(caller, "com.busy").then((n) => n === 2), "n1 sees 2 callees");
        const e = await wampError(() => caller.session.call("com.busy", []), "all unavailable");
        assert.equal(e.error, "wamp.error.no_available_callee");
      } finally {
        for (const c of clients) await c[Symbol.asyncDispose]();
      }
    },
  );

  await t.step("roundrobin spreads calls over callees of every node", async () => {
    const clients = await Promise.all(["n1", "n2", "n3"].map((n) => join(n)));
    try {
      const counts = [0, 0, 0];
      for (const [i, c] of clients.entries()) {
        await c.session.register("com.rr", () => {
          counts[i]!++;
          return i;
        }, { invoke: "roundrobin" });
      }
      await using caller = await join("n1");
      await until(() => callees(caller, "com.rr").then((n) => n === 3), "n1 sees 3 callees");
      for (let k = 0; k < 30; k++) await caller.session.call("com.rr", []);
      assert.deepEqual(counts, [10, 10, 10]);

      // first and last follow the one cluster-wide order: n3's, then n1's, then n2's callee
      for (const policy of ["first", "last"]) {
        for (const i of [2, 0, 1]) {
          const c = clients[i]!;
          await c.session.register(`com.${policy}`, () => `n${i + 1}`, { invoke: policy });
          await until(async () => {
            const n = await callees(caller, `com.${policy}`);
            return n === [2, 0, 1].indexOf(i) + 1;
          }, `n1 sees the callee of n${i + 1}`);
        }
      }
      await using other = await join("n2");
      for (const c of [caller, other]) {
        assert.equal(await c.session.call("com.first", []), "n3");
        assert.equal(await c.session.call("com.last", []), "n2");
      }
    } finally {
      for (const c of clients) await c[Symbol.asyncDispose]();
    }
  });

  await t.step(
    "pattern registrations resolve exact > longest prefix > wildcard cluster-wide",
    async () => {
      await using wild = await join("n1");
      await using short = await join("n2");
      await using long = await join("n3");
      await wild.session.register("org..x", () => "wild", { match: "wildcard" });
      await short.session.register("org.", () => "short", { match: "prefix" });
      await long.session.register("org.app.", () => "long", { match: "prefix" });
      await using caller = await join("n2");
      await until(async () => (await callees(caller, "org.app.z")) === 1, "n2 sees org.app.");
      await until(
        async () =>
          (await caller.session.call("wamp.registration.match", ["net.q.x"])) === null &&
          (await callees(caller, "org.q.x")) === 1,
        "n2 sees org.",
      );
      const got = async (uri: string) =>
        (await caller.session.call(uri, [])) as { args: unknown[] } | string;
      const value = (r: { args: unknown[] } | string) => typeof r === "string" ? r : r.args[0];
      assert.equal(value(await got("org.app.z")), "long");
      assert.equal(value(await got("org.q.x")), "short");
      const none = await wampError(() => caller.session.call("net.none", []), "no procedure");
      assert.equal(none.error, "wamp.error.no_such_procedure");
    },
  );

  await t.step(
    "callee churn across nodes leaves no registration or remote callee behind",
    async () => {
      await using caller = await join("n1");
      for (let round = 0; round < 3; round++) {
        const batch = await Promise.all(
          Array.from({ length: 60 }, (_, i) => join(`n${(i % 3) + 1}`)),
        );
        await Promise.all(batch.map((c, i) =>
          Promise.all([
            c.session.register("com.churn", () => i, { invoke: "roundrobin" }),
            c.session.register(`com.churn.${round}.${i}`, () => i),
          ])
        ));
        await until(() => callees(caller, "com.churn").then((n) => n === 60), "60 callees");
        for (let k = 0; k < 10; k++) await caller.session.call("com.churn", []);
        await Promise.all(batch.map((c) => c[Symbol.asyncDispose]()));
      }
      let left = "";
      const metric = (text: string) =>
        Number(text.match(/^switchboard_cluster_remote_callees\{node="n\d"\} (\d+)$/m)?.[1]);
      for (const n of ["n1", "n2", "n3"]) {
        await using c = await join(n);
        await until(async () => {
          const list = await c.session.call("wamp.registration.list", []) as Record<
            string,
            unknown[]
          >;
          const none = Object.values(list).every((ids) => ids.length === 0);
          const m = metric(await cluster.metrics(n));
          left = `${JSON.stringify(list)}, remote callees ${m}`;
          return none && m === 0;
        }, "nothing kept").catch((e) => {
          throw new Error(`${n} keeps something: ${left} (${e.message})`);
        });
      }
    },
  );

  await t.step(
    "SIGKILL of the callee's node mid-call: ERROR within 5 s, single taken over",
    async () => {
      await using callee = await join("n3");
      await callee.session.register("com.doomed", () => new Promise(() => {}));
      await using caller = await join("n1");
      await until(() => callees(caller, "com.doomed").then((n) => n === 1), "n1 sees com.doomed");
      const pending = caller.session.call("com.doomed", []);
      await new Promise((r) => setTimeout(r, 100));
      await cluster.kill("n3");
      const err = await wampError(() => deadline(pending, 5000, "call to a dead node"), "kill");
      assert.ok(
        ["wamp.error.canceled", "wamp.error.network_failure"].includes(err.error),
        err.error,
      );
      await using taker = await join("n2");
      await until(async () => {
        try {
          await taker.session.register("com.doomed", () => "alive");
          return true;
        } catch (e) {
          assert.equal((e as { error: string }).error, "wamp.error.procedure_already_exists");
          return false;
        }
      }, "the dead node's single registration is taken on n2");
      assert.equal(await caller.session.call("com.doomed", []), "alive");
    },
  );
});
