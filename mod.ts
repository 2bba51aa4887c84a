/**
 * Switchboard: a WAMP v2 router for Deno, to run on its own or embed in another program.
 *
 * Create a router from a Crossbar-shaped node config (validated like a config file), serve
 * its transports or mount its HTTP handler in your own `Deno.serve`, and open in-process
 * sessions that publish, subscribe, call and register without a socket.
 *
 * @example Embed a router and use it in-process
 * ```ts
 * import { createRouter } from "./mod.ts";
 *
 * const router = createRouter({
 *   version: 2,
 *   workers: [{
 *     type: "router",
 *     realms: [{
 *       name: "realm1",
 *       roles: [{
 *         name: "anonymous",
 *         permissions: [{
 *           uri: "",
 *           match: "prefix",
 *           allow: { call: true, register: true, publish: true, subscribe: true },
 *         }],
 *       }],
 *     }],
 *     transports: [],
 *   }],
 * });
 * const backend = await router.session("realm1");
 * await backend.register("com.example.add", ([a, b]) => (a as number) + (b as number));
 * const result = await backend.call("com.example.add", [2, 3]);
 * console.log(result.args[0]); // 5
 * await router.close();
 * ```
 *
 * @example Mount the WAMP endpoint inside your own server
 * ```ts ignore
 * import { createRouter } from "./mod.ts";
 * const router = createRouter(JSON.parse(await Deno.readTextFile("config.json")));
 * Deno.serve({ port: 8080 }, router.handler());
 * ```
 *
 * @module
 */

export { createRouter } from "./src/create_router.ts";
export { Router } from "./src/router/router.ts";
export { ClusterStartError } from "./src/router/extension.ts";
export type { Handler, Listener, LocalSessionOptions, RouterOptions } from "./src/router/router.ts";
export { applyOverrides, ConfigError, loadConfigFile, parseConfig } from "./src/config/config.ts";
export type {
  ConfigOverrides,
  ConfigWarning,
  EnvLookup,
  ParseOptions,
} from "./src/config/config.ts";
export type {
  Action,
  AnonymousAuthConfig,
  AuthConfig,
  AuthLimits,
  AuthMethod,
  BridgeConfig,
  ClusterConfig,
  CookieConfig,
  CraUser,
  CryptosignPrincipal,
  DynamicAuthenticator,
  EventHistoryConfig,
  MatchPolicy,
  Permission,
  PlainTcpEndpointConfig,
  RawSocketEndpointConfig,
  RawSocketTransportConfig,
  RealmConfig,
  RealmOptions,
  RoleConfig,
  RouterConfig,
  ScramCredential,
  ScramKdf,
  ScramPrincipal,
  StatsConfig,
  TcpEndpointConfig,
  TicketPrincipal,
  TlsConfig,
  TlsPrincipal,
  TransportConfig,
  UniversalTransportConfig,
  WebServicesConfig,
  WebSocketEndpointConfig,
  WebSocketTransportConfig,
  WebTransportConfig,
} from "./src/config/types.ts";
export { CallResult, WampClient } from "./src/client.ts";
export type {
  ClientRegistration,
  ClientSubscription,
  EventHandler,
  Procedure,
} from "./src/client.ts";
export { ProtocolError, WampError } from "./src/wamp/errors.ts";
export { Uri } from "./src/wamp/uris.ts";
export type {
  Abort,
  Args,
  Authenticate,
  Call,
  Cancel,
  Challenge,
  Dict,
  ErrorMessage,
  Event,
  Goodbye,
  Hello,
  Interrupt,
  Invocation,
  Kwargs,
  Message,
  Payload as MessagePayload,
  Publish,
  Published,
  Register,
  Registered,
  Result,
  Subscribe,
  Subscribed,
  Unregister,
  Unregistered,
  Unsubscribe,
  Unsubscribed,
  Welcome,
  Yield,
} from "./src/wamp/messages.ts";
export { MessageType } from "./src/wamp/message_type.ts";
export { consoleLogger, isLogLevel, jsonLogger, silentLogger } from "./src/log.ts";
export type { Logger, LogLevel } from "./src/log.ts";
export { FakeClock, systemClock } from "./src/clock.ts";
export type { Clock, TimerId } from "./src/clock.ts";
export type { StatsSnapshot } from "./src/stats/session_stats.ts";
export type { Payload, Serializer, SerializerName } from "./src/serializer/serializer.ts";
