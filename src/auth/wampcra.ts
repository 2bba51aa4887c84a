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

import { type Clock, isoTime, systemClock } from "../clock.ts";
import type { CraUser } from "../config/types.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { constantTimeEqual } from "./crypto.ts";
import {
  abort,
  type AuthEnv,
  authidOf,
  type AuthStep,
  type ChallengeStep,
  type Identity,
  joinedRealm,
} from "./step.ts";
import { type CraPrimitives, webCryptoCra } from "./wampcra_primitives.ts";
import { type CraEndpoint, craEndpoint } from "./wampcra_salt.ts";

/** The abort of a wampcra HELLO without an authid. */
export const CRA_NEEDS_AUTHID: AuthStep = abort(
  Uri.NOT_AUTHORIZED,
  "wampcra authentication needs an authid",
);

/** The `authrole` a challenge names: the one HELLO asked for when it is a string, else null. */
function challengeAuthrole(requested: unknown): string | null {
  return typeof requested === "string" ? requested : null;
}

/** A WAMP-CRA challenge: CHALLENGE.Extra and the check of the AUTHENTICATE signature. */
interface CraChallenge {
  readonly extra: Dict;
  /** True when `signature` signs this challenge with the user's key. */
  verify(signature: string): Promise<boolean>;
}

/** What the challenge text names, besides the nonce. */
interface ChallengeInfo {
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
    timestamp: isoTime(info.clock),
    session: info.session,
  });
}

/** Key derivation parameters of one challenge (salt null: the secret is the key). */
export interface CraSecret {
  readonly secret: string;
  readonly salt: string | null;
  readonly iterations: number;
  readonly keylen: number;
}

function challenge(
  info: ChallengeInfo,
  params: CraSecret,
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

/** What a challenge for `authid` names (its authrole: what HELLO asked for, or null). */
function challengeInfo(
  authid: string,
  hello: Hello,
  authprovider: string,
  session: number,
  env: AuthEnv,
): ChallengeInfo {
  return {
    authid,
    authrole: challengeAuthrole(hello.details.authrole),
    authprovider,
    session,
    clock: env.clock ?? systemClock,
  };
}

/** The CHALLENGE step of `challenge`: `identity` once the signature is right. */
function challengeStep(challenge: CraChallenge, identity: () => Identity): ChallengeStep {
  return {
    kind: "challenge",
    authmethod: "wampcra",
    extra: challenge.extra,
    async verify(msg) {
      return await challenge.verify(msg.signature) ? identity() : null;
    },
  };
}

/**
 * The challenge of a static endpoint for `info.authid`: `user` is its configured user, or
 * undefined for an unknown authid (never accepted, challenged and checked like a user);
 * `realm` is the realm joined (a user bound to another realm is never accepted either).
 */
async function staticChallenge(
  endpoint: CraEndpoint,
  user: CraUser | undefined,
  realm: string | null,
  info: ChallengeInfo,
  primitives: CraPrimitives = webCryptoCra,
): Promise<CraChallenge> {
  // derived for every authid, also when the user has a salt of its own: the same work
  const synthesized = await endpoint.saltOf(info.authid, primitives);
  const ownSalt = user?.salt ?? null;
  const params: CraSecret = endpoint.salted
    ? {
      secret: user?.secret ?? endpoint.dummySecret,
      salt: ownSalt ?? synthesized,
      iterations: ownSalt !== null ? user!.iterations : endpoint.iterations,
      keylen: ownSalt !== null ? user!.keylen : endpoint.keylen,
    }
    : { secret: user?.secret ?? endpoint.dummySecret, salt: null, iterations: 0, keylen: 0 };
  const accept = user !== undefined && joinedRealm(realm, user.realm) !== undefined;
  return challenge(info, params, primitives, accept);
}

/**
 * WAMP-CRA authentication of HELLO against the endpoint's static users. `sessionId` is the id
 * the session will get. Unknown authids are challenged and checked like configured users.
 */
export function staticCra(
  hello: Hello,
  users: ReadonlyMap<string, CraUser>,
  sessionId: number,
  env: AuthEnv,
): AuthStep | Promise<AuthStep> {
  const authid = authidOf(hello);
  if (authid === null) return CRA_NEEDS_AUTHID;
  const user = users.get(authid);
  const info = challengeInfo(authid, hello, "static", sessionId, env);
  return craEndpoint(users)
    .then((endpoint) => staticChallenge(endpoint, user, hello.realm, info, env.cra))
    .then((challenge) =>
      challengeStep(challenge, () => ({
        authid,
        authrole: user!.role,
        authmethod: "wampcra",
        authprovider: "static",
        authextra: {},
        realm: joinedRealm(hello.realm, user!.realm),
      }))
    );
}

/**
 * The CHALLENGE step for `secret`, which a dynamic authenticator supplied for `authid`
 * (salted when it gave a salt); `identity` once the signature is right.
 */
export function dynamicCra(
  secret: CraSecret,
  authid: string,
  hello: Hello,
  sessionId: number,
  env: AuthEnv,
  identity: () => Identity,
): ChallengeStep {
  const info = challengeInfo(authid, hello, "dynamic", sessionId, env);
  return challengeStep(challenge(info, secret, env.cra ?? webCryptoCra, true), identity);
}
