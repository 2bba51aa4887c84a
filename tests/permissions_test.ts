import assert from "node:assert/strict";
import type { Action, MatchPolicy, Permission, RoleConfig } from "../src/config/types.ts";
import { Permissions, RolePermissions } from "../src/auth/permissions.ts";
import { parseStarredUri } from "../src/config/realm.ts";

const ALL: Record<Action, boolean> = { call: true, register: true, publish: true, subscribe: true };
const NONE: Record<Action, boolean> = {
  call: false,
  register: false,
  publish: false,
  subscribe: false,
};

function rule(
  uri: string,
  match: MatchPolicy,
  allow: Partial<Record<Action, boolean>> | "all" | "none",
  disclose: { caller?: boolean; publisher?: boolean } = {},
): Permission {
  return {
    uri,
    match,
    allow: allow === "all" ? ALL : allow === "none" ? NONE : { ...NONE, ...allow },
    disclose: { caller: disclose.caller ?? false, publisher: disclose.publisher ?? false },
    cache: true,
  };
}

function role(name: string, permissions: Permission[]): RoleConfig {
  return { name, permissions };
}

/** Asserts a table of [uri, action, allowed, expected deciding rule uri:match or null]. */
function check(
  perms: RolePermissions,
  table: [string, Action, boolean, string | null][],
): void {
  for (const [uri, action, allowed, by] of table) {
    const result = perms.authorize(uri, action);
    const label = `${action} ${JSON.stringify(uri)}`;
    assert.equal(result.allowed, allowed, label);
    assert.equal(
      result.rule === null ? null : `${result.rule.match}:${result.rule.uri}`,
      by,
      label,
    );
    for (const other of ["call", "register", "publish", "subscribe"] as const) {
      assert.equal(perms.authorize(uri, other).rule, result.rule, label);
    }
  }
}

Deno.test("decisions.md example: allow-all prefix plus wildcard deny for com.app..admin", () => {
  const perms = new RolePermissions(
    role("user", [rule("", "prefix", "all"), rule("com.app..admin", "wildcard", "none")]),
  );
  check(perms, [
    ["com.app.x.admin", "call", false, "wildcard:com.app..admin"],
    ["com.app.x.admin", "subscribe", false, "wildcard:com.app..admin"],
    ["com.app.y.admin", "publish", false, "wildcard:com.app..admin"],
    ["com.app.x.user", "call", true, "prefix:"],
    ["com.app.x.admin.more", "call", true, "prefix:"],
    ["com.app.admin", "register", true, "prefix:"],
    ["org.other", "subscribe", true, "prefix:"],
    // a wildcard SUBSCRIBE is authorized on its pattern string
    ["com.app..admin", "subscribe", false, "wildcard:com.app..admin"],
  ]);
});

Deno.test("precedence: exact beats wildcard beats prefix; longest prefix among prefixes", () => {
  const perms = new RolePermissions(role("r", [
    rule("com.", "prefix", { call: true }),
    rule("com.app.", "prefix", { publish: true }),
    rule("com.app.very.long.prefix.", "prefix", { register: true }),
    rule("com.app..x", "wildcard", { subscribe: true }),
    rule("com.app.very.x", "exact", "none"),
    rule("com.app.very.long.prefix.x", "exact", { call: true }),
  ]));
  check(perms, [
    ["com.app.very.x", "subscribe", false, "exact:com.app.very.x"], // exact beats wildcard
    ["com.app.other.x", "subscribe", true, "wildcard:com.app..x"],
    ["com.app.other.x", "publish", false, "wildcard:com.app..x"], // the chosen rule alone decides
    ["com.app.other.y", "publish", true, "prefix:com.app."], // longest prefix
    ["com.app.other.y", "call", false, "prefix:com.app."],
    ["com.zzz", "call", true, "prefix:com."],
    ["com.app.very.long.prefix.y", "register", true, "prefix:com.app.very.long.prefix."],
    ["com.app.very.long.prefix.x", "call", true, "exact:com.app.very.long.prefix.x"],
    ["org.app", "call", false, null],
  ]);
  // A wildcard rule beats a longer prefix rule that also matches (decisions.md order).
  const p2 = new RolePermissions(role("r", [
    rule("a.b.c.", "prefix", "all"),
    rule("a...d", "wildcard", "none"),
  ]));
  check(p2, [
    ["a.b.c.d", "call", false, "wildcard:a...d"],
    ["a.b.c.e", "call", true, "prefix:a.b.c."],
  ]);
});

Deno.test("wildcard rules use the spec precedence", () => {
  const perms = new RolePermissions(role("r", [
    rule("a1...d4", "wildcard", { call: true }),
    rule("a1.b2..d4", "wildcard", { register: true }),
    rule("a1.b2..d4.e5", "wildcard", { publish: true }),
    rule("a1.b2.c33..e5", "wildcard", { subscribe: true }),
    rule("com.example.", "wildcard", "all"), // trailing empty component: a real wildcard
  ]));
  check(perms, [
    ["a1.b2.c3.d4", "register", true, "wildcard:a1.b2..d4"],
    ["a1.b2.c3.d4", "call", false, "wildcard:a1.b2..d4"],
    ["a1.x.c3.d4", "call", true, "wildcard:a1...d4"],
    ["a1.b2.c33.d4.e5", "subscribe", true, "wildcard:a1.b2.c33..e5"],
    ["a1.b2.c34.d4.e5", "publish", true, "wildcard:a1.b2..d4.e5"],
    ["com.example.x", "call", true, "wildcard:com.example."],
    ["com.example.x.y", "call", false, null],
  ]);
});

Deno.test("an exact rule does not hide a shorter matching prefix rule", () => {
  // Crossbar quirk not copied: its longest string key would be the exact rule `com.app`.
  const perms = new RolePermissions(role("r", [
    rule("com.", "prefix", { call: true }),
    rule("com.app", "exact", "none"),
  ]));
  check(perms, [
    ["com.app", "call", false, "exact:com.app"],
    ["com.app.x", "call", true, "prefix:com."],
    ["com.apple", "call", true, "prefix:com."],
  ]);
});

Deno.test("disclose follows the action", () => {
  const perms = new RolePermissions(role("r", [
    rule("both", "exact", "all", { caller: true, publisher: true }),
    rule("caller", "exact", "all", { caller: true }),
    rule("publisher", "exact", "all", { publisher: true }),
  ]));
  const table: [string, Action, boolean][] = [
    ["both", "call", true],
    ["both", "publish", true],
    ["both", "register", false],
    ["both", "subscribe", false],
    ["caller", "call", true],
    ["caller", "publish", false],
    ["publisher", "call", false],
    ["publisher", "publish", true],
    ["nothing", "call", false],
  ];
  for (const [uri, action, disclose] of table) {
    assert.equal(perms.authorize(uri, action).disclose, disclose, `${action} ${uri}`);
  }
});

Deno.test("no matching rule and unknown roles deny", () => {
  const permissions = new Permissions([
    role("anonymous", [rule("com.public.", "prefix", { subscribe: true, call: true })]),
    role("empty", []),
  ]);
  const denied = { allowed: false, disclose: false, rule: null };
  assert.deepEqual(permissions.authorize("nobody", "com.public.x", "subscribe"), denied);
  assert.deepEqual(permissions.authorize("empty", "com.public.x", "subscribe"), denied);
  assert.deepEqual(permissions.authorize("anonymous", "com.private.x", "subscribe"), denied);
  assert.equal(permissions.authorize("anonymous", "com.public.x", "subscribe").allowed, true);
  assert.equal(permissions.authorize("anonymous", "com.public.x", "publish").allowed, false);
  assert.equal(permissions.has("anonymous"), true);
  assert.equal(permissions.has("nobody"), false);
  assert.equal(permissions.role("anonymous")?.name, "anonymous");
  assert.equal(permissions.role("anonymous")?.size, 1);
  assert.equal(permissions.role("nobody"), undefined);
});

Deno.test("a later rule with the same uri and match replaces the earlier one", () => {
  const perms = new RolePermissions(role("r", [
    rule("a.b", "exact", "all"),
    rule("a.b", "exact", "none"),
    rule("a.b", "prefix", "all"),
  ]));
  assert.equal(perms.size, 2);
  check(perms, [["a.b", "call", false, "exact:a.b"], ["a.bc", "call", true, "prefix:a.b"]]);
});

Deno.test("parseStarredUri: Crossbar's starred syntax", () => {
  const table: [string, string, MatchPolicy][] = [
    ["com.example.topic", "com.example.topic", "exact"],
    ["", "", "exact"],
    ["com.example.*", "com.example.", "prefix"],
    ["com.example*", "com.example", "prefix"],
    ["*", "", "prefix"],
    ["com.*.foo", "com..foo", "wildcard"],
    ["*.foo", ".foo", "wildcard"],
    ["com.*.foo.*", "com..foo.", "wildcard"],
    ["com.**", "com.", "wildcard"],
    ["**", "", "wildcard"],
  ];
  for (const [input, uri, match] of table) {
    assert.deepEqual(parseStarredUri(input), { uri, match }, input);
  }
});
