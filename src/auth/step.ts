/**
 * The vocabulary the authentication methods and their dispatcher share: who a session is once
 * authenticated ({@linkcode Identity}), what HELLO comes to ({@linkcode AuthStep}: WELCOME, a
 * CHALLENGE and the check of its AUTHENTICATE, or ABORT), and what authentication uses
 * besides HELLO and the endpoint ({@linkcode AuthEnv}).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { ConnectionCookie } from "../transport/cookie_store.ts";
import type { Authenticate, Dict, Hello } from "../wamp/messages.ts";
import type { CraPrimitives } from "./wampcra_primitives.ts";

/** Who a session is, once authenticated. */
export interface Identity {
  readonly authid: string;
  readonly authrole: string;
  readonly authmethod: string;
  readonly authprovider: string;
  readonly authextra: Dict;
  /**
   * The realm authentication assigned (a principal's `realm`, a dynamic authenticator's
   * answer, a cookie's realm): the session joins it. Absent or null: the realm HELLO named.
   */
  readonly realm?: string | null;
}

/** Why authentication ended: the ABORT's reason URI and message. */
export interface Failure {
  readonly reason: string;
  readonly message: string;
}

/** The outcome of HELLO. */
export type AuthStep =
  | { readonly kind: "welcome"; readonly identity: Identity }
  | {
    readonly kind: "challenge";
    readonly authmethod: string;
    readonly extra: Dict;
    /** Checks AUTHENTICATE; resolves to the identity, or null when authentication failed. */
    verify(msg: Authenticate): Promise<Identity | null>;
    /** After a failed `verify`: the reason to abort with, when not `wamp.error.not_authorized`. */
    readonly failure?: Failure | null;
  }
  | { readonly kind: "abort"; readonly reason: string; readonly message: string };

/** The CHALLENGE step. */
export type ChallengeStep = Extract<AuthStep, { readonly kind: "challenge" }>;

/** An ABORT step: `reason` is its URI. */
export function abort(reason: string, message: string): AuthStep {
  return { kind: "abort", reason, message };
}

/** What authentication uses besides HELLO and the endpoint: time and the CRA primitives. */
export interface AuthEnv {
  /** Time source (WAMP-CRA challenge timestamps); default the system clock. */
  readonly clock?: Clock;
  /** WAMP-CRA key derivation and signing; default WebCrypto. */
  readonly cra?: CraPrimitives;
  /** The connection's tracking cookie, for `cookie` authentication; none by default. */
  readonly cookie?: ConnectionCookie | null;
}

/**
 * The realm a principal assigned to `assigned` (null: any realm) joins for a HELLO that named
 * `requested` (null: none): the assigned realm, else the requested one (null: none at all, which
 * the session refuses with `wamp.error.no_such_realm`); undefined when HELLO named another realm
 * than the assigned one. Unlike Crossbar, which redirects such a session to the assigned realm,
 * it is refused: a client never lands in a realm it did not ask for.
 */
export function joinedRealm(
  requested: string | null,
  assigned: string | null | undefined,
): string | null | undefined {
  if (assigned === null || assigned === undefined) return requested;
  return requested === null || requested === assigned ? assigned : undefined;
}

/** HELLO's `authid`, or null when it names none (or not as a string). */
export function authidOf(hello: Hello): string | null {
  return typeof hello.details.authid === "string" ? hello.details.authid : null;
}
