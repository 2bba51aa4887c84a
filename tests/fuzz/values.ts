/**
 * The vocabulary of fuzzed values: numbers, bigints, strings and keys that trip serializers and
 * validators, nested and compound values, odd ids, values that do not survive every serializer
 * alike, and URIs (known, meta, composed, invalid, huge).
 *
 * @module
 */

import { Rng } from "./rng.ts";
import { BYSTANDER_PROC, BYSTANDER_TOPIC } from "./scenario.ts";

const NUMBERS = [
  0,
  1,
  -1,
  7,
  255,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53),
  2 ** 53 + 2,
  2 ** 64,
  1.5,
  -0.5,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1e308,
  5e-324,
];
const BIGINTS = [
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
  2n ** 64n,
  -(2n ** 63n),
  -(2n ** 63n) - 1n,
  10n ** 30n,
];
const STRINGS = [
  "",
  "a",
  " ",
  "com.fuzz.topic",
  "héllo ✓ 🎉",
  "\ud800",
  "\udfff\ud800",
  "\u0000",
  "\u0000AAEC",
  "\u0000!!",
  "\u0000AAE=",
  "__proto__",
  "constructor",
  "wamp.error.runtime_error",
  "wamp.close.normal",
  "a b",
  "#",
  "..",
  "\n\t\r",
  "null",
  "\u202e",
  "\uffff",
  "𝕏".repeat(50),
];
export const KEYS = [
  "a",
  "b",
  "x_custom",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "",
  "0",
  "message",
  "roles",
  "acknowledge",
  "exclude_me",
  "match",
  "é",
  "\u0000k",
  "k".repeat(300),
];
const ALPHABET = "abcxyzXYZ019._-# é🎉\u0000\n";

export function randomString(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick([...ALPHABET]);
  return s;
}

function longString(rng: Rng): string {
  return rng.pick(["x", "é", "🎉"]).repeat(rng.pick([1000, 65_535, 65_536, 100_000, 300_000]));
}

export function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** Sets an own property, also for keys like `__proto__` (an assignment would set the prototype). */
export function put(d: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(d, key, { value, enumerable: true, writable: true, configurable: true });
}

export function dict(rng: Rng, depth: number): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  const n = rng.int(5);
  for (let i = 0; i < n; i++) put(d, rng.pick(KEYS), value(rng, depth + 1));
  return d;
}

function nested(rng: Rng, depth: number): unknown {
  let v: unknown = rng.int(10);
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

export function value(rng: Rng, depth = 0): unknown {
  const r = rng.int(100);
  if (r < 18) return rng.pick(NUMBERS);
  if (r < 24) return rng.int(1000);
  if (r < 28) return rng.pick(BIGINTS);
  if (r < 45) return rng.pick(STRINGS);
  if (r < 50) return randomString(rng, rng.int(40));
  if (r < 51) return longString(rng);
  if (r < 57) return rng.pick([true, false, null, undefined]);
  if (r < 62) return randomBytes(rng, rng.pick([0, 1, 16, 1000]));
  if (r < 65) return nested(rng, rng.pick([10, 100, 300]));
  if (depth >= 3) return rng.int(10);
  if (r < 82) return Array.from({ length: rng.int(5) }, () => value(rng, depth + 1));
  return dict(rng, depth);
}

const WEIRD_IDS: unknown[] = [
  0,
  -1,
  2 ** 53 + 2,
  2 ** 53,
  2 ** 64,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  -0,
  1e300,
  "1",
  "",
  null,
  true,
  [],
  {},
  [1],
  2n ** 64n,
  2n ** 53n + 1n,
  -(2n ** 63n),
];

/** Values that do not survive every serializer the same way (for payloads crossing serializers). */
export const EDGE_VALUES: (() => unknown)[] = [
  () => 2n ** 64n,
  () => -(2n ** 63n) - 1n,
  () => 10n ** 30n,
  () => 2n ** 64n - 1n,
  () => 2 ** 53,
  () => -0,
  () => NaN,
  () => Infinity,
  () => new Uint8Array([0, 1, 255]),
  () => "\u0000AAEC",
  () => "\ud800",
  () => nested(new Rng(1), 1100),
  () => nested(new Rng(2), 990),
  () => {
    const d: Record<string, unknown> = {};
    put(d, "__proto__", { a: 1 });
    return d;
  },
];

export const META_PROCEDURES = [
  "wamp.session.count",
  "wamp.session.list",
  "wamp.session.get",
  "wamp.session.kill",
  "wamp.session.kill_by_authid",
  "wamp.session.kill_by_authrole",
  "wamp.session.kill_all",
  "wamp.session.add_testament",
  "wamp.session.flush_testaments",
  "wamp.subscription.list",
  "wamp.subscription.lookup",
  "wamp.subscription.match",
  "wamp.subscription.get",
  "wamp.subscription.list_subscribers",
  "wamp.subscription.count_subscribers",
  "wamp.subscription.remove_subscriber",
  "wamp.subscription.get_events",
  "wamp.registration.list",
  "wamp.registration.lookup",
  "wamp.registration.match",
  "wamp.registration.get",
  "wamp.registration.list_callees",
  "wamp.registration.count_callees",
  "wamp.registration.remove_callee",
  "switchboard.reload_config",
];
const KNOWN_URIS = [
  BYSTANDER_TOPIC,
  BYSTANDER_PROC,
  "com.bystander.pfx.a",
  "com.bystander.x.wild",
  "com.fuzz.topic",
  "com.fuzz.proc",
  "com.fuzz.probe",
  "wamp.session.on_join",
  "wamp.session.on_leave",
  "wamp.subscription.on_create",
  "wamp.registration.on_register",
  "wamp.session.on_stats",
];
const COMPONENTS = [
  "com",
  "bystander",
  "topic",
  "echo",
  "pfx",
  "wild",
  "fuzz",
  "a",
  "b",
  "x1",
  "wamp",
  "session",
  "switchboard",
  "probe",
  "Com",
  "_",
];
const BAD_URIS = [
  "",
  ".",
  "..",
  "a..b",
  ".a",
  "a.",
  "a b",
  "a#b",
  "A.B",
  "com.\u0000",
  "wamp",
  "com.fuzz.",
  "é.ü",
  "\ud800",
  "com.\n",
  "#",
  "com..",
];

export function uri(rng: Rng): string {
  const r = rng.int(100);
  if (r < 22) return rng.pick(KNOWN_URIS);
  if (r < 30) return rng.pick(META_PROCEDURES);
  if (r < 72) {
    const n = 1 + rng.int(4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(rng.chance(0.1) ? "" : rng.pick(COMPONENTS));
    return parts.join(".");
  }
  if (r < 92) return rng.pick(BAD_URIS);
  if (r < 96) return Array.from({ length: 1 + rng.int(3000) }, () => rng.pick(["a", ""])).join(".");
  if (r < 98) return randomString(rng, rng.int(30));
  return longString(rng);
}

export function weirdId(rng: Rng): unknown {
  return rng.pick(WEIRD_IDS);
}
