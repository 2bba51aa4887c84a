/**
 * The Crossbar features a config may name that cannot work in Switchboard's process, each with
 * why and what to do instead. A config that needs one is refused with a
 * {@link RefusedFeatureError} naming the JSON path (never accepted with a warning: without the
 * feature the router would not do what the file asks).
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { indexPath, isObject, keyPath, RefusedFeatureError, ROOT } from "./kit.ts";

/** Each refused feature and the reason a config gets for it. */
export const REFUSED_FEATURES = {
  "function authenticator": 'a "function" authenticator is Python code that Crossbar imports ' +
    "into its router process, which Switchboard cannot run; register it as a WAMP procedure " +
    'from a client and configure {"type": "dynamic", "authenticator": "<its URI>"}',
  "cfxdb store": 'a "cfxdb" store is Crossbar FX\'s LMDB database, which Switchboard cannot ' +
    'open; use {"type": "memory", "event-history": [...]} (kept until the router stops)',
  "router links": "router links (rlinks) join realms across Crossbar nodes with Crossbar's " +
    "router-to-router protocol, which Switchboard does not speak; run one router, or connect " +
    "the clients of each node to it",
  "mqtt transport": "Crossbar's MQTT transport makes the router an MQTT broker bridged to WAMP; " +
    "Switchboard has no MQTT broker: run an MQTT broker and an MQTT-to-WAMP bridge client",
  "wsgi web path": 'a "wsgi" path runs a Python WSGI application inside Crossbar\'s process, ' +
    "which Switchboard cannot run; serve the application from its own server",
  "python web resource": 'a "resource" path serves a Python (Twisted Web) resource class ' +
    "inside Crossbar's process, which Switchboard cannot run; serve it from its own server",
  "template placeholder": "{{ ... }} is a placeholder of Crossbar's config templates, filled in " +
    "when Crossbar generated a file from them; write the value itself",
} as const;

/** A feature Switchboard refuses. */
export type RefusedFeature = keyof typeof REFUSED_FEATURES;

/** The error for a config that needs `feature` at JSON path `path`. */
export function refuse(path: string, feature: RefusedFeature): RefusedFeatureError {
  return new RefusedFeatureError(path, feature, REFUSED_FEATURES[feature]);
}

/** A Crossbar template placeholder: `{{ name }}`. */
const PLACEHOLDER = /\{\{[^{}]*\}\}/;

/**
 * Refuses the first string in `value` (object keys included) that holds a template
 * placeholder such as `{{ realm }}`, in document order.
 *
 * @param value The parsed JSON document (or part of it).
 * @param path Its JSON path.
 * @throws {RefusedFeatureError} Naming the path of the string.
 */
export function refuseTemplatePlaceholders(value: unknown, path: string = ROOT): void {
  if (typeof value === "string") {
    if (PLACEHOLDER.test(value)) throw refuse(path, "template placeholder");
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => refuseTemplatePlaceholders(item, indexPath(path, i)));
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    const at = keyPath(path, key);
    if (PLACEHOLDER.test(key)) throw refuse(at, "template placeholder");
    refuseTemplatePlaceholders(value[key], at);
  }
}
