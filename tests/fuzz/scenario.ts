/**
 * The world the fuzzer is written against: two realms, the principals of every auth method, the
 * bystander's URIs, realm2's dynamic authorizer, and the router config that sets them up. The
 * generators aim at these names; the router running the config is a parameter (a
 * {@linkcode FuzzTarget} and its {@linkcode Endpoint}).
 *
 * @module
 */

import type { Listener } from "../../mod.ts";
import { WampError } from "../../src/wamp/errors.ts";
import type { Endpoint } from "./target.ts";

/** The realms of the config, for the leak check: realm1 (guarded, the bystander's) and realm2
 * (strict URIs, statistics, sessions may kill each other, a dynamic authorizer). */
export const REALMS: readonly string[] = ["realm1", "realm2"];

export const TICKET = "alice-ticket";
export const CRA_SECRET = "carol-secret";

export const BYSTANDER_TOPIC = "com.bystander.topic";
export const BYSTANDER_PROC = "com.bystander.echo";

/** The URI realm2's authorizer is registered at. */
export const AUTHORIZER = "com.fuzz.authorize";

/** The `max_message_size` of both transports. */
const MAX_MESSAGE_SIZE = 1024 * 1024;

const ALL = { call: true, register: true, publish: true, subscribe: true };
const NONE = { call: false, register: false, publish: false, subscribe: false };
/** realm1: everything, except the meta procedures that end or strip other sessions (they would
 * legitimately hit the bystander). realm2 allows those too: fuzz sessions there may kill each
 * other. */
const GUARDED = [
  { uri: "", match: "prefix", allow: ALL },
  { uri: "wamp.session.kill", match: "prefix", allow: NONE },
  { uri: "wamp.subscription.remove_subscriber", match: "exact", allow: NONE },
  { uri: "wamp.registration.remove_callee", match: "exact", allow: NONE },
];
const OPEN = [{ uri: "", match: "prefix", allow: ALL }];

/** The dynamic authorizer of realm2: allows, denies, caches, answers nonsense or fails, by URI. */
export function authorize(args: unknown[]): unknown {
  const [, uri, action] = args as [unknown, string, string];
  let h = 7;
  for (const c of `${action} ${uri}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  switch (h % 7) {
    case 0:
      return false;
    case 1:
      return { allow: true, cache: true };
    case 2:
      return { allow: false, cache: true, disclose: true };
    case 3:
      return "yes";
    case 4:
      throw new WampError("com.fuzz.authorizer_failed", "no decision");
    default:
      return true;
  }
}

/** The node config: realm1 and realm2 on a WebSocket and a RawSocket transport on 127.0.0.1,
 * with `moreOptions` added to both transports' options. */
export function fuzzConfig(cryptosignKey: string, moreOptions: Record<string, unknown> = {}) {
  const auth = {
    anonymous: { type: "static", role: "anonymous" },
    ticket: { type: "static", principals: { alice: { ticket: TICKET, role: "user" } } },
    wampcra: { type: "static", users: { carol: { secret: CRA_SECRET, role: "user" } } },
    cryptosign: {
      type: "static",
      principals: { dave: { authorized_keys: [cryptosignKey], role: "user" } },
    },
  };
  const options = {
    max_message_size: MAX_MESSAGE_SIZE,
    auth_max_failures: 1_000_000,
    // no keepalive timers: the leak check expects no armed timer once the fuzz sessions are
    // gone (the bystander stays connected)
    auto_ping_interval: 0,
    ...moreOptions,
  };
  const serializers = ["json", "msgpack", "cbor"];
  const store = {
    type: "memory",
    "event-history": [{ uri: "com.", match: "prefix", limit: 4 }, { uri: "com.fuzz.topic" }],
  };
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [
        {
          name: "realm1",
          roles: [{ name: "anonymous", permissions: GUARDED }, {
            name: "user",
            permissions: GUARDED,
          }],
          store,
        },
        {
          name: "realm2",
          // authenticated sessions in realm2 go through a dynamic authorizer (see AUTHORIZER)
          roles: [{ name: "anonymous", permissions: OPEN }, {
            name: "user",
            authorizer: AUTHORIZER,
          }],
          options: { uri_check: "strict" },
          stats: { trigger_after_rated_messages: 3 },
          store,
        },
      ],
      transports: [
        {
          type: "web",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          paths: { ws: { type: "websocket", serializers, auth, options } },
        },
        {
          type: "rawsocket",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          serializers,
          auth,
          options,
        },
      ],
    }],
  };
}

/** The endpoint of a router serving {@linkcode fuzzConfig} (its web transport, then its
 * RawSocket transport). */
export function fuzzEndpoint(listeners: readonly Listener[], waitMs: number): Endpoint {
  return {
    wsUrl: listeners[0]!.urls[0]!,
    rsHost: "127.0.0.1",
    rsPort: listeners[1]!.port,
    maxMessageSize: MAX_MESSAGE_SIZE,
    waitMs,
  };
}
