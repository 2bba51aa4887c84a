/**
 * The resolved router configuration: what `parseConfig` returns after validating a
 * Crossbar-shaped node config (`{"version": 2, "workers": [{"type": "router", ...}]}`).
 * Every field is filled in with its default; the core never sees the raw JSON.
 *
 * @module
 */

import type { ConfigWarning } from "./kit.ts";
import type { SerializerName } from "../serializer/serializer.ts";

/** The actions a permission can allow. */
export type Action = "call" | "register" | "publish" | "subscribe";

import type { MatchPolicy } from "../wamp/uris.ts";
export type { MatchPolicy };

/** One permission rule of a role (Crossbar's shape, starred URIs already resolved). */
export interface Permission {
  /** The URI or pattern (for `prefix` the text to prefix-match, for `wildcard` empty components match any). */
  readonly uri: string;
  /** The match policy of `uri`. */
  readonly match: MatchPolicy;
  /** What the rule allows, per action. */
  readonly allow: Readonly<Record<Action, boolean>>;
  /** Whether callers (of procedures) and publishers (of events) under the rule are disclosed. */
  readonly disclose: { readonly caller: boolean; readonly publisher: boolean };
  /** Crossbar's `cache` flag: accepted, never changes a decision. */
  readonly cache: boolean;
}

/** A role of a realm. */
export interface RoleConfig {
  /** The role's name (`authrole`). */
  readonly name: string;
  /** The role's permission rules, decided exact, then best wildcard, then longest prefix. */
  readonly permissions: readonly Permission[];
  /**
   * A dynamic authorizer procedure, called as `authorize(session, uri, action, options)`
   * instead of static permissions; null for static roles.
   */
  readonly authorizer?: string | null;
}

/** `realms[].stats`: session statistics settings (see decisions.md). */
export interface StatsConfig {
  /** Power of two, 1..2^30; default 512. */
  readonly rated_message_size: number;
  /** 0 disables; default 0. */
  readonly trigger_after_rated_messages: number;
  /** Seconds; 0 disables; default 0. */
  readonly trigger_after_duration: number;
  /** Default true. */
  readonly trigger_on_join: boolean;
  /** Default true. */
  readonly trigger_on_leave: boolean;
}

/** `realms[].options`. */
export interface RealmOptions {
  /** URI checking; default `loose`. */
  readonly uri_check: "loose" | "strict";
  /** Meta API (events and procedures); default true. */
  readonly enable_meta_api: boolean;
}

/** One `store["event-history"]` entry: keep the last `limit` events published to matching topics. */
export interface EventHistoryConfig {
  /** The topic URI or pattern. */
  readonly uri: string;
  /** The match policy of `uri`. */
  readonly match: MatchPolicy;
  /** How many of the latest events are kept. */
  readonly limit: number;
}

/** One realm. */
export interface RealmConfig {
  /** The realm's name, as clients give it in HELLO. */
  readonly name: string;
  /** The roles sessions may join with (`anonymous` and `trusted` are built in). */
  readonly roles: readonly RoleConfig[];
  /** The realm's options. */
  readonly options: RealmOptions;
  /** Event history (`store: {"type": "memory", "event-history": [...]}`); empty when absent. */
  readonly history: readonly EventHistoryConfig[];
  /** `null` when the realm has no `stats` object: no `wamp.session.on_stats` at all. */
  readonly stats: StatsConfig | null;
}

/** `auth.anonymous` of a WebSocket endpoint. */
export interface AnonymousAuthConfig {
  /** Role given to anonymous sessions; default `anonymous`. */
  readonly role: string;
  /** Fixed authid, or null for a random `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` serial. */
  readonly authid: string | null;
}

/** A `ticket` principal: `auth.ticket.principals[authid]`. */
export interface TicketPrincipal {
  /** The ticket the principal must present (a `$ENV` secret resolved). */
  readonly ticket: string;
  /** The authrole the principal joins with. */
  readonly role: string;
  /** When set, the principal may only join this realm. */
  readonly realm: string | null;
}

/** A `wampcra` user: `auth.wampcra.users[authid]`; salted when `salt` is set (PBKDF2). */
export interface CraUser {
  /** The shared secret (a `$ENV` secret resolved). */
  readonly secret: string;
  /** The authrole the user joins with. */
  readonly role: string;
  /** When set, the user may only join this realm. */
  readonly realm: string | null;
  /** The PBKDF2 salt, or null for an unsalted secret. */
  readonly salt: string | null;
  /** PBKDF2 iterations (with `salt`). */
  readonly iterations: number;
  /** PBKDF2 derived key length in bytes (with `salt`). */
  readonly keylen: number;
}

/** A `cryptosign` principal: `auth.cryptosign.principals[authid]`. */
export interface CryptosignPrincipal {
  /** Ed25519 public keys, 64 lower-case hex characters each. */
  readonly authorized_keys: readonly string[];
  /** The authrole the principal joins with. */
  readonly role: string;
  /** When set, the principal may only join this realm. */
  readonly realm: string | null;
}

/** A dynamic authenticator: a WAMP procedure that decides (`{"type": "dynamic", ...}`). */
export interface DynamicAuthenticator {
  /** The procedure, called as `authenticate(realm, authid, details)`. */
  readonly authenticator: string;
  /** The realm the procedure is registered on (`authenticator-realm`); null: the realm joined. */
  readonly realm: string | null;
}

/** The key derivation functions of WAMP-SCRAM: Crossbar's and the spec's names for Argon2id. */
export type ScramKdf = "argon2id-13" | "argon2id13" | "pbkdf2";

/**
 * A WAMP-SCRAM credential: what the router stores of a password (`auth.scram.principals[authid]`,
 * Crossbar's keys, or a dynamic authenticator's answer). The router never sees the password:
 * the client derives the salted password with the KDF.
 */
export interface ScramCredential {
  /** The key derivation function the client runs. */
  readonly kdf: ScramKdf;
  /** The KDF's time cost (Argon2 passes or PBKDF2 iterations). */
  readonly iterations: number;
  /** Argon2's memory cost in KiB; null for PBKDF2. */
  readonly memory: number | null;
  /** The salt (hex in the config, base64 in the CHALLENGE). */
  readonly salt: Uint8Array;
  /** SHA-256(HMAC(SaltedPassword, "Client Key")), 32 bytes (`stored-key`, hex). */
  readonly storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"), 32 bytes (`server-key`, hex). */
  readonly serverKey: Uint8Array;
}

/** A static `scram` principal: its credential, role and optional realm. */
export interface ScramPrincipal extends ScramCredential {
  /** The authrole the principal joins with. */
  readonly role: string;
  /** When set, the principal may only join this realm. */
  readonly realm: string | null;
}

/**
 * A static `tls` principal (`auth.tls.principals[authid]`): the client certificate it is known
 * by, as fingerprints in upper-case hex with colons (Node's form).
 */
export interface TlsPrincipal {
  /** SHA-1 fingerprint (`certificate-sha1`, Crossbar's key), or null. */
  readonly sha1: string | null;
  /** SHA-256 fingerprint (`certificate-sha256`), or null. */
  readonly sha256: string | null;
  /** The authrole the principal joins with. */
  readonly role: string;
  /** When set, the principal may only join this realm. */
  readonly realm: string | null;
}

/** Names of the authentication methods that can be static or dynamic. */
export type AuthMethod = "anonymous" | "ticket" | "wampcra" | "cryptosign" | "scram" | "tls";

/**
 * Cookie tracking of a WebSocket endpoint (its `cookie` block): the upgrade response sets a
 * random cookie, and with `auth.cookie` a later connection presenting it authenticates as the
 * session that authenticated on the connection it was set on.
 */
export interface CookieConfig {
  /** The cookie's name (`name`); default `cbtid`. */
  readonly name: string;
  /** Characters of the random id (`length`, 6 random bits each); default 24, at least 22. */
  readonly length: number;
  /** Seconds the cookie and its binding live (`max_age`); default 604800 (7 days). */
  readonly max_age: number;
  /** Bound cookies kept (`max_cookies`); default 100000. */
  readonly max_cookies: number;
  /** Bound cookies kept per authid and realm (`max_cookies_per_authid`); default 16. */
  readonly max_cookies_per_authid: number;
  /** `Secure` attribute (`secure`): null (the default) sets it on TLS transports only. */
  readonly secure: boolean | null;
  /** `HttpOnly` attribute (`http_strict`); default true. */
  readonly http_strict: boolean;
  /** `SameSite` attribute (`same_site`); default `Strict`. */
  readonly same_site: "Strict" | "Lax" | "None";
}

/** The authentication methods of a WebSocket endpoint (`auth`). */
export interface AuthConfig {
  /** Anonymous authentication, or null when not offered. */
  readonly anonymous: AnonymousAuthConfig | null;
  /** Static ticket principals by authid, or null when not offered (or dynamic). */
  readonly ticket: ReadonlyMap<string, TicketPrincipal> | null;
  /** Static WAMP-CRA users by authid, or null when not offered (or dynamic). */
  readonly wampcra: ReadonlyMap<string, CraUser> | null;
  /** Static cryptosign principals by authid, or null when not offered (or dynamic). */
  readonly cryptosign: ReadonlyMap<string, CryptosignPrincipal> | null;
  /** Methods configured with `type: "dynamic"` (their static entry above is null). */
  readonly dynamic?: Readonly<Partial<Record<AuthMethod, DynamicAuthenticator>>>;
  /** True when `auth.cookie` is offered (the endpoint then has cookie tracking). */
  readonly cookie?: boolean;
  /** Static WAMP-SCRAM principals by authid; absent or null when not offered (or dynamic). */
  readonly scram?: ReadonlyMap<string, ScramPrincipal> | null;
  /** Static TLS client certificate principals by authid; absent or null when not offered. */
  readonly tls?: ReadonlyMap<string, TlsPrincipal> | null;
}

/** Limits of the authentication handshake (`options` of a WebSocket endpoint). */
export interface AuthLimits {
  /** Seconds a CHALLENGE may stay unanswered; default 10. */
  readonly challenge_timeout: number;
  /** Failed authentications of one authid from one address that cost no delay; default 5. */
  readonly max_failures: number;
  /** Seconds over which failures are counted; default 60. */
  readonly failure_window: number;
  /**
   * Seconds: the longest delay between two attempts of an authid from one address once it is
   * over `max_failures` (1 s, 2 s, 4 s … up to this); an attempt whose turn is farther away is
   * refused; default 8.
   */
  readonly max_delay: number;
}

/** A WebSocket endpoint: a `websocket` transport, or one `websocket` path of a `web` transport. */
export interface WebSocketEndpointConfig {
  /** Serializers offered, in the router's preference order; default all three. */
  readonly serializers: readonly SerializerName[];
  /** Methods allowed; with no `auth` block only anonymous with role `anonymous`. */
  readonly auth: AuthConfig;
  /** Cookie tracking (`cookie`), set only with `auth.cookie` (WebSocket endpoints only). */
  readonly cookie?: CookieConfig;
  /** Authentication handshake limits. */
  readonly auth_limits: AuthLimits;
  /**
   * Slow consumers: when more than `max_queue_bytes` wait in a session's outgoing WebSocket
   * buffer, new EVENTs are dropped (and counted) or the session is ended, per `policy`.
   */
  readonly slow_consumer: {
    readonly max_queue_bytes: number;
    /** Messages sent since the outgoing buffer was last empty (an upper bound of those queued). */
    readonly max_queue_messages: number;
    readonly policy: "drop" | "disconnect";
    /**
     * Milliseconds a session may stay at its queue bound without answering a ping before it is
     * closed (`slow_consumer_timeout`); default 10000.
     */
    readonly timeout: number;
  };
  /** Seconds between WebSocket pings; a connection that does not answer is closed (0 = off). */
  readonly ping_interval: number;
  /** Milliseconds a ping may stay unanswered (`auto_ping_timeout`); default: the interval. */
  readonly ping_timeout: number;
  /** Largest accepted incoming WAMP message in bytes; default 1 MiB. */
  readonly max_message_size: number;
  /** Deepest nesting of arrays/objects in an incoming message (`max_nesting`); default 64. */
  readonly max_nesting: number;
  /**
   * Milliseconds from the TCP accept until the WAMP session is established (TLS, HTTP headers,
   * WebSocket upgrade, HELLO, authentication): `open_handshake_timeout`; 0 = none; default 10000.
   * Also bounds how long a connection may stay open without a session.
   */
  readonly open_handshake_timeout: number;
  /**
   * Milliseconds the router waits for a client's GOODBYE reply, and for a closing connection's
   * close handshake, before it drops the connection: `close_handshake_timeout`; default 5000.
   */
  readonly close_handshake_timeout: number;
  /**
   * Addresses/CIDR ranges of reverse proxies whose `Forwarded`/`X-Forwarded-For` headers name
   * the client (`trusted_proxies`); default none.
   */
  readonly trusted_proxies: readonly string[];
}

/** An HTTP bridge path: `POST` JSON to publish (`publisher`) or call (`caller`) on a realm. */
export interface BridgeConfig {
  /** What a request does: publish an event or call a procedure. */
  readonly kind: "publisher" | "caller";
  /** The realm the bridge's session joins. */
  readonly realm: string;
  /** The role the bridge's session has (its permissions apply). */
  readonly role: string;
  /** Largest accepted request body in bytes; default 64 KiB. */
  readonly post_body_limit: number;
  /**
   * Origins whose browser requests are accepted (Crossbar's form: `scheme://host[:port]`, `*`
   * inside the host, or `*` alone for any); null (the default): same-origin requests only.
   * Requests without an `Origin` header are always accepted.
   */
  readonly allowed_origins: readonly string[] | null;
  /** Whether requests with `Origin: null` are accepted; default false. */
  readonly allow_null_origin: boolean;
}

/** `endpoint.tls`: PEM certificate and key file paths for `wss://` (read when serving). */
export interface TlsConfig {
  /** Path of the PEM certificate chain. */
  readonly certificate: string;
  /** Path of the PEM private key. */
  readonly key: string;
  /**
   * Paths of PEM CA certificates (`ca_certificates`): when set, every client must present a
   * certificate that chains to one of them (for `tls` authentication).
   */
  readonly ca_certificates?: readonly string[];
}

/** A TCP endpoint (`{"type": "tcp", ...}`). */
export interface TcpEndpointConfig {
  /** The interface to listen on; without `interface`, `0.0.0.0` (or `::` with `version: 6`). */
  readonly host: string;
  /** The port; 0 = any free port. */
  readonly port: number;
  /** TLS files for `wss://`, or null for plain WebSocket. */
  readonly tls: TlsConfig | null;
  /** Most connections open at once on this transport; more are refused. Default 10000. */
  readonly max_connections: number;
}

/** A TCP endpoint of a transport type that has no TLS (`rawsocket`, `universal`). */
export interface PlainTcpEndpointConfig extends TcpEndpointConfig {
  /** Always null: this transport type has no TLS. */
  readonly tls: null;
}

/**
 * A `rawsocket` endpoint: TCP without TLS, or a Unix socket (`{"type": "unix", "path": ...}`),
 * which has `unix` set and host `""`, port 0 (unused, but still what the host/port overrides
 * replace and the collision check compares).
 */
export interface RawSocketEndpointConfig extends PlainTcpEndpointConfig {
  /** The Unix socket path; absent on TCP endpoints. */
  readonly unix?: string;
}

/** The services of a `web` or `universal` transport's paths, besides its WebSocket paths. */
export interface WebServicesConfig {
  /** Path without leading slash (e.g. `ws`; the root is `""`) → WAMP endpoint. */
  readonly paths: ReadonlyMap<string, WebSocketEndpointConfig>;
  /** HTTP bridge paths (`publisher` / `caller`), path → settings. */
  readonly bridges: ReadonlyMap<string, BridgeConfig>;
  /** The path serving Prometheus metrics (default `metrics`), or null when off. */
  readonly metrics_path: string | null;
  /** The path serving the live status page (default `status`), or null when off. */
  readonly status_path: string | null;
}

/** `{"type": "websocket"}`: one WAMP endpoint on every path. */
export interface WebSocketTransportConfig {
  /** Always `websocket`. */
  readonly type: "websocket";
  /** Where the transport listens. */
  readonly endpoint: TcpEndpointConfig;
  /** The WAMP endpoint served on every path. */
  readonly websocket: WebSocketEndpointConfig;
  /**
   * Always empty: a `websocket` transport has no named paths. Kept from the one-shape type
   * this union replaced, so a resolved `websocket` transport keeps its shape.
   */
  readonly paths: ReadonlyMap<string, never>;
}

/** `{"type": "web"}`: WAMP on the named paths, HTTP bridge paths, metrics, status, 404 elsewhere. */
export interface WebTransportConfig extends WebServicesConfig {
  /** Always `web`. */
  readonly type: "web";
  /** Where the transport listens. */
  readonly endpoint: TcpEndpointConfig;
  /** Always null (see {@link RawSocketTransportConfig.websocket}): the endpoints are `paths`. */
  readonly websocket: null;
}

/** `{"type": "rawsocket"}`: WAMP over RawSocket, on TCP or a Unix socket. */
export interface RawSocketTransportConfig {
  /** Always `rawsocket`. */
  readonly type: "rawsocket";
  /** Where the transport listens (TCP without TLS, or a Unix socket). */
  readonly endpoint: RawSocketEndpointConfig;
  /**
   * Always null: the endpoint is `rawsocket`. Every transport type keeps the `websocket` key
   * of the one-shape type this union replaced, so `t.websocket` reads on any transport.
   */
  readonly websocket: null;
  /** Serializers, auth and options (the same shape as a WebSocket endpoint). */
  readonly rawsocket: WebSocketEndpointConfig;
}

/** `{"type": "universal"}`: RawSocket and a `web` transport's services on one TCP port. */
export interface UniversalTransportConfig extends WebServicesConfig {
  /** Always `universal`. */
  readonly type: "universal";
  /** Where the transport listens (TCP without TLS). */
  readonly endpoint: PlainTcpEndpointConfig;
  /** Always null (see {@link RawSocketTransportConfig.websocket}): the endpoints are `paths`. */
  readonly websocket: null;
  /** The RawSocket endpoint, or null when the transport speaks HTTP/WebSocket only. */
  readonly rawsocket: WebSocketEndpointConfig | null;
}

/** One listening transport; narrow on `type` for the fields of each kind. */
export type TransportConfig =
  | WebSocketTransportConfig
  | WebTransportConfig
  | RawSocketTransportConfig
  | UniversalTransportConfig;

/** A transport with a `web` transport's services: named paths, bridges, metrics, status. */
export type WebServicesTransportConfig = WebTransportConfig | UniversalTransportConfig;

/** The whole resolved configuration. */
export interface RouterConfig {
  /** The realms, in configuration order. */
  readonly realms: readonly RealmConfig[];
  /** The listening transports, in configuration order. */
  readonly transports: readonly TransportConfig[];
  /** One warning for every key accepted without effect here (see the README). */
  readonly warnings?: readonly ConfigWarning[];
  /** The worker's `cluster` block: absent for a single-node router. */
  readonly cluster?: ClusterConfig;
}

/** A worker's `cluster` block: the node joins the others through NATS (docs/cluster.md). */
export interface ClusterConfig {
  /** The engine: only `nats`. */
  readonly type: "nats";
  /** The NATS servers (`nats://host:port` or `tls://host:port`), at least one. */
  readonly servers: readonly string[];
  /** This node's name, unique in the cluster (`[A-Za-z0-9_-]`, at most 64 characters). */
  readonly node: string;
  /** Milliseconds between two heartbeats of this node. */
  readonly heartbeat_interval: number;
  /** Milliseconds of silence after which another node is dead. */
  readonly node_timeout: number;
}
