/**
 * The Crossbar node shell around the router worker, and every part of Crossbar's node config
 * that Switchboard rejects or does not implement, with the reason a config gets for it.
 *
 * The shell is `{"version"?: 2, "workers": [{"type": "router", "id"?: string, ...}]}` with
 * exactly one worker, of type `router`; {@link parseNode} checks it and hands the worker
 * object to the parser of its body (realms and transports), so this module depends on the
 * validation kit only and the realm, transport and auth parsers can take their tables of
 * rejected keys from here. Pure functions, no I/O.
 *
 * @module
 */

import {
  checkKeys,
  ConfigError,
  describe,
  expectArray,
  expectObject,
  expectRequired,
  expectString,
  has,
  keyPath,
  type Obj,
  type ParseContext,
  ROOT,
} from "./kit.ts";

/** `reasons(names, why)`: each name → `why(name)`. */
function reasons(names: readonly string[], why: (name: string) => string): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, why(name)]));
}

// ---------------------------------------------------------------------------------------------
// What Switchboard rejects, with the reasons

/** Keys of the node config itself that Switchboard rejects. */
export const REJECTED_NODE_KEYS: Readonly<Record<string, string>> = {
  controller: "the node controller is not implemented by Switchboard; remove this key",
};

/** Crossbar worker types Switchboard does not implement (only `router` is). */
export const UNIMPLEMENTED_WORKER_TYPES: Readonly<Record<string, string>> = reasons(
  ["container", "guest", "proxy", "websocket-testee", "xbrmm", "hostmonitor", "marketplace"],
  (type) =>
    `worker type ${JSON.stringify(type)} is not implemented by Switchboard; only "router" is`,
);

/** Keys of a router worker that Switchboard rejects. */
export const REJECTED_WORKER_KEYS: Readonly<Record<string, string>> = {
  options: "worker options are not supported by Switchboard",
  components: "router components are not implemented by Switchboard",
  connections: "router connections are not implemented by Switchboard",
};

/** Keys of `realms[].options` that Switchboard rejects. */
export const REJECTED_REALM_OPTION_KEYS: Readonly<Record<string, string>> = {
  bridge_meta_api: "bridging the meta API is not supported by Switchboard",
  event_dispatching_chunk_size: "event_dispatching_chunk_size is not supported by Switchboard",
};

/** Keys of a permission that Switchboard rejects. */
export const REJECTED_PERMISSION_KEYS: Readonly<Record<string, string>> = {
  validate: 'payload validation ("validate") is not supported by Switchboard',
};

/** Crossbar transport types Switchboard does not implement yet. */
export const UNIMPLEMENTED_TRANSPORT_TYPES: Readonly<Record<string, string>> = reasons(
  ["mqtt", "flashpolicy", "stream_testee", "websocket.testee"],
  (type) =>
    `transport type ${
      JSON.stringify(type)
    } is not implemented yet; use "websocket", "web" or "rawsocket"`,
);

/** Keys of a WebSocket endpoint (a `websocket` transport or a `web` path) Switchboard rejects. */
export const REJECTED_WEBSOCKET_KEYS: Readonly<Record<string, string>> = {
  url: '"url" is not supported by Switchboard',
  debug: '"debug" is not supported by Switchboard',
};

/** Crossbar serializers Switchboard does not speak (the reason names those it does). */
export const UNSUPPORTED_SERIALIZERS: readonly string[] = ["flatbuffers"];

/**
 * Crossbar serializers a `serializers` list may name that Switchboard does not offer, each
 * with why: the endpoint serves the others listed, with one warning (a list of these alone is
 * an error).
 *
 * `ubjson` (`wamp.2.ubjson`, RawSocket serializer id 4): no maintained npm codec handles it
 * correctly (checked 2026-12 with Deno 2.9.6):
 * - `@jsonjoy.com/json-pack` 18.28.0 (maintained, releases through 2026-05; the latest,
 *   18.30.0, does not install: the registry has no `@jsonjoy.com/json-equal@18.30.0` for it)
 *   decodes plain arrays, `L` int64 and `[$U#` bytes, but never returns from a 9-byte
 *   optimized object `{$U#U\x01...` (a loop without end), grows an array for 13 s and 3 GB
 *   before failing on a typed array `[$i#U\x03...` or on the truncated 2 bytes `[U`, returns
 *   a raw extension object for a counted array `[#...`, yields `undefined` for the
 *   high-precision `H`, for a no-op `N` and for an unknown marker instead of failing, writes
 *   integers beyond 32 bits as float64 and `undefined` object members as a no-op in place of
 *   the value (py-ubjson rejects the result), and wraps a `bigint` beyond 64 bits silently;
 * - `@shelacek/ubjson` 1.1.1 (last release 2021-11 by its changelog, Bitbucket) decodes the
 *   optimized formats (int64 through a callback), but cannot write a `bigint` (throws), writes
 *   integers beyond 32 bits as floats (2^53 as a float32), rejects `H`, and the 9 bytes
 *   `[$Z#l\x7f\xff\xff\xff` keep it filling an array for 12 s and 1.2 GB before it fails;
 * - `ubjson` 0.0.8 (Sannis/node-ubjson, its only release) implements a pre-Draft-12 format
 *   (`A`/`O`/`E` containers, `i` = int16), which py-ubjson and Crossbar do not speak.
 * And the name no longer means one format: Autobahn|Python up to 25.12.2 (Debian's 22.7.1
 * included) sends UBJSON through py-ubjson, from 26.6.1 BJData through `bjdata`
 * (little-endian integers, `[$B` bytes) under the same subprotocol and id; the two cannot
 * decode each other (the WAMP test vectors carry both), and a router cannot tell from the
 * handshake which one a client speaks.
 */
export const NOT_OFFERED_SERIALIZERS: Readonly<Record<string, string>> = {
  ubjson: "no maintained npm codec handles UBJSON correctly: @jsonjoy.com/json-pack 18.28 " +
    "never returns on an optimized object, spends 13 s and 3 GB on a typed array or a " +
    "truncated 2-byte array before failing, and writes integers beyond 32 bits as floats; " +
    "@shelacek/ubjson 1.1.1 (last release 2021) cannot write 64-bit integers and spends 12 s " +
    "and 1.2 GB on a 9-byte optimized array before failing; ubjson 0.0.8 implements a " +
    "pre-Draft-12 format. And Autobahn|Python 26.6 and later sends BJData, which UBJSON " +
    "cannot decode, under the same name",
};

/** Crossbar authentication methods Switchboard does not implement yet (keys of `auth`). */
export const UNIMPLEMENTED_AUTH_METHODS: Readonly<Record<string, string>> = reasons(
  ["anonymous-proxy", "cryptosign-proxy"],
  (method) =>
    `authentication method ${JSON.stringify(method)} (Crossbar's proxy workers) is not implemented`,
);

// ---------------------------------------------------------------------------------------------
// The node shell

/**
 * Checks the node shell of `input` and returns what `parseRouter` makes of its one worker.
 *
 * Errors come in a fixed order: the document, its keys, `version`, `workers`, then the worker
 * (its `type`, its keys, `id`, then whatever `parseRouter` finds), and only then a second
 * worker.
 *
 * @param input The parsed JSON document.
 * @param parseRouter Parses the body of the router worker (at JSON path `path`), whose `type`
 * and keys have been checked.
 * @throws {ConfigError} For the first problem found, naming its JSON path.
 */
export function parseNode<T>(
  input: unknown,
  ctx: ParseContext,
  parseRouter: (worker: Obj, path: string) => T,
): T {
  const root = expectObject(input, ROOT);
  checkKeys(root, ROOT, { allowed: ["version", "workers"], rejected: REJECTED_NODE_KEYS }, ctx);
  if (has(root, "version")) {
    const version = root.version;
    if (version !== 2) {
      throw new ConfigError(
        "version",
        `must be 2 (Crossbar config version), got ${describe(version)}`,
      );
    }
  }
  const workers = expectArray(expectRequired(root, "workers", ROOT), "workers");
  if (workers.length === 0) {
    throw new ConfigError("workers", 'must contain exactly one worker of type "router", got none');
  }
  const result = parseWorker(workers[0], "workers[0]", ctx, parseRouter);
  if (workers.length > 1) {
    throw new ConfigError(
      "workers[1]",
      `only one worker (of type "router") is supported, got ${workers.length} workers`,
    );
  }
  return result;
}

/** The worker wrapper: `type` must be `router`; `id` is accepted and otherwise unused. */
function parseWorker<T>(
  value: unknown,
  path: string,
  ctx: ParseContext,
  parseRouter: (worker: Obj, path: string) => T,
): T {
  const worker = expectObject(value, path);
  const type = expectString(expectRequired(worker, "type", path), keyPath(path, "type"));
  if (type !== "router") {
    const reason = Object.hasOwn(UNIMPLEMENTED_WORKER_TYPES, type)
      ? UNIMPLEMENTED_WORKER_TYPES[type]!
      : `must be "router", got ${describe(type)}`;
    throw new ConfigError(keyPath(path, "type"), reason);
  }
  checkKeys(worker, path, {
    allowed: ["type", "id", "realms", "transports", "cluster"],
    rejected: REJECTED_WORKER_KEYS,
  }, ctx);
  if (has(worker, "id")) expectString(worker.id, keyPath(path, "id"));
  return parseRouter(worker, path);
}
