/**
 * A minimal WAMP v2 client for the benchmark, over any {@linkcode WampTransport}: the bench's
 * WebSocket client (`ws_client.ts`) or its RawSocket client (`rawsocket_client.ts`).
 *
 * It speaks just enough of the Basic Profile to drive loads: HELLO → WELCOME, SUBSCRIBE,
 * PUBLISH (optionally acknowledged), REGISTER with a callee handler (INVOCATION → YIELD),
 * CALL → RESULT/ERROR, GOODBYE. Any {@linkcode Serializer} of the project can be used. The WAMP
 * logic is the same on both transports; only {@linkcode WampClient.connect} knows how each is
 * opened (WebSocket: the serializer's subprotocol; RawSocket: its serializer id).
 *
 * A client can also be wrapped around a socket without joining (see
 * {@linkcode WampClient.attach}); the bare relay baseline uses that to send the very same
 * PUBLISH and CALL frames to a server that does not speak WAMP.
 *
 * @module
 */

import { joinByteBatch, joinTextBatch, splitBatch } from "../src/serializer/batched.ts";
import type { Payload, Serializer } from "../src/serializer/serializer.ts";
import { MessageType as T } from "../src/wamp/message_type.ts";
import { connectRawSocket } from "./rawsocket_client.ts";
import { connectWebSocket } from "./ws_client.ts";

/** The transports a bench WAMP client can run over. */
export type TransportKind = "websocket" | "rawsocket";

/** A message as a transport carries it: text (JSON) or bytes (binary serializers). */
export type TransportMessage = string | Uint8Array;

/**
 * What the WAMP client needs of a connection: send and receive whole messages, in order.
 * `WebSocketClient` (`ws_client.ts`) and `RawSocketClient` (`rawsocket_client.ts`) both fit.
 */
export interface WampTransport {
  /** Called synchronously for every incoming message, in arrival order. */
  onmessage: ((data: TransportMessage) => void) | null;
  /** Resolves once the connection has ended (`code`: WebSocket close code, if any). */
  readonly closed: Promise<{ readonly reason: string; readonly code?: number }>;
  /** True until the connection is closing or closed. */
  readonly isOpen: boolean;
  /** Sends one message (queued; frames sent in the same turn go out in one write). */
  send(data: TransportMessage): void;
  /** One round trip (WebSocket ping/pong, RawSocket PING/PONG). */
  ping(): Promise<void>;
  /** Closes the connection (a WebSocket with `code`); resolves when it has ended. */
  close(code?: number, reason?: string, timeoutMs?: number): Promise<unknown>;
}

/** Arguments and details of an EVENT, INVOCATION or RESULT. */
export interface WampArgs {
  /** Positional arguments (empty when absent). */
  readonly args: readonly unknown[];
  /** Keyword arguments (empty when absent). */
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** The message's details dictionary. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Handles an EVENT. */
export type EventHandler = (event: WampArgs) => void;

/** Handles an INVOCATION; returns the positional result arguments. */
export type InvocationHandler = (
  invocation: WampArgs,
) => readonly unknown[] | Promise<readonly unknown[]>;

/** Options for {@linkcode WampClient.connect}. */
export interface WampConnectOptions {
  /** Router port on 127.0.0.1 (or `hostname`) of the chosen transport. */
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly hostname?: string;
  /** Default `websocket`. */
  readonly transport?: TransportKind;
  /** WebSocket request path; default `/` (unused on RawSocket). */
  readonly path?: string;
  /**
   * Serializer; its subprotocol is the only one offered (WebSocket), or its id is the one
   * requested in the handshake (RawSocket).
   */
  readonly serializer: Serializer;
  /** Realm to join; default `realm1`. */
  readonly realm?: string;
}

/** Raised for ABORT, ERROR replies and unexpected messages. */
export class WampClientError extends Error {
  override name = "WampClientError";
  /** The WAMP error or reason URI, when there is one. */
  readonly uri: string;
  /** Creates an error carrying a WAMP URI. */
  constructor(uri: string, message: string) {
    super(message);
    this.uri = uri;
  }
}

/** Opens the transport `options` name (no WAMP yet). */
function openTransport(options: WampConnectOptions): Promise<WampTransport> {
  const kind = options.transport ?? "websocket";
  if (kind === "rawsocket") {
    return connectRawSocket({
      port: options.port,
      hostname: options.hostname,
      serializerId: options.serializer.rawSocketId,
      text: !options.serializer.binary,
    });
  }
  return connectWebSocket({
    port: options.port,
    hostname: options.hostname,
    path: options.path,
    protocols: [options.serializer.subprotocol],
  });
}

interface Pending<V> {
  resolve(value: V): void;
  reject(err: Error): void;
}

/** How long setup requests (HELLO, SUBSCRIBE, REGISTER) may take before the bench gives up. */
const SETUP_TIMEOUT_MS = 10_000;

const EMPTY_ARGS: readonly unknown[] = Object.freeze([]);
const EMPTY_DICT: Readonly<Record<string, unknown>> = Object.freeze({});

function asDict(v: unknown): Readonly<Record<string, unknown>> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : EMPTY_DICT;
}

function asArgs(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : EMPTY_ARGS;
}

function asId(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new WampClientError("", `expected an id, got ${typeof v}`);
}

/** A WAMP session (or an un-joined WAMP-framed connection, see {@linkcode attach}). */
export class WampClient {
  /** The session id from WELCOME (0 until joined). */
  sessionId = 0;
  /** The WELCOME details. */
  welcomeDetails: Readonly<Record<string, unknown>> = EMPTY_DICT;
  /** Called for messages the client does not handle itself (e.g. frames from the relay). */
  onunhandled: ((message: readonly unknown[]) => void) | null = null;

  /** The connection the session runs over. */
  readonly transport: WampTransport;
  readonly serializer: Serializer;
  #nextRequest = 1;
  #welcome: Pending<void> | null = null;
  #requests = new Map<number, Pending<readonly unknown[]>>();
  #subscriptions = new Map<number, EventHandler>();
  #registrations = new Map<number, InvocationHandler>();
  #goodbye: Pending<void> | null = null;

  private constructor(transport: WampTransport, serializer: Serializer) {
    this.transport = transport;
    this.serializer = serializer;
    transport.onmessage = (data) => this.#onMessage(data);
    transport.closed.then((info) => {
      const how = [info.code, info.reason].filter((x) => x !== undefined && x !== "").join(" ");
      const err = new WampClientError("", `connection closed${how === "" ? "" : ` (${how})`}`);
      this.#welcome?.reject(err);
      this.#goodbye?.resolve();
      for (const p of this.#requests.values()) p.reject(err);
      this.#requests.clear();
    });
  }

  /** Opens the connection and joins the realm (HELLO → WELCOME). */
  static async connect(options: WampConnectOptions): Promise<WampClient> {
    const transport = await openTransport(options);
    const client = new WampClient(transport, options.serializer);
    try {
      await client.join(options.realm ?? "realm1");
    } catch (err) {
      await transport.close(1000, "", 500);
      throw err;
    }
    return client;
  }

  /** Wraps an open connection without sending HELLO (for the non-WAMP relay baseline). */
  static attach(transport: WampTransport, serializer: Serializer): WampClient {
    return new WampClient(transport, serializer);
  }

  /** Sends HELLO with the four client roles and waits for WELCOME (at most `timeoutMs`). */
  async join(realm: string, timeoutMs = SETUP_TIMEOUT_MS): Promise<void> {
    const done = new Promise<void>((resolve, reject) => (this.#welcome = { resolve, reject }));
    this.sendMessage([T.HELLO, realm, {
      roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} },
    }]);
    const timer = setTimeout(() => {
      const w = this.#welcome;
      this.#welcome = null;
      w?.reject(new WampClientError("", `no WELCOME within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Encodes and sends one message array. */
  sendMessage(message: readonly unknown[]): void {
    const payload = this.serializer.encode(message);
    if (!this.serializer.batched) return this.transport.send(payload);
    // a batched subprotocol: each message is a batch of one, as Autobahn|Python sends them
    this.transport.send(
      typeof payload === "string" ? joinTextBatch([payload]) : joinByteBatch([payload], true),
    );
  }

  /** Subscribes `handler` to `topic`; resolves with the subscription id. */
  async subscribe(
    topic: string,
    handler: EventHandler,
    options: Record<string, unknown> = {},
  ): Promise<number> {
    const reply = await this.#request((id) => [T.SUBSCRIBE, id, options, topic], SETUP_TIMEOUT_MS);
    const subscription = asId(reply[2]);
    this.#subscriptions.set(subscription, handler);
    return subscription;
  }

  /** Publishes without acknowledgement (fire and forget). */
  publish(topic: string, args: readonly unknown[], options: Record<string, unknown> = {}): void {
    this.sendMessage([T.PUBLISH, this.#nextRequest++, options, topic, args]);
  }

  /** Publishes with `acknowledge: true`; resolves with the publication id on PUBLISHED. */
  async publishAcknowledged(
    topic: string,
    args: readonly unknown[],
    options: Record<string, unknown> = {},
  ): Promise<number> {
    const reply = await this.#request((id) => [
      T.PUBLISH,
      id,
      { ...options, acknowledge: true },
      topic,
      args,
    ]);
    return asId(reply[2]);
  }

  /** Registers `handler` for `procedure`; resolves with the registration id. */
  async register(
    procedure: string,
    handler: InvocationHandler,
    options: Record<string, unknown> = {},
  ): Promise<number> {
    const reply = await this.#request(
      (id) => [T.REGISTER, id, options, procedure],
      SETUP_TIMEOUT_MS,
    );
    const registration = asId(reply[2]);
    this.#registrations.set(registration, handler);
    return registration;
  }

  /** Calls `procedure`; resolves with the RESULT or rejects with the ERROR. */
  async call(
    procedure: string,
    args: readonly unknown[],
    options: Record<string, unknown> = {},
  ): Promise<WampArgs> {
    const reply = await this.#request((id) => [T.CALL, id, options, procedure, args]);
    return { details: asDict(reply[2]), args: asArgs(reply[3]), kwargs: asDict(reply[4]) };
  }

  /** Sends GOODBYE, waits for the reply (or the socket to close), then closes the socket. */
  async leave(timeoutMs = 1000): Promise<void> {
    if (this.transport.isOpen && this.sessionId !== 0) {
      const done = new Promise<void>((resolve, reject) => (this.#goodbye = { resolve, reject }));
      this.sendMessage([T.GOODBYE, {}, "wamp.close.system_shutdown"]);
      const timer = setTimeout(() => this.#goodbye?.resolve(), timeoutMs);
      await done;
      clearTimeout(timer);
    }
    await this.transport.close(1000, "", timeoutMs);
  }

  /** Sends a request and resolves with its reply; with `timeoutMs`, rejects after that long. */
  async #request(
    build: (id: number) => readonly unknown[],
    timeoutMs?: number,
  ): Promise<readonly unknown[]> {
    const id = this.#nextRequest++;
    const done = new Promise<readonly unknown[]>((resolve, reject) =>
      this.#requests.set(id, { resolve, reject })
    );
    const message = build(id);
    this.sendMessage(message);
    if (timeoutMs === undefined) return done;
    const timer = setTimeout(() => {
      const pending = this.#requests.get(id);
      this.#requests.delete(id);
      pending?.reject(
        new WampClientError("", `no reply to message type ${message[0]} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }

  #settle(id: unknown, message: readonly unknown[]): void {
    const key = asId(id);
    const pending = this.#requests.get(key);
    if (pending === undefined) return this.onunhandled?.(message);
    this.#requests.delete(key);
    pending.resolve(message);
  }

  #onMessage(data: TransportMessage): void {
    if (!this.serializer.batched) return this.#onWampMessage(data);
    for (const part of splitBatch(this.serializer, data, Infinity)) this.#onWampMessage(part);
  }

  #onWampMessage(data: TransportMessage): void {
    const decoded = this.serializer.decode(data as Payload);
    if (!Array.isArray(decoded) || typeof decoded[0] !== "number") {
      throw new WampClientError("", "received a message that is not a WAMP array");
    }
    const m: readonly unknown[] = decoded;
    switch (m[0]) {
      case T.EVENT: {
        const handler = this.#subscriptions.get(asId(m[1]));
        if (handler === undefined) return this.onunhandled?.(m);
        handler({ details: asDict(m[3]), args: asArgs(m[4]), kwargs: asDict(m[5]) });
        return;
      }
      case T.RESULT:
      case T.SUBSCRIBED:
      case T.PUBLISHED:
      case T.REGISTERED:
        return this.#settle(m[1], m);
      case T.INVOCATION:
        return this.#onInvocation(m);
      case T.ERROR: {
        const pending = this.#requests.get(asId(m[2]));
        if (pending === undefined) return this.onunhandled?.(m);
        this.#requests.delete(asId(m[2]));
        pending.reject(new WampClientError(String(m[4]), `ERROR ${String(m[4])} for type ${m[1]}`));
        return;
      }
      case T.WELCOME: {
        this.sessionId = asId(m[1]);
        this.welcomeDetails = asDict(m[2]);
        const w = this.#welcome;
        this.#welcome = null;
        w?.resolve();
        return;
      }
      case T.ABORT: {
        const err = new WampClientError(String(m[2]), `ABORT ${String(m[2])}`);
        const w = this.#welcome;
        this.#welcome = null;
        if (w !== null) w.reject(err);
        this.transport.close(1000, "", 500);
        return;
      }
      case T.GOODBYE: {
        if (this.#goodbye !== null) {
          this.#goodbye.resolve();
          this.#goodbye = null;
        } else {
          this.sendMessage([T.GOODBYE, {}, "wamp.close.goodbye_and_out"]);
        }
        return;
      }
      default:
        return this.onunhandled?.(m);
    }
  }

  #onInvocation(m: readonly unknown[]): void {
    const request = m[1];
    const handler = this.#registrations.get(asId(m[2]));
    if (handler === undefined) {
      this.sendMessage([T.ERROR, T.INVOCATION, request, {}, "wamp.error.no_such_registration"]);
      return;
    }
    const reply = (result: readonly unknown[]) => {
      if (this.transport.isOpen) this.sendMessage([T.YIELD, request, {}, result]);
    };
    const fail = (err: unknown) => {
      if (this.transport.isOpen) {
        this.sendMessage([T.ERROR, T.INVOCATION, request, {}, "wamp.error.runtime_error", [
          String(err),
        ]]);
      }
    };
    try {
      const result = handler({ details: asDict(m[3]), args: asArgs(m[4]), kwargs: asDict(m[5]) });
      if (result instanceof Promise) result.then(reply, fail);
      else reply(result);
    } catch (err) {
      fail(err);
    }
  }
}
