/**
 * Readiness: the checks `GET /readyz` asks. The router registers its own (listeners up, realms
 * started, not shutting down); other parts add theirs with
 * {@linkcode Readiness.add} (the cluster adds "cluster link connected"). A check answers `null`
 * when its part is ready, or a short reason when it is not; the reason is shown to whoever
 * can reach the probe, so it names the part and its state, never addresses, credentials or
 * error details.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** One readiness check: `null` when ready, else a short public reason. */
export interface ReadinessCheck {
  /** Names the part checked, as the probe's JSON reports it (e.g. `listeners`, `cluster`). */
  readonly name: string;
  /** `null` when ready, else why not (one short line, no internals). */
  check(): string | null;
}

/** A failing check, as the probe reports it. */
export interface ReadinessFailure {
  /** The check's name. */
  readonly check: string;
  /** Its reason. */
  readonly reason: string;
}

/** The checks of one router, asked in the order they were added. */
export class Readiness {
  readonly #checks: ReadinessCheck[] = [];
  readonly #logger: Logger;

  /** Checks that throw are logged to `logger`. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a check; the returned function removes it again. */
  add(check: ReadinessCheck): () => void {
    this.#checks.push(check);
    return () => {
      const i = this.#checks.indexOf(check);
      if (i >= 0) this.#checks.splice(i, 1);
    };
  }

  /**
   * Asks every check. A check that throws counts as not ready (`check failed`), so a broken
   * check never reports a router ready; what it threw is not shown.
   */
  failures(): ReadinessFailure[] {
    const out: ReadinessFailure[] = [];
    for (const c of this.#checks) {
      let reason: string | null;
      try {
        reason = c.check();
      } catch (e) {
        this.#logger.warn("readiness check failed", { check: c.name, error: String(e) });
        reason = "check failed";
      }
      if (reason !== null) out.push({ check: c.name, reason });
    }
    return out;
  }
}

/**
 * The router's own readiness: its realms have started, `serve()` has every configured listener
 * up (a router only mounted with `handler()` has none of its own to wait for: `idle`), and it
 * is not shutting down.
 */
export function routerReadiness(
  closing: boolean,
  realmsStarted: boolean,
  serving: "idle" | "starting" | "up",
  listeners: { up: number; configured: number },
): string | null {
  if (closing) return "shutting down";
  if (!realmsStarted) return "realms starting";
  if (serving === "starting") return `${listeners.up} of ${listeners.configured} listeners up`;
  return null;
}
