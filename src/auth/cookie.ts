/**
 * `cookie` authentication (Crossbar's): a WebSocket connection whose upgrade request presents
 * a tracking cookie bound to an identity is welcomed as that identity at once, without a
 * challenge, when HELLO lists `cookie` and joins the realm the cookie was bound on. A cookie
 * that is missing, unbound, expired or bound on another realm does not fail the handshake: the
 * method is skipped and the client's next method is tried, as Crossbar does.
 *
 * Binding (see `transport/cookie_store.ts` for what makes it safe): when a session on a
 * connection with cookie tracking is welcomed by any method but `anonymous` and `cookie`, the
 * cookie issued on that connection is bound to its authid, authrole, authmethod, authextra and
 * realm. Anonymous sessions bind nothing, so they cannot fill the store.
 *
 * @module
 */

import type { ConnectionCookie, CookieBinding } from "../transport/cookie_store.ts";
import type { Dict } from "../wamp/messages.ts";
import type { AuthStep, Identity } from "./step.ts";

/** Keys of a WELCOME's authextra that belong to that handshake alone (SCRAM's verifiers). */
const HANDSHAKE_ONLY = ["verifier", "scram_server_signature"];

/**
 * The binding `cookie` authenticates with on `realm` now, or null (the method is skipped). A
 * HELLO without a realm (null) joins the realm the cookie was bound on, as in Crossbar.
 */
export function cookieBinding(
  cookie: ConnectionCookie | null | undefined,
  realm: string | null,
): CookieBinding | null {
  const binding = cookie?.binding() ?? null;
  return binding !== null && (realm === null || binding.realm === realm) ? binding : null;
}

/** The WELCOME of a bound cookie: its identity, `authprovider` "cookie" (as Crossbar). */
export function cookieWelcome(binding: CookieBinding): AuthStep {
  return {
    kind: "welcome",
    identity: {
      authid: binding.authid,
      authrole: binding.authrole,
      authmethod: binding.authmethod,
      authprovider: "cookie",
      authextra: { ...binding.authextra },
      realm: binding.realm,
    },
  };
}

/**
 * A session on a connection with `cookie` was welcomed with `identity` on `realm`: binds the
 * connection's cookie (or unbinds the one it presented) unless the session came in
 * anonymously or by its cookie.
 */
export function sessionAuthenticated(
  cookie: ConnectionCookie | null | undefined,
  identity: Identity,
  realm: string,
): void {
  if (!cookie || identity.authprovider === "cookie" || identity.authmethod === "anonymous") return;
  const authextra: Dict = { ...identity.authextra };
  for (const key of HANDSHAKE_ONLY) delete authextra[key];
  cookie.authenticated({
    authid: identity.authid,
    authrole: identity.authrole,
    authmethod: identity.authmethod,
    authextra,
    realm,
  });
}
