/**
 * What the status page knows about the realm it watches: sessions and their latest
 * statistics, subscriptions, registrations, and what it was refused. A fresh model per
 * connection.
 *
 * @module
 */

import type { Dict } from "./messages.ts";

/** How many departed session ids are remembered (late answers for them are ignored). */
const LEFT_MEMORY = 5000;

/** Subscriptions or registrations. */
export type ObjectKind = "subs" | "regs";

/** One subscription or registration as shown (fields as the meta API returned them). */
export interface ObjectRow {
  readonly id: unknown;
  readonly uri: unknown;
  readonly match: unknown;
  readonly invoke: unknown;
  readonly created: unknown;
  /** Subscribers or callees. */
  readonly count: unknown;
}

/** What went wrong with a call or subscription, for the section's error line. */
export interface Problem {
  /** The error URI ("error" when there was none). */
  readonly uri: string;
  /** "call", "subscribe to" ("use" when unknown). */
  readonly action: string;
  /** The procedure or topic. */
  readonly target: string;
  /** The error's full message. */
  readonly detail: string | undefined;
}

function problem(e: unknown): Problem {
  const x: { uri?: unknown; action?: unknown; target?: unknown; message?: unknown } =
    e && typeof e === "object" ? e : {};
  return {
    uri: typeof x.uri === "string" && x.uri ? x.uri : "error",
    action: typeof x.action === "string" && x.action ? x.action : "use",
    target: typeof x.target === "string" ? x.target : "",
    detail: typeof x.message === "string" ? x.message : undefined,
  };
}

/** The page's picture of one realm, as seen by one connection. */
export class PageModel {
  /** Session id -> details (`wamp.session.get` / `on_join`). */
  readonly sessions = new Map<number, Dict>();
  /** `wamp.session.list` answered at least once. */
  listed = false;
  /** Session id -> the latest `on_stats` figures. */
  readonly stats = new Map<number, Dict>();
  /** Ids that left (late answers for them are ignored). */
  readonly left = new Set<number>();
  /**
   * The cluster's nodes (`switchboard.cluster.nodes`: `{node, self, ...}` each), or null when
   * the router is not a cluster node (or has not said yet).
   */
  nodes: Dict[] | null = null;
  /** Null until listed. */
  subs: ObjectRow[] | null = null;
  /** Null until listed. */
  regs: ObjectRow[] | null = null;
  /** "area.source" -> what went wrong there. */
  readonly errors = new Map<string, Problem>();
  /** The page's own session's role and id (from WELCOME). */
  authrole: unknown = null;
  self: number | null = null;
  /** When anything last changed (ms since the epoch). */
  updated: number | null = null;

  /** Records (or, with a falsy `e`, clears) what went wrong at `key`. */
  setError(key: string, e: unknown): void {
    if (e) this.errors.set(key, problem(e));
    else this.errors.delete(key);
  }

  /** Whether anything went wrong at a key starting with `prefix`. */
  hasError(prefix: string): boolean {
    for (const k of this.errors.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** Drops a session that left and remembers that it did. */
  forget(id: number): void {
    this.sessions.delete(id);
    this.stats.delete(id);
    this.left.add(id);
    if (this.left.size > LEFT_MEMORY) {
      const oldest = this.left.values().next();
      if (!oldest.done) this.left.delete(oldest.value);
    }
  }
}
