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
export const UNSUPPORTED_SERIALIZERS: readonly string[] = ["ubjson", "flatbuffers"];

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
    allowed: ["type", "id", "realms", "transports"],
    rejected: REJECTED_WORKER_KEYS,
  }, ctx);
  if (has(worker, "id")) expectString(worker.id, keyPath(path, "id"));
  return parseRouter(worker, path);
}
