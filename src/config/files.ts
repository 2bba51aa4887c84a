/**
 * The files a parsed config makes the router read when it serves: each transport's TLS files
 * (`endpoint.tls`: `certificate`, `key`, and the lists `ca_certificates` and, where the
 * config type has it, `chain_certificates`), declared through
 * {@link ParseContext.needsFile} so that `--check` can look for them (`check.ts`). Parsers
 * of other file-backed keys (static directories) declare theirs where they parse them.
 *
 * Pure: declaring reads nothing.
 *
 * @module
 */

import { indexPath, keyPath, type ParseContext } from "./kit.ts";
import type { TransportConfig } from "./types.ts";

/** TLS keys that hold one file. */
const TLS_FILE_KEYS = ["certificate", "key", "dhparam"] as const;
/** TLS keys that hold a list of files. */
const TLS_FILE_LIST_KEYS = ["ca_certificates", "chain_certificates"] as const;

/**
 * Declares the TLS files of `transports` (parsed from the array at JSON path `path`).
 *
 * @param transports The parsed transports, in config order.
 * @param path The JSON path of the `transports` array.
 * @param ctx Where the files are declared (nothing happens without `ctx.needsFile`).
 */
export function declareTlsFiles(
  transports: readonly TransportConfig[],
  path: string,
  ctx: ParseContext,
): void {
  const declare = ctx.needsFile;
  if (declare === undefined) return;
  transports.forEach((t, i) => {
    const tls = t.endpoint.tls as Readonly<Record<string, unknown>> | null;
    if (tls === null) return;
    const tlsPath = keyPath(keyPath(indexPath(path, i), "endpoint"), "tls");
    for (const key of TLS_FILE_KEYS) {
      const file = tls[key];
      if (typeof file === "string") declare(keyPath(tlsPath, key), file, "file");
    }
    for (const key of TLS_FILE_LIST_KEYS) {
      const files = tls[key];
      if (!Array.isArray(files)) continue;
      files.forEach((file, j) => {
        if (typeof file === "string") declare(indexPath(keyPath(tlsPath, key), j), file, "file");
      });
    }
  });
}
