/**
 * The whole config parser, pure: the Crossbar node shell (`crossbar.ts`) around the router
 * worker's realms (`realm.ts`) and transports (`transport.ts`). It reads nothing but its
 * arguments; `"$NAME"` secrets are looked up through the `env` function it is given.
 * `config.ts` wraps it as the public `parseConfig`, `load.ts` uses it for `loadConfigFile`.
 *
 * @module
 */

import type { EnvLookup } from "./auth.ts";
import { parseNode } from "./crossbar.ts";
import { expectArray, expectRequired, has, keyPath } from "./kit.ts";
import { parseRealms } from "./realm.ts";
import { parseTransports } from "./transport.ts";
import type { RouterConfig } from "./types.ts";

/**
 * Validates a Crossbar-shaped node config and resolves every default.
 *
 * @param input The parsed JSON document.
 * @param env Looks up the environment variable of each `"$NAME"` secret.
 * @returns The resolved configuration.
 * @throws {ConfigError} For the first problem found, naming its JSON path.
 */
export function parseRouterConfig(input: unknown, env: EnvLookup): RouterConfig {
  return parseNode(input, (worker, path) => {
    const realmsPath = keyPath(path, "realms");
    const realms = parseRealms(
      expectArray(expectRequired(worker, "realms", path), realmsPath),
      realmsPath,
    );
    const transportsPath = keyPath(path, "transports");
    const transports = parseTransports(
      has(worker, "transports") ? expectArray(worker.transports, transportsPath) : [],
      transportsPath,
      env,
    );
    return { realms, transports };
  });
}
