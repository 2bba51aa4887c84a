/**
 * The subscription and registration meta API: meta events published when subscriptions and
 * registrations are created, joined, left and deleted, and the procedures that list, look up,
 * match and inspect them, and revoke subscribers and callees (of other nodes too, in a cluster:
 * through the realm's meta link, by the session's own node). `wamp.*` subscriptions and
 * registrations are never reported (no events, hidden from list/lookup/match, refused by
 * the get, list_subscribers, count_subscribers, remove_subscriber (and registration twins) procedures for non-trusted callers).
 *
 * @module
 */

import type { WampClient } from "../client.ts";
import type { MatchPolicy } from "../config/types.ts";
import { WampError } from "../wamp/errors.ts";
import type { Args, Dict, Kwargs } from "../wamp/messages.ts";
import { isMatchPolicy, isReservedUri, TRUSTED_ROLE, Uri } from "../wamp/uris.ts";
import type { Subscription } from "./broker.ts";
import type { Registration } from "./dealer.ts";
import { uriMatches } from "../wamp/uri_index.ts";
import type { RemoteSubscriptionInfo } from "./meta_link.ts";
import { regInfo, subInfo } from "./observation_events.ts";
import type { Realm } from "./realm.ts";

/** A subscription as this node and the other nodes of a cluster know it (one at least). */
interface SubscriptionView {
  readonly local: Subscription | undefined;
  readonly remote: RemoteSubscriptionInfo | undefined;
}

function idArg(args: Args, what: string, index = 0): number {
  const id = args[index];
  if (typeof id !== "number" || !Number.isInteger(id)) {
    throw new WampError(Uri.INVALID_ARGUMENT, `expected ${what} id as argument ${index + 1}`);
  }
  return id;
}

function uriArg(args: Args): string {
  const uri = args[0];
  if (typeof uri !== "string") {
    throw new WampError(Uri.INVALID_ARGUMENT, "expected a URI as the first argument");
  }
  return uri;
}

function matchArg(args: Args): MatchPolicy {
  const options = args[1];
  if (options === undefined || options === null) return "exact";
  const m = typeof options === "object" ? (options as Dict).match ?? "exact" : undefined;
  if (!isMatchPolicy(m)) {
    throw new WampError(Uri.INVALID_ARGUMENT, "options.match must be exact, prefix or wildcard");
  }
  return m as MatchPolicy;
}

function reasonArg(args: Args, kwargs: Kwargs, index: number): string | undefined {
  const reason = kwargs.reason ?? args[index];
  if (reason === undefined || reason === null) return undefined;
  if (typeof reason !== "string") {
    throw new WampError(Uri.INVALID_ARGUMENT, "reason must be a string");
  }
  return reason;
}

function callerIsTrusted(realm: Realm, details: Dict): boolean {
  const caller = typeof details.caller === "number"
    ? realm.sessions.get(details.caller)
    : undefined;
  return caller?.authrole === TRUSTED_ROLE;
}

/** Registers the subscription and registration meta procedures on the service session. */
export async function registerObservationMeta(realm: Realm, service: WampClient): Promise<void> {
  const opts = { disclose_caller: true };
  /** Subscription `id` here and on other nodes (a cluster), if the caller may see it. */
  const visibleSub = (id: number, details: Dict): SubscriptionView => {
    const local = realm.broker.get(id);
    const remote = realm.metaLink?.remoteSubscription(id);
    const sub = local ?? remote;
    if (!sub) throw new WampError(Uri.NO_SUCH_SUBSCRIPTION, `no subscription with id ${id}`);
    if (isReservedUri(sub.uri) && !callerIsTrusted(realm, details)) {
      throw new WampError(Uri.NOT_AUTHORIZED, "wamp.* subscriptions are not visible");
    }
    return { local, remote };
  };
  const visibleReg = (id: number, details: Dict): Registration => {
    const reg = realm.dealer.get(id);
    if (!reg) throw new WampError(Uri.NO_SUCH_REGISTRATION, `no registration with id ${id}`);
    if (isReservedUri(reg.uri) && !callerIsTrusted(realm, details)) {
      throw new WampError(Uri.NOT_AUTHORIZED, "wamp.* registrations are not visible");
    }
    return reg;
  };
  /** The subscribers of a subscription on every node (the router's own sessions excepted). */
  const visibleSubscribers = ({ local, remote }: SubscriptionView): number[] => {
    const ids = local
      ? [...local.subscribers].filter((s) => !realm.isInternal(s)).map((s) => s.id)
      : [];
    return remote ? [...ids, ...remote.subscribers] : ids;
  };
  /** Every subscription of the cluster (local ones first), once each. */
  const allSubs = (): Iterable<{ id: number; uri: string; match: MatchPolicy }> => {
    const local = [...realm.broker.all()];
    const remote = [...realm.metaLink?.remoteSubscriptions() ?? []];
    if (remote.length === 0) return local;
    const ids = new Set(local.map((s) => s.id));
    return [...local, ...remote.filter((r) => !ids.has(r.id))];
  };
  const group = <T extends { id: number; uri: string; match: MatchPolicy }>(items: Iterable<T>) => {
    const out: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] };
    for (const x of items) if (!isReservedUri(x.uri)) out[x.match].push(x.id);
    return out;
  };
  await Promise.all([
    service.register("wamp.subscription.list", () => group(allSubs()), opts),
    service.register("wamp.subscription.lookup", (args) => {
      const uri = uriArg(args);
      const match = matchArg(args);
      const sub = realm.broker.lookup(uri, match) ??
        [...realm.metaLink?.remoteSubscriptions() ?? []].find((r) =>
          r.uri === uri && r.match === match
        );
      return sub && !isReservedUri(sub.uri) ? sub.id : null;
    }, opts),
    service.register("wamp.subscription.match", (args) => {
      const topic = uriArg(args);
      const ids = new Set(realm.broker.match(topic).map((s) => s.id));
      for (const r of realm.metaLink?.remoteSubscriptions() ?? []) {
        if (uriMatches(r.uri, r.match, topic)) ids.add(r.id);
      }
      const visible = [...allSubs()].filter((s) => ids.has(s.id) && !isReservedUri(s.uri));
      return visible.length ? visible.map((s) => s.id) : null;
    }, opts),
    service.register("wamp.subscription.get", (args, _kw, d) => {
      const { local, remote } = visibleSub(idArg(args, "a subscription"), d);
      return local
        ? subInfo(local)
        : subInfo({ ...remote!, subscribers: new Set(), filtered: null });
    }, opts),
    service.register(
      "wamp.subscription.list_subscribers",
      (args, _kw, d) => visibleSubscribers(visibleSub(idArg(args, "a subscription"), d)),
      opts,
    ),
    service.register(
      "wamp.subscription.count_subscribers",
      (args, _kw, d) => visibleSubscribers(visibleSub(idArg(args, "a subscription"), d)).length,
      opts,
    ),
    service.register("wamp.subscription.remove_subscriber", async (args, kwargs, d) => {
      const subId = idArg(args, "a subscription");
      const sub = visibleSub(subId, d).local;
      const sessionId = idArg(args, "a session", 1);
      const reason = reasonArg(args, kwargs, 2);
      const target = realm.sessions.get(sessionId);
      // a session of another node (a cluster) is removed by its node
      const removed = target
        ? sub !== undefined && sub.subscribers.has(target) &&
          (realm.broker.revoke(target, sub, reason), true)
        : await realm.metaLink?.removeRemote("subscriber", subId, sessionId, reason) === true;
      if (!removed) {
        throw new WampError(
          Uri.NO_SUCH_SESSION,
          "that session is not subscribed to this subscription",
        );
      }
      return null;
    }, opts),
    service.register("wamp.subscription.get_events", (args, _kw, d) => {
      const sub = visibleSub(idArg(args, "a subscription"), d).local;
      const limit = args[1] ?? 10;
      if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) {
        throw new WampError(Uri.INVALID_ARGUMENT, "limit must be a non-negative integer");
      }
      return sub ? realm.broker.history(sub, limit) : [];
    }, opts),
    service.register("wamp.registration.list", () => group(realm.dealer.all()), opts),
    service.register("wamp.registration.lookup", (args) => {
      const reg = realm.dealer.lookup(uriArg(args), matchArg(args));
      return reg && !isReservedUri(reg.uri) ? reg.id : null;
    }, opts),
    service.register("wamp.registration.match", (args) => {
      const reg = realm.dealer.match(uriArg(args));
      return reg && !isReservedUri(reg.uri) ? reg.id : null;
    }, opts),
    service.register(
      "wamp.registration.get",
      (args, _kw, d) => regInfo(visibleReg(idArg(args, "a registration"), d)),
      opts,
    ),
    service.register(
      "wamp.registration.list_callees",
      (args, _kw, d) =>
        visibleReg(idArg(args, "a registration"), d).callees.map((c) => c.session.id),
      opts,
    ),
    service.register(
      "wamp.registration.count_callees",
      (args, _kw, d) => visibleReg(idArg(args, "a registration"), d).callees.length,
      opts,
    ),
    service.register("wamp.registration.remove_callee", async (args, kwargs, d) => {
      const reg = visibleReg(idArg(args, "a registration"), d);
      const sessionId = idArg(args, "a session", 1);
      const reason = reasonArg(args, kwargs, 2);
      const target = realm.sessions.get(sessionId);
      // a callee of another node (a cluster) is removed by its node
      const removed = target
        ? reg.callees.some((c) => c.session === target) &&
          (realm.dealer.revoke(target, reg, reason), true)
        : await realm.metaLink?.removeRemote("callee", reg.id, sessionId, reason) === true;
      if (!removed) {
        throw new WampError(
          Uri.NO_SUCH_SESSION,
          "that session is not a callee of this registration",
        );
      }
      return null;
    }, opts),
  ]);
}
