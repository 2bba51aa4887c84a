/**
 * Readiness: what `GET /readyz` asks. The router's own check comes first (its realms have
 * started, `serve()` has every configured listener up, it is not shutting down); other parts add
 * theirs with {@linkcode Readiness.add} (the cluster adds "cluster link connected"). A check
 * answers `null` when its part is ready, or a short reason when it is not; the reason is shown
 * to whoever can reach the probe, so it names the part and its state, never addresses,
 * credentials or error details.
 *
 * @module
 */

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

/** The readiness of one router: its own state (which it reports here) and the checks added. */
export class Readiness {
  readonly #checks: ReadinessCheck[] = [];
  readonly #warn: (message: string, fields: Record<string, unknown>) => void;
  #realmsStarted = false;
  #closing = false;
  /** Listeners `serve()` started of those configured; null until `serve()` is called. */
  #listeners: { up: number; configured: number } | null = null;

  /** `warn` logs a check that throws. */
  constructor(warn: (message: string, fields: Record<string, unknown>) => void) {
    this.#warn = warn;
    this.#checks.push({ name: "router", check: () => this.#own() });
  }

  /** Every realm of the configuration has started. */
  realmsStarted(): void {
    this.#realmsStarted = true;
  }

  /** `serve()` starts `configured` listeners. */
  listenersStarting(configured: number): void {
    this.#listeners = { up: 0, configured };
  }

  /** One more listener is up. */
  listenerUp(): void {
    if (this.#listeners) this.#listeners.up++;
  }

  /** The router is shutting down. */
  closing(): void {
    this.#closing = true;
  }

  /**
   * The router's own reason not to be ready. A router only mounted with `handler()` never
   * called `serve()`: it has no listeners of its own to wait for.
   */
  #own(): string | null {
    if (this.#closing) return "shutting down";
    if (!this.#realmsStarted) return "realms starting";
    const l = this.#listeners;
    if (l && l.up < l.configured) return `${l.up} of ${l.configured} listeners up`;
    return null;
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
   * check never reports a router ready; what it threw is logged, not shown.
   */
  failures(): ReadinessFailure[] {
    const out: ReadinessFailure[] = [];
    for (const c of this.#checks) {
      let reason: string | null;
      try {
        reason = c.check();
      } catch (e) {
        this.#warn("readiness check failed", { check: c.name, error: String(e) });
        reason = "check failed";
      }
      if (reason !== null) out.push({ check: c.name, reason });
    }
    return out;
  }
}
