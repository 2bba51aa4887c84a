/**
 * The check that no two transports listen on the same address, for the parser and for the
 * command line's host/port overrides.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { ConfigError, indexPath, keyPath } from "./kit.ts";
import type { TransportConfig } from "./types.ts";

/** Hosts that bind every interface of their address family. */
const WILDCARD_HOSTS: readonly string[] = ["0.0.0.0", "::"];

/**
 * Two transports may not listen on the same port (port 0 = ephemeral never collides) of the
 * same host; a wildcard host (`0.0.0.0`, `::`) collides with every host on that port.
 *
 * @param transports The transports, in config order.
 * @param path The JSON path of the `transports` array (errors name the later transport).
 */
export function checkEndpointCollisions(
  transports: readonly TransportConfig[],
  path: string,
): void {
  transports.forEach((t, i) => {
    if (t.endpoint.port === 0) return;
    for (let j = 0; j < i; j++) {
      const other = transports[j]!.endpoint;
      if (other.port !== t.endpoint.port) continue;
      if (
        other.host === t.endpoint.host || WILDCARD_HOSTS.includes(other.host) ||
        WILDCARD_HOSTS.includes(t.endpoint.host)
      ) {
        throw new ConfigError(
          keyPath(indexPath(path, i), "endpoint"),
          `endpoint ${t.endpoint.host} port ${t.endpoint.port} collides with ${
            indexPath(path, j)
          } (${other.host} port ${other.port})`,
        );
      }
    }
  });
}
