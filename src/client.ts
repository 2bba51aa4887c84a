/**
 * A small WAMP client that runs over any message link. The router uses it for in-process
 * sessions (its own service session and `Router.session()` for embedding programs).
 *
 * @module
 */

import type { ClientLink } from "./transport/local.ts";
import { WampError } from "./wamp/errors.ts";
import { SequentialIds } from "./wamp/ids.ts";
import { MessageType as T } from "./wamp/message_type.ts";
import type { Args, Dict, Kwargs, Message } from "./wamp/messages.ts";

/** What a call returns, and what a procedure may return to set both args and kwargs. */
export class CallResult {
  /** A result with positional `args`, keyword `kwargs` and the RESULT's `details`. */
  constructor(
    /** Positional results. */
    readonly args: Args = [],
    /** Keyword results. */
    readonly kwargs: Kwargs = {},
    /** RESULT.Details (for example `progress`). */
    readonly details: Dict = {},
  ) {}
}

/** An event handler. */
export type EventHandler = (args: Args, kwargs: Kwargs, details: Dict) => void;
/**
 * A procedure. Return a `CallResult` to set args and kwargs, any other value to return it as
 * the single positional result (undefined: no result), or throw a `WampError`.
 */
export type Procedure = (args: Args, kwargs: Kwargs, details: Dict) => unknown;

/** A live subscription of a client. */
export interface ClientSubscription {
  /** The subscription id the router gave. */
  readonly id: number;
  /** Ends the subscription (UNSUBSCRIBE). */
  unsubscribe(): Promise<void>;
}

/** A live registration of a client. */
export interface ClientRegistration {
  /** The registration id the router gave. */
  readonly id: number;
  /** Ends the registration (UNREGISTER). */
  unregister(): Promise<void>;
}

interface Waiter {
  resolve(m: Message): void;
  reject(e: Error): void;
}

const CLIENT_ROLES = {
  publisher: { features: { publisher_exclusion: true, subscriber_blackwhite_listing: true } },
  subscriber: { features: { pattern_based_subscription: true } },
  caller: { features: { call_canceling: true, progressive_call_results: true } },
  callee: { features: { call_canceling: true, progressive_call_results: true } },
};

/** A WAMP session from the client side. */
export class WampClient {
  /** The session id after joining. */
  sessionId = 0;
  /** WELCOME.Details. */
  welcome: Dict = {};
  /** Called once when the session ends (GOODBYE, ABORT or link loss) with the reason URI. */
  onClose: ((reason: string) => void) | null = null;

  readonly #link: ClientLink;
  readonly #ids = new SequentialIds();
  readonly #waiting = new Map<string, Waiter>();
  readonly #events = new Map<number, EventHandler[]>();
  readonly #procedures = new Map<number, Procedure>();
  #joined: { resolve(): void; reject(e: Error): void } | null = null;
  #goodbye: (() => void) | null = null;
  #open = true;

  /** A client over `link` (the router's in-process links, or any other). */
  constructor(link: ClientLink) {
    this.#link = link;
    link.attach({ receive: (m) => this.#receive(m), closed: () => this.#closed() });
  }

  /** Sends HELLO and waits for WELCOME. */
  join(realm: string, details: Dict = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#joined = { resolve, reject };
      this.#link.send({ type: T.HELLO, realm, details: { roles: CLIENT_ROLES, ...details } });
    });
  }

  /** Sends `msg` and waits for its reply; `onReply` runs as the reply arrives, not later. */
  #request<M extends Message>(
    key: string,
    msg: Message,
    onReply?: (reply: Message) => void,
  ): Promise<M> {
    if (!this.#open) return Promise.reject(new WampError("wamp.error.canceled", "session closed"));
    return new Promise<Message>((resolve, reject) => {
      const done = onReply
        ? (m: Message) => {
          onReply(m);
          resolve(m);
        }
        : resolve;
      this.#waiting.set(key, { resolve: done, reject });
      this.#link.send(msg);
    }) as Promise<M>;
  }

  /** Subscribes `handler` to `topic`. */
  async subscribe(
    topic: string,
    handler: EventHandler,
    options: Dict = {},
  ): Promise<ClientSubscription> {
    const request = this.#ids.next();
    // the handler is in place as SUBSCRIBED arrives: the retained events follow it at once
    const reply = await this.#request<Message & { subscription: number }>(
      `${T.SUBSCRIBE}:${request}`,
      { type: T.SUBSCRIBE, request, options, topic },
      (m) => {
        if (m.type !== T.SUBSCRIBED) return;
        const list = this.#events.get(m.subscription) ?? [];
        list.push(handler);
        this.#events.set(m.subscription, list);
      },
    );
    const id = reply.subscription;
    return {
      id,
      unsubscribe: async () => {
        const handlers = this.#events.get(id);
        if (!handlers) return;
        handlers.splice(handlers.indexOf(handler), 1);
        if (handlers.length > 0) return;
        this.#events.delete(id);
        const req = this.#ids.next();
        await this.#request(`${T.UNSUBSCRIBE}:${req}`, {
          type: T.UNSUBSCRIBE,
          request: req,
          subscription: id,
        });
      },
    };
  }

  /**
   * Publishes an event. With `options.acknowledge` it resolves to the publication id, else to
   * undefined at once.
   */
  async publish(
    topic: string,
    args?: Args,
    kwargs?: Kwargs,
    options: Dict = {},
  ): Promise<number | undefined> {
    const request = this.#ids.next();
    const msg: Message = { type: T.PUBLISH, request, options, topic };
    if (args) msg.args = args;
    if (kwargs) msg.kwargs = kwargs;
    if (options.acknowledge !== true) {
      if (this.#open) this.#link.send(msg);
      return undefined;
    }
    const reply = await this.#request<Message & { publication: number }>(
      `${T.PUBLISH}:${request}`,
      msg,
    );
    return reply.publication;
  }

  /** Registers `fn` as `procedure`. */
  async register(
    procedure: string,
    fn: Procedure,
    options: Dict = {},
  ): Promise<ClientRegistration> {
    const request = this.#ids.next();
    const reply = await this.#request<Message & { registration: number }>(
      `${T.REGISTER}:${request}`,
      { type: T.REGISTER, request, options, procedure },
    );
    const id = reply.registration;
    this.#procedures.set(id, fn);
    return {
      id,
      unregister: async () => {
        this.#procedures.delete(id);
        const req = this.#ids.next();
        await this.#request(`${T.UNREGISTER}:${req}`, {
          type: T.UNREGISTER,
          request: req,
          registration: id,
        });
      },
    };
  }

  /**
   * Calls a procedure. Rejects with `WampError` when the call fails.
   *
   * @param signal When it aborts while the call is pending, the call is canceled (CANCEL,
   *   mode `killnowait`: the callee gets INTERRUPT and the call rejects with
   *   `wamp.error.canceled`).
   */
  async call(
    procedure: string,
    args?: Args,
    kwargs?: Kwargs,
    options: Dict = {},
    signal?: AbortSignal,
  ): Promise<CallResult> {
    if (signal?.aborted) throw new WampError("wamp.error.canceled", "the call was aborted");
    const request = this.#ids.next();
    const msg: Message = { type: T.CALL, request, options, procedure };
    if (args) msg.args = args;
    if (kwargs) msg.kwargs = kwargs;
    const cancel = () => {
      if (this.#open) {
        this.#link.send({ type: T.CANCEL, request, options: { mode: "killnowait" } });
      }
    };
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      const reply = await this.#request<
        Message & { details: Dict; args?: Args; kwargs?: Kwargs }
      >(`${T.CALL}:${request}`, msg);
      return new CallResult(reply.args ?? [], reply.kwargs ?? {}, reply.details);
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /** Ends the session with GOODBYE and closes the link. */
  async close(reason = "wamp.close.close_realm"): Promise<void> {
    if (!this.#open) return;
    if (this.sessionId) {
      await new Promise<void>((resolve) => {
        this.#goodbye = resolve;
        this.#link.send({ type: T.GOODBYE, details: {}, reason });
      });
    }
    this.#link.close();
  }

  /** True while the link is open. */
  get isOpen(): boolean {
    return this.#open;
  }

  // ---- the link's messages -----------------------------------------------------------

  #receive(msg: Message): void {
    switch (msg.type) {
      case T.WELCOME:
        this.sessionId = msg.session;
        this.welcome = msg.details;
        this.#joined?.resolve();
        this.#joined = null;
        return;
      case T.ABORT:
        this.#joined?.reject(new WampError(msg.reason, String(msg.details.message ?? msg.reason)));
        this.#joined = null;
        this.#ended(msg.reason);
        return;
      case T.GOODBYE:
        if (this.#goodbye) {
          this.#goodbye();
          this.#goodbye = null;
        } else {
          this.#link.send({ type: T.GOODBYE, details: {}, reason: "wamp.close.goodbye_and_out" });
        }
        this.#ended(msg.reason);
        return;
      case T.SUBSCRIBED:
        return this.#settle(`${T.SUBSCRIBE}:${msg.request}`, msg);
      case T.UNSUBSCRIBED:
        return this.#settle(`${T.UNSUBSCRIBE}:${msg.request}`, msg);
      case T.PUBLISHED:
        return this.#settle(`${T.PUBLISH}:${msg.request}`, msg);
      case T.REGISTERED:
        return this.#settle(`${T.REGISTER}:${msg.request}`, msg);
      case T.UNREGISTERED:
        return this.#settle(`${T.UNREGISTER}:${msg.request}`, msg);
      case T.RESULT:
        if (msg.details.progress === true) return;
        return this.#settle(`${T.CALL}:${msg.request}`, msg);
      case T.ERROR: {
        const waiter = this.#waiting.get(`${msg.requestType}:${msg.request}`);
        if (!waiter) return;
        this.#waiting.delete(`${msg.requestType}:${msg.request}`);
        const text = typeof msg.args?.[0] === "string" ? msg.args[0] : undefined;
        waiter.reject(new WampError(msg.error, text, msg.args, msg.kwargs));
        return;
      }
      case T.EVENT: {
        const handlers = this.#events.get(msg.subscription);
        if (!handlers) return;
        const args = msg.args ?? [];
        const kwargs = msg.kwargs ?? {};
        for (const h of handlers) queueMicrotask(() => h(args, kwargs, msg.details));
        return;
      }
      case T.INVOCATION: {
        const fn = this.#procedures.get(msg.registration);
        queueMicrotask(() =>
          this.#invoke(fn, msg.request, msg.args ?? [], msg.kwargs ?? {}, msg.details)
        );
        return;
      }
      default:
        return;
    }
  }

  #closed(): void {
    this.#ended("wamp.close.transport_lost");
  }

  #settle(key: string, msg: Message): void {
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    this.#waiting.delete(key);
    waiter.resolve(msg);
  }

  async #invoke(
    fn: Procedure | undefined,
    request: number,
    args: Args,
    kwargs: Kwargs,
    details: Dict,
  ) {
    const fail = (error: string, a?: Args, kw?: Kwargs) => {
      const m: Message = { type: T.ERROR, requestType: T.INVOCATION, request, details: {}, error };
      if (a) m.args = a;
      if (kw) m.kwargs = kw;
      this.#link.send(m);
    };
    if (!fn) return fail("wamp.error.no_such_registration");
    let value: unknown;
    try {
      value = await fn(args, kwargs, details);
    } catch (e) {
      if (e instanceof WampError) return fail(e.uri, e.payloadArgs(), e.kwargs);
      return fail("wamp.error.runtime_error", [e instanceof Error ? e.message : String(e)]);
    }
    if (!this.#open) return;
    const m: Message = { type: T.YIELD, request, options: {} };
    if (value instanceof CallResult) {
      m.args = value.args;
      m.kwargs = value.kwargs;
    } else if (value !== undefined) {
      m.args = [value];
    }
    this.#link.send(m);
  }

  #ended(reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.sessionId = 0;
    this.#joined?.reject(new WampError(reason, "the session ended before it was joined"));
    this.#joined = null;
    for (const w of this.#waiting.values()) {
      w.reject(new WampError("wamp.error.canceled", `the session ended (${reason})`));
    }
    this.#waiting.clear();
    this.#goodbye?.();
    this.#goodbye = null;
    this.#link.close();
    this.onClose?.(reason);
  }
}
