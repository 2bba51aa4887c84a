/**
 * One node of a cluster: connects the {@link ClusterLink} (NATS, loaded here by a dynamic
 * import, or a given link such as the in-memory twin), joins the membership and installs the
 * router's extension points (docs/cluster.md, "Extension points"): session ids of the node's
 * number, a {@link RealmEvents} link per realm, `/metrics` gauges, status and close.
 *
 * Other cluster pieces reach a running node with {@link clusterNodeOf} (the membership for
 * `nodeDown`, the link, the realms' event links).
 *
 * @module
 */

import type { ClusterConfig } from "../config/types.ts";
import { ClusterStartError, type RouterExtension } from "../router/extension.ts";
import type { Realm } from "../router/realm.ts";
import { type Router, routerInternals } from "../router/router.ts";
import type { ClusterLink } from "./link.ts";
import { ClusterMeta } from "./cluster_meta.ts";
import { RealmEvents } from "./events.ts";
import { Membership } from "./membership.ts";
import { nodeMetricsText, RttSampler } from "./node_metrics.ts";
import { RETAINED_BUCKET, RetainedStore } from "./retained.ts";
import { ClusterRegistrations } from "./cluster_registrations.ts";
import { RemoteCalls } from "./remote_calls.ts";

/** What a test (or an embedding program) may hand the node instead of NATS. */
export interface ClusterNodeDeps {
  /** The link to use: `connectNats` is not called. */
  readonly link?: ClusterLink;
}

/** A running node: what the other cluster pieces build on. */
export class ClusterNode implements RouterExtension {
  readonly node: string;
  readonly config: ClusterConfig;
  readonly link: ClusterLink;
  readonly membership: Membership;
  readonly retained: RetainedStore;
  /** Sessions, testaments and subscriptions of the cluster for the meta API. */
  readonly meta: ClusterMeta;
  /** The link's round trip, sampled. */
  readonly rtt: RttSampler;
  /** Calls between this node and the others. */
  readonly calls: RemoteCalls;
  /** Registrations agreed with the other nodes. */
  readonly registrations: ClusterRegistrations;
  readonly router: Router;
  /** The event link of each realm. */
  readonly realms: Map<string, RealmEvents> = new Map();
  /** Times the link was lost since the start. */
  disconnects = 0;

  constructor(
    router: Router,
    config: ClusterConfig,
    link: ClusterLink,
    membership: Membership,
    retained: RetainedStore,
    meta: ClusterMeta,
    calls: RemoteCalls,
    registrations: ClusterRegistrations,
  ) {
    this.router = router;
    this.config = config;
    this.node = config.node;
    this.link = link;
    this.membership = membership;
    this.retained = retained;
    this.meta = meta;
    this.rtt = new RttSampler(link, router.clock, router.logger);
    this.calls = calls;
    this.registrations = registrations;
    link.onStatus((status) => {
      if (status === "disconnected") this.disconnects++;
      router.logger.info(`cluster: link ${status}`);
    });
    // GET /readyz: a node cut off from the cluster still serves its own clients (so /healthz
    // stays 200), but is not ready to take new ones as part of the cluster
    this.#removeReadiness = router.addReadinessCheck({
      name: "cluster",
      check: () => link.status === "connected" ? null : "the cluster link (NATS) is not connected",
    });
  }

  readonly #removeReadiness: () => void;

  newSessionId(): number {
    return this.membership.newSessionId();
  }

  realmLink(realm: Realm): RealmEvents {
    this.realms.get(realm.name)?.close();
    const events = new RealmEvents(realm, {
      link: this.link,
      clock: this.router.clock,
      logger: this.router.logger,
      retained: this.retained,
      queue: `sb-ev-${this.node}-${this.membership.incarnation}`,
    });
    this.realms.set(realm.name, events);
    events.historyChanged(realm.config.history);
    this.meta.realm(realm);
    events.dealer = this.registrations.linkFor(realm.name);
    this.registrations.applyRealm(realm.name);
    return events;
  }

  metricsText(): string {
    const node = JSON.stringify(this.node);
    let sent = 0;
    let received = 0;
    let tooLarge = 0;
    for (const r of this.realms.values()) {
      sent += r.sent;
      received += r.received;
      tooLarge += r.tooLarge;
    }
    return [
      "# HELP switchboard_cluster_link_connected 1 while this node reaches the cluster engine (NATS).",
      "# TYPE switchboard_cluster_link_connected gauge",
      `switchboard_cluster_link_connected{node=${node}} ${
        this.link.status === "connected" ? 1 : 0
      }`,
      "# HELP switchboard_cluster_link_disconnects_total Times this node lost the cluster engine.",
      "# TYPE switchboard_cluster_link_disconnects_total counter",
      `switchboard_cluster_link_disconnects_total{node=${node}} ${this.disconnects}`,
      "# HELP switchboard_cluster_nodes Nodes this node hears from, itself included.",
      "# TYPE switchboard_cluster_nodes gauge",
      `switchboard_cluster_nodes{node=${node}} ${this.membership.peers.length + 1}`,
      "# HELP switchboard_cluster_events_sent_total Local publications sent to the cluster.",
      "# TYPE switchboard_cluster_events_sent_total counter",
      `switchboard_cluster_events_sent_total{node=${node}} ${sent}`,
      "# HELP switchboard_cluster_events_received_total Publications of other nodes delivered here.",
      "# TYPE switchboard_cluster_events_received_total counter",
      `switchboard_cluster_events_received_total{node=${node}} ${received}`,
      "# HELP switchboard_cluster_events_too_large_total Local publications too large to cross (this node's subscribers got them).",
      "# TYPE switchboard_cluster_events_too_large_total counter",
      `switchboard_cluster_events_too_large_total{node=${node}} ${tooLarge}`,
      "# HELP switchboard_cluster_calls_forwarded_total Calls of this node's callers run by another node.",
      "# TYPE switchboard_cluster_calls_forwarded_total counter",
      `switchboard_cluster_calls_forwarded_total{node=${node}} ${this.calls.forwarded}`,
      "# HELP switchboard_cluster_calls_served_total Calls of other nodes' callers run here.",
      "# TYPE switchboard_cluster_calls_served_total counter",
      `switchboard_cluster_calls_served_total{node=${node}} ${this.calls.served}`,
      "# HELP switchboard_cluster_remote_callees Callees of other nodes in this node's registrations.",
      "# TYPE switchboard_cluster_remote_callees gauge",
      `switchboard_cluster_remote_callees{node=${node}} ${this.registrations.sizes.remoteCallees}`,
      "",
    ].join("\n") + nodeMetricsText(this.node, this.link, this.meta, this.rtt.lastMs);
  }

  status(): Record<string, unknown> {
    return {
      node: this.node,
      number: this.membership.number,
      incarnation: this.membership.incarnation,
      link: this.link.status,
      servers: [...this.link.servers],
      peers: this.membership.peers,
      calls: { forwarded: this.calls.forwarded, served: this.calls.served },
      registrations: this.registrations.sizes,
    };
  }

  async close(): Promise<void> {
    this.#removeReadiness();
    await this.registrations.drain(2_000);
    this.registrations.stop();
    this.calls.stop();
    for (const r of this.realms.values()) r.close();
    this.realms.clear();
    this.rtt.stop();
    await this.meta.close();
    await this.membership.stop();
    await this.link.close();
  }
}

/** The running node installed on `router`, or null when it is not a cluster node. */
export function clusterNodeOf(router: Router): ClusterNode | null {
  const extension = routerInternals(router).extension;
  return extension instanceof ClusterNode ? extension : null;
}

/**
 * Connects `router` to the cluster of `config`: the link (NATS unless `deps.link`), the
 * membership (a node number), the retained bucket.
 * @throws {ClusterStartError} naming the servers when the engine cannot be reached or joined.
 */
export async function startClusterNode(
  router: Router,
  config: ClusterConfig,
  deps: ClusterNodeDeps = {},
): Promise<ClusterNode> {
  const servers = config.servers.join(", ");
  let link = deps.link;
  if (!link) {
    const { connectNats } = await import("./nats_link.ts");
    try {
      link = await connectNats([...config.servers], {
        name: config.node,
        clock: router.clock,
        logger: router.logger,
      });
    } catch (e) {
      const reason = (e instanceof Error && e.cause instanceof Error ? e.cause : e) as Error;
      throw new ClusterStartError(
        config.servers,
        `cannot reach the cluster's NATS servers (${servers}): ${reason?.message ?? String(e)}`,
        { cause: e },
      );
    }
  }
  const membership = new Membership(link, {
    node: config.node,
    heartbeatMs: config.heartbeat_interval,
    timeoutMs: config.node_timeout,
    clock: router.clock,
    logger: router.logger,
  });
  try {
    await membership.start();
    const retained = new RetainedStore(await link.bucket(RETAINED_BUCKET), router.logger);
    const meta = await ClusterMeta.start({
      link,
      membership,
      realm: (name) => routerInternals(router).realm(name),
      clock: router.clock,
      logger: router.logger,
      cleanupDelayMs: config.heartbeat_interval,
      nodeTimeoutMs: config.node_timeout,
    });
    const host = { realm: (name: string) => routerInternals(router).realm(name) };
    const calls = new RemoteCalls(link, config.node, host, router.logger, router.clock);
    await calls.start();
    const registrations = new ClusterRegistrations(
      link,
      config.node,
      membership.incarnation,
      host,
      calls,
      router.clock,
      router.logger,
    );
    await registrations.start();
    membership.onChange((event) => {
      if (event.kind !== "down") return;
      calls.nodeDown(event.peer.node);
      registrations.nodeDown(event.peer.node, event.peer.incarnation);
    });
    router.logger.info("cluster: node joined", { number: membership.number, servers });
    return new ClusterNode(
      router,
      config,
      link,
      membership,
      retained,
      meta,
      calls,
      registrations,
    );
  } catch (e) {
    await membership.stop();
    await link.close();
    throw new ClusterStartError(
      config.servers,
      `cannot join the cluster through NATS (${servers}): ${
        e instanceof Error ? e.message.split("\n")[0] : String(e)
      }`,
      { cause: e },
    );
  }
}
