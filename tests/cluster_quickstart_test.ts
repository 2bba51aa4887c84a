/**
 * The README's cluster quick start ("Three nodes and NATS on one machine"), as a newcomer runs
 * it: nats-server with JetStream, then three nodes started with the `start` task's own command
 * line (read from deno.json) on the embedded default config, with only `--node` and `--cluster`
 * added, and `--host 127.0.0.1 --port 0` instead of the README's fixed ports (tests listen on
 * loopback and ephemeral ports). Each node logs that it joined and hears the other two; an
 * AutobahnJS client on each node is in one realm: a publication on one reaches the subscribers
 * on the others, and a procedure registered on one is called from the others.
 */

import assert from "node:assert/strict";
import { NatsServer } from "./_nats.ts";
import { Child } from "./_process.ts";
import { AutobahnClient } from "./interop/common.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The `start` task's arguments after `deno` (`run`, its permissions, `main.ts`). */
async function startTask(): Promise<string[]> {
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const words = String(deno.tasks.start).split(/\s+/);
  assert.equal(words[0], "deno", "the start task runs deno");
  assert.ok(words.includes("main.ts"), "the start task runs main.ts");
  return words.slice(1);
}

Deno.test("cluster quick start: three nodes and NATS from the README's commands are one router", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  for (const n of [1, 2, 3]) {
    assert.match(
      readme,
      new RegExp(
        `deno task start --port 808${n} --node n${n} --cluster nats://127\\.0\\.0\\.1:4222`,
      ),
      "the README still gives these commands",
    );
  }
  await using nats = await NatsServer.start();
  const task = await startTask();
  const nodes: Child[] = [];
  await using _stop = {
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
    },
  };
  const urls: string[] = [];
  for (const name of ["n1", "n2", "n3"]) {
    const child = new Child(
      new Deno.Command(Deno.execPath(), {
        args: [
          ...task,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--node",
          name,
          "--cluster",
          nats.url,
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
    );
    nodes.push(child);
    const line = await child.stdoutLine(/listening on ws:\/\//);
    urls.push(line.match(/(ws:\/\/127\.0\.0\.1:\d+\/ws)/)![1]!);
    await child.output(
      new RegExp(`cluster: node joined number=\\d+ servers=\\S+ node=${name}`),
      10_000,
    );
  }
  const names = ["n1", "n2", "n3"];
  await Promise.all(
    names.flatMap((a, i) =>
      names.filter((b) => b !== a).map((b) =>
        nodes[i]!.output(new RegExp(`cluster: node up peer=${b} number=\\d+ node=${a}`), 10_000)
      )
    ),
  );

  const clients = await Promise.all(urls.map((url) => AutobahnClient.join(url, "json")));
  await using _clients = {
    async [Symbol.asyncDispose]() {
      for (const c of clients) await c[Symbol.asyncDispose]();
    },
  };
  const [c1, c2, c3] = clients as [AutobahnClient, AutobahnClient, AutobahnClient];
  const got: string[] = [];
  await c2.session.subscribe("com.quickstart", (args) => got.push(`n2 ${args?.[0]}`));
  await c3.session.subscribe("com.quickstart", (args) => got.push(`n3 ${args?.[0]}`));
  await c1.session.publish("com.quickstart", ["hello"], {}, { acknowledge: true });
  const end = Date.now() + 10_000;
  while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got.sort(), ["n2 hello", "n3 hello"]);

  await c3.session.register(
    "com.quickstart.add",
    (args) => (args![0] as number) + (args![1] as number),
  );
  // the registration reaches the other nodes through the bucket's watch: ask until it is there
  for (const c of [c1, c2]) {
    let sum: unknown;
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        sum = await c.session.call("com.quickstart.add", [2, 3]);
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(sum, 5);
  }
});
