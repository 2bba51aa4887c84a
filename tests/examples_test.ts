/**
 * The monitoring examples as the README runs them: the router started like `deno task start`
 * on the embedded default config (only the port moved to a free one), then
 * `examples/monitor.py` (Crossbar's monitor, Autobahn|Python on Twisted) and
 * `examples/monitor.ts` (AutobahnJS), each of which must print the join, the statistics and the
 * leave of a client session that the test opens, uses and closes.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { RawClient } from "./_helpers.ts";
import { findPython } from "./interop/python.ts";
import { Child } from "./_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** How long a monitor may take to show what the test waits for. */
const WAIT_MS = 20_000;

function piped(cmd: string, args: string[]): Deno.Command {
  return new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** The `start` task's `deno run` flags, from deno.json, so the test runs what users run. */
function startTaskArgs(): string[] {
  const words = (denoJson.tasks.start as string).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  return words.slice(1);
}

async function monitorShowsSessionLifecycle(monitor: Deno.Command, url: string): Promise<void> {
  await using mon = new Child(monitor);
  await mon.output(/>>>>>> MONITOR session joined/, WAIT_MS);
  // The monitor subscribes to on_join, on_stats and on_leave (in that order) after it joined,
  // and the meta API hides wamp.* subscriptions: probe sessions come and go until the monitor
  // reports one of them leaving, so all three subscriptions are in place.
  for (let i = 0;; i++) {
    const probe = await RawClient.join(url, "json");
    await probe.client[Symbol.asyncDispose]();
    const left = new RegExp(`MONITOR : session ${probe.session} left`);
    const seen = await mon.output(left, 500).then(() => true, (e) => {
      if (i >= 40) throw e;
      return false;
    });
    if (seen) break;
  }

  const { client, session } = await RawClient.join(url, "cbor");
  // realm1 (default config): rated_message_size 256, a stats event every 10 rated messages.
  for (let i = 1; i <= 12; i++) {
    client.send([16, i, { acknowledge: true }, "com.example.monitored", [i]]);
    assert.equal((await client.nextOf(17))[0], 17);
  }
  client.send([6, {}, "wamp.close.close_realm"]);
  assert.equal((await client.nextOf(6))[2], "wamp.close.goodbye_and_out");
  await client[Symbol.asyncDispose]();

  await mon.output(new RegExp(`MONITOR : session ${session} left`), WAIT_MS);
  const output = mon.stdout + mon.stderr;
  assert.doesNotMatch(output, /Traceback|Error/, "the monitor reported no error");

  // The monitor's reports about this session, in the order it printed them.
  const reports = monitorReports(mon.stdout).filter((r) => r.session === session);
  assert.deepEqual(
    reports.map((r) => r.kind),
    ["joined", ...reports.slice(1, -1).map(() => "stats"), "left"],
    `join, stats, leave in order: ${JSON.stringify(reports)}`,
  );
  const stats = reports.filter((r) => r.kind === "stats");
  // the join event, one after 10 rated messages (12 publications), and the final one
  assert.ok(stats.length >= 3, `expected join, rated and leave stats: ${JSON.stringify(stats)}`);
  assert.deepEqual(stats.map((r) => r.cycle), stats.map((_, i) => i + 1), "cycles from 1");
  assert.deepEqual(stats.map((r) => r.first), stats.map((_, i) => i === 0), "first flags");
  assert.deepEqual(stats.map((r) => r.last), stats.map((_, i) => i === stats.length - 1));
}

interface Report {
  kind: "joined" | "stats" | "left";
  session: number;
  cycle?: number;
  first?: boolean;
  last?: boolean;
}

/**
 * Parses a monitor's output into its reports. Python prints dicts with pformat
 * (`'session': 1, 'first': True`), Deno with Deno.inspect (`session: 1, first: true`).
 */
function monitorReports(text: string): Report[] {
  const field = (block: string, name: string) =>
    block.match(new RegExp(`['"]?${name}['"]?:\\s*(\\w+)`))?.[1];
  const bool = (v: string | undefined) => v === undefined ? undefined : /^true$/i.test(v);
  const out: Report[] = [];
  for (const block of text.split(/>>>>>> MONITOR : /).slice(1)) {
    const left = block.match(/^session (\d+) left/);
    if (left) {
      out.push({ kind: "left", session: Number(left[1]) });
    } else if (block.startsWith("session joined")) {
      out.push({ kind: "joined", session: Number(field(block, "session")) });
    } else if (block.startsWith("session stats")) {
      out.push({
        kind: "stats",
        session: Number(field(block, "session")),
        cycle: Number(field(block, "cycle")),
        first: bool(field(block, "first")),
        last: bool(field(block, "last")),
      });
    }
  }
  return out;
}

Deno.test("examples: monitor.py and monitor.ts print join, stats and leave against the default config", async (t) => {
  await using router = new Child(
    piped(Deno.execPath(), [...startTaskArgs(), "--port", "0", "--host", "127.0.0.1"]),
  );
  const line = await router.stdoutLine(/listening on/);
  const url = line.match(/listening on (\S+)/)![1]!;

  await t.step("examples/monitor.py (Autobahn|Python, Twisted)", async () => {
    const { python, tried } = await findPython();
    assert.ok(python, `no Python with autobahn: ${tried.join("; ")}`);
    await monitorShowsSessionLifecycle(
      piped(python, ["examples/monitor.py", "--url", url, "--realm", "realm1"]),
      url,
    );
  });

  await t.step("examples/monitor.ts (AutobahnJS on Deno)", async () => {
    await monitorShowsSessionLifecycle(
      piped(Deno.execPath(), [
        "run",
        "--lock=dev.lock",
        "--allow-net",
        "--allow-env",
        "examples/monitor.ts",
        "--url",
        url,
        "--realm",
        "realm1",
      ]),
      url,
    );
  });

  router.process.kill("SIGTERM");
  assert.equal((await router.status()).code, 0, router.stderr);
});
