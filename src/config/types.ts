/**
 * The resolved router configuration: what `parseConfig` returns after validating a
 * Crossbar-shaped node config (`{"version": 2, "workers": [{"type": "router", ...}]}`).
 * Every field is filled in with its default; the core never sees the raw JSON.
 *
 * @module
 */

import type { SerializerName } from "../serializer/serializer.ts";

/** The actions a permission can allow. */
export type Action = "call" | "register" | "publish" | "subscribe";

/** URI matching policy of a permission, subscription or registration. */
export type MatchPolicy = "exact" | "prefix" | "wildcard";

/** One permission rule of a role (Crossbar's shape, starred URIs already resolved). */
export interface Permission {
  /** The URI or pattern (for `prefix` the text to prefix-match, for `wildcard` empty components match any). */
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly allow: Readonly<Record<Action, boolean>>;
  readonly disclose: { readonly caller: boolean; readonly publisher: boolean };
  readonly cache: boolean;
}

/** A role of a realm. */
export interface RoleConfig {
  readonly name: string;
  readonly permissions: readonly Permission[];
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
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly limit: number;
}

/** One realm. */
export interface RealmConfig {
  readonly name: string;
  readonly roles: readonly RoleConfig[];
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

/** A WebSocket endpoint: a `websocket` transport, or one `websocket` path of a `web` transport. */
export interface WebSocketEndpointConfig {
  /** Serializers offered, in the router's preference order; default all three. */
  readonly serializers: readonly SerializerName[];
  /** Methods allowed; with no `auth` block only anonymous with role `anonymous`. */
  readonly auth: { readonly anonymous: AnonymousAuthConfig | null };
  /** Largest accepted incoming WAMP message in bytes; default 16 MiB. */
  readonly max_message_size: number;
}

/** One listening transport. */
export interface TransportConfig {
  /** `websocket`: WAMP on any path; `web`: WAMP on the named paths, 404 elsewhere. */
  readonly type: "websocket" | "web";
  readonly endpoint: { readonly host: string; readonly port: number };
  /** For `websocket`: the endpoint. For `web`: null. */
  readonly websocket: WebSocketEndpointConfig | null;
  /** For `web`: path without leading slash (e.g. `ws`) → endpoint. For `websocket`: empty. */
  readonly paths: ReadonlyMap<string, WebSocketEndpointConfig>;
}

/** The whole resolved configuration. */
export interface RouterConfig {
  readonly realms: readonly RealmConfig[];
  readonly transports: readonly TransportConfig[];
}
