/**
 * The whole config parser, pure: the Crossbar node shell (`crossbar.ts`) around the router
 * worker's realms (`realm.ts`) and transports (`transport.ts`). It reads nothing but its
 * arguments; `"$NAME"` secrets are looked up through the `env` function it is given.
 * `config.ts` wraps it as the public `parseConfig`, `load.ts` uses it for `loadConfigFile`.
 *
 * @module
 */

import { parseCluster } from "./cluster.ts";
import { parseNode } from "./crossbar.ts";
import {
  type ConfigWarning,
  type EnvLookup,
  expectArray,
  expectRequired,
  has,
  keyPath,
  type ParseContext,
} from "./kit.ts";
import { parseRealms } from "./realm.ts";
import { parseTransports } from "./transport.ts";
import type { RouterConfig } from "./types.ts";

/** What the parser reads besides the document. */
export interface ParseInputs {
  /** Looks up the environment variable of each `"$NAME"` secret. */
  readonly env: EnvLookup;
  /** The directory relative paths resolve against (the config file's), or null. */
  readonly baseDir: string | null;
}

/**
 * Validates a Crossbar-shaped node config and resolves every default.
 *
 * @param input The parsed JSON document.
 * @param inputs Where `"$NAME"` secrets are looked up, and where relative paths start.
 * @returns The resolved configuration, with a warning for every key accepted without effect.
 * @throws {ConfigError} For the first problem found, naming its JSON path.
 */
export function parseRouterConfig(input: unknown, inputs: ParseInputs): RouterConfig {
  const warnings: ConfigWarning[] = [];
  const ctx: ParseContext = {
    env: inputs.env,
    baseDir: inputs.baseDir,
    warn: (path, message) => warnings.push({ path, message }),
  };
  const parsed = parseNode(input, ctx, (worker, path) => {
    const realmsPath = keyPath(path, "realms");
    const realms = parseRealms(
      expectArray(expectRequired(worker, "realms", path), realmsPath),
      realmsPath,
      ctx,
    );
    const transportsPath = keyPath(path, "transports");
    const transports = parseTransports(
      has(worker, "transports") ? expectArray(worker.transports, transportsPath) : [],
      transportsPath,
      ctx,
    );
    const cluster = has(worker, "cluster")
      ? parseCluster(worker.cluster, keyPath(path, "cluster"), ctx)
      : undefined;
    return cluster ? { realms, transports, cluster } : { realms, transports };
  });
  return { ...parsed, warnings };
}
