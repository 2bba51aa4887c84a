/**
 * Where the config meets the outside world: reading a config file ({@link loadConfigFile},
 * whose JSON syntax errors come from `json_syntax.ts`), the process environment behind
 * `"$NAME"` secrets ({@link readEnvironment}), and the command line's host/port overrides
 * ({@link applyOverrides}).
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { overrideCluster } from "./cluster.ts";
import { ConfigError, expectNonEmptyString } from "./kit.ts";
import { jsonSyntaxError } from "./json_syntax.ts";
import { parseRouterConfig } from "./parse.ts";
import { checkEndpointCollisions, checkPort } from "./transport.ts";
import type { RouterConfig, TransportConfig } from "./types.ts";

/** The process environment could not be read (e.g. without `--allow-env` for the variable). */
export class EnvironmentAccessError extends Error {
  /** Always `"EnvironmentAccessError"`. */
  override name = "EnvironmentAccessError";
  /** The variable that was to be read. */
  readonly variable: string;

  /**
   * @param variable The variable that was to be read.
   * @param message What went wrong, with the permission that is missing.
   * @param options Standard error options (the underlying `cause`).
   */
  constructor(variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.variable = variable;
  }
}

/**
 * The value of the environment variable `name` (`Deno.env`), or undefined when it is not
 * set: the lookup behind `"$NAME"` secrets that `parseConfig` uses by default and
 * `loadConfigFile` and `createRouter` pass.
 *
 * @param name The variable's name.
 * @throws {EnvironmentAccessError} When the variable may not be read; the message names the
 * `--allow-env` flag that is needed.
 */
export function readEnvironment(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (e) {
    throw new EnvironmentAccessError(
      name,
      `${e instanceof Error ? e.message : String(e)} (run with --allow-env=${name})`,
      { cause: e },
    );
  }
}

/**
 * Reads, parses and validates a config file (needs `--allow-read` for `path`). `"$NAME"`
 * secrets are read from the process environment ({@link readEnvironment}).
 *
 * @param path File name of a JSON node config.
 * @returns The resolved configuration.
 * @throws {ConfigError} With path `(file)` when the file cannot be read or is not valid JSON
 * (the reason names the file and, for JSON, the line and column, never the file's text), or as
 * `parseConfig` throws.
 */
export async function loadConfigFile(path: string): Promise<RouterConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "file not found"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError("(file)", `cannot read config file ${JSON.stringify(path)}: ${detail}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // V8's message quotes the text around the error, which may be a secret: report where the
    // error is instead, found by our own scanner, and keep V8's error out of the cause too.
    const at = jsonSyntaxError(text);
    const reason = `invalid JSON in ${JSON.stringify(path)}: ${
      at ? `${at.problem} at line ${at.line}, column ${at.column}` : "not a JSON document"
    }`;
    throw new ConfigError("(file)", reason, { cause: new SyntaxError(reason) });
  }
  return parseRouterConfig(json, { env: readEnvironment, baseDir: dirname(resolve(path)) });
}

/** Command-line overrides of the first transport's listening address and of the cluster. */
export interface ConfigOverrides {
  /** Replaces the first transport's endpoint host. */
  readonly host?: string;
  /** Replaces the first transport's endpoint port (0 = any free port). */
  readonly port?: number;
  /** Replaces `cluster.node` (`--node`); needs a cluster block or {@link cluster}. */
  readonly node?: string;
  /**
   * Replaces `cluster.servers` (`--cluster URL[,URL]`: the list), creating the cluster block
   * when the config has none.
   */
  readonly cluster?: readonly string[];
}

/** `t` listening on `host` and `port`, of the same transport type. */
function relocated<T extends TransportConfig>(t: T, host: string, port: number): T {
  return { ...t, endpoint: { ...t.endpoint, host, port } };
}

/**
 * Returns a copy of `config` whose first transport listens on `o.host` / `o.port` where given,
 * and whose cluster block has `o.node` / `o.cluster` applied. With none given the config is
 * returned unchanged.
 *
 * @param config A resolved configuration.
 * @param o The overrides.
 * @returns The new configuration (the input is not modified).
 * @throws {ConfigError} When an override is given but there is no transport (path
 * `workers[0].transports`), when `o.host` is empty or `o.port` is not an integer 0..65535
 * (path `(override).host` / `(override).port`), when the new endpoint collides with another
 * transport, or when `o.node` / `o.cluster` is invalid or `o.node` comes without a cluster
 * (path `(override).node` / `(override).cluster`).
 */
export function applyOverrides(config: RouterConfig, o: ConfigOverrides): RouterConfig {
  if (o.node !== undefined || o.cluster !== undefined) {
    const cluster = overrideCluster(config.cluster, { node: o.node, servers: o.cluster });
    if (cluster) config = { ...config, cluster };
  }
  if (o.host === undefined && o.port === undefined) return config;
  const transportsPath = "workers[0].transports";
  const first = config.transports[0];
  if (first === undefined) {
    throw new ConfigError(
      transportsPath,
      "cannot apply the host/port override: the config has no transport",
    );
  }
  const host = o.host === undefined
    ? first.endpoint.host
    : expectNonEmptyString(o.host, "(override).host");
  const port = o.port === undefined ? first.endpoint.port : checkPort(o.port, "(override).port");
  const transports = [relocated(first, host, port), ...config.transports.slice(1)];
  checkEndpointCollisions(transports, transportsPath);
  return { ...config, transports };
}
