/**
 * The web services of a `web` or `universal` transport's paths (`static`, `redirect`, `json`,
 * `nodeinfo`): which one a request path belongs to, and its answer. A service serves its path
 * and everything below it (`/app`, `/app/x/y`); a service at the root (`/`) serves every path
 * that no other path claims, as Crossbar's root resource does.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { ConfigError } from "../config/kit.ts";
import type {
  JsonServiceConfig,
  StaticServiceConfig,
  WebServiceConfig,
  WebServicesConfig,
} from "../config/types.ts";
import { crossOrigin, StaticDirectoryError, StaticFiles } from "../http/static_files.ts";
import type { Logger } from "../log.ts";

/** The service a request path belongs to, and the encoded rest of the path below its mount. */
export interface ServiceMatch {
  readonly service: WebServiceConfig;
  /** `""` (the mount without a trailing slash) or starting with `/`. */
  readonly rest: string;
}

/**
 * The web service of an (encoded) request path, or null.
 *
 * @param services The transport's services.
 * @param pathname The request URL's path (starting with `/`).
 */
export function matchService(
  services: WebServicesConfig["services"],
  pathname: string,
): ServiceMatch | null {
  if (services.size === 0) return null;
  const slash = pathname.indexOf("/", 1);
  const first = slash < 0 ? pathname.slice(1) : pathname.slice(1, slash);
  const named = first === "" ? undefined : services.get(first);
  if (named) return { service: named, rest: slash < 0 ? "" : pathname.slice(slash) };
  const root = services.get("");
  return root ? { service: root, rest: pathname } : null;
}

const opened = new WeakMap<StaticServiceConfig, Promise<StaticFiles>>();

/**
 * The open directory of a static service (opened once, shared by every listener and
 * `Router.handler()`; a failed open is retried on the next call).
 *
 * @throws {ConfigError} Naming the service's `directory` when it cannot be served.
 */
export function staticFiles(config: StaticServiceConfig, clock: Clock): Promise<StaticFiles> {
  let files = opened.get(config);
  if (!files) {
    files = StaticFiles.open(config.directory, {
      listing: config.directory_listing,
      mimeTypes: config.mime_types,
      cacheSeconds: config.cache_timeout,
      defaultFile: config.default_file,
      nowMs: () => Number(clock.nowNs() / 1_000_000n),
    }).catch((e) => {
      opened.delete(config);
      if (e instanceof StaticDirectoryError) {
        throw new ConfigError(config.directory_path, e.message, { cause: e });
      }
      throw e;
    });
    opened.set(config, files);
  }
  return files;
}

/**
 * Opens the directory of every static service of `services`, so a transport does not start
 * with one it cannot serve.
 *
 * @throws {ConfigError} For the first directory that cannot be served.
 */
export async function openStaticServices(
  services: WebServicesConfig["services"],
  clock: Clock,
): Promise<void> {
  for (const service of services.values()) {
    if (service.type === "static") await staticFiles(service, clock);
  }
}

/** What a service's answer needs to know. */
export interface ServiceContext {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The router's version (for `nodeinfo`). */
  version(): string;
  /** The client's address as the router saw it, or null. */
  readonly peer: string | null;
}

function methodNotAllowed(): Response {
  return new Response("Method not allowed\n", {
    status: 405,
    headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
  });
}

function notFound(): Response {
  return new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** The answer of `match`'s service to `req`. */
export async function serveService(
  match: ServiceMatch,
  req: Request,
  ctx: ServiceContext,
): Promise<Response> {
  const { service, rest } = match;
  if (service.type === "static") {
    let files: StaticFiles;
    try {
      files = await staticFiles(service, ctx.clock);
    } catch (e) {
      ctx.logger.error("static directory cannot be served", { error: String(e) });
      return new Response("Service unavailable\n", { status: 503 });
    }
    return await files.serve(req, rest);
  }
  if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed();
  const body = (text: string) => (req.method === "HEAD" ? null : text);
  switch (service.type) {
    case "redirect":
      // like Crossbar's, every path below the mount redirects to the same URL
      return new Response(null, { status: service.status, headers: { location: service.url } });
    case "json":
      if (rest !== "" && rest !== "/") return notFound();
      return jsonResponse(service, req, body);
    case "nodeinfo":
      return new Response(body(nodeInfoPage(ctx)), {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
      });
  }
}

function jsonResponse(
  service: JsonServiceConfig,
  req: Request,
  body: (text: string) => string | null,
): Response {
  const headers = new Headers({ "content-type": "application/json; charset=utf-8" });
  if (service.allow_cross_origin) crossOrigin(req, headers);
  if (service.discourage_caching) {
    headers.set("cache-control", "no-store, no-cache, must-revalidate, max-age=0");
  }
  return new Response(body(service.body), { headers });
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Crossbar's node info page, Switchboard's way: the router's version and the client's address. */
function nodeInfoPage(ctx: ServiceContext): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Switchboard</title></head>
<body><h1>Switchboard</h1>
<p>WAMP router, version ${escape(ctx.version())}.</p>
<p>You are connected from ${escape(ctx.peer ?? "an unknown address")}.</p>
</body></html>
`;
}
