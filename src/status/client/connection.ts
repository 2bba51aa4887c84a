/**
 * The status page's WAMP session: a minimal JSON client over the browser's WebSocket that
 * joins one realm as subscriber and caller, subscribes, calls, and leaves politely. Request
 * ids are sequential per connection.
 *
 * @module
 */

import { MessageType } from "../../wamp/message_type.ts";
import {
  decode,
  type Dict,
  type ErrorReply,
  type EventMessage,
  type Outgoing,
  type Subscribed,
} from "./messages.ts";

const SUBPROTOCOL = "wamp.2.json";

/** How a connection ended, as far as the page could tell (null until then). */
export interface Ending {
  readonly kind: "protocol" | "abort" | "goodbye" | "closed";
  readonly reason: string;
  /** The `message` detail of ABORT / GOODBYE (whatever the router sent), or the page's own. */
  readonly message: unknown;
}

/** What a connection tells its owner. */
export interface ConnectionEvents {
  /** The session opened. */
  welcome(c: Connection, session: number, details: Dict): void;
  /** The WebSocket closed (for whatever reason; see `Connection.ended`). */
  closed(c: Connection, ev: CloseEvent): void;
}

/** The payload of a RESULT. */
export interface CallResult {
  readonly args: unknown[];
  readonly kwargs: Dict;
}

/** Receives the payload of each EVENT of a subscription. */
export type EventHandler = (args: unknown[], kwargs: Dict) => void;

/** A call or subscription that did not succeed. */
export class RequestFailed extends Error {
  /**
   * @param uri the ERROR's URI, or null when the request never got an answer
   * @param action what was attempted, for messages: "call" or "subscribe to"
   * @param target the procedure or topic
   */
  constructor(
    message: string,
    readonly uri: string | null,
    readonly action: string,
    readonly target: string,
  ) {
    super(message);
  }
}

type Pending =
  | {
    readonly kind: "call";
    readonly resolve: (r: CallResult) => void;
    readonly fail: (uri: string | null, message: string) => void;
  }
  | {
    readonly kind: "subscribe";
    readonly resolve: (subscription: number) => void;
    readonly fail: (uri: string | null, message: string) => void;
    readonly handler: EventHandler;
  };

/** The text of an ERROR: its first argument if that is a string, else its `message` kwarg. */
function errorText(msg: ErrorReply): string {
  if (typeof msg.args[0] === "string") return msg.args[0];
  if (typeof msg.kwargs.message === "string") return msg.kwargs.message;
  return "";
}

const IGNORE: ConnectionEvents = { welcome() {}, closed() {} };

/** One WebSocket, one WAMP session. */
export class Connection {
  readonly url: string;
  readonly realm: string;
  #events: ConnectionEvents;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers = new Map<number, EventHandler>();
  #sessionId: number | null = null;
  #opened = false;
  #closing = false;
  #ended: Ending | null = null;
  readonly #ws: WebSocket;

  /** Opens the WebSocket (throws if the URL is unusable) and joins `realm` once it is open. */
  constructor(url: string, realm: string, events: ConnectionEvents) {
    this.url = url;
    this.realm = realm;
    this.#events = events;
    this.#ws = new WebSocket(url, [SUBPROTOCOL]);
    this.#ws.onopen = () => this.#onOpen();
    this.#ws.onmessage = (ev) => this.#onMessage(ev);
    this.#ws.onclose = (ev) => this.#onClose(ev);
  }

  /** The WAMP session id once WELCOME came, else null. */
  get sessionId(): number | null {
    return this.#sessionId;
  }
  /** True once the WebSocket opened. */
  get opened(): boolean {
    return this.#opened;
  }
  /** How the connection ended, once it did. */
  get ended(): Ending | null {
    return this.#ended;
  }

  /** Calls `procedure`; fails with `RequestFailed` (action "call"). */
  call(procedure: string, args: unknown[] = []): Promise<CallResult> {
    return new Promise((resolve, reject) => {
      const fail = (uri: string | null, message: string) =>
        reject(new RequestFailed(message, uri, "call", procedure));
      this.#request(
        { kind: "call", resolve, fail },
        (id) => [MessageType.CALL, id, {}, procedure, args],
      );
    });
  }

  /** Subscribes `handler` to `topic`; fails with `RequestFailed` (action "subscribe to"). */
  subscribe(topic: string, handler: EventHandler): Promise<number> {
    return new Promise((resolve, reject) => {
      const fail = (uri: string | null, message: string) =>
        reject(new RequestFailed(message, uri, "subscribe to", topic));
      this.#request(
        { kind: "subscribe", resolve, fail, handler },
        (id) => [MessageType.SUBSCRIBE, id, {}, topic],
      );
    });
  }

  /** Leaves politely (GOODBYE), then closes; no more events reach the page. */
  close(reason: string): void {
    this.#events = IGNORE;
    const joined = this.#sessionId !== null && this.#ws.readyState === WebSocket.OPEN;
    this.#closing = true;
    if (joined) {
      this.#send([MessageType.GOODBYE, {}, reason]);
      setTimeout(() => this.#closeSocket(), 1000);
    } else {
      this.#closeSocket();
    }
  }

  #request(pending: Pending, build: (id: number) => Outgoing): void {
    if (this.#sessionId === null || this.#closing) {
      pending.fail(null, "not connected");
      return;
    }
    const id = this.#nextId++;
    this.#pending.set(id, pending);
    this.#send(build(id));
  }

  #send(msg: Outgoing): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #closeSocket(): void {
    try {
      this.#ws.close(1000);
    } catch {
      // already closing
    }
  }

  #end(kind: Ending["kind"], reason: string, message: unknown): void {
    if (!this.#ended) this.#ended = { kind, reason, message };
    this.#closeSocket();
  }

  /** The pending request `id` if it is of `kind` (and forgets it). */
  #take<K extends Pending["kind"]>(id: number, kind: K): Extract<Pending, { kind: K }> | null {
    const p = this.#pending.get(id);
    if (!p || p.kind !== kind) return null;
    this.#pending.delete(id);
    return p as Extract<Pending, { kind: K }>;
  }

  #onOpen(): void {
    this.#opened = true;
    if (this.#ws.protocol !== SUBPROTOCOL) {
      this.#end("protocol", "", `the router did not accept the ${SUBPROTOCOL} subprotocol`);
      return;
    }
    this.#send([MessageType.HELLO, this.realm, {
      agent: "switchboard-status-page",
      roles: { subscriber: {}, caller: {} },
    }]);
  }

  #onMessage(ev: MessageEvent): void {
    const msg = decode(String(ev.data));
    if (msg === null) {
      this.#end("protocol", "", "the router sent something that is not a WAMP message");
      return;
    }
    if (msg === "ignored") return;
    switch (msg.type) {
      case MessageType.WELCOME:
        if (this.#sessionId === null) {
          this.#sessionId = msg.session;
          this.#events.welcome(this, msg.session, msg.details);
        }
        break;
      case MessageType.ABORT:
        this.#end("abort", msg.reason, msg.details.message);
        break;
      case MessageType.GOODBYE:
        if (!this.#closing) this.#send([MessageType.GOODBYE, {}, "wamp.close.goodbye_and_out"]);
        this.#end(this.#closing ? "closed" : "goodbye", msg.reason, msg.details.message);
        break;
      case MessageType.ERROR:
        this.#onError(msg);
        break;
      case MessageType.SUBSCRIBED:
        this.#onSubscribed(msg);
        break;
      case MessageType.RESULT:
        this.#take(msg.request, "call")?.resolve({ args: msg.args, kwargs: msg.kwargs });
        break;
      case MessageType.EVENT:
        this.#onEvent(msg);
        break;
    }
  }

  #onError(msg: ErrorReply): void {
    const p = this.#pending.get(msg.request);
    if (!p) return;
    this.#pending.delete(msg.request);
    const text = errorText(msg);
    p.fail(msg.error, text ? `${msg.error}: ${text}` : msg.error);
  }

  #onSubscribed(msg: Subscribed): void {
    const p = this.#take(msg.request, "subscribe");
    if (!p) return;
    this.#handlers.set(msg.subscription, p.handler);
    p.resolve(msg.subscription);
  }

  #onEvent(msg: EventMessage): void {
    const handler = this.#handlers.get(msg.subscription);
    if (!handler) return;
    try {
      handler(msg.args, msg.kwargs);
    } catch (e) {
      console.error(e);
    }
  }

  #onClose(ev: CloseEvent): void {
    for (const p of this.#pending.values()) p.fail(null, "connection closed");
    this.#pending.clear();
    this.#events.closed(this, ev);
  }
}
