/**
 * The sessions that call dynamic authenticators configured with an `authenticator-role`: one
 * internal session of that role per realm, so that the call is authorized by that role's
 * permissions (Crossbar calls from its service session of the role). Opened on first use,
 * opened again once it has ended, closed when its realm is removed.
 *
 * @module
 */

import type { WampClient } from "../client.ts";
import { WampError } from "../wamp/errors.ts";
import { Uri } from "../wamp/uris.ts";

/** Whether `realm` has `role`. */
export type HasRole = (realm: string, role: string) => boolean;
/** Opens an internal session of `role` joined to `realm`. */
export type OpenSession = (realm: string, role: string) => Promise<WampClient>;

/** The authenticator-calling sessions of a router: realm → role → session. */
export class AuthenticatorSessions {
  readonly #sessions = new Map<string, Map<string, Promise<WampClient>>>();

  /**
   * @param hasRole Whether a realm has a role (else no session is opened for it).
   * @param open Opens a session of a role on a realm.
   */
  constructor(readonly hasRole: HasRole, readonly open: OpenSession) {}

  /**
   * The open session of `role` on `realm`, opened when there is none.
   *
   * @throws {WampError} `wamp.error.no_such_role` when the realm has no such role, or the
   * error that joining ended with.
   */
  async session(realm: string, role: string): Promise<WampClient> {
    if (!this.hasRole(realm, role)) {
      throw new WampError(
        Uri.NO_SUCH_ROLE,
        `no role "${role}" on realm "${realm}" for the authenticator (authenticator-role)`,
      );
    }
    let byRole = this.#sessions.get(realm);
    if (!byRole) this.#sessions.set(realm, byRole = new Map());
    const pending = byRole.get(role);
    // a session that failed to open was reported to the authentication that opened it
    const known = pending ? await pending.then((c) => c, () => null) : null;
    if (known?.isOpen) return known;
    // another caller may have opened a new one meanwhile
    if (byRole.get(role) !== pending) return await this.session(realm, role);
    const opening = this.open(realm, role);
    byRole.set(role, opening);
    return await opening;
  }

  /** Closes the sessions on `realm` (the realm is being removed). */
  async closeRealm(realm: string): Promise<void> {
    const byRole = this.#sessions.get(realm);
    this.#sessions.delete(realm);
    for (const pending of byRole?.values() ?? []) {
      // one that failed to open has nothing to close (its failure was reported when opening)
      const client = await pending.then((c) => c, () => null);
      if (client?.isOpen) await client.close();
    }
  }
}
