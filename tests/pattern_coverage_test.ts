/**
 * Pattern coverage (src/auth/pattern_coverage.ts): a seeded property test against a
 * brute-force oracle over a bounded universe of concrete URIs, and the cases by hand.
 *
 * Replay a failure with `COVERAGE_SEED=<seed> deno test -A tests/pattern_coverage_test.ts`.
 */

import assert from "node:assert/strict";
import type { Action, MatchPolicy, Permission } from "../src/config/types.ts";
import { type Coverage, patternCoverage } from "../src/auth/pattern_coverage.ts";
import { RolePermissions } from "../src/auth/permissions.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import { isValidUri } from "../src/wamp/uris.ts";
import { parseConfig } from "../src/config/config.ts";

const ACTIONS: readonly Action[] = ["call", "register", "publish", "subscribe"];

function rule(
  uri: string,
  match: MatchPolicy,
  allow: Partial<Record<Action, boolean>>,
): Permission {
  return {
    uri,
    match,
    allow: { call: false, register: false, publish: false, subscribe: false, ...allow },
    disclose: { caller: false, publisher: false },
    cache: false,
  };
}

function role(rules: Permission[]): RolePermissions {
  return new RolePermissions({ name: "r", permissions: rules });
}

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Every concrete URI of 1..3 components, each a string of length 1..3 over `chars`
 * (39 components, 60,879 URIs for three characters).
 */
function universe(chars: string): string[] {
  const components: string[] = [];
  const grow = (prefix: string) => {
    if (prefix.length > 0) components.push(prefix);
    if (prefix.length < 3) { for (const ch of chars) grow(prefix + ch); }
  };
  grow("");
  const out: string[] = [...components];
  for (const a of components) for (const b of components) out.push(`${a}.${b}`);
  for (const a of components) {
    for (const b of components) for (const c of components) out.push(`${a}.${b}.${c}`);
  }
  return out;
}

/**
 * Two alphabets. Rules and patterns have 1..2 components drawn from `components`; the
 * universe uses the characters of those components plus `z`, which none of them contains.
 * That universe holds a representative of every kind of component the classification depends
 * on (each literal and partial, and each partial followed by a character no rule continues it
 * with: "z", "az", "bz", "abz", ...), at every length up to one more than the deepest rule or
 * pattern. So over it the oracle's answer is the answer over all concrete URIs, and any
 * disagreement is a bug. The second alphabet uses `_`, the first character the implementation
 * tries for a fresh one, so its "blocked character" path is exercised too.
 */
const ALPHABETS = [
  { components: ["", "a", "b", "ab"], chars: "abz" },
  { components: ["", "a", "_", "a_"], chars: "a_z" },
].map((a) => ({ ...a, universe: universe(a.chars) }));

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function randomUri(rand: () => number, components: readonly string[]): string {
  const n = 1 + Math.floor(rand() * 2);
  return Array.from({ length: n }, () => pick(rand, components)).join(".");
}

/** The oracle: classifies by deciding every URI of the universe. */
function oracle(
  decisions: boolean[],
  all: readonly string[],
  pattern: string,
  match: MatchPolicy,
): { coverage: Coverage; allowed?: string; denied?: string } {
  let allowed: string | undefined;
  let denied: string | undefined;
  for (let i = 0; i < all.length; i++) {
    if (!uriMatches(pattern, match, all[i]!)) continue;
    if (decisions[i]) allowed ??= all[i];
    else denied ??= all[i];
    if (allowed !== undefined && denied !== undefined) break;
  }
  const coverage = allowed !== undefined && denied !== undefined
    ? "some"
    : allowed !== undefined
    ? "all"
    : "none";
  return { coverage, allowed, denied };
}

Deno.test("pattern coverage agrees with a brute-force oracle (seeded)", () => {
  const seed = Deno.env.get("COVERAGE_SEED") !== undefined
    ? Number(Deno.env.get("COVERAGE_SEED"))
    : Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const ROLES = 120;
  const PATTERNS = 4;
  const seen: Record<Coverage, number> = { all: 0, none: 0, some: 0 };
  for (let r = 0; r < ROLES; r++) {
    const alphabet = ALPHABETS[r % ALPHABETS.length]!;
    const action = pick(rand, ACTIONS);
    const rules: Permission[] = [];
    const count = Math.floor(rand() * 6);
    for (let i = 0; i < count; i++) {
      const match = pick(rand, ["exact", "prefix", "wildcard"] as const);
      rules.push(rule(randomUri(rand, alphabet.components), match, { [action]: rand() < 0.5 }));
    }
    const perms = role(rules);
    const decisions = alphabet.universe.map((uri) => perms.authorize(uri, action).allowed);
    for (let k = 0; k < PATTERNS; k++) {
      const match = pick(rand, ["prefix", "wildcard"] as const);
      const strict = rand() < 0.5;
      let pattern = randomUri(rand, alphabet.components);
      while (!isValidUri(pattern, match, strict)) pattern = randomUri(rand, alphabet.components);
      const expected = oracle(decisions, alphabet.universe, pattern, match);
      const got = patternCoverage(perms, pattern, match, action, strict);
      seen[expected.coverage]++;
      if (got !== expected.coverage) {
        const rulesText = rules.map((x) =>
          `${x.match} ${JSON.stringify(x.uri)} ${x.allow[action] ? "allow" : "deny"}`
        ).join("; ");
        assert.fail(
          `COVERAGE_SEED=${seed} role ${r} pattern ${k}: ${action} ${match} ` +
            `${JSON.stringify(pattern)} (${strict ? "strict" : "loose"}) over [${rulesText}]: ` +
            `got ${got}, expected ${expected.coverage} (allowed e.g. ${expected.allowed}, ` +
            `denied e.g. ${expected.denied})`,
        );
      }
    }
  }
  // the generator reaches every class, so the comparison is not vacuous
  assert.ok(seen.all > 0 && seen.none > 0 && seen.some > 0, JSON.stringify(seen));
});

Deno.test("pattern coverage: the issue's examples", () => {
  const news = role([rule("com.pub.news", "exact", { subscribe: true })]);
  // prefix com.pub.news also matches com.pub.news.secret and com.pub.newsroom.private
  assert.equal(patternCoverage(news, "com.pub.news", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(news, "com.pub.news", "prefix", "subscribe", true), "some");
  assert.equal(patternCoverage(news, "com.pub.news.", "prefix", "subscribe", false), "none");
  assert.equal(patternCoverage(news, "com.pub.", "wildcard", "subscribe", false), "some");
  assert.equal(patternCoverage(news, "com..news", "wildcard", "subscribe", false), "some");
  // a wildcard without empty components matches one URI
  assert.equal(patternCoverage(news, "com.pub.news", "wildcard", "subscribe", false), "all");
  assert.equal(patternCoverage(news, "com.pub.news", "exact", "subscribe", false), "all");
  assert.equal(patternCoverage(news, "com.pub.other", "exact", "subscribe", false), "none");

  const open = role([
    rule("com.open.", "prefix", { subscribe: true }),
    rule("com.open.secret.", "prefix", {}),
  ]);
  assert.equal(patternCoverage(open, "com.open.", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(open, "com.open", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(open, "com.open..x", "wildcard", "subscribe", false), "some");
  assert.equal(patternCoverage(open, "com.open.secret.", "prefix", "subscribe", false), "none");
  assert.equal(patternCoverage(open, "com.open.secret..", "wildcard", "subscribe", false), "none");
  assert.equal(patternCoverage(open, "com.open.pub.", "prefix", "subscribe", false), "all");
  // com.open.secret itself (no trailing component) is allowed by com.open.
  assert.equal(patternCoverage(open, "com.open.secret", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(open, "com.open.secre", "wildcard", "subscribe", false), "all");

  const proc = role([rule("com.user.proc", "exact", { register: true })]);
  // com.user.proc.delete_all, com.user.process_payment
  assert.equal(patternCoverage(proc, "com.user.proc", "prefix", "register", false), "some");
  assert.equal(patternCoverage(proc, "com.user.proc", "prefix", "call", false), "none");
  const procs = role([rule("com.user.proc", "prefix", { register: true })]);
  assert.equal(patternCoverage(procs, "com.user.proc", "prefix", "register", false), "all");
  assert.equal(patternCoverage(procs, "com.user.proc.", "prefix", "register", false), "all");
  assert.equal(patternCoverage(procs, "com.user.", "prefix", "register", false), "some");
});

Deno.test("pattern coverage: precedence, uri_check and unknown roles", () => {
  // a wildcard beats a longer prefix; the best wildcard decides
  const w = role([
    rule("", "prefix", { subscribe: true }),
    rule("a..c", "wildcard", {}),
    rule("a.b.", "wildcard", { subscribe: true }),
  ]);
  assert.equal(patternCoverage(w, "a.b.", "wildcard", "subscribe", false), "all");
  assert.equal(patternCoverage(w, "a..c", "wildcard", "subscribe", false), "some");
  assert.equal(patternCoverage(w, "a.x.", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(w, "a.x.c.", "prefix", "subscribe", false), "all");
  // an exact rule inside an allowed prefix
  const e = role([rule("com.", "prefix", { subscribe: true }), rule("com.x.y", "exact", {})]);
  assert.equal(patternCoverage(e, "com.x.", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(e, "com.x.y", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(e, "com.x.y.", "prefix", "subscribe", false), "all");
  assert.equal(patternCoverage(e, "com.x.z", "wildcard", "subscribe", false), "all");
  // a URI only loose realms accept: the deny rule matters only there
  const loose = role([rule("com.a", "prefix", { subscribe: true }), rule("com.aB", "prefix", {})]);
  assert.equal(patternCoverage(loose, "com.a", "prefix", "subscribe", false), "some");
  assert.equal(patternCoverage(loose, "com.a", "prefix", "subscribe", true), "all");
  // an unknown role, an empty role, a pattern no strict URI matches
  assert.equal(patternCoverage(undefined, "", "prefix", "subscribe", false), "none");
  assert.equal(patternCoverage(role([]), "", "prefix", "subscribe", false), "none");
  const any = role([rule("", "prefix", { subscribe: true })]);
  assert.equal(patternCoverage(any, "", "prefix", "subscribe", true), "all");
  assert.equal(patternCoverage(any, "", "wildcard", "subscribe", true), "all");
  assert.equal(patternCoverage(any, "Com.", "prefix", "subscribe", true), "none");
});

Deno.test("pattern coverage: strict rules that continue a prefix with every character", () => {
  // After "a", every strict character starts an allowed prefix rule: no component extends "a"
  // without starting with one of them. What remains is "a" itself and "a.<...>".
  const chars = [..."_0123456789abcdefghijklmnopqrstuvwxyz"];
  const cont = chars.map((ch) => rule(`a${ch}`, "prefix", { subscribe: true }));
  const covered = role([...cont, rule("a", "exact", { subscribe: true })]);
  assert.equal(patternCoverage(covered, "a", "prefix", "subscribe", true), "some"); // a.x denied
  const full = role([
    ...cont,
    rule("a", "exact", { subscribe: true }),
    rule("a.", "prefix", {
      subscribe: true,
    }),
  ]);
  assert.equal(patternCoverage(full, "a", "prefix", "subscribe", true), "all");
  // "a" and "a.<...>" are denied, and no rule names "a": only the pattern does
  const gap = role(cont);
  assert.equal(patternCoverage(gap, "a", "prefix", "subscribe", true), "some");
  assert.equal(patternCoverage(gap, "a.", "prefix", "subscribe", true), "none");
  assert.equal(patternCoverage(gap, "a", "wildcard", "subscribe", true), "none");
  // loose URIs have more characters ("aB"): there it is some
  assert.equal(patternCoverage(full, "a", "prefix", "subscribe", false), "some");
  // one continuation denied
  const oneDenied = role([
    ...cont.slice(1),
    rule("a_", "prefix", {}),
    rule("a", "exact", { subscribe: true }),
    rule("a.", "prefix", { subscribe: true }),
  ]);
  assert.equal(patternCoverage(oneDenied, "a", "prefix", "subscribe", true), "some");
  assert.equal(patternCoverage(oneDenied, "a0", "prefix", "subscribe", true), "all");
  // continuations two deep: "a" + every character is itself continued by every character
  const deep = role([
    ...chars.flatMap((x) => chars.map((y) => rule(`a${x}${y}`, "prefix", { subscribe: true }))),
    ...chars.map((x) => rule(`a${x}`, "exact", { subscribe: true })),
    rule("a", "exact", { subscribe: true }),
  ]);
  // every "a<x>" and "a<x><y>..." allowed; "a" allowed; "a.<...>" and "a<x>.<...>" denied
  assert.equal(patternCoverage(deep, "a", "prefix", "subscribe", true), "some");
  assert.equal(patternCoverage(deep, "a", "wildcard", "subscribe", true), "all");
  assert.equal(patternCoverage(deep, "a0", "wildcard", "subscribe", true), "all");
});

Deno.test("pattern coverage: many rules stay cheap (no search over rule combinations)", () => {
  // 24 wildcard rules, each fixing a different one of 24 positions, plus one that wins for
  // every URI the pattern matches: a search keyed on the set of still-consistent rules would
  // meet 2^23 states here. Completing at all is the assertion.
  const n = 24;
  const rules: Permission[] = [];
  for (let i = 0; i < n; i++) {
    const comps = Array.from({ length: n }, (_, j) => (j === i ? "x" : ""));
    rules.push(rule(comps.join("."), "wildcard", { subscribe: i === 0 }));
  }
  rules.push(rule(Array.from({ length: n }, () => "").join("."), "wildcard", {}));
  const perms = role(rules);
  const pattern = ["x", ...Array.from({ length: n - 1 }, () => "")].join(".");
  assert.equal(patternCoverage(perms, pattern, "wildcard", "subscribe", false), "all");
  const wider = Array.from({ length: n }, () => "").join(".");
  assert.equal(patternCoverage(perms, wider, "wildcard", "subscribe", false), "some");
  // 5,000 exact rules under one prefix
  const many = role([
    ...Array.from({ length: 5000 }, (_, i) => rule(`com.t.${i}`, "exact", { subscribe: true })),
    rule("com.t.", "prefix", { subscribe: true }),
  ]);
  assert.equal(patternCoverage(many, "com.t.", "prefix", "subscribe", false), "all");
  assert.equal(patternCoverage(many, "com.", "prefix", "subscribe", false), "some");
  // a pattern far longer than any rule: decided by the components the rules look at
  const long = Array.from({ length: 100_000 }, (_, i) => `c${i % 7}`).join(".");
  const open = role([rule("", "prefix", { subscribe: true }), rule("c0.c1.c2.", "prefix", {})]);
  assert.equal(patternCoverage(open, long, "prefix", "subscribe", false), "none");
  assert.equal(patternCoverage(open, long, "wildcard", "subscribe", false), "none");
  assert.equal(patternCoverage(open, `c0.c1.x.${long}`, "prefix", "subscribe", false), "all");
  // ... whose components there are still checked: no strict URI has a component "Bad"
  const any = role([rule("", "prefix", { subscribe: true })]);
  assert.equal(patternCoverage(any, `${long}.x`, "prefix", "subscribe", true), "all");
  assert.equal(patternCoverage(any, `${long}.Bad`, "prefix", "subscribe", true), "none");
  assert.equal(patternCoverage(any, `${long}.Bad.`, "wildcard", "subscribe", true), "none");
});

Deno.test("pattern coverage agrees with the oracle for roles parsed with allow-by-default and the version-1 form (seeded)", () => {
  const seed = Deno.env.get("COVERAGE_SEED") !== undefined
    ? Number(Deno.env.get("COVERAGE_SEED"))
    : Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const seen: Record<Coverage, number> = { all: 0, none: 0, some: 0 };
  for (let r = 0; r < 80; r++) {
    const alphabet = ALPHABETS[r % ALPHABETS.length]!;
    const action = pick(rand, ACTIONS);
    const allowByDefault = rand() < 0.5;
    // no permissions key (allow-by-default decides), or rules that decide alone
    const withRules = rand() < 0.6;
    const rules: Permission[] = [];
    const written: Record<string, unknown>[] = [];
    const count = withRules ? Math.floor(rand() * 5) : 0;
    const ids = new Set<string>();
    for (let i = 0; i < count; i++) {
      const match = pick(rand, ["exact", "prefix", "wildcard"] as const);
      const uri = randomUri(rand, alphabet.components);
      if (ids.has(`${match} ${uri}`)) continue;
      ids.add(`${match} ${uri}`);
      const allowed = rand() < 0.5;
      rules.push(rule(uri, match, { [action]: allowed }));
      // half the rules in Crossbar's version-1 form
      written.push(
        rand() < 0.5
          ? { uri, match, [action]: allowed }
          : { uri, match, allow: { [action]: allowed } },
      );
    }
    const roleConfig: Record<string, unknown> = { name: "r", "allow-by-default": allowByDefault };
    if (withRules) roleConfig.permissions = written;
    const parsed = parseConfig({
      workers: [{ type: "router", realms: [{ name: "realm1", roles: [roleConfig] }] }],
    }).realms[0]!.roles[0]!;
    const perms = new RolePermissions(parsed);
    // the expectation, from Crossbar's rule: the flag decides only a role without permissions
    const expected = withRules ? role(rules) : null;
    const decisions = alphabet.universe.map((uri) => {
      const got = perms.authorize(uri, action).allowed;
      const want = expected === null ? allowByDefault : expected.authorize(uri, action).allowed;
      if (got !== want) {
        assert.fail(`COVERAGE_SEED=${seed} role ${r}: ${action} ${uri}: got ${got}, want ${want}`);
      }
      return got;
    });
    for (let k = 0; k < 3; k++) {
      const match = pick(rand, ["prefix", "wildcard"] as const);
      const strict = rand() < 0.5;
      let pattern = randomUri(rand, alphabet.components);
      while (!isValidUri(pattern, match, strict)) pattern = randomUri(rand, alphabet.components);
      const want = oracle(decisions, alphabet.universe, pattern, match).coverage;
      seen[want]++;
      const got = patternCoverage(perms, pattern, match, action, strict);
      assert.equal(
        got,
        want,
        `COVERAGE_SEED=${seed} role ${r} pattern ${k}: ${action} ${match} ${
          JSON.stringify(pattern)
        } allow-by-default ${allowByDefault} ${JSON.stringify(written)}`,
      );
    }
  }
  assert.ok(seen.all > 0 && seen.none > 0 && seen.some > 0, JSON.stringify(seen));
});
