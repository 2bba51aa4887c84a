/**
 * The WebSocket `options` of Crossbar's (Autobahn's) that a WAMP endpoint's other settings in
 * `websocket_endpoint.ts` do not cover: the origin check (`allowed_origins`,
 * `allow_null_origin`), `max_frame_size`, `auto_ping_size`, `require_websocket_subprotocol`,
 * and every other option Crossbar's config checker accepts, each of which either matches what
 * Switchboard does (accepted silently) or is accepted with one warning saying what Switchboard
 * does instead. RawSocket endpoints refuse these WebSocket-only keys with a reason.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import {
  ConfigError,
  describe,
  expectBoolean,
  expectInteger,
  expectObject,
  has,
  keyPath,
  type Obj,
  type ParseContext,
} from "./kit.ts";
import { parseAllowedOrigins } from "./origins.ts";
import type { WebSocketEndpointConfig } from "./types.ts";

/** `allowed_origins` without the key: any origin, as Crossbar (`["*"]`). */
export const DEFAULT_WEBSOCKET_ALLOWED_ORIGINS: readonly string[] = ["*"];
/** `allow_null_origin` without the key: true, as Crossbar. */
export const DEFAULT_WEBSOCKET_ALLOW_NULL_ORIGIN = true;
/** `auto_ping_size` bounds (bytes), as Crossbar's checker. */
export const MIN_PING_SIZE = 12;
/** Largest `auto_ping_size`: a control frame's payload is at most 125 bytes. */
export const MAX_PING_SIZE = 125;

/** The options this module implements. */
const IMPLEMENTED = [
  "allowed_origins",
  "allow_null_origin",
  "max_frame_size",
  "auto_ping_size",
  "require_websocket_subprotocol",
] as const;

/**
 * An Autobahn option Switchboard does not act on: the value type, the value that describes
 * what Switchboard does anyway (accepted without a warning; undefined: any value warns), and
 * what Switchboard does instead.
 */
interface Fixed {
  readonly kind: "boolean" | "integer" | "object";
  readonly matches?: boolean | number;
  readonly instead: string;
}

/** Crossbar's other WebSocket options (`crossbar/common/checkconfig.py`). */
const FIXED: Readonly<Record<string, Fixed>> = {
  compression: {
    kind: "object",
    instead: "no permessage-deflate: Switchboard's WebSocket server does not compress, and " +
      "a client's offer of compression is declined, so messages go uncompressed",
  },
  auto_fragment_size: {
    kind: "integer",
    matches: 0,
    instead: "outgoing messages are sent as one frame each, never fragmented",
  },
  fail_by_drop: {
    kind: "boolean",
    matches: false,
    instead: "a failed connection is closed with a close frame naming the reason, then dropped " +
      "after close_handshake_timeout",
  },
  enable_webstatus: {
    kind: "boolean",
    matches: false,
    instead: "a plain HTTP GET on a WebSocket path is answered 400 (no status page there); the " +
      "router's status page is the transport's `status` path",
  },
  external_port: {
    kind: "integer",
    instead: "the origin check compares the Origin with allowed_origins only, never with the " +
      "listening port",
  },
  enable_hybi10: {
    kind: "boolean",
    matches: true,
    instead: "WebSocket versions 8 (Hybi-10) and 13 (RFC 6455) are always accepted",
  },
  enable_rfc6455: {
    kind: "boolean",
    matches: true,
    instead: "WebSocket versions 8 (Hybi-10) and 13 (RFC 6455) are always accepted",
  },
  validate_utf8: {
    kind: "boolean",
    matches: true,
    instead: "text frames are always checked for valid UTF-8 (close 1007 otherwise)",
  },
  mask_server_frames: {
    kind: "boolean",
    matches: false,
    instead: "frames sent to clients are never masked (RFC 6455)",
  },
  require_masked_client_frames: {
    kind: "boolean",
    matches: true,
    instead: "frames from clients must always be masked (RFC 6455; close 1002 otherwise)",
  },
  apply_mask: {
    kind: "boolean",
    matches: true,
    instead: "client frames are always unmasked",
  },
  echo_close_codereason: {
    kind: "boolean",
    instead: "the close frame that answers a client's close is Switchboard's own choice",
  },
  tcp_nodelay: {
    kind: "boolean",
    matches: true,
    instead: "TCP_NODELAY is always on",
  },
  auto_ping_restart_on_any_traffic: {
    kind: "boolean",
    matches: true,
    instead: "any message from the client, not only a pong, answers a keepalive ping",
  },
  enable_flash_policy: {
    kind: "boolean",
    matches: false,
    instead: "no Flash socket policy is served",
  },
  flash_policy: {
    kind: "object",
    instead: "no Flash socket policy is served",
  },
  show_server_version: {
    kind: "boolean",
    matches: false,
    instead: "no Server header naming a version is sent",
  },
};

/** Every WebSocket option key this module reads (for the endpoint's key check). */
export const CROSSBAR_WEBSOCKET_OPTION_KEYS: readonly string[] = [
  ...IMPLEMENTED,
  ...Object.keys(FIXED),
];

/** The settings of a WebSocket endpoint that come from this module's options. */
export type CrossbarWebSocketSettings = Pick<
  WebSocketEndpointConfig,
  "allowed_origins" | "allow_null_origin" | "max_frame_size" | "ping_size" | "require_subprotocol"
>;

/**
 * Reads this module's keys of an (already key-checked) `options` object.
 *
 * @param options The endpoint's `options` (empty when absent).
 * @param path Its JSON path.
 * @param ctx Collects the warnings.
 * @param kind RawSocket endpoints refuse every key here (they are WebSocket options).
 */
export function parseCrossbarWebSocketOptions(
  options: Obj,
  path: string,
  ctx: ParseContext,
  kind: "websocket" | "rawsocket",
): CrossbarWebSocketSettings {
  if (kind === "rawsocket") {
    for (const key of CROSSBAR_WEBSOCKET_OPTION_KEYS) {
      if (has(options, key)) {
        throw new ConfigError(
          keyPath(path, key),
          `"${key}" is a WebSocket option; RawSocket endpoints have no such setting`,
        );
      }
    }
    return {};
  }
  for (const [key, fixed] of Object.entries(FIXED)) {
    if (!has(options, key)) continue;
    const keyed = keyPath(path, key);
    const value = options[key];
    if (fixed.kind === "boolean") expectBoolean(value, keyed);
    else if (fixed.kind === "integer") expectInteger(value, keyed);
    else expectObject(value, keyed);
    if (fixed.matches !== undefined && value === fixed.matches) continue;
    ctx.warn(keyed, `not used by Switchboard: ${fixed.instead}`);
  }
  let maxFrame = 0;
  if (has(options, "max_frame_size")) {
    const keyed = keyPath(path, "max_frame_size");
    maxFrame = expectInteger(options.max_frame_size, keyed);
    if (maxFrame < 0) {
      throw new ConfigError(keyed, `must be 0 (no limit) or a number of bytes, got ${maxFrame}`);
    }
  }
  let pingSize = 0;
  if (has(options, "auto_ping_size")) {
    const keyed = keyPath(path, "auto_ping_size");
    pingSize = expectInteger(options.auto_ping_size, keyed);
    if (pingSize < MIN_PING_SIZE || pingSize > MAX_PING_SIZE) {
      throw new ConfigError(
        keyed,
        `must be between ${MIN_PING_SIZE} and ${MAX_PING_SIZE} bytes, got ${describe(pingSize)}`,
      );
    }
  }
  return {
    allowed_origins: has(options, "allowed_origins")
      ? parseAllowedOrigins(options.allowed_origins, keyPath(path, "allowed_origins"))
      : DEFAULT_WEBSOCKET_ALLOWED_ORIGINS,
    allow_null_origin: has(options, "allow_null_origin")
      ? expectBoolean(options.allow_null_origin, keyPath(path, "allow_null_origin"))
      : DEFAULT_WEBSOCKET_ALLOW_NULL_ORIGIN,
    max_frame_size: maxFrame,
    ping_size: pingSize,
    require_subprotocol: has(options, "require_websocket_subprotocol")
      ? expectBoolean(
        options.require_websocket_subprotocol,
        keyPath(path, "require_websocket_subprotocol"),
      )
      : true,
  };
}
