/**
 * `deno task compile`: `deno compile` of main.ts into `dist/switchboard`, with the permissions of
 * `deno task start` baked in, but only when it can work offline.
 *
 * `deno compile` embeds the program into Deno's base runtime, `denort`, which it takes from the
 * `DENORT_BIN` environment variable or from its download cache
 * (`$DENO_DIR/dl/release/v<version>/denort-<target>.zip`) and otherwise downloads from
 * dl.deno.land (not the npm registry). When neither is there this prints one line saying so,
 * naming `DENORT_BIN` and the single-file bundle (`deno task bundle`) that works without it, and
 * exits 1, instead of deno compile's download error. Extra arguments (`--target ...`, `-o ...`)
 * are passed on to deno compile.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** Where `deno task compile` writes the binary. */
export const OUTPUT = "dist/switchboard";

/** The `--allow-*` flags of a task command line. */
export function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((w) => w.startsWith("--allow-"));
}

/**
 * The `deno compile` arguments: the start task's permissions, `extra`, the output (`OUTPUT`
 * unless `extra` names one with `-o`/`--output`), main.ts.
 */
export function compileArgs(startTask: string, extra: readonly string[] = []): string[] {
  const named = extra.some((a) => /^(-o|--output)(=|$)/.test(a));
  return [
    "compile",
    ...permissionFlags(startTask),
    ...extra,
    ...named ? [] : ["-o", OUTPUT],
    "main.ts",
  ];
}

/** The target deno compile builds for: `--target T` / `--target=T` in `extra`, else this one. */
export function targetOf(extra: readonly string[], own: string = Deno.build.target): string {
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i]!;
    if (arg === "--target" && i + 1 < extra.length) return extra[i + 1]!;
    if (arg.startsWith("--target=")) return arg.slice("--target=".length);
  }
  return own;
}

/** Where deno compile looks for a cached base runtime (the path is Deno's, 2.x). */
export function cachedRuntimePath(denoDir: string, version: string, target: string): string {
  return `${denoDir}/dl/release/v${version}/denort-${target}.zip`;
}

/** What deno compile would use as its base runtime, or why there is none offline. */
export type BaseRuntime =
  | { kind: "env"; path: string }
  | { kind: "cached"; path: string }
  | { kind: "unusable"; reason: string };

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The base runtime for `target`: DENORT_BIN if set, else the cached archive. */
export function findBaseRuntime(options: {
  denortBin: string | undefined;
  denoDir: string;
  version: string;
  target: string;
  denoExecutable: string;
}): BaseRuntime {
  const { denortBin, denoDir, version, target, denoExecutable } = options;
  const bundle = "or build the single-file bundle instead: deno task bundle " +
    "(dist/switchboard.js, run it with deno run --allow-net --allow-read " +
    "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE dist/switchboard.js)";
  if (denortBin !== undefined && denortBin !== "") {
    if (!isFile(denortBin)) {
      return {
        kind: "unusable",
        reason: `DENORT_BIN=${denortBin} is not a file; point it at a denort ${version} binary, ` +
          bundle,
      };
    }
    if (Deno.realPathSync(denortBin) === Deno.realPathSync(denoExecutable)) {
      return {
        kind: "unusable",
        reason: `DENORT_BIN=${denortBin} is the deno CLI itself, not its runtime denort ` +
          `(the binary would print Deno's help); point it at a denort ${version} binary, ${bundle}`,
      };
    }
    return { kind: "env", path: denortBin };
  }
  const cached = cachedRuntimePath(denoDir, version, target);
  if (isFile(cached)) return { kind: "cached", path: cached };
  return {
    kind: "unusable",
    reason: `cannot compile offline: Deno's base runtime denort ${version} for ${target} is not ` +
      `cached (${cached}) and DENORT_BIN is not set, so deno compile would download it from ` +
      `dl.deno.land; set DENORT_BIN to a denort ${version} binary, ${bundle}`,
  };
}

/** Deno's cache directory, as `deno info` reports it (DENO_DIR or the platform default). */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno info failed: ${new TextDecoder().decode(out.stderr)}`);
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

async function main(): Promise<void> {
  const extra = Deno.args;
  const runtime = findBaseRuntime({
    denortBin: Deno.env.get("DENORT_BIN"),
    denoDir: await denoDir(),
    version: Deno.version.deno,
    target: targetOf(extra),
    denoExecutable: Deno.execPath(),
  });
  if (runtime.kind === "unusable") {
    console.error(`switchboard: deno task compile: ${runtime.reason}`);
    Deno.exit(1);
  }
  const status = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(denoJson.tasks.start, extra),
    stdin: "null",
  }).spawn().status;
  Deno.exit(status.code);
}

if (import.meta.main) await main();
