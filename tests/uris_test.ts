import assert from "node:assert/strict";
import type { MatchPolicy } from "../src/config/types.ts";
import { uriMatches } from "../src/wamp/uri_index.ts";
import { isReservedUri, isValidUri, patternMayMatchReserved, Uri } from "../src/wamp/uris.ts";

/** [uri, match, valid when loose, valid when strict] */
const CASES: readonly [string, MatchPolicy, boolean, boolean][] = [
  // exact: non-empty components
  ["com.example.topic", "exact", true, true],
  ["a", "exact", true, true],
  ["com.example_2.x9", "exact", true, true],
  ["com.Example.topic", "exact", true, false],
  ["com.exa-mple.topic", "exact", true, false],
  ["com.ex\u00e9mple", "exact", true, false],
  ["", "exact", false, false],
  ["com..topic", "exact", false, false],
  ["com.example.", "exact", false, false],
  [".com.example", "exact", false, false],
  ["com.exa mple", "exact", false, false],
  ["com.exa\tmple", "exact", false, false],
  ["com.example\n", "exact", false, false],
  ["com.#.topic", "exact", false, false],
  ["com.a#b", "exact", false, false],
  ["..", "exact", false, false],
  // prefix: only the last component may be empty
  ["", "prefix", true, true],
  ["com.example.", "prefix", true, true],
  ["com.example", "prefix", true, true],
  ["com.ex", "prefix", true, true],
  ["com..example", "prefix", false, false],
  [".com", "prefix", false, false],
  ["com.example..", "prefix", false, false],
  ["Com.", "prefix", true, false],
  ["com.a b.", "prefix", false, false],
  ["com.#", "prefix", false, false],
  // wildcard: any component may be empty
  ["", "wildcard", true, true],
  ["com..topic", "wildcard", true, true],
  ["com...topic", "wildcard", true, true],
  [".com.topic", "wildcard", true, true],
  ["com.topic.", "wildcard", true, true],
  ["..", "wildcard", true, true],
  ["com.example.topic", "wildcard", true, true],
  ["com..Topic", "wildcard", true, false],
  ["com.. topic", "wildcard", false, false],
  ["com..#", "wildcard", false, false],
  ["com..to pic", "wildcard", false, false],
];

Deno.test("isValidUri: loose and strict case table", () => {
  for (const [uri, match, loose, strict] of CASES) {
    assert.equal(isValidUri(uri, match, false), loose, `loose ${match} ${JSON.stringify(uri)}`);
    assert.equal(isValidUri(uri, match, true), strict, `strict ${match} ${JSON.stringify(uri)}`);
  }
});

Deno.test("isValidUri: a URI found valid under one rule set stays checked under the others", () => {
  // isValidUri remembers the URI it last found valid per match policy and strictness; asking
  // again under other rules, or right after it, must still give each rule's own answer
  for (let round = 0; round < 3; round++) {
    for (const [uri, match, loose, strict] of CASES) {
      assert.equal(isValidUri(uri, match, false), loose, `loose ${match} ${JSON.stringify(uri)}`);
      assert.equal(isValidUri(uri, match, true), strict, `strict ${match} ${JSON.stringify(uri)}`);
      assert.equal(isValidUri(uri, match, false), loose, `loose again ${JSON.stringify(uri)}`);
    }
  }
  assert.equal(isValidUri("a..b", "wildcard", false), true);
  assert.equal(isValidUri("a..b", "exact", false), false, "valid as a pattern, not exact");
  assert.equal(isValidUri("Com.x", "exact", false), true);
  assert.equal(isValidUri("Com.x", "exact", true), false, "loose-valid, not strict");
  assert.equal(isValidUri("a.b.", "prefix", true), true);
  assert.equal(isValidUri("a.b.", "exact", true), false, "prefix-valid, not exact");
});

Deno.test("isValidUri: long URIs are checked without pathological backtracking", () => {
  // Correctness only (no timing): a long valid and a long invalid URI of each form.
  const long = Array.from({ length: 5000 }, (_, i) => `c${i}`).join(".");
  assert.equal(isValidUri(long, "exact", true), true);
  assert.equal(isValidUri(long + ". ", "exact", false), false);
  assert.equal(isValidUri(long + "..", "wildcard", true), true);
  assert.equal(isValidUri(long + "..#", "wildcard", false), false);
  assert.equal(isValidUri(long + ".", "prefix", true), true);
  assert.equal(isValidUri(long + "..", "prefix", true), false);
});

Deno.test("isReservedUri: first component wamp", () => {
  const table: [string, boolean][] = [
    ["wamp", true],
    ["wamp.session.on_join", true],
    ["wamp.", true],
    ["wampx.foo", false],
    ["com.wamp.foo", false],
    ["WAMP.session", false],
    ["", false],
  ];
  for (const [uri, reserved] of table) assert.equal(isReservedUri(uri), reserved, uri);
});

Deno.test("patternMayMatchReserved: the patterns clients could use to shadow wamp.*", () => {
  const table: [string, MatchPolicy, boolean][] = [
    ["wamp.session.count", "exact", true],
    ["switchboard.reload_config", "exact", true],
    ["com.wamp", "exact", false],
    ["wamp", "prefix", true],
    ["wamp.", "prefix", true],
    ["wam", "prefix", true],
    ["w", "prefix", true],
    ["", "prefix", true],
    ["switch", "prefix", true],
    ["switchboard.re", "prefix", true],
    ["wampx", "prefix", false],
    ["wamp_", "prefix", false],
    ["com.", "prefix", false],
    ["x", "prefix", false],
    [".session.list", "wildcard", true],
    ["..", "wildcard", true],
    ["", "wildcard", true],
    ["wamp..list", "wildcard", true],
    ["switchboard.", "wildcard", true],
    ["wam..list", "wildcard", false],
    ["com..list", "wildcard", false],
    ["com.", "wildcard", false],
  ];
  for (const [uri, match, expected] of table) {
    assert.equal(patternMayMatchReserved(uri, match), expected, `${match} ${JSON.stringify(uri)}`);
  }
});

Deno.test("patternMayMatchReserved agrees with matching every URI of a small universe", () => {
  // Patterns of 1..3 components from these; URIs of 1..4 components from the non-empty ones
  // plus "z": enough to contain, for every pattern, a reserved URI it matches if one exists.
  const parts = ["", "wamp", "switchboard", "w", "wam", "wampx", "a", "switch"];
  const components = [...parts.filter((p) => p !== ""), "z"];
  const uris: string[] = [];
  const build = (prefix: string[]) => {
    if (prefix.length > 0) uris.push(prefix.join("."));
    if (prefix.length < 4) { for (const c of components) build([...prefix, c]); }
  };
  build([]);
  const reserved = uris.filter(isReservedUri);
  const patterns: string[] = [];
  const grow = (prefix: string[]) => {
    if (prefix.length > 0) patterns.push(prefix.join("."));
    if (prefix.length < 3) { for (const c of parts) grow([...prefix, c]); }
  };
  grow([]);
  for (const match of ["exact", "prefix", "wildcard"] as const) {
    for (const pattern of patterns) {
      if (!isValidUri(pattern, match, false)) continue;
      const expected = reserved.some((uri) => uriMatches(pattern, match, uri));
      assert.equal(
        patternMayMatchReserved(pattern, match),
        expected,
        `${match} ${JSON.stringify(pattern)}`,
      );
    }
  }
});

Deno.test("Uri constants", () => {
  assert.equal(Uri.NOT_AUTHORIZED, "wamp.error.not_authorized");
  assert.equal(Uri.INVALID_URI, "wamp.error.invalid_uri");
  assert.equal(Uri.NO_SUCH_PROCEDURE, "wamp.error.no_such_procedure");
  assert.equal(
    Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
    "wamp.error.procedure_exists_with_different_invocation_policy",
  );
  assert.equal(Uri.CANCELED, "wamp.error.canceled");
  assert.equal(Uri.SYSTEM_SHUTDOWN, "wamp.close.system_shutdown");
  assert.equal(Uri.CLOSE_REALM, "wamp.close.close_realm");
  assert.equal(Uri.GOODBYE_AND_OUT, "wamp.close.goodbye_and_out");
  assert.equal(Uri.KILLED, "wamp.close.killed");
  assert.equal(Uri.NORMAL, "wamp.close.normal");
  for (const [key, value] of Object.entries(Uri)) {
    assert.match(value, /^wamp\.(error|close)\.[a-z_.]+$/, key);
    assert.equal(isValidUri(value, "exact", true), true, key);
    assert.equal(value.replaceAll(".", "_").endsWith(key.toLowerCase()), true, key);
  }
});
