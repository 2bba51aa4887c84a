/**
 * The session meta API, testaments and observability across router processes joined by a real
 * nats-server (`tests/_cluster.ts` starts everything and always stops it), with AutobahnJS
 * clients and an Autobahn|Python monitor (examples style: a one-argument `on_leave` handler) on
 * different nodes: count/list/get over the cluster with each session's node, kill_by_authid and
 * kill_all across nodes (never the caller), subscription meta with one id everywhere, a SIGKILLed
 * node's sessions announced as gone once and its testament published once, `/metrics` with the
 * node label on every series and the NATS link gauges.
 */

import assert from "node:assert/strict";
import { type AbClosed, AutobahnClient } from "./interop/common.ts";
import { findPython } from "./interop/python.ts";
import { Child } from "./_process.ts";
import { Browser, until } from "./_chromium.ts";
import { TestCluster } from "./_cluster.ts";
import { connectNats } from "../src/cluster/nats_link.ts";
import {
  SESSIONS_BUCKET,
  SUBSCRIPTIONS_BUCKET,
  TESTAMENTS_BUCKET,
} from "../src/cluster/session_wire.ts";

const MONITOR = new URL("./interop/cluster_monitor.py", import.meta.url).pathname;

/** Starts the Python monitor on `url` (it prints JSON lines; stdin open keeps it running). */
function monitor(python: string, url: string, extra: string[] = []): Child {
  return new Child(
    new Deno.Command(python, {
      args: [MONITOR, "--url", url, ...extra],
      env: { PYTHONDONTWRITEBYTECODE: "1" },
      // the monitor runs until its stdin closes; a query leaves by itself
      stdin: extra.includes("--query") ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }),
  );
}

/** The JSON lines `child` printed so far. */
function lines(child: Child): Record<string, unknown>[] {
  return child.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** Waits until `probe` holds, polling (a deadline, not a timing assertion). */
async function eventually(probe: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Lets stray duplicates arrive, so "exactly once" is checked after a pause. */
function pause(ms = 500): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("cluster meta processes: the session meta API, testaments and /metrics across three nodes", async (t) => {
  const { python, tried } = await findPython();
  assert.ok(python, `Autobahn|Python is needed: ${tried.join("; ")}`);
  await using cluster = await TestCluster.start(["p1", "p2", "p3"]);
  await cluster.converged();
  const join = (node: string) => AutobahnClient.join(cluster.node(node).url, "json");

  await using mon = monitor(python, cluster.node("p2").url);
  await mon.output(/"ready"/, 20_000);
  await using admin = await join("p1");
  await using u3 = await join("p3");
  const u3id = u3.id;

  await t.step("count, list and get see every node's sessions and name their node", async () => {
    // the meta API's view of other nodes is eventually consistent: wait for it
    await eventually(async () => (await admin.session.call("wamp.session.count")) === 3, "3");
    await using q = monitor(python, cluster.node("p2").url, ["--query"]);
    const [line] = await q.output(/^\{"self".*$/m, 20_000);
    const got = JSON.parse(line) as {
      self: number;
      count: number;
      list: number[];
      get: Record<string, { node: string }>;
    };
    assert.equal(got.count, 4, "the query session, the monitor, admin and u3");
    assert.deepEqual([...got.list].sort(), [got.self, lines(mon)[0]!.ready, admin.id, u3id].sort());
    assert.equal(got.get[String(admin.id)]!.node, "p1");
    assert.equal(got.get[String(u3id)]!.node, "p3");
    assert.equal(got.get[String(got.self)]!.node, "p2");
  });

  await t.step(
    "the Python monitor sees a session of another node join and leave, once",
    async () => {
      const u1 = await join("p1");
      const id = u1.id;
      await u1.close();
      await eventually(() => lines(mon).some((l) => l.leave === id), "on_leave on p2");
      await pause();
      assert.deepEqual(lines(mon).filter((l) => l.join === id).map((l) => l.node), ["p1"]);
      assert.equal(lines(mon).filter((l) => l.leave === id).length, 1);
    },
  );

  await t.step("subscription meta: one id on every node, subscribers of every node", async () => {
    await using s1 = await join("p1");
    await using s3 = await join("p3");
    await s1.session.subscribe("com.cluster.sub", () => {});
    await s3.session.subscribe("com.cluster.sub", () => {});
    let id = 0;
    await eventually(async () => {
      id = await admin.session.call("wamp.subscription.lookup", ["com.cluster.sub"]) as number;
      if (typeof id !== "number") return false;
      const n = await u3.session.call("wamp.subscription.count_subscribers", [id]);
      return n === 2;
    }, "both subscribers counted");
    const ids = await u3.session.call("wamp.subscription.list_subscribers", [id]) as number[];
    assert.deepEqual([...ids].sort(), [s1.id, s3.id].sort());
    assert.equal(await u3.session.call("wamp.subscription.lookup", ["com.cluster.sub"]), id);
  });

  await t.step("kill_by_authid reaches another node; kill of an unknown id fails", async () => {
    const details = await admin.session.call("wamp.session.get", [u3id]) as { authid: string };
    const closed = u3.closed;
    const killed = await admin.session.call("wamp.session.kill_by_authid", [details.authid]);
    assert.deepEqual(killed, [u3id]);
    const how: AbClosed = await closed;
    assert.equal(how.wampReason ?? how.reason, "wamp.close.killed");
    await assert.rejects(
      admin.session.call("wamp.session.kill", [u3id]),
      (e: unknown) => (e as { error?: string }).error === "wamp.error.no_such_session",
    );
  });

  await t.step("a SIGKILLed node: on_leave once for its sessions, its testament once", async () => {
    await using v = await join("p3");
    const vid = v.id;
    await using far = await join("p1");
    const wills: unknown[] = [];
    await far.session.subscribe("com.cluster.will", (args) => {
      wills.push(args);
    });
    await v.session.call("wamp.session.add_testament", ["com.cluster.will", ["p3 gone"]]);
    await eventually(
      async () => (await admin.session.call("wamp.session.list") as number[]).includes(vid),
      "v listed on p1",
    );
    await pause();
    await cluster.kill("p3");
    await eventually(() => lines(mon).some((l) => l.leave === vid), "on_leave of v on p2", 10_000);
    await eventually(() => wills.length > 0, "the testament on p1", 10_000);
    await pause(1500);
    assert.equal(lines(mon).filter((l) => l.leave === vid).length, 1, "on_leave once");
    assert.deepEqual(lines(mon).filter((l) => l.topic).map((l) => l.topic), [["p3 gone"]]);
    assert.deepEqual(wills, [["p3 gone"]], "published once, on every node");
    assert.equal(
      (await admin.session.call("wamp.session.list") as number[]).includes(vid),
      false,
    );
  });

  await t.step("kill_all ends every session of the cluster but the caller", async () => {
    await using other = await join("p2");
    const closed = other.closed;
    await eventually(
      async () => (await admin.session.call("wamp.session.count") as number) >= 3,
      "seen",
    );
    const n = await admin.session.call("wamp.session.kill_all") as number;
    assert.ok(n >= 2, String(n));
    await closed;
    assert.equal(admin.session.isOpen, true, "the caller stays");
  });

  await t.step("/metrics: the node label on every series, the NATS link's gauges", async () => {
    const text = await cluster.metrics("p1");
    const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
    assert.ok(samples.length > 20);
    for (const s of samples) assert.match(s, /^[a-z_]+\{node="p1"[,}]/, s);
    assert.match(text, /^switchboard_sessions\{node="p1",realm="realm1"\} 1$/m);
    assert.match(
      text,
      /^switchboard_cluster_link_messages_total\{node="p1",direction="in"\} [1-9]/m,
    );
    assert.match(text, /^switchboard_cluster_link_bytes_total\{node="p1",direction="out"\} [1-9]/m);
    assert.match(text, /^switchboard_cluster_link_reconnects_total\{node="p1"\} 0$/m);
    assert.match(text, /^switchboard_cluster_link_rtt_seconds\{node="p1"\} \d/m);
    assert.match(text, /^switchboard_cluster_cleanups_total\{node="p1"\} [01]$/m);
    const p2 = await cluster.metrics("p2");
    const cleaned = [text, p2].map((x) =>
      Number(x.match(/^switchboard_cluster_cleanups_total\{node="p\d"\} (\d+)$/m)![1])
    );
    assert.equal(cleaned[0]! + cleaned[1]!, 1, "one survivor cleaned up after p3");
  });
  await mon.process.stdin.close().catch((e) => {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  });
});

Deno.test("cluster meta processes: a node's status page lists the nodes and each session's node", async () => {
  await using cluster = await TestCluster.start(["q1", "q2"]);
  await cluster.converged();
  await using far = await AutobahnClient.join(cluster.node("q2").url, "json");
  await using near = await AutobahnClient.join(cluster.node("q1").url, "json");
  await using browser = await Browser.launch();
  const cdp = browser.page!;
  await cdp.navigate(`${cluster.node("q1").http}/status`);
  const read = () =>
    cdp.evaluate<{ nodes: string; hidden: boolean; rows: Record<string, string> }>(`(() => {
      const rows = {};
      for (const tr of document.querySelectorAll("tr[data-session]")) {
        rows[tr.dataset.session] = tr.querySelector("td[data-field=node]")?.textContent ?? "";
      }
      return {
        nodes: document.getElementById("nodes").textContent,
        hidden: document.getElementById("nodes-line").hidden,
        rows,
      };
    })()`);
  const shown = await until("both nodes' sessions on the page", async () => {
    const v = await read();
    return v.rows[String(far.id)] && v.rows[String(near.id)] ? v : null;
  });
  assert.equal(shown.hidden, false);
  assert.equal(shown.nodes, "q1 (this one), q2");
  assert.equal(shown.rows[String(far.id)], "q2");
  assert.equal(shown.rows[String(near.id)], "q1");
});

Deno.test("cluster meta processes: after NATS is killed and restarted every node lists the other's sessions again", async () => {
  await using cluster = await TestCluster.start(["r1", "r2"]);
  await cluster.converged();
  await using a = await AutobahnClient.join(cluster.node("r1").url, "json");
  await using b = await AutobahnClient.join(cluster.node("r2").url, "json");
  const listed = (c: AutobahnClient, id: number) => async () =>
    (await c.session.call("wamp.session.list") as number[]).includes(id);
  await eventually(listed(a, b.id), "r2's session listed on r1");
  const leaves: unknown[] = [];
  await b.session.subscribe("wamp.session.on_leave", (args) => {
    leaves.push(args);
  });
  await cluster.nats.kill();
  // longer than node_timeout: each node takes the other for dead meanwhile
  await cluster.node("r1").child.output(/cluster: node down peer=r2 /, 10_000);
  await eventually(async () => !(await listed(a, b.id)()), "r2's session hidden on r1");
  assert.equal(await a.session.call("wamp.session.count"), 1, "r1 still serves its own");
  await cluster.nats.restart();
  await eventually(listed(a, b.id), "r2's session listed on r1 again", 20_000);
  await eventually(listed(b, a.id), "r1's session listed on r2 again", 20_000);
  assert.equal(await b.session.call("wamp.session.count"), 2);
  await pause(1000);
  assert.deepEqual(leaves, [], "nobody was announced as gone: every node had only lost NATS");
});

Deno.test("cluster meta processes: a join/leave churn of 5,000 sessions across two nodes leaves no key behind", async () => {
  await using cluster = await TestCluster.start(["c1", "c2"]);
  await cluster.converged();
  await using observer = await AutobahnClient.join(cluster.node("c1").url, "json");
  for (let round = 0; round < 50; round++) {
    const batch = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => AutobahnClient.join(cluster.node(i % 2 ? "c2" : "c1").url, "json"),
      ),
    );
    await Promise.all(batch.slice(0, 30).map((c) => c.session.subscribe("com.churn", () => {})));
    await Promise.all(
      batch.slice(0, 10).map((c) =>
        c.session.call("wamp.session.add_testament", ["com.churn.will", []])
      ),
    );
    if (round === 0) {
      // the churn is seen: every session of both nodes is counted by the observer
      await eventually(
        async () => (await observer.session.call("wamp.session.count")) === 101,
        "the first batch counted",
      );
    }
    await Promise.all(batch.map((c) => c.close()));
  }
  const remote = (node: string, n: number) => async () =>
    new RegExp(`^switchboard_cluster_remote_sessions\\{node="${node}"\\} ${n}$`, "m")
      .test(await cluster.metrics(node));
  await eventually(remote("c2", 1), "c2 knows the observer only", 20_000);
  await eventually(remote("c1", 0), "c1 knows of no session of c2", 20_000);
  const probe = await connectNats([cluster.nats.url], { name: "probe" });
  try {
    const keys = async (bucket: string) => await (await probe.bucket(bucket)).keys();
    await eventually(async () => (await keys(SESSIONS_BUCKET)).length === 1, "one session key");
    assert.equal((await keys(SESSIONS_BUCKET))[0]!.split(".").at(-1), String(observer.id));
    await eventually(async () => (await keys(SUBSCRIPTIONS_BUCKET)).length === 0, "no sub key");
    assert.deepEqual(await keys(TESTAMENTS_BUCKET), []);
  } finally {
    await probe.close();
  }
  assert.equal(await observer.session.call("wamp.session.count"), 1);
});
