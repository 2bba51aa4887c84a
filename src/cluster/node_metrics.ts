/**
 * The `/metrics` lines of a cluster node beyond the link state and events (docs/cluster.md,
 * "Observability"): the NATS link's traffic, reconnections and round trip, and the meta API's
 * view of the other nodes (their sessions and subscriptions, clean-ups after dead nodes, kill
 * requests answered). Every series carries the `node` label.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import { escapeLabel } from "../metrics.ts";
import type { ClusterMeta } from "./cluster_meta.ts";
import type { ClusterLink } from "./link.ts";

/** How often (ms) a node measures its round trip to NATS. */
export const RTT_SAMPLE_MS = 5000;

/** The link's round trip, measured every {@link RTT_SAMPLE_MS} while connected. */
export class RttSampler {
  readonly #link: ClusterLink;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #timer: TimerId | null = null;
  #stopped = false;
  /** The last round trip measured (ms), or null while none was (or the link is down). */
  lastMs: number | null = null;

  constructor(link: ClusterLink, clock: Clock, logger: Logger) {
    this.#link = link;
    this.#clock = clock;
    this.#logger = logger;
    this.#sample();
  }

  #sample(): void {
    if (this.#stopped) return;
    if (this.#link.rtt && this.#link.status === "connected") {
      this.#link.rtt().then((ms) => this.lastMs = ms, (e) => {
        this.lastMs = null;
        this.#logger.debug("cluster: round trip not measured", { error: String(e) });
      });
    } else {
      this.lastMs = null;
    }
    this.#timer = this.#clock.setTimer(() => this.#sample(), RTT_SAMPLE_MS);
  }

  /** Stops measuring. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
  }
}

/** The text exposition lines of the link traffic and the meta API view of node `node`. */
export function nodeMetricsText(
  node: string,
  link: ClusterLink,
  meta: ClusterMeta,
  rttMs: number | null,
): string {
  const label = `node="${escapeLabel(node)}"`;
  const out: string[] = [];
  const series = (name: string, type: string, help: string, values: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of values) out.push(`${name}{${label}${labels}} ${v}`);
  };
  const stats = link.stats?.();
  if (stats) {
    series("switchboard_cluster_link_reconnects_total", "counter", "Reconnections to NATS.", [
      ["", stats.reconnects],
    ]);
    series("switchboard_cluster_link_messages_total", "counter", "NATS messages of this node.", [
      [`,direction="in"`, stats.inMsgs],
      [`,direction="out"`, stats.outMsgs],
    ]);
    series("switchboard_cluster_link_bytes_total", "counter", "NATS payload bytes of this node.", [
      [`,direction="in"`, stats.inBytes],
      [`,direction="out"`, stats.outBytes],
    ]);
  }
  if (rttMs !== null) {
    series(
      "switchboard_cluster_link_rtt_seconds",
      "gauge",
      `Round trip to NATS, measured every ${RTT_SAMPLE_MS / 1000} s.`,
      [["", rttMs / 1000]],
    );
  }
  let sessions = 0;
  let subscriptions = 0;
  for (const name of meta.realms.keys()) {
    for (const _ of meta.sessionView.sessions(name)) sessions++;
    for (const _ of meta.subscriptionView.subscriptions(name)) subscriptions++;
  }
  series(
    "switchboard_cluster_remote_sessions",
    "gauge",
    "Sessions of other nodes this node knows of (the meta API's view).",
    [["", sessions]],
  );
  series(
    "switchboard_cluster_remote_subscriptions",
    "gauge",
    "Subscriptions with subscribers on other nodes this node knows of.",
    [["", subscriptions]],
  );
  series(
    "switchboard_cluster_cleanups_total",
    "counter",
    "Dead nodes (or earlier lives of this one) this node cleaned up after, elected.",
    [["", meta.cleanedUp]],
  );
  series(
    "switchboard_cluster_kill_requests_total",
    "counter",
    "Kill requests of other nodes' meta API answered here.",
    [["", meta.killsAnswered]],
  );
  series(
    "switchboard_cluster_remove_requests_total",
    "counter",
    "remove_subscriber/remove_callee requests of other nodes' meta API answered here.",
    [["", meta.removalsAnswered]],
  );
  return out.join("\n") + "\n";
}
