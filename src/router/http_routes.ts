/**
 * What a transport serves over plain HTTP: `/metrics`, the status page, the health probes
 * (`/healthz`, `/readyz`), HTTP bridge paths, web services (`static`, `redirect`, `json`,
 * `nodeinfo`, in `web_services.ts`), and 404 elsewhere; and, for a router mounted in someone else's `Deno.serve` with
 * `Router.handler()`, WebSocket upgrades through Deno's built-in WebSocket.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { DEFAULT_ENDPOINT } from "../config/config.ts";
import type {
  BridgeConfig,
  TransportConfig,
  WebServicesTransportConfig,
  WebSocketEndpointConfig,
} from "../config/types.ts";
import type { Logger } from "../log.ts";
import { STATUS_PAGE_HEADERS, statusPage, type StatusPageInfo } from "../status/page.ts";
import { peerString } from "../transport/peer.ts";
import {
  chooseSerializer,
  nativeLink,
  notAnUpgrade,
  WebSocketPeer,
} from "../transport/websocket.ts";
import { checkOrigin } from "../http/origin.ts";
import { cookieStore, websocketOrigins, webSocketPeerOptions } from "./endpoint_options.ts";
import { matchService, serveService } from "./web_services.ts";
import { healthz, readyz } from "./probes.ts";
import type { ReadinessFailure } from "./readiness.ts";

/** What the routes need from the router. */
export interface RouteHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** True once the router is shutting down. */
  readonly closing: boolean;
  /** The Prometheus text of the router's metrics. */
  metricsText(): string;
  /** What the status page needs to connect back. */
  statusInfo(transport: WebServicesTransportConfig): StatusPageInfo;
  /** The handler of an HTTP bridge path. */
  bridge(config: BridgeConfig): (req: Request) => Promise<Response>;
  /** The readiness checks failing now (none: ready). */
  readinessFailures(): readonly ReadinessFailure[];
}

function notFound(): Response {
  return new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } });
}

/** The path of a request without leading and trailing slashes. */
export function requestPath(req: Request): string {
  return new URL(req.url).pathname.replace(/^\/+|\/+$/g, "");
}

/**
 * Answers a plain HTTP request on `transport`, or returns the WAMP endpoint when the request
 * is for a WebSocket path (the caller upgrades it). `null` transport: a router without
 * transports, serving the default endpoint on every path.
 */
export function routeRequest(
  host: RouteHost,
  transport: TransportConfig | null,
  req: Request,
  remote: Deno.Addr | null = null,
): Response | Promise<Response> | WebSocketEndpointConfig {
  if (!transport) return DEFAULT_ENDPOINT;
  if (transport.type === "websocket") return transport.websocket;
  if (transport.type === "rawsocket") return notFound();
  const path = requestPath(req);
  if (transport.metrics_path != null && path === transport.metrics_path) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    return new Response(req.method === "HEAD" ? null : host.metricsText(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  if (transport.healthz_path != null && path === transport.healthz_path) return healthz(req);
  if (transport.readyz_path != null && path === transport.readyz_path) {
    return readyz(req, () => host.readinessFailures());
  }
  if (transport.status_path != null && path === transport.status_path) {
    return new Response(statusPage(host.statusInfo(transport)), { headers: STATUS_PAGE_HEADERS });
  }
  const bridge = transport.bridges.get(path);
  if (bridge) return host.bridge(bridge)(req);
  const endpoint = transport.paths.get(path);
  if (endpoint) return endpoint;
  const match = matchService(transport.services, new URL(req.url).pathname);
  if (match) {
    return serveService(match, req, {
      clock: host.clock,
      logger: host.logger,
      version: () => host.statusInfo(transport).version,
      peer: remote ? peerString(remote) : null,
    });
  }
  return notFound();
}

/**
 * Upgrades a request on a WAMP path with Deno's built-in WebSocket (`Router.handler()`):
 * returns the 101 response and the peer, or the refusal.
 */
export function nativeUpgrade(
  host: RouteHost,
  req: Request,
  endpoint: WebSocketEndpointConfig,
  remote: Deno.Addr | null,
): { response: Response; peer?: WebSocketPeer } {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return { response: notAnUpgrade() };
  }
  if (host.closing) {
    return { response: new Response("Router is shutting down\n", { status: 503 }) };
  }
  const origins = websocketOrigins(endpoint);
  const origin = req.headers.get("origin");
  // Headers joins repeated Origin headers with ", ", which no allowed origin matches
  if (
    origins !== null && origin !== null &&
    checkOrigin(origins, origin.trim(), req.headers.get("host")) === "denied"
  ) {
    host.logger.info("websocket upgrade refused: origin not allowed", { origin });
    return {
      response: new Response("Origin not allowed.\n", {
        status: 403,
        headers: { "content-type": "text/plain; charset=utf-8" },
      }),
    };
  }
  const chosen = chooseSerializer(
    req.headers.get("sec-websocket-protocol"),
    endpoint.serializers,
    endpoint.require_subprotocol ?? true,
  );
  if (chosen instanceof Response) return { response: chosen };
  // Deno's own subprotocol check splits the offer on ", " only, and so refuses offers
  // written as "a,b" (Autobahn|Python sends those): negotiate here and set the header.
  // (the request's headers cannot be read once it is upgraded)
  const offered = req.headers.has("sec-websocket-protocol");
  const cookieHeader = req.headers.get("cookie");
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: endpoint.ping_interval });
  if (offered) response.headers.set("sec-websocket-protocol", chosen.subprotocol);
  const url = new URL(req.url);
  const secure = url.protocol === "https:";
  const visit = cookieStore(endpoint, host.clock)?.visit(
    cookieHeader,
    secure,
    url.pathname,
  ) ?? null;
  if (visit?.setCookie) response.headers.append("set-cookie", visit.setCookie);
  const peer = new WebSocketPeer(
    nativeLink(socket),
    chosen,
    webSocketPeerOptions(endpoint),
    {
      type: "websocket",
      channel_type: secure ? "tls" : "tcp",
      channel_framing: "websocket",
      channel_serializer: chosen.name,
      peer: remote ? peerString(remote) : "unknown",
      is_secure: secure,
      websocket_protocol: chosen.subprotocol,
      http_path: url.pathname,
    },
    host.logger,
    host.clock,
    null,
    visit?.cookie ?? null,
  );
  return { response, peer };
}
