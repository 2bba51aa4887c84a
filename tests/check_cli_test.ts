/**
 * `switchboard --check` as a user runs it (a child `deno run main.ts --check --config f` with
 * the start task's permissions): one `warning: <JSON path>: <message>` line per key accepted
 * without effect and per missing TLS file, no port opened, exit 0 for a valid config and 1
 * with the error line otherwise; and the same warnings in the log when the router starts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Child as BaseChild, CLI_PERMISSIONS } from "./_process.ts";

const ROOT = new URL("..", import.meta.url);
const FIXTURE = new URL("./fixtures/websocket_transport.json", import.meta.url);

function command(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSIONS, "main.ts", ...args],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(...args: string[]) {
  const out = await command(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

type Json = Record<string, unknown>;

/** The websocket fixture, changed by `edit`, written to a temporary directory. */
async function configFile(dir: string, edit: (config: Json & { workers: Json[] }) => void) {
  const config = JSON.parse(await Deno.readTextFile(FIXTURE));
  edit(config);
  const file = `${dir}/config.json`;
  await Deno.writeTextFile(file, JSON.stringify(config));
  return file;
}

/** Crossbar keys with no routing meaning here, one of each kind. */
function crossbarShell(config: Json & { workers: Json[] }): void {
  config.$schema = "https://raw.githubusercontent.com/crossbario/crossbar/master/crossbar.json";
  config.controller = { options: { shutdown: ["shutdown_on_worker_exit"] } };
  config.workers[0]!.options = { pythonpath: [".."], cpu_affinity: [0] };
  config.workers.push({ type: "guest", executable: "python3", arguments: ["client.py"] });
}

Deno.test("--check: a valid config prints one line per warning, opens no port, exits 0", async () => {
  const dir = await Deno.makeTempDir();
  // a port taken by this test: serving would fail on it, checking must not care
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const file = await configFile(dir, (config) => {
      crossbarShell(config);
      const transport = (config.workers[0]!.transports as Json[])[0]!;
      transport.endpoint = { type: "tcp", interface: "127.0.0.1", port: taken.addr.port };
    });
    const o = await run("--check", "--config", file);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stderr, "");
    const lines = o.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.split(": ")[0] + ": " + l.split(": ")[1]), [
      "warning: $schema",
      "warning: controller",
      "warning: workers[0].options",
      "warning: workers[1]",
      `${file}: valid, 4 warnings`,
    ]);
    assert.match(lines[3]!, /not hosted by Switchboard: a "guest" worker .* separate process/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check: an invalid config exits 1 with the error line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await configFile(dir, (config) => {
      crossbarShell(config);
      (config.workers[0]!.realms as Json[])[0]!.rolez = [];
    });
    const o = await run("--check", "--config", file);
    assert.equal(o.code, 1);
    assert.equal(o.stdout, "");
    assert.equal(
      o.stderr.trimEnd(),
      "switchboard: config error: workers[0].realms[0].rolez: unknown key, not supported by " +
        "Switchboard (supported keys here: name, roles, options, stats, store)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check: missing TLS files are warnings naming their keys; serving fails on them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cert = `${dir}/present-cert.pem`;
    await Deno.writeTextFile(cert, "-----BEGIN CERTIFICATE-----\n");
    const file = await configFile(dir, (config) => {
      const transport = (config.workers[0]!.transports as Json[])[0]!;
      transport.endpoint = {
        type: "tcp",
        interface: "127.0.0.1",
        port: 0,
        tls: { certificate: cert, key: `${dir}/missing-key.pem`, ca_certificates: [dir] },
      };
    });
    const o = await run("--check", "--config", file);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(o.stdout.trimEnd().split("\n"), [
      `warning: workers[0].transports[0].endpoint.tls.key: file "${dir}/missing-key.pem" not ` +
      "found: starting the router with this config fails until it is there",
      `warning: workers[0].transports[0].endpoint.tls.ca_certificates[0]: file "${dir}" is not ` +
      "a file: starting the router with this config fails until it is there",
      `${file}: valid, 2 warnings`,
    ]);
    // without --check the same file stops the start-up
    const started = await run("--config", file);
    assert.equal(started.code, 1);
    assert.match(started.stderr, /config error: workers\[0\]\.transports\[0\]\.endpoint\.tls/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check: the embedded config, and the --port override checked too", async () => {
  const o = await run("--check");
  assert.equal(o.code, 0, o.stderr);
  assert.equal(o.stdout.trimEnd(), "the embedded config: valid, 0 warnings");
  const bad = await run(
    "--check",
    "--config",
    FIXTURE.pathname.replace("websocket_transport", "no_transports"),
    "--port",
    "1",
  );
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /config error: workers\[0\]\.transports: cannot apply the host\/port override/,
  );
});

Deno.test("start-up: the same warnings are logged, one line each", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await configFile(dir, crossbarShell);
    await using child = new BaseChild(command(["--config", file]));
    await child.stdoutLine(/listening on/);
    const logged = child.stderr.split("\n").filter((l) => / WARN /.test(l));
    assert.deepEqual(logged.map((l) => l.replace(/^\S+ WARN {2}config: ([^:]+): .*$/, "$1")), [
      "$schema",
      "controller",
      "workers[0].options",
      "workers[1]",
    ]);
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
