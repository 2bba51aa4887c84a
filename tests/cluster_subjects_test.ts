/**
 * URI → subject encoding (src/cluster/subjects.ts): a seeded property test against the router's
 * own matching (`uriMatches`), round trips, and the charset rules of subjects and KV keys.
 */

import assert from "node:assert/strict";
import {
  decodeToken,
  encodeToken,
  eventSubject,
  isValidSubject,
  natsMatch,
  parseEventSubject,
  parseUriKey,
  subjectBound,
  SubjectEncodingError,
  subscriptionPattern,
  uriKey,
} from "../src/cluster/subjects.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import { isValidUri, type MatchPolicy } from "../src/wamp/uris.ts";
import { Rng } from "./fuzz/rng.ts";

const PREFIX = "sb.ev";
/** Few, short, overlapping components, with every character NATS or the encoding cares about. */
const PIECES = [
  "a",
  "b",
  "ab",
  "a-b",
  "A",
  "1",
  "_",
  "*",
  ">",
  "é",
  "😀",
  "\ud83d", // a lone surrogate, as a JSON client can send
  "$",
  "a_b",
  ":",
  "/",
];
const REALMS = ["realm1", "com.example", "r_1", "*", "r"];

function component(rng: Rng): string {
  let c = rng.pick(PIECES);
  while (rng.chance(0.3)) c += rng.pick(PIECES);
  return c;
}

function topic(rng: Rng): string {
  const n = 1 + rng.int(4);
  return Array.from({ length: n }, () => component(rng)).join(".");
}

function pattern(rng: Rng, match: MatchPolicy): string {
  switch (match) {
    case "exact":
      return topic(rng);
    case "prefix": {
      // A WAMP prefix is a string prefix: cut a topic anywhere, mid-component included.
      const t = topic(rng);
      return t.slice(0, rng.int(t.length + 1));
    }
    case "wildcard":
      return topic(rng).split(".").map((c) => rng.chance(0.4) ? "" : c).join(".");
  }
}

/** A topic likely to match `uri`: fill wildcard gaps, extend prefixes, sometimes not. */
function nearTopic(rng: Rng, uri: string, match: MatchPolicy): string {
  if (rng.chance(0.3)) return topic(rng);
  switch (match) {
    case "exact":
      return uri;
    case "prefix": {
      const t = uri + (rng.chance(0.5) ? component(rng) : "") +
        (rng.chance(0.5) ? `.${topic(rng)}` : "");
      return isValidUri(t, "exact", false) ? t : uri + component(rng);
    }
    case "wildcard":
      return uri.split(".").map((c) => c === "" ? component(rng) : c).join(".");
  }
}

Deno.test("subjects: NATS matching of the encoded pattern, plus the filter, is WAMP matching (seeded)", () => {
  const rng = new Rng(20240611);
  const counts = { match: 0, miss: 0 };
  for (let i = 0; i < 20_000; i++) {
    const match = rng.pick<MatchPolicy>(["exact", "prefix", "wildcard"]);
    const uri = pattern(rng, match);
    assert.ok(isValidUri(uri, match, false), `${match} ${uri}`);
    const realm = rng.pick(REALMS);
    const p = subscriptionPattern(PREFIX, realm, uri, match);
    assert.ok(isValidSubject(p.subject, true), p.subject);
    const t = nearTopic(rng, uri, match);
    if (!isValidUri(t, "exact", false)) continue;
    const subject = eventSubject(PREFIX, realm, t);
    assert.ok(isValidSubject(subject, false), subject);
    const expected = uriMatches(uri, match, t);
    const actual = p.filter(t) && natsMatch(p.subject, subject);
    assert.equal(actual, expected, `${match} ${JSON.stringify(uri)} vs ${JSON.stringify(t)}`);
    counts[expected ? "match" : "miss"]++;
    // Another realm never matches.
    const other = rng.pick(REALMS.filter((r) => r !== realm));
    assert.equal(natsMatch(p.subject, eventSubject(PREFIX, other, t)), false);
  }
  // The generator reaches both outcomes often enough for the comparison to mean something.
  assert.ok(counts.match > 5000 && counts.miss > 5000, JSON.stringify(counts));
});

Deno.test("subjects: prefix patterns match on the string, wildcards per component", () => {
  const p = subscriptionPattern(PREFIX, "r", "com.my", "prefix");
  assert.equal(p.subject, "sb.ev.r.com.>");
  assert.ok(p.filter("com.myapp.x"));
  assert.ok(p.filter("com.my"));
  assert.ok(!p.filter("com.other"));
  assert.equal(subscriptionPattern(PREFIX, "r", "com.", "prefix").subject, "sb.ev.r.com.>");
  assert.equal(subscriptionPattern(PREFIX, "r", "com", "prefix").subject, "sb.ev.r.>");
  assert.equal(subscriptionPattern(PREFIX, "r", "", "prefix").subject, "sb.ev.r.>");
  assert.equal(subscriptionPattern(PREFIX, "r", "a..c", "wildcard").subject, "sb.ev.r.a.*.c");
  assert.equal(subscriptionPattern(PREFIX, "r", "a.b", "exact").subject, "sb.ev.r.a.b");
  assert.equal(
    eventSubject(PREFIX, "com.example", "a.my_app.*"),
    "sb.ev._mnxw2ltfpbqw24dmmu.a._nv4v6ylqoa._fi",
  );
});

Deno.test("subjects: tokens, event subjects and keys round-trip (seeded)", () => {
  const rng = new Rng(7);
  const keyCharset = /^[-/_=.a-zA-Z0-9]+$/;
  for (let i = 0; i < 5000; i++) {
    const c = rng.chance(0.1) ? "" : component(rng);
    const token = encodeToken(c);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(decodeToken(token), c);
    const realm = rng.pick(REALMS);
    const t = topic(rng);
    assert.deepEqual(parseEventSubject(PREFIX, eventSubject(PREFIX, realm, t)), {
      realm,
      topic: t,
    });
    const match = rng.pick<MatchPolicy>(["exact", "prefix", "wildcard"]);
    const uri = pattern(rng, match);
    const key = uriKey(realm, match, uri);
    assert.match(key, keyCharset);
    assert.ok(!key.startsWith(".") && !key.endsWith(".") && !key.includes(".."), key);
    assert.deepEqual(parseUriKey(key), { realm, match, uri });
  }
  // Distinct inputs, distinct keys, even where the strings look alike.
  const keys = new Set([
    uriKey("r", "prefix", ""),
    uriKey("r", "prefix", "."),
    uriKey("r", "wildcard", ""),
    uriKey("r", "wildcard", "."),
    uriKey("r.x", "exact", "a"),
    uriKey("r", "exact", "x.a"),
  ]);
  assert.equal(keys.size, 6);
});

Deno.test("subjects: malformed tokens and subjects are refused, not mis-decoded", () => {
  for (const bad of ["_1", "_a", "a_b", "_mfrggzdf1", "_74", "*", ""]) {
    assert.throws(() => decodeToken(bad), SubjectEncodingError, bad);
  }
  // "_mfra" is base32 of "ab", a component that is kept as it is: not canonical.
  assert.throws(() => decodeToken("_mfra"), SubjectEncodingError);
  assert.equal(parseEventSubject(PREFIX, "sb.ev.r"), null);
  assert.equal(parseEventSubject(PREFIX, "sb.other.r.a"), null);
  assert.equal(parseEventSubject(PREFIX, "sb.ev.r._xx1"), null);
  assert.throws(() => parseUriKey("r.q.a"), SubjectEncodingError);
  assert.throws(() => parseUriKey("r.e"), SubjectEncodingError);
});

Deno.test("subjects: NATS subject matching and validity", () => {
  assert.ok(natsMatch("a.*.c", "a.b.c"));
  assert.ok(!natsMatch("a.*.c", "a.b.c.d"));
  assert.ok(natsMatch("a.>", "a.b"));
  assert.ok(natsMatch("a.>", "a.b.c"));
  assert.ok(!natsMatch("a.>", "a"));
  assert.ok(natsMatch(">", "a"));
  assert.ok(!natsMatch("a.b", "a"));
  assert.ok(!natsMatch("a", "a.b"));
  assert.ok(isValidSubject("a.*.>", true));
  assert.ok(!isValidSubject("a.>.b", true));
  assert.ok(!isValidSubject("a.*", false));
  assert.ok(!isValidSubject("a..b", true));
  assert.ok(!isValidSubject("a b", false));
  assert.ok(!isValidSubject("a.b*", true));
  assert.ok(!isValidSubject("", false));
});

Deno.test("subjects: subjectBound is never below a subject's UTF-8 length (seeded)", () => {
  const rng = new Rng(4242);
  const bytes = (t: string) => new TextEncoder().encode(t).byteLength;
  // long runs of one piece too, so the per-character factor is what decides
  const long = () =>
    Array.from({ length: 1 + rng.int(3) }, () => rng.pick(PIECES).repeat(1 + rng.int(60)))
      .join(".");
  for (let i = 0; i < 5000; i++) {
    const realm = rng.pick(REALMS);
    for (const match of ["exact", "prefix", "wildcard"] as const) {
      const uri = i % 2 === 0 ? pattern(rng, match) : long();
      const bound = subjectBound(PREFIX, realm, uri);
      if (match === "exact") {
        assert.ok(bytes(eventSubject(PREFIX, realm, uri)) <= bound, `${uri}: event subject`);
      }
      const sub = subscriptionPattern(PREFIX, realm, uri, match).subject;
      assert.ok(bytes(sub) <= bound, `${uri} (${match}): subscription subject`);
    }
  }
});
