/**
 * The transports' own option objects, derived from the resolved configuration: the one place
 * that maps config keys (and their units) to what the transport layer enforces.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { TransportConfig, WebSocketEndpointConfig } from "../config/types.ts";
import { checkOrigin, type OriginPolicy, originPolicy } from "../http/origin.ts";
import { CookieStore } from "../transport/cookie_store.ts";
import { TrustedProxies } from "../transport/forwarded.ts";
import type { WampRoute } from "../transport/http_server.ts";
import type { RawSocketOptions } from "../transport/rawsocket.ts";
import type { WebSocketPeerOptions } from "../transport/websocket.ts";

const peerOptions = new WeakMap<WebSocketEndpointConfig, WebSocketPeerOptions>();
const routes = new WeakMap<WebSocketEndpointConfig, WampRoute>();

/** What a WebSocket peer of `endpoint` enforces. */
export function webSocketPeerOptions(endpoint: WebSocketEndpointConfig): WebSocketPeerOptions {
  let options = peerOptions.get(endpoint);
  if (!options) {
    options = {
      maxMessageSize: endpoint.max_message_size,
      maxNesting: endpoint.max_nesting,
      slowConsumer: {
        max_queue_bytes: endpoint.slow_consumer.max_queue_bytes,
        max_queue_messages: endpoint.slow_consumer.max_queue_messages,
        policy: endpoint.slow_consumer.policy,
        timeout_ms: endpoint.slow_consumer.timeout,
      },
      pingIntervalMs: endpoint.ping_interval * 1000,
      pingTimeoutMs: endpoint.ping_timeout,
      pingSize: endpoint.ping_size ?? 0,
      closeTimeoutMs: endpoint.close_handshake_timeout,
      idleTimeoutMs: endpoint.open_handshake_timeout,
    };
    peerOptions.set(endpoint, options);
  }
  return options;
}

/** What a RawSocket endpoint enforces. */
export function rawSocketOptions(endpoint: WebSocketEndpointConfig): RawSocketOptions {
  return { ...webSocketPeerOptions(endpoint), serializers: endpoint.serializers };
}

/** The WAMP route of a WebSocket endpoint (one object per endpoint, so it can key caches). */
export function wampRoute(endpoint: WebSocketEndpointConfig): WampRoute {
  let route = routes.get(endpoint);
  if (!route) {
    route = {
      serializers: endpoint.serializers,
      peer: webSocketPeerOptions(endpoint),
      handshakeMs: endpoint.open_handshake_timeout,
      trustedProxies: new TrustedProxies(endpoint.trusted_proxies),
      origins: originCheck(websocketOrigins(endpoint)),
      requireSubprotocol: endpoint.require_subprotocol ?? true,
      maxFrameSize: endpoint.max_frame_size ?? 0,
    };
    routes.set(endpoint, route);
  }
  return route;
}

const origins = new WeakMap<WebSocketEndpointConfig, OriginPolicy | null>();

/**
 * Which browser origins may open a WebSocket on `endpoint` (null: any, no check): Crossbar's
 * defaults (`["*"]`, null origin allowed) need none.
 */
export function websocketOrigins(endpoint: WebSocketEndpointConfig): OriginPolicy | null {
  if (origins.has(endpoint)) return origins.get(endpoint)!;
  const allowed = endpoint.allowed_origins ?? ["*"];
  const allowNull = endpoint.allow_null_origin ?? true;
  const policy = allowed.includes("*") && allowNull ? null : originPolicy(allowed, allowNull);
  origins.set(endpoint, policy);
  return policy;
}

/** The upgrade's origin check of a policy (null: none). */
function originCheck(
  policy: OriginPolicy | null,
): ((origin: string, host: string | null) => boolean) | null {
  if (policy === null) return null;
  return (origin, host) => checkOrigin(policy, origin, host) !== "denied";
}

const cookieStores = new WeakMap<WebSocketEndpointConfig, CookieStore>();

/**
 * The tracking cookies of `endpoint` (one store per endpoint, shared by the router's own
 * listeners and `Router.handler()`), or null when it has no cookie authentication.
 */
export function cookieStore(endpoint: WebSocketEndpointConfig, clock: Clock): CookieStore | null {
  const c = endpoint.cookie;
  if (!c) return null;
  let store = cookieStores.get(endpoint);
  if (!store) {
    store = new CookieStore({
      name: c.name,
      length: c.length,
      maxAgeSeconds: c.max_age,
      maxCookies: c.max_cookies,
      maxPerAuthid: c.max_cookies_per_authid,
      secure: c.secure,
      httpOnly: c.http_strict,
      sameSite: c.same_site,
    }, clock);
    cookieStores.set(endpoint, store);
  }
  return store;
}

/** Every WAMP endpoint of a transport. */
export function endpointsOf(t: TransportConfig): WebSocketEndpointConfig[] {
  switch (t.type) {
    case "websocket":
      return [t.websocket];
    case "rawsocket":
      return [t.rawsocket];
    case "web":
      return [...t.paths.values()];
    case "universal":
      return [...(t.rawsocket ? [t.rawsocket] : []), ...t.paths.values()];
  }
}

/**
 * The deadline a new connection of `t` gets before anything is known about it (TLS, HTTP
 * headers or the RawSocket handshake): the longest `open_handshake_timeout` of its endpoints,
 * or `fallback` when it has none (only HTTP bridge paths, say). 0 when any endpoint turned it
 * off.
 */
export function transportHandshakeMs(t: TransportConfig, fallback: number): number {
  const values = endpointsOf(t).map((e) => e.open_handshake_timeout);
  if (values.length === 0) return fallback;
  if (values.includes(0)) return 0;
  return Math.max(...values);
}
