/**
 * The plain-HTTP web services of a `web` or `universal` transport's paths, in Crossbar's shape:
 * `static` (a directory), `redirect`, `json` (a fixed document) and `nodeinfo`. Each resolves
 * to its variant of {@link WebServiceConfig}.
 *
 * Pure functions, no I/O: a static directory is named here and opened when serving (a missing
 * one is a config error then; `checkServedFiles` in `router/served_files.ts` reports it without
 * serving).
 *
 * @module
 */

import {
  checkKeys,
  ConfigError,
  describe,
  expectBoolean,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  expectString,
  has,
  keyPath,
  type Obj,
  own,
  type ParseContext,
  resolvePath,
} from "./kit.ts";
import type {
  JsonServiceConfig,
  RedirectServiceConfig,
  StaticServiceConfig,
  WebServiceConfig,
} from "./types.ts";

/** `cache_timeout` of a static service without one: 12 hours, as Crossbar. */
export const DEFAULT_STATIC_CACHE_TIMEOUT = 12 * 60 * 60;
/** The redirect status without `status`: 302 Found, as Crossbar (Twisted's `redirect`). */
export const DEFAULT_REDIRECT_STATUS = 302;
/** Content types Crossbar adds to Twisted's table for every static service. */
const CROSSBAR_MIME_TYPES: Readonly<Record<string, string>> = {
  ".svg": "image/svg+xml",
  ".jgz": "text/javascript",
};
/** A `type` token of a content type: `type/subtype` with optional parameters. */
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$/;
const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

/** The path types this module parses. */
export const WEB_SERVICE_TYPES: readonly string[] = ["static", "redirect", "json", "nodeinfo"];

/**
 * One web service path.
 *
 * @param service The path's object (its `type` is one of {@link WEB_SERVICE_TYPES}).
 * @param path Its JSON path.
 * @param ctx Resolves a relative `directory` against the config file's directory.
 */
export function parseWebService(service: Obj, path: string, ctx: ParseContext): WebServiceConfig {
  const type = service.type;
  if (type === "static") return parseStatic(service, path, ctx);
  if (type === "redirect") return parseRedirect(service, path);
  if (type === "json") return parseJson(service, path);
  if (type !== "nodeinfo") throw new TypeError(`not a web service type: ${String(type)}`);
  checkKeys(service, path, { allowed: ["type", "id"] });
  checkId(service, path);
  return { type: "nodeinfo" };
}

function checkId(service: Obj, path: string): void {
  if (has(service, "id")) expectString(service.id, keyPath(path, "id"));
}

/**
 * `{"type": "static", "directory", "options"?}`. Crossbar's `package` + `resource` form (files
 * of an installed Python package) is refused: there are no Python packages here.
 */
function parseStatic(service: Obj, path: string, ctx: ParseContext): StaticServiceConfig {
  checkKeys(service, path, {
    allowed: ["type", "id", "directory", "options"],
    rejected: {
      package: 'serving files of a Python package ("package" + "resource") is not possible ' +
        "in Switchboard, which hosts no Python; copy the files to a directory and name it in " +
        '"directory"',
      resource: 'serving files of a Python package ("package" + "resource") is not possible ' +
        "in Switchboard, which hosts no Python; copy the files to a directory and name it in " +
        '"directory"',
    },
  });
  checkId(service, path);
  const dirPath = keyPath(path, "directory");
  const directory = resolvePath(
    ctx,
    expectNonEmptyString(expectRequired(service, "directory", path), dirPath),
  );
  // `--check` looks for it (a warning there; serving fails on a missing directory)
  ctx.needsFile?.(dirPath, directory, "directory");
  const optionsPath = keyPath(path, "options");
  const options = has(service, "options") ? expectObject(service.options, optionsPath) : {};
  checkKeys(options, optionsPath, {
    allowed: ["enable_directory_listing", "mime_types", "cache_timeout", "default_file"],
  });
  const listing = has(options, "enable_directory_listing")
    ? expectBoolean(
      options.enable_directory_listing,
      keyPath(optionsPath, "enable_directory_listing"),
    )
    : false;
  const mimeTypes = new Map(Object.entries(CROSSBAR_MIME_TYPES));
  if (has(options, "mime_types")) {
    const mtPath = keyPath(optionsPath, "mime_types");
    const table = expectObject(options.mime_types, mtPath);
    for (const [ext, value] of Object.entries(table)) {
      const itemPath = keyPath(mtPath, ext);
      if (!/^\.[^./\\]+$/.test(ext)) {
        throw new ConfigError(
          itemPath,
          `must be a file extension with its dot, such as ".wasm", got ${describe(ext)}`,
        );
      }
      const contentType = expectNonEmptyString(value, itemPath);
      if (!CONTENT_TYPE.test(contentType) || /[\r\n]/.test(contentType)) {
        throw new ConfigError(
          itemPath,
          `must be a content type such as "application/wasm", got ${describe(contentType)}`,
        );
      }
      mimeTypes.set(ext.toLowerCase(), contentType);
    }
  }
  let cacheTimeout: number | null = DEFAULT_STATIC_CACHE_TIMEOUT;
  if (has(options, "cache_timeout")) {
    const ctPath = keyPath(optionsPath, "cache_timeout");
    if (options.cache_timeout === null) cacheTimeout = null;
    else {
      cacheTimeout = expectInteger(options.cache_timeout, ctPath);
      if (cacheTimeout < 0) {
        throw new ConfigError(
          ctPath,
          `must be null (no caching headers) or a number of seconds, got ${cacheTimeout}`,
        );
      }
    }
  }
  let defaultFile: string | null = null;
  if (has(options, "default_file")) {
    const dfPath = keyPath(optionsPath, "default_file");
    defaultFile = expectNonEmptyString(options.default_file, dfPath);
    const parts = defaultFile.split(/[/\\]/);
    if (defaultFile.startsWith("/") || parts.some((p) => p === ".." || p === "" || p === ".")) {
      throw new ConfigError(
        dfPath,
        `must be a file inside the directory, such as "index.html" (no "..", no leading "/"), ` +
          `got ${describe(defaultFile)}`,
      );
    }
  }
  return {
    type: "static",
    directory,
    directory_path: dirPath,
    directory_listing: listing,
    mime_types: mimeTypes,
    cache_timeout: cacheTimeout,
    default_file: defaultFile,
  };
}

/** `{"type": "redirect", "url", "status"?}` (`status` is Switchboard's; Crossbar sends 302). */
function parseRedirect(service: Obj, path: string): RedirectServiceConfig {
  checkKeys(service, path, { allowed: ["type", "id", "url", "status"] });
  checkId(service, path);
  const urlPath = keyPath(path, "url");
  const url = expectNonEmptyString(expectRequired(service, "url", path), urlPath);
  // a Location header cannot carry control characters or non-ASCII text (Crossbar drops the
  // latter silently; here it must be percent-encoded)
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f-\uffff ]/.test(url)) {
    throw new ConfigError(
      urlPath,
      `must be a URL of printable ASCII without spaces (percent-encode the rest), got ${
        describe(url)
      }`,
    );
  }
  let status = DEFAULT_REDIRECT_STATUS;
  if (has(service, "status")) {
    const statusPath = keyPath(path, "status");
    status = expectInteger(service.status, statusPath);
    if (!REDIRECT_STATUSES.includes(status)) {
      throw new ConfigError(statusPath, `must be 301, 302, 303, 307 or 308, got ${status}`);
    }
  }
  return { type: "redirect", url, status: status as RedirectServiceConfig["status"] };
}

/** `{"type": "json", "value", "options"?: {prettify, allow_cross_origin, discourage_caching}}`. */
function parseJson(service: Obj, path: string): JsonServiceConfig {
  checkKeys(service, path, { allowed: ["type", "id", "value", "options"] });
  checkId(service, path);
  const value = expectRequired(service, "value", path);
  const optionsPath = keyPath(path, "options");
  const options = has(service, "options") ? expectObject(service.options, optionsPath) : {};
  checkKeys(options, optionsPath, {
    allowed: ["prettify", "allow_cross_origin", "discourage_caching"],
  });
  const flag = (key: string, fallback: boolean): boolean =>
    has(options, key) ? expectBoolean(own(options, key), keyPath(optionsPath, key)) : fallback;
  // Crossbar indents a prettified document by 3, as Python's json.dumps(indent=3)
  const body = flag("prettify", false) ? JSON.stringify(value, null, 3) : JSON.stringify(value);
  return {
    type: "json",
    body,
    allow_cross_origin: flag("allow_cross_origin", true),
    discourage_caching: flag("discourage_caching", false),
  };
}
