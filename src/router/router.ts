/**
 * The router: realm registry, HTTP/WebSocket handler, listeners, in-process sessions and
 * shutdown.
 *
 * @module
 */

import { AUTHENTICATOR_TIMEOUT } from "../config/defaults.ts";
import { FailureLimiter } from "../auth/failure_limiter.ts";
import { bridgeHandler } from "../http_bridge.ts";
import { AuthenticatorSessions } from "./authenticator_sessions.ts";
import { RouterMetrics } from "../metrics.ts";
import type { StatusPageInfo } from "../status/page.ts";
import type { WampClient } from "../client.ts";
import { type Clock, systemClock } from "../clock.ts";
import { ConfigError } from "../config/config.ts";
import type {
  BridgeConfig,
  RealmConfig,
  RouterConfig,
  TransportConfig,
  WebServicesTransportConfig,
} from "../config/types.ts";
import { type Logger, silentLogger } from "../log.ts";
import { WampError } from "../wamp/errors.ts";
import { freshId } from "../wamp/ids.ts";
import type { Dict } from "../wamp/messages.ts";
import { isReservedUri, TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import { registerObservationMeta } from "./observation_meta.ts";
import {
  constructExtended,
  type ExtensionInstaller,
  type RouterExtension,
  type RouterInternals,
  takeInstaller,
} from "./extension.ts";

export type { RouterInternals };
import { Realm } from "./realm.ts";
import { registerSessionMeta } from "./session_meta.ts";
import { nativeUpgrade, type RouteHost, routeRequest } from "./http_routes.ts";
import { Readiness, type ReadinessCheck } from "./readiness.ts";
import { type ServedTransport, type ServingHost, TransportServer } from "./serving.ts";
import type { Session, SessionHost } from "./session.ts";
import { Connections, type LocalSessionOptions } from "./connections.ts";
import { MessageType } from "../wamp/message_type.ts";
import { notAnUpgrade } from "../transport/websocket.ts";

/** Reported by the status page. */
const ROUTER_VERSION = "0.1.0";

/** A transport as comparable JSON (Maps become entry lists). */
function describeTransport(t: TransportConfig): unknown {
  return t.type === "rawsocket" ? t : { ...t, paths: [...t.paths.entries()] };
}

/** Options for creating a router. */
export interface RouterOptions {
  /** Where log lines go; default: nothing. */
  logger?: Logger;
  /** Time source; default: the system clock. */
  clock?: Clock;
}

/** A listening transport: its config, the bound host and (actual) port, and the URLs served. */
export type Listener = ServedTransport;

export type { LocalSessionOptions };

/** An HTTP handler as `Deno.serve` takes it. */
export type Handler = (req: Request, info?: Deno.ServeHandlerInfo) => Response | Promise<Response>;

/**
 * A router for `config` (which may have a `cluster` block) with the extension `install`
 * resolves to: `create_router.ts` builds clustered routers this way. Not part of `mod.ts`.
 */
export function routerWithExtension(
  config: RouterConfig,
  options: RouterOptions,
  install: ExtensionInstaller<Router>,
): Router {
  return constructExtended(install, () => new Router(config, options));
}

const ROUTER_INTERNALS = new WeakMap<Router, RouterInternals>();

/** The internals of `router`, for tests and the router's own tools. */
export function routerInternals(router: Router): RouterInternals {
  const internals = ROUTER_INTERNALS.get(router);
  if (!internals) throw new TypeError("not a router");
  return internals;
}

/** A WAMP router. */
export class Router {
  /** The router's time source: every timeout and timestamp reads it. */
  readonly clock: Clock;
  /** Where the router's log lines go. */
  readonly logger: Logger;
  readonly #realms = new Map<string, Realm>();
  readonly #sessions = new Map<number, Session>();
  /** The sessions of every connection (connections.ts owns the set). */
  readonly #connections: Connections;
  readonly #transports: TransportServer[] = [];
  readonly #ready: Promise<void>;
  /** Failed authentications per remote address and authid (delays, see failure_limiter.ts). */
  readonly #authFailures: FailureLimiter = new FailureLimiter();
  readonly #services = new Map<string, WampClient>();
  /** Router-wide counters, served as Prometheus text on `/metrics` of web transports. */
  readonly #metrics: RouterMetrics = new RouterMetrics();
  /** What sessions need from the router: private, so session plumbing is no public API. */
  readonly #host: SessionHost;
  /** Calls a dynamic authenticator on a realm through that realm's service session. */
  readonly #callAuthenticator = async (
    realm: string,
    procedure: string,
    args: unknown[],
    role: string | null = null,
  ): Promise<unknown> => {
    await this.#ready;
    const service = this.#services.get(realm);
    if (!service) {
      throw new WampError(Uri.NO_SUCH_REALM, `no realm named "${realm}" for the authenticator`);
    }
    const caller = role === null || role === TRUSTED_ROLE
      ? service
      : await this.#authenticatorSessions.session(realm, role);
    const result = await caller.call(procedure, args, undefined, {
      timeout: AUTHENTICATOR_TIMEOUT,
    });
    return result.args[0];
  };
  /** The sessions calling authenticators under an `authenticator-role`. */
  readonly #authenticatorSessions = new AuthenticatorSessions(
    (realm, role) => this.#realms.get(realm)?.hasRole(role) === true,
    async (realm, role) => {
      const client = this.#connections.connectLocal({
        authrole: role,
        authid: `switchboard-authenticator-${role}`,
      }, true);
      await client.join(realm);
      return client;
    },
  );
  /** What `GET /readyz` asks: the router's own state (readiness.ts) and the checks added. */
  readonly #readiness = new Readiness((message, fields) => this.logger.warn(message, fields));
  #closed = false;
  /** The installed extension (a cluster node) once its installer resolved; when that is. */
  #extension: RouterExtension | null = null;
  readonly #extended: Promise<void>;
  #config: RouterConfig;
  /**
   * Where `reload()` reads the configuration from when it is not given one; the CLI sets it to
   * re-read `--config` (so SIGHUP and the `switchboard.reload_config` procedure work).
   */
  configSource: (() => Promise<RouterConfig>) | null = null;

  /**
   * A router for a parsed configuration (see {@linkcode parseConfig}); its realms start at
   * once (see {@linkcode Router.ready}), its listeners with {@linkcode Router.serve}.
   */
  constructor(config: RouterConfig, options: RouterOptions = {}) {
    const install = takeInstaller<Router>();
    if (config.cluster && !install) {
      throw new TypeError(
        "this configuration has a cluster block: create the router with createRouter(config)",
      );
    }
    this.#config = config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.#logWarnings(config);
    this.#host = this.#sessionHost();
    this.#connections = new Connections(this.#host, this.clock, () => this.#closed);
    // deno-lint-ignore no-this-alias
    const router = this;
    ROUTER_INTERNALS.set(this, {
      realm: (name) => this.#realms.get(name),
      authFailures: this.#authFailures,
      host: this.#host,
      get extension() {
        return router.#extension;
      },
      status: () => ({
        sessions: this.sessionCount,
        realms: this.realmNames,
        ...this.#extension?.status?.(),
      }),
    });
    const startRealms = () =>
      Promise.all(config.realms.map((rc) => this.#startRealm(rc))).then(() =>
        this.#readiness.realmsStarted()
      );
    if (install) {
      this.#extended = install(this).then((extension) => {
        this.#extension = extension;
      });
      this.#ready = this.#extended.then(startRealms);
      this.#extended.catch(() => {});
    } else {
      // without an extension the realms exist as soon as the router does
      this.#extended = Promise.resolve();
      this.#ready = startRealms();
    }
    // a rejection is the caller's to see through ready/serve(); never an unhandled one here
    this.#ready.catch(() => {});
  }

  /** Logs each key of `config` accepted without effect, as `config: <JSON path>: <what>`. */
  #logWarnings(config: RouterConfig): void {
    for (const w of config.warnings ?? []) this.logger.warn(`config: ${w.path}: ${w.message}`);
  }

  /**
   * Adds a check that `GET /readyz` asks (the cluster adds "cluster link connected"): `null`
   * when ready, else a short reason anyone who can reach the probe sees. Returns its remover.
   */
  addReadinessCheck(check: ReadinessCheck): () => void {
    return this.#readiness.add(check);
  }

  /** The configuration in force. */
  get config(): RouterConfig {
    return this.#config;
  }

  async #startRealm(rc: RealmConfig): Promise<void> {
    const realm = new Realm(rc, this.clock, this.logger, (ms) => this.#metrics.callLatency(ms));
    this.#realms.set(rc.name, realm);
    realm.setLink(this.#extension?.realmLink?.(realm) ?? null);
    const service = this.#connections.connectLocal({
      authrole: TRUSTED_ROLE,
      authid: `switchboard-service-${realm.name}`,
    }, true);
    await service.join(realm.name);
    this.#services.set(realm.name, service);
    realm.attachService(service);
    if (rc.options.enable_meta_api) {
      await registerSessionMeta(realm, service);
      await registerObservationMeta(realm, service);
    }
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
    this.#logWarnings(config);
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
      realm.setLink(null);
      this.#services.delete(name);
      await this.#authenticatorSessions.closeRealm(name);
      this.#realms.delete(name);
      removed.push(name);
    }
    if (JSON.stringify(config.cluster?.servers) !== JSON.stringify(this.#config.cluster?.servers)) {
      this.logger.warn("cluster changes take effect after a restart; reloading realms only");
    }
    const { transports, cluster } = this.#config;
    this.#config = { ...config, transports, ...(cluster ? { cluster } : {}) };
    if (!cluster) delete (this.#config as { cluster?: unknown }).cluster;
    this.logger.info("configuration reloaded", { added, updated, removed });
    return { added, updated, removed };
  }

  /** Resolves when every realm's service session is up (meta API registered). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  // ---- sessions ----------------------------------------------------------------------

  /** The host object of this router's sessions. */
  #sessionHost(): SessionHost {
    const metrics = this.#metrics;
    return {
      clock: this.clock,
      logger: this.logger,
      realm: (name) => this.#realms.get(name),
      newSessionId: () => {
        const ext = this.#extension;
        if (!ext?.newSessionId) return freshId(this.#sessions);
        let id = ext.newSessionId();
        while (this.#sessions.has(id)) id = ext.newSessionId();
        return id;
      },
      track: (session, joined) => {
        if (joined) this.#sessions.set(session.id, session);
        else this.#sessions.delete(session.id);
      },
      authFailures: this.#authFailures,
      callAuthenticator: this.#callAuthenticator,
      traffic: (direction, message, bytes, serializer) => {
        metrics.count(direction, serializer, message.type, bytes);
        if (direction === 0) return;
        if (message.type === MessageType.ERROR) metrics.error(message.error);
        else if (message.type === MessageType.ABORT) metrics.abort(message.reason);
      },
    };
  }

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
  #statusInfo(transport: WebServicesTransportConfig): StatusPageInfo {
    const wampPath =
      [...transport.paths.entries()].find(([, e]) => e.serializers.includes("json"))?.[0] ?? null;
    return { realms: this.realmNames, wampPath, version: ROUTER_VERSION };
  }

  /** The Prometheus text of the router's metrics (its own wamp.* procedures not counted). */
  metricsText(): string {
    return this.#metrics.render({
      realms: [...this.#realms.values()].map((r) => ({
        name: r.name,
        sessions: [...r.sessions.values()].filter((s) => !s.internal).length,
        subscriptions: [...r.broker.all()].filter((x) => !isReservedUri(x.uri)).length,
        registrations: [...r.dealer.all()].filter((x) => !isReservedUri(x.uri)).length,
      })),
      queuedBytes: this.queuedBytes,
      droppedEvents: this.#connections.droppedEvents,
      node: this.#extension?.node,
    }) + (this.#extension?.metricsText?.() ?? "");
  }

  /**
   * Bytes written to sessions' transports but not yet taken by the network, summed over all
   * sessions: what slow consumers cost in memory, bounded per session by `max_queue_bytes`.
   */
  get queuedBytes(): number {
    return this.#connections.queuedBytes;
  }

  /** EVENTs dropped so far because a subscriber's outgoing queue was full (slow consumers). */
  get droppedEvents(): number {
    return this.#connections.droppedEvents;
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

  // ---- HTTP and listeners ------------------------------------------------------------

  /** What the HTTP routes need from the router. */
  readonly #routeHost: RouteHost = ((router: Router): RouteHost => ({
    get clock() {
      return router.clock;
    },
    get logger() {
      return router.logger;
    },
    get closing() {
      return router.#closed;
    },
    metricsText: () => router.metricsText(),
    statusInfo: (t) => router.#statusInfo(t),
    bridge: (config) => router.#bridge(config),
    readinessFailures: () => router.#readiness.failures(),
  }))(this);

  /** What the listeners need from the router. */
  readonly #servingHost: ServingHost = ((router: Router): ServingHost => ({
    get clock() {
      return router.clock;
    },
    get logger() {
      return router.logger;
    },
    get closing() {
      return router.#closed;
    },
    attach: (peer, endpoint, connect, release) =>
      router.#connections.attach(peer, endpoint, connect, release),
    fetch: (t, req, client) => {
      const routed = routeRequest(router.#routeHost, t, req, client.remoteAddr);
      if (routed instanceof Response || routed instanceof Promise) return routed;
      // a WAMP path without an upgrade (node:http hands upgrades over separately)
      return notAnUpgrade();
    },
  }))(this);

  /**
   * The HTTP handler for a transport (default: the first configured transport, or a
   * `websocket` endpoint on any path with all serializers and anonymous auth when the config
   * has none). Mount it in any `Deno.serve`: Deno's server then owns the connections, so the
   * protections of `serve()`'s own listeners (`max_connections`, the HTTP header part of
   * `open_handshake_timeout`, the WebSocket frame limit while a frame arrives, RFC 6455 close
   * codes) are Deno's to provide, not the router's.
   */
  handler(transport: TransportConfig | null = this.config.transports[0] ?? null): Handler {
    return (req, info) => {
      const routed = routeRequest(this.#routeHost, transport, req, info?.remoteAddr ?? null);
      if (routed instanceof Response || routed instanceof Promise) return routed;
      const { response, peer } = nativeUpgrade(
        this.#routeHost,
        req,
        routed,
        info?.remoteAddr ?? null,
      );
      if (peer) this.#connections.attach(peer, routed, (handler) => peer.attach(handler), () => {});
      return response;
    };
  }

  /** Starts a listener for every configured transport. */
  async serve(): Promise<Listener[]> {
    // a cluster node listens once it is part of the cluster (or fails to be)
    await this.#extended;
    const listeners: Listener[] = [];
    this.#readiness.listenersStarting(this.config.transports.length);
    for (const [index, t] of this.config.transports.entries()) {
      const server = await TransportServer.start(this.#servingHost, t, index);
      this.#readiness.listenerUp();
      this.#transports.push(server);
      listeners.push(server.served);
    }
    await this.#ready;
    return listeners;
  }

  /** Connections open on the router's listeners now, and those refused for `max_connections`. */
  get connectionStats(): { open: number; refused: number } {
    let open = 0;
    let refused = 0;
    for (const t of this.#transports) {
      open += t.connections;
      refused += t.refused;
    }
    return { open, refused };
  }

  // ---- in-process sessions -----------------------------------------------------------

  /**
   * Opens an in-process session on `realm`: a full WAMP client without a socket.
   * @throws {WampError} `wamp.error.no_such_realm` (rejects) for unknown realms,
   *   `wamp.close.system_shutdown` once the router is closed.
   */
  async session(
    realm: string,
    options: LocalSessionOptions = {},
    details: Dict = {},
  ): Promise<WampClient> {
    await this.#ready;
    if (this.#closed) throw new WampError(Uri.SYSTEM_SHUTDOWN, "the router is closed");
    const client = this.#connections.connectLocal(options, false);
    await client.join(realm, details);
    return client;
  }

  // ---- shutdown ----------------------------------------------------------------------

  /**
   * Ends every session with GOODBYE `wamp.close.system_shutdown`, waits up to `graceMs` (on
   * the router's clock) for the clients' GOODBYE replies, closes every transport and stops the
   * listeners.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#readiness.closing();
    // Realms still starting finish first: closing their service sessions under the meta API
    // registration would reject `ready` with nobody to handle it (in-process, no waiting).
    await this.#ready.catch(() => {});
    for (const t of this.#transports) await t.close(false);
    const ended: Session[] = [];
    for (const realm of this.#realms.values()) {
      ended.push(...realm.closeAll(Uri.SYSTEM_SHUTDOWN, "the router is shutting down"));
    }
    await this.#connections.waitForGoodbyes(graceMs);
    this.#connections.closeAll();
    // sessions attached by other means (an embedding program's own peer) end here too
    for (const s of ended) s.close();
    for (const realm of this.#realms.values()) realm.setLink(null);
    await this.#extension?.close?.();
    for (const t of this.#transports) await t.close(true);
    this.#transports.length = 0;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
