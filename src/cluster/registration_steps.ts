/**
 * The compare-and-set steps of registrations (cluster_registrations.ts): given a key's current
 * registration, what to write (or that nothing is to be written, or the WAMP error that refuses
 * the change). Pure: the caller reads, writes and retries.
 *
 * @module
 */

import type { InvokePolicy } from "../router/dealer_types.ts";
import { WampError } from "../wamp/errors.ts";
import { type MatchPolicy, Uri } from "../wamp/uris.ts";
import { type CalleeWire, registrationId, type RegistrationWire } from "./registration_wire.ts";

/** The outcome of one step: write this (null: delete the key), nothing to do, or refused. */
export type Step = { write: RegistrationWire | null } | { done: true } | { refuse: WampError };

/** What is being registered. */
export interface Adding {
  readonly realm: string;
  readonly match: MatchPolicy;
  readonly uri: string;
  readonly invoke: InvokePolicy;
  readonly me: CalleeWire;
}

/** What the step needs of its node. */
export interface StepContext {
  /** The creation time of a new registration (ISO 8601). */
  now(): string;
  /** Whether `c` is a callee of a node declared gone (it no longer counts). */
  dead(c: CalleeWire): boolean;
}

/**
 * The step that adds `a.me` to `reg` (null: the key does not exist): a new registration, the
 * callee appended (after the live ones), already there, or refused (`single`, another policy).
 */
export function adding(reg: RegistrationWire | null, a: Adding, ctx: StepContext): Step {
  const live = reg?.callees.filter((c) => !ctx.dead(c)) ?? [];
  if (!reg || live.length === 0) {
    const id = registrationId(a.realm, a.match, a.uri);
    return { write: { id, invoke: a.invoke, created: ctx.now(), callees: [a.me] } };
  }
  const me = a.me;
  const same = (c: CalleeWire) =>
    c.node === me.node && c.incarnation === me.incarnation && c.session === me.session;
  if (live.some(same)) return { done: true };
  if (reg.invoke === "single") {
    return {
      refuse: new WampError(
        Uri.PROCEDURE_ALREADY_EXISTS,
        `procedure "${a.uri}" is already registered`,
      ),
    };
  }
  if (reg.invoke !== a.invoke) {
    return {
      refuse: new WampError(
        Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
        `procedure "${a.uri}" is registered with invoke "${reg.invoke}", not "${a.invoke}"`,
      ),
    };
  }
  return { write: { ...reg, callees: [...live, me] } };
}
