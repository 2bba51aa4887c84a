/**
 * The session meta procedures (`wamp.session.count`, `list`, `get`, `kill`, `kill_by_authid`,
 * `kill_by_authrole`, `kill_all`), provided by the realm's service session as ordinary
 * registrations, so callers' permissions apply to them like to any other URI.
 *
 * @module
 */

import type { WampClient } from "../client.ts";
import { WampError } from "../wamp/errors.ts";
import type { Args, Dict, Kwargs } from "../wamp/messages.ts";
import { isValidUri, Uri } from "../wamp/uris.ts";
import type { Realm } from "./realm.ts";
import type { Session } from "./session.ts";

function roleFilter(args: Args): ReadonlySet<string> | null {
  const f = args[0];
  if (f === undefined || f === null) return null;
  if (!Array.isArray(f) || f.some((r) => typeof r !== "string")) {
    throw new WampError(Uri.INVALID_ARGUMENT, "the authrole filter must be a list of strings");
  }
  return new Set(f as string[]);
}

function visible(realm: Realm, filter: ReadonlySet<string> | null): Session[] {
  const out: Session[] = [];
  for (const s of realm.sessions.values()) {
    if (s.internal) continue;
    if (filter && !filter.has(s.authrole)) continue;
    out.push(s);
  }
  return out;
}

function sessionArg(args: Args): number {
  const id = args[0];
  if (typeof id !== "number" || !Number.isInteger(id)) {
    throw new WampError(Uri.INVALID_ARGUMENT, "expected a session id as the first argument");
  }
  return id;
}

function stringArg(args: Args, what: string): string {
  const v = args[0];
  if (typeof v !== "string") {
    throw new WampError(Uri.INVALID_ARGUMENT, `expected ${what} as the first argument`);
  }
  return v;
}

function killOptions(kwargs: Kwargs): { reason: string; message: string | undefined } {
  const reason = kwargs.reason ?? Uri.KILLED;
  if (typeof reason !== "string" || !isValidUri(reason, "exact", false)) {
    throw new WampError(Uri.INVALID_URI, "reason must be a valid URI");
  }
  const message = kwargs.message;
  if (message !== undefined && typeof message !== "string") {
    throw new WampError(Uri.INVALID_ARGUMENT, "message must be a string");
  }
  return { reason, message };
}

function testamentScope(scope: unknown): "detached" | "destroyed" {
  if (scope === undefined || scope === null) return "destroyed";
  if (scope !== "detached" && scope !== "destroyed") {
    throw new WampError(Uri.TESTAMENT_ERROR, `scope must be "detached" or "destroyed"`);
  }
  return scope;
}

function callerOf(details: Dict): number {
  return typeof details.caller === "number" ? details.caller : 0;
}

/** Registers the session meta procedures of `realm` on its service session. */
export async function registerSessionMeta(realm: Realm, service: WampClient): Promise<void> {
  const opts = { disclose_caller: true };
  const kill = (targets: Session[], kwargs: Kwargs): number[] => {
    const { reason, message } = killOptions(kwargs);
    const ids = targets.map((s) => s.id);
    for (const s of targets) s.goodbye(reason, message);
    return ids;
  };
  await Promise.all([
    service.register("wamp.session.count", (args) => visible(realm, roleFilter(args)).length, opts),
    service.register(
      "wamp.session.list",
      (args) => visible(realm, roleFilter(args)).map((s) => s.id),
      opts,
    ),
    service.register("wamp.session.get", (args) => {
      const s = realm.sessions.get(sessionArg(args));
      if (!s || s.internal) {
        throw new WampError(Uri.NO_SUCH_SESSION, "no session with this id on this realm");
      }
      return s.details();
    }, opts),
    service.register("wamp.session.kill", (args, kwargs, details) => {
      const id = sessionArg(args);
      const s = realm.sessions.get(id);
      if (!s || s.internal || id === callerOf(details)) {
        throw new WampError(Uri.NO_SUCH_SESSION, "no session with this id that can be killed");
      }
      kill([s], kwargs);
      return null;
    }, opts),
    service.register("wamp.session.kill_by_authid", (args, kwargs, details) => {
      const authid = stringArg(args, "an authid");
      const caller = callerOf(details);
      return kill(
        visible(realm, null).filter((s) => s.authid === authid && s.id !== caller),
        kwargs,
      );
    }, opts),
    service.register("wamp.session.kill_by_authrole", (args, kwargs, details) => {
      const authrole = stringArg(args, "an authrole");
      const caller = callerOf(details);
      return kill(
        visible(realm, null).filter((s) => s.authrole === authrole && s.id !== caller),
        kwargs,
      )
        .length;
    }, opts),
    service.register("wamp.session.add_testament", (args, kwargs, details) => {
      const session = realm.sessions.get(callerOf(details));
      if (!session) throw new WampError(Uri.NO_SUCH_SESSION, "the calling session is unknown");
      const [topic, targs, tkwargs] = args;
      if (typeof topic !== "string" || !isValidUri(topic, "exact", false)) {
        throw new WampError(Uri.INVALID_URI, "the testament topic must be a valid URI");
      }
      if (targs !== undefined && targs !== null && !Array.isArray(targs)) {
        throw new WampError(Uri.INVALID_ARGUMENT, "the testament args must be a list");
      }
      if (
        tkwargs !== undefined && tkwargs !== null &&
        (typeof tkwargs !== "object" || Array.isArray(tkwargs))
      ) {
        throw new WampError(Uri.INVALID_ARGUMENT, "the testament kwargs must be a dictionary");
      }
      const scope = testamentScope(kwargs.scope);
      const publishOptions = kwargs.publish_options ?? {};
      if (
        typeof publishOptions !== "object" || publishOptions === null ||
        Array.isArray(publishOptions)
      ) {
        throw new WampError(Uri.TESTAMENT_ERROR, "publish_options must be a dictionary");
      }
      const options: Dict = { ...(publishOptions as Dict) };
      delete options.acknowledge;
      realm.addTestament(session.id, scope, {
        topic,
        args: (targs ?? undefined) as Args | undefined,
        kwargs: (tkwargs ?? undefined) as Kwargs | undefined,
        options,
      });
      return null;
    }, opts),
    service.register("wamp.session.flush_testaments", (_args, kwargs, details) => {
      const n = realm.flushTestaments(callerOf(details), testamentScope(kwargs.scope));
      if (n === null) throw new WampError(Uri.NO_SUCH_SESSION, "the calling session is unknown");
      return n;
    }, opts),
    service.register("wamp.session.kill_all", (_args, kwargs, details) => {
      const caller = callerOf(details);
      return kill(visible(realm, null).filter((s) => s.id !== caller), kwargs).length;
    }, opts),
  ]);
}
