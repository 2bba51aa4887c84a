/**
 * What buckets `sb_sessions`, `sb_testaments` and `sb_subs` hold, and the kill request between
 * nodes (docs/cluster.md, "Sessions and the meta API"). Every key names its owner first:
 * `<node>.<incarnation>.<realm>.<id>` (node and realm as {@link encodeToken} tokens), so the
 * keys of one node's life are one prefix. Values come from peers: the `as…` functions check
 * them and return null for anything else.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Testament } from "../router/testaments.ts";
import type { Dict } from "../wamp/messages.ts";
import { isMatchPolicy, type MatchPolicy } from "../wamp/uris.ts";
import { CodecError, decode } from "./codec.ts";
import { decodeToken, encodeToken, SubjectEncodingError } from "./subjects.ts";

/** Sessions of every node: key per (node, session), the meta API details. */
export const SESSIONS_BUCKET = "sb_sessions";
/** Testaments of every node's sessions: key per (node, session). */
export const TESTAMENTS_BUCKET = "sb_testaments";
/** Subscriptions of every node: key per (node, realm, subscription), its local subscribers. */
export const SUBSCRIPTIONS_BUCKET = "sb_subs";
/** The last token of a node's subject for meta API requests (`sb.node.<node>.meta`). */
export const META_SUBJECT_KIND = "meta";

/** Whose a key is, and what it is about. */
export interface OwnerKey {
  readonly node: string;
  readonly incarnation: string;
  readonly realm: string;
  /** A session id, or a subscription id in `sb_subs`. */
  readonly id: number;
}

/** The key prefix of every key of (node, incarnation). */
export function ownerPrefix(node: string, incarnation: string): string {
  return `${encodeToken(node)}.${encodeToken(incarnation)}.`;
}

/** The key prefix of every key of `node`, whatever its incarnation. */
export function nodePrefix(node: string): string {
  return `${encodeToken(node)}.`;
}

/** The key of `owner`. */
export function ownerKey(owner: OwnerKey): string {
  return `${ownerPrefix(owner.node, owner.incarnation)}${encodeToken(owner.realm)}.${owner.id}`;
}

/** The owner of `key`, or null when it is not a key of {@link ownerKey}. */
export function parseOwnerKey(key: string): OwnerKey | null {
  const parts = key.split(".");
  if (parts.length !== 4 || !/^[1-9][0-9]{0,15}$/.test(parts[3]!)) return null;
  const id = Number(parts[3]);
  if (!Number.isSafeInteger(id)) return null;
  try {
    return {
      node: decodeToken(parts[0]!),
      incarnation: decodeToken(parts[1]!),
      realm: decodeToken(parts[2]!),
      id,
    };
  } catch (e) {
    if (!(e instanceof SubjectEncodingError)) throw e;
    return null;
  }
}

/** The value of a session's key. */
export interface SessionWire {
  readonly authid: string;
  readonly authrole: string;
  /** Its meta API details (`wamp.session.get`). */
  readonly details: Dict;
}

/** The value of a session's testaments key. */
export interface TestamentsWire {
  readonly authid: string;
  readonly authrole: string;
  readonly details: Dict;
  /** In publication order. */
  readonly testaments: readonly Testament[];
}

/** The value of a subscription's key: its subscribers on the owning node. */
export interface SubscriptionWire {
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly created: string;
  readonly subscribers: readonly number[];
}

/** A kill request to a session's node. */
export interface KillRequest {
  readonly realm: string;
  readonly ids: readonly number[];
  readonly reason: string;
  readonly message?: string;
}

/** The answer to a {@link KillRequest}: the ids that were ended. */
export interface KillReply {
  readonly killed: readonly number[];
}

function isDict(x: unknown): x is Dict {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isIdList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((id) => Number.isSafeInteger(id) && id > 0);
}

/** `bytes` decoded, or null when they are not a cluster message. */
export function decodeOrNull(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return null;
  }
}

/** `v` as a session value, or null. */
export function asSessionWire(v: unknown): SessionWire | null {
  if (!isDict(v) || typeof v.authid !== "string" || typeof v.authrole !== "string") return null;
  return isDict(v.details) ? v as unknown as SessionWire : null;
}

function asTestament(v: unknown): Testament | null {
  if (!isDict(v) || typeof v.topic !== "string" || !isDict(v.options)) return null;
  const args = v.args ?? undefined;
  const kwargs = v.kwargs ?? undefined;
  if (args !== undefined && !Array.isArray(args)) return null;
  if (kwargs !== undefined && !isDict(kwargs)) return null;
  return testamentWire({ topic: v.topic, options: v.options, args, kwargs });
}

/** `t` without its absent parts (the codec would write them as nil). */
export function testamentWire(t: Testament): Testament {
  const out: { topic: string; options: Dict; args?: unknown[]; kwargs?: Dict } = {
    topic: t.topic,
    options: t.options,
  };
  if (t.args !== undefined) out.args = t.args;
  if (t.kwargs !== undefined) out.kwargs = t.kwargs;
  return out;
}

/** `v` as a testaments value, or null. */
export function asTestamentsWire(v: unknown): TestamentsWire | null {
  const s = asSessionWire(v);
  if (!s || !isDict(v) || !Array.isArray(v.testaments)) return null;
  const testaments = v.testaments.map(asTestament);
  if (testaments.some((t) => t === null)) return null;
  return { ...s, testaments: testaments as Testament[] };
}

/** `v` as a subscription value, or null. */
export function asSubscriptionWire(v: unknown): SubscriptionWire | null {
  if (!isDict(v) || typeof v.uri !== "string" || !isMatchPolicy(v.match)) return null;
  if (typeof v.created !== "string" || !isIdList(v.subscribers)) return null;
  return v as unknown as SubscriptionWire;
}

/** `v` as a kill request, or null. */
export function asKillRequest(v: unknown): KillRequest | null {
  if (!isDict(v) || typeof v.realm !== "string" || !isIdList(v.ids)) return null;
  if (typeof v.reason !== "string") return null;
  if (v.message !== undefined && typeof v.message !== "string") return null;
  return v as unknown as KillRequest;
}

/** `v` as a kill reply, or null. */
export function asKillReply(v: unknown): KillReply | null {
  return isDict(v) && isIdList(v.killed) ? v as unknown as KillReply : null;
}

/**
 * The id of the subscription (realm, match, uri) on every node: 53 bits of its SHA-256, plus
 * one (WAMP's id range is 1..2^53), so the meta API names it alike everywhere.
 */
export function subscriptionId(realm: string, match: MatchPolicy, uri: string): number {
  const d = createHash("sha256").update(`sub\u0000${realm}\u0000${match}\u0000${uri}`).digest();
  const high = ((d[0]! << 16) | (d[1]! << 8) | d[2]!) & 0x1fffff;
  const low = ((d[3]! << 24) >>> 0) + ((d[4]! << 16) | (d[5]! << 8) | d[6]!);
  return high * 2 ** 32 + low + 1;
}
