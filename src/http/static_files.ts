/**
 * Files of one directory over HTTP (a `static` web service): `GET` and `HEAD`, `index.html` for
 * a directory, content types by extension (the `mime-types` package, plus the service's own
 * table), `ETag` and `Last-Modified` with `304 Not Modified` for `If-None-Match` and
 * `If-Modified-Since`, `Cache-Control`/`Expires`, an optional directory listing and an optional
 * file served for every path that names nothing (single-page applications). Files are streamed
 * from disk, never read whole.
 *
 * Nothing outside the directory is served: a request path is taken apart into its encoded
 * segments before any decoding (the URL parser has already removed `.` and `..` segments), and
 * a segment that decodes to `.`, `..`, or contains `/`, `\` or NUL is refused (400); a segment
 * starting with `.` (hidden files such as `.crossbar/config.json`; only `.well-known` is served)
 * names nothing (404); the path found is resolved with its symbolic links and must still lie in
 * the directory (a link pointing outside names nothing); only regular files and directories
 * are served (never a FIFO or a device, whose open could block). What is opened is the resolved
 * path, so a link swapped in between the check and the open (by someone who can write into the
 * served directory) is the one race left; Deno's `open` has no `O_NOFOLLOW`.
 *
 * @module
 */

import { extname, join, sep } from "node:path";
// @ts-types="@types/mime-types"
import mime from "mime-types";

/** What a {@linkcode StaticFiles} serves and how. */
export interface StaticFilesOptions {
  /** Whether a directory without `index.html` gets a listing; else it names nothing. */
  readonly listing: boolean;
  /** Extra content types by lower-case extension with its dot; they win over the package's. */
  readonly mimeTypes: ReadonlyMap<string, string>;
  /** Seconds for `Cache-Control: max-age` and `Expires`; null: neither header. */
  readonly cacheSeconds: number | null;
  /** A file (relative to the directory) served for every path that names nothing. */
  readonly defaultFile: string | null;
  /** Wall-clock now in milliseconds since the epoch (for `Expires`). */
  readonly nowMs: () => number;
}

/** A directory's problem when it is opened for serving. */
export class StaticDirectoryError extends Error {
  /** Always `"StaticDirectoryError"`. */
  override name = "StaticDirectoryError";
}

/** The index file of a directory. */
export const INDEX_FILE = "index.html";
/** Longest request path (encoded, under the service's mount) looked up; longer ones: 404. */
export const MAX_STATIC_PATH = 4096;
/** Most entries a directory listing shows. */
export const MAX_LISTING_ENTRIES = 10_000;
/** The one hidden name served: RFC 8615 well-known URIs. */
const WELL_KNOWN = ".well-known";

const TEXT = { "content-type": "text/plain; charset=utf-8" } as const;

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { ...TEXT, ...headers } });
}

/** A file system error that means "nothing there" (or nothing this process may see). */
function isMissing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable ||
    e instanceof Deno.errors.FilesystemLoop ||
    (e instanceof Error && /name too long|ENAMETOOLONG|os error 36/i.test(e.message));
}

/** Escapes text for HTML. */
function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The segments of an encoded path below the mount (`/a/b%20c/` → `["a", "b c", ""]`). */
type Segments = string[] | "bad" | "hidden";

function segmentsOf(rest: string): Segments {
  const parts = rest.split("/").slice(1);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const encoded = parts[i]!;
    if (encoded === "") {
      if (i === parts.length - 1) {
        out.push("");
        continue;
      }
      return "hidden"; // an empty segment inside the path (`a//b`) names nothing
    }
    let segment: string;
    try {
      segment = decodeURIComponent(encoded);
    } catch {
      return "bad"; // malformed percent-encoding
    }
    if (
      segment === "." || segment === ".." || segment.includes("/") || segment.includes("\\") ||
      segment.includes("\0")
    ) return "bad";
    if (segment.startsWith(".") && segment !== WELL_KNOWN) return "hidden";
    out.push(segment);
  }
  return out;
}

/** The files of one directory. */
export class StaticFiles {
  /** The directory, with its symbolic links resolved. */
  readonly root: string;
  readonly #options: StaticFilesOptions;

  private constructor(root: string, options: StaticFilesOptions) {
    this.root = root;
    this.#options = options;
  }

  /**
   * Opens `directory` for serving.
   *
   * @throws {StaticDirectoryError} When it does not exist, is not a directory or cannot be
   * read; or when the default file is not a file in it.
   */
  static async open(directory: string, options: StaticFilesOptions): Promise<StaticFiles> {
    let root: string;
    try {
      root = await Deno.realPath(directory);
      const info = await Deno.stat(root);
      if (!info.isDirectory) throw new StaticDirectoryError(`"${directory}" is not a directory`);
      // reading it proves this process may list it
      for await (const _ of Deno.readDir(root)) break;
    } catch (e) {
      if (e instanceof StaticDirectoryError) throw e;
      throw new StaticDirectoryError(
        `cannot serve the directory "${directory}": ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const files = new StaticFiles(root, options);
    if (options.defaultFile !== null) {
      const found = await files.#resolve(options.defaultFile.split(/[/\\]/));
      if (found === null || !found.info.isFile) {
        throw new StaticDirectoryError(
          `the default file "${options.defaultFile}" is not a file in "${directory}"`,
        );
      }
    }
    return files;
  }

  /**
   * Answers one request.
   *
   * @param req The request.
   * @param rest The request's encoded path below the service's mount: `""` (the mount itself,
   * without its trailing slash) or starting with `/`.
   */
  async serve(req: Request, rest: string): Promise<Response> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return plain(405, "Method not allowed\n", { allow: "GET, HEAD" });
    }
    const url = new URL(req.url);
    if (rest === "") return redirect(`${url.pathname}/${url.search}`);
    if (rest.length > MAX_STATIC_PATH) return this.#notFound(req);
    const segments = segmentsOf(rest);
    if (segments === "bad") return plain(400, "Bad request path\n");
    if (segments === "hidden") return this.#notFound(req);
    const wantsDirectory = segments[segments.length - 1] === "";
    const names = wantsDirectory ? segments.slice(0, -1) : segments;
    const found = await this.#resolve(names);
    if (found === null) return this.#notFound(req);
    if (found.info.isDirectory) {
      if (!wantsDirectory) return redirect(`${url.pathname}/${url.search}`);
      const index = await this.#resolve([...names, INDEX_FILE]);
      if (index !== null && index.info.isFile) {
        return this.#file(req, index.path, index.info, INDEX_FILE);
      }
      if (this.#options.listing) return await this.#listing(req, found.path, url.pathname);
      return this.#notFound(req);
    }
    if (wantsDirectory || !found.info.isFile) return this.#notFound(req);
    return this.#file(req, found.path, found.info, names[names.length - 1]!);
  }

  /**
   * The real path and information of `names` below the root, or null when it names nothing
   * there (missing, unreadable, or a symbolic link leading outside).
   */
  async #resolve(names: readonly string[]): Promise<{ path: string; info: Deno.FileInfo } | null> {
    try {
      const real = await Deno.realPath(join(this.root, ...names));
      if (real !== this.root && !real.startsWith(this.root + sep)) return null;
      const relative = real.slice(this.root.length).split(sep).filter((p) => p !== "");
      if (relative.some((p) => p.startsWith(".") && p !== WELL_KNOWN)) return null;
      return { path: real, info: await Deno.stat(real) };
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async #notFound(req: Request): Promise<Response> {
    const fallback = this.#options.defaultFile;
    if (fallback !== null) {
      const found = await this.#resolve(fallback.split(/[/\\]/));
      if (found !== null && found.info.isFile) {
        return this.#file(req, found.path, found.info, fallback);
      }
    }
    return plain(404, "Not found\n");
  }

  /** Headers every file response carries (also a 304). */
  #cacheHeaders(headers: Headers, info: Deno.FileInfo): void {
    const mtime = info.mtime?.getTime() ?? null;
    headers.set("etag", `W/"${info.size.toString(16)}-${(mtime ?? 0).toString(16)}"`);
    if (mtime !== null) headers.set("last-modified", new Date(mtime).toUTCString());
    const seconds = this.#options.cacheSeconds;
    if (seconds !== null) {
      headers.set("cache-control", `max-age=${seconds}, public`);
      headers.set("expires", new Date(this.#options.nowMs() + seconds * 1000).toUTCString());
    }
  }

  /** A file's response; its content type is by `name`, the name requested (a link's own). */
  async #file(req: Request, path: string, info: Deno.FileInfo, name: string): Promise<Response> {
    const headers = new Headers();
    this.#cacheHeaders(headers, info);
    if (notModified(req, headers.get("etag")!, info.mtime)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-type", this.#contentType(name));
    headers.set("x-content-type-options", "nosniff");
    crossOrigin(req, headers);
    if (req.method === "HEAD") {
      headers.set("content-length", String(info.size));
      return new Response(null, { status: 200, headers });
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (isMissing(e)) return plain(404, "Not found\n");
      throw e;
    }
    // the file may have changed since it was looked up: describe what was opened
    let opened: Deno.FileInfo;
    try {
      opened = await file.stat();
    } catch (e) {
      file.close();
      throw e;
    }
    if (!opened.isFile) {
      file.close();
      return plain(404, "Not found\n");
    }
    headers.set("content-length", String(opened.size));
    return new Response(file.readable, { status: 200, headers });
  }

  #contentType(name: string): string {
    const ext = extname(name).toLowerCase();
    const own = this.#options.mimeTypes.get(ext);
    if (own !== undefined) return own;
    return (ext === "" ? false : mime.contentType(ext)) || "application/octet-stream";
  }

  async #listing(req: Request, dir: string, pathname: string): Promise<Response> {
    const entries: { name: string; directory: boolean }[] = [];
    let more = 0;
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".") && e.name !== WELL_KNOWN) continue;
      if (entries.length >= MAX_LISTING_ENTRIES) {
        more++;
        continue;
      }
      entries.push({ name: e.name, directory: e.isDirectory });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const title = html(decodeURIComponentSafe(pathname));
    const items = entries.map((e) => {
      const href = encodeURIComponent(e.name) + (e.directory ? "/" : "");
      return `<li><a href="${html(href)}">${html(e.name)}${e.directory ? "/" : ""}</a></li>`;
    });
    if (more > 0) items.push(`<li>… and ${more} more not listed</li>`);
    const body = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of ${title}` +
      `</title></head><body><h1>Index of ${title}</h1><ul>\n${items.join("\n")}\n</ul>` +
      `</body></html>\n`;
    const headers = new Headers({
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
    });
    crossOrigin(req, headers);
    return new Response(req.method === "HEAD" ? null : body, { headers });
  }
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function redirect(location: string): Response {
  return new Response(null, { status: 302, headers: { location } });
}

/**
 * True when the request's validators say its copy is current: any `If-None-Match` entity tag
 * equal to `etag` (weak comparison, `*` matches), else (no `If-None-Match`) a
 * `If-Modified-Since` no earlier than the file's modification time (whole seconds).
 */
export function notModified(req: Request, etag: string, mtime: Date | null): boolean {
  const inm = req.headers.get("if-none-match");
  if (inm !== null) {
    const weak = (tag: string) => tag.trim().replace(/^W\//, "");
    return inm.split(",").some((t) => t.trim() === "*" || weak(t) === weak(etag));
  }
  const ims = req.headers.get("if-modified-since");
  if (ims === null || mtime === null) return false;
  const since = Date.parse(ims);
  if (Number.isNaN(since)) return false;
  return Math.floor(mtime.getTime() / 1000) * 1000 <= since;
}

/**
 * Crossbar's cross-origin headers for its static and JSON resources: the request's `Origin`
 * echoed (`*` without one, or for `null`), credentials allowed, requested headers allowed.
 */
export function crossOrigin(req: Request, headers: Headers): void {
  const origin = req.headers.get("origin");
  headers.set(
    "access-control-allow-origin",
    origin === null || origin === "null" ? "*" : origin,
  );
  headers.set("access-control-allow-credentials", "true");
  const requested = req.headers.get("access-control-request-headers");
  if (requested !== null) headers.set("access-control-allow-headers", requested);
  headers.append("vary", "Origin");
}
