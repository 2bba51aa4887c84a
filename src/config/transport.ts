/**
 * Transports: `websocket`, `web` (named WebSocket paths, HTTP bridge paths, metrics and
 * status), `rawsocket` and `universal`; their endpoints (TCP with optional TLS, Unix sockets,
 * `max_connections`) and the check that no two transports listen on the same address. Each
 * resolves to its variant of the {@link TransportConfig} union. The WAMP endpoint settings
 * inside them are parsed by `websocket_endpoint.ts`.
 *
 * Pure functions, no I/O: TLS files are named here and read when serving.
 *
 * @module
 */

import { withResolvedPaths } from "./endpoint_paths.ts";
import {
  IGNORED_ENDPOINT_DEBUG,
  IGNORED_ENDPOINT_KEYS,
  NOT_SERVED_PATH_TYPES,
  REJECTED_WEBSOCKET_KEYS,
  UNIMPLEMENTED_TRANSPORT_TYPES,
} from "./crossbar.ts";
import { DEFAULT_INTERFACE, DEFAULT_IP_VERSION, DEFAULT_MAX_CONNECTIONS } from "./defaults.ts";
import { parseServicePaths, SERVICE_KEYS } from "./service_paths.ts";
import {
  checkKeys,
  ConfigError,
  describe,
  expectArray,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectRequired,
  expectString,
  has,
  indexPath,
  keyPath,
  type Obj,
  type ParseContext,
  resolvePath,
} from "./kit.ts";
import { checkTlsAuth } from "./auth.ts";
import { checkEndpointCollisions } from "./collisions.ts";
import { refuse } from "./refused.ts";
import { parseBridge } from "./bridge.ts";
import { parseWebService, WEB_SERVICE_TYPES } from "./web_services.ts";
import type {
  BridgeConfig,
  RawSocketEndpointConfig,
  RawSocketTransportConfig,
  TcpEndpointConfig,
  TlsConfig,
  TransportConfig,
  UniversalTransportConfig,
  WebServiceConfig,
  WebServicesConfig,
  WebSocketEndpointConfig,
  WebSocketTransportConfig,
  WebTransportConfig,
} from "./types.ts";
import { parseWebSocketEndpoint, WEBSOCKET_KEYS } from "./websocket_endpoint.ts";

/** A `web` transport path key: one segment without slashes (or `/` for the root). */
const WEB_PATH_SEGMENT = /^[A-Za-z0-9_\-]+$/;

/**
 * `transports`: each transport, no two on the same address.
 *
 * @param list The `transports` array.
 * @param path Its JSON path.
 * @param env Looks up `"$NAME"` secrets of the transports' `auth` blocks.
 */
export function parseTransports(
  list: readonly unknown[],
  path: string,
  ctx: ParseContext,
): TransportConfig[] {
  const transports = list.map((item, i) => parseTransport(item, indexPath(path, i), ctx));
  checkEndpointCollisions(transports, path);
  return transports;
}

/** One transport, its endpoint's files and sockets resolved (`endpoint_paths.ts`). */
function parseTransport(value: unknown, path: string, ctx: ParseContext): TransportConfig {
  return withResolvedPaths(parseTransportOfType(value, path, ctx), ctx);
}

function parseTransportOfType(value: unknown, path: string, ctx: ParseContext): TransportConfig {
  const transport = expectObject(value, path);
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(transport, "type", path), typePath);
  if (type === "universal") return parseUniversal(transport, path, ctx);
  if (type === "mqtt") throw refuse(typePath, "mqtt transport");
  if (type !== "websocket" && type !== "web" && type !== "rawsocket") {
    const reason = Object.hasOwn(UNIMPLEMENTED_TRANSPORT_TYPES, type)
      ? UNIMPLEMENTED_TRANSPORT_TYPES[type]!
      : `must be "websocket", "web" or "rawsocket", got ${describe(type)}`;
    throw new ConfigError(typePath, reason);
  }
  if (type === "rawsocket") return parseRawSocket(transport, path, ctx);
  if (type === "websocket") return parseWebSocketTransport(transport, path, ctx);
  return parseWeb(transport, path, ctx);
}

/** `{"type": "rawsocket", "endpoint", "serializers"?, "auth"?, "options"?}`. */
function parseRawSocket(transport: Obj, path: string, ctx: ParseContext): RawSocketTransportConfig {
  checkKeys(transport, path, {
    allowed: ["type", "id", "endpoint", "serializers", "auth", "options"],
    ignored: IGNORED_ENDPOINT_DEBUG,
  }, ctx);
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = withoutClientCertificates(
    parseEndpoint(
      expectRequired(transport, "endpoint", path),
      keyPath(path, "endpoint"),
      ctx,
      true,
    ),
    path,
    "rawsocket",
  );
  const rawsocket = parseWebSocketEndpoint(transport, path, ctx, "rawsocket");
  checkTlsAuth([[path, rawsocket]], null, path);
  return { type: "rawsocket", endpoint, websocket: null, rawsocket };
}

/** `{"type": "websocket", "endpoint", "serializers"?, "auth"?, "options"?}`. */
function parseWebSocketTransport(
  transport: Obj,
  path: string,
  ctx: ParseContext,
): WebSocketTransportConfig {
  checkKeys(transport, path, {
    allowed: ["type", "id", "endpoint", ...WEBSOCKET_KEYS],
    rejected: REJECTED_WEBSOCKET_KEYS,
    ignored: IGNORED_ENDPOINT_DEBUG,
  }, ctx);
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = parseEndpoint(
    expectRequired(transport, "endpoint", path),
    keyPath(path, "endpoint"),
    ctx,
  );
  const websocket = parseWebSocketEndpoint(transport, path, ctx);
  checkTlsAuth([[path, websocket]], endpoint.tls, path);
  return { type: "websocket", endpoint, websocket, paths: new Map<string, never>() };
}

/** `{"type": "web", "endpoint", "paths", "metrics"?, "status"?, "healthz"?, "readyz"?}`. */
function parseWeb(transport: Obj, path: string, ctx: ParseContext): WebTransportConfig {
  checkKeys(transport, path, {
    allowed: ["type", "id", "endpoint", "paths", ...SERVICE_KEYS],
  });
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = parseEndpoint(
    expectRequired(transport, "endpoint", path),
    keyPath(path, "endpoint"),
    ctx,
  );
  const { paths, bridges, services } = parseWebPaths(transport, path, ctx);
  checkTlsAuth(
    [...paths].map(([key, e]) => [keyPath(keyPath(path, "paths"), key || "/"), e] as const),
    endpoint.tls,
    path,
  );
  return {
    type: "web",
    endpoint,
    websocket: null,
    paths,
    bridges,
    services,
    ...parseServicePaths(transport, path, paths, bridges, services),
  };
}

/**
 * `endpoint`: `{type: "tcp", port, interface?, version?, tls?, max_connections?}`, or with
 * `unixAllowed` (RawSocket) also `{type: "unix", path, max_connections?}`. Without `interface`
 * the transport listens on all interfaces, as Crossbar does: `0.0.0.0`, or `::` when
 * `version` is 6.
 */
function parseEndpoint(value: unknown, path: string, ctx: ParseContext): TcpEndpointConfig;
function parseEndpoint(
  value: unknown,
  path: string,
  ctx: ParseContext,
  unixAllowed: true,
): TcpEndpointConfig | RawSocketEndpointConfig;
function parseEndpoint(
  value: unknown,
  path: string,
  ctx: ParseContext,
  unixAllowed = false,
): TcpEndpointConfig | RawSocketEndpointConfig {
  const endpoint = expectObject(value, path);
  const typePath = keyPath(path, "type");
  const type = expectString(expectRequired(endpoint, "type", path), typePath);
  if (type === "unix" && unixAllowed) {
    checkKeys(endpoint, path, {
      allowed: ["type", "path", "max_connections"],
      ignored: IGNORED_ENDPOINT_KEYS,
    }, ctx);
    const socketPath = expectNonEmptyString(
      expectRequired(endpoint, "path", path),
      keyPath(path, "path"),
    );
    return {
      host: "",
      port: 0,
      tls: null,
      unix: socketPath,
      max_connections: maxConnections(endpoint, path),
    };
  }
  if (type !== "tcp") {
    const reason = type === "unix"
      ? 'endpoint type "unix" is only available for rawsocket transports; use "tcp"'
      : `must be "tcp"${unixAllowed ? ' or "unix"' : ""}, got ${describe(type)}`;
    throw new ConfigError(typePath, reason);
  }
  checkKeys(endpoint, path, {
    allowed: ["type", "port", "interface", "version", "tls", "max_connections"],
    ignored: IGNORED_ENDPOINT_KEYS,
  }, ctx);
  const port = checkPort(expectRequired(endpoint, "port", path), keyPath(path, "port"));
  let version: 4 | 6 = DEFAULT_IP_VERSION;
  if (has(endpoint, "version")) {
    const v = endpoint.version;
    if (v !== 4 && v !== 6) {
      throw new ConfigError(keyPath(path, "version"), `must be 4 or 6, got ${describe(v)}`);
    }
    version = v;
  }
  const host = has(endpoint, "interface")
    ? expectNonEmptyString(endpoint.interface, keyPath(path, "interface"))
    : DEFAULT_INTERFACE[version];
  const tls = has(endpoint, "tls") ? parseTls(endpoint.tls, keyPath(path, "tls"), ctx) : null;
  return { host, port, tls, max_connections: maxConnections(endpoint, path) };
}

/**
 * `endpoint` of a `rawsocket` or `universal` transport: TLS works, but not with
 * `ca_certificates` (client certificates are asked for by the HTTP side's own TLS, which
 * RawSocket and the universal port's first-octet sniffing do not go through).
 *
 * @param endpoint The parsed endpoint.
 * @param path The transport's JSON path.
 * @param type The transport type, for the reason.
 */
function withoutClientCertificates<E extends TcpEndpointConfig>(
  endpoint: E,
  path: string,
  type: string,
): E {
  if (endpoint.tls?.ca_certificates) {
    throw new ConfigError(
      keyPath(keyPath(keyPath(path, "endpoint"), "tls"), "ca_certificates"),
      `client certificates (ca_certificates, for tls authentication) are only available on ` +
        `websocket and web transports, not on ${type} transports`,
    );
  }
  return endpoint;
}

/** `endpoint.max_connections`: a positive integer, default 10000. */
function maxConnections(endpoint: Obj, path: string): number {
  if (!has(endpoint, "max_connections")) return DEFAULT_MAX_CONNECTIONS;
  const keyed = keyPath(path, "max_connections");
  const n = expectInteger(endpoint.max_connections, keyed);
  if (n < 1) throw new ConfigError(keyed, `must be a positive number of connections, got ${n}`);
  return n;
}

/**
 * `endpoint.tls`: `{"certificate": "<PEM file>", "key": "<PEM file>"}`, `chain_certificates`
 * (PEM intermediates sent after the leaf), and `ca_certificates` (PEM files) to require client
 * certificates that chain to them (all read when serving). `dhparam` and `ciphers` are
 * accepted with a warning: Deno's TLS (rustls) chooses the key exchange and cipher suites.
 */
function parseTls(value: unknown, path: string, ctx: ParseContext): TlsConfig {
  const tls = expectObject(value, path);
  checkKeys(tls, path, {
    allowed: ["certificate", "key", "ca_certificates", "chain_certificates"],
    ignored: {
      dhparam: "Switchboard's TLS (Deno's rustls) uses ECDHE key exchange with its own " +
        "groups and no finite-field Diffie-Hellman parameters; the file is not read",
      ciphers: "Switchboard's TLS (Deno's rustls) offers its own fixed list of modern cipher " +
        "suites (TLS 1.2 and 1.3); this list is not used",
    },
  }, ctx);
  for (const key of ["dhparam", "ciphers"]) {
    if (has(tls, key)) expectString(tls[key], keyPath(path, key));
  }
  const certificate = expectNonEmptyString(
    expectRequired(tls, "certificate", path),
    keyPath(path, "certificate"),
  );
  const key = expectNonEmptyString(expectRequired(tls, "key", path), keyPath(path, "key"));
  const files = (name: string): string[] | undefined => {
    if (!has(tls, name)) return undefined;
    const listPath = keyPath(path, name);
    const list = expectArray(tls[name], listPath).map((v, i) =>
      expectNonEmptyString(v, indexPath(listPath, i))
    );
    if (list.length === 0) {
      throw new ConfigError(listPath, "must list at least one certificate file");
    }
    return list;
  };
  const chain = files("chain_certificates")?.map((file) => resolvePath(ctx, file));
  const cas = files("ca_certificates");
  return {
    certificate,
    key,
    ...(chain ? { chain_certificates: chain } : {}),
    ...(cas ? { ca_certificates: cas } : {}),
  };
}

/**
 * A port: an integer 0..65535 (0 = any free port), or a ConfigError at `path`.
 *
 * @param value The value found.
 * @param path Its JSON path (or `(override).port`).
 */
export function checkPort(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(
      path,
      `must be an integer port between 0 and 65535 (0 = any free port), got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * `paths` of a `web` transport: key = one path segment without slashes (`/` = the root, resolved
 * as the empty string), value = a WebSocket endpoint with `type: "websocket"`.
 */
function parseWebPaths(
  transport: Obj,
  path: string,
  ctx: ParseContext,
  itemPathOf: (key: string) => string = (key) => keyPath(keyPath(path, "paths"), key),
): Pick<WebServicesConfig, "paths" | "bridges" | "services"> {
  const pathsPath = keyPath(path, "paths");
  const paths = expectObject(expectRequired(transport, "paths", path), pathsPath);
  const result = new Map<string, WebSocketEndpointConfig>();
  const bridges = new Map<string, BridgeConfig>();
  const services = new Map<string, WebServiceConfig>();
  for (const key of Object.keys(paths)) {
    const itemPath = itemPathOf(key);
    if (key !== "/" && !WEB_PATH_SEGMENT.test(key)) {
      throw new ConfigError(
        itemPath,
        `invalid path ${
          JSON.stringify(key)
        }: must be "/" or one path segment of letters, digits, "-" and "_"`,
      );
    }
    const service = expectObject(paths[key], itemPath);
    const typePath = keyPath(itemPath, "type");
    const type = expectString(expectRequired(service, "type", itemPath), typePath);
    if (type === "publisher" || type === "caller") {
      bridges.set(key === "/" ? "" : key, parseBridge(service, itemPath, type, ctx));
      continue;
    }
    if (type === "wsgi") throw refuse(typePath, "wsgi web path");
    if (type === "resource") throw refuse(typePath, "python web resource");
    if (Object.hasOwn(NOT_SERVED_PATH_TYPES, type)) {
      ctx.warn(itemPath, NOT_SERVED_PATH_TYPES[type]!);
      continue;
    }
    if (WEB_SERVICE_TYPES.includes(type)) {
      services.set(key === "/" ? "" : key, parseWebService(service, itemPath, ctx));
      continue;
    }
    if (type !== "websocket") {
      throw new ConfigError(typePath, `path type ${JSON.stringify(type)} is not implemented yet`);
    }
    checkKeys(service, itemPath, {
      allowed: ["type", ...WEBSOCKET_KEYS],
      rejected: REJECTED_WEBSOCKET_KEYS,
      ignored: IGNORED_ENDPOINT_DEBUG,
    }, ctx);
    result.set(key === "/" ? "" : key, parseWebSocketEndpoint(service, itemPath, ctx));
  }
  if (result.size === 0 && bridges.size === 0 && services.size === 0) {
    throw new ConfigError(
      pathsPath,
      "must contain at least one websocket, publisher, caller, static, redirect, json or " +
        "nodeinfo path, got none",
    );
  }
  return { paths: result, bridges, services };
}

/**
 * `universal`: RawSocket and HTTP/WebSocket on one port, told apart by the first octet
 * (Crossbar's shape: `rawsocket` endpoint settings, `websocket` paths, `web.paths` services).
 */
function parseUniversal(transport: Obj, path: string, ctx: ParseContext): UniversalTransportConfig {
  if (has(transport, "mqtt")) throw refuse(keyPath(path, "mqtt"), "mqtt transport");
  checkKeys(transport, path, {
    allowed: ["type", "id", "endpoint", "rawsocket", "websocket", "web", ...SERVICE_KEYS],
  });
  if (has(transport, "id")) expectString(transport.id, keyPath(path, "id"));
  const endpoint = withoutClientCertificates(
    parseEndpoint(expectRequired(transport, "endpoint", path), keyPath(path, "endpoint"), ctx),
    path,
    "universal",
  );
  let rawsocket: WebSocketEndpointConfig | null = null;
  if (has(transport, "rawsocket")) {
    const rsPath = keyPath(path, "rawsocket");
    const rs = expectObject(transport.rawsocket, rsPath);
    checkKeys(rs, rsPath, {
      allowed: ["serializers", "auth", "options"],
      ignored: IGNORED_ENDPOINT_DEBUG,
    }, ctx);
    rawsocket = parseWebSocketEndpoint(rs, rsPath, ctx, "rawsocket");
  }
  // `websocket` is a map of paths like a web transport's `paths` of type websocket
  const wsPaths: Record<string, unknown> = {};
  if (has(transport, "websocket")) {
    const wsPath = keyPath(path, "websocket");
    const ws = expectObject(transport.websocket, wsPath);
    for (const key of Object.keys(ws)) {
      const item = expectObject(ws[key], keyPath(wsPath, key));
      wsPaths[key] = { type: "websocket", ...item };
    }
  }
  let webPaths: Obj = {};
  if (has(transport, "web")) {
    const webPath = keyPath(path, "web");
    const web = expectObject(transport.web, webPath);
    checkKeys(web, webPath, { allowed: ["paths"] });
    webPaths = has(web, "paths") ? expectObject(web.paths, keyPath(webPath, "paths")) : {};
  }
  // errors and warnings name each path where the file has it: `websocket.<key>` or
  // `web.paths.<key>`, never the merged map they are parsed from
  const itemPathOf = (key: string) =>
    Object.hasOwn(wsPaths, key)
      ? keyPath(keyPath(path, "websocket"), key)
      : keyPath(keyPath(keyPath(path, "web"), "paths"), key);
  for (const key of Object.keys(webPaths)) {
    if (Object.hasOwn(wsPaths, key)) {
      throw new ConfigError(
        keyPath(keyPath(keyPath(path, "web"), "paths"), key),
        `path "${key}" is also a websocket path`,
      );
    }
  }
  const merged = { ...wsPaths, ...webPaths };
  let paths: ReadonlyMap<string, WebSocketEndpointConfig> = new Map();
  let bridges: ReadonlyMap<string, BridgeConfig> = new Map();
  let services: ReadonlyMap<string, WebServiceConfig> = new Map();
  if (Object.keys(merged).length > 0) {
    ({ paths, bridges, services } = parseWebPaths({ paths: merged }, path, ctx, itemPathOf));
  }
  if (!rawsocket && paths.size === 0 && bridges.size === 0 && services.size === 0) {
    throw new ConfigError(
      path,
      "a universal transport needs rawsocket settings or at least one path",
    );
  }
  checkTlsAuth(
    [
      ...(rawsocket ? [[keyPath(path, "rawsocket"), rawsocket] as const] : []),
      ...[...paths].map(([key, e]) => [itemPathOf(key || "/"), e] as const),
    ],
    null,
    path,
  );
  return {
    type: "universal",
    endpoint,
    websocket: null,
    rawsocket,
    paths,
    bridges,
    services,
    ...parseServicePaths(transport, path, paths, bridges, services),
  };
}
