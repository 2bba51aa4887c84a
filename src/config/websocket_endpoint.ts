/**
 * A WAMP endpoint's settings, shared by a `websocket` transport, each `websocket` path of a
 * `web` or `universal` transport, and RawSocket endpoints: `serializers`, `auth` and the
 * `options` (message size and nesting, slow consumers, keepalive pings, handshake timeouts,
 * trusted proxies, authentication limits; Crossbar's other WebSocket options, the origin check
 * among them, are read by `websocket_options.ts`). Also {@link DEFAULT_ENDPOINT}, the endpoint a
 * router serves where it has none configured.
 *
 * Pure functions, no I/O; every default comes from `defaults.ts`.
 *
 * @module
 */

import { parseIpRange } from "../net/ip_range.ts";
import type { SerializerName } from "../serializer/serializer.ts";
import { parseAuth } from "./auth.ts";
import { parseCookie } from "./cookie.ts";
import { NOT_OFFERED_SERIALIZERS, UNSUPPORTED_SERIALIZERS } from "./crossbar.ts";
import {
  AUTH_MAX_DELAY_MARGIN,
  DEFAULT_AUTH_CHALLENGE_TIMEOUT,
  DEFAULT_AUTH_FAILURE_WINDOW,
  DEFAULT_AUTH_MAX_DELAY,
  DEFAULT_AUTH_MAX_FAILURES,
  DEFAULT_CLOSE_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_NESTING,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_QUEUE_MESSAGES,
  DEFAULT_OPEN_HANDSHAKE_TIMEOUT,
  DEFAULT_PING_INTERVAL,
  DEFAULT_RAWSOCKET_PING_INTERVAL,
  DEFAULT_SERIALIZERS,
  DEFAULT_SLOW_CONSUMER_POLICY,
  DEFAULT_SLOW_CONSUMER_TIMEOUT,
  MAX_MAX_NESTING,
  MIN_DEFAULT_PING_TIMEOUT,
  MIN_MAX_NESTING,
} from "./defaults.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectArray,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectString,
  has,
  indexPath,
  isObject,
  keyPath,
  type Obj,
  oneOf,
  own,
  type ParseContext,
} from "./kit.ts";
import type { WebSocketEndpointConfig } from "./types.ts";
import {
  CROSSBAR_WEBSOCKET_OPTION_KEYS,
  parseCrossbarWebSocketOptions,
} from "./websocket_options.ts";

/** The serializers Switchboard speaks. */
const SERIALIZERS: readonly SerializerName[] = ["json", "msgpack", "cbor"];

/** Keys of a WebSocket endpoint (a `websocket` transport or a `web` path). */
export const WEBSOCKET_KEYS: readonly string[] = ["serializers", "auth", "options", "cookie"];

/**
 * Reads the WebSocket keys (`serializers`, `auth`, `options`, `cookie`) of an already
 * key-checked object (RawSocket endpoints have no `cookie`).
 * RawSocket endpoints share the shape, but send keepalive PINGs only when
 * `auto_ping_interval` is set: Autobahn|Python's RawSocket clients do not answer PING (the
 * asyncio one raises, the Twisted one misreads the frame), and Crossbar never sends one.
 *
 * @param obj The endpoint's object (a transport, a `web` path, a `rawsocket` block).
 * @param path Its JSON path.
 * @param env Looks up `"$NAME"` secrets of its `auth` block.
 * @param kind Which protocol the endpoint speaks (RawSocket has no default pings).
 */
export function parseWebSocketEndpoint(
  obj: Obj,
  path: string,
  ctx: ParseContext,
  kind: "websocket" | "rawsocket" = "websocket",
): WebSocketEndpointConfig {
  const options = own(obj, "options");
  const parsed = parseWebSocketOptions(options, keyPath(path, "options"));
  const crossbar = parseCrossbarWebSocketOptions(
    isObject(options) ? options : {},
    keyPath(path, "options"),
    ctx,
    kind,
  );
  const pingsSet = isObject(options) && has(options, "auto_ping_interval");
  // only WebSocket endpoints list `cookie` among their keys; RawSocket ones cannot carry one
  const tracking = kind === "rawsocket" ? "unavailable" : has(obj, "cookie") ? "tracked" : "none";
  const auth = parseAuth(own(obj, "auth"), keyPath(path, "auth"), ctx, tracking);
  const cookie = tracking === "tracked"
    ? parseCookie(obj.cookie, keyPath(path, "cookie"), ctx, auth.cookie === true)
    : null;
  return {
    serializers: parseSerializers(own(obj, "serializers"), keyPath(path, "serializers"), ctx),
    auth,
    ...(cookie ? { cookie } : {}),
    ...parsed,
    ...crossbar,
    ping_interval: kind === "rawsocket" && !pingsSet
      ? DEFAULT_RAWSOCKET_PING_INTERVAL
      : parsed.ping_interval,
  };
}

/**
 * `serializers`: the names listed, in order. A serializer Switchboard does not offer
 * ({@link NOT_OFFERED_SERIALIZERS}, Crossbar's `ubjson`) is left out with one warning, and the
 * endpoint serves the others; a list of nothing else is an error at `path`.
 */
function parseSerializers(
  value: unknown,
  path: string,
  ctx: ParseContext,
): readonly SerializerName[] {
  if (value === undefined) return [...DEFAULT_SERIALIZERS];
  const list = expectArray(value, path);
  if (list.length === 0) {
    throw new ConfigError(path, `must list at least one of ${oneOf(SERIALIZERS)}, got []`);
  }
  const result: SerializerName[] = [];
  const notOffered: { name: string; path: string }[] = [];
  list.forEach((item, i) => {
    const itemPath = indexPath(path, i);
    const name = expectString(item, itemPath);
    if (
      result.includes(name as SerializerName) || notOffered.some((entry) => entry.name === name)
    ) {
      throw new ConfigError(itemPath, `duplicate serializer ${JSON.stringify(name)}`);
    }
    if (Object.hasOwn(NOT_OFFERED_SERIALIZERS, name)) {
      notOffered.push({ name, path: itemPath });
      return;
    }
    if (!(SERIALIZERS as readonly string[]).includes(name)) {
      const reason = UNSUPPORTED_SERIALIZERS.includes(name)
        ? `serializer ${JSON.stringify(name)} is not supported by Switchboard; use ${
          oneOf(SERIALIZERS)
        }`
        : `must be ${oneOf(SERIALIZERS)}, got ${describe(name)}`;
      throw new ConfigError(itemPath, reason);
    }
    result.push(name as SerializerName);
  });
  if (result.length === 0) {
    const names = notOffered.map((entry) => JSON.stringify(entry.name)).join(", ");
    throw new ConfigError(
      path,
      `lists no serializer Switchboard offers (${names} is not offered: ${
        notOffered.map((entry) => NOT_OFFERED_SERIALIZERS[entry.name]).join("; ")
      }); list ${oneOf(SERIALIZERS)}`,
    );
  }
  for (const entry of notOffered) {
    ctx.warn(
      entry.path,
      `serializer ${JSON.stringify(entry.name)} is not offered by Switchboard (this endpoint ` +
        `serves ${result.map((name) => JSON.stringify(name)).join(", ")}): ${
          NOT_OFFERED_SERIALIZERS[entry.name]
        }`,
    );
  }
  return result;
}

/** WebSocket `options`: `max_message_size` and the authentication handshake limits. */
function parseWebSocketOptions(
  value: unknown,
  path: string,
): Omit<WebSocketEndpointConfig, "serializers" | "auth"> {
  const options = value === undefined ? {} : expectObject(value, path);
  checkKeys(options, path, {
    allowed: [
      "max_message_size",
      "auth_challenge_timeout",
      "auth_max_failures",
      "auth_failure_window",
      "auth_max_delay",
      "max_queue_bytes",
      "max_queue_messages",
      "slow_consumer",
      "slow_consumer_timeout",
      "auto_ping_interval",
      "auto_ping_timeout",
      "max_nesting",
      "open_handshake_timeout",
      "close_handshake_timeout",
      "trusted_proxies",
      ...CROSSBAR_WEBSOCKET_OPTION_KEYS,
    ],
  });
  const positive = (key: string, fallback: number, what: string): number => {
    if (!has(options, key)) return fallback;
    const n = expectInteger(options[key], keyPath(path, key));
    if (n < 1) throw new ConfigError(keyPath(path, key), `must be a positive ${what}, got ${n}`);
    return n;
  };
  /** A duration in milliseconds; 0 allowed (off) where `zeroOff`. */
  const millis = (key: string, fallback: number, zeroOff: boolean): number => {
    if (!has(options, key)) return fallback;
    const keyed = keyPath(path, key);
    const n = expectInteger(options[key], keyed);
    if (n < (zeroOff ? 0 : 1)) {
      throw new ConfigError(
        keyed,
        `must be ${zeroOff ? "0 (off) or " : ""}a positive number of milliseconds, got ${n}`,
      );
    }
    return n;
  };
  const pingSeconds = pingInterval(
    own(options, "auto_ping_interval"),
    keyPath(path, "auto_ping_interval"),
  );
  const openHandshake = millis("open_handshake_timeout", DEFAULT_OPEN_HANDSHAKE_TIMEOUT, true);
  // A delayed authentication attempt must be able to finish before the open handshake deadline
  // closes its connection: the delay is capped at the deadline less 2 s (or half the deadline,
  // when that is longer), so short Crossbar-style timeouts need no second setting.
  const maxDelay = Math.min(
    positive("auth_max_delay", DEFAULT_AUTH_MAX_DELAY, "number of seconds"),
    openHandshake > 0
      ? Math.max(openHandshake / 2, openHandshake - AUTH_MAX_DELAY_MARGIN) / 1000
      : Infinity,
  );
  let maxNesting = DEFAULT_MAX_NESTING;
  if (has(options, "max_nesting")) {
    const keyed = keyPath(path, "max_nesting");
    maxNesting = expectInteger(options.max_nesting, keyed);
    if (maxNesting < MIN_MAX_NESTING || maxNesting > MAX_MAX_NESTING) {
      throw new ConfigError(
        keyed,
        `must be between ${MIN_MAX_NESTING} and ${MAX_MAX_NESTING}, got ${maxNesting}`,
      );
    }
  }
  return {
    max_message_size: positive("max_message_size", DEFAULT_MAX_MESSAGE_SIZE, "number of bytes"),
    max_nesting: maxNesting,
    open_handshake_timeout: openHandshake,
    close_handshake_timeout: millis(
      "close_handshake_timeout",
      DEFAULT_CLOSE_HANDSHAKE_TIMEOUT,
      false,
    ),
    ping_timeout: millis(
      "auto_ping_timeout",
      Math.max(pingSeconds, MIN_DEFAULT_PING_TIMEOUT) * 1000,
      false,
    ),
    trusted_proxies: parseTrustedProxies(
      own(options, "trusted_proxies"),
      keyPath(path, "trusted_proxies"),
    ),
    auth_limits: {
      challenge_timeout: positive(
        "auth_challenge_timeout",
        DEFAULT_AUTH_CHALLENGE_TIMEOUT,
        "number of seconds",
      ),
      max_failures: positive("auth_max_failures", DEFAULT_AUTH_MAX_FAILURES, "number of failures"),
      failure_window: positive(
        "auth_failure_window",
        DEFAULT_AUTH_FAILURE_WINDOW,
        "number of seconds",
      ),
      max_delay: maxDelay,
    },
    slow_consumer: {
      max_queue_bytes: positive("max_queue_bytes", DEFAULT_MAX_QUEUE_BYTES, "number of bytes"),
      max_queue_messages: positive(
        "max_queue_messages",
        DEFAULT_MAX_QUEUE_MESSAGES,
        "number of messages",
      ),
      policy: slowConsumerPolicy(own(options, "slow_consumer"), keyPath(path, "slow_consumer")),
      timeout: millis("slow_consumer_timeout", DEFAULT_SLOW_CONSUMER_TIMEOUT, false),
    },
    ping_interval: pingSeconds,
  };
}

/** `trusted_proxies`: a list of IP addresses and CIDR ranges. */
function parseTrustedProxies(value: unknown, path: string): readonly string[] {
  if (value === undefined) return [];
  const list = expectArray(value, path);
  return list.map((item, i) => {
    const itemPath = indexPath(path, i);
    const entry = expectNonEmptyString(item, itemPath);
    if (parseIpRange(entry) === null) {
      throw new ConfigError(
        itemPath,
        `must be an IP address or CIDR range (e.g. "10.0.0.1", "10.0.0.0/8", "fd00::/8"), got ${
          describe(entry)
        }`,
      );
    }
    return entry;
  });
}

/** What happens to a slow consumer: `drop` its EVENTs (default) or `disconnect` it. */
function slowConsumerPolicy(value: unknown, path: string): "drop" | "disconnect" {
  if (value === undefined) return DEFAULT_SLOW_CONSUMER_POLICY;
  if (value !== "drop" && value !== "disconnect") {
    throw new ConfigError(path, `must be "drop" or "disconnect", got ${describe(value)}`);
  }
  return value;
}

/** Crossbar's `auto_ping_interval` (milliseconds, 0 = off) as whole seconds. */
function pingInterval(value: unknown, path: string): number {
  if (value === undefined) return DEFAULT_PING_INTERVAL;
  const ms = expectInteger(value, path);
  if (ms < 0) {
    throw new ConfigError(path, `must be 0 (off) or a positive number of milliseconds, got ${ms}`);
  }
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The endpoint a router serves when it has no transport configured for a request (a router
 * mounted with `Router.handler()` and no transports): every serializer, anonymous
 * authentication with role `anonymous`, every option at its default.
 */
export const DEFAULT_ENDPOINT: WebSocketEndpointConfig = parseWebSocketEndpoint(
  {},
  "(default)",
  // an endpoint without `auth` holds no secrets and no paths: nothing is looked up or warned
  {
    env: () => undefined,
    warn: () => {},
    baseDir: null,
  },
);
