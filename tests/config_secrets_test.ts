/**
 * Secrets never reach an error: config errors for secret-bearing keys (a ticket principal's
 * `ticket`, a wampcra user's `secret`) name the key and the kind of value found, never the
 * value; JSON syntax errors give a line and column and never quote the file. Checked through
 * `parseConfig`, `loadConfigFile`, `Router.reload`, the `switchboard.reload_config` procedure
 * and the SIGHUP log line of a real router process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError, loadConfigFile, parseConfig } from "../mod.ts";
import { jsonSyntaxError } from "../src/config/json_syntax.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";
import { Child, CLI_PERMISSIONS } from "./_process.ts";

const NUMBER_SECRET = 987654321;
const STRING_SECRET = "hunter2-Very-Secret";

/** testConfig whose websocket path has the given `auth`. */
function withAuth(auth: unknown, realm: Record<string, unknown> = {}) {
  const c = testConfig(realm);
  (c.workers[0]!.transports[0]!.paths.ws as Record<string, unknown>).auth = auth;
  return c;
}

const ticket = (principal: unknown) =>
  withAuth({
    anonymous: { type: "static" },
    ticket: { type: "static", principals: { alice: principal } },
  });
const cra = (user: unknown) => withAuth({ wampcra: { type: "static", users: { bob: user } } });
const AUTH = "workers[0].transports[0].paths.ws.auth";

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail("no ConfigError");
}

/** Asserts that `text` mentions none of the secrets (nor a telling part of them). */
function assertNoSecret(text: string): void {
  for (const s of [String(NUMBER_SECRET), STRING_SECRET, "hunter2", "Secret"]) {
    assert.ok(!text.includes(s), `${JSON.stringify(s)} leaked in: ${text}`);
  }
}

Deno.test("config: a wrongly typed ticket or wampcra secret is named by key and kind, never by value", () => {
  const cases: [unknown, string, string][] = [
    [
      ticket({ ticket: NUMBER_SECRET, role: "user" }),
      `${AUTH}.ticket.principals.alice.ticket`,
      "got a number",
    ],
    [
      ticket({ ticket: [STRING_SECRET], role: "user" }),
      `${AUTH}.ticket.principals.alice.ticket`,
      "got an array",
    ],
    [
      ticket({ ticket: { v: STRING_SECRET }, role: "u" }),
      `${AUTH}.ticket.principals.alice.ticket`,
      "got an object",
    ],
    [
      ticket({ ticket: true, role: "u" }),
      `${AUTH}.ticket.principals.alice.ticket`,
      "got a boolean",
    ],
    [
      ticket({ ticket: "", role: "u" }),
      `${AUTH}.ticket.principals.alice.ticket`,
      "got an empty string",
    ],
    [ticket(STRING_SECRET), `${AUTH}.ticket.principals.alice`, "must be an object, got a string"],
    [ticket(NUMBER_SECRET), `${AUTH}.ticket.principals.alice`, "must be an object, got a number"],
    [
      cra({ secret: NUMBER_SECRET, role: "user" }),
      `${AUTH}.wampcra.users.bob.secret`,
      "got a number",
    ],
    [cra({ secret: null, role: "user" }), `${AUTH}.wampcra.users.bob.secret`, "got null"],
    [cra(STRING_SECRET), `${AUTH}.wampcra.users.bob`, "must be an object, got a string"],
    [
      withAuth({ wampcra: { type: "static", users: STRING_SECRET } }),
      `${AUTH}.wampcra.users`,
      "must be an object, got a string",
    ],
  ];
  for (const [input, path, reason] of cases) {
    const e = configError(() => parseConfig(input));
    assert.equal(e.path, path);
    assert.ok(e.reason.includes(reason), e.message);
    assertNoSecret(e.message);
  }
  // "$ENV" names are not secret and are still printed
  const env = configError(() =>
    parseConfig(ticket({ ticket: "$SWITCHBOARD_SURELY_UNSET_TICKET", role: "u" }))
  );
  assert.match(env.message, /SWITCHBOARD_SURELY_UNSET_TICKET/);
});

Deno.test("JSON syntax errors: line and column without the text; positions agree with V8's", () => {
  const cases: [string, number, number, RegExp][] = [
    ['{"a": 1,}', 1, 9, /property name/],
    ['{"a": 1 "b": 2}', 1, 9, /',' or '}'/],
    ['{\n  "a": [1, 2\n  "b"\n}', 3, 3, /',' or '\]'/],
    ['{"a": tru}', 1, 7, /value/],
    ['{"a": "x', 1, 7, /unterminated string/],
    ['{"a": "x\\q"}', 1, 10, /escape/],
    ['{"a": "x\\u12G4"}', 1, 10, /\\u escape/],
    ['{"a": "tab\there"}', 1, 11, /control character/],
    ['{"a": -}', 1, 7, /number/],
    ['{"a": 1} x', 1, 10, /after the end/],
    ['{"a": 1', 1, 8, /end of the file/],
    ["", 1, 1, /end of the file/],
    ['{"é€😀": [1, 2 x', 1, 15, /',' or '\]'/], // columns count characters
  ];
  for (const [text, line, column, problem] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, JSON.stringify(text));
    const e = jsonSyntaxError(text);
    assert.ok(e, JSON.stringify(text));
    assert.deepEqual([e.line, e.column], [line, column], `${JSON.stringify(text)}: ${e.problem}`);
    assert.match(e.problem, problem);
  }
  for (const ok of ['{"a": [1, -2.5e+3, true, false, null, "\\u00e9\\n", {}]}', " [ ] ", '"x"']) {
    assert.equal(jsonSyntaxError(ok), null, ok);
    JSON.parse(ok);
  }
  assert.equal(jsonSyntaxError("[".repeat(100_000) + "]".repeat(100_000)), null, "deep nesting");
  // Where V8 states a position, ours is the same (for errors V8 locates the same way).
  for (const text of ['{"a": 1 "b": 2}', '{\n  "a": [1, 2\n  "b"\n}', '{"a": 1} x']) {
    let v8 = "";
    try {
      JSON.parse(text);
    } catch (e) {
      v8 = (e as Error).message;
    }
    const m = /\(line (\d+) column (\d+)\)/.exec(v8);
    assert.ok(m, v8);
    const ours = jsonSyntaxError(text)!;
    assert.deepEqual([ours.line, ours.column], [Number(m[1]), Number(m[2])], v8);
  }
});

/** Writes `text` to a new temp file, runs `fn` on its path, then removes the file. */
async function withTempFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "switchboard_secret_", suffix: ".json" });
  try {
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

/** A config file whose ticket `"STRING_SECRET"` is written as `written` instead. */
function brokenSecret(written: string): string {
  const good = JSON.stringify(
    ticket({ ticket: STRING_SECRET, role: "user" }),
    null,
    2,
  );
  return good.replace(`"${STRING_SECRET}"`, written);
}

Deno.test("loadConfigFile: a syntax error at or right after a secret reports line:column, never the secret", async () => {
  const variants = [
    `"${STRING_SECRET}" x`, // garbage right after the secret
    `"${STRING_SECRET}",,`, // a doubled comma
    `"${STRING_SECRET}"}`, // a brace too many
    `'${STRING_SECRET}'`, // single quotes: V8 quotes the text around the error
    STRING_SECRET, // no quotes at all: likewise
  ];
  for (const written of variants) {
    const text = brokenSecret(written);
    await withTempFile(text, async (path) => {
      let caught: unknown;
      try {
        await loadConfigFile(path);
      } catch (e) {
        caught = e;
      }
      assert.ok(caught instanceof ConfigError, String(caught));
      assert.equal(caught.path, "(file)");
      assert.match(caught.reason, /^invalid JSON in ".*": .* at line \d+, column \d+$/);
      assert.ok(caught.reason.includes(JSON.stringify(path)));
      assertNoSecret(caught.message);
      assert.ok(caught.cause instanceof SyntaxError);
      assertNoSecret(String(caught.cause));
      assertNoSecret(Deno.inspect(caught));
      const { line, column } = jsonSyntaxError(text)!;
      assert.ok(caught.reason.endsWith(`at line ${line}, column ${column}`), caught.reason);
    });
  }
  // an unterminated secret: the position of its opening quote
  const cut = JSON.stringify(ticket({ ticket: STRING_SECRET, role: "u" }));
  await withTempFile(cut.slice(0, cut.indexOf(STRING_SECRET) + 7), async (path) => {
    const e = await loadConfigFile(path).then(() => null, (e) => e);
    assert.ok(e instanceof ConfigError);
    assert.match(e.reason, /unterminated string/);
    assertNoSecret(e.message);
  });
});

Deno.test("reload: a config with a numeric ticket is rejected naming the key, not the value (also via switchboard.reload_config)", async () => {
  const allow = {
    roles: [{
      name: "anonymous",
      permissions: [{ uri: "switchboard.reload_config", allow: { call: true } }],
    }],
  };
  await using r = await startRouter(testConfig(allow));
  const bad = withAuth({
    anonymous: { type: "static" },
    ticket: { type: "static", principals: { alice: { ticket: NUMBER_SECRET, role: "user" } } },
  }, allow);
  r.router.configSource = () => Promise.resolve().then(() => parseConfig(bad));
  const e = await r.router.reload().then(() => null, (e) => e);
  assert.ok(e instanceof ConfigError, String(e));
  assert.equal(e.path, `${AUTH}.ticket.principals.alice.ticket`);
  assert.match(e.message, /got a number/);
  assertNoSecret(e.message);

  await using c = (await RawClient.join(r.url, "json")).client;
  c.send([48, 1, {}, "switchboard.reload_config"]);
  const err = await c.next();
  assert.equal(err[0], 8, JSON.stringify(err));
  assert.equal(err[4], "switchboard.error.invalid_config");
  const text = JSON.stringify(err);
  assert.ok(text.includes("principals.alice.ticket"), text);
  assertNoSecret(text);
});

Deno.test("SIGHUP: a reload that fails on a secret logs the key and position, never the secret", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/config.json`;
  const base = (principal: unknown) => JSON.stringify(ticket(principal), null, 2);
  try {
    await Deno.writeTextFile(file, base({ ticket: STRING_SECRET, role: "user" }));
    await using child = new Child(
      new Deno.Command(Deno.execPath(), {
        args: ["run", ...CLI_PERMISSIONS, "main.ts", "--config", file],
        cwd: new URL("..", import.meta.url).pathname,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
    );
    await child.stdoutLine(/listening on/);
    const failures = () => child.stderr.split("\n").filter((l) => l.includes("reload failed"));

    await Deno.writeTextFile(file, base({ ticket: NUMBER_SECRET, role: "user" }));
    child.process.kill("SIGHUP");
    await child.output(/reload failed[^\n]*\n/, 10_000);
    assert.match(failures()[0]!, /principals\.alice\.ticket: must be a non-empty string/);

    await Deno.writeTextFile(file, brokenSecret(STRING_SECRET));
    child.process.kill("SIGHUP");
    await child.output(/reload failed[^\n]*\n[^]*reload failed[^\n]*\n/, 10_000);
    assert.match(failures()[1]!, /invalid JSON in .* at line \d+, column \d+/);

    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
    assertNoSecret(child.stderr);
    assertNoSecret(child.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
