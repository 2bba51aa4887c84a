/**
 * A realm: its sessions, broker, dealer and permissions. Every message of an established
 * session comes here; the realm checks URIs and permissions, then one exhaustive switch hands
 * it to the broker or the dealer. Session join/leave drive meta events and statistics.
 *
 * @module
 */

import { patternCoverage } from "../auth/pattern_coverage.ts";
import { Permissions } from "../auth/permissions.ts";
import type { WampClient } from "../client.ts";
import type { Clock } from "../clock.ts";
import type { Action, MatchPolicy, RealmConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { RouterMetrics } from "../metrics.ts";
import { type StatsSnapshot, StatsTracker } from "../stats/session_stats.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { messageName, MessageType as T } from "../wamp/message_type.ts";
import type { Dict, Message } from "../wamp/messages.ts";
import {
  isMatchPolicy,
  isReservedUri,
  isValidUri,
  patternMayMatchReserved,
  TRUSTED_ROLE,
  Uri,
} from "../wamp/uris.ts";
import { Broker, BROKER_FEATURES } from "./broker.ts";
import { Dealer, DEALER_FEATURES } from "./dealer.ts";
import { observationEvents, registerObservationMeta } from "./observation_meta.ts";
import { registerSessionMeta } from "./session_meta.ts";
import { type Session, withoutStatsTriggers } from "./session.ts";

/** The role of the router's own sessions; no client can obtain it. */

function matchOption(options: Dict, what: string): MatchPolicy {
  const m = options.match ?? "exact";
  if (!isMatchPolicy(m)) {
    throw new WampError(
      Uri.INVALID_ARGUMENT,
      `${what}.Options.match must be exact, prefix or wildcard`,
    );
  }
  return m as MatchPolicy;
}

/** The match policy of SUBSCRIBE/REGISTER options, or `null` when it is invalid. */
function matchOf(options: Dict): MatchPolicy | null {
  const m = options.match ?? "exact";
  return isMatchPolicy(m) ? m : null;
}

/** Key of a cached authorizer decision: the match policy is part of what was decided. */
function authzKey(action: Action, match: MatchPolicy, uri: string): string {
  return `${action} ${match} ${uri}`;
}

/** Payload passthru used by a peer that did not announce it is a protocol violation. */
function requirePassthru(session: Session, role: string, options: Dict): void {
  if (options.ppt_scheme !== undefined && !session.hasFeature(role, "payload_passthru_mode")) {
    throw new ProtocolError(
      `ppt_scheme used, but the ${role} did not announce payload_passthru_mode`,
    );
  }
}

/** An authorization decision. `error` replaces `wamp.error.not_authorized` when set. */
export interface Decision {
  readonly allowed: boolean;
  readonly disclose: boolean;
  readonly error?: string;
  /**
   * A pattern subscription the role's permissions cover only in part: allowed, but the
   * session gets only the events whose topic it may subscribe to.
   */
  readonly filtered?: boolean;
}

const ALLOWED: Decision = Object.freeze({ allowed: true, disclose: false });
const ALLOWED_FILTERED: Decision = Object.freeze({
  allowed: true,
  disclose: false,
  filtered: true,
});
const DENIED: Decision = Object.freeze({ allowed: false, disclose: false });

/** How long a dynamic authorizer may take before the action is denied. */
const AUTHORIZER_TIMEOUT_MS = 10_000;

/**
 * A dynamic authorizer's answer: a boolean, or `{allow, disclose?, cache?}` and nothing else.
 * Anything else is invalid (null), which denies with `wamp.error.authorization_failed`.
 */
function parseAuthorizerAnswer(answer: unknown): { decision: Decision; cache: boolean } | null {
  if (typeof answer === "boolean") {
    return { decision: { allowed: answer, disclose: false }, cache: false };
  }
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return null;
  const a = answer as Dict;
  if (typeof a.allow !== "boolean") return null;
  for (const [k, v] of Object.entries(a)) {
    if (k === "allow") continue;
    if ((k !== "disclose" && k !== "cache") || typeof v !== "boolean") return null;
  }
  return { decision: { allowed: a.allow, disclose: a.disclose === true }, cache: a.cache === true };
}

/** One realm of the router. */
export class Realm {
  readonly name: string;
  readonly sessions: Map<number, Session> = new Map();
  readonly broker: Broker;
  readonly dealer: Dealer;
  #permissions: Permissions;
  #config: RealmConfig;
  #service: WampClient | null = null;
  /** Meta events raised while a request is handled, held until its reply is out (see #afterReply). */
  #heldMeta: [string, unknown[]][] | null = null;

  constructor(
    config: RealmConfig,
    readonly clock: Clock,
    readonly logger: Logger,
    metrics: RouterMetrics | null = null,
  ) {
    this.name = config.name;
    this.#config = config;
    this.#permissions = new Permissions(config.roles);
    for (const role of config.roles) {
      if (role.authorizer) this.#authorizers.set(role.name, role.authorizer);
    }
    const events = observationEvents((topic, args) => this.#meta(topic, args));
    this.broker = new Broker(
      events.broker,
      config.history,
      (session, topic) => this.#permissions.authorize(session.authrole, topic, "subscribe").allowed,
    );
    this.dealer = new Dealer(clock, {
      ...events.dealer,
      onCallDone: (ms) => metrics?.callLatency(ms),
    });
  }

  /** The realm's current configuration. */
  get config(): RealmConfig {
    return this.#config;
  }

  /**
   * Applies a new configuration of this realm without dropping sessions: roles, permissions,
   * authorizers, URI checking, event history and statistics settings take effect at once
   * (cached authorizer answers are forgotten). When the statistics settings change, every
   * joined session's window in progress continues under the new ones: no join or final
   * event, the counts so far are kept, and a realm whose `stats` is removed stops publishing.
   * Every subscription and registration of a session with a static role is authorized again
   * under the new permissions: what is no longer allowed is revoked.
   */
  reconfigure(config: RealmConfig): void {
    const statsChanged = JSON.stringify(config.stats) !== JSON.stringify(this.#config.stats);
    this.#config = config;
    this.#permissions = new Permissions(config.roles);
    this.#authorizers.clear();
    for (const role of config.roles) {
      if (role.authorizer) this.#authorizers.set(role.name, role.authorizer);
    }
    for (const s of this.sessions.values()) {
      s.authzCache.clear();
      if (statsChanged && !s.internal) {
        s.stats?.detach();
        s.stats = null;
        this.#track(s)?.resume();
      }
    }
    this.broker.setHistory(config.history);
    this.#reauthorize();
  }

  /**
   * Authorizes every subscription and registration of every session with a static role again
   * under the current permissions: what is no longer allowed is revoked (the session gets
   * UNSUBSCRIBED / UNREGISTERED if it announced revocation; the meta events fire), and pattern
   * subscriptions are filtered or not as their coverage now says. Sessions of the `trusted`
   * role and of roles with a dynamic authorizer keep theirs.
   */
  #reauthorize(): void {
    const decisions = new Map<string, Decision>();
    const decide = (session: Session, uri: string, match: MatchPolicy, action: Action) => {
      const key = `${session.authrole}\n${authzKey(action, match, uri)}`;
      let d = decisions.get(key);
      if (d === undefined) decisions.set(key, d = this.authorize(session, uri, action, match));
      return d;
    };
    for (const s of [...this.sessions.values()]) {
      if (s.authrole === TRUSTED_ROLE || this.#authorizers.has(s.authrole)) continue;
      for (const sub of [...s.subscriptions]) {
        const d = decide(s, sub.uri, sub.match, "subscribe");
        if (d.allowed) this.broker.setFiltered(s, sub, d.filtered === true);
        else this.broker.revoke(s, sub, Uri.NOT_AUTHORIZED);
      }
      for (const reg of [...s.registrations]) {
        if (!decide(s, reg.uri, reg.match, "register").allowed) {
          this.dealer.revoke(s, reg, Uri.NOT_AUTHORIZED);
        }
      }
    }
  }

  /** True when sessions may join with `role` (built-in `anonymous` and `trusted` always). */
  hasRole(role: string): boolean {
    return role === TRUSTED_ROLE || role === "anonymous" || this.#permissions.has(role);
  }

  /** WELCOME.Details.roles: exactly the features implemented. */
  routerRoles(): Dict {
    const meta = this.#config.options.enable_meta_api;
    const broker: Dict = { ...BROKER_FEATURES };
    const dealer: Dict = { ...DEALER_FEATURES };
    if (!meta) {
      // these need the meta procedures, which are not registered without the meta API
      delete broker.session_meta_api;
      delete broker.subscription_meta_api;
      delete broker.event_history;
      delete dealer.session_meta_api;
      delete dealer.registration_meta_api;
      delete dealer.testament_meta_api;
    }
    return { broker: { features: broker }, dealer: { features: dealer } };
  }

  /**
   * Connects the realm's service session (role `trusted`, in-process), which publishes meta
   * events and provides the meta procedures.
   */
  async attachService(service: WampClient): Promise<void> {
    this.#service = service;
    if (this.#config.options.enable_meta_api) {
      await registerSessionMeta(this, service);
      await registerObservationMeta(this, service);
    }
  }

  /**
   * Decides whether `session` may do `action` on `uri` under `match`. A static role is
   * decided on a concrete URI by its permissions and on a prefix/wildcard pattern by the URIs
   * the pattern can match (`patternCoverage`): allowed when all of them are allowed, denied
   * when none are; a pattern covered in part is allowed filtered for `subscribe` and denied
   * for every other action. A dynamic role's authorizer decides a pattern as a whole.
   */
  authorize(session: Session, uri: string, action: Action, match: MatchPolicy = "exact"): Decision {
    if (session.authrole === TRUSTED_ROLE) return { allowed: true, disclose: true };
    if (this.#authorizers.has(session.authrole)) {
      // Dynamic roles: the decision fetched for the message being dispatched, else a cached
      // one (testaments at session end cannot wait for an authorizer), else deny.
      return this.#decision ?? session.authzCache.get(authzKey(action, match, uri)) ??
        { allowed: false, disclose: false, error: Uri.AUTHORIZATION_FAILED };
    }
    if (match === "exact") return this.#permissions.authorize(session.authrole, uri, action);
    const strict = this.#config.options.uri_check === "strict";
    const role = this.#permissions.role(session.authrole);
    switch (patternCoverage(role, uri, match, action, strict)) {
      case "all":
        return ALLOWED;
      case "some":
        return action === "subscribe" ? ALLOWED_FILTERED : DENIED;
      case "none":
        return DENIED;
    }
  }

  // ---- membership --------------------------------------------------------------------

  /** A session joined (WELCOME was sent): publish on_join and start its statistics. */
  join(session: Session): void {
    this.sessions.set(session.id, session);
    if (session.internal) return;
    this.logger.info("session joined", {
      session: session.id,
      realm: this.name,
      authid: session.authid,
      authrole: session.authrole,
      serializer: session.serializerName,
      peer: session.peer.details.peer,
    });
    this.#meta("wamp.session.on_join", [session.details()]);
    this.#track(session)?.join();
  }

  /**
   * Gives `session` a stats tracker with the realm's current settings (not started), or
   * none when the realm has no `stats` or the session is not metered.
   */
  #track(session: Session): StatsTracker | null {
    const stats = this.#config.stats;
    if (!stats || !session.meter) return null;
    const info = {
      session: session.id,
      realm: this.name,
      authid: session.authid,
      authrole: session.authrole,
    };
    session.stats = new StatsTracker(
      session.meter,
      stats,
      this.clock,
      (snap) => this.#publishStats(info, snap),
    );
    return session.stats;
  }

  /** A session left (GOODBYE, ABORT, transport loss, kill): clean up, then final stats and on_leave. */
  leave(session: Session): void {
    this.sessions.delete(session.id);
    this.broker.removeSession(session);
    this.dealer.removeSession(session);
    this.#publishTestaments(session);
    if (session.internal) return;
    this.logger.info("session left", { session: session.id, realm: this.name });
    const tracker = session.stats;
    session.stats = null;
    // decisions.md: the final on_stats goes out before on_leave, so a monitor still knows
    // the session when its last figures arrive.
    const final = tracker?.leave() ?? null;
    if (final) {
      this.#publishStats(
        {
          session: session.id,
          realm: this.name,
          authid: session.authid,
          authrole: session.authrole,
        },
        final,
      );
    }
    this.#meta("wamp.session.on_leave", [session.id, session.authid, session.authrole]);
  }

  /** Publishes a leaving session's testaments (detached, then destroyed) as its own publications. */
  #publishTestaments(session: Session): void {
    const all = [...session.testaments.detached, ...session.testaments.destroyed];
    session.testaments.detached.length = 0;
    session.testaments.destroyed.length = 0;
    for (const t of all) {
      const msg: Message = { type: T.PUBLISH, request: 0, options: t.options, topic: t.topic };
      if (t.args) msg.args = t.args;
      if (t.kwargs) msg.kwargs = t.kwargs;
      try {
        const { disclose } = this.#checkUri(session, t.topic, "exact", "publish");
        this.broker.publish(session, msg, disclose || t.options.disclose_me === true);
      } catch (e) {
        if (!(e instanceof WampError)) throw e;
        this.logger.warn("testament not published", {
          session: session.id,
          topic: t.topic,
          error: e.uri,
        });
      }
    }
  }

  #publishStats(info: Dict, snap: StatsSnapshot): void {
    // Stats events are counted like any traffic for their receivers, but never trigger a
    // new stats publication by themselves: monitors subscribed to on_stats (their own or
    // each other's) cannot feed back into an endless chain.
    withoutStatsTriggers(() => this.#meta("wamp.session.on_stats", [info, snap]));
  }

  #meta(topic: string, args: unknown[]): void {
    if (this.#heldMeta !== null) {
      this.#heldMeta.push([topic, args]);
      return;
    }
    const service = this.#service;
    if (!service || !this.#config.options.enable_meta_api || !service.isOpen) return;
    service.publish(topic, args).catch((e) =>
      this.logger.error("meta publish failed", { topic, error: String(e) })
    );
  }

  /** Ends every session of the realm with GOODBYE `reason`; returns those sessions. */
  closeAll(reason: string, message?: string): Session[] {
    const ended: Session[] = [];
    for (const s of [...this.sessions.values()]) {
      if (s.internal) continue;
      s.goodbye(reason, message);
      ended.push(s);
    }
    return ended;
  }

  // ---- routing -----------------------------------------------------------------------

  /** Handles one message of an established session. */
  dispatch(session: Session, msg: Message): void {
    if (session.authzChain === null && !this.#authorizers.has(session.authrole)) {
      return this.#dispatchNow(session, msg);
    }
    // A role with a dynamic authorizer: messages of the session are handled in order, each
    // after its authorization decision (from the cache or the authorizer procedure).
    const previous = session.authzChain ?? Promise.resolve();
    const chain: Promise<void> = previous.then(async () => {
      if (session.closed || session.realm !== this) return;
      const decision = await this.#decide(session, msg);
      if (session.closed || session.realm !== this) return;
      this.#decision = decision;
      try {
        this.#dispatchNow(session, msg);
      } catch (e) {
        if (e instanceof ProtocolError) return session.protocolViolation(e.message);
        this.logger.error("internal error while handling a message", { error: String(e) });
        session.abort(Uri.RUNTIME_ERROR, "internal router error while handling the message");
      } finally {
        this.#decision = null;
      }
    }).finally(() => {
      if (session.authzChain === chain) session.authzChain = null;
    });
    session.authzChain = chain;
  }

  /** The decision for the message being dispatched now, when it came from an authorizer. */
  #decision: Decision | null = null;
  /** Roles with a dynamic authorizer: role name → procedure. */
  readonly #authorizers: Map<string, string> = new Map();

  /**
   * The URI, action and match policy a message needs authorizing for, if any. A SUBSCRIBE or
   * REGISTER with an invalid `match` needs none: it is refused with `invalid_argument`.
   */
  #action(msg: Message): [string, Action, MatchPolicy] | null {
    switch (msg.type) {
      case T.PUBLISH:
        return [msg.topic, "publish", "exact"];
      case T.SUBSCRIBE: {
        const match = matchOf(msg.options);
        return match === null ? null : [msg.topic, "subscribe", match];
      }
      case T.CALL:
        return [msg.procedure, "call", "exact"];
      case T.REGISTER: {
        const match = matchOf(msg.options);
        return match === null ? null : [msg.procedure, "register", match];
      }
      default:
        return null;
    }
  }

  /** Asks the role's authorizer (or the session's cache) about a message. */
  async #decide(session: Session, msg: Message): Promise<Decision | null> {
    const what = this.#action(msg);
    const procedure = this.#authorizers.get(session.authrole);
    if (!what || !procedure) return null;
    const [uri, action, match] = what;
    const key = authzKey(action, match, uri);
    const cached = session.authzCache.get(key);
    if (cached) return cached;
    const service = this.#service;
    const failed: Decision = { allowed: false, disclose: false, error: Uri.AUTHORIZATION_FAILED };
    if (!service) return failed;
    let answer: unknown;
    try {
      // `match` always explicit, so an authorizer cannot mistake a pattern for a URI
      const options = { ...("options" in msg ? msg.options : {}), match };
      const result = await service.call(
        procedure,
        [session.details(), uri, action, options],
        undefined,
        { timeout: AUTHORIZER_TIMEOUT_MS },
      );
      answer = result.args[0];
    } catch (e) {
      this.logger.warn("authorizer failed", { procedure, uri, action, error: String(e) });
      return failed;
    }
    const decision = parseAuthorizerAnswer(answer);
    if (!decision) {
      this.logger.warn("authorizer gave an invalid answer", { procedure, uri, action });
      return failed;
    }
    if (decision.cache) session.authzCache.set(key, decision.decision);
    return decision.decision;
  }

  #dispatchNow(session: Session, msg: Message): void {
    switch (msg.type) {
      case T.PUBLISH:
        return this.#publish(session, msg);
      case T.SUBSCRIBE:
        return this.#afterReply(() =>
          this.#guard(session, T.SUBSCRIBE, msg.request, () => {
            const match = matchOption(msg.options, "SUBSCRIBE");
            const { filtered } = this.#checkUri(session, msg.topic, match, "subscribe");
            const sub = this.broker.subscribe(session, msg.topic, match, filtered === true);
            session.send({ type: T.SUBSCRIBED, request: msg.request, subscription: sub.id });
            if (msg.options.get_retained === true) this.broker.sendRetained(session, sub);
          })
        );
      case T.UNSUBSCRIBE:
        return this.#afterReply(() =>
          this.#guard(session, T.UNSUBSCRIBE, msg.request, () => {
            this.broker.unsubscribe(session, msg.subscription);
            session.send({ type: T.UNSUBSCRIBED, request: msg.request });
          })
        );
      case T.CALL:
        if (
          msg.options.progress === true &&
          !session.hasFeature("caller", "progressive_call_invocations")
        ) {
          throw new ProtocolError(
            "CALL with progress: true, but the caller did not announce progressive_call_invocations",
          );
        }
        requirePassthru(session, "caller", msg.options);
        return this.#guard(session, T.CALL, msg.request, () => {
          // A request id with an open call: a later chunk of a progressive call invocation
          // (authorized with its first chunk) or a protocol violation; the dealer tells.
          if (session.callsAsCaller.has(msg.request)) return this.dealer.call(session, msg, false);
          const { disclose } = this.#checkUri(session, msg.procedure, "exact", "call");
          this.dealer.call(session, msg, disclose || msg.options.disclose_me === true);
        });
      case T.REGISTER:
        return this.#afterReply(() =>
          this.#guard(session, T.REGISTER, msg.request, () => {
            const match = matchOption(msg.options, "REGISTER");
            this.#checkUri(session, msg.procedure, match, "register");
            const reg = this.dealer.register(session, msg.procedure, match, msg.options);
            session.send({ type: T.REGISTERED, request: msg.request, registration: reg.id });
          })
        );
      case T.UNREGISTER:
        return this.#afterReply(() =>
          this.#guard(session, T.UNREGISTER, msg.request, () => {
            this.dealer.unregister(session, msg.registration);
            session.send({ type: T.UNREGISTERED, request: msg.request });
          })
        );
      case T.YIELD:
        requirePassthru(session, "callee", msg.options);
        return this.dealer.yield(session, msg);
      case T.ERROR:
        if (msg.requestType !== T.INVOCATION) {
          throw new ProtocolError(
            `a client may send ERROR only for INVOCATION (68), not for ${
              messageName(msg.requestType)
            }`,
          );
        }
        // The caller gets this URI as is: it must be one (loose rules, as for any URI).
        if (!isValidUri(msg.error, "exact", false)) {
          throw new ProtocolError(`ERROR.Error ${JSON.stringify(msg.error)} is not a valid URI`);
        }
        return this.dealer.error(session, msg);
      case T.CANCEL:
        return this.#guard(session, T.CALL, msg.request, () => this.dealer.cancel(session, msg));
      case T.WELCOME:
      case T.CHALLENGE:
      case T.AUTHENTICATE:
      case T.PUBLISHED:
      case T.SUBSCRIBED:
      case T.UNSUBSCRIBED:
      case T.EVENT:
      case T.RESULT:
      case T.REGISTERED:
      case T.UNREGISTERED:
      case T.INVOCATION:
      case T.INTERRUPT:
      case T.HELLO:
      case T.GOODBYE:
      case T.ABORT:
        throw new ProtocolError(`${messageName(msg.type)} is not a message a client may send here`);
    }
  }

  /**
   * Runs `fn`, which handles a SUBSCRIBE, UNSUBSCRIBE, REGISTER or UNREGISTER and sends its
   * reply, and publishes the meta events it raised only afterwards, as Crossbar does: a
   * session watching the meta API gets the reply to its own request before any meta event
   * about it.
   */
  #afterReply(fn: () => void): void {
    const outer = this.#heldMeta;
    const held: [string, unknown[]][] = [];
    this.#heldMeta = held;
    try {
      fn();
    } finally {
      this.#heldMeta = outer;
      for (const [topic, args] of held) this.#meta(topic, args);
    }
  }

  /** Runs `fn`; a `WampError` it throws becomes an ERROR reply to the request. */
  #guard(session: Session, requestType: number, request: number, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof WampError)) throw e;
      session.sendError(requestType, request, e.uri, e.payloadArgs(), e.kwargs);
    }
  }

  /**
   * Validates `uri` for `match`, refuses reserved URIs (`wamp.*`, `switchboard.*`) to
   * non-trusted sessions for publish, and for register any pattern that could match one, and
   * checks the permission.
   * @throws {WampError} `invalid_uri` or `not_authorized` (or the authorizer's error).
   */
  #checkUri(session: Session, uri: string, match: MatchPolicy, action: Action): Decision {
    const strict = this.#config.options.uri_check === "strict";
    if (!isValidUri(uri, match, strict)) {
      throw new WampError(Uri.INVALID_URI, `"${uri}" is not a valid ${match} URI`);
    }
    if (
      session.authrole !== TRUSTED_ROLE &&
      ((action === "publish" && isReservedUri(uri)) ||
        (action === "register" && patternMayMatchReserved(uri, match)))
    ) {
      const what = match === "exact" ? `"${uri}" is reserved` : `${match} "${uri}" can match`;
      throw new WampError(
        Uri.INVALID_URI,
        `${what}: clients may not ${action} wamp.* or switchboard.* URIs`,
      );
    }
    const decision = this.authorize(session, uri, action, match);
    if (!decision.allowed) {
      const what = match === "exact" ? `"${uri}"` : `${match} pattern "${uri}"`;
      throw new WampError(
        decision.error ?? Uri.NOT_AUTHORIZED,
        `session is not authorized to ${action} ${what} (role "${session.authrole}")`,
      );
    }
    return decision;
  }

  #publish(session: Session, msg: Message & { type: typeof T.PUBLISH }): void {
    requirePassthru(session, "publisher", msg.options);
    const ack = msg.options.acknowledge === true;
    try {
      const { disclose } = this.#checkUri(session, msg.topic, "exact", "publish");
      const publication = this.broker.publish(
        session,
        msg,
        disclose || msg.options.disclose_me === true,
      );
      if (ack) session.send({ type: T.PUBLISHED, request: msg.request, publication });
    } catch (e) {
      if (!(e instanceof WampError)) throw e;
      if (ack) session.sendError(T.PUBLISH, msg.request, e.uri, e.payloadArgs(), e.kwargs);
    }
  }
}
