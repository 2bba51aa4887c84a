/**
 * The parts of fuzzed messages: option and detail dicts of every message type (announced and
 * unknown options, payload passthru), positional and keyword payloads, arguments for the
 * router's own procedures, client roles, and HELLO.
 *
 * @module
 */

import type { Rng } from "./rng.ts";
import { type FuzzState, knownId } from "./state.ts";
import { dict, KEYS, put, uri, value } from "./values.ts";

export function maybe(
  rng: Rng,
  d: Record<string, unknown>,
  key: string,
  values: readonly unknown[],
) {
  if (rng.chance(0.3)) put(d, key, rng.pick(values));
}

export function pptOptions(rng: Rng, d: Record<string, unknown>): void {
  if (!rng.chance(0.12)) return;
  put(d, "ppt_scheme", rng.pick(["x_custom", "wamp", "mqtt", "", 1, null]));
  maybe(rng, d, "ppt_serializer", ["json", "cbor", "native", 5]);
  maybe(rng, d, "ppt_cipher", ["xsalsa20poly1305", 1]);
  maybe(rng, d, "ppt_keyid", ["k1", 2]);
}

export function unknownOptions(rng: Rng, d: Record<string, unknown>): void {
  if (!rng.chance(0.2)) return;
  for (let i = rng.int(3); i >= 0; i--) put(d, rng.pick(KEYS), value(rng, 2));
}

function sessionLists(rng: Rng, st: FuzzState): unknown[] {
  return [[], [1, 2], ["a"], 5, [NaN], [2 ** 53], st.sessions.slice(0, 1 + rng.int(3))];
}

export function publishOptions(rng: Rng, st: FuzzState): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "acknowledge", [true, true, false, 1, "yes"]);
  maybe(rng, d, "exclude_me", [false, false, true, 0]);
  if (rng.chance(0.15)) put(d, "exclude", rng.pick(sessionLists(rng, st)));
  if (rng.chance(0.15)) put(d, "eligible", rng.pick(sessionLists(rng, st)));
  const roles = [["anonymous"], ["user"], [], [1], "anonymous"];
  if (rng.chance(0.08)) put(d, "exclude_authid", rng.pick([["alice"], [], [3], "x"]));
  if (rng.chance(0.08)) put(d, "exclude_authrole", rng.pick(roles));
  if (rng.chance(0.08)) put(d, "eligible_authid", rng.pick([["alice"], [], [3], "x"]));
  if (rng.chance(0.08)) put(d, "eligible_authrole", rng.pick(roles));
  maybe(rng, d, "disclose_me", [true, false, 1]);
  maybe(rng, d, "retain", [true, false, "true"]);
  pptOptions(rng, d);
  unknownOptions(rng, d);
  return d;
}

const MATCHES = ["exact", "prefix", "wildcard", "prefix", "wildcard", "bogus", 1, null, ""];

export function subscribeOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "match", MATCHES);
  maybe(rng, d, "get_retained", [true, false, "y"]);
  unknownOptions(rng, d);
  return d;
}

export function callOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "timeout", [0, 1, 10, 100, 5000, -1, 1.5, 2 ** 31, 2 ** 53, "10", null, NaN]);
  maybe(rng, d, "receive_progress", [true, false, 1]);
  maybe(rng, d, "disclose_me", [true, false]);
  if (rng.chance(0.15)) put(d, "progress", rng.pick([true, false, "true"]));
  pptOptions(rng, d);
  unknownOptions(rng, d);
  return d;
}

export function registerOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "match", MATCHES);
  maybe(rng, d, "invoke", ["single", "roundrobin", "random", "first", "last", "bogus", 1]);
  maybe(rng, d, "disclose_caller", [true, false]);
  maybe(rng, d, "forward_timeout", [true, false]);
  unknownOptions(rng, d);
  return d;
}

/** Positional and keyword payload (appended only when present). */
export function payload(rng: Rng): unknown[] {
  const r = rng.int(100);
  if (r < 35) return [];
  const args = Array.from({ length: rng.int(4) }, () => value(rng, 1));
  if (r < 75) return [args];
  return [args, dict(rng, 1)];
}

/** Arguments for the router's own procedures: plausible ids, URIs and junk. */
export function metaArgs(rng: Rng, st: FuzzState): unknown[] {
  const pool = [...st.sessions, ...st.subs, ...st.regs];
  return Array.from({ length: rng.int(4) }, () =>
    rng.weighted<() => unknown>([
      [3, () => knownId(rng, pool)],
      [2, () => uri(rng)],
      [1, () => rng.pick(["exact", "prefix", "wildcard", "detached", "destroyed"])],
      [1, () => rng.pick([["anonymous"], ["user"], [1], null])],
      [2, () => value(rng, 1)],
    ])());
}

export function metaKwargs(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "reason", ["wamp.close.killed", "not a uri", 5, "com.reason"]);
  maybe(rng, d, "message", ["bye", 5, null]);
  maybe(rng, d, "scope", ["detached", "destroyed", "bogus", 1]);
  maybe(rng, d, "publish_options", [{}, { acknowledge: true }, { exclude_me: false }, 5, []]);
  unknownOptions(rng, d);
  return d;
}

const FEATURES = [
  "publisher_exclusion",
  "publisher_identification",
  "subscriber_blackwhite_listing",
  "pattern_based_subscription",
  "subscription_revocation",
  "registration_revocation",
  "progressive_call_results",
  "progressive_call_invocations",
  "call_canceling",
  "call_timeout",
  "caller_identification",
  "payload_passthru_mode",
  "shared_registration",
];

function roles(rng: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const role of ["publisher", "subscriber", "caller", "callee"]) {
    if (!rng.chance(0.8)) continue;
    const features: Record<string, unknown> = {};
    for (const f of FEATURES) if (rng.chance(0.5)) features[f] = rng.chance(0.9) ? true : 1;
    out[role] = { features };
  }
  if (Object.keys(out).length === 0) out.caller = {};
  return out;
}

export function genHello(rng: Rng, pubkey: string): unknown[] {
  const realm = rng.weighted<string>([
    [60, "realm1"],
    [30, "realm2"],
    [2, "nope"],
    [2, ""],
    [1, "realm1 "],
    [1, "REALM1"],
    [1, "a".repeat(10_000)],
    [1, "wamp.realm"],
  ]);
  const details: Record<string, unknown> = { roles: roles(rng) };
  const method = rng.weighted<string | null>([
    [55, null],
    [8, "anonymous"],
    [10, "ticket"],
    [10, "wampcra"],
    [8, "cryptosign"],
    [3, "bogus"],
  ]);
  if (method !== null) {
    details.authmethods = rng.chance(0.85) ? [method] : [method, "anonymous"];
  }
  let authid: string | null = null;
  if (method === "ticket" || method === "wampcra" || method === "cryptosign" || rng.chance(0.1)) {
    authid = rng.weighted<string>([
      [5, method === "ticket" ? "alice" : method === "wampcra" ? "carol" : "dave"],
      [1, "nobody"],
      [1, "x".repeat(2000)],
      [1, ""],
    ]);
    details.authid = authid;
  }
  if (method === "cryptosign" || rng.chance(0.05)) {
    details.authextra = rng.chance(0.8) ? { pubkey } : rng.pick([{ pubkey: "zz" }, {}, [], 5]);
  }
  if (rng.chance(0.1)) details.agent = value(rng, 1);
  unknownOptions(rng, details);
  const msg: unknown[] = [1, realm, details];
  if (rng.chance(0.08)) {
    rng.pick<() => void>([
      () => details.roles = rng.pick([{}, [], "all", { caller: 1 }, { caller: [] }, null]),
      () => details.authmethods = rng.pick(["ticket", [1, 2], [null], {}]),
      () => msg[1] = value(rng, 1),
      () => msg[2] = value(rng, 1),
      () => msg.push(value(rng, 1)),
      () => msg.pop(),
    ])();
  }
  return msg;
}
