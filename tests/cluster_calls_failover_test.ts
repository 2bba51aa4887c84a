/**
 * A node cut off from NATS while the others go on (its connection runs through a TCP proxy the
 * test cuts and restores), with real clients: the cut-off node keeps serving calls between its
 * own sessions; the others declare it down, its `single` registration is taken on another node;
 * when NATS is back the cut-off node finds its registration taken and revokes its own callee
 * (`UNREGISTERED` with reason `wamp.error.procedure_already_exists`), and its callers reach the
 * new callee. And a node SIGKILLed and started again under its name: its new incarnation frees
 * what the old one left in the bucket.
 */

import assert from "node:assert/strict";
import { TestCluster } from "./_cluster.ts";
import { freePort } from "./_nats.ts";
import { RawClient } from "./_helpers.ts";
import { AutobahnClient } from "./interop/common.ts";

/** A TCP proxy on a fixed 127.0.0.1 port that can be cut (every connection closed) and restored. */
class CutProxy implements AsyncDisposable {
  readonly port = freePort();
  #listener: Deno.Listener | null = null;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<unknown>>();

  constructor(readonly target: number) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Accepts connections (again). */
  open(): void {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    this.#track(this.#accept(listener));
  }

  /** Closes the listener and every connection through it. */
  async cut(): Promise<void> {
    this.#listener?.close();
    this.#listener = null;
    for (const c of this.#conns) c.close();
    this.#conns.clear();
    await Promise.allSettled([...this.#tasks]);
  }

  #track(p: Promise<unknown>): void {
    const task = p.catch(() => {}).finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    try {
      for await (const client of listener) {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: this.target });
        this.#conns.add(client);
        this.#conns.add(server);
        this.#track(client.readable.pipeTo(server.writable));
        this.#track(server.readable.pipeTo(client.writable));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cut();
  }
}

/** Waits until `check` holds (a deadline, not a timing assertion). */
async function until(check: () => Promise<boolean> | boolean, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ROLES = {
  caller: { features: { call_canceling: true, progressive_call_results: true } },
  callee: { features: { registration_revocation: true, call_canceling: true } },
};

Deno.test("cluster processes: a node cut off from NATS revokes the exclusive registration taken meanwhile", async () => {
  await using cluster = await TestCluster.start(["n2"]);
  await using proxy = new CutProxy(cluster.nats.port);
  proxy.open();
  await cluster.addNode("n1", proxy.url);
  await cluster.converged();
  const n1 = cluster.node("n1"), n2 = cluster.node("n2");

  await using callee = (await RawClient.join(n1.url, "json", "realm1", { roles: ROLES })).client;
  callee.send([64, 1, {}, "com.excl"]);
  const registered = await callee.nextOf(65);
  const regId = registered[2] as number;
  await using remote = await AutobahnClient.join(n2.url, "json");
  // the raw callee answers every INVOCATION with its own name and keeps what else it gets
  const others: unknown[][] = [];
  const answering = (async () => {
    for (;;) {
      let m: unknown[];
      try {
        m = await callee.next(60_000);
      } catch {
        return;
      }
      if (m[0] === 68) callee.send([70, m[1], {}, ["n1 callee"]]);
      else others.push(m);
    }
  })();
  await until(async () => {
    try {
      return (await remote.session.call("com.excl", [])) === "n1 callee";
    } catch {
      return false;
    }
  }, "n2 reaches the callee on n1");

  await proxy.cut();
  await n2.child.output(/cluster: node down peer=n1 /, 15_000);
  // n1 goes on serving its own sessions
  await using local = (await RawClient.join(n1.url, "json", "realm1", { roles: ROLES })).client;
  local.send([48, 1, {}, "com.excl", []]);
  const result = await local.nextOf(50, 5000);
  assert.deepEqual(result[3], ["n1 callee"]);

  // the others took n1 for gone: its single registration is free there
  await using taker = await AutobahnClient.join(n2.url, "json");
  await until(async () => {
    try {
      await taker.session.register("com.excl", () => "n2 callee");
      return true;
    } catch (e) {
      assert.equal((e as { error: string }).error, "wamp.error.procedure_already_exists");
      return false;
    }
  }, "n2 takes com.excl");

  proxy.open();
  await until(() => others.some((m) => m[0] === 67), "the revocation", 20_000);
  assert.deepEqual(others.find((m) => m[0] === 67), [67, 0, {
    registration: regId,
    reason: "wamp.error.procedure_already_exists",
  }]);
  // n1's callers now reach the callee on n2
  let n = 0;
  await until(async () => {
    local.send([48, 10 + ++n, {}, "com.excl", []]);
    const m = await local.next(5000);
    return m[0] === 50 && (m[3] as unknown[])[0] === "n2 callee";
  }, "a caller on n1 reaches the callee on n2");
  assert.equal(await remote.session.call("com.excl", []), "n2 callee");
  await callee[Symbol.asyncDispose]();
  await answering;
});

Deno.test("cluster processes: a node killed and restarted under its name frees its old registrations", async () => {
  await using cluster = await TestCluster.start(["n1", "n2"]);
  await cluster.converged();
  {
    await using callee = await AutobahnClient.join(cluster.node("n1").url, "json");
    await callee.session.register("com.restart", () => "old");
    await cluster.kill("n1");
  }
  await cluster.addNode("n1");
  await using fresh = await AutobahnClient.join(cluster.node("n1").url, "json");
  // the new incarnation prunes what its previous life left in the bucket (the others drop it too
  // once they see the old incarnation gone), so the single registration is free again
  await until(async () => {
    try {
      await fresh.session.register("com.restart", () => "new");
      return true;
    } catch (e) {
      assert.equal((e as { error: string }).error, "wamp.error.procedure_already_exists");
      return false;
    }
  }, "the restarted node registers com.restart again");
  await using caller = await AutobahnClient.join(cluster.node("n2").url, "json");
  await until(async () => {
    try {
      return (await caller.session.call("com.restart", [])) === "new";
    } catch {
      return false;
    }
  }, "n2 reaches the new callee");
});
