/**
 * Crossbar's own example configs, unchanged, through `--check`: each file under
 * `tests/fixtures/crossbar/` is a copy of the file of the same path in
 * crossbario/crossbar-examples (for example `tests/fixtures/crossbar/proxy/.crossbar/config1.json`
 * is `proxy/.crossbar/config1.json` there). Each passes with exactly the warnings listed, is
 * refused for the feature named, or fails where Crossbar itself would too.
 *
 * `tools/check_configs.ts` runs the same check over the whole example repository.
 *
 * @module
 */

import assert from "node:assert/strict";
import { checkConfigFile } from "../mod.ts";
import { RefusedFeatureError } from "../src/config/kit.ts";
import { CLI_PERMISSIONS } from "./_process.ts";

const DIR = new URL("./fixtures/crossbar/", import.meta.url);

type Expected =
  | { readonly warnings: readonly string[] }
  | { readonly refused: string; readonly at: string }
  | { readonly fails: string };

const SHELL = ["controller", "workers[0].options", "workers[0].components"];

/** Source path in crossbario/crossbar-examples (= path under fixtures/crossbar/) → outcome. */
const EXAMPLES: Readonly<Record<string, Expected>> = {
  "authentication/cryptosign/static/.crossbar/config.json": { warnings: [] },
  "authentication/cryptosign/dynamic/.crossbar/config.json": { warnings: SHELL.slice(1) },
  "benchmark/rpc_roundtrip/.crossbar/config_uds_rawsocket_cbor.json": {
    warnings: ["$schema", "controller", ...[1, 2, 3, 4, 5, 6].map((i) => `workers[${i}]`)],
  },
  // websocket-testee workers only: a router with nothing to serve
  "benchmark/websocket/.crossbar/config_w2.json": {
    warnings: ["$schema", "controller", "workers[0]", "workers[1]"],
  },
  "containers/max_message_size/.crossbar/config-pubsub-router-websocket-1.json": {
    warnings: [...SHELL.slice(1), "workers[1]"],
  },
  "proxy/.crossbar/config1.json": {
    warnings: [
      "controller",
      "workers[0].options",
      'workers[0].transports[0].auth["anonymous-proxy"]',
      "workers[1]",
      "workers[2]",
    ],
  },
  "authentication/wampcra/static/.crossbar/config-rtrpxy.json": {
    warnings: [
      ...SHELL.slice(1),
      "workers[0].transports[0].endpoint.backlog",
      'workers[0].transports[0].auth["anonymous-proxy"]',
      "workers[1]",
      "workers[2]",
      "workers[3]",
    ],
  },
  "expressjs/.crossbar/config.json": { warnings: ["controller"] },
  "rlinks/ha_setup/node1/.crossbar/config.json": {
    refused: "router links",
    at: "workers[0].realms[0].rlinks",
  },
  "mqtt/basic/native/.crossbar/config.json": {
    refused: "mqtt transport",
    at: "workers[0].transports[0].type",
  },
  "wsgi/.crossbar/config.json": {
    refused: "wsgi web path",
    at: 'workers[0].transports[0].paths["/"].type',
  },
  "hello/_hello_from_depr_cb_templates/nodejs/.crossbar/config.json": {
    refused: "template placeholder",
    at: "workers[0].realms[0].name",
  },
  "authentication/wampcra/static/.crossbar/config-realmstore.json": {
    refused: "cfxdb store",
    at: "workers[0].realms[0].store.type",
  },
  "authentication/cryptosign/function/.crossbar/config.json": {
    refused: "function authenticator",
    at: "workers[0].transports[0].auth.cryptosign.type",
  },
  // `serializer` (singular) is no key of a RawSocket transport for Crossbar's check either
  "hello/erlang/.crossbar/config.json": { fails: "workers[0].transports[0].serializer" },
};

Deno.test("crossbar examples: every fixture is listed", async () => {
  const found: string[] = [];
  const walk = async (dir: URL, prefix: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`);
      else found.push(`${prefix}${e.name}`);
    }
  };
  await walk(DIR, "");
  assert.deepEqual(found.sort(), Object.keys(EXAMPLES).sort());
  assert.ok(found.length <= 15);
});

for (const [source, expected] of Object.entries(EXAMPLES)) {
  Deno.test(`crossbar examples: ${source}`, async () => {
    const report = await checkConfigFile(new URL(source, DIR).pathname, (name) => `x-${name}`);
    if ("warnings" in expected) {
      assert.equal(report.error, null, report.error?.message);
      assert.deepEqual(report.warnings.map((w) => w.path), expected.warnings);
    } else if ("refused" in expected) {
      assert.ok(report.error instanceof RefusedFeatureError, report.error?.message);
      assert.equal(report.error.feature, expected.refused);
      assert.equal(report.error.path, expected.at);
    } else {
      assert.ok(report.error !== null && !(report.error instanceof RefusedFeatureError));
      assert.equal(report.error.path, expected.fails);
    }
  });
}

Deno.test("crossbar examples: switchboard --check on one, as a user runs it", async () => {
  const file = new URL("proxy/.crossbar/config1.json", DIR).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSIONS, "main.ts", "--check", "--config", file],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(stdout.length, 6);
  assert.ok(stdout.slice(0, 5).every((line) => line.startsWith("warning: ")));
  assert.equal(stdout[5], `${file}: valid, 5 warnings`);
});

Deno.test("crossbar examples: tools/check_configs.ts tables the fixtures", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "tools/check_configs.ts", "--by-key", DIR.pathname],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  const row = (source: string) => lines.find((l) => l.startsWith(`${source} `))?.split(/ {2,}/)[1];
  assert.equal(row("expressjs/.crossbar/config.json"), "passes with 1 warning");
  assert.equal(row("authentication/cryptosign/static/.crossbar/config.json"), "passes");
  assert.equal(
    row("mqtt/basic/native/.crossbar/config.json"),
    "refused: mqtt transport (workers[0].transports[0].type)",
  );
  assert.match(
    row("hello/erlang/.crossbar/config.json")!,
    /^fails: workers\[0\]\.transports\[0\]\.serializer: /,
  );
  assert.ok(
    lines.includes(
      "15 files: 1 pass, 7 pass with warnings, 6 refused, 1 fail; 8 of 15 pass " +
        "(8 of 9 not needing a refused feature)",
    ),
    lines.join("\n"),
  );
  assert.ok(lines.includes("    1  workers[].transports[].serializer"), lines.join("\n"));
});
