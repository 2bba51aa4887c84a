/**
 * A small leveled logger. The router logs through this interface only; the default writes
 * human-readable lines to stderr. Client-chosen text in a message or field is escaped and
 * quoted so that it cannot forge lines or fields (see `log_format.ts`).
 *
 * @module
 */

import { type Clock, isoTime, systemClock } from "./clock.ts";
import { formatJsonLine, formatTextLine } from "./log_format.ts";

/** Log levels, most severe first. */
export type LogLevel = "error" | "warn" | "info" | "debug";

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Where the router writes its log lines. */
export interface Logger {
  /** Something failed: a bug, a broken configuration, a lost resource. */
  error(message: string, fields?: Record<string, unknown>): void;
  /** Something an operator should look at: a refused connection burst, a dropped event. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** The router's life: start, joins and leaves, reloads. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Details for troubleshooting. */
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** True when `s` names a log level. */
export function isLogLevel(s: string): s is LogLevel {
  return Object.hasOwn(ORDER, s);
}

/** A logger that prints lines at or above `level` to stderr, stamped with `clock`'s time. */
export function consoleLogger(level: LogLevel = "info", clock: Clock = systemClock): Logger {
  const max = ORDER[level];
  const line = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] > max) return;
    console.error(formatTextLine(isoTime(clock), lvl, message, fields));
  };
  return {
    error: (m, f) => line("error", m, f),
    warn: (m, f) => line("warn", m, f),
    info: (m, f) => line("info", m, f),
    debug: (m, f) => line("debug", m, f),
  };
}

/** A logger that discards everything (tests, embedding). */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

/**
 * A logger that writes one JSON object per line to stderr (`--log-format json`), stamped with
 * `clock`'s time.
 */
export function jsonLogger(level: LogLevel = "info", clock: Clock = systemClock): Logger {
  const max = ORDER[level];
  const line = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] > max) return;
    console.error(formatJsonLine(isoTime(clock), lvl, message, fields));
  };
  return {
    error: (m, f) => line("error", m, f),
    warn: (m, f) => line("warn", m, f),
    info: (m, f) => line("info", m, f),
    debug: (m, f) => line("debug", m, f),
  };
}
