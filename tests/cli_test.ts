/**
 * The command line (`main.ts`) as a user runs it: a child `deno run` with exactly the permissions
 * of the `start` and `compile` tasks, checked through exit codes, stdout/stderr and a real
 * WebSocket session that must see GOODBYE `wamp.close.system_shutdown` when the process is
 * signalled.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { RawClient } from "./_helpers.ts";
import { Child as BaseChild, CLI_PERMISSIONS } from "./_process.ts";
import { compileArgs } from "../tools/compile.ts";

const ROOT = new URL("..", import.meta.url);
const FIXTURES = new URL("./fixtures/", import.meta.url);
/** The permissions of the `start` and `compile` tasks in deno.json. */
const PERMISSIONS = CLI_PERMISSIONS;

function fixture(name: string): string {
  return new URL(name, FIXTURES).pathname;
}

function command(args: string[], piped: boolean): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, "main.ts", ...args],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: piped ? "piped" : "null",
    stderr: piped ? "piped" : "null",
  });
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs main.ts to completion with `args`. */
async function run(...args: string[]): Promise<Outcome> {
  const out = await command(args, true).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Asserts a usage/config failure: non-zero exit, nothing on stdout, `switchboard:` on stderr. */
function assertFailure(o: Outcome, pattern: RegExp): void {
  assert.notEqual(o.code, 0, `expected a failure, stdout: ${o.stdout}`);
  assert.equal(o.stdout, "");
  assert.match(o.stderr, /^switchboard: /);
  assert.match(o.stderr, pattern);
}

// ---- the permissions under test are the tasks' -------------------------------------------

Deno.test("cli: the start and compile tasks use the permissions this suite runs with", () => {
  const tasks = denoJson.tasks as Record<string, string>;
  const flagsOf = (task: string) =>
    task.split(/\s+/).filter((w) => w.startsWith("--allow-")).sort();
  assert.deepEqual(flagsOf(tasks.start!), [...PERMISSIONS].sort());
  // the compile task runs tools/compile.ts, which hands deno compile the start task's flags
  const compile = compileArgs(tasks.start!).join(" ");
  assert.deepEqual(flagsOf(compile), flagsOf(tasks.start!));
  assert.match(tasks.start!, /^deno run .*\bmain\.ts$/);
  assert.match(compile, /^compile .*-o \S+ main\.ts$/);
});

// ---- flags -------------------------------------------------------------------------------

Deno.test("cli: --help lists every flag and exits 0", async () => {
  const o = await run("--help");
  assert.equal(o.code, 0);
  assert.equal(o.stderr, "");
  assert.match(o.stdout, new RegExp(`Switchboard ${denoJson.version.replaceAll(".", "\\.")}`));
  for (const flag of ["--config", "--host", "--port", "--log-level", "--help", "--version"]) {
    assert.match(o.stdout, new RegExp(`^  ${flag}\\b`, "m"), `${flag} missing from --help`);
  }
});

Deno.test("cli: --version prints the version from deno.json", async () => {
  const o = await run("--version");
  assert.equal(o.code, 0);
  assert.equal(o.stderr, "");
  assert.equal(o.stdout.trim(), `switchboard ${denoJson.version}`);
});

Deno.test("cli: an unknown flag fails with a message naming it", async () => {
  const o = await run("--bogus");
  assertFailure(o, /--bogus/);
  assert.match(o.stderr, /--help/);
});

Deno.test("cli: a positional argument is refused", async () => {
  const o = await run("config.json");
  assertFailure(o, /config\.json/);
});

Deno.test("cli: a bad --port fails with a message", async (t) => {
  for (const port of ["abc", "70000", "8080x", "1.5"]) {
    await t.step(port, async () => {
      const o = await run(`--port=${port}`);
      assertFailure(o, /--port/);
      assert.ok(o.stderr.includes(port), o.stderr);
    });
  }
  await t.step("missing value", async () => {
    assertFailure(await run("--port"), /--port/);
  });
});

Deno.test("cli: a bad --log-level fails with a message listing the levels", async () => {
  const o = await run("--log-level", "loud");
  assertFailure(o, /--log-level/);
  assert.match(o.stderr, /"loud"/);
  for (const level of ["error", "warn", "info", "debug"]) assert.ok(o.stderr.includes(level));
});

// ---- config errors -----------------------------------------------------------------------

Deno.test("cli: --config of a missing file exits 1 with one line naming the file", async () => {
  const missing = fixture("does_not_exist.json");
  const o = await run("--config", missing);
  assertFailure(o, /not found/);
  assert.equal(o.code, 1);
  assert.ok(o.stderr.includes(missing), o.stderr);
  assert.equal(o.stderr.trimEnd().split("\n").length, 1, o.stderr);
});

Deno.test("cli: an invalid config key exits 1 naming its JSON path", async () => {
  const o = await run("--config", fixture("bad_stats.json"));
  assertFailure(o, /workers\[0\]\.realms\[0\]\.stats\.trigger_on_joins/);
  assert.equal(o.code, 1);
  assert.doesNotMatch(o.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: invalid JSON exits 1 with a clear error naming the file", async () => {
  // Not named .json: `deno fmt --check` would reject the file itself.
  const file = fixture("invalid_json.txt");
  const o = await run("--config", file);
  assertFailure(o, /invalid JSON/);
  assert.equal(o.code, 1);
  assert.ok(o.stderr.includes(file), o.stderr);
  assert.doesNotMatch(o.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: a --host/--port override on a config without transports fails clearly", async () => {
  const o = await run("--config", fixture("no_transports.json"), "--port", "0");
  assertFailure(o, /workers\[0\]\.transports/);
  assert.equal(o.code, 1);
});

/** Writes the websocket_transport fixture with `transport` merged into its transport. */
async function configWith(dir: string, transport: Record<string, unknown>): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(fixture("websocket_transport.json")));
  Object.assign(config.workers[0].transports[0], transport);
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(file, JSON.stringify(config));
  return file;
}

Deno.test("cli: TLS files that are missing or not PEM fail at start-up naming the key", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("missing certificate file", async () => {
      const cert = `${dir}/missing-cert.pem`;
      const file = await configWith(dir, {
        endpoint: {
          type: "tcp",
          interface: "127.0.0.1",
          port: 0,
          tls: { certificate: cert, key: `${dir}/missing-key.pem` },
        },
      });
      const o = await run("--config", file);
      assertFailure(o, /config error: workers\[0\]\.transports\[0\]\.endpoint\.tls\.certificate: /);
      assert.equal(o.code, 1);
      assert.ok(o.stderr.includes(cert), o.stderr);
      assert.equal(o.stderr.trimEnd().split("\n").length, 1, o.stderr);
    });
    await t.step("files that hold no certificate", async () => {
      const junk = `${dir}/junk.pem`;
      await Deno.writeTextFile(junk, "not a PEM file\n");
      const file = await configWith(dir, {
        endpoint: {
          type: "tcp",
          interface: "127.0.0.1",
          port: 0,
          tls: { certificate: junk, key: junk },
        },
      });
      const o = await run("--config", file);
      assertFailure(
        o,
        /config error: workers\[0\]\.transports\[0\]\.endpoint\.tls: .*cannot be used/,
      );
      assert.equal(o.code, 1);
      assert.doesNotMatch(o.stderr, /^\s+at /m, "no stack trace");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a Unix-socket transport without --allow-write fails with one line naming the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await configWith(dir, {
      type: "rawsocket",
      endpoint: { type: "unix", path: `${dir}/router.sock` },
      serializers: ["json"],
    });
    const o = await run("--config", file);
    assertFailure(o, /cannot listen: .*--allow-write/);
    assert.equal(o.code, 1);
    assert.equal(o.stderr.trimEnd().split("\n").length, 1, o.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- a running router --------------------------------------------------------------------

/** A running main.ts with `args`, its stdout and stderr drained in the background. */
class Child extends BaseChild {
  constructor(args: string[]) {
    super(command(args, true));
  }
}

/** Parses the start-up line: URL, realms and serializers. */
function parseStartLine(line: string) {
  const m = line.match(
    /^Switchboard (\S+) listening on (\S+) \(realms: ([^;]*); serializers: ([^)]*)\)$/,
  );
  assert.ok(m, `unexpected start-up line: ${line}`);
  return {
    version: m[1],
    url: new URL(m[2]!),
    realms: m[3]!.split(", "),
    serializers: m[4]!.split(", "),
  };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`cli: ${signal} ends sessions with system_shutdown and exits 0`, async () => {
    await using child = new Child(["--port", "0", "--host", "127.0.0.1"]);
    const start = parseStartLine(await child.stdoutLine(/listening on/));
    assert.equal(start.version, denoJson.version);
    assert.equal(start.url.protocol, "ws:");
    assert.equal(start.url.hostname, "127.0.0.1");
    assert.equal(start.url.pathname, "/ws");
    const port = Number(start.url.port);
    assert.ok(Number.isInteger(port) && port > 0, `port ${start.url.port}`);
    assert.notEqual(port, 8080, "the --port override applies");
    assert.deepEqual(start.realms, ["realm1"]);
    assert.deepEqual(start.serializers, ["json", "msgpack", "cbor"]);

    await using client = await RawClient.connect(start.url.href, "json");
    assert.equal(client.ws.protocol, "wamp.2.json");
    client.send([1, "realm1", { roles: { subscriber: {} } }]);
    const welcome = await client.next();
    assert.equal(welcome[0], 2, JSON.stringify(welcome));

    child.process.kill(signal);
    const goodbye = await client.next();
    assert.equal(goodbye[0], 6, JSON.stringify(goodbye));
    assert.equal(goodbye[2], "wamp.close.system_shutdown");
    client.send([6, {}, "wamp.close.goodbye_and_out"]);
    await client.closed();

    const status = await child.status();
    assert.equal(status.code, 0, `stderr: ${child.stderr}`);
    assert.equal(status.signal, null);
    assert.match(child.stderr, new RegExp(`${signal} received`));
  });
}

Deno.test("cli: a websocket-type transport serves WAMP on any path", async () => {
  await using child = new Child(["--config", fixture("websocket_transport.json")]);
  const start = parseStartLine(await child.stdoutLine(/listening on/));
  assert.equal(start.url.hostname, "127.0.0.1");
  assert.equal(start.url.pathname, "/");
  assert.deepEqual(start.realms, ["realm1"]);
  assert.deepEqual(start.serializers, ["json", "msgpack"]);

  for (const path of ["/", "/ws", "/any/deeper/path"]) {
    const url = new URL(path, start.url).href;
    const { client, welcome } = await RawClient.join(url, "msgpack");
    await using _ = client;
    assert.equal(welcome[0], 2);
    assert.equal(client.ws.protocol, "wamp.2.msgpack");
    client.send([6, {}, "wamp.close.close_realm"]);
    const goodbye = await client.next();
    assert.deepEqual(goodbye.slice(0, 1), [6]);
    assert.equal(goodbye[2], "wamp.close.goodbye_and_out");
  }

  child.process.kill("SIGTERM");
  const status = await child.status();
  assert.equal(status.code, 0, `stderr: ${child.stderr}`);
});

Deno.test("cli: --log-level error silences the info log lines", async () => {
  await using child = new Child(["--port", "0", "--host", "127.0.0.1", "--log-level", "error"]);
  const start = parseStartLine(await child.stdoutLine(/listening on/));
  {
    // A join and a leave would each log at info level.
    const { client } = await RawClient.join(start.url.href, "cbor");
    await using _ = client;
    client.send([6, {}, "wamp.close.close_realm"]);
    assert.equal((await client.next())[0], 6);
  }
  child.process.kill("SIGTERM");
  const status = await child.status();
  assert.equal(status.code, 0);
  assert.equal(child.stderr, "");
});

Deno.test("cli: --log-format json writes one JSON object per line: join, leave, abort", async () => {
  await using child = new Child(["--port", "0", "--host", "127.0.0.1", "--log-format", "json"]);
  const start = parseStartLine(await child.stdoutLine(/listening on/));
  {
    const { client, session } = await RawClient.join(start.url.href, "json");
    await using _ = client;
    client.send([6, {}, "wamp.close.close_realm"]);
    assert.equal((await client.next())[0], 6);
    client.send([16, 1, {}, "com.x"]); // before HELLO: ABORT protocol_violation
    assert.equal((await client.next())[0], 3);
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
    const records = child.stderr.trim().split("\n").map((l) => JSON.parse(l));
    for (const r of records) {
      assert.equal(typeof r.time, "string");
      assert.equal(typeof r.level, "string");
    }
    const joined = records.filter((r) => r.message === "session joined");
    const left = records.filter((r) => r.message === "session left");
    const aborted = records.filter((r) => r.message === "session aborted");
    assert.equal(joined.length, 1);
    assert.equal(joined[0].session, session);
    assert.equal(left.length, 1);
    assert.equal(aborted.length, 1, JSON.stringify(records));
    assert.equal(aborted[0].reason, "wamp.error.protocol_violation");
  }
});

Deno.test("cli: --log-format must be text or json", async () => {
  assertFailure(await run("--log-format", "xml"), /--log-format must be text or json/);
});

Deno.test("cli: SIGTERM right after the start-up line still shuts down cleanly", async () => {
  // A supervisor may signal as soon as the router says it is listening. The signal handlers
  // must be installed by the time that line is printed, or the default action kills the
  // process (exit 143) without any GOODBYE. The race is narrow, so try a few times.
  const codes: number[] = [];
  const tries = 10;
  for (let i = 0; i < tries; i++) {
    await using child = new Child(["--port", "0", "--host", "127.0.0.1", "--log-level", "error"]);
    await child.stdoutLine(/listening on/);
    child.process.kill("SIGTERM");
    codes.push((await child.status()).code);
  }
  assert.deepEqual(codes, new Array(tries).fill(0));
});

Deno.test("cli: SIGHUP reloads --config without dropping sessions; a broken file is rejected", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/config.json`;
  const write = (prefix: string) =>
    Deno.writeTextFile(
      file,
      JSON.stringify({
        version: 2,
        workers: [{
          type: "router",
          realms: [{
            name: "realm1",
            roles: [{
              name: "anonymous",
              permissions: [{ uri: prefix, match: "prefix", allow: { publish: true } }],
            }],
          }],
          transports: [{
            type: "web",
            endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
            paths: { ws: { type: "websocket" } },
          }],
        }],
      }),
    );
  try {
    await write("com.a.");
    await using child = new Child(["--config", file]);
    const start = parseStartLine(await child.stdoutLine(/listening on/));
    const { client } = await RawClient.join(start.url.href, "json");
    await using _ = client;
    const publish = async (id: number, topic: string) => {
      client.send([16, id, { acknowledge: true }, topic, []]);
      const m = await client.next();
      return m[0] === 17 ? "ok" : m[4];
    };
    assert.equal(await publish(1, "com.b.x"), "wamp.error.not_authorized");
    await write("com.b.");
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(child.stderr); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(child.stderr, re);
    };
    child.process.kill("SIGHUP");
    await waitFor(/configuration reloaded/);
    assert.equal(await publish(2, "com.b.x"), "ok");
    await Deno.writeTextFile(file, "{ not json");
    child.process.kill("SIGHUP");
    await waitFor(/reload failed; the old configuration stays in force/);
    assert.equal(await publish(3, "com.b.x"), "ok");
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
