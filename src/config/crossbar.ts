/**
 * The Crossbar node shell around the router worker, and every part of Crossbar's node config
 * that Switchboard rejects or does not implement, with the reason a config gets for it.
 *
 * The shell is `{"version"?: 2, "workers": [{"type": "router", "id"?: string, ...}]}` with
 * one worker of type `router` (others accepted with a warning, see {@link parseNode});
 * {@link parseNode} checks it and hands the worker object to the parser of its body (realms
 * and transports), so this module depends on the validation kit only and the realm,
 * transport and auth parsers can take their tables of rejected keys from here. Pure
 * functions, no I/O.
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
  indexPath,
  isObject,
  keyPath,
  type Obj,
  oneOf,
  type ParseContext,
  ROOT,
} from "./kit.ts";

/** `reasons(names, why)`: each name → `why(name)`. */
function reasons(names: readonly string[], why: (name: string) => string): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, why(name)]));
}

// ---------------------------------------------------------------------------------------------
// What Switchboard rejects, with the reasons

/**
 * Keys of the node config itself accepted with one warning: what Switchboard does instead.
 */
export const IGNORED_NODE_KEYS: Readonly<Record<string, string>> = {
  $schema: "ignored: a JSON Schema reference for editors, with no meaning to the router",
  controller: "ignored: Switchboard has no node controller (no management API, no fabric " +
    "uplink, no node id); one process serves the router worker of this file",
};

/**
 * Crossbar worker types that run application code or tools rather than route: accepted with
 * one warning each, since their part of a Crossbar node is a process of its own.
 */
export const UNHOSTED_WORKER_TYPES: readonly string[] = [
  "container",
  "guest",
  "proxy",
  "websocket-testee",
];

/** Crossbar worker types Switchboard refuses (Crossbar FX services). */
export const UNIMPLEMENTED_WORKER_TYPES: Readonly<Record<string, string>> = reasons(
  ["xbrmm", "hostmonitor", "marketplace"],
  (type) =>
    `worker type ${JSON.stringify(type)} is not implemented by Switchboard; only "router" is`,
);

/** Keys of a router worker accepted with one warning: what Switchboard does instead. */
export const IGNORED_WORKER_KEYS: Readonly<Record<string, string>> = {
  options: "ignored: worker process options (title, pythonpath, cpu_affinity, env, " +
    "reactor, ...) do not apply; Switchboard runs the router in its own single process",
  components: "not hosted by Switchboard: router components run application code inside " +
    "Crossbar's router process; run each as a separate process or client",
  connections: "ignored: router connections serve router components (e.g. database " +
    "connections), which Switchboard does not host",
};

/** Keys of a listening `endpoint` accepted with one warning: what Switchboard does instead. */
export const IGNORED_ENDPOINT_KEYS: Readonly<Record<string, string>> = {
  backlog: "ignored: Deno chooses the listen backlog",
  shared: "ignored: the port is not shared with other processes; one Switchboard process " +
    "serves every connection on it",
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
  ["flashpolicy", "stream_testee", "websocket.testee"],
  (type) =>
    `transport type ${
      JSON.stringify(type)
    } is not implemented yet; use "websocket", "web" or "rawsocket"`,
);

/** Keys of a WebSocket endpoint (a `websocket` transport or a `web` path) Switchboard rejects. */
export const REJECTED_WEBSOCKET_KEYS: Readonly<Record<string, string>> = {
  url: '"url" is not supported by Switchboard',
};

/**
 * Keys of a WAMP endpoint (a `websocket` or `rawsocket` transport, a `websocket` path)
 * accepted with one warning: what Switchboard does instead.
 */
export const IGNORED_ENDPOINT_DEBUG: Readonly<Record<string, string>> = {
  debug: "ignored: Switchboard has no per-transport debug output; run it with " +
    "--log-level debug",
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

/**
 * Crossbar authentication methods (keys of `auth`) accepted with one warning and not offered:
 * only Crossbar's proxy workers, which Switchboard does not host, authenticate with them. An
 * endpoint left with no other method admits nobody (every HELLO gets ABORT
 * `wamp.error.no_auth_method`).
 */
export const IGNORED_AUTH_METHODS: Readonly<Record<string, string>> = reasons(
  ["anonymous-proxy", "cryptosign-proxy"],
  (method) =>
    `not offered: Crossbar's proxy workers (not hosted by Switchboard) authenticate the ` +
    `clients they forward with ${JSON.stringify(method)}; clients connect to Switchboard ` +
    "directly, with the endpoint's other methods",
);

/**
 * Web path types accepted with one warning and not served (HTTP 404 there): what Switchboard
 * does instead. (`wsgi` and `resource`, Python code, are refused: see `refused.ts`.)
 */
export const NOT_SERVED_PATH_TYPES: Readonly<Record<string, string>> = {
  longpoll: "not served (HTTP 404): WAMP over HTTP long-poll is not implemented; clients " +
    "that also offer WebSocket (AutobahnJS tries its transports in order) use that",
  archive: "not served (HTTP 404): serving files out of a ZIP archive is not implemented; " +
    'unpack it and serve the directory with a "static" path',
  upload: "not served (HTTP 404): HTTP file uploads are not implemented",
  webhook: 'not served (HTTP 404): webhooks are not implemented; a "publisher" path ' +
    "publishes what is POSTed to it",
  wap: "not served (HTTP 404): WAP pages (templates rendered from WAMP calls) are not " +
    "implemented",
  "websocket-reverseproxy": "not served (HTTP 404): reverse proxying is not implemented; " +
    "put a reverse proxy in front of Switchboard",
  reverseproxy: "not served (HTTP 404): reverse proxying is not implemented; put a reverse " +
    "proxy in front of Switchboard",
  cgi: "not served (HTTP 404): CGI scripts are not run by Switchboard",
};

// ---------------------------------------------------------------------------------------------
// The node shell

/**
 * Checks the node shell of `input` and returns what `parseRouter` makes of its router worker.
 *
 * Workers are read in order. Those of a type that runs application code (see
 * {@link UNHOSTED_WORKER_TYPES}) are accepted with one warning each (a config of only such
 * workers gives a router with no realms and no transports), and so is a router
 * worker that is a copy of the first one (Crossbar's way of using more CPU cores: several
 * router processes sharing the same ports); any other further router worker is an error,
 * since Crossbar runs it as a process of its own, with realms of its own.
 *
 * @param input The parsed JSON document.
 * @param ctx Collects the warnings.
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
  checkKeys(root, ROOT, { allowed: ["version", "workers"], ignored: IGNORED_NODE_KEYS }, ctx);
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
  let router: { result: T; path: string; shape: string } | null = null;
  workers.forEach((value, i) => {
    const path = indexPath("workers", i);
    const worker = expectObject(value, path);
    const type = expectString(expectRequired(worker, "type", path), keyPath(path, "type"));
    if (UNHOSTED_WORKER_TYPES.includes(type)) {
      ctx.warn(
        path,
        `not hosted by Switchboard: a ${JSON.stringify(type)} worker is a process of its own ` +
          "in Crossbar; run it as a separate process or client",
      );
      return;
    }
    if (type !== "router") {
      const reason = Object.hasOwn(UNIMPLEMENTED_WORKER_TYPES, type)
        ? UNIMPLEMENTED_WORKER_TYPES[type]!
        : `must be "router", ${oneOf(UNHOSTED_WORKER_TYPES)}, got ${describe(type)}`;
      throw new ConfigError(keyPath(path, "type"), reason);
    }
    if (router === null) {
      router = { result: parseWorker(worker, path, ctx, parseRouter), path, shape: shape(worker) };
      return;
    }
    if (shape(worker) !== router.shape) {
      throw new ConfigError(
        path,
        `a second router worker is not supported: Crossbar runs each router worker as a ` +
          `process of its own, with realms of its own; Switchboard serves one (${router.path}). ` +
          `Run a second Switchboard with a config of its own, or make this worker a copy of ` +
          `${router.path} (the same realms and transports) to have it served once`,
      );
    }
    ctx.warn(
      path,
      `a copy of ${router.path} (the same realms and transports; Crossbar runs it as one more ` +
        `process sharing its ports, to use more CPU cores): Switchboard serves ${router.path} ` +
        "once, in one process",
    );
  });
  if (router === null) {
    if (workers.length === 0) {
      throw new ConfigError("workers", 'must contain a worker of type "router", got none');
    }
    // only workers Switchboard does not host, each warned about: a router with nothing to serve
    return parseRouter({}, "workers");
  }
  return (router as { result: T }).result;
}

/** What must be equal for a router worker to be a copy of another: all but `id`, `options`. */
function shape(worker: Obj): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (isObject(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
    }
    return v;
  };
  const { id: _id, options: _options, ...rest } = worker;
  return JSON.stringify(canonical(rest));
}

/** The router worker: its keys checked, `id` a string. */
function parseWorker<T>(
  worker: Obj,
  path: string,
  ctx: ParseContext,
  parseRouter: (worker: Obj, path: string) => T,
): T {
  checkKeys(worker, path, {
    allowed: ["type", "id", "realms", "transports", "cluster"],
    ignored: IGNORED_WORKER_KEYS,
  }, ctx);
  if (has(worker, "id")) expectString(worker.id, keyPath(path, "id"));
  return parseRouter(worker, path);
}
