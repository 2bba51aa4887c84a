/**
 * The registrations of one realm's dealer: (procedure, match) → registration with its invoke
 * policy and callees in order, pattern resolution (exact > longest prefix > wildcard), the
 * policies' pick, and each session's registrations. Owned and written by the dealer only;
 * callees of other nodes (`RemoteSessionRef`s) raise no meta events here.
 *
 * @module
 */

import { type Clock, isoTime } from "../clock.ts";
import type { MatchPolicy } from "../config/types.ts";
import { WampError } from "../wamp/errors.ts";
import { freshId } from "../wamp/ids.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Dict } from "../wamp/messages.ts";
import { UriIndex } from "../wamp/uri_index.ts";
import { Uri } from "../wamp/uris.ts";
import {
  type Callee,
  type DealerObserver,
  type InvokePolicy,
  isRemote,
  POLICIES,
  type Registration,
  type RegistrationState,
} from "./dealer_types.ts";
import type { SessionRef } from "./session_ref.ts";

/** The registrations of one dealer. */
export class Registrations {
  readonly #index = new UriIndex<Registration>();
  readonly #byId = new Map<number, Registration>();
  readonly #ofSession = new Map<SessionRef, Set<Registration>>();

  constructor(readonly clock: Clock, readonly observer: DealerObserver) {}

  #of(session: SessionRef): Set<Registration> {
    let mine = this.#ofSession.get(session);
    if (!mine) this.#ofSession.set(session, mine = new Set());
    return mine;
  }

  /** The registrations `session` is a callee of. */
  registrationsOf(session: SessionRef): readonly Registration[] {
    return [...this.#ofSession.get(session) ?? []];
  }

  /** The registration with `id`. */
  get(id: number): Registration | undefined {
    return this.#byId.get(id);
  }

  /** The registration for (uri, match). */
  lookup(uri: string, match: MatchPolicy): Registration | undefined {
    return this.#index.get(uri, match);
  }

  /** The registration a CALL to `procedure` would use. */
  match(procedure: string): Registration | undefined {
    return this.#index.best(procedure)?.value;
  }

  /** All registrations. */
  all(): IterableIterator<Registration> {
    return this.#byId.values();
  }

  /**
   * Registers `session` for (uri, match).
   * @throws {WampError} `procedure_already_exists`, `procedure_exists_with_different_invocation_policy`,
   *   `invalid_argument`.
   */
  register(session: SessionRef, uri: string, match: MatchPolicy, options: Dict): Registration {
    const invoke = options.invoke ?? "single";
    if (typeof invoke !== "string" || !POLICIES.has(invoke)) {
      throw new WampError(
        Uri.INVALID_ARGUMENT,
        `REGISTER.Options.invoke must be one of single, roundrobin, random, first, last`,
      );
    }
    const callee: Callee = {
      session,
      discloseCaller: options.disclose_caller === true,
      forwardTimeout: options.forward_timeout === true,
    };
    let reg = this.#index.get(uri, match);
    if (reg) {
      if (reg.invoke === "single") {
        throw new WampError(
          Uri.PROCEDURE_ALREADY_EXISTS,
          `procedure "${uri}" is already registered`,
        );
      }
      if (reg.invoke !== invoke) {
        throw new WampError(
          Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
          `procedure "${uri}" is registered with invoke "${reg.invoke}", not "${invoke}"`,
        );
      }
      if (reg.callees.some((c) => c.session === session)) return reg;
      reg.callees.push(callee);
      this.#of(session).add(reg);
      this.observer.onRegister?.(session, reg);
      return reg;
    }
    reg = {
      id: freshId(this.#byId),
      uri,
      match,
      invoke: invoke as InvokePolicy,
      created: isoTime(this.clock),
      callees: [callee],
      next: 0,
    };
    this.#index.set(uri, match, reg);
    this.#byId.set(reg.id, reg);
    this.#of(session).add(reg);
    this.observer.onCreate?.(session, reg);
    this.observer.onRegister?.(session, reg);
    return reg;
  }

  /**
   * Removes `session` as a callee of registration `id`.
   * @throws {WampError} `wamp.error.no_such_registration`.
   */
  unregister(session: SessionRef, id: number): Registration {
    const reg = this.#byId.get(id);
    if (!reg || !reg.callees.some((c) => c.session === session)) {
      throw new WampError(Uri.NO_SUCH_REGISTRATION, `no registration with id ${id}`);
    }
    this.remove(session, reg);
    return reg;
  }

  /** Removes `session` as a callee of `reg` (the registration goes with its last callee). */
  remove(session: SessionRef, reg: Registration): void {
    const i = reg.callees.findIndex((c) => c.session === session);
    if (i >= 0) reg.callees.splice(i, 1);
    const mine = this.#ofSession.get(session);
    mine?.delete(reg);
    if (mine?.size === 0) this.#ofSession.delete(session);
    const local = !isRemote(session);
    if (local) this.observer.onUnregister?.(session, reg);
    if (reg.callees.length === 0) {
      this.#index.delete(reg.uri, reg.match);
      this.#byId.delete(reg.id);
      if (local) this.observer.onDelete?.(session, reg);
    }
  }

  /**
   * Sets the registration of (uri, match) to `state`, as the cluster agreed on it (null: it
   * does not exist): its id, policy and callees in the agreed order, local and remote. The
   * meta events fire for local callees only (the node of a remote one publishes its own).
   * A callee taken out this way keeps its open calls, as with UNREGISTER.
   */
  sync(uri: string, match: MatchPolicy, state: RegistrationState | null): Registration | null {
    let reg = this.#index.get(uri, match);
    if (reg && (state === null || state.id !== reg.id || state.invoke !== reg.invoke)) {
      for (const c of [...reg.callees]) this.remove(c.session, reg);
      reg = undefined;
    }
    if (state === null || state.callees.length === 0) return null;
    let created = false;
    if (!reg) {
      reg = {
        id: state.id,
        uri,
        match,
        invoke: state.invoke,
        created: state.created,
        callees: [],
        next: 0,
      };
      this.#index.set(uri, match, reg);
      this.#byId.set(reg.id, reg);
      created = true;
    }
    const keep = new Set(state.callees.map((c) => c.session));
    for (const c of [...reg.callees]) {
      if (!keep.has(c.session)) this.remove(c.session, reg);
    }
    const had = new Set(reg.callees.map((c) => c.session));
    reg.callees.splice(0, reg.callees.length, ...state.callees);
    for (const c of state.callees) {
      if (had.has(c.session)) continue;
      this.#of(c.session).add(reg);
      if (isRemote(c.session)) continue;
      // created here only when its first callee is local (else its node announced it)
      if (created && c === state.callees[0]) this.observer.onCreate?.(c.session, reg);
      created = false;
      this.observer.onRegister?.(c.session, reg);
    }
    return reg;
  }

  /** The callee of `reg` its policy picks for the next call. */
  pick(reg: Registration): Callee {
    const c = reg.callees;
    switch (reg.invoke) {
      case "single":
      case "first":
        return c[0]!;
      case "last":
        return c[c.length - 1]!;
      case "random":
        return c[Math.floor(Math.random() * c.length)]!;
      case "roundrobin": {
        const callee = c[reg.next % c.length]!;
        reg.next = (reg.next + 1) % c.length;
        return callee;
      }
    }
  }

  /**
   * Router-initiated removal of a callee (`wamp.registration.remove_callee`): the session gets
   * `UNREGISTERED [0, {registration, reason}]` if it announced `registration_revocation`.
   */
  revoke(session: SessionRef, reg: Registration, reason?: string): void {
    if (!reg.callees.some((c) => c.session === session)) return;
    this.remove(session, reg);
    if (session.hasFeature("callee", "registration_revocation")) {
      const details: Dict = { registration: reg.id };
      if (reason) details.reason = reason;
      session.send({ type: T.UNREGISTERED, request: 0, details });
    }
  }

  /** Removes `session` from all its registrations. */
  removeSession(session: SessionRef): void {
    for (const reg of [...this.#ofSession.get(session) ?? []]) this.remove(session, reg);
    this.#ofSession.delete(session);
  }
}
