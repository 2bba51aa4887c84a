/**
 * `deno task compile` (tools/compile.ts): it builds with `deno compile` when Deno's base runtime
 * is at hand (`DENORT_BIN`, or the archive in Deno's download cache) and otherwise says in one
 * line why it cannot work offline, naming `DENORT_BIN` and `deno task bundle`, instead of
 * deno compile's download error. The wrapper runs as a child process exactly as the task runs
 * it; a real denort is not available here, so the build that goes through uses a stand-in ELF
 * (`/bin/true`) as the base runtime: it shows that deno compile got the start task's
 * permissions, the extra arguments and that runtime, and wrote the binary.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  cachedRuntimePath,
  compileArgs,
  findBaseRuntime,
  OUTPUT,
  permissionFlags,
  targetOf,
} from "../tools/compile.ts";

const ROOT = new URL("..", import.meta.url);
const TASK = denoJson.tasks.compile;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compile task's command line with only `env` (plus PATH and HOME) set. */
async function runTask(env: Record<string, string>, ...extra: string[]): Promise<Outcome> {
  const words = TASK.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), ...extra],
    cwd: ROOT.pathname,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Deno's own cache directory (so a child that compiles finds the npm packages offline). */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** The stderr of a refusal: exactly one line, the wrapper's. */
function refusal(o: Outcome): string {
  assert.equal(o.code, 1, `expected exit 1\n${o.stdout}\n${o.stderr}`);
  assert.equal(o.stdout, "");
  const lines = o.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, o.stderr);
  assert.match(lines[0]!, /^switchboard: deno task compile: /);
  // it points at the bundle, which works offline
  assert.match(lines[0]!, /deno task bundle \(dist\/switchboard\.js, run it with deno run /);
  return lines[0]!;
}

Deno.test("compile: the task runs tools/compile.ts, which compiles with the start task's permissions", () => {
  assert.match(TASK, /^deno run .* tools\/compile\.ts$/);
  const args = compileArgs(denoJson.tasks.start);
  assert.deepEqual(args, [
    "compile",
    "--allow-net",
    "--allow-read",
    "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
    "-o",
    OUTPUT,
    "main.ts",
  ]);
  assert.deepEqual(permissionFlags(denoJson.tasks.start), args.slice(1, 4));
  assert.equal(OUTPUT, "dist/switchboard");
  // extra arguments go before main.ts; an output of their own replaces dist/switchboard
  assert.deepEqual(compileArgs("deno run --allow-net main.ts", ["--target", "x", "-o", "/t/b"]), [
    "compile",
    "--allow-net",
    "--target",
    "x",
    "-o",
    "/t/b",
    "main.ts",
  ]);
  assert.deepEqual(compileArgs("deno run main.ts", ["--output=/t/b"]), [
    "compile",
    "--output=/t/b",
    "main.ts",
  ]);
  assert.equal(targetOf([], "own"), "own");
  assert.equal(targetOf(["--target", "aarch64-apple-darwin"], "own"), "aarch64-apple-darwin");
  assert.equal(targetOf(["--target=x86_64-pc-windows-msvc"], "own"), "x86_64-pc-windows-msvc");
});

Deno.test("compile: without DENORT_BIN or a cached runtime it says so in one line and builds nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-compile-" });
  try {
    const o = await runTask({ DENO_DIR: dir }, "-o", `${dir}/switchboard`);
    const line = refusal(o);
    assert.match(line, /cannot compile offline/);
    assert.match(line, /DENORT_BIN is not set/);
    assert.ok(
      line.includes(cachedRuntimePath(dir, Deno.version.deno, Deno.build.target)),
      `names the cache path it looked at: ${line}`,
    );
    assert.doesNotMatch(o.stderr, /dns error|Download|error:/);
    await assert.rejects(Deno.stat(`${dir}/switchboard`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile: a --target without its cached runtime is refused the same way", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-compile-" });
  try {
    const line = refusal(
      await runTask({ DENO_DIR: dir }, "--target", "aarch64-apple-darwin", "-o", `${dir}/b`),
    );
    assert.match(line, /for aarch64-apple-darwin is not cached/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile: DENORT_BIN that is missing or is the deno CLI itself is refused in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-compile-" });
  try {
    const out = `${dir}/switchboard`;
    const missing = refusal(await runTask({ DENORT_BIN: `${dir}/nope`, DENO_DIR: dir }, "-o", out));
    assert.match(missing, /DENORT_BIN=.*\/nope is not a file/);
    const cli = refusal(await runTask({ DENORT_BIN: Deno.execPath(), DENO_DIR: dir }, "-o", out));
    assert.match(cli, /is the deno CLI itself, not its runtime denort/);
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile: a cached runtime archive is found where deno compile keeps it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-compile-" });
  try {
    const options = {
      denortBin: undefined,
      denoDir: dir,
      version: "2.9.6",
      target: "x86_64-unknown-linux-gnu",
      denoExecutable: Deno.execPath(),
    };
    assert.equal(findBaseRuntime(options).kind, "unusable");
    const archive = `${dir}/dl/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip`;
    assert.equal(cachedRuntimePath(dir, "2.9.6", "x86_64-unknown-linux-gnu"), archive);
    await Deno.mkdir(`${dir}/dl/release/v2.9.6`, { recursive: true });
    await Deno.writeFile(archive, new Uint8Array([0x50, 0x4b, 5, 6]));
    assert.deepEqual(findBaseRuntime(options), { kind: "cached", path: archive });
    // DENORT_BIN wins over the cache
    const bin = `${dir}/denort`;
    await Deno.writeFile(bin, new Uint8Array([0x7f]));
    assert.deepEqual(findBaseRuntime({ ...options, denortBin: bin }), { kind: "env", path: bin });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile: with DENORT_BIN set the task hands over to deno compile, which writes the binary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-compile-" });
  try {
    // a stand-in base runtime: an ELF executable that ignores the program appended to it
    const runtime = `${dir}/denort`;
    await Deno.copyFile("/bin/true", runtime);
    const out = `${dir}/switchboard`;
    const o = await runTask({ DENORT_BIN: runtime, DENO_DIR: await denoDir() }, "-o", out);
    assert.equal(o.code, 0, `${o.stdout}\n${o.stderr}`);
    assert.doesNotMatch(o.stderr, /switchboard: deno task compile/);
    const built = await Deno.stat(out);
    const base = await Deno.stat(runtime);
    assert.ok(built.isFile && built.size > base.size, "the program is appended to the runtime");
    const head = (await Deno.readFile(out)).subarray(0, 4);
    assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46], "an ELF executable");
    const run = await new Deno.Command(out, { stdout: "null", stderr: "null" }).output();
    assert.equal(run.code, 0, "the stand-in runtime runs");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
