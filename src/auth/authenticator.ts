/**
 * Authentication of HELLO on an endpoint: picks the method, the first of the client's
 * `authmethods` that the endpoint offers, and hands HELLO to that method's module
 * (anonymous.ts, ticket.ts, wampcra.ts, cryptosign.ts, scram.ts, cookie.ts, or dynamic.ts when the
 * endpoint
 * configures the method as `dynamic`). Failures never reveal whether an authid exists: the
 * methods challenge unknown authids like known ones and fail them the same.
 *
 * @module
 */

import type { AuthConfig, AuthMethod } from "../config/types.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import type { ConnectionCookie } from "../transport/cookie_store.ts";
import { anonymousWelcome } from "./anonymous.ts";
import { cookieBinding, cookieWelcome } from "./cookie.ts";
import { cryptosignSubject, staticCryptosign } from "./cryptosign.ts";
import { type AuthenticatorCall, dynamicAuthenticate } from "./dynamic.ts";
import { abort, type AuthEnv, authidOf, type AuthStep } from "./step.ts";
import { staticTicket } from "./ticket.ts";
import { SCRAM_METHOD_NAMES, staticScram } from "./scram.ts";
import { staticTls } from "./tls.ts";
import { staticCra } from "./wampcra.ts";

/** The methods in the order an endpoint lists them as offered. */
const METHODS: readonly AuthMethod[] = [
  "anonymous",
  "ticket",
  "wampcra",
  "cryptosign",
  "scram",
  "tls",
];

/** A method HELLO can choose: one of {@linkcode METHODS}, or `cookie`. */
type Chosen = AuthMethod | "cookie";

/** The methods the endpoint offers, statically or dynamically. */
function offered(auth: AuthConfig): Chosen[] {
  const methods: Chosen[] = METHODS.filter((m) =>
    (auth[m] !== null && auth[m] !== undefined) || auth.dynamic?.[m] !== undefined
  );
  return auth.cookie ? ["cookie", ...methods] : methods;
}

/**
 * The client's methods from HELLO (strings only; none given means `anonymous`), with the
 * spec's `wamp-scram` read as `scram`.
 */
function requestedMethods(hello: Hello): string[] {
  const requested = hello.details.authmethods ?? ["anonymous"];
  return Array.isArray(requested)
    ? requested.filter((m): m is string => typeof m === "string").map((m) =>
      SCRAM_METHOD_NAMES.includes(m) ? "scram" : m
    )
    : [];
}

/**
 * The method HELLO authenticates with on `auth`: the client's first that is offered, where
 * `cookie` counts only when the connection's cookie is bound on HELLO's realm (else it is
 * skipped, as in Crossbar).
 */
function chooseMethod(
  hello: Hello,
  auth: AuthConfig,
  cookie: ConnectionCookie | null | undefined,
): Chosen | undefined {
  const available: readonly string[] = offered(auth);
  return requestedMethods(hello).find((m): m is Chosen =>
    available.includes(m) && (m !== "cookie" || cookieBinding(cookie, hello.realm) !== null)
  );
}

/**
 * Who HELLO tries to authenticate as, for the failure limiter: its `authid` (empty when it
 * has none), or for cryptosign without an authid the public key; null when the attempt is not
 * limited (anonymous, or no method in common).
 */
export function limitedSubject(
  hello: Hello,
  auth: AuthConfig,
  cookie: ConnectionCookie | null = null,
): string | null {
  const method = chooseMethod(hello, auth, cookie);
  if (method === undefined || method === "anonymous" || method === "cookie") return null;
  const authid = authidOf(hello);
  if (authid !== null) return authid;
  if (method === "cryptosign") return cryptosignSubject(hello) ?? "";
  return "";
}

/**
 * Decides how HELLO authenticates on an endpoint. `sessionId` is the id the session will get
 * (WAMP-CRA challenges and dynamic authenticators are given it); `call` calls a dynamic
 * authenticator, `transport` is what it is told of the connection.
 */
export function authenticate(
  hello: Hello,
  auth: AuthConfig,
  sessionId: number,
  call: AuthenticatorCall | null = null,
  transport: Dict = {},
  env: AuthEnv = {},
): AuthStep | Promise<AuthStep> {
  const method = chooseMethod(hello, auth, env.cookie);
  if (!method) {
    const requested = requestedMethods(hello).join(", ") || "none";
    return abort(
      Uri.NO_AUTH_METHOD,
      `none of the offered authentication methods (${requested}) is available; ` +
        `this transport offers: ${offered(auth).join(", ") || "none"}`,
    );
  }
  if (method === "cookie") return cookieWelcome(cookieBinding(env.cookie, hello.realm)!);
  const dynamic = auth.dynamic?.[method];
  if (dynamic) return dynamicAuthenticate(method, hello, dynamic, call, sessionId, transport, env);
  switch (method) {
    case "anonymous":
      return anonymousWelcome(auth.anonymous!, hello);
    case "ticket":
      return staticTicket(hello, auth.ticket!);
    case "wampcra":
      return staticCra(hello, auth.wampcra!, sessionId, env);
    case "cryptosign":
      return staticCryptosign(hello, auth.cryptosign!, transport);
    case "scram":
      return staticScram(hello, auth.scram!, transport);
    case "tls":
      return staticTls(hello, auth.tls!, transport);
  }
}
