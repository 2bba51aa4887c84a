/**
 * The router: realm registry, HTTP/WebSocket handler, listeners, in-process sessions and
 * shutdown.
 *
 * @module
 */

import { FailureLimiter } from "../auth/failure_limiter.ts";
import { bridgeHandler } from "../http_bridge.ts";
import { RouterMetrics } from "../metrics.ts";
import { statusPage, type StatusPageInfo } from "../status_page.ts";
import { WampClient } from "../client.ts";
import { type Clock, systemClock } from "../clock.ts";
import { ConfigError, parseConfig } from "../config/config.ts";
import type {
  BridgeConfig,
  RealmConfig,
  RouterConfig,
  TransportConfig,
  WebSocketEndpointConfig,
} from "../config/types.ts";
import { type Logger, silentLogger } from "../log.ts";
import { linkedPeers } from "../transport/local.ts";
import type { Peer, PeerHandler } from "../transport/peer.ts";
import { acceptRawSocket } from "../transport/rawsocket.ts";
import { upgrade } from "../transport/websocket.ts";
import { WampError } from "../wamp/errors.ts";
import { freshId } from "../wamp/ids.ts";
import type { Dict } from "../wamp/messages.ts";
import { isReservedUri, Uri } from "../wamp/uris.ts";
import { Realm, TRUSTED_ROLE } from "./realm.ts";
import { Session, type SessionHost } from "./session.ts";

/** Reported by the status page. */
const ROUTER_VERSION = "0.1.0";

/** A transport as comparable JSON (Maps become entry lists). */
function describeTransport(t: TransportConfig): unknown {
  return { ...t, paths: [...t.paths.entries()] };
}

/** Options for creating a router. */
export interface RouterOptions {
  /** Where log lines go; default: nothing. */
  logger?: Logger;
  /** Time source; default: the system clock. */
  clock?: Clock;
}

/** A listening transport. */
export interface Listener {
  /** The transport's config. */
  readonly transport: TransportConfig;
  /** The bound host and (actual) port. */
  readonly hostname: string;
  readonly port: number;
  /** WebSocket URLs served (one per WAMP path; `ws://host:port/` for `websocket` transports). */
  readonly urls: readonly string[];
}

/** Options for an in-process session. */
export interface LocalSessionOptions {
  /** Role of the session; default `trusted` (the embedding program is trusted). */
  authrole?: string;
  /** Authid; default `local-<n>`. */
  authid?: string;
}

/** An HTTP handler as `Deno.serve` takes it. */
export type Handler = (req: Request, info?: Deno.ServeHandlerInfo) => Response | Promise<Response>;

const DEFAULT_ENDPOINT: WebSocketEndpointConfig = {
  serializers: ["json", "msgpack", "cbor"],
  auth: {
    anonymous: { role: "anonymous", authid: null },
    ticket: null,
    wampcra: null,
    cryptosign: null,
  },
  auth_limits: { challenge_timeout: 10, max_failures: 5, failure_window: 60, max_delay: 8 },
  slow_consumer: { max_queue_bytes: 4 * 1024 * 1024, max_queue_messages: 100_000, policy: "drop" },
  ping_interval: 30,
  max_message_size: 16 * 1024 * 1024,
};
const NO_AUTH = DEFAULT_ENDPOINT.auth;
/** How long a dynamic authenticator may take before authentication fails. */
const AUTHENTICATOR_TIMEOUT_MS = 10_000;

/** A WAMP router. */
export class Router implements SessionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly #realms = new Map<string, Realm>();
  readonly #sessions = new Map<number, Session>();
  readonly #connections = new Set<Session>();
  readonly #servers: Deno.HttpServer[] = [];
  readonly #ready: Promise<void>;
  /** Failed authentications per remote address and authid (delays, see failure_limiter.ts). */
  readonly authFailures: FailureLimiter = new FailureLimiter();
  readonly #services = new Map<string, WampClient>();
  /** Calls a dynamic authenticator on a realm through that realm's service session. */
  readonly callAuthenticator = async (
    realm: string,
    procedure: string,
    args: unknown[],
  ): Promise<unknown> => {
    await this.#ready;
    const service = this.#services.get(realm);
    if (!service) {
      throw new WampError(Uri.NO_SUCH_REALM, `no realm named "${realm}" for the authenticator`);
    }
    const result = await service.call(procedure, args, undefined, {
      timeout: AUTHENTICATOR_TIMEOUT_MS,
    });
    return result.args[0];
  };
  #localCount = 0;
  #closed = false;
  #config: RouterConfig;
  /**
   * Where `reload()` reads the configuration from when it is not given one; the CLI sets it to
   * re-read `--config` (so SIGHUP and the `switchboard.reload_config` procedure work).
   */
  configSource: (() => Promise<RouterConfig>) | null = null;

  constructor(config: RouterConfig, options: RouterOptions = {}) {
    this.#config = config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.#ready = Promise.all(config.realms.map((rc) => this.#startRealm(rc))).then(() => {});
  }

  /** The configuration in force. */
  get config(): RouterConfig {
    return this.#config;
  }

  async #startRealm(rc: RealmConfig): Promise<void> {
    const realm = new Realm(rc, this.clock, this.logger, this.metrics);
    this.#realms.set(rc.name, realm);
    const service = this.#connectLocal({
      authrole: TRUSTED_ROLE,
      authid: `switchboard-service-${realm.name}`,
    }, true);
    await service.join(realm.name);
    this.#services.set(realm.name, service);
    await realm.attachService(service);
    await service.register("switchboard.reload_config", async () => {
      try {
        return await this.reload();
      } catch (e) {
        if (e instanceof ConfigError) {
          throw new WampError("switchboard.error.invalid_config", e.message);
        }
        throw e;
      }
    });
  }

  /**
   * Applies a new configuration without dropping sessions: realms are added, updated (roles,
   * permissions, authorizers, options, stats for new sessions, event history) or removed
   * (their sessions get GOODBYE `wamp.close.close_realm`). Transports stay as they are (a
   * change there needs a restart and is logged). Without `next`, reads `configSource`.
   * An invalid configuration throws `ConfigError` and the old one stays in force.
   */
  async reload(
    next?: RouterConfig,
  ): Promise<{ added: string[]; updated: string[]; removed: string[] }> {
    let config = next;
    if (!config) {
      if (!this.configSource) {
        throw new ConfigError("(reload)", "this router has no configuration source to reload from");
      }
      config = await this.configSource();
    }
    await this.#ready;
    if (
      JSON.stringify(config.transports.map(describeTransport)) !==
        JSON.stringify(this.#config.transports.map(describeTransport))
    ) {
      this.logger.warn("transport changes take effect after a restart; reloading realms only");
    }
    const added: string[] = [];
    const updated: string[] = [];
    const removed: string[] = [];
    for (const rc of config.realms) {
      const realm = this.#realms.get(rc.name);
      if (realm) {
        realm.reconfigure(rc);
        updated.push(rc.name);
      } else {
        await this.#startRealm(rc);
        added.push(rc.name);
      }
    }
    for (const [name, realm] of [...this.#realms]) {
      if (config.realms.some((rc) => rc.name === name)) continue;
      realm.closeAll(Uri.CLOSE_REALM, "the realm was removed from the configuration");
      await this.#services.get(name)?.close();
      this.#services.delete(name);
      this.#realms.delete(name);
      removed.push(name);
    }
    this.#config = { ...config, transports: this.#config.transports };
    this.logger.info("configuration reloaded", { added, updated, removed });
    return { added, updated, removed };
  }

  /** Resolves when every realm's service session is up (meta API registered). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  // ---- SessionHost -------------------------------------------------------------------

  realm(name: string): Realm | undefined {
    return this.#realms.get(name);
  }

  newSessionId(): number {
    return freshId(this.#sessions);
  }

  track(session: Session, joined: boolean): void {
    if (joined) this.#sessions.set(session.id, session);
    else this.#sessions.delete(session.id);
  }

  #droppedEvents = 0;
  /** Router-wide counters, served as Prometheus text on `/metrics` of web transports. */
  readonly metrics: RouterMetrics = new RouterMetrics();

  readonly #bridges = new Map<BridgeConfig, (req: Request) => Promise<Response>>();

  /** The handler of an HTTP bridge path (one in-process session per path, opened on first use). */
  #bridge(config: BridgeConfig): (req: Request) => Promise<Response> {
    let h = this.#bridges.get(config);
    if (!h) {
      h = bridgeHandler(config, (realm, options) => this.session(realm, options), this.logger);
      this.#bridges.set(config, h);
    }
    return h;
  }

  /** What the status page needs to connect back: realms and the transport's WAMP path. */
  #statusInfo(transport: TransportConfig): StatusPageInfo {
    const wampPath =
      [...transport.paths.entries()].find(([, e]) => e.serializers.includes("json"))?.[0] ?? null;
    return { realms: this.realmNames, wampPath, version: ROUTER_VERSION };
  }

  /** The Prometheus text exposition of the router's metrics. */
  metricsText(): string {
    return this.metrics.render({
      realms: [...this.#realms.values()].map((r) => ({
        name: r.name,
        sessions: [...r.sessions.values()].filter((s) => !s.internal).length,
        // the router's own wamp.* meta procedures are not counted, as in the meta API lists
        subscriptions: [...r.broker.all()].filter((x) => !isReservedUri(x.uri)).length,
        registrations: [...r.dealer.all()].filter((x) => !isReservedUri(x.uri)).length,
      })),
      queuedBytes: this.queuedBytes,
      droppedEvents: this.#droppedEvents,
    });
  }

  /**
   * Bytes written to sessions' transports but not yet taken by the network, summed over all
   * sessions: what slow consumers cost in memory, bounded per session by `max_queue_bytes`.
   */
  get queuedBytes(): number {
    let queued = 0;
    for (const s of this.#connections) queued += s.peer.bufferedAmount;
    return queued;
  }

  /** EVENTs dropped so far because a subscriber's outgoing queue was full (slow consumers). */
  get droppedEvents(): number {
    return this.#droppedEvents;
  }

  /** Names of the realms. */
  get realmNames(): string[] {
    return [...this.#realms.keys()];
  }

  /** Number of joined sessions across realms (the router's own service sessions excluded). */
  get sessionCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (!s.internal) n++;
    return n;
  }

  // ---- HTTP --------------------------------------------------------------------------

  /**
   * The HTTP handler for a transport (default: the first configured transport, or a
   * `websocket` endpoint on any path with all serializers and anonymous auth when the config
   * has none). Mount it in any `Deno.serve`.
   */
  handler(transport: TransportConfig | null = this.config.transports[0] ?? null): Handler {
    return (req, info) => {
      let endpoint: WebSocketEndpointConfig | undefined;
      if (!transport) endpoint = DEFAULT_ENDPOINT;
      else if (transport.type === "websocket") endpoint = transport.websocket ?? DEFAULT_ENDPOINT;
      else {
        const path = new URL(req.url).pathname.replace(/^\/+|\/+$/g, "");
        if (transport.metrics_path != null && path === transport.metrics_path) {
          if (req.method !== "GET" && req.method !== "HEAD") {
            return new Response("Method not allowed\n", {
              status: 405,
              headers: { allow: "GET, HEAD" },
            });
          }
          return new Response(req.method === "HEAD" ? null : this.metricsText(), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          });
        }
        if (transport.status_path != null && path === transport.status_path) {
          return new Response(statusPage(this.#statusInfo(transport)), {
            headers: {
              "content-type": "text/html; charset=utf-8",
              "cache-control": "no-store",
              "content-security-policy":
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src data:",
            },
          });
        }
        const bridge = transport.bridges?.get(path);
        if (bridge) return this.#bridge(bridge)(req);
        endpoint = transport.paths.get(path);
      }
      if (!endpoint) {
        return new Response("Not found\n", {
          status: 404,
          headers: { "content-type": "text/plain" },
        });
      }
      if (this.#closed) {
        return new Response("Router is shutting down\n", { status: 503 });
      }
      const remote = info ? peerString(this.#relayedFrom(info.remoteAddr)) : "unknown";
      const result = upgrade(req, endpoint, remote, this.logger);
      if (!result.ok) return result.response;
      const { peer } = result;
      this.#attach(peer, endpoint, (handler) => peer.attach(handler));
      return result.response;
    };
  }

  /** Creates the session for a network peer and connects the two. */
  #attach(
    peer: Peer,
    endpoint: WebSocketEndpointConfig,
    connect: (handler: PeerHandler) => void,
  ): void {
    const session = new Session(
      peer,
      { methods: endpoint.auth, limits: endpoint.auth_limits },
      this,
    );
    connect({
      receive: (m, b) => session.receive(m, b),
      protocolViolation: (r) => session.protocolViolation(r),
      dropped: () => this.#droppedEvents++,
      slowConsumer: (queued) =>
        session.abort(
          Uri.SLOW_CONSUMER,
          `the session's outgoing queue exceeded its bound (${endpoint.slow_consumer.max_queue_bytes} bytes or ${endpoint.slow_consumer.max_queue_messages} messages; ${queued} bytes queued)`,
        ),
      transportClosed: () => {
        session.transportClosed();
        this.#connections.delete(session);
      },
    });
    this.#connections.add(session);
  }

  readonly #listeners: Deno.Listener[] = [];
  readonly #proxied = new Set<Deno.Conn>();
  /**
   * Universal transports relay HTTP connections to an internal server on 127.0.0.1: the relay
   * connection's local port → the client's real address, so sessions (and the per-address
   * authentication failure limit) see the client, not the relay.
   */
  readonly #relays = new Map<number, Deno.NetAddr>();

  /** The client behind `addr`: the relayed client for a relay connection, else `addr`. */
  #relayedFrom(addr: Deno.Addr): Deno.Addr {
    if (addr.transport !== "tcp" || addr.hostname !== "127.0.0.1") return addr;
    return this.#relays.get(addr.port) ?? addr;
  }

  /**
   * A universal transport: one port for RawSocket and HTTP/WebSocket, told apart by the first
   * octet (0x7F starts a RawSocket handshake). HTTP connections are relayed to an internal
   * HTTP server on 127.0.0.1, so their sessions show that relay as the transport peer.
   */
  async #serveUniversal(t: TransportConfig): Promise<Listener> {
    const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
    const internal = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: (a) => resolve(a as Deno.NetAddr),
    }, this.handler(t));
    this.#servers.push(internal);
    const internalPort = (await promise).port;
    const listener = Deno.listen({ hostname: t.endpoint.host, port: t.endpoint.port });
    this.#listeners.push(listener);
    void this.#acceptLoop(
      listener,
      "universal",
      (conn) => this.#routeUniversal(conn, t.rawsocket ?? null, internalPort),
    );
    const a = listener.addr as Deno.NetAddr;
    const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
    const urls = [
      ...(t.rawsocket ? [`rs://${host}:${a.port}`] : []),
      ...[...t.paths.keys()].map((p) => `ws://${host}:${a.port}/${p}`),
    ];
    return { transport: t, hostname: a.hostname, port: a.port, urls };
  }

  /** Accepts connections on `listener` until it is closed, handing each to `handle`. */
  async #acceptLoop(
    listener: Deno.Listener,
    what: string,
    handle: (conn: Deno.Conn) => Promise<void>,
  ) {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        throw e;
      }
      handle(conn).catch((e) => {
        this.logger.debug(`${what} connection failed`, { error: String(e) });
        this.#closeConn(conn);
      });
    }
  }

  #closeConn(conn: Deno.Conn): void {
    try {
      conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }

  async #routeUniversal(
    conn: Deno.Conn,
    rawsocket: WebSocketEndpointConfig | null,
    internalPort: number,
  ) {
    const head = new Uint8Array(1);
    if ((await conn.read(head)) !== 1) return this.#closeConn(conn);
    if (head[0] === 0x7f) {
      if (!rawsocket) return this.#closeConn(conn);
      return await this.#acceptRawSocket(conn, rawsocket, head);
    }
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: internalPort });
    upstream.setNoDelay(true);
    (conn as Deno.TcpConn).setNoDelay(true);
    const relayPort = upstream.localAddr.port;
    this.#relays.set(relayPort, conn.remoteAddr as Deno.NetAddr);
    this.#proxied.add(conn);
    this.#proxied.add(upstream);
    await upstream.write(head);
    const done = () => {
      this.#relays.delete(relayPort);
      this.#proxied.delete(conn);
      this.#proxied.delete(upstream);
    };
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
    done();
  }

  /** Handshakes one RawSocket connection and attaches its session. */
  async #acceptRawSocket(conn: Deno.Conn, endpoint: WebSocketEndpointConfig, head?: Uint8Array) {
    const remote = peerString(conn.remoteAddr);
    if (conn.localAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
    const peer = await acceptRawSocket(conn, endpoint, remote, this.logger, head);
    if (!peer) return;
    if (this.#closed) return peer.close();
    this.#attach(peer, endpoint, (handler) => peer.attach(handler, new Uint8Array(0)));
  }

  /** Starts a listener for every configured transport. */
  async serve(): Promise<Listener[]> {
    const listeners: Listener[] = [];
    for (const [index, t] of this.config.transports.entries()) {
      if (t.type === "universal") {
        listeners.push(await this.#serveUniversal(t));
        continue;
      }
      if (t.type === "rawsocket") {
        const endpoint = t.rawsocket!;
        const listener = t.endpoint.unix
          ? Deno.listen({ transport: "unix", path: t.endpoint.unix })
          : Deno.listen({ hostname: t.endpoint.host, port: t.endpoint.port });
        this.#listeners.push(listener);
        void this.#acceptLoop(
          listener,
          "rawsocket",
          (conn) => this.#acceptRawSocket(conn, endpoint),
        );
        const addr = listener.addr;
        if (addr.transport === "unix") {
          listeners.push({ transport: t, hostname: "", port: 0, urls: [`rs+unix://${addr.path}`] });
        } else {
          const a = addr as Deno.NetAddr;
          listeners.push({
            transport: t,
            hostname: a.hostname,
            port: a.port,
            urls: [`rs://${a.hostname}:${a.port}`],
          });
        }
        continue;
      }
      const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
      const tlsPath = `workers[0].transports[${index}].endpoint.tls`;
      const tls = t.endpoint.tls
        ? {
          cert: await readPem(t.endpoint.tls.certificate, `${tlsPath}.certificate`),
          key: await readPem(t.endpoint.tls.key, `${tlsPath}.key`),
        }
        : {};
      let server: Deno.HttpServer;
      try {
        server = Deno.serve({
          hostname: t.endpoint.host,
          port: t.endpoint.port,
          onListen: (addr) => resolve(addr as Deno.NetAddr),
          ...tls,
        }, this.handler(t));
      } catch (e) {
        // A PEM file that is not a certificate or key is a configuration error.
        if (t.endpoint.tls && e instanceof Deno.errors.InvalidData) {
          throw new ConfigError(tlsPath, `the certificate or key cannot be used: ${e.message}`);
        }
        throw e;
      }
      this.#servers.push(server);
      const addr = await promise;
      const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      const scheme = t.endpoint.tls ? "wss" : "ws";
      const urls = t.type === "websocket"
        ? [`${scheme}://${host}:${addr.port}/`]
        : [...t.paths.keys()].map((p) => `${scheme}://${host}:${addr.port}/${p}`);
      listeners.push({ transport: t, hostname: addr.hostname, port: addr.port, urls });
    }
    await this.#ready;
    return listeners;
  }

  // ---- in-process sessions -----------------------------------------------------------

  #connectLocal(options: LocalSessionOptions, internal: boolean): WampClient {
    const { peer, link, connect } = linkedPeers();
    const authrole = options.authrole ?? TRUSTED_ROLE;
    const authid = options.authid ?? `local-${++this.#localCount}`;
    const session = new Session(
      peer,
      { methods: NO_AUTH, limits: DEFAULT_ENDPOINT.auth_limits, fixed: { authid, authrole } },
      this,
    );
    session.internal = internal;
    const client = new WampClient(link);
    connect({
      receive: (m, b) => session.receive(m, b),
      protocolViolation: (r) => session.protocolViolation(r),
      transportClosed: () => {
        session.transportClosed();
        this.#connections.delete(session);
      },
    }, client);
    this.#connections.add(session);
    return client;
  }

  /**
   * Opens an in-process session on `realm`: a full WAMP client without a socket.
   * @throws {WampError} `wamp.error.no_such_realm` (rejects) for unknown realms.
   */
  async session(
    realm: string,
    options: LocalSessionOptions = {},
    details: Dict = {},
  ): Promise<WampClient> {
    await this.#ready;
    const client = this.#connectLocal(options, false);
    await client.join(realm, details);
    return client;
  }

  // ---- shutdown ----------------------------------------------------------------------

  /**
   * Ends every session with GOODBYE `wamp.close.system_shutdown`, waits briefly for the
   * clients' GOODBYE replies, closes every transport and stops the listeners.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const realm of this.#realms.values()) {
      realm.closeAll(Uri.SYSTEM_SHUTDOWN, "the router is shutting down");
    }
    const deadline = this.clock.nowMs() + graceMs;
    while (
      this.clock.nowMs() < deadline &&
      [...this.#connections].some((s) => !s.internal && !s.closed && s.state !== "closed")
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const s of [...this.#connections]) s.close();
    this.#connections.clear();
    for (const l of this.#listeners) l.close();
    this.#listeners.length = 0;
    for (const c of this.#proxied) this.#closeConn(c);
    this.#proxied.clear();
    await Promise.all(this.#servers.map((s) => s.shutdown()));
    this.#servers.length = 0;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * A transport peer as Autobahn writes it: `tcp4:1.2.3.4:5678`, `tcp6:::1:5678`,
 * `unix:/path`.
 */
function peerString(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const { hostname, port } = addr as Deno.NetAddr;
    return `${hostname.includes(":") ? "tcp6" : "tcp4"}:${hostname}:${port}`;
  }
  if (addr.transport === "vsock") return `vsock:${addr.cid}:${addr.port}`;
  return `unix:${(addr as Deno.UnixAddr).path}`;
}

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
 * Creates a router from a Crossbar-shaped node config object, validated exactly like a config
 * file. Throws `ConfigError` naming the offending key.
 */
export function createRouter(config: unknown, options: RouterOptions = {}): Router {
  return new Router(parseConfig(config), options);
}
