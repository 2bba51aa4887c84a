/**
 * The HTTP bridge (Crossbar's `publisher` and `caller` path services): `POST` a JSON body to
 * publish an event or call a procedure on a realm, as the path's configured role.
 *
 * - publisher: `{"topic": uri, "args"?: [...], "kwargs"?: {...}, "options"?: {...}}` →
 *   `200 {"id": <publication id>}`
 * - caller: `{"procedure": uri, "args"?: [...], "kwargs"?: {...}, "options"?: {...}}` →
 *   `200 {"args": [...], "kwargs": {...}}`
 *
 * Errors answer `{"error": uri, "message"?: text, "args"?: [...], "kwargs"?: {...}}` with 400
 * (bad request, invalid URI or argument), 403 (not authorized, or an origin that is not allowed),
 * 404 (no such procedure), 405 (not POST), 413 (body too large), 415 (not `application/json`),
 * 500 (an error the callee raised), 503 (realm gone) or 504 (canceled / timed out).
 *
 * Browsers: a web page must not be able to publish or call as the bridge's role (cross-site
 * request forgery). A `POST` needs `Content-Type: application/json`, which no HTML form can
 * send and which makes a browser ask first (CORS preflight); a request with an `Origin` header
 * must be same-origin, or allowed by the path's `allowed_origins` / `allow_null_origin`
 * (`src/http/origin.ts`). Requests without `Origin` (curl, backends) are not browser requests
 * and pass.
 *
 * @module
 */

import type { WampClient } from "./client.ts";
import type { BridgeConfig } from "./config/types.ts";
import { checkOrigin, originPolicy, type OriginVerdict } from "./http/origin.ts";
import type { Logger } from "./log.ts";
import { jsonSerializer } from "./serializer/json.ts";
import { WampError } from "./wamp/errors.ts";
import type { Dict } from "./wamp/messages.ts";
import { Uri } from "./wamp/uris.ts";

/** Opens the bridge's in-process session. */
export type OpenSession = (
  realm: string,
  options: { authrole: string; authid: string },
) => Promise<WampClient>;

const STATUS: Record<string, number> = {
  [Uri.INVALID_URI]: 400,
  [Uri.INVALID_ARGUMENT]: 400,
  [Uri.NOT_AUTHORIZED]: 403,
  [Uri.AUTHORIZATION_FAILED]: 403,
  [Uri.NO_SUCH_PROCEDURE]: 404,
  [Uri.NO_SUCH_REALM]: 503,
  [Uri.CANCELED]: 504,
  [Uri.TIMEOUT]: 504,
};

/** Error URI of a `POST` whose body is not declared as `application/json` (status 415). */
export const UNSUPPORTED_MEDIA_TYPE = "switchboard.error.unsupported_media_type";
/** Error URI of a browser request from an origin the path does not allow (status 403). */
export const ORIGIN_NOT_ALLOWED = "switchboard.error.origin_not_allowed";

function json(status: number, body: Dict, headers: Record<string, string> = {}): Response {
  // The project's JSON serializer keeps 64-bit integers exact and encodes bytes as "\0"+base64.
  const text = jsonSerializer.encode([body]) as string;
  return new Response(text.slice(1, -1), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function failure(
  status: number,
  error: string,
  message: string,
  headers?: Record<string, string>,
): Response {
  return json(status, { error, message }, headers);
}

/**
 * True for `application/json`, compared case-insensitively, with any parameters
 * (`; charset=utf-8`).
 */
export function isJsonMediaType(contentType: string | null): boolean {
  if (contentType === null) return false;
  return contentType.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

/** Headers every answer to a request with this verdict carries. */
function corsHeaders(verdict: OriginVerdict, origin: string | null): Record<string, string> {
  if (verdict !== "cross" || origin === null) return { vary: "Origin" };
  return { "access-control-allow-origin": origin, vary: "Origin" };
}

async function readBody(req: Request, limit: number): Promise<string | Response> {
  const reader = req.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return failure(
        413,
        "switchboard.error.body_too_large",
        `the request body exceeds ${limit} bytes`,
      );
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** A request handler for one bridge path. */
export function bridgeHandler(
  config: BridgeConfig,
  open: OpenSession,
  logger: Logger,
): (req: Request) => Promise<Response> {
  let session: Promise<WampClient> | null = null;
  const client = (): Promise<WampClient> => {
    if (!session) {
      session = open(config.realm, { authrole: config.role, authid: `http-${config.kind}` });
      session.then((c) => {
        c.onClose = () => (session = null);
      }, () => (session = null));
    }
    return session;
  };
  const policy = originPolicy(config.allowed_origins, config.allow_null_origin);
  return async (req) => {
    const origin = req.headers.get("origin");
    const verdict = checkOrigin(policy, origin, req.headers.get("host"));
    if (verdict === "denied") {
      return failure(
        403,
        ORIGIN_NOT_ALLOWED,
        "requests from this origin are not allowed on this path (see allowed_origins)",
        { vary: "Origin" },
      );
    }
    const cors = corsHeaders(verdict, origin);
    if (req.method === "OPTIONS") {
      const preflight: Record<string, string> = verdict === "cross"
        ? {
          "access-control-allow-methods": "POST",
          "access-control-allow-headers": "content-type",
        }
        : {};
      return new Response(null, {
        status: 204,
        headers: { allow: "POST, OPTIONS", ...cors, ...preflight },
      });
    }
    if (req.method !== "POST") {
      return new Response(
        `Use POST with a JSON body to ${config.kind === "publisher" ? "publish" : "call"}.\n`,
        {
          status: 405,
          headers: { allow: "POST, OPTIONS", "content-type": "text/plain; charset=utf-8", ...cors },
        },
      );
    }
    if (!isJsonMediaType(req.headers.get("content-type"))) {
      return failure(
        415,
        UNSUPPORTED_MEDIA_TYPE,
        "the body must be sent with Content-Type: application/json",
        { "accept-post": "application/json", ...cors },
      );
    }
    const response = await handlePost(req);
    for (const [k, v] of Object.entries(cors)) response.headers.set(k, v);
    return response;
  };

  async function handlePost(req: Request): Promise<Response> {
    const text = await readBody(req, config.post_body_limit);
    if (text instanceof Response) return text;
    let body: unknown;
    try {
      body = jsonSerializer.decode(text);
    } catch (e) {
      return failure(
        400,
        Uri.INVALID_ARGUMENT,
        `the body is not valid JSON: ${e instanceof Error ? e.message : e}`,
      );
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return failure(400, Uri.INVALID_ARGUMENT, "the body must be a JSON object");
    }
    const b = body as Dict;
    const uriKey = config.kind === "publisher" ? "topic" : "procedure";
    const uri = b[uriKey];
    const args = b.args;
    const kwargs = b.kwargs;
    const options = b.options ?? {};
    if (typeof uri !== "string") {
      return failure(400, Uri.INVALID_ARGUMENT, `"${uriKey}" must be a string`);
    }
    if (args !== undefined && !Array.isArray(args)) {
      return failure(400, Uri.INVALID_ARGUMENT, `"args" must be a list`);
    }
    if (
      kwargs !== undefined &&
      (typeof kwargs !== "object" || kwargs === null || Array.isArray(kwargs))
    ) {
      return failure(400, Uri.INVALID_ARGUMENT, `"kwargs" must be an object`);
    }
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      return failure(400, Uri.INVALID_ARGUMENT, `"options" must be an object`);
    }
    try {
      const c = await client();
      if (config.kind === "publisher") {
        const id = await c.publish(uri, args as unknown[] | undefined, kwargs as Dict | undefined, {
          ...(options as Dict),
          acknowledge: true,
        });
        return json(200, { id });
      }
      // An HTTP client that goes away cancels its call: the callee gets INTERRUPT.
      const result = await c.call(
        uri,
        args as unknown[] | undefined,
        kwargs as Dict | undefined,
        options as Dict,
        req.signal,
      );
      return json(200, { args: result.args, kwargs: result.kwargs });
    } catch (e) {
      if (e instanceof WampError) {
        const out: Dict = { error: e.uri };
        if (e.args) out.args = e.args;
        if (e.kwargs) out.kwargs = e.kwargs;
        if (typeof e.args?.[0] === "string") out.message = e.args[0];
        return json(STATUS[e.uri] ?? 500, out);
      }
      logger.error("HTTP bridge failure", {
        path: config.kind,
        error: e instanceof Error ? e.message : String(e),
      });
      return failure(500, Uri.RUNTIME_ERROR, "internal router error");
    }
  }
}
