/**
 * WAMP-CRA: challenges and their verification.
 *
 * A static endpoint's challenges do not tell which authids exist. Every challenge of an
 * endpoint has the same shape: when any of its users is salted, every challenge carries
 * `salt`, `iterations` and `keylen` (salted users their own; unsalted users and unknown
 * authids a deterministic salt, see wampcra_salt.ts), and when none is, no challenge carries a
 * salt. The challenge's `authrole` is the role the client asked for in HELLO (or null), never
 * the configured one. Every authid costs the same work: the deterministic salt is derived at
 * CHALLENGE time for every authid, and the verification always runs the same key derivation
 * and HMAC, unknown authids with a dummy secret.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { CraUser } from "../config/types.ts";
import type { Dict } from "../wamp/messages.ts";
import { constantTimeEqual } from "./crypto.ts";
import { type CraPrimitives, webCryptoCra } from "./wampcra_primitives.ts";
import type { CraEndpoint } from "./wampcra_salt.ts";

/** The `authrole` a challenge names: the one HELLO asked for when it is a string, else null. */
export function challengeAuthrole(requested: unknown): string | null {
  return typeof requested === "string" ? requested : null;
}

/** A WAMP-CRA challenge: CHALLENGE.Extra and the check of the AUTHENTICATE signature. */
export interface CraChallenge {
  readonly extra: Dict;
  /** True when `signature` signs this challenge with the user's key. */
  verify(signature: string): Promise<boolean>;
}

/** What the challenge text names, besides the nonce. */
export interface ChallengeInfo {
  readonly authid: string;
  /** From {@linkcode challengeAuthrole}. */
  readonly authrole: string | null;
  readonly authprovider: string;
  /** The session id the session will get. */
  readonly session: number;
  readonly clock: Clock;
}

function challengeText(info: ChallengeInfo): string {
  return JSON.stringify({
    authid: info.authid,
    authrole: info.authrole,
    authmethod: "wampcra",
    authprovider: info.authprovider,
    nonce: crypto.getRandomValues(new Uint8Array(16)).toBase64(),
    timestamp: new Date(Number(info.clock.nowNs() / 1_000_000n)).toISOString(),
    session: info.session,
  });
}

/** Key derivation parameters of one challenge (salt null: the secret is the key). */
interface KeyParams {
  readonly secret: string;
  readonly salt: string | null;
  readonly iterations: number;
  readonly keylen: number;
}

function challenge(
  info: ChallengeInfo,
  params: KeyParams,
  primitives: CraPrimitives,
  accept: boolean,
): CraChallenge {
  const text = challengeText(info);
  const extra: Dict = { challenge: text };
  if (params.salt !== null) {
    Object.assign(extra, {
      salt: params.salt,
      iterations: params.iterations,
      keylen: params.keylen,
    });
  }
  return {
    extra,
    async verify(signature) {
      const key = params.salt === null
        ? params.secret
        : await primitives.pbkdf2(params.secret, params.salt, params.iterations, params.keylen);
      const expected = await primitives.sign(key, text);
      return constantTimeEqual(signature, expected) && accept;
    },
  };
}

/**
 * The challenge of a static endpoint for `info.authid`: `user` is its configured user, or
 * undefined for an unknown authid (never accepted, challenged and checked like a user);
 * `realm` is the realm joined (a user bound to another realm is never accepted either).
 */
export async function staticCraChallenge(
  endpoint: CraEndpoint,
  user: CraUser | undefined,
  realm: string,
  info: ChallengeInfo,
  primitives: CraPrimitives = webCryptoCra,
): Promise<CraChallenge> {
  // derived for every authid, also when the user has a salt of its own: the same work
  const synthesized = await endpoint.saltOf(info.authid, primitives);
  const ownSalt = user?.salt ?? null;
  const params: KeyParams = endpoint.salted
    ? {
      secret: user?.secret ?? endpoint.dummySecret,
      salt: ownSalt ?? synthesized,
      iterations: ownSalt !== null ? user!.iterations : endpoint.iterations,
      keylen: ownSalt !== null ? user!.keylen : endpoint.keylen,
    }
    : { secret: user?.secret ?? endpoint.dummySecret, salt: null, iterations: 0, keylen: 0 };
  const accept = user !== undefined && (user.realm === null || user.realm === realm);
  return challenge(info, params, primitives, accept);
}

/**
 * The challenge for a secret a dynamic authenticator supplied (salted when it gave a salt).
 */
export function dynamicCraChallenge(
  secret: KeyParams,
  info: ChallengeInfo,
  primitives: CraPrimitives = webCryptoCra,
): CraChallenge {
  return challenge(info, secret, primitives, true);
}
