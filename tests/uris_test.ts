import assert from "node:assert/strict";
import type { MatchPolicy } from "../src/config/types.ts";
import { isReservedUri, isValidUri, Uri } from "../src/wamp/uris.ts";

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
