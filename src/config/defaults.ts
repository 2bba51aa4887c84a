/**
 * Every default value and bound of the configuration, in one place: what a key resolves to
 * when it is absent, and the limits a value is checked against. The parsers of this directory
 * and `DEFAULT_ENDPOINT` take them from here, and so does any module outside `config/` that
 * needs one (e.g. the session statistics' rated message size, the listeners' fallback
 * handshake deadline), so that no default is restated anywhere else.
 *
 * A leaf module: constants only, no imports, so importing it pulls in nothing else of the
 * config. README "Configuration" and "Limits and protections" document each value.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Realms

/** `realms[].options.uri_check`. */
export const DEFAULT_URI_CHECK = "loose";
/** `realms[].options.enable_meta_api`. */
export const DEFAULT_ENABLE_META_API = true;

/**
 * `realms[].stats.rated_message_size`: bytes per rated message. Also the session meter's
 * default (src/stats/session_stats.ts).
 */
export const DEFAULT_RATED_MESSAGE_SIZE = 512;
/**
 * Largest allowed `rated_message_size`: 2^30 (the smallest is 1; it must be a power of two).
 * Also the bound the session meter checks (src/stats/session_stats.ts).
 */
export const MAX_RATED_MESSAGE_SIZE = 2 ** 30;
/** `trigger_after_rated_messages` and `trigger_after_duration`: 0, never. */
export const DEFAULT_STATS_TRIGGER_AFTER = 0;
/** `trigger_on_join` and `trigger_on_leave`. */
export const DEFAULT_STATS_TRIGGER_ON_JOIN_LEAVE = true;

/** `store["event-history"][].match`. */
export const DEFAULT_EVENT_HISTORY_MATCH = "exact";
/** `store["event-history"][].limit`: events kept per topic. */
export const DEFAULT_EVENT_HISTORY_LIMIT = 100;
/** Largest allowed event history `limit` (the smallest is 1). */
export const MAX_EVENT_HISTORY_LIMIT = 1_000_000;

/** A permission's `allow.*` and `disclose.*` flags. */
export const DEFAULT_PERMISSION_FLAG = false;
/** A permission's `cache`. */
export const DEFAULT_PERMISSION_CACHE = false;

// ---------------------------------------------------------------------------------------------
// Transports and endpoints

/** Endpoint `version` (IP version of the default interface). */
export const DEFAULT_IP_VERSION = 4;
/** The interface a TCP endpoint without `interface` listens on, per `version`. */
export const DEFAULT_INTERFACE: Readonly<Record<4 | 6, string>> = { 4: "0.0.0.0", 6: "::" };
/** `endpoint.max_connections` of a transport. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** `serializers` of an endpoint: all three, in the router's preference order. */
export const DEFAULT_SERIALIZERS = ["json", "msgpack", "cbor"] as const;

/** `metrics` of a `web`/`universal` transport: on, at this path. */
export const DEFAULT_METRICS_PATH = "metrics";
/** `status` of a `web`/`universal` transport: on, at this path. */
export const DEFAULT_STATUS_PATH = "status";

/** `options.post_body_limit` of an HTTP bridge path (bytes): 64 KiB. */
export const DEFAULT_POST_BODY_LIMIT = 65536;
/** `options.allow_null_origin` of an HTTP bridge path. */
export const DEFAULT_ALLOW_NULL_ORIGIN = false;

// ---------------------------------------------------------------------------------------------
// WebSocket and RawSocket `options`

/**
 * `max_message_size` (bytes): 1 MiB. A message is decoded, routed and encoded on the event
 * loop in one go, so its size bounds how long one client can stall every other session
 * (README, "Limits and protections", has the measured cost).
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;
/** `max_nesting`: arrays/objects nested deeper are refused at decode. */
export const DEFAULT_MAX_NESTING = 64;
/** Smallest allowed `max_nesting`. */
export const MIN_MAX_NESTING = 4;
/**
 * Largest allowed `max_nesting`: below the depth every serializer can still encode (the
 * MessagePack encoder stops at 1100 levels), so what is accepted can be delivered to all.
 */
export const MAX_MAX_NESTING = 1000;

/** `max_queue_bytes`: bound of a session's outgoing buffer before slow-consumer handling. */
export const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024;
/** `max_queue_messages`: bound, in messages, of a session's outgoing queue. */
export const DEFAULT_MAX_QUEUE_MESSAGES = 100_000;
/** `slow_consumer`: what happens to a session past its queue bound. */
export const DEFAULT_SLOW_CONSUMER_POLICY = "drop";
/** `slow_consumer_timeout` (ms). */
export const DEFAULT_SLOW_CONSUMER_TIMEOUT = 10_000;

/** `auto_ping_interval` of a WebSocket endpoint, in whole seconds (the key is milliseconds). */
export const DEFAULT_PING_INTERVAL = 30;
/**
 * `auto_ping_interval` of a RawSocket endpoint: off, because Autobahn|Python's RawSocket
 * clients cannot answer a PING (the asyncio one raises, the Twisted one misreads the frame).
 */
export const DEFAULT_RAWSOCKET_PING_INTERVAL = 0;
/** Shortest `auto_ping_timeout` default (s): the timeout defaults to the interval, at least this. */
export const MIN_DEFAULT_PING_TIMEOUT = 1;

/** `open_handshake_timeout` (ms): TCP accept to WAMP session established. */
export const DEFAULT_OPEN_HANDSHAKE_TIMEOUT = 10_000;
/** `close_handshake_timeout` (ms). */
export const DEFAULT_CLOSE_HANDSHAKE_TIMEOUT = 5_000;
/** How long a dynamic authenticator procedure may take before authentication fails (ms). */
export const AUTHENTICATOR_TIMEOUT = 10_000;
/** How long a dynamic authorizer procedure may take before the action is denied (ms). */
export const AUTHORIZER_TIMEOUT = 10_000;

/** `auth_challenge_timeout` (s): how long a CHALLENGE may stay unanswered. */
export const DEFAULT_AUTH_CHALLENGE_TIMEOUT = 10;
/** `auth_max_failures`: failures of one authid from one address that cost no delay. */
export const DEFAULT_AUTH_MAX_FAILURES = 5;
/** `auth_failure_window` (s): how long failures are counted. */
export const DEFAULT_AUTH_FAILURE_WINDOW = 60;
/** `auth_max_delay` (s): the longest delay between two attempts. */
export const DEFAULT_AUTH_MAX_DELAY = 8;
/**
 * `auth_max_delay` is capped at `open_handshake_timeout` less this (ms), or half of it when
 * that is longer, so a delayed attempt can finish before the handshake deadline.
 */
export const AUTH_MAX_DELAY_MARGIN = 2000;

// ---------------------------------------------------------------------------------------------
// Authentication

/** The role of anonymous sessions (also without an `auth` block). */
export const DEFAULT_ANONYMOUS_ROLE = "anonymous";
/** `iterations` of a salted wampcra user (PBKDF2). */
export const DEFAULT_CRA_ITERATIONS = 1000;
/** `keylen` of a salted wampcra user (bytes). */
export const DEFAULT_CRA_KEYLEN = 32;
/** Largest allowed wampcra `keylen` (the smallest is 1). */
export const MAX_CRA_KEYLEN = 1024;

/** `cookie.name`: Crossbar's tracking cookie name. */
export const DEFAULT_COOKIE_NAME = "cbtid";
/** `cookie.length`: characters of the random id, 6 bits each (144 bits). */
export const DEFAULT_COOKIE_LENGTH = 24;
/** Shortest allowed `cookie.length`: 22 characters are 132 random bits (at least 128). */
export const MIN_COOKIE_LENGTH = 22;
/** Longest allowed `cookie.length` (Crossbar's bound). */
export const MAX_COOKIE_LENGTH = 64;
/** `cookie.max_age` (s): 7 days, Crossbar's default. */
export const DEFAULT_COOKIE_MAX_AGE = 7 * 86400;
/** Longest allowed `cookie.max_age` (s): Crossbar's bound, 10 years of 360 days. */
export const MAX_COOKIE_MAX_AGE = 10 * 360 * 86400;
/** `cookie.max_cookies`: bound cookies an endpoint keeps (the oldest binding goes first). */
export const DEFAULT_MAX_COOKIES = 100_000;
/** `cookie.max_cookies_per_authid`: bound cookies kept per authid and realm. */
export const DEFAULT_MAX_COOKIES_PER_AUTHID = 16;
/** `cookie.same_site`: browsers send the cookie on same-site WebSocket handshakes only. */
export const DEFAULT_COOKIE_SAME_SITE = "Strict";
/** Largest WAMP-SCRAM `iterations` accepted (Argon2 passes or PBKDF2 iterations). */
export const MAX_SCRAM_ITERATIONS = 100_000_000;
/** Smallest Argon2 `memory` (KiB): 8 per lane, one lane. */
export const MIN_SCRAM_MEMORY = 8;
/** Largest Argon2 `memory` accepted (KiB): 4 GiB. */
export const MAX_SCRAM_MEMORY = 4 * 1024 * 1024;
/** Salt lengths accepted for WAMP-SCRAM credentials (bytes). */
export const MIN_SCRAM_SALT = 8;
export const MAX_SCRAM_SALT = 64;
/** Bytes of a HELLO's `authextra.nonce` accepted for WAMP-SCRAM. */
export const MIN_SCRAM_CLIENT_NONCE = 8;
export const MAX_SCRAM_CLIENT_NONCE = 64;

// ---------------------------------------------------------------------------------------------
// Cluster

/** `cluster.node` when absent: this prefix and 8 random hexadecimal digits (`sb-3f09a1c2`). */
export const DEFAULT_NODE_NAME_PREFIX = "sb-";
/** Longest `cluster.node` (characters of `[A-Za-z0-9_-]`). */
export const MAX_NODE_NAME_LENGTH = 64;
/** `cluster.heartbeat_interval` (ms): how often a node says it is alive on `sb.hb`. */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;
/** `cluster.node_timeout` (ms): a node silent this long is dead for the others. */
export const DEFAULT_NODE_TIMEOUT = 3000;
/** Smallest `cluster.heartbeat_interval` (ms). */
export const MIN_HEARTBEAT_INTERVAL = 100;
/** Largest `cluster.heartbeat_interval` and `cluster.node_timeout` (ms): one minute. */
export const MAX_CLUSTER_TIMING = 60_000;
/** Node numbers claimed in KV `sb_nodes` (the high bits of the node's session ids). */
export const MAX_NODE_NUMBER = 1023;
