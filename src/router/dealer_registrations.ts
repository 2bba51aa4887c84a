/**
 * The registrations half of a realm's dealer ({@link Dealer} extends it with the calls): the
 * queries, REGISTER and UNREGISTER, a cluster's `sync`, revocation and the hooks a cluster sets.
 * The {@link Registrations} it wraps is written through here and by the dealer's session cleanup
 * only.
 *
 * @module
 */

import type { MatchPolicy } from "../config/types.ts";
import type { Call, Dict } from "../wamp/messages.ts";
import type { Registration, RegistrationState } from "./dealer_types.ts";
import type { Registrations } from "./registrations.ts";
import type { SessionRef } from "./session_ref.ts";

/** A realm's registrations, as its dealer keeps them. */
export class DealerRegistrations {
  /** The registrations (the dealer's: no other module writes them). */
  protected readonly regs: Registrations;

  constructor(regs: Registrations) {
    this.regs = regs;
  }

  /** The registrations `session` is a callee of. */
  registrationsOf(session: SessionRef): readonly Registration[] {
    return this.regs.registrationsOf(session);
  }

  /** The registration with `id`. */
  get(id: number): Registration | undefined {
    return this.regs.get(id);
  }

  /** The registration for (uri, match). */
  lookup(uri: string, match: MatchPolicy): Registration | undefined {
    return this.regs.lookup(uri, match);
  }

  /** The registration a CALL to `procedure` would use. */
  match(procedure: string): Registration | undefined {
    return this.regs.match(procedure);
  }

  /** All registrations. */
  all(): IterableIterator<Registration> {
    return this.regs.all();
  }

  /**
   * Registers `session` for (uri, match).
   * @throws {WampError} `procedure_already_exists`, `procedure_exists_with_different_invocation_policy`,
   *   `invalid_argument`.
   */
  register(session: SessionRef, uri: string, match: MatchPolicy, options: Dict): Registration {
    return this.regs.register(session, uri, match, options);
  }

  /**
   * Removes `session` as a callee of registration `id`.
   * @throws {WampError} `wamp.error.no_such_registration`.
   */
  unregister(session: SessionRef, id: number): Registration {
    return this.regs.unregister(session, id);
  }

  /** Sets the registration of (uri, match) to what a cluster agreed (Registrations.sync). */
  sync(uri: string, match: MatchPolicy, state: RegistrationState | null): Registration | null {
    return this.regs.sync(uri, match, state);
  }

  /**
   * Router-initiated removal of a callee (`wamp.registration.remove_callee`): the session gets
   * `UNREGISTERED [0, {registration, reason}]` if it announced `registration_revocation`.
   */
  revoke(session: SessionRef, reg: Registration, reason?: string): void {
    if (!reg.callees.some((c) => c.session === session)) return;
    this.regs.revoke(session, reg, reason);
    this.onRevoked?.(session, reg);
  }

  /**
   * Told of every revocation (`wamp.registration.remove_callee`, a reload's permissions), so a
   * cluster withdraws the callee everywhere.
   */
  onRevoked: ((session: SessionRef, reg: Registration) => void) | null = null;

  /**
   * Asked when a CALL (not a progressive invocation) finds no registration: true when it takes
   * the call over (a cluster looks the procedure up, then calls again).
   */
  onMiss: ((caller: SessionRef, msg: Call, disclose: boolean) => boolean) | null = null;
}
