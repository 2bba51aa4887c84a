/**
 * Payload passthru mode: the `ppt_*` options a publisher, caller or callee sets, which the
 * router passes on to the receivers untouched.
 *
 * @module
 */

import type { Dict } from "./messages.ts";

/** The option keys of payload passthru mode. */
const PPT_KEYS = ["ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"] as const;

/** The `ppt_*` options of a message, or null when payload passthru is not in use. */
export function pptKeys(options: Dict): Dict | null {
  const scheme = options.ppt_scheme;
  if (typeof scheme !== "string" || scheme === "") return null;
  const out: Dict = {};
  for (const key of PPT_KEYS) {
    if (options[key] !== undefined) out[key] = options[key];
  }
  return out;
}
