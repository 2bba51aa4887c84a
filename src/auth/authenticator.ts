/**
 * Authentication of HELLO against an endpoint's static methods: `anonymous`, `ticket`,
 * `wampcra` (plain and salted PBKDF2) and `cryptosign` (Ed25519 through WebCrypto). The method
 * is the first of the client's `authmethods` that the endpoint offers. Failures never reveal
 * whether an authid exists: unknown authids get a challenge like known ones and fail the same
 * (for WAMP-CRA see wampcra.ts: the same shape, salts and work for every authid).
 *
 * @module
 */

import type { AuthConfig, DynamicAuthenticator } from "../config/types.ts";
import { serialNumber } from "../wamp/ids.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import {
  cryptosignChallenge,
  cryptosignKey,
  cryptosignSubject,
  staticCryptosign,
} from "./cryptosign.ts";
import { anonymousWelcome } from "./anonymous.ts";
import type { AuthEnv, AuthStep, Failure, Identity } from "./step.ts";
import { staticTicket, TICKET_NEEDS_AUTHID, ticketChallenge } from "./ticket.ts";
import { CRA_NEEDS_AUTHID, dynamicCra, staticCra } from "./wampcra.ts";

const METHODS = ["anonymous", "ticket", "wampcra", "cryptosign"] as const;
type Method = typeof METHODS[number];

function offered(auth: AuthConfig): Method[] {
  return METHODS.filter((m) => auth[m] !== null || auth.dynamic?.[m] !== undefined);
}

/**
 * Calls a dynamic authenticator procedure on `realm` with positional `args`; resolves to the
 * first result argument, rejects with a `WampError` carrying the procedure's error URI.
 */
export type AuthenticatorCall = (
  realm: string,
  procedure: string,
  args: unknown[],
) => Promise<unknown>;

/** The client's methods from HELLO (strings only; none given means `anonymous`). */
function requestedMethods(hello: Hello): string[] {
  const requested = hello.details.authmethods ?? ["anonymous"];
  return Array.isArray(requested)
    ? requested.filter((m): m is string => typeof m === "string")
    : [];
}

/** The method HELLO authenticates with on `auth`: the client's first that is offered. */
function chooseMethod(hello: Hello, auth: AuthConfig): Method | undefined {
  const available: readonly string[] = offered(auth);
  return requestedMethods(hello).find((m): m is Method => available.includes(m));
}

/**
 * Who HELLO tries to authenticate as, for the failure limiter: its `authid` (empty when it
 * has none), or for cryptosign without an authid the public key; null when the attempt is not
 * limited (anonymous, or no method in common).
 */
export function limitedSubject(hello: Hello, auth: AuthConfig): string | null {
  const method = chooseMethod(hello, auth);
  if (method === undefined || method === "anonymous") return null;
  const authid = hello.details.authid;
  if (typeof authid === "string") return authid;
  if (method === "cryptosign") return cryptosignSubject(hello) ?? "";
  return "";
}

/**
 * Decides how HELLO authenticates on an endpoint. `sessionId` is the id the session will get
 * (WAMP-CRA challenges carry it).
 */
export function authenticate(
  hello: Hello,
  auth: AuthConfig,
  sessionId: number,
  call: AuthenticatorCall | null = null,
  transport: Dict = {},
  env: AuthEnv = {},
): AuthStep | Promise<AuthStep> {
  const methods = requestedMethods(hello);
  const available = offered(auth);
  const method = chooseMethod(hello, auth);
  if (!method) {
    return {
      kind: "abort",
      reason: Uri.NO_AUTH_METHOD,
      message:
        `none of the offered authentication methods (${
          methods.join(", ") || "none"
        }) is available; ` +
        `this transport offers: ${available.join(", ") || "none"}`,
    };
  }
  const dynamic = auth.dynamic?.[method];
  if (dynamic) {
    if (!call) {
      return {
        kind: "abort",
        reason: Uri.AUTHENTICATION_FAILED,
        message: "no dynamic authenticator is available",
      };
    }
    return dynamicStep(method, hello, dynamic, call, sessionId, transport, env);
  }
  switch (method) {
    case "anonymous":
      return anonymousWelcome(auth.anonymous!);
    case "ticket":
      return staticTicket(hello, auth.ticket!);
    case "wampcra":
      return staticCra(hello, auth.wampcra!, sessionId, env);
    case "cryptosign":
      return staticCryptosign(hello, auth.cryptosign!);
  }
}

/** What a dynamic authenticator answered: a role, or a principal dictionary. */
interface Answer {
  role: string;
  authid?: string;
  realm?: string;
  extra: Dict;
  raw: Dict;
}

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
  if (uri === Uri.NO_SUCH_PROCEDURE || uri === "wamp.error.canceled" || uri === Uri.RUNTIME_ERROR) {
    return {
      kind: "abort",
      reason: Uri.AUTHENTICATION_FAILED,
      message: "the authenticator is not available or failed",
    };
  }
  return {
    kind: "abort",
    reason: uri,
    message: e instanceof Error ? e.message : "authentication denied",
  };
}

const BAD_ANSWER: AuthStep = {
  kind: "abort",
  reason: Uri.AUTHENTICATION_FAILED,
  message: "the authenticator gave an invalid answer",
};

/**
 * Dynamic authentication, as Crossbar calls it: `authenticate(realm, authid, details)` on a
 * procedure registered by a trusted component. For `anonymous` and `wampcra`/`cryptosign` the
 * call happens at HELLO (the answer supplies the role and the secret or public key); for
 * `ticket` it happens at AUTHENTICATE with `details.ticket`.
 */
async function dynamicStep(
  method: Method,
  hello: Hello,
  dyn: DynamicAuthenticator,
  call: AuthenticatorCall,
  sessionId: number,
  transport: Dict,
  env: AuthEnv,
): Promise<AuthStep> {
  const realm = hello.realm;
  const authid = typeof hello.details.authid === "string" ? hello.details.authid : null;
  const where = dyn.realm ?? realm;
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
      }]);
    } catch (e) {
      return callFailed(e);
    }
    const answer = parseAnswer(value);
    if (!answer || (answer.realm !== undefined && answer.realm !== realm)) return BAD_ANSWER;
    return answer;
  };
  const identity = (a: Answer, id: string | null, m: string): Identity => ({
    authid: a.authid ?? id ?? serialNumber(),
    authrole: a.role,
    authmethod: m,
    authprovider: "dynamic",
    authextra: a.extra,
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
      const secret = a.raw.secret;
      if (typeof secret !== "string" || secret === "") return BAD_ANSWER;
      const salted = a.raw.salt !== undefined;
      const iterations = a.raw.iterations ?? 1000;
      const keylen = a.raw.keylen ?? 32;
      if (
        salted &&
        (typeof a.raw.salt !== "string" || typeof iterations !== "number" ||
          typeof keylen !== "number")
      ) return BAD_ANSWER;
      const id = a.authid ?? authid;
      return dynamicCra(
        {
          secret,
          salt: salted ? a.raw.salt as string : null,
          iterations: iterations as number,
          keylen: keylen as number,
        },
        id,
        hello,
        sessionId,
        env,
        () => identity(a, id, "wampcra"),
      );
    }
    case "cryptosign": {
      const key = cryptosignKey(hello);
      if (typeof key !== "string") return key;
      const a = await ask();
      if ("kind" in a) return a;
      const keys = Array.isArray(a.raw.authorized_keys)
        ? (a.raw.authorized_keys as unknown[]).map((k) => String(k).toLowerCase())
        : typeof a.raw.pubkey === "string"
        ? [a.raw.pubkey.toLowerCase()]
        : [];
      const principal = keys.includes(key)
        ? { authid: a.authid ?? authid ?? key, role: a.role, realm: null, authextra: a.extra }
        : null;
      return cryptosignChallenge(principal, key, realm, "dynamic");
    }
  }
}
