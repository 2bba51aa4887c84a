/**
 * Static role permissions (wamp-router-spec.md §11, decisions.md "Permissions").
 *
 * For a URI the deciding rule is: the `exact` rule for the URI; else the best matching
 * `wildcard` rule (spec precedence: a concrete component beats an empty one at the first
 * position where two patterns differ); else the longest matching `prefix` rule; else none, which
 * denies. The chosen rule alone decides. Pure logic, no I/O.
 *
 * @module
 */

import type { Action, Permission, RoleConfig } from "../config/types.ts";
import { UriIndex } from "../wamp/uri_index.ts";

/** Outcome of an authorization. */
export interface AuthorizationResult {
  /** Whether the action is allowed. */
  readonly allowed: boolean;
  /**
   * Whether the permission forces disclosure of the caller / publisher: the rule's
   * `disclose.caller` for `call`, `disclose.publisher` for `publish`, else `false`
   * (also `false` when no rule matched).
   */
  readonly disclose: boolean;
  /** The rule that decided, or `null` when no rule matched (deny). */
  readonly rule: Permission | null;
}

/** The result when no rule matches (or the role is unknown). */
const DENY: AuthorizationResult = Object.freeze({ allowed: false, disclose: false, rule: null });

const ACTIONS: readonly Action[] = ["call", "register", "publish", "subscribe"];

/** A rule with its four precomputed results, so `authorize` allocates nothing. */
interface CompiledRule {
  readonly rule: Permission;
  readonly results: Readonly<Record<Action, AuthorizationResult>>;
}

function compile(rule: Permission): CompiledRule {
  const results = {} as Record<Action, AuthorizationResult>;
  for (const action of ACTIONS) {
    const disclose = action === "call"
      ? rule.disclose.caller
      : action === "publish"
      ? rule.disclose.publisher
      : false;
    results[action] = Object.freeze({ allowed: rule.allow[action] === true, disclose, rule });
  }
  return { rule, results: Object.freeze(results) };
}

/** The permission rules of one role, indexed for lookup by URI. */
export class RolePermissions {
  /** The role's name. */
  readonly name: string;
  readonly #rules = new UriIndex<CompiledRule>();

  /**
   * Indexes the role's rules. When two rules have the same `uri` and `match`, the later one
   * replaces the earlier one.
   *
   * @param role the resolved role configuration
   */
  constructor(role: RoleConfig) {
    this.name = role.name;
    for (const rule of role.permissions) this.#rules.set(rule.uri, rule.match, compile(rule));
  }

  /** Number of distinct (uri, match) rules. */
  get size(): number {
    return this.#rules.size;
  }

  /**
   * The rules in effect (a later rule with the same `uri` and `match` having replaced the
   * earlier one), for analyses that must consider all of them (see `pattern_coverage.ts`).
   *
   * @returns an iterator over the rules
   */
  *rules(): IterableIterator<Permission> {
    for (const [, , compiled] of this.#rules) yield compiled.rule;
  }

  #find(uri: string): CompiledRule | undefined {
    const rules = this.#rules;
    return (rules.exactMatch(uri) ?? rules.bestWildcard(uri) ?? rules.longestPrefix(uri))?.value;
  }

  /**
   * Decides whether this role may perform `action` on `uri`. The returned object is shared and
   * frozen.
   *
   * @param uri the URI of the request
   * @param action the action
   * @returns the decision; `rule` is `null` and `allowed` false when no rule matches
   */
  authorize(uri: string, action: Action): AuthorizationResult {
    return this.#find(uri)?.results[action] ?? DENY;
  }
}

/** The static permissions of a realm: role name → {@link RolePermissions}. */
export class Permissions {
  readonly #roles = new Map<string, RolePermissions>();

  /**
   * Indexes the roles. With duplicate role names the later role replaces the earlier one.
   *
   * @param roles the realm's resolved roles
   */
  constructor(roles: readonly RoleConfig[]) {
    for (const role of roles) this.#roles.set(role.name, new RolePermissions(role));
  }

  /**
   * Whether a role of that name exists.
   *
   * @param role the role name
   * @returns `true` if configured
   */
  has(role: string): boolean {
    return this.#roles.has(role);
  }

  /**
   * The permissions of one role.
   *
   * @param role the role name
   * @returns the role's permissions, or `undefined` for an unknown role
   */
  role(role: string): RolePermissions | undefined {
    return this.#roles.get(role);
  }

  /**
   * Decides whether `role` may perform `action` on `uri`. An unknown role is denied.
   *
   * @param role the session's authrole
   * @param uri the URI of the request
   * @param action the action
   * @returns the decision
   */
  authorize(role: string, uri: string, action: Action): AuthorizationResult {
    return this.#roles.get(role)?.authorize(uri, action) ?? DENY;
  }
}
