/**
 * What the session and subscription meta API of a realm see beyond this router: the extension
 * point a cluster plugs into so that `wamp.session.*` and `wamp.subscription.*` answer for the
 * whole cluster (docs/cluster.md, "Sessions and the meta API"). The realm holds at most one
 * {@link MetaLink}; the meta procedures merge what it reports with the realm's own sessions
 * and subscriptions. Knows nothing of NATS: plain data only.
 *
 * @module
 */

import type { Dict } from "../wamp/messages.ts";
import type { MatchPolicy } from "../wamp/uris.ts";
import type { Subscription } from "./broker.ts";
import type { SessionDetails } from "./session.ts";
import type { SessionRef } from "./session_ref.ts";
import type { Testament } from "./testaments.ts";

/** A session joined to this realm on another node. */
export interface RemoteSessionInfo {
  readonly id: number;
  readonly authid: string;
  readonly authrole: string;
  /** The node it is joined on. */
  readonly node: string;
  /** Its meta API details, as its node reports them (`node` included). */
  readonly details: Dict;
}

/** A subscription of this realm with subscribers on other nodes. */
export interface RemoteSubscriptionInfo {
  readonly id: number;
  readonly uri: string;
  readonly match: MatchPolicy;
  /** The earliest creation time any node reports (ISO-8601). */
  readonly created: string;
  /** The subscribers' session ids on other nodes. */
  readonly subscribers: readonly number[];
}

/** The result of killing sessions of other nodes. */
export interface RemoteKill {
  /** The ids that were ended (sessions found on their nodes). */
  readonly killed: readonly number[];
}

/** A node of the cluster, as `switchboard.cluster.nodes` reports it. */
export interface ClusterNodeInfo {
  readonly node: string;
  /** Its node number (the high bits of its session ids). */
  readonly number: number;
  /** True for the node answering. */
  readonly self: boolean;
  /** The answering node's link to the engine (`connected`, `disconnected`); self only. */
  readonly link?: string;
}

/** What a realm's meta API learns from, and asks of, the other nodes. */
export interface MetaLink {
  /** This node's name: the `node` of every session details this realm reports. */
  readonly node: string;
  /** A local session joined (WELCOME sent); `details` are its meta API details. */
  sessionJoined(session: SessionRef, details: SessionDetails): void;
  /** A local session left (after its subscriptions, registrations and testaments). */
  sessionLeft(session: SessionRef): void;
  /** The sessions of this realm joined on other nodes (as far as this node knows now). */
  remoteSessions(): Iterable<RemoteSessionInfo>;
  /** The session `id` of another node, if known. */
  remoteSession(id: number): RemoteSessionInfo | undefined;
  /**
   * Ends sessions `ids` of other nodes with GOODBYE `reason` (and `message`) on their nodes.
   * Resolves with those that were ended; ids of unknown or unreachable nodes are left out.
   */
  kill(ids: readonly number[], reason: string, message: string | undefined): Promise<RemoteKill>;
  /** The subscriptions of this realm on other nodes (their ids are the same on every node). */
  remoteSubscriptions(): Iterable<RemoteSubscriptionInfo>;
  /** The subscription `id` on other nodes, if any. */
  remoteSubscription(id: number): RemoteSubscriptionInfo | undefined;
  /**
   * The testaments of local session `id` changed (added or flushed): `all` are those it holds
   * now, in publication order, so that another node can publish them if this one dies.
   */
  testaments(id: number, all: readonly Testament[]): void;
  /**
   * Removes session `session` of another node from subscription (`subscriber`) or registration
   * (`callee`) `id` on its node, as a local `remove_subscriber`/`remove_callee` does there
   * (with `reason`). Resolves with whether it was removed: false for a session no node has,
   * one whose node is gone, or one not in that subscription or registration on its node.
   */
  removeRemote(
    kind: "subscriber" | "callee",
    id: number,
    session: number,
    reason: string | undefined,
  ): Promise<boolean>;
  /** The nodes this node hears from, itself first. */
  nodes(): ClusterNodeInfo[];
  /** A local session subscribed to or left `sub` (its subscribers here changed). */
  subscriptionChanged(sub: Subscription): void;
}

/** `details` of a local session, with this node's name as `node` when `link` is a cluster's. */
export function withNode(details: SessionDetails, link: MetaLink | null): SessionDetails {
  if (link) details.node = link.node;
  return details;
}
