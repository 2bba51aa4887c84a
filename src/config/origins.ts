/**
 * `allowed_origins` lists (HTTP bridge paths, WebSocket endpoints) in Crossbar's form; the
 * patterns themselves are `src/http/origin.ts`'s.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { parseOriginPattern } from "../http/origin.ts";
import { ConfigError, describe, expectArray, expectNonEmptyString, indexPath } from "./kit.ts";

/** `allowed_origins`: a list of origins in Crossbar's form (see `src/http/origin.ts`). */
export function parseAllowedOrigins(value: unknown, path: string): string[] {
  const list = expectArray(value, path);
  const seen = new Map<string, number>();
  return list.map((item, i) => {
    const itemPath = indexPath(path, i);
    const text = expectNonEmptyString(item, itemPath);
    const pattern = parseOriginPattern(text);
    if (typeof pattern === "string") {
      throw new ConfigError(itemPath, `${pattern}, got ${describe(text)}`);
    }
    const key = text.toLowerCase();
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new ConfigError(
        itemPath,
        `duplicate origin ${JSON.stringify(text)} (already given by ${indexPath(path, previous)})`,
      );
    }
    seen.set(key, i);
    return text;
  });
}
