/**
 * The router under test, instrumented: its log lines and armed timers are kept for the checks,
 * and where its transports listen is an {@linkcode Endpoint} the connections are given.
 *
 * @module
 */

import { createRouter, type Listener, type Router } from "../../mod.ts";
import { type Clock, systemClock, type TimerId } from "../../src/clock.ts";
import type { Logger } from "../../src/log.ts";

/** Where a router under test listens, and the bounds the fuzzer holds it to. */
export interface Endpoint {
  /** A WebSocket URL serving JSON, MessagePack and CBOR. */
  readonly wsUrl: string;
  /** The RawSocket listener (TCP). */
  readonly rsHost: string;
  readonly rsPort: number;
  /** The router's `max_message_size` on both transports. */
  readonly maxMessageSize: number;
  /** How long to wait for a reply before calling it a hang (a liveness bound, not a timing check). */
  readonly waitMs: number;
}

/** Lines the router logs, formatted like the default logger formats them (so a field that cannot
 * be formatted breaks here as it would in production); warnings and errors are kept. */
export class LogCapture implements Logger {
  readonly lines: { seq: number; level: string; text: string }[] = [];
  seq = 0;
  #line(level: string, message: string, fields?: Record<string, unknown>) {
    let text = `${level.toUpperCase()} ${message}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      text += ` ${k}=${
        typeof v === "string"
          ? v
          : JSON.stringify(v, (_k, x) => typeof x === "bigint" ? x.toString() : x)
      }`;
    }
    this.seq++;
    if (level === "error" || level === "warn") {
      this.lines.push({ seq: this.seq, level, text });
    }
  }
  error(m: string, f?: Record<string, unknown>) {
    this.#line("error", m, f);
  }
  warn(m: string, f?: Record<string, unknown>) {
    this.#line("warn", m, f);
  }
  info(m: string, f?: Record<string, unknown>) {
    this.#line("info", m, f);
  }
  debug(_m: string, _f?: Record<string, unknown>) {}
  since(seq: number, levels = ["error"]): string[] {
    return this.lines.filter((l) => l.seq > seq && levels.includes(l.level)).map((l) => l.text);
  }
}

/** The system clock, keeping track of the router's armed timers and where each was set. */
export class TrackingClock implements Clock {
  readonly armed = new Map<TimerId, string>();
  nowNs(): bigint {
    return systemClock.nowNs();
  }
  nowMs(): number {
    return systemClock.nowMs();
  }
  setTimer(fn: () => void, ms: number): TimerId {
    const where = (new Error().stack ?? "").split("\n").slice(2, 5).map((l) => l.trim());
    const id: TimerId = systemClock.setTimer(() => {
      this.armed.delete(id);
      fn();
    }, ms);
    this.armed.set(id, `${ms} ms timer set ${where.join(" <- ")}`);
    return id;
  }
  clearTimer(id: TimerId): void {
    this.armed.delete(id);
    systemClock.clearTimer(id);
  }
}

/** A serving router with its log capture and clock; disposing it closes the router. */
export interface FuzzTarget extends AsyncDisposable {
  readonly router: Router;
  readonly clock: TrackingClock;
  readonly logs: LogCapture;
  /** Every listener the router started, in config order. */
  readonly listeners: readonly Listener[];
}

/** Creates a router from `config` with a {@linkcode LogCapture} and a {@linkcode TrackingClock}
 * and starts its transports. */
export async function startTarget(config: unknown): Promise<FuzzTarget> {
  const logs = new LogCapture();
  const clock = new TrackingClock();
  const router = createRouter(config, { logger: logs, clock });
  const close = () => router.close(100);
  let listeners: Listener[];
  try {
    listeners = await router.serve();
  } catch (e) {
    await close();
    throw e;
  }
  return { router, clock, logs, listeners, [Symbol.asyncDispose]: close };
}
