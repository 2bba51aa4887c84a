/**
 * `tls` authentication (Crossbar's TLS client certificate authentication): the connection's
 * client certificate, which the TLS handshake already verified against the endpoint's
 * `ca_certificates`, names the principal by its fingerprint; HELLO is welcomed at once, without
 * a challenge. A connection without a verified certificate, an unknown fingerprint, a HELLO
 * `authid` other than the principal's, and a principal bound to another realm are refused with
 * `wamp.error.not_authorized`.
 *
 * @module
 */

import type { TlsPrincipal } from "../config/types.ts";
import type { PeerCertificate } from "../transport/peer.ts";
import type { Dict, Hello } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import { abort, authidOf, type AuthStep, joinedRealm } from "./step.ts";

/** The verified client certificate of the connection, from its transport details, or null. */
export function peerCertificate(transport: Dict): PeerCertificate | null {
  const cert = transport.peer_cert as PeerCertificate | undefined;
  return cert && typeof cert.sha256 === "string" ? cert : null;
}

/** The ABORT of a connection without a verified client certificate. */
export const NO_CLIENT_CERTIFICATE: AuthStep = abort(
  Uri.NOT_AUTHORIZED,
  "tls authentication needs a TLS client certificate, and this connection has none",
);

/** TLS client certificate authentication of HELLO against the endpoint's static principals. */
export function staticTls(
  hello: Hello,
  principals: ReadonlyMap<string, TlsPrincipal>,
  transport: Dict,
): AuthStep {
  const cert = peerCertificate(transport);
  if (!cert) return NO_CLIENT_CERTIFICATE;
  const found = [...principals].find(([, p]) =>
    (p.sha256 !== null && p.sha256 === cert.sha256) || (p.sha1 !== null && p.sha1 === cert.sha1)
  );
  const requested = authidOf(hello);
  const realm = found ? joinedRealm(hello.realm, found[1].realm) : undefined;
  if (!found || (requested !== null && requested !== found[0]) || realm === undefined) {
    return abort(Uri.NOT_AUTHORIZED, "no principal for this client certificate");
  }
  return {
    kind: "welcome",
    identity: {
      authid: found[0],
      authrole: found[1].role,
      authmethod: "tls",
      authprovider: "static",
      authextra: {},
      realm,
    },
  };
}
