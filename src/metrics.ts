/**
 * Router-wide counters for `GET /metrics` (Prometheus text format). They are bumped at the
 * same serializer boundary where each session's statistics meter counts, from the same
 * (message, bytes) pair, with fixed-size arrays so counting allocates nothing.
 *
 * @module
 */

import { messageName, MessageType } from "./wamp/message_type.ts";
import { isValidUri } from "./wamp/uris.ts";

/** Serializer slots: json, msgpack, cbor (by `Serializer.index`), then in-process. */
const SERIALIZER_LABELS = ["json", "msgpack", "cbor", "local"] as const;
const TYPES = Object.values(MessageType) as number[];
const MAX_TYPE = Math.max(...TYPES) + 1;
/** Call latency histogram bucket bounds, seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Distinct label values (error URIs, abort reasons) counted individually, first come. */
export const MAX_LABEL_VALUES = 100;
/** Longest label value counted individually, in characters. */
export const MAX_LABEL_LENGTH = 128;
/** The label value everything else is counted under. */
export const OTHER_LABEL = "other";

/**
 * Counts by a label whose values come from clients (a callee chooses its error URIs), with
 * bounded cardinality: the first {@link MAX_LABEL_VALUES} distinct valid URIs of at most
 * {@link MAX_LABEL_LENGTH} characters get their own series, everything else is counted under
 * {@link OTHER_LABEL}. So `/metrics` stays small whatever clients send, and totals still add up.
 */
class BoundedLabelCounts {
  readonly #counts = new Map<string, number>();
  #tracked = 0;

  add(value: string): void {
    const n = this.#counts.get(value);
    if (n !== undefined) {
      this.#counts.set(value, n + 1);
      return;
    }
    if (
      this.#tracked < MAX_LABEL_VALUES && value.length <= MAX_LABEL_LENGTH &&
      isValidUri(value, "exact", false)
    ) {
      this.#tracked++;
      this.#counts.set(value, 1);
      return;
    }
    this.#counts.set(OTHER_LABEL, (this.#counts.get(OTHER_LABEL) ?? 0) + 1);
  }

  /** Label value → count, first come first, `other` where it first occurred. */
  entries(): IterableIterator<[string, number]> {
    return this.#counts.entries();
  }
}

/** What the metrics page reads from the router at render time. */
export interface MetricsSource {
  readonly realms: readonly {
    name: string;
    sessions: number;
    subscriptions: number;
    registrations: number;
  }[];
  /** Sum of bytes waiting in the sessions' outgoing WebSocket buffers. */
  readonly queuedBytes: number;
  readonly droppedEvents: number;
  /** The cluster node this router is (a `node` label on every series), if any. */
  readonly node?: string | undefined;
}

/**
 * `lines` of the text exposition with `name="value"` added first to the labels of every
 * sample (comment lines are kept as they are).
 */
export function withLabel(lines: readonly string[], name: string, value: string): string[] {
  const label = `${name}="${escapeLabel(value)}"`;
  return lines.map((line) => {
    if (line.startsWith("#") || line === "") return line;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    if (brace !== -1 && brace < space) {
      return `${line.slice(0, brace + 1)}${label},${line.slice(brace + 1)}`;
    }
    return `${line.slice(0, space)}{${label}}${line.slice(space)}`;
  });
}

/** A label value escaped for the text exposition. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The router's counters. */
export class RouterMetrics {
  readonly #messages: readonly [Float64Array, Float64Array] = [
    new Float64Array(4 * MAX_TYPE),
    new Float64Array(4 * MAX_TYPE),
  ];
  readonly #bytes: readonly [Float64Array, Float64Array] = [
    new Float64Array(4),
    new Float64Array(4),
  ];
  readonly #errors = new BoundedLabelCounts();
  readonly #aborts = new BoundedLabelCounts();
  readonly #latency = new Float64Array(BUCKETS.length + 1);
  #latencySum = 0;
  #latencyCount = 0;

  /** Counts one message; `direction` 0 = received, 1 = sent; `serializer` = index or 3 (local). */
  count(direction: 0 | 1, serializer: number, type: number, bytes: number): void {
    this.#messages[direction][serializer * MAX_TYPE + type]!++;
    this.#bytes[direction][serializer]! += bytes;
  }

  /** Counts an ERROR the router sent, by error URI (bounded, see {@link MAX_LABEL_VALUES}). */
  error(uri: string): void {
    this.#errors.add(uri);
  }

  /** Counts an ABORT the router sent, by reason (bounded, see {@link MAX_LABEL_VALUES}). */
  abort(reason: string): void {
    this.#aborts.add(reason);
  }

  /** Records the duration of a finished call, in milliseconds. */
  callLatency(ms: number): void {
    const s = ms / 1000;
    let i = 0;
    while (i < BUCKETS.length && s > BUCKETS[i]!) i++;
    this.#latency[i]!++;
    this.#latencySum += s;
    this.#latencyCount++;
  }

  /** The Prometheus text exposition of every counter. */
  render(source: MetricsSource): string {
    const out: string[] = [];
    const head = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const esc = escapeLabel;

    head("switchboard_realms", "gauge", "Realms served.");
    out.push(`switchboard_realms ${source.realms.length}`);
    head("switchboard_sessions", "gauge", "Joined sessions, by realm (the router's own excluded).");
    for (const r of source.realms) {
      out.push(`switchboard_sessions{realm="${esc(r.name)}"} ${r.sessions}`);
    }
    head("switchboard_subscriptions", "gauge", "Subscriptions, by realm.");
    for (const r of source.realms) {
      out.push(`switchboard_subscriptions{realm="${esc(r.name)}"} ${r.subscriptions}`);
    }
    head("switchboard_registrations", "gauge", "Registrations, by realm.");
    for (const r of source.realms) {
      out.push(`switchboard_registrations{realm="${esc(r.name)}"} ${r.registrations}`);
    }

    head(
      "switchboard_messages_total",
      "counter",
      "WAMP messages, by direction, type and serializer.",
    );
    for (const [d, direction] of [[0, "in"], [1, "out"]] as const) {
      for (let s = 0; s < SERIALIZER_LABELS.length; s++) {
        for (const t of TYPES) {
          const n = this.#messages[d][s * MAX_TYPE + t]!;
          if (n > 0) {
            out.push(
              `switchboard_messages_total{direction="${direction}",type="${
                messageName(t)
              }",serializer="${SERIALIZER_LABELS[s]}"} ${n}`,
            );
          }
        }
      }
    }
    head(
      "switchboard_bytes_total",
      "counter",
      "Bytes of serialized WAMP messages, by direction and serializer.",
    );
    for (const [d, direction] of [[0, "in"], [1, "out"]] as const) {
      for (let s = 0; s < 3; s++) {
        out.push(
          `switchboard_bytes_total{direction="${direction}",serializer="${
            SERIALIZER_LABELS[s]
          }"} ${this.#bytes[d][s]!}`,
        );
      }
    }
    const bound =
      `the first ${MAX_LABEL_VALUES} distinct; later ones, and any longer than ${MAX_LABEL_LENGTH} characters or not a valid URI, count as "${OTHER_LABEL}"`;
    head(
      "switchboard_errors_total",
      "counter",
      `ERROR messages sent by the router, by error URI (${bound}).`,
    );
    for (const [uri, n] of this.#errors.entries()) {
      out.push(`switchboard_errors_total{uri="${esc(uri)}"} ${n}`);
    }
    head(
      "switchboard_aborts_total",
      "counter",
      `Sessions ended with ABORT by the router, by reason (${bound}).`,
    );
    for (const [uri, n] of this.#aborts.entries()) {
      out.push(`switchboard_aborts_total{reason="${esc(uri)}"} ${n}`);
    }
    head("switchboard_dropped_events_total", "counter", "EVENTs dropped for slow consumers.");
    out.push(`switchboard_dropped_events_total ${source.droppedEvents}`);
    head(
      "switchboard_queued_bytes",
      "gauge",
      "Bytes waiting in the sessions' outgoing WebSocket buffers.",
    );
    out.push(`switchboard_queued_bytes ${source.queuedBytes}`);
    head(
      "switchboard_call_duration_seconds",
      "histogram",
      "Time from CALL to the final RESULT or ERROR.",
    );
    let cumulative = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += this.#latency[i]!;
      out.push(`switchboard_call_duration_seconds_bucket{le="${BUCKETS[i]}"} ${cumulative}`);
    }
    cumulative += this.#latency[BUCKETS.length]!;
    out.push(`switchboard_call_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
    out.push(`switchboard_call_duration_seconds_sum ${this.#latencySum}`);
    out.push(`switchboard_call_duration_seconds_count ${this.#latencyCount}`);
    const lines = source.node === undefined ? out : withLabel(out, "node", source.node);
    return lines.join("\n") + "\n";
  }
}
