/**
 * Runs Switchboard's `--check` on every Crossbar config (`.crossbar/*.json`) under a directory
 * and prints a table: each file passes, passes with warnings, is refused (naming the feature
 * Switchboard refuses) or fails (with its first error); then the totals.
 *
 * ```sh
 * deno run --allow-read tools/check_configs.ts ~/crossbar-examples
 * deno run --allow-read tools/check_configs.ts --by-key ~/crossbar-examples
 * ```
 *
 * `--by-key` adds, for the files that fail, how many fail on each JSON path (indices and map
 * keys generalized), to see which key to look at next. `"$NAME"` secrets resolve to a
 * placeholder, so the environment needs nothing.
 *
 * @module
 */

import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { checkConfigFile } from "../src/config/check.ts";
import { RefusedFeatureError } from "../src/config/kit.ts";

/** How one file came out. */
type Outcome =
  | { kind: "pass" }
  | { kind: "warn"; count: number }
  | { kind: "refused"; feature: string; path: string }
  | { kind: "fail"; path: string; reason: string };

/** Every `.crossbar/*.json` under `dir`, sorted. */
async function configFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const entry of Deno.readDir(d)) {
      const full = join(d, entry.name);
      if (entry.isDirectory) {
        if (entry.name === "node_modules" || entry.name === ".git") continue;
        await walk(full);
      } else if (
        entry.isFile && entry.name.endsWith(".json") && d.split("/").at(-1) === ".crossbar"
      ) out.push(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/** The outcome of `--check` on `file`. */
export async function checkOne(file: string): Promise<Outcome> {
  const env = (name: string) => `placeholder-for-${name}`;
  const report = await checkConfigFile(file, env);
  const error = report.error;
  if (error === null) {
    return report.warnings.length === 0
      ? { kind: "pass" }
      : { kind: "warn", count: report.warnings.length };
  }
  if (error instanceof RefusedFeatureError) {
    return { kind: "refused", feature: error.feature, path: error.path };
  }
  return { kind: "fail", path: error.path, reason: error.reason };
}

/** A JSON path with its indices as `[]` and the keys of maps (paths, principals) as `*`. */
function generalize(path: string): string {
  return path
    .replace(/\[\d+\]/g, "[]")
    .replace(/\["[^"]*"\]/g, ".*")
    .replace(/\b(paths|principals|users|websocket|mime_types)\.[^.\[]+/g, "$1.*");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      "by-key": { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) {
    console.error("usage: check_configs.ts [--by-key] <directory>");
    Deno.exit(2);
  }
  const files = await configFiles(dir);
  const totals = { pass: 0, warn: 0, refused: 0, fail: 0 };
  const refusedBy = new Map<string, number>();
  const failedAt = new Map<string, number>();
  const width = Math.max(4, ...files.map((f) => relative(dir, f).length));
  console.log(`${"file".padEnd(width)}  outcome`);
  for (const file of files) {
    const o = await checkOne(file);
    totals[o.kind]++;
    const name = relative(dir, file).padEnd(width);
    switch (o.kind) {
      case "pass":
        console.log(`${name}  passes`);
        break;
      case "warn":
        console.log(`${name}  passes with ${o.count} warning${o.count === 1 ? "" : "s"}`);
        break;
      case "refused":
        console.log(`${name}  refused: ${o.feature} (${o.path})`);
        refusedBy.set(o.feature, (refusedBy.get(o.feature) ?? 0) + 1);
        break;
      case "fail": {
        console.log(`${name}  fails: ${o.path}: ${o.reason}`);
        const key = generalize(o.path);
        failedAt.set(key, (failedAt.get(key) ?? 0) + 1);
        break;
      }
    }
  }
  const n = files.length;
  const passing = totals.pass + totals.warn;
  console.log("");
  console.log(
    `${n} files: ${totals.pass} pass, ${totals.warn} pass with warnings, ` +
      `${totals.refused} refused, ${totals.fail} fail; ${passing} of ${n} pass ` +
      `(${passing} of ${n - totals.refused} not needing a refused feature)`,
  );
  if (refusedBy.size > 0) {
    console.log(
      `refused: ${
        [...refusedBy].sort((a, b) => b[1] - a[1]).map(([f, c]) => `${f} ${c}`).join(", ")
      }`,
    );
  }
  if (values["by-key"] && failedAt.size > 0) {
    console.log("\nfirst errors by key:");
    for (const [key, count] of [...failedAt].sort((a, b) => b[1] - a[1])) {
      console.log(`${String(count).padStart(5)}  ${key}`);
    }
  }
}

if (import.meta.main) await main();
