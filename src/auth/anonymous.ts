/**
 * Static `anonymous` authentication: HELLO is welcomed at once, with the endpoint's role and
 * fixed authid, or a random serial authid; with a `realm`, only for that realm.
 *
 * @module
 */

import type { AnonymousAuthConfig } from "../config/types.ts";
import type { Hello } from "../wamp/messages.ts";
import { serialNumber } from "../wamp/ids.ts";
import { Uri } from "../wamp/uris.ts";
import { abort, type AuthStep } from "./step.ts";

/**
 * The WELCOME step of the endpoint's `anonymous` config, or ABORT `wamp.error.not_authorized`
 * when the config names a realm and HELLO asks for another.
 */
export function anonymousWelcome(config: AnonymousAuthConfig, hello: Hello): AuthStep {
  const realm = config.realm ?? null;
  if (realm !== null && hello.realm !== realm) {
    return abort(
      Uri.NOT_AUTHORIZED,
      `anonymous sessions on this transport may join realm ${JSON.stringify(realm)} only`,
    );
  }
  return {
    kind: "welcome",
    identity: {
      authid: config.authid ?? serialNumber(),
      authrole: config.role,
      authmethod: "anonymous",
      authprovider: "static",
      authextra: {},
    },
  };
}
