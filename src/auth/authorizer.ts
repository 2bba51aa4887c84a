/**
 * Authorization for one realm behind one method: may this session do this action on this URI
 * (or pattern)? Static roles are decided by their permissions (a pattern by every URI it can
 * match, see `pattern_coverage.ts`); roles with a dynamic authorizer by a WAMP procedure, whose
 * answers this module caches per session when the answer says so.
 *
 * @module
 */

import type { Action, MatchPolicy, RoleConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Dict } from "../wamp/messages.ts";
import { TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import { patternCoverage } from "./pattern_coverage.ts";
import { Permissions } from "./permissions.ts";

/** An authorization decision. `error` replaces `wamp.error.not_authorized` when set. */
export interface Decision {
  readonly allowed: boolean;
  /** The permission forces disclosure of the caller / publisher. */
  readonly disclose: boolean;
  readonly error?: string;
  /**
   * A pattern subscription the role's permissions cover only in part: allowed, but the
   * session gets only the events whose topic it may subscribe to.
   */
  readonly filtered?: boolean;
}

/** What is being authorized. */
export interface AuthorizationRequest {
  /** The session asking. */
  readonly session: {
    readonly id: number;
    readonly authrole: string;
    /** Its details as the session meta API shows them (what an authorizer procedure gets). */
    details(): unknown;
  };
  readonly uri: string;
  readonly action: Action;
  /** How `uri` matches: a concrete URI (`exact`) or a pattern. */
  readonly match: MatchPolicy;
  /** The message's options (what an authorizer procedure gets, `match` always set). */
  readonly options?: Dict;
  /**
   * False where no procedure may be asked (a testament published as the session ends): a
   * dynamic role then gets its cached answer, or a denial.
   */
  readonly wait?: boolean;
}

/** Decides authorizations; a promise when an authorizer procedure must be asked. */
export interface Authorizer {
  authorize(request: AuthorizationRequest): Decision | Promise<Decision>;
}

/**
 * Calls an authorizer procedure with positional `args`; resolves to its first result, rejects
 * when the call fails or takes too long (the caller bounds it).
 */
export type AuthorizerCall = (procedure: string, args: unknown[]) => Promise<unknown>;

const TRUSTED: Decision = Object.freeze({ allowed: true, disclose: true });
const ALLOWED: Decision = Object.freeze({ allowed: true, disclose: false });
const ALLOWED_FILTERED: Decision = Object.freeze({
  allowed: true,
  disclose: false,
  filtered: true,
});
const DENIED: Decision = Object.freeze({ allowed: false, disclose: false });
const FAILED: Decision = Object.freeze({
  allowed: false,
  disclose: false,
  error: Uri.AUTHORIZATION_FAILED,
});

/**
 * A dynamic authorizer's answer: a boolean, or `{allow, disclose?, cache?}` and nothing else.
 * Anything else is invalid (null), which denies with `wamp.error.authorization_failed`.
 */
export function parseAuthorizerAnswer(
  answer: unknown,
): { decision: Decision; cache: boolean } | null {
  if (typeof answer === "boolean") {
    return { decision: answer ? ALLOWED : DENIED, cache: false };
  }
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return null;
  const a = answer as Dict;
  if (typeof a.allow !== "boolean") return null;
  for (const [k, v] of Object.entries(a)) {
    if (k === "allow") continue;
    if ((k !== "disclose" && k !== "cache") || typeof v !== "boolean") return null;
  }
  return { decision: { allowed: a.allow, disclose: a.disclose === true }, cache: a.cache === true };
}

/** Key of a cached decision: the match policy is part of what was decided. */
function cacheKey(action: Action, match: MatchPolicy, uri: string): string {
  return `${action} ${match} ${uri}`;
}

/** What a realm's authorizer is built from. */
export interface RealmAuthorizerOptions {
  readonly roles: readonly RoleConfig[];
  /** The realm's `uri_check` is `strict` (patterns match only strict URIs). */
  readonly strict: boolean;
  /** Calls the dynamic authorizer procedures. */
  readonly call: AuthorizerCall;
  readonly logger: Logger;
}

/** The authorizer of one realm: static permissions and dynamic authorizer procedures. */
export class RealmAuthorizer implements Authorizer {
  readonly #permissions: Permissions;
  readonly #procedures = new Map<string, string>();
  readonly #options: RealmAuthorizerOptions;
  /** Answers the procedures asked to cache, by session id, then by action, match and URI. */
  readonly #cache = new Map<number, Map<string, Decision>>();

  constructor(options: RealmAuthorizerOptions) {
    this.#options = options;
    this.#permissions = new Permissions(options.roles);
    for (const role of options.roles) {
      if (role.authorizer) this.#procedures.set(role.name, role.authorizer);
    }
  }

  /** True when sessions may join with `role` (built-in `anonymous` and `trusted` always). */
  hasRole(role: string): boolean {
    return role === TRUSTED_ROLE || role === "anonymous" || this.#permissions.has(role);
  }

  /** True when `role` is decided by an authorizer procedure. */
  isDynamic(role: string): boolean {
    return this.#procedures.has(role);
  }

  /** Forgets what was cached for a session (it left). */
  forget(sessionId: number): void {
    this.#cache.delete(sessionId);
  }

  authorize(request: AuthorizationRequest): Decision | Promise<Decision> {
    const { session, uri, action, match } = request;
    if (session.authrole === TRUSTED_ROLE) return TRUSTED;
    const procedure = this.#procedures.get(session.authrole);
    if (procedure !== undefined) {
      const cached = this.#cache.get(session.id)?.get(cacheKey(action, match, uri));
      if (cached) return cached;
      if (request.wait === false) return FAILED;
      return this.#ask(procedure, request);
    }
    if (match === "exact") return this.#permissions.authorize(session.authrole, uri, action);
    const role = this.#permissions.role(session.authrole);
    switch (patternCoverage(role, uri, match, action, this.#options.strict)) {
      case "all":
        return ALLOWED;
      case "some":
        return action === "subscribe" ? ALLOWED_FILTERED : DENIED;
      case "none":
        return DENIED;
    }
  }

  async #ask(procedure: string, request: AuthorizationRequest): Promise<Decision> {
    const { session, uri, action, match } = request;
    const { logger } = this.#options;
    let answer: unknown;
    try {
      // `match` always explicit, so an authorizer cannot mistake a pattern for a URI
      const options = { ...(request.options ?? {}), match };
      answer = await this.#options.call(procedure, [session.details(), uri, action, options]);
    } catch (e) {
      logger.warn("authorizer failed", { procedure, uri, action, error: String(e) });
      return FAILED;
    }
    const parsed = parseAuthorizerAnswer(answer);
    if (!parsed) {
      logger.warn("authorizer gave an invalid answer", { procedure, uri, action });
      return FAILED;
    }
    if (parsed.cache) {
      let mine = this.#cache.get(session.id);
      if (!mine) this.#cache.set(session.id, mine = new Map());
      mine.set(cacheKey(action, match, uri), parsed.decision);
    }
    return parsed.decision;
  }
}
