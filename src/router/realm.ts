/**
 * A realm: its sessions, broker, dealer and permissions. Every message of an established
 * session comes here; the realm checks URIs and permissions, then one exhaustive switch hands
 * it to the broker or the dealer. Session join/leave drive meta events and statistics.
 *
 * @module
 */

import { AUTHORIZER_TIMEOUT } from "../config/defaults.ts";
import { type Decision, RealmAuthorizer } from "../auth/authorizer.ts";
import type { WampClient } from "../client.ts";
import type { Clock } from "../clock.ts";
import type { Action, RealmConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { type StatsSnapshot, StatsTracker } from "../stats/session_stats.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { messageName, MessageType as T } from "../wamp/message_type.ts";
import type { Dict, Message, Publish } from "../wamp/messages.ts";
import { type MatchPolicy, Uri } from "../wamp/uris.ts";
import { Broker } from "./broker.ts";
import { Dealer } from "./dealer.ts";
import { agreedLink, dispatchAgreed } from "./agreed_dispatch.ts";
import { observationEvents } from "./observation_events.ts";
import { reauthorize } from "./reauthorize.ts";
import type { Session } from "./session.ts";
import {
  type PublicationRecord,
  publicationRecord,
  type RealmLink,
  remotePublish,
  remotePublisher,
  replyWhenReady,
} from "./realm_link.ts";
import { type MetaLink, withNode } from "./meta_link.ts";
import type { Delivery, SessionRef } from "./session_ref.ts";
import { type Testament, Testaments, type TestamentScope } from "./testaments.ts";
import {
  actionOf,
  checkCallOptions,
  checkClientError,
  checkUri,
  matchOption,
  requirePassthru,
  routerRoles,
} from "./uri_checks.ts";

export type { Decision, Testament, TestamentScope };

/** What the realm knows of a joined session besides the session itself. */
interface Member {
  /** Its statistics while the realm has `stats` (and the session is metered). */
  stats: StatsTracker | null;
  /** Its messages waiting for a dynamic authorizer are handled in order on this chain. */
  chain: Promise<void> | null;
}

/** Who asks for an authorization: a session here, or of a dead node (its testaments). */
type Asker = SessionRef & { details(): unknown };
/** A publication's id, and what its PUBLISHED waits for (see `RealmLink.published`). */
type Delivered = [number, Promise<void> | null];

/** Options of the statistics events: they never trigger a statistics publication. */
const STATS_DELIVERY = { triggersStats: false } as const;

/** One realm of the router. */
export class Realm {
  readonly name: string;
  readonly sessions: Map<number, Session> = new Map();
  readonly broker: Broker;
  readonly dealer: Dealer;
  #authorizer: RealmAuthorizer;
  #config: RealmConfig;
  #service: WampClient | null = null;
  /** The server side of the service session: the publisher of every meta event. */
  #serviceSession: Session | null = null;
  /** Joined sessions' statistics and authorization order (the realm's own). */
  readonly #members = new Map<Session, Member>();
  /** Joined sessions' testaments. */
  readonly #testaments = new Testaments();
  /** Where publications and interest go beyond this router (a cluster), if anywhere. */
  #link: RealmLink | null = null;
  /** What the meta API sees beyond this router (a cluster), if anything. */
  #metaLink: MetaLink | null = null;
  /** Meta events raised while a request is handled, held until its reply is out (see #afterReply). */
  #heldMeta: [string, unknown[], typeof STATS_DELIVERY | undefined][] | null = null;

  constructor(
    config: RealmConfig,
    readonly clock: Clock,
    readonly logger: Logger,
    onCallDone: (ms: number) => void = () => {},
  ) {
    this.name = config.name;
    this.#config = config;
    this.#authorizer = this.#newAuthorizer(config);
    const events = observationEvents(
      (topic, args) => this.publishMeta(topic, args),
      (s) => this.isInternal(s),
    );
    this.broker = new Broker(
      clock,
      {
        ...events.broker,
        onSubscribe: (s, sub) => {
          events.broker.onSubscribe?.(s, sub);
          this.#metaLink?.subscriptionChanged(sub);
        },
        onUnsubscribe: (s, sub) => {
          events.broker.onUnsubscribe?.(s, sub);
          this.#metaLink?.subscriptionChanged(sub);
        },
        onDelete: (s, sub) => {
          events.broker.onDelete?.(s, sub);
          this.#link?.interestRemoved?.(sub.uri, sub.match);
        },
      },
      config.history,
      // filtered subscribers are of static roles: their decision is synchronous
      (session, topic) =>
        (this.#authorizer.authorize({
          session: { id: session.id, authrole: session.authrole, details: () => ({}) },
          uri: topic,
          action: "subscribe",
          match: "exact",
          wait: false,
        }) as Decision).allowed,
    );
    this.dealer = new Dealer(clock, { ...events.dealer, onCallDone });
  }

  #newAuthorizer(config: RealmConfig): RealmAuthorizer {
    return new RealmAuthorizer({
      roles: config.roles,
      strict: config.options.uri_check === "strict",
      logger: this.logger,
      call: async (procedure, args) => {
        const service = this.#service;
        if (!service) throw new WampError(Uri.AUTHORIZATION_FAILED, "the realm has no service");
        const result = await service.call(procedure, args, undefined, {
          timeout: AUTHORIZER_TIMEOUT,
        });
        return result.args[0];
      },
    });
  }

  /** Connects the realm to a {@link RealmLink} (a cluster); null disconnects it. */
  setLink(link: RealmLink | null): void {
    if (this.#link !== link) this.#link?.close?.();
    this.#link = link;
  }

  /** What the meta API sees beyond this router (see meta_link.ts), or null. */
  get metaLink(): MetaLink | null {
    return this.#metaLink;
  }

  /** Connects the meta API to a {@link MetaLink} (a cluster); null disconnects it. */
  setMetaLink(link: MetaLink | null): void {
    this.#metaLink = link;
  }

  /**
   * Delivers a publication made elsewhere (another node) to this realm's subscribers, under the
   * rules of a local one; malformed black/white lists drop it (logged).
   */
  deliverRemote(record: PublicationRecord): void {
    const delivery = record.triggersStats ? undefined : STATS_DELIVERY;
    try {
      const [publisher, msg] = [remotePublisher(record), remotePublish(record)];
      this.broker.publish(publisher, msg, record.disclose, delivery, record);
    } catch (e) {
      if (!(e instanceof WampError)) throw e;
      this.logger.warn("remote publication dropped", { topic: record.topic, error: e.uri });
    }
  }

  /** Publishes here, then through the link; the id, and what PUBLISHED waits for. */
  #deliver(publisher: SessionRef, msg: Publish, disclose: boolean, delivery?: Delivery): Delivered {
    const publication = this.broker.publish(publisher, msg, disclose, delivery);
    const record = publicationRecord(publication, msg, publisher, disclose, delivery);
    return [publication, this.#link?.published?.(record) ?? null];
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
    // a new authorizer: the cached answers of dynamic authorizers are forgotten
    this.#authorizer = this.#newAuthorizer(config);
    if (statsChanged) {
      for (const [s, member] of this.#members) {
        if (s.internal) continue;
        member.stats?.detach();
        member.stats = this.#track(s);
        member.stats?.resume();
      }
    }
    this.broker.setHistory(config.history);
    this.#link?.historyChanged?.(config.history);
    reauthorize(
      [...this.sessions.values()],
      this.broker,
      this.dealer,
      (role) => this.#authorizer.isDynamic(role),
      (s, uri, action, match) => this.#authorizeNow(s, uri, action, match),
    );
  }

  /** True for the router's own sessions (hidden from the meta API). */
  isInternal(session: SessionRef): boolean {
    return this.sessions.get(session.id)?.internal === true;
  }

  /** True when sessions may join with `role` (built-in `anonymous` and `trusted` always). */
  hasRole(role: string): boolean {
    return this.#authorizer.hasRole(role);
  }

  /** WELCOME.Details.roles: exactly the features implemented. */
  routerRoles(): Dict {
    return routerRoles(this.#config.options.enable_meta_api);
  }

  /**
   * Connects the realm's service session (role `trusted`, in-process), which publishes meta
   * events, provides the meta procedures and calls dynamic authorizers.
   */
  attachService(service: WampClient): void {
    this.#service = service;
  }

  /**
   * A decision that cannot wait for an authorizer procedure: static roles are decided at
   * once, dynamic roles by what their authorizer asked to cache, else denied.
   */
  #authorizeNow(session: Asker, uri: string, action: Action, match: MatchPolicy): Decision {
    const request = { session, uri, action, match, options: {}, wait: false };
    const d = this.#authorizer.authorize(request);
    // with wait: false the authorizer never asks a procedure
    return d as Decision;
  }

  // ---- membership --------------------------------------------------------------------

  /** A session joined (WELCOME was sent): publish on_join and start its statistics. */
  join(session: Session): void {
    this.sessions.set(session.id, session);
    const member: Member = { stats: null, chain: null };
    this.#members.set(session, member);
    this.#testaments.open(session.id);
    if (session.internal) {
      this.#serviceSession ??= session;
      return;
    }
    this.logger.info("session joined", {
      session: session.id,
      realm: this.name,
      authid: session.authid,
      authrole: session.authrole,
      serializer: session.serializerName,
      peer: session.peer.details.peer,
    });
    const details = withNode(session.details(), this.#metaLink);
    this.publishMeta("wamp.session.on_join", [details]);
    this.#link?.sessionJoined?.(session, details);
    this.#metaLink?.sessionJoined(session, details);
    member.stats = this.#track(session);
    member.stats?.join();
  }

  /**
   * Gives `session` a stats tracker with the realm's current settings (not started), or
   * none when the realm has no `stats` or the session is not metered.
   */
  #track(session: Session): StatsTracker | null {
    const stats = this.#config.stats;
    if (!stats || !session.meter) return null;
    const info = this.#statsInfo(session);
    return new StatsTracker(session.meter, stats, this.clock, (s) => this.#publishStats(info, s));
  }

  /** Who a statistics event is about. */
  #statsInfo(s: Session): Dict {
    return { session: s.id, realm: this.name, authid: s.authid, authrole: s.authrole };
  }

  /** A session left (GOODBYE, ABORT, transport loss, kill): clean up, then final stats and on_leave. */
  leave(session: Session): void {
    const member = this.#members.get(session);
    this.sessions.delete(session.id);
    this.broker.removeSession(session);
    this.dealer.removeSession(session);
    this.#link?.dealer?.sessionLeft(session);
    this.publishTestaments(session, this.#testaments.take(session.id));
    this.#members.delete(session);
    this.#authorizer.forget(session.id);
    if (session.internal) {
      if (this.#serviceSession === session) this.#serviceSession = null;
      return;
    }
    this.logger.info("session left", { session: session.id, realm: this.name });
    this.#link?.sessionLeft?.(session);
    this.#metaLink?.sessionLeft(session);
    const tracker = member?.stats ?? null;
    // decisions.md: the final on_stats goes out before on_leave, so a monitor still knows
    // the session when its last figures arrive.
    const final = tracker?.leave() ?? null;
    if (final) this.#publishStats(this.#statsInfo(session), final);
    // exactly [session_id], as Crossbar sends it (decisions.md): Autobahn|Python passes every
    // positional argument to the handler, and Crossbar-era handlers take one
    this.publishMeta("wamp.session.on_leave", [session.id]);
  }

  /** Adds a testament of session `id`; false when it is not joined here. */
  addTestament(id: number, scope: TestamentScope, testament: Testament): boolean {
    const added = this.#testaments.add(id, scope, testament);
    if (added) this.#metaLink?.testaments(id, this.#testaments.peek(id));
    return added;
  }

  /** Drops the testaments of session `id` in `scope`; their number, or null when not joined. */
  flushTestaments(id: number, scope: TestamentScope): number | null {
    const n = this.#testaments.flush(id, scope);
    if (n) this.#metaLink?.testaments(id, this.#testaments.peek(id));
    return n;
  }

  /**
   * Publishes the testaments of a session that ended, as its own publications; a session of
   * another node (whose node died) is identified by `session` and its stored `details`.
   */
  publishTestaments(session: Asker, all: readonly Testament[]): void {
    for (const t of all) {
      const msg: Message = { type: T.PUBLISH, request: 0, options: t.options, topic: t.topic };
      if (t.args) msg.args = t.args;
      if (t.kwargs) msg.kwargs = t.kwargs;
      try {
        // a testament cannot wait for an authorizer procedure: decided at once (or cached)
        const decided = this.#authorizeNow(session, t.topic, "publish", "exact");
        const { disclose } = this.#checkUri(session, t.topic, "exact", "publish", decided);
        this.#deliver(session, msg, disclose || t.options.disclose_me === true);
      } catch (e) {
        if (!(e instanceof WampError)) throw e;
        const fields = { session: session.id, topic: t.topic, error: e.uri };
        this.logger.warn("testament not published", fields);
      }
    }
  }

  #publishStats(info: Dict, snap: StatsSnapshot): void {
    // Stats events are counted like any traffic for their receivers, but never trigger a
    // new stats publication by themselves: monitors subscribed to on_stats (their own or
    // each other's) cannot feed back into an endless chain.
    this.publishMeta("wamp.session.on_stats", [info, snap], STATS_DELIVERY);
  }

  /** Publishes a meta event as the realm's service session (disclosed), like any event. */
  publishMeta(topic: string, args: unknown[], delivery?: typeof STATS_DELIVERY): void {
    if (this.#heldMeta !== null) {
      this.#heldMeta.push([topic, args, delivery]);
      return;
    }
    const publisher = this.#serviceSession;
    if (!publisher || !this.#config.options.enable_meta_api || publisher.closed) return;
    const msg: Message = { type: T.PUBLISH, request: 0, options: {}, topic, args };
    try {
      this.#deliver(publisher, msg, true, delivery); // the link may refuse it (too large)
    } catch (e) {
      if (!(e instanceof WampError)) throw e;
      this.logger.warn("meta event not sent on", { topic, error: e.uri });
    }
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
    const member = this.#members.get(session);
    const link = agreedLink(this.#link?.dealer, session, msg, this.dealer);
    const dynamic = this.#authorizer.isDynamic(session.authrole);
    if (!member || (member.chain === null && !link && !dynamic)) {
      return this.#dispatchNow(session, msg, null);
    }
    // Handled in order, each after its decision (dynamic authorizer) or agreement (cluster).
    const previous = member.chain ?? Promise.resolve();
    const chain: Promise<void> = previous.then(async () => {
      if (session.closed || session.realm !== this) return;
      const decision = await this.#decide(session, msg);
      if (session.closed || session.realm !== this) return;
      try {
        if (!link) return this.#dispatchNow(session, msg, decision);
        await dispatchAgreed(link, this.dealer, session, msg, {
          check: (uri, match) => this.#checkUri(session, uri, match, "register", decision),
          afterReply: (fn) => this.#afterReply(fn),
          realm: this,
        });
      } catch (e) {
        if (e instanceof ProtocolError) return session.protocolViolation(e.message);
        this.logger.error("internal error while handling a message", { error: String(e) });
        session.abort(Uri.RUNTIME_ERROR, "internal router error while handling the message");
      }
    }).finally(() => {
      if (member.chain === chain) member.chain = null;
    });
    member.chain = chain;
  }

  /** Asks the role's authorizer (its cache, else its procedure) about a message. */
  async #decide(session: Session, msg: Message): Promise<Decision | null> {
    const what = actionOf(msg);
    if (!what) return null;
    const [uri, action, match] = what;
    const options = "options" in msg ? msg.options : {};
    return await this.#authorizer.authorize({ session, uri, action, match, options, wait: true });
  }

  /**
   * Handles one message; `decided` is the authorizer's decision for it when a dynamic role's
   * message waited for one (else each check decides at once).
   */
  #dispatchNow(session: Session, msg: Message, decided: Decision | null): void {
    switch (msg.type) {
      case T.PUBLISH:
        return this.#publish(session, msg, decided);
      case T.SUBSCRIBE:
        return this.#afterReply(() =>
          this.#guard(session, T.SUBSCRIBE, msg.request, () => {
            const match = matchOption(msg.options, "SUBSCRIBE");
            const { filtered } = this.#checkUri(session, msg.topic, match, "subscribe", decided);
            const sub = this.broker.subscribe(session, msg.topic, match, filtered === true);
            const retained = msg.options.get_retained === true;
            // SUBSCRIBED waits until events of other nodes arrive (and their retained events)
            replyWhenReady(
              this.#link?.interest?.(msg.topic, match) ?? null,
              retained ? this.#link?.retained?.(msg.topic, match) ?? null : null,
              () => !session.closed && session.realm === this && sub.subscribers.has(session),
              (records) => {
                session.send({ type: T.SUBSCRIBED, request: msg.request, subscription: sub.id });
                if (retained) this.broker.sendRetained(session, sub, records);
              },
              this.logger,
            );
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
        checkCallOptions(session, msg);
        return this.#guard(session, T.CALL, msg.request, () => {
          // A request id with an open call: a later chunk of a progressive call invocation
          // (authorized with its first chunk) or a protocol violation; the dealer tells.
          if (this.dealer.hasOpenCall(session, msg.request)) {
            return this.dealer.call(session, msg, false);
          }
          const { disclose } = this.#checkUri(session, msg.procedure, "exact", "call", decided);
          this.dealer.call(session, msg, disclose || msg.options.disclose_me === true);
        });
      case T.REGISTER:
        return this.#afterReply(() =>
          this.#guard(session, T.REGISTER, msg.request, () => {
            const match = matchOption(msg.options, "REGISTER");
            this.#checkUri(session, msg.procedure, match, "register", decided);
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
        checkClientError(msg);
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
    const held: [string, unknown[], typeof STATS_DELIVERY | undefined][] = [];
    this.#heldMeta = held;
    try {
      fn();
    } finally {
      this.#heldMeta = outer;
      for (const [topic, args, delivery] of held) this.publishMeta(topic, args, delivery);
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
   * The checks of `uri` for `action` (see uri_checks.ts); `decided`: the decision an
   * authorizer procedure already gave, else the permission is decided at once.
   * @throws {WampError} `invalid_uri` or `not_authorized` (or the authorizer's error).
   */
  #checkUri(
    session: Asker,
    uri: string,
    match: MatchPolicy,
    action: Action,
    decided: Decision | null = null,
  ): Decision {
    const strict = this.#config.options.uri_check === "strict";
    const authorize = () => decided ?? this.#authorizeNow(session, uri, action, match);
    const decision = checkUri(session, uri, match, action, strict, authorize);
    const tooLong = this.#link?.uriRefused?.(uri, match);
    if (tooLong) throw new WampError(Uri.INVALID_URI, tooLong);
    return decision;
  }

  #publish(
    session: Session,
    msg: Message & { type: typeof T.PUBLISH },
    decided: Decision | null,
  ): void {
    requirePassthru(session, "publisher", msg.options);
    const ack = msg.options.acknowledge === true;
    try {
      const { disclose } = this.#checkUri(session, msg.topic, "exact", "publish", decided);
      const disclosed = disclose || msg.options.disclose_me === true;
      const [publication, stored] = this.#deliver(session, msg, disclosed);
      const reply = () => session.send({ type: T.PUBLISHED, request: msg.request, publication });
      if (ack && stored) void stored.then(() => session.closed || reply());
      else if (ack) reply();
    } catch (e) {
      if (!(e instanceof WampError)) throw e;
      if (ack) session.sendError(T.PUBLISH, msg.request, e.uri, e.payloadArgs(), e.kwargs);
    }
  }
}
