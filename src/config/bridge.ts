/**
 * HTTP bridge paths of a `web` or `universal` transport (`publisher`, `caller`): their realm,
 * role and `options`.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { DEFAULT_ALLOW_NULL_ORIGIN, DEFAULT_POST_BODY_LIMIT } from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  expectBoolean,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  has,
  keyPath,
  type Obj,
  type ParseContext,
} from "./kit.ts";
import { IGNORED_ENDPOINT_DEBUG } from "./crossbar.ts";
import { parseAllowedOrigins } from "./origins.ts";
import { parseRoleName } from "./realm.ts";
import type { BridgeConfig } from "./types.ts";

/**
 * A `publisher` / `caller` path: the HTTP bridge (`POST` JSON to publish or call), with
 * `options.post_body_limit`, `options.allowed_origins` and `options.allow_null_origin`.
 */
export function parseBridge(
  service: Obj,
  path: string,
  kind: "publisher" | "caller",
  ctx: ParseContext,
): BridgeConfig {
  checkKeys(service, path, { allowed: ["type", "realm", "role", "options"] });
  const realm = expectNonEmptyString(
    expectRequired(service, "realm", path),
    keyPath(path, "realm"),
  );
  const role = parseRoleName(expectRequired(service, "role", path), keyPath(path, "role"));
  let postBodyLimit = DEFAULT_POST_BODY_LIMIT;
  let allowedOrigins: string[] | null = null;
  let allowNullOrigin = DEFAULT_ALLOW_NULL_ORIGIN;
  if (has(service, "options")) {
    const optionsPath = keyPath(path, "options");
    const options = expectObject(service.options, optionsPath);
    checkKeys(options, optionsPath, {
      allowed: ["post_body_limit", "allowed_origins", "allow_null_origin"],
      ignored: IGNORED_ENDPOINT_DEBUG,
    }, ctx);
    if (has(options, "post_body_limit")) {
      postBodyLimit = expectInteger(
        options.post_body_limit,
        keyPath(optionsPath, "post_body_limit"),
      );
      if (postBodyLimit < 1) {
        throw new ConfigError(
          keyPath(optionsPath, "post_body_limit"),
          `must be a positive number of bytes, got ${postBodyLimit}`,
        );
      }
    }
    if (has(options, "allowed_origins")) {
      allowedOrigins = parseAllowedOrigins(
        options.allowed_origins,
        keyPath(optionsPath, "allowed_origins"),
      );
    }
    if (has(options, "allow_null_origin")) {
      allowNullOrigin = expectBoolean(
        options.allow_null_origin,
        keyPath(optionsPath, "allow_null_origin"),
      );
    }
  }
  return {
    kind,
    realm,
    role,
    post_body_limit: postBodyLimit,
    allowed_origins: allowedOrigins,
    allow_null_origin: allowNullOrigin,
  };
}
