/**
 * The router-wide extension point a cluster plugs into (docs/cluster.md, "Extension points"):
 * start-up deferral, session id allocation, one {@link RealmLink} per realm, a close hook and
 * metrics/status extras. The router knows nothing of NATS: it calls these hooks, and
 * `create_router.ts` installs the cluster's implementation of them.
 *
 * @module
 */

import type { FailureLimiter } from "../auth/failure_limiter.ts";
import type { Dict } from "../wamp/messages.ts";
import type { Realm } from "./realm.ts";
import type { RealmLink } from "./realm_link.ts";
import type { SessionHost } from "./session.ts";

/** What a router extension (a cluster node) provides; every hook is optional. */
export interface RouterExtension {
  /** The node's name (for logs and `/status`). */
  readonly node?: string;
  /**
   * A new session id, unique beyond this router (a cluster: `number × 2^43 + random 43 bits`).
   * The router asks again while the id is in use here.
   */
  newSessionId?(): number;
  /**
   * The link of a realm, asked once per realm when it starts (or when the extension is
   * installed, for realms already there). Null: the realm stays local.
   */
  realmLink?(realm: Realm): RealmLink | null;
  /** Extra Prometheus text appended to `/metrics` (whole lines, `\n`-terminated). */
  metricsText?(): string;
  /** Extra fields for the router's status (`routerInternals(router).status()`). */
  status?(): Dict;
  /**
   * The router closes: called after every session ended and before the listeners stop for
   * good, so the extension can withdraw what it announced and disconnect.
   */
  close?(): Promise<void>;
}

/**
 * The cluster this router belongs to cannot be reached at start-up (`Router.ready` and
 * `Router.serve()` reject with it). The message names the servers, in one line.
 */
export class ClusterStartError extends Error {
  /** Always `ClusterStartError`. */
  override name = "ClusterStartError";
  /** The servers that were tried, as configured. */
  readonly servers: readonly string[];
  /**
   * An error about `servers`.
   *
   * @param servers The servers that were tried.
   * @param message One line naming them and saying what failed.
   * @param options The underlying `cause`.
   */
  constructor(servers: readonly string[], message: string, options?: ErrorOptions) {
    super(message, options);
    this.servers = servers;
  }
}

/** What tests and extensions may reach inside a router (`routerInternals`; not in `mod.ts`). */
export interface RouterInternals {
  /** The realm called `name`. */
  realm(name: string): Realm | undefined;
  /** Failed authentications per remote address and authid. */
  readonly authFailures: FailureLimiter;
  /** What the router's sessions are created with. */
  readonly host: SessionHost;
  /** The installed extension (a cluster node), or null. */
  readonly extension: RouterExtension | null;
  /** The router's status: sessions, realms and the extension's fields. */
  status(): Dict;
}

/**
 * Installs an extension while a router `R` is created: it runs once, with the router; the
 * realms start, and the listeners open, after it resolved. A rejection rejects `ready` and
 * `serve()`.
 */
export type ExtensionInstaller<R> = (router: R) => Promise<RouterExtension>;

/** The installer of the router being constructed in {@link constructExtended}. */
let slot: ExtensionInstaller<never> | null = null;

/** Runs `construct` (a router constructor) so that it finds `install` (see {@link takeInstaller}). */
export function constructExtended<R>(install: ExtensionInstaller<R>, construct: () => R): R {
  slot = install as ExtensionInstaller<never>;
  try {
    return construct();
  } finally {
    slot = null;
  }
}

/** The installer for the router being constructed now, or null (taken once). */
export function takeInstaller<R>(): ExtensionInstaller<R> | null {
  const install = slot as ExtensionInstaller<R> | null;
  slot = null;
  return install;
}
