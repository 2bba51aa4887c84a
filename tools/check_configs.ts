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
 * `--stand-in` is a measuring aid for work in progress on separate branches: before checking,
 * it replaces what those branches implement (web paths of type `static`, `redirect`, `json`
 * and `nodeinfo`; the WebSocket `options` listed in {@link STANDIN_WEBSOCKET_OPTIONS}; the TLS
 * keys `chain_certificates`, `dhparam` and `ciphers`; TLS on `rawsocket` and `universal`
 * transports) with what Switchboard accepts today, so the table shows what else stops a
 * file. The files on disk are never changed.
 *
 * @module
 */

import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { checkConfigDocument, checkConfigFile } from "../src/config/check.ts";
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

/** Web path types implemented on another branch (`--stand-in`). */
const STANDIN_PATH_TYPES = ["static", "redirect", "json", "nodeinfo"];
/**
 * WebSocket options implemented on another branch (`--stand-in`); those Switchboard reads
 * already (`max_message_size`, the handshake timeouts, `auto_ping_interval`/`_timeout`) stay.
 */
const STANDIN_WEBSOCKET_OPTIONS = [
  "allowed_origins",
  "allow_null_origin",
  "max_frame_size",
  "auto_ping_size",
  "require_websocket_subprotocol",
  "compression",
  "auto_fragment_size",
  "fail_by_drop",
  "enable_webstatus",
];
/** TLS keys implemented on another branch (`--stand-in`). */
const STANDIN_TLS_KEYS = ["chain_certificates", "dhparam", "ciphers"];

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Replaces, in place, what another branch implements (see the module doc). */
function standIn(doc: unknown): void {
  const paths = (map: unknown) => {
    if (!isObj(map)) return;
    for (const [key, service] of Object.entries(map)) {
      if (!isObj(service)) continue;
      if (STANDIN_PATH_TYPES.includes(service.type as string)) {
        map[key] = { type: "publisher", realm: "stand-in", role: "stand-in" };
      } else if (service.type === "websocket") websocket(service);
    }
  };
  const websocket = (endpoint: Json) => {
    if (!isObj(endpoint.options)) return;
    for (const key of STANDIN_WEBSOCKET_OPTIONS) delete endpoint.options[key];
  };
  if (!isObj(doc) || !Array.isArray(doc.workers)) return;
  for (const worker of doc.workers) {
    if (!isObj(worker) || !Array.isArray(worker.transports)) continue;
    for (const t of worker.transports) {
      if (!isObj(t)) continue;
      const endpoint = t.endpoint;
      if (isObj(endpoint) && isObj(endpoint.tls)) {
        if (t.type === "rawsocket" || t.type === "universal") delete endpoint.tls;
        else for (const key of STANDIN_TLS_KEYS) delete endpoint.tls[key];
      }
      if (t.type === "websocket") websocket(t);
      if (t.type === "web") paths(t.paths);
      if (t.type === "universal") {
        if (isObj(t.web)) paths(t.web.paths);
        if (isObj(t.websocket)) {
          for (const e of Object.values(t.websocket)) if (isObj(e)) websocket(e);
        }
      }
    }
  }
}

/** The outcome of `--check` on `file`, with `--stand-in` when `standInOthers`. */
export async function checkOne(file: string, standInOthers = false): Promise<Outcome> {
  const env = (name: string) => `placeholder-for-${name}`;
  let report;
  if (standInOthers) {
    const doc = JSON.parse(await Deno.readTextFile(file));
    standIn(doc);
    report = await checkConfigDocument(doc, env, dirname(resolve(file)));
  } else report = await checkConfigFile(file, env);
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
      "stand-in": { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) {
    console.error("usage: check_configs.ts [--by-key] [--stand-in] <directory>");
    Deno.exit(2);
  }
  const files = await configFiles(dir);
  const totals = { pass: 0, warn: 0, refused: 0, fail: 0 };
  const refusedBy = new Map<string, number>();
  const failedAt = new Map<string, number>();
  const width = Math.max(4, ...files.map((f) => relative(dir, f).length));
  console.log(`${"file".padEnd(width)}  outcome`);
  for (const file of files) {
    const o = await checkOne(file, values["stand-in"]);
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
