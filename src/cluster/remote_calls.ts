/**
 * Calls between nodes (docs/cluster.md, "Calls and registrations"): the callee's node runs
 * every call. The caller's dealer picks a callee of another node (a `RemoteSessionRef` in its
 * registrations) and hands the CALL to that node's {@link CallForwarder}; the callee's node
 * runs it in its own dealer for a stand-in of the caller (a {@link SessionRef} whose `send`
 * publishes back), so timeouts, the three cancel modes, progressive results and invocations,
 * caller disclosure and payload passthru are exactly the single-node dealer's. The caller's
 * dealer keeps a record of each forwarded call, relays later chunks, CANCELs and the answer,
 * and ends the call with ERROR when the callee's node cannot be reached ("no responders":
 * `wamp.error.network_failure`) or is declared gone (`wamp.error.canceled`).
 *
 * A `start` is a NATS request, but the callee's node answers it at once only to refuse the call;
 * a call it took is acknowledged by the call's first RESULT or ERROR, or, for a call still
 * running after {@link ACK_AFTER_MS}, by an `ok` reply then. So a call is two NATS messages, not
 * three, and "no responders" and the {@link FORWARD_TIMEOUT_MS} wait for a node that does not
 * take the call work as before.
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Dealer } from "../router/dealer.ts";
import type { CallForwarder, ForwardedCall } from "../router/dealer_types.ts";
import type { SendOutcome, SessionRef } from "../router/session_ref.ts";
import { ProtocolError, WampError } from "../wamp/errors.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Call, Cancel, Message } from "../wamp/messages.ts";
import { Uri } from "../wamp/uris.ts";
import {
  type CallerWire,
  nodeSubject,
  type StartReply,
  startReply,
  type ToCallee,
  toCallee,
  type ToCaller,
  toCaller,
} from "./call_wire.ts";
import { decode, encode } from "./codec.ts";
import {
  type ClusterLink,
  type LinkMessage,
  type LinkRequest,
  LinkRequestError,
  type LinkSubscription,
} from "./link.ts";

/** How long the caller's node waits for the callee's node to take a call (ms). */
export const FORWARD_TIMEOUT_MS = 5_000;
/** A call still running this long (ms) on the callee's node is acknowledged with `ok` then. */
export const ACK_AFTER_MS = 1_000;

/** Caller features the callee's dealer looks at (sent along with a forwarded call). */
const CALLER_FEATURES = [
  "caller_identification",
  "progressive_call_results",
  "progressive_call_invocations",
  "call_canceling",
  "call_timeout",
  "payload_passthru_mode",
] as const;

/** What the calls need of this node's router. */
export interface CallsHost {
  /** Realm `name` of this node: its dealer and joined sessions, or undefined. */
  realm(name: string):
    | { readonly dealer: Dealer; readonly sessions: ReadonlyMap<number, SessionRef> }
    | undefined;
}

/** A caller of another node, as this node's dealer sees it while running its calls. */
class CallerStandIn implements SessionRef {
  readonly id: number;
  readonly authid: string;
  readonly authrole: string;
  readonly #features: ReadonlySet<string>;
  constructor(
    wire: CallerWire,
    readonly realm: string,
    readonly node: string,
    readonly reply: (node: string, msg: ToCaller) => "sent" | "too_large" | "unencodable",
  ) {
    this.id = wire.id;
    this.authid = wire.authid;
    this.authrole = wire.authrole;
    this.#features = new Set(wire.features);
  }
  /** The `start` replies owed for calls taken, by CALL request id (see {@link ACK_AFTER_MS}). */
  readonly unacked = new Map<number, { respond: (data: Uint8Array) => void; at: number }>();
  hasFeature(role: string, feature: string): boolean {
    return role === "caller" && this.#features.has(feature);
  }
  send(message: Message): SendOutcome {
    if (message.type !== T.RESULT && message.type !== T.ERROR) return "dropped";
    // an answer tells the caller's node that the call was taken: no `ok` is owed any more
    if (this.unacked.size > 0) this.unacked.delete(message.request);
    const outcome = this.reply(this.node, {
      k: "reply",
      realm: this.realm,
      caller: this.id,
      msg: message,
    });
    if (outcome === "sent" || message.type === T.RESULT) return outcome;
    // The dealer sends a callee's ERROR as it is: one that cannot cross becomes this one.
    return this.send({
      type: T.ERROR,
      requestType: T.CALL,
      request: message.request,
      details: {},
      error: outcome === "too_large" ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.INVALID_ARGUMENT,
      args: [`the callee's error cannot be passed on to the caller's node (${outcome})`],
    });
  }
}

/** The calls of one node with every other node. */
export class RemoteCalls {
  readonly #forwarders = new Map<string, CallForwarder>();
  /** Stand-ins of other nodes' callers, by `node realm id`. */
  readonly #standIns = new Map<string, CallerStandIn>();
  #subs: LinkSubscription[] = [];
  /** Calls of this node's callers handed to another node. */
  forwarded = 0;
  /** Calls of other nodes' callers this node's dealers took. */
  served = 0;
  /** Stand-ins owing `start` replies, and the timer that sends them. */
  readonly #owing = new Set<CallerStandIn>();
  #ackTimer: TimerId | null = null;
  /** Per caller of this node, the `start` of each forwarded call not yet answered. */
  readonly #asked = new WeakMap<SessionRef, Map<number, LinkRequest>>();

  constructor(
    readonly link: ClusterLink,
    /** This node's name. */
    readonly node: string,
    readonly host: CallsHost,
    readonly logger: Logger,
    readonly clock: Clock,
  ) {}

  /** Starts serving calls from other nodes; resolves once the subscriptions are in place. */
  async start(): Promise<void> {
    this.#subs = await Promise.all([
      this.link.subscribe(nodeSubject(this.node, "call"), (m) => this.#onCall(m)),
      this.link.subscribe(nodeSubject(this.node, "res"), (m) => this.#onReply(m)),
    ]);
  }

  /** Stops serving. */
  stop(): void {
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs = [];
    if (this.#ackTimer !== null) this.clock.clearTimer(this.#ackTimer);
    this.#ackTimer = null;
    this.#owing.clear();
  }

  /** Owes `ok` for a call `caller` made, taken now, if it still runs after ACK_AFTER_MS. */
  #owe(caller: CallerStandIn, request: number, respond: (data: Uint8Array) => void): void {
    caller.unacked.set(request, { respond, at: this.clock.nowMs() });
    this.#owing.add(caller);
    if (this.#ackTimer === null) {
      this.#ackTimer = this.clock.setTimer(() => this.#acknowledge(), ACK_AFTER_MS / 2);
    }
  }

  /** Sends the `ok` owed for calls taken at least ACK_AFTER_MS ago and still running. */
  #acknowledge(): void {
    this.#ackTimer = null;
    const due = this.clock.nowMs() - ACK_AFTER_MS;
    for (const caller of this.#owing) {
      const dealer = this.host.realm(caller.realm)?.dealer;
      for (const [request, owed] of caller.unacked) {
        if (owed.at > due) continue;
        caller.unacked.delete(request);
        if (dealer?.hasOpenCall(caller, request)) owed.respond(encode({ ok: true }));
      }
      if (caller.unacked.size === 0) this.#owing.delete(caller);
    }
    if (this.#owing.size > 0) {
      this.#ackTimer = this.clock.setTimer(() => this.#acknowledge(), ACK_AFTER_MS / 2);
    }
  }

  /** The first answer for `caller`'s call `request` came: its `start` needs no reply. */
  #answered(caller: SessionRef, request: number): void {
    const asked = this.#asked.get(caller);
    const start = asked?.get(request);
    if (!start) return;
    start.cancel();
    asked!.delete(request);
  }

  /** Where calls of realm `realm` to callees of node `node` go (one per pair). */
  forwarder(realm: string, node: string): CallForwarder {
    const key = `${node} ${realm}`;
    let fw = this.#forwarders.get(key);
    if (!fw) this.#forwarders.set(key, fw = this.#newForwarder(realm, node));
    return fw;
  }

  /**
   * Node `node` is gone: calls forwarded to it end with ERROR, its callees leave this node's
   * registrations, and the calls its callers made here end (their callees are interrupted).
   */
  nodeDown(node: string): void {
    for (const [key, fw] of this.#forwarders) {
      if (!key.startsWith(`${node} `)) continue;
      // The forwarder stays: a later incarnation of the node is reached through it again.
      this.host.realm(key.slice(node.length + 1))?.dealer.removeForwarder(fw);
    }
    for (const [key, standIn] of [...this.#standIns]) {
      if (standIn.node !== node) continue;
      this.#standIns.delete(key);
      this.#owing.delete(standIn);
      this.host.realm(standIn.realm)?.dealer.removeSession(standIn);
    }
  }

  #newForwarder(realm: string, node: string): CallForwarder {
    const subject = nodeSubject(node, "call");
    const from = this.node;
    const send = (msg: ToCallee) => this.#publish(subject, msg);
    return {
      start: (f: ForwardedCall) => {
        const msg: ToCallee = {
          k: "start",
          realm,
          from,
          caller: {
            id: f.caller.id,
            authid: f.caller.authid,
            authrole: f.caller.authrole,
            features: CALLER_FEATURES.filter((x) => f.caller.hasFeature("caller", x)),
          },
          call: f.call,
          disclose: f.disclose,
          registration: f.registration,
          callee: f.callee,
        };
        this.forwarded++;
        this.#start(realm, node, subject, f, msg);
      },
      chunk: (caller: SessionRef, call: Call) => {
        const why = this.#send(subject, { k: "chunk", realm, from, caller: caller.id, call });
        if (why === null) return;
        // The chunk cannot cross: the call ends here, and there.
        this.host.realm(realm)?.dealer.forwardFailed(caller, call.request, why.uri, [why.text]);
        send({
          k: "cancel",
          realm,
          from,
          caller: caller.id,
          cancel: { type: T.CANCEL, request: call.request, options: { mode: "killnowait" } },
        });
      },
      cancel: (caller: SessionRef, cancel: Cancel) =>
        send({ k: "cancel", realm, from, caller: caller.id, cancel }),
      callerGone: (caller: SessionRef) => {
        // its calls end there without an answer: their `start`s are not waited for
        for (const start of this.#asked.get(caller)?.values() ?? []) start.cancel();
        this.#asked.delete(caller);
        send({ k: "gone", realm, from, caller: caller.id });
      },
    };
  }

  #start(realm: string, node: string, subject: string, f: ForwardedCall, msg: ToCallee): void {
    const encoded = this.#encode(msg);
    if ("uri" in encoded) return this.#failed(realm, f, encoded.uri, encoded.text);
    const start = this.link.ask(subject, encoded.data, FORWARD_TIMEOUT_MS);
    let asked = this.#asked.get(f.caller);
    if (!asked) this.#asked.set(f.caller, asked = new Map());
    asked.set(f.call.request, start);
    const settled = () => {
      if (asked.get(f.call.request) === start) asked.delete(f.call.request);
    };
    start.reply.then(
      (bytes) => {
        settled();
        let reply: StartReply;
        try {
          reply = startReply(decode(bytes));
        } catch (e) {
          this.logger.warn("malformed reply from a node", { node, error: String(e) });
          return this.#failed(realm, f, Uri.NETWORK_FAILURE, `node ${node} sent a malformed reply`);
        }
        if (reply.ok) return;
        const args = Array.isArray(reply.args) ? reply.args : undefined;
        this.host.realm(realm)?.dealer.forwardFailed(f.caller, f.call.request, reply.error, args);
      },
      (e) => {
        settled();
        const gone = e instanceof LinkRequestError && e.kind === "no_responders";
        const why = gone
          ? `the callee's node ${node} is gone`
          : `the callee's node ${node} cannot be reached (${e instanceof Error ? e.message : e})`;
        this.#failed(realm, f, Uri.NETWORK_FAILURE, why);
        // It may still take the call late: it is canceled there too.
        if (!gone) {
          const cancel = {
            type: T.CANCEL,
            request: f.call.request,
            options: { mode: "killnowait" },
          };
          this.#publish(subject, {
            k: "cancel",
            realm,
            from: this.node,
            caller: f.caller.id,
            cancel,
          });
        }
      },
    );
  }

  #failed(realm: string, f: ForwardedCall, uri: string, why: string): void {
    this.host.realm(realm)?.dealer.forwardFailed(f.caller, f.call.request, uri, [why]);
  }

  /** The bytes of `msg`, or why it cannot cross (too large for the engine, unencodable). */
  #encode(
    msg: ToCallee | ToCaller,
  ): { data: Uint8Array } | { uri: string; text: string; outcome: SendOutcome } {
    let data: Uint8Array;
    try {
      data = encode(msg);
    } catch (e) {
      const text = `the message cannot be passed between nodes: ${(e as Error).message}`;
      return { uri: Uri.INVALID_ARGUMENT, text, outcome: "unencodable" };
    }
    const max = this.link.maxPayload;
    if (data.byteLength <= max) return { data };
    const text = `the message (${data.byteLength} bytes) is larger than the cluster passes ` +
      `between nodes (${max} bytes)`;
    return { uri: Uri.PAYLOAD_SIZE_EXCEEDED, text, outcome: "too_large" };
  }

  /** Publishes `msg`; null, or why it could not be (nothing was sent then). */
  #send(
    subject: string,
    msg: ToCallee | ToCaller,
  ): { uri: string; text: string; outcome: SendOutcome } | null {
    const encoded = this.#encode(msg);
    if (!("data" in encoded)) return encoded;
    try {
      this.link.publish(subject, encoded.data);
    } catch (e) {
      this.logger.error("cannot send a call message to a node", { subject, error: String(e) });
    }
    return null;
  }

  #publish(subject: string, msg: ToCallee | ToCaller): void {
    const failed = this.#send(subject, msg);
    if (failed) this.logger.error("a call message cannot cross", { subject, error: failed.text });
  }

  #reply = (node: string, msg: ToCaller): "sent" | "too_large" | "unencodable" => {
    const failed = this.#send(nodeSubject(node, "res"), msg);
    return failed === null ? "sent" : failed.outcome === "too_large" ? "too_large" : "unencodable";
  };

  #standIn(realm: string, from: string, wire: CallerWire | number): CallerStandIn | undefined {
    const id = typeof wire === "number" ? wire : wire.id;
    const key = `${from} ${realm} ${id}`;
    let s = this.#standIns.get(key);
    if (!s && typeof wire !== "number") {
      this.#standIns.set(key, s = new CallerStandIn(wire, realm, from, this.#reply));
    }
    return s;
  }

  #onCall(m: LinkMessage): void {
    let msg: ToCallee;
    try {
      msg = toCallee(decode(m.data));
    } catch (e) {
      this.logger.warn("malformed call message from a node", { error: String(e) });
      m.respond?.(encode({ ok: false, error: Uri.INVALID_ARGUMENT, args: ["malformed"] }));
      return;
    }
    const realm = this.host.realm(msg.realm);
    if (msg.k === "start") {
      let reply: StartReply = { ok: true };
      if (!realm) {
        reply = { ok: false, error: Uri.NO_SUCH_PROCEDURE, args: [`no realm ${msg.realm} here`] };
      } else {
        const caller = this.#standIn(msg.realm, msg.from, msg.caller)!;
        try {
          realm.dealer.callFor(caller, msg.call, msg.disclose, msg.registration, msg.callee);
          this.served++;
          // taken: answered by the call's first RESULT or ERROR (or `ok` if it runs long)
          const respond = m.respond;
          const open = realm.dealer.hasOpenCall(caller, msg.call.request);
          if (respond && open) return this.#owe(caller, msg.call.request, respond);
        } catch (e) {
          if (e instanceof WampError) {
            reply = {
              ok: false,
              error: e.uri,
              args: e.payloadArgs() ?? [],
              kwargs: e.kwargs ?? {},
            };
          } else if (e instanceof ProtocolError) {
            reply = { ok: false, error: Uri.INVALID_ARGUMENT, args: [e.message] };
          } else throw e;
        }
      }
      m.respond?.(encode(reply));
      return;
    }
    if (!realm) return;
    const caller = this.#standIn(msg.realm, msg.from, msg.caller);
    if (!caller) return;
    try {
      switch (msg.k) {
        case "chunk":
          return realm.dealer.call(caller, msg.call, false);
        case "cancel":
          return realm.dealer.cancel(caller, msg.cancel);
        case "gone":
          this.#standIns.delete(`${msg.from} ${msg.realm} ${msg.caller}`);
          this.#owing.delete(caller);
          return realm.dealer.removeSession(caller);
      }
    } catch (e) {
      if (!(e instanceof WampError) && !(e instanceof ProtocolError)) throw e;
      this.logger.warn("a forwarded call message was refused", { error: e.message });
    }
  }

  #onReply(m: LinkMessage): void {
    let msg: ToCaller;
    try {
      msg = toCaller(decode(m.data));
    } catch (e) {
      this.logger.warn("malformed call reply from a node", { error: String(e) });
      return;
    }
    const realm = this.host.realm(msg.realm);
    const caller = realm?.sessions.get(msg.caller);
    if (!realm || !caller) return;
    this.#answered(caller, msg.msg.request);
    realm.dealer.forwardedReply(caller, msg.msg);
  }
}
