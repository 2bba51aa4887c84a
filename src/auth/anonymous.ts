/**
 * Static `anonymous` authentication: HELLO is welcomed at once, with the endpoint's role and
 * fixed authid, or a random serial authid.
 *
 * @module
 */

import type { AnonymousAuthConfig } from "../config/types.ts";
import { serialNumber } from "../wamp/ids.ts";
import type { AuthStep } from "./step.ts";

/** The WELCOME step of the endpoint's `anonymous` config. */
export function anonymousWelcome(config: AnonymousAuthConfig): AuthStep {
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
