/**
 * Dynamic authentication, as Crossbar calls it: `authenticate(realm, authid, details)` on a
 * procedure registered by a trusted component, for any method. For `anonymous`, `wampcra` and
 * `cryptosign` the call happens at HELLO (the answer supplies the role and the secret or public
 * key, for `scram` the credential: `kdf`, `iterations`, `memory`, `salt`, `stored-key`,
 * `server-key` as a static principal has them); for `ticket` it happens at AUTHENTICATE with
 * `details.ticket`. The answer is a role, or
 * `{role, authid?, realm?, extra?}` plus the method's secret or keys; an error the procedure
 * raises ends the handshake with its URI. The challenges are the methods' own. The answer's
 * `realm` is the session's realm: a HELLO may leave the realm out (the authenticator is called
 * with realm null, on its `authenticator-realm`), and one that names another realm than the
 * answer's gets no session.
 *
 * @module
 */

import { scramCredential } from "../config/scram.ts";
import type { AuthMethod, DynamicAuthenticator } from "../config/types.ts";
import { serialNumber } from "../wamp/ids.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import { cryptosignBinding, cryptosignChallenge, cryptosignKey } from "./cryptosign.ts";
import {
  abort,
  type AuthEnv,
  authidOf,
  type AuthStep,
  type Failure,
  type Identity,
  joinedRealm,
} from "./step.ts";
import { scramChallenge, scramHello } from "./scram.ts";
import { TICKET_NEEDS_AUTHID, ticketChallenge } from "./ticket.ts";
import { NO_CLIENT_CERTIFICATE, peerCertificate } from "./tls.ts";
import { CRA_NEEDS_AUTHID, type CraSecret, dynamicCra } from "./wampcra.ts";

/**
 * Calls a dynamic authenticator procedure on `realm` with positional `args`, as a session of
 * `role` (null: the router's own, trusted); resolves to the first result argument, rejects
 * with a `WampError` carrying the procedure's error URI.
 */
export type AuthenticatorCall = (
  realm: string,
  procedure: string,
  args: unknown[],
  role?: string | null,
) => Promise<unknown>;

/** The abort when the endpoint's authenticator cannot be called at all. */
const NO_AUTHENTICATOR: AuthStep = abort(
  Uri.AUTHENTICATION_FAILED,
  "no dynamic authenticator is available",
);

/**
 * The abort of a HELLO without a realm on an authenticator without `authenticator-realm`: there
 * is no realm to call it on (Crossbar refuses the same).
 */
const NO_AUTHENTICATOR_REALM: AuthStep = abort(
  Uri.NO_SUCH_REALM,
  'HELLO names no realm, and the dynamic authenticator has no "authenticator-realm" to run on',
);

/** The abort when the answer is not one. */
const BAD_ANSWER: AuthStep = abort(
  Uri.AUTHENTICATION_FAILED,
  "the authenticator gave an invalid answer",
);

/**
 * Authenticates HELLO with `method` through the endpoint's authenticator `dyn`, called with
 * `call` (null: none is available). `sessionId` is the id the session will get; `transport`
 * the connection's details the authenticator is given.
 */
export function dynamicAuthenticate(
  method: AuthMethod,
  hello: Hello,
  dyn: DynamicAuthenticator,
  call: AuthenticatorCall | null,
  sessionId: number,
  transport: Dict,
  env: AuthEnv,
): AuthStep | Promise<AuthStep> {
  if (!call) return NO_AUTHENTICATOR;
  return dynamicStep(method, hello, dyn, call, sessionId, transport, env);
}

/** What a dynamic authenticator answered: a role, or a principal dictionary (`raw`). */
interface Answer {
  role: string;
  authid?: string;
  realm?: string;
  extra: Dict;
  raw: Dict;
}

/** The answer `value` parsed, or null when it is none (the `trusted` role is never one). */
function parseAnswer(value: unknown): Answer | null {
  if (typeof value === "string" && value !== "") return { role: value, extra: {}, raw: {} };
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const d = value as Dict;
  if (typeof d.role !== "string" || d.role === "" || d.role === TRUSTED_ROLE) return null;
  if (d.authid !== undefined && typeof d.authid !== "string") return null;
  if (d.realm !== undefined && typeof d.realm !== "string") return null;
  const extra = d.extra ?? {};
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) return null;
  return {
    role: d.role,
    authid: d.authid as string | undefined,
    realm: d.realm as string | undefined,
    extra: extra as Dict,
    raw: d,
  };
}

/** The error of a failed authenticator call as an abort step (its URI passes through). */
function callFailed(e: unknown): AuthStep {
  const uri =
    typeof e === "object" && e !== null && typeof (e as { uri?: unknown }).uri === "string"
      ? (e as { uri: string }).uri
      : Uri.AUTHENTICATION_FAILED;
  if (uri === Uri.NO_SUCH_PROCEDURE || uri === Uri.CANCELED || uri === Uri.RUNTIME_ERROR) {
    return abort(Uri.AUTHENTICATION_FAILED, "the authenticator is not available or failed");
  }
  return abort(uri, e instanceof Error ? e.message : "authentication denied");
}

/** The WAMP-CRA secret of an answer: `secret`, salted when it gives `salt`; null when invalid. */
function craSecretOf(raw: Dict): CraSecret | null {
  const secret = raw.secret;
  if (typeof secret !== "string" || secret === "") return null;
  const salted = raw.salt !== undefined;
  const iterations = raw.iterations ?? 1000;
  const keylen = raw.keylen ?? 32;
  if (
    salted &&
    (typeof raw.salt !== "string" || typeof iterations !== "number" ||
      typeof keylen !== "number")
  ) return null;
  return {
    secret,
    salt: salted ? raw.salt as string : null,
    iterations: iterations as number,
    keylen: keylen as number,
  };
}

/** The cryptosign keys of an answer (lower case): `authorized_keys`, else `pubkey`, else none. */
function authorizedKeysOf(raw: Dict): string[] {
  return Array.isArray(raw.authorized_keys)
    ? (raw.authorized_keys as unknown[]).map((k) => String(k).toLowerCase())
    : typeof raw.pubkey === "string"
    ? [raw.pubkey.toLowerCase()]
    : [];
}

/** The call of the authenticator and the step its answer gives, per method. */
async function dynamicStep(
  method: AuthMethod,
  hello: Hello,
  dyn: DynamicAuthenticator,
  call: AuthenticatorCall,
  sessionId: number,
  transport: Dict,
  env: AuthEnv,
): Promise<AuthStep> {
  const realm = hello.realm;
  const authid = authidOf(hello);
  const where = dyn.realm ?? realm;
  if (where === null) return NO_AUTHENTICATOR_REALM;
  const details: Dict = {
    session: sessionId,
    authmethod: method,
    authid,
    authrole: hello.details.authrole ?? null,
    authextra: hello.details.authextra ?? {},
    transport,
  };
  const ask = async (extraDetails: Dict = {}): Promise<Answer | AuthStep> => {
    let value: unknown;
    try {
      value = await call(where, dyn.authenticator, [realm, authid, {
        ...details,
        ...extraDetails,
      }], dyn.role ?? null);
    } catch (e) {
      return callFailed(e);
    }
    const answer = parseAnswer(value);
    // the answer's realm is the session's; with HELLO naming another one it is not an answer
    if (!answer || joinedRealm(realm, answer.realm) === undefined) return BAD_ANSWER;
    return answer;
  };
  const identity = (a: Answer, id: string | null, m: string): Identity => ({
    authid: a.authid ?? id ?? serialNumber(),
    authrole: a.role,
    authmethod: m,
    authprovider: "dynamic",
    authextra: a.extra,
    realm: joinedRealm(realm, a.realm),
  });
  switch (method) {
    case "anonymous": {
      const a = await ask();
      return "kind" in a ? a : { kind: "welcome", identity: identity(a, null, "anonymous") };
    }
    case "ticket": {
      if (authid === null) return TICKET_NEEDS_AUTHID;
      let failure: Failure | null = null;
      return {
        ...ticketChallenge(async (ticket) => {
          const a = await ask({ ticket });
          if ("kind" in a) {
            if (a.kind === "abort") failure = { reason: a.reason, message: a.message };
            return null;
          }
          return identity(a, authid, "ticket");
        }),
        get failure() {
          return failure;
        },
      };
    }
    case "wampcra": {
      if (authid === null) return CRA_NEEDS_AUTHID;
      const a = await ask();
      if ("kind" in a) return a;
      const secret = craSecretOf(a.raw);
      if (!secret) return BAD_ANSWER;
      const id = a.authid ?? authid;
      return dynamicCra(secret, id, hello, sessionId, env, () => identity(a, id, "wampcra"));
    }
    case "cryptosign": {
      const key = cryptosignKey(hello);
      if (typeof key !== "string") return key;
      const bound = cryptosignBinding(hello, transport);
      if ("kind" in bound) return bound;
      const a = await ask();
      if ("kind" in a) return a;
      const owner = authorizedKeysOf(a.raw).includes(key)
        ? {
          authid: a.authid ?? authid ?? key,
          role: a.role,
          realm: a.realm ?? null,
          authextra: a.extra,
        }
        : null;
      return cryptosignChallenge(owner, key, realm, "dynamic", bound.binding);
    }
    case "scram": {
      const parsed = scramHello(hello, transport);
      if ("kind" in parsed) return parsed;
      const a = await ask();
      if ("kind" in a) return a;
      const credential = scramCredential(a.raw);
      if ("reason" in credential) return BAD_ANSWER;
      const id = a.authid ?? parsed.authid;
      return scramChallenge(parsed, credential, true, () => identity(a, id, parsed.method));
    }
    case "tls": {
      // the certificate is in details.transport.peer_cert
      const cert = peerCertificate(transport);
      if (!cert) return NO_CLIENT_CERTIFICATE;
      const a = await ask();
      if ("kind" in a) return a;
      return { kind: "welcome", identity: identity(a, authid ?? cert.sha256, "tls") };
    }
  }
}
