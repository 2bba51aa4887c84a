/**
 * `--check`, like `crossbar check`: validates a config file as the router would load it and
 * reports every warning, without opening a port. The files the router reads when it serves
 * (TLS files, static directories) are looked for too; a missing one is a warning here, where
 * it fails a start-up.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { ConfigError, type ConfigWarning, type EnvLookup, type FileKind } from "./kit.ts";
import { readConfigDocument, readEnvironment } from "./load.ts";
import { parseRouterConfig } from "./parse.ts";
import type { RouterConfig } from "./types.ts";

/** What `--check` found in a config file. */
export interface CheckReport {
  /** One per key accepted without effect, then one per missing file, in config order. */
  readonly warnings: readonly ConfigWarning[];
  /** The problem that makes the config unusable, or null when it is valid. */
  readonly error: ConfigError | null;
  /** The resolved config when it is valid, else null. */
  readonly config: RouterConfig | null;
}

/** A file the config names, at JSON path `path`. */
interface FileUse {
  readonly path: string;
  readonly file: string;
  readonly kind: FileKind;
}

/**
 * Checks the config file at `path`: reads it, validates it as `loadConfigFile` does and looks
 * for every file it names. Needs `--allow-read`.
 *
 * @param path File name of a JSON node config.
 * @param env Looks up `"$NAME"` secrets (default: the process environment).
 * @returns The warnings and the resolved config, or the error when the config is not valid.
 */
export async function checkConfigFile(
  path: string,
  env: EnvLookup = readEnvironment,
): Promise<CheckReport> {
  let json: unknown;
  try {
    json = await readConfigDocument(path);
  } catch (e) {
    if (e instanceof ConfigError) return { warnings: [], error: e, config: null };
    throw e;
  }
  return await checkConfigDocument(json, env, dirname(resolve(path)));
}

/**
 * Checks a parsed config document as {@link checkConfigFile} checks a file.
 *
 * @param json The parsed JSON document.
 * @param env Looks up `"$NAME"` secrets (default: the process environment).
 * @param baseDir Where relative paths start (the config file's directory), or null for the
 * working directory.
 * @returns What was found.
 */
export async function checkConfigDocument(
  json: unknown,
  env: EnvLookup = readEnvironment,
  baseDir: string | null = null,
): Promise<CheckReport> {
  const warnings: ConfigWarning[] = [];
  const files: FileUse[] = [];
  let config: RouterConfig;
  try {
    config = parseRouterConfig(json, {
      env,
      baseDir,
      needsFile: (at, file, kind) => files.push({ path: at, file, kind }),
    });
  } catch (e) {
    if (e instanceof ConfigError) return { warnings, error: e, config: null };
    throw e;
  }
  warnings.push(...config.warnings ?? []);
  for (const use of files) {
    const problem = await fileProblem(use);
    if (problem !== null) warnings.push({ path: use.path, message: problem });
  }
  return { warnings, error: null, config };
}

/** Why `use` cannot be read as it is configured, or null when it can. */
async function fileProblem(use: FileUse): Promise<string | null> {
  const named = `${use.kind} ${JSON.stringify(use.file)}`;
  const consequence = "starting the router with this config fails until it is there";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(use.file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${named} not found: ${consequence}`;
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      return `${named} cannot be read (${e.message}): ${consequence}`;
    }
    throw e;
  }
  if (use.kind === "file" && !info.isFile) return `${named} is not a file: ${consequence}`;
  if (use.kind === "directory" && !info.isDirectory) {
    return `${named} is not a directory: ${consequence}`;
  }
  return null;
}

/** One warning as `--check` prints it: `warning: <JSON path>: <message>`. */
export function formatWarning(warning: ConfigWarning): string {
  return `warning: ${warning.path}: ${warning.message}`;
}
