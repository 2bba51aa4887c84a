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
import { type RemoteSessionInfo, withNode } from "./meta_link.ts";
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

/** The sessions of other nodes (a cluster) that pass `filter`. */
function remote(realm: Realm, filter: ReadonlySet<string> | null): RemoteSessionInfo[] {
  const out: RemoteSessionInfo[] = [];
  for (const s of realm.metaLink?.remoteSessions() ?? []) {
    if (!filter || filter.has(s.authrole)) out.push(s);
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
  /**
   * Ends the local `targets` and the sessions of other nodes `others` (on their nodes);
   * resolves with the ids ended, local ones first.
   */
  const kill = async (
    targets: Session[],
    others: readonly RemoteSessionInfo[],
    kwargs: Kwargs,
  ): Promise<number[]> => {
    const { reason, message } = killOptions(kwargs);
    const ids = targets.map((s) => s.id);
    for (const s of targets) s.goodbye(reason, message);
    const link = realm.metaLink;
    if (!link || others.length === 0) return ids;
    const { killed } = await link.kill(others.map((s) => s.id), reason, message);
    return [...ids, ...killed];
  };
  const count = (args: Args) => {
    const filter = roleFilter(args);
    return visible(realm, filter).length + remote(realm, filter).length;
  };
  const list = (args: Args) => {
    const filter = roleFilter(args);
    return [...visible(realm, filter).map((s) => s.id), ...remote(realm, filter).map((s) => s.id)];
  };
  const cluster = realm.metaLink;
  await Promise.all([
    // a cluster node says which nodes there are (the status page lists them)
    ...(cluster
      ? [service.register("switchboard.cluster.nodes", () => cluster.nodes(), opts)]
      : []),
    service.register("wamp.session.count", count, opts),
    service.register("wamp.session.list", list, opts),
    service.register("wamp.session.get", (args) => {
      const id = sessionArg(args);
      const s = realm.sessions.get(id);
      if (s && !s.internal) return withNode(s.details(), realm.metaLink);
      const other = realm.metaLink?.remoteSession(id);
      if (other) return other.details;
      throw new WampError(Uri.NO_SUCH_SESSION, "no session with this id on this realm");
    }, opts),
    service.register("wamp.session.kill", async (args, kwargs, details) => {
      const id = sessionArg(args);
      const s = realm.sessions.get(id);
      const other = s ? undefined : realm.metaLink?.remoteSession(id);
      const none = () =>
        new WampError(Uri.NO_SUCH_SESSION, "no session with this id that can be killed");
      if (id === callerOf(details) || (s ? s.internal : !other)) throw none();
      const killed = await kill(s ? [s] : [], other ? [other] : [], kwargs);
      if (killed.length === 0) throw none();
      return null;
    }, opts),
    service.register("wamp.session.kill_by_authid", (args, kwargs, details) => {
      const authid = stringArg(args, "an authid");
      const caller = callerOf(details);
      return kill(
        visible(realm, null).filter((s) => s.authid === authid && s.id !== caller),
        remote(realm, null).filter((s) => s.authid === authid && s.id !== caller),
        kwargs,
      );
    }, opts),
    service.register("wamp.session.kill_by_authrole", async (args, kwargs, details) => {
      const authrole = stringArg(args, "an authrole");
      const caller = callerOf(details);
      const killed = await kill(
        visible(realm, null).filter((s) => s.authrole === authrole && s.id !== caller),
        remote(realm, null).filter((s) => s.authrole === authrole && s.id !== caller),
        kwargs,
      );
      return killed.length;
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
    service.register("wamp.session.kill_all", async (_args, kwargs, details) => {
      const caller = callerOf(details);
      const killed = await kill(
        visible(realm, null).filter((s) => s.id !== caller),
        remote(realm, null).filter((s) => s.id !== caller),
        kwargs,
      );
      return killed.length;
    }, opts),
  ]);
}
