/**
 * The health probes of `web` and `universal` transports: `GET /healthz` (liveness: 200 while the
 * process answers HTTP) and `GET /readyz` (readiness: 200 when every readiness check passes,
 * else 503 with the failing checks as JSON). `HEAD` answers the same status without a body;
 * other methods get 405. Neither response is cached.
 *
 * @module
 */

import type { ReadinessFailure } from "./readiness.ts";

const JSON_TYPE = "application/json; charset=utf-8";

function methodNotAllowed(): Response {
  return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
}

function probeResponse(req: Request, status: number, body: unknown): Response {
  return new Response(req.method === "HEAD" ? null : JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
  });
}

/** `/healthz`: `{"status": "ok"}` with 200. */
export function healthz(req: Request): Response {
  if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed();
  return probeResponse(req, 200, { status: "ok" });
}

/**
 * `/readyz`: `{"status": "ready"}` with 200, or `{"status": "not_ready", "reasons": [{"check",
 * "reason"}, ...]}` with 503. `failures` is asked only for GET and HEAD.
 */
export function readyz(req: Request, failures: () => readonly ReadinessFailure[]): Response {
  if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed();
  const failing = failures();
  if (failing.length === 0) return probeResponse(req, 200, { status: "ready" });
  return probeResponse(req, 503, {
    status: "not_ready",
    reasons: failing.map((f) => ({ check: f.check, reason: f.reason })),
  });
}
