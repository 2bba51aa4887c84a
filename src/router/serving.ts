/**
 * The router's listeners: one {@linkcode Listener} per configured transport (TCP, TLS or a Unix
 * socket), each connection handed to the transport's protocol: HTTP/WebSocket
 * ({@linkcode HttpServer}), RawSocket, or, on a `universal` transport, whichever the first octet
 * announces (0x7F starts a RawSocket handshake).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { CoarseTimers } from "../coarse_timers.ts";
import { ConfigError } from "../config/config.ts";
import { DEFAULT_OPEN_HANDSHAKE_TIMEOUT } from "../config/defaults.ts";
import type { TlsConfig, TransportConfig, WebSocketEndpointConfig } from "../config/types.ts";
import type { SecureContext } from "node:tls";
import type { Logger } from "../log.ts";
import type { Serializer } from "../serializer/serializer.ts";
import type { ClientInfo, HttpServer, WampRoute } from "../transport/http_server.ts";
import { type Accepted, Listener, type TlsMaterial } from "../transport/listener.ts";
import { type Peer, type PeerHandler, peerString } from "../transport/peer.ts";
import { acceptRawSocket, MAX_CONNECTIONS_REPLY } from "../transport/rawsocket.ts";
import {
  cookieStore,
  rawSocketOptions,
  transportHandshakeMs,
  wampRoute,
} from "./endpoint_options.ts";
import { openStaticServices } from "./web_services.ts";

/** A listening transport, as `Router.serve()` reports it. */
export interface ServedTransport {
  /** The transport's config. */
  readonly transport: TransportConfig;
  /** The bound host and (actual) port. */
  readonly hostname: string;
  readonly port: number;
  /** URLs served (one per WAMP path; `ws://host:port/` for `websocket` transports). */
  readonly urls: readonly string[];
}

/** What the listeners need from the router. */
export interface ServingHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** True once the router is shutting down (new sessions are refused). */
  readonly closing: boolean;
  /** Creates the session for a network peer; `release` runs when its transport is gone. */
  attach(
    peer: Peer,
    endpoint: WebSocketEndpointConfig,
    connect: (handler: PeerHandler) => void,
    release: () => void,
  ): void;
  /** The plain-HTTP handler of a transport. */
  fetch(transport: TransportConfig, req: Request, client: ClientInfo): Response | Promise<Response>;
}

/** A WAMP path of this transport and the endpoint config behind it. */
interface EndpointRoute extends WampRoute {
  readonly endpoint: WebSocketEndpointConfig;
}

const encoder = new TextEncoder();
/** What an HTTP connection over the cap gets. */
const HTTP_REFUSAL = encoder.encode(
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
    "Retry-After: 1\r\nContent-Length: 28\r\nConnection: close\r\n\r\n" +
    "Too many connections; retry\n",
);

/**
 * Reads the PEM file at `file` for `endpoint.tls`; a missing or unreadable file is a
 * configuration error naming the key at `path`.
 */
async function readPem(file: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied ||
      e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.IsADirectory
    ) {
      throw new ConfigError(path, `cannot read "${file}": ${e.message}`);
    }
    throw e;
  }
}

/**
 * The certificate (the leaf, then the `chain_certificates` intermediates, in order) and key of
 * `endpoint.tls` at JSON path `path`.
 */
async function readTlsMaterial(tls: TlsConfig, path: string): Promise<TlsMaterial> {
  const leaf = await readPem(tls.certificate, `${path}.certificate`);
  const chain = await Promise.all(
    (tls.chain_certificates ?? []).map((file, i) =>
      readPem(file, `${path}.chain_certificates[${i}]`)
    ),
  );
  const cert = [leaf, ...chain].map((pem) => pem.endsWith("\n") ? pem : `${pem}\n`).join("");
  return { cert, key: await readPem(tls.key, `${path}.key`) };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** A transport being served. */
export class TransportServer {
  readonly #host: ServingHost;
  /** Timers of this transport's connections (see `coarse_timers.ts`). */
  readonly #timers: CoarseTimers;
  readonly #transport: TransportConfig;
  readonly #listener: Listener;
  readonly #http: HttpServer<EndpointRoute> | null;
  readonly #tls: boolean;
  readonly #routes = new Map<WebSocketEndpointConfig, EndpointRoute>();

  private constructor(
    host: ServingHost,
    transport: TransportConfig,
    tls: TlsMaterial | null,
    http: typeof HttpServer | null,
    clientCertificates: SecureContext | null,
  ) {
    this.#host = host;
    this.#transport = transport;
    this.#tls = tls !== null || clientCertificates !== null;
    // the connections' deadlines, keepalives and close waits: coarse, on one timer
    this.#timers = new CoarseTimers(host.clock);
    const t = transport;
    const handshakeMs = transportHandshakeMs(t, DEFAULT_OPEN_HANDSHAKE_TIMEOUT);
    this.#http = http === null ? null : new http<EndpointRoute>({
      clock: this.#timers,
      logger: host.logger,
      secure: this.#tls,
      clientCertificates,
      idleMs: handshakeMs,
      wampRoute: (path) => {
        if (host.closing) return undefined;
        const endpoint = t.type === "websocket"
          ? t.websocket
          : t.type === "rawsocket"
          ? undefined
          : t.paths.get(path);
        return endpoint ? this.#route(endpoint) : undefined;
      },
      fetch: (req, client) => host.fetch(t, req, client),
      // the connection's slot is released by the HTTP layer when the socket closes
      connected: (peer, route) =>
        host.attach(peer, route.endpoint, (handler) => peer.attach(handler), () => {}),
    });
    const e = t.endpoint;
    const unix = t.type === "rawsocket" ? t.endpoint.unix : undefined;
    this.#listener = new Listener({
      address: unix ? { kind: "unix", path: unix } : { kind: "tcp", host: e.host, port: e.port },
      // with client certificates TLS is done per connection by the HTTP side (node:tls)
      tls: clientCertificates ? null : tls,
      maxConnections: e.max_connections,
      handshakeMs,
      clock: this.#timers,
      logger: host.logger,
      name: t.type,
      refusal: t.type === "rawsocket"
        ? MAX_CONNECTIONS_REPLY
        : t.type === "universal"
        ? null
        : HTTP_REFUSAL,
      handle: (accepted) => this.#handle(accepted),
    });
  }

  /**
   * Binds transport `index` of the configuration and starts serving it.
   * @throws {ConfigError} for unreadable or unusable TLS files (naming the key).
   */
  static async start(
    host: ServingHost,
    t: TransportConfig,
    index: number,
  ): Promise<TransportServer> {
    const tlsPath = `workers[0].transports[${index}].endpoint.tls`;
    const tls = t.endpoint.tls ? await readTlsMaterial(t.endpoint.tls, tlsPath) : null;
    if (t.type === "web" || t.type === "universal") {
      await openStaticServices(t.services, host.clock);
    }
    // node:http and the ws package load only when a transport speaks HTTP, so a router that
    // is embedded without transports (or serves RawSocket only) never loads them
    const http = t.type === "rawsocket"
      ? null
      : (await import("../transport/http_server.ts")).HttpServer;
    const cas = t.endpoint.tls?.ca_certificates;
    let clientCertificates: SecureContext | null = null;
    if (tls && cas) {
      const ca = await Promise.all(
        cas.map((file, i) => readPem(file, `${tlsPath}.ca_certificates[${i}]`)),
      );
      // Deno.listenTls cannot request client certificates; node:tls can, per connection
      const { createSecureContext } = await import("node:tls");
      try {
        clientCertificates = createSecureContext({ key: tls.key, cert: tls.cert, ca });
      } catch (e) {
        throw new ConfigError(
          tlsPath,
          `the certificate, key or CA certificates cannot be used: ${
            e instanceof Error ? e.message : String(e)
          }`,
        );
      }
    }
    try {
      return new TransportServer(host, t, tls, http, clientCertificates);
    } catch (e) {
      // A PEM file that is not a certificate or key is a configuration error.
      if (tls && e instanceof Deno.errors.InvalidData) {
        throw new ConfigError(tlsPath, `the certificate or key cannot be used: ${e.message}`);
      }
      throw e;
    }
  }

  /** Where and what this transport serves. */
  get served(): ServedTransport {
    const t = this.#transport;
    const addr = this.#listener.addr;
    if (addr.transport === "unix") {
      return { transport: t, hostname: "", port: 0, urls: [`rs+unix://${addr.path}`] };
    }
    const a = addr as Deno.NetAddr;
    const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
    const base = `${host}:${a.port}`;
    const ws = this.#tls ? "wss" : "ws";
    const rs = this.#tls ? "rss" : "rs";
    const urls = t.type === "rawsocket"
      ? [`${rs}://${base}`]
      : t.type === "websocket"
      ? [`${ws}://${base}/`]
      : [
        ...(t.type === "universal" && t.rawsocket ? [`${rs}://${base}`] : []),
        ...[...t.paths.keys()].map((p) => `${ws}://${base}/${p}`),
      ];
    return { transport: t, hostname: a.hostname, port: a.port, urls };
  }

  /** Connections open now. */
  get connections(): number {
    return this.#listener.connections;
  }

  /** Connections refused so far because `max_connections` was reached. */
  get refused(): number {
    return this.#listener.refused;
  }

  /** Stops accepting; with `closeConnections`, also closes every connection still open. */
  close(closeConnections: boolean): Promise<void> {
    return this.#listener.close(closeConnections);
  }

  #handle(accepted: Accepted): void {
    const t = this.#transport;
    if (t.type === "rawsocket") {
      return void this.#rawSocket(accepted, t.rawsocket, new Uint8Array(0));
    }
    if (t.type !== "universal") return this.#http!.serve(accepted);
    void this.#sniff(accepted);
  }

  /** Universal transports: the first octet tells RawSocket (0x7F) from HTTP. */
  async #sniff(accepted: Accepted): Promise<void> {
    const head = new Uint8Array(1);
    let n: number | null;
    try {
      n = await accepted.conn.read(head);
    } catch (e) {
      this.#host.logger.debug("connection failed before its first byte", { error: String(e) });
      n = null;
    }
    if (n !== 1) {
      accepted.release();
      return closeQuietly(accepted.conn);
    }
    const t = this.#transport;
    const rawsocket = t.type === "universal" ? t.rawsocket : null;
    if (head[0] === 0x7f) {
      if (!rawsocket) {
        accepted.release();
        return closeQuietly(accepted.conn);
      }
      return await this.#rawSocket(accepted, rawsocket, head);
    }
    this.#http!.serve(accepted, head);
  }

  async #rawSocket(
    accepted: Accepted,
    endpoint: WebSocketEndpointConfig,
    head: Uint8Array,
  ): Promise<void> {
    const { conn } = accepted;
    const host = this.#host;
    const secure = this.#tls;
    try {
      // a TLS connection (rss) has no setNoDelay of its own
      if (conn.localAddr.transport === "tcp" && "setNoDelay" in conn) {
        (conn as Deno.TcpConn).setNoDelay(true);
      }
      const peer = await acceptRawSocket(conn, {
        options: rawSocketOptions(endpoint),
        details: (serializer: Serializer) => ({
          type: "rawsocket",
          channel_type: conn.localAddr.transport === "unix" ? "unix" : secure ? "tls" : "tcp",
          channel_framing: "rawsocket",
          channel_serializer: serializer.name,
          peer: peerString(conn.remoteAddr),
          is_secure: secure,
        }),
        logger: host.logger,
        clock: this.#timers,
        deadline: accepted.deadline,
      }, head);
      if (!peer) return accepted.release();
      if (host.closing) {
        peer.close();
        return accepted.release();
      }
      host.attach(
        peer,
        endpoint,
        (handler) => peer.attach(handler, new Uint8Array(0)),
        () => accepted.release(),
      );
    } catch (e) {
      host.logger.debug("rawsocket connection failed", { error: String(e) });
      accepted.release();
      closeQuietly(conn);
    }
  }

  #route(endpoint: WebSocketEndpointConfig): EndpointRoute {
    let route = this.#routes.get(endpoint);
    if (!route) {
      route = {
        ...wampRoute(endpoint),
        endpoint,
        cookies: cookieStore(endpoint, this.#host.clock),
      };
      this.#routes.set(endpoint, route);
    }
    return route;
  }
}
