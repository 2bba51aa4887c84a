/**
 * The files and sockets a transport's endpoint names, resolved as the router opens them: TLS
 * `certificate`, `key`, `ca_certificates` and `chain_certificates`, and a Unix socket `path`.
 * Relative paths resolve against the config file's directory (`ParseContext.baseDir`), as
 * Crossbar resolves them against its node directory `.crossbar/`; without a file (a config
 * given as an object) against the working directory. Pure: nothing is read here.
 *
 * @module
 */

import { type ParseContext, resolvePath } from "./kit.ts";
import type { TlsConfig, TransportConfig } from "./types.ts";

/** TLS keys that hold one file path. */
const TLS_FILE_KEYS = ["certificate", "key"];

/** TLS keys that hold a list of file paths. */
const TLS_FILE_LIST_KEYS = ["ca_certificates", "chain_certificates"];

/** `transport` with its endpoint's file and socket paths resolved (see the module doc). */
export function withResolvedPaths<T extends TransportConfig>(transport: T, ctx: ParseContext): T {
  const endpoint: { readonly tls: TlsConfig | null; readonly unix?: string } = transport.endpoint;
  const tls = endpoint.tls ? resolveTls(endpoint.tls, ctx) : endpoint.tls;
  const unix = endpoint.unix === undefined ? {} : { unix: resolvePath(ctx, endpoint.unix) };
  return { ...transport, endpoint: { ...transport.endpoint, tls, ...unix } };
}

function resolveTls(tls: TlsConfig, ctx: ParseContext): TlsConfig {
  const out: Record<string, unknown> = { ...tls };
  for (const key of TLS_FILE_KEYS) {
    const file = out[key];
    if (typeof file === "string") out[key] = resolvePath(ctx, file);
  }
  for (const key of TLS_FILE_LIST_KEYS) {
    const files = out[key];
    if (Array.isArray(files)) {
      out[key] = files.map((f: unknown) => typeof f === "string" ? resolvePath(ctx, f) : f);
    }
  }
  return out as unknown as TlsConfig;
}
