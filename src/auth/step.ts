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

/** HELLO's `authid`, or null when it names none (or not as a string). */
export function authidOf(hello: Hello): string | null {
  return typeof hello.details.authid === "string" ? hello.details.authid : null;
}
