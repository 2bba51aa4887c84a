/**
 * Config validation, the public entry point: turns a Crossbar-shaped node config
 * (`{"version": 2, "workers": [{"type": "router", "realms": [...], "transports": [...]}]}`)
 * into a fully resolved {@link RouterConfig}, or throws one {@link ConfigError} naming the JSON
 * path of the first problem found and the reason.
 *
 * Every key Switchboard does not implement is rejected, never silently ignored. Within one
 * object, unknown or unsupported keys are reported before bad values, and values are checked in
 * a fixed order, so the same input always yields the same error.
 *
 * The parser is split by concept: `kit.ts` (ConfigError, JSON paths, the `expect*` checks),
 * `crossbar.ts` (the node shell, and what Switchboard rejects or does not implement),
 * `realm.ts`, `transport.ts`, `websocket_endpoint.ts` (a WAMP endpoint's serializers, auth
 * and options), `auth.ts`, `defaults.ts` (every default and bound), `parse.ts` (the pieces put
 * together) and `load.ts` (files, the environment, the command-line overrides).
 *
 * ## Purity and `"$NAME"` secrets
 *
 * Parsing is pure: nothing under `parse.ts` reads a file, the clock or the environment. A
 * secret written as `"$NAME"` (a ticket principal's `ticket`, a wampcra user's `secret`) is
 * looked up through a function the caller injects, `parseConfig(input, { env })`, so a caller
 * decides where secrets come from (a map in a test, a secrets store, nowhere:
 * `{ env: () => undefined }` makes every `"$NAME"` an error).
 *
 * Without `env`, `parseConfig(input)` looks secrets up in the process environment with
 * {@link readEnvironment} (`Deno.env`, needing `--allow-env=NAME`), as it always has for
 * library users; that default is the only place where calling `parseConfig` can touch the
 * outside world. `createRouter(config)` and {@link loadConfigFile} pass `readEnvironment`
 * explicitly, so their behaviour is the same: a `"$NAME"` secret still resolves from the
 * environment.
 *
 * @module
 */

import type { EnvLookup } from "./kit.ts";
import { readEnvironment } from "./load.ts";
import { parseRouterConfig } from "./parse.ts";
import type { RouterConfig } from "./types.ts";

export { ConfigError } from "./kit.ts";
export type { ConfigWarning, EnvLookup } from "./kit.ts";
export {
  applyOverrides,
  type ConfigOverrides,
  EnvironmentAccessError,
  loadConfigFile,
  readEnvironment,
} from "./load.ts";
export { DEFAULT_ENDPOINT } from "./websocket_endpoint.ts";

/** Options of {@link parseConfig}. */
export interface ParseOptions {
  /**
   * Looks up the environment variable of each `"$NAME"` secret: its value, or undefined when
   * it is not set (a thrown error becomes the key's ConfigError). Default:
   * {@link readEnvironment}, the process environment.
   */
  readonly env?: EnvLookup;
  /**
   * The directory relative paths in the config (TLS files, Unix sockets, static directories)
   * resolve against; default: the working directory. {@link loadConfigFile} passes the config
   * file's directory, as Crossbar resolves them against `.crossbar/`.
   */
  readonly baseDir?: string | null;
}

/**
 * Validates a Crossbar-shaped node config and resolves every default.
 *
 * Accepted shape: `{"version"?: 2, "workers": [{"type": "router", "id"?: string,
 * "realms": [...], "transports"?: [...]}]}` with exactly one worker, of type `router`.
 * Zero transports are allowed (a router embedded in another program).
 *
 * @param input The parsed JSON document.
 * @param options Where `"$NAME"` secrets are looked up (default: the process environment).
 * @returns The resolved configuration.
 * @throws {ConfigError} For the first problem found, naming its JSON path.
 */
export function parseConfig(input: unknown, options: ParseOptions = {}): RouterConfig {
  return parseRouterConfig(input, {
    env: options.env ?? readEnvironment,
    baseDir: options.baseDir ?? null,
  });
}
