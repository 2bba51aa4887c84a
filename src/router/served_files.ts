/**
 * The files a configuration names for serving, checked without serving: every transport's TLS
 * files (certificate, key, `chain_certificates`, `ca_certificates`) and every static web
 * service's directory (and `default_file`). `Router.serve()` fails on the first of these
 * problems as a {@link ConfigError}; a config check (`--check`) reports them all, as warnings.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { ConfigError } from "../config/kit.ts";
import type { RouterConfig } from "../config/types.ts";
import { staticFiles } from "./web_services.ts";

/**
 * Every problem with the files `config` names, one {@link ConfigError} each (naming the key),
 * in config order; none opens a port.
 *
 * @param config The parsed configuration.
 * @param clock For the static services' `Expires` header (nothing is served here).
 */
export async function checkServedFiles(config: RouterConfig, clock: Clock): Promise<ConfigError[]> {
  const problems: ConfigError[] = [];
  for (const [index, t] of config.transports.entries()) {
    const tls = t.endpoint.tls;
    if (tls) {
      const path = `workers[0].transports[${index}].endpoint.tls`;
      const files: [string, string][] = [
        [tls.certificate, `${path}.certificate`],
        [tls.key, `${path}.key`],
        ...(tls.chain_certificates ?? []).map((f, i) =>
          [f, `${path}.chain_certificates[${i}]`] as [string, string]
        ),
        ...(tls.ca_certificates ?? []).map((f, i) =>
          [f, `${path}.ca_certificates[${i}]`] as [string, string]
        ),
      ];
      for (const [file, keyPath] of files) {
        try {
          await Deno.readTextFile(file);
        } catch (e) {
          problems.push(
            new ConfigError(
              keyPath,
              `cannot read "${file}": ${e instanceof Error ? e.message : e}`,
            ),
          );
        }
      }
    }
    if (t.type !== "web" && t.type !== "universal") continue;
    for (const service of t.services.values()) {
      if (service.type !== "static") continue;
      try {
        await staticFiles(service, clock);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(e);
      }
    }
  }
  return problems;
}
