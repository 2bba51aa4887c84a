/**
 * Log lines cannot be forged: client-chosen strings (HELLO realm, ABORT reason and message)
 * are escaped and quoted in text logs, and stay inside their JSON string in JSON logs. Unit
 * tests of both formats through the public loggers, and a real router process (main.ts) whose
 * stderr is read line by line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { consoleLogger, jsonLogger, type Logger } from "../mod.ts";
import { RawClient } from "./_helpers.ts";
import { Child, CLI_PERMISSIONS } from "./_process.ts";

/** What the logger printed through console.error while `fn` ran. */
function printed(logger: Logger, fn: (l: Logger) => void): string[] {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    assert.equal(args.length, 1, "one string per line");
    lines.push(args[0] as string);
  };
  try {
    fn(logger);
  } finally {
    console.error = original;
  }
  return lines;
}

/** Every way a reader may split lines: \n, \r, VT, FF, FS/GS/RS, NEL, U+2028, U+2029. */
// deno-lint-ignore no-control-regex -- control characters are what this test is about
const ANY_LINE_BREAK = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;
/** Characters that must never reach a terminal raw. */
// deno-lint-ignore no-control-regex -- as above
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const TEXT_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) \S/;
const FORGED = "2026-01-01T00:00:00.000Z INFO  forged line";

/** The fields after `prefix` of a text line: key → value as written (quotes kept). */
function fieldsOf(line: string, prefix: string): [string, string][] {
  assert.ok(line.includes(prefix), line);
  let rest = line.slice(line.indexOf(prefix) + prefix.length);
  const out: [string, string][] = [];
  const FIELD = /^ ([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"\\]+)(?= |$)/;
  while (rest !== "") {
    const m = FIELD.exec(rest);
    assert.ok(m, `not a field at ${JSON.stringify(rest)} in ${JSON.stringify(line)}`);
    out.push([m[1]!, m[2]!]);
    rest = rest.slice(m[0].length);
  }
  return out;
}

Deno.test("text log: control characters are escaped; values with space, =, quote or backslash are quoted", () => {
  const line = printed(consoleLogger("debug"), (l) =>
    l.info("msg\nwith\u2028breaks\x1b[2J", {
      plain: "wamp.error.no_such_realm",
      spaced: "a b",
      eq: "k=v",
      quote: 'say "hi"',
      backslash: "C:\\x0a",
      empty: "",
      nl: `realm1\n${FORGED}`,
      cr: "a\rb",
      tab: "a\tb",
      esc: "\x1b[31mred",
      del: "a\x7fb",
      c1: "a\x85b\x9b",
      seps: "a\u2028b\u2029c",
      bidi: "a\u202eb",
      n: 5,
      big: 2n ** 64n,
      bool: true,
      nothing: undefined,
      obj: { k: "v w", n: 1 },
    }))[0]!;
  assert.match(line, TEXT_LINE);
  assert.doesNotMatch(line, ANY_LINE_BREAK);
  assert.doesNotMatch(line, RAW_CONTROL);
  assert.ok(line.includes(" INFO  msg\\x0awith\\u2028breaks\\x1b[2J plain="), line);
  assert.deepEqual(fieldsOf(line, "breaks\\x1b[2J"), [
    ["plain", "wamp.error.no_such_realm"],
    ["spaced", '"a b"'],
    ["eq", '"k=v"'],
    ["quote", '"say \\"hi\\""'],
    ["backslash", '"C:\\\\x0a"'],
    ["empty", '""'],
    ["nl", `"realm1\\x0a${FORGED}"`],
    ["cr", '"a\\x0db"'],
    ["tab", '"a\\x09b"'],
    ["esc", '"\\x1b[31mred"'],
    ["del", '"a\\x7fb"'],
    ["c1", '"a\\x85b\\x9b"'],
    ["seps", '"a\\u2028b\\u2029c"'],
    ["bidi", '"a\\u202eb"'],
    ["n", "5"],
    ["big", "18446744073709551616"],
    ["bool", "true"],
    ["nothing", "undefined"],
    ["obj", '"{\\"k\\":\\"v w\\",\\"n\\":1}"'],
  ]);
});

Deno.test("text log: a value cannot forge a field or a line", () => {
  const lines = printed(consoleLogger(), (l) => {
    l.info("session aborted", { session: 1, reason: "x reason=forged", detail: 'a" b="c' });
    l.info("session aborted", { session: 2, reason: `x\n${FORGED} session=3` });
  });
  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.match(line, TEXT_LINE);
    assert.doesNotMatch(line, ANY_LINE_BREAK);
  }
  assert.deepEqual(fieldsOf(lines[0]!, "session aborted").map(([k]) => k), [
    "session",
    "reason",
    "detail",
  ]);
  assert.deepEqual(fieldsOf(lines[1]!, "session aborted").map(([k]) => k), ["session", "reason"]);
});

Deno.test("JSON log: one object per line; U+2028, U+2029, NEL and DEL are escaped, values exact", () => {
  const tricky = `a\u2028b\u2029c\x85d\x7fe\n${FORGED}\r\x1b[2J\u202e"\\`;
  const lines = printed(jsonLogger("debug"), (l) => {
    l.warn(tricky, { reason: tricky, big: 2n ** 64n, nested: { k: [tricky] } });
  });
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.doesNotMatch(line, ANY_LINE_BREAK);
  assert.doesNotMatch(line, RAW_CONTROL);
  const record = JSON.parse(line);
  assert.equal(record.message, tricky);
  assert.equal(record.reason, tricky);
  assert.equal(record.big, "18446744073709551616");
  assert.deepEqual(record.nested, { k: [tricky] });
  assert.equal(record.level, "warn");
});

// ---- a real router process ---------------------------------------------------------------

const ROOT = new URL("..", import.meta.url);

/** Runs main.ts on a one-realm config on 127.0.0.1:0 with the given log format. */
async function startRouterProcess(dir: string, format: "text" | "json"): Promise<Child> {
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      version: 2,
      workers: [{
        type: "router",
        realms: [{ name: "realm1", roles: [] }],
        transports: [{
          type: "web",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          paths: { ws: { type: "websocket", serializers: ["json"] } },
        }],
      }],
    }),
  );
  return new Child(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...CLI_PERMISSIONS,
        "main.ts",
        "--config",
        file,
        "--log-format",
        format,
      ],
      cwd: ROOT.pathname,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
  );
}

const HOSTILE_REALM = `realm1\n${FORGED}\r\n2026-01-01T00:00:00.000Z WARN  forged too reason=x`;
const HOSTILE_REASON = `wamp.close.x\r${FORGED}\x1b[2J\x1b]0;title\x07`;
const HOSTILE_MESSAGE = `bye\u2028${FORGED}\u2029\x85${FORGED} session=42 "q" \\`;

/** Sends the hostile HELLO and ABORT to the router at `url`, then stops the router. */
async function attack(child: Child, url: string): Promise<void> {
  {
    await using c = await RawClient.connect(url, "json");
    c.send([1, HOSTILE_REALM, { roles: { subscriber: {} } }]);
    const abort = await c.next();
    assert.deepEqual([abort[0], abort[2]], [3, "wamp.error.no_such_realm"]);
    await c.closed();
  }
  {
    const { client } = await RawClient.join(url, "json");
    await using _ = client;
    client.send([3, { message: HOSTILE_MESSAGE }, HOSTILE_REASON]);
    await client.closed();
  }
  await child.output(/session aborted by the client/, 10_000);
  child.process.kill("SIGTERM");
  assert.equal((await child.status()).code, 0, child.stderr);
}

Deno.test("router process, text log: a hostile realm, ABORT reason and message cannot forge lines or fields", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using child = await startRouterProcess(dir, "text");
    const url = (await child.stdoutLine(/listening on/)).match(/ws:\/\/\S+/)![0];
    await attack(child, url);

    const lines = child.stderr.replace(/\n$/, "").split(ANY_LINE_BREAK);
    assert.ok(lines.length >= 4, child.stderr);
    for (const line of lines) {
      assert.match(line, TEXT_LINE, `not a log line of its own: ${JSON.stringify(line)}`);
      assert.ok(!line.startsWith("2026-01-01T00:00:00.000Z"), line);
      assert.doesNotMatch(line, RAW_CONTROL);
    }
    const realmLine = lines.find((l) => l.includes("no_such_realm"))!;
    assert.deepEqual(fieldsOf(realmLine, "session aborted").map(([k]) => k), [
      "session",
      "reason",
      "detail",
    ]);
    assert.ok(realmLine.includes(`realm1\\x0a${FORGED}\\x0d\\x0a2026-01-01T`), realmLine);
    const abortLine = lines.find((l) => l.includes("session aborted by the client"))!;
    const fields = fieldsOf(abortLine, "session aborted by the client");
    assert.deepEqual(fields.map(([k]) => k), ["session", "reason", "detail"]);
    assert.equal(fields[1]![1], `"wamp.close.x\\x0d${FORGED}\\x1b[2J\\x1b]0;title\\x07"`);
    assert.equal(
      fields[2]![1],
      `"bye\\u2028${FORGED}\\u2029\\x85${FORGED} session=42 \\"q\\" \\\\"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("router process, JSON log: the same attack stays inside JSON strings, one object per line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using child = await startRouterProcess(dir, "json");
    const url = (await child.stdoutLine(/listening on/)).match(/ws:\/\/\S+/)![0];
    await attack(child, url);

    const lines = child.stderr.replace(/\n$/, "").split(ANY_LINE_BREAK);
    const records = lines.map((l) => {
      assert.doesNotMatch(l, RAW_CONTROL);
      return JSON.parse(l);
    });
    const realm = records.find((r) => r.reason === "wamp.error.no_such_realm");
    assert.ok(realm?.detail.includes(HOSTILE_REALM), JSON.stringify(realm));
    const abort = records.find((r) => r.message === "session aborted by the client");
    assert.equal(abort?.reason, HOSTILE_REASON);
    assert.equal(abort?.detail, HOSTILE_MESSAGE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
