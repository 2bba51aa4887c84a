/**
 * Shared pieces of the interop tests: the payload every client library sends, its checks,
 * a restricted-permissions config, deadlines, and thin typed wrappers around AutobahnJS and
 * wampy that never leave a socket or a retry timer behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  autobahn as autobahnModule,
  CborSerializer,
  JsonSerializer,
  MsgpackSerializer,
  Wampy,
} from "../_npm.ts";
import { testConfig } from "../_helpers.ts";

/** The serializers every library is tested with. */
export const SERIALIZERS = ["json", "msgpack", "cbor"] as const;
export type SerializerId = typeof SERIALIZERS[number];

/** 2^53: the largest integer a WAMP id may be; exactly representable as a JS number. */
export const BIG = 2 ** 53;
export const TEXT = "héllo ✓ 𝄞";

/** Positional payload: unicode, 2^53, booleans, floats, nested objects and lists. */
export function payloadArgs(): unknown[] {
  return [TEXT, BIG, true, false, 1.5, -0.25, { nested: [1, { deep: [true, null, "x"] }] }, [
    [1, 2],
    [],
  ]];
}

/** Keyword payload, the same kinds of values. */
export function payloadKwargs(): Record<string, unknown> {
  return {
    unicode: TEXT,
    big: BIG,
    flag: true,
    off: false,
    pi: 3.14159,
    nested: { a: [1, 2, { b: null }], s: "ü" },
  };
}

/** How a client library may hand over an integer of 2^53 that arrived as a 64-bit integer. */
export interface PayloadCheck {
  /**
   * The decoder returns integers above `Number.MAX_SAFE_INTEGER` that arrive as 64-bit
   * integers as `bigint` (node-cbor does), so 2^53 may be `9007199254740992n`: still exact.
   */
  bigint64?: boolean;
}

/** Replaces an exact 2^53 (number, or bigint if allowed) at args[1] / kwargs.big by BIG. */
function normalizeBig(v: unknown, check: PayloadCheck): unknown {
  return typeof v === "bigint" && check.bigint64 && v === 2n ** 53n ? BIG : v;
}

/**
 * Asserts that `args`/`kwargs` are exactly the standard payload. 2^53 must arrive as the JS
 * number 2^53 (a rounded float fails; a `bigint` only passes when `check.bigint64`),
 * booleans as booleans.
 */
export function assertPayload(
  args: unknown,
  kwargs: unknown,
  where: string,
  check: PayloadCheck = {},
): void {
  assert.ok(Array.isArray(args), `${where}: args is not a list: ${show(args)}`);
  assert.ok(
    typeof kwargs === "object" && kwargs !== null && !Array.isArray(kwargs),
    `${where}: kwargs is not a dict: ${show(kwargs)}`,
  );
  const a = [...args];
  a[1] = normalizeBig(a[1], check);
  const k = { ...kwargs } as Record<string, unknown>;
  k.big = normalizeBig(k.big, check);
  assert.deepEqual(a, payloadArgs(), `${where}: args differ`);
  assert.ok(Object.is(a[1], BIG), `${where}: 2^53 arrived as ${show(args[1])}`);
  assert.deepEqual(k, payloadKwargs(), `${where}: kwargs differ`);
  assert.ok(Object.is(k.big, BIG), `${where}: kwargs.big arrived as ${show(k.big)}`);
}

/** JSON-ish rendering for messages, bigint-safe. */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x);
}

/**
 * A realm whose anonymous role may do everything under `com.open.` and nothing else,
 * so `com.secret.*` is denied for every action.
 */
export function restrictedConfig() {
  return testConfig({
    roles: [{
      name: "anonymous",
      permissions: [{
        uri: "com.open.",
        match: "prefix",
        allow: { call: true, register: true, publish: true, subscribe: true },
      }],
    }],
  });
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects if `p` does not settle within `ms`; always clears its timer. */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn`, expecting it to reject; returns the rejection reason. */
export async function rejection(fn: () => Promise<unknown>, what: string): Promise<unknown> {
  try {
    const value = await fn();
    assert.fail(`${what}: expected a failure, got ${show(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

// ---------------------------------------------------------------------------------------------
// AutobahnJS (npm "autobahn"), typed for the parts these tests use.

/** An AutobahnJS error object (`autobahn.Error`). */
export interface AbError {
  error: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** An AutobahnJS `Result`. */
export interface AbResult {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export type AbEventHandler = (
  args: unknown[] | undefined,
  kwargs: Record<string, unknown> | undefined,
  details: Record<string, unknown>,
) => void;

export type AbEndpoint = (
  args: unknown[] | undefined,
  kwargs: Record<string, unknown> | undefined,
  details: Record<string, unknown>,
) => unknown;

export interface AbSession {
  readonly id: number;
  readonly isOpen: boolean;
  subscribe(topic: string, handler: AbEventHandler, options?: object): Promise<unknown>;
  publish(
    topic: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: object,
  ): Promise<{ id: number } | undefined>;
  register(procedure: string, endpoint: AbEndpoint, options?: object): Promise<unknown>;
  call(
    procedure: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: object,
  ): Promise<unknown>;
}

interface AbCloseDetails {
  reason: string | null;
  message: string | null;
  will_retry: boolean;
}

interface AbConnection {
  onopen: (session: AbSession, details: Record<string, unknown>) => void;
  onclose: (reason: string, details: AbCloseDetails) => boolean;
  readonly isOpen: boolean;
  readonly isConnected: boolean;
  open(): void;
  close(reason?: string, message?: string): void;
}

interface AbSerializer {
  readonly SERIALIZER_ID: string;
}

interface AutobahnModule {
  log: { warn: (...args: unknown[]) => void };
  Connection: new (options: Record<string, unknown>) => AbConnection;
  Result: new (args?: unknown[], kwargs?: Record<string, unknown>) => AbResult;
  Error: new (error: string, args?: unknown[], kwargs?: Record<string, unknown>) => AbError;
  serializer: {
    JSONSerializer: new () => AbSerializer;
    MsgpackSerializer?: new () => AbSerializer;
    CBORSerializer?: new () => AbSerializer;
  };
}

/** The AutobahnJS module with the types above. */
export const autobahn = autobahnModule as unknown as AutobahnModule;

// AutobahnJS warns on the console about every closed connection and skipped reconnect; keep
// test output readable unless INTEROP_VERBOSE is set.
if (!Deno.env.get("INTEROP_VERBOSE")) autobahn.log.warn = () => {};

function autobahnSerializer(id: SerializerId): AbSerializer {
  const s = autobahn.serializer;
  const ctor = id === "json"
    ? s.JSONSerializer
    : id === "msgpack"
    ? s.MsgpackSerializer
    : s.CBORSerializer;
  if (!ctor) throw new Error(`AutobahnJS has no ${id} serializer in this runtime`);
  return new ctor();
}

/** Why an AutobahnJS connection ended: the connection-level reason and the WAMP reason. */
export interface AbClosed {
  reason: string;
  wampReason: string | null;
  message: string | null;
}

/**
 * An AutobahnJS connection that either joined (`session`) or failed; always closable. `S` is
 * the session type a caller's extra connection options give (e.g. `use_deferred`).
 */
export class AutobahnClient<S extends { readonly id: number; readonly isOpen: boolean } = AbSession>
  implements AsyncDisposable {
  readonly #connection: AbConnection;
  #session: S | null = null;
  readonly closed: Promise<AbClosed>;
  readonly joined: Promise<S>;
  /** The negotiated subprotocol, once open. */
  protocol: string | null = null;
  /** WELCOME.Details (plus AutobahnJS's `transport`), once open. */
  welcome: Record<string, unknown> = {};
  /** Errors AutobahnJS reported (protocol violations it detected, exceptions in handlers). */
  readonly errors: string[] = [];

  private constructor(
    url: string,
    realm: string,
    serializer: SerializerId,
    extra: Record<string, unknown>,
  ) {
    const closed = deferred<AbClosed>();
    const joined = deferred<S>();
    this.closed = closed.promise;
    this.joined = joined.promise;
    // (AutobahnJS's protocol-violation errors arrive as `undefined`: session.js shadows Error)
    const record = (e: unknown, message?: string) =>
      this.errors.push(`${message ?? "AutobahnJS error"}: ${String(e)}`);
    // no auto-reconnect: max_retries 0, not even when unreachable, and onclose returns true
    this.#connection = new autobahn.Connection({
      url,
      realm,
      serializers: [autobahnSerializer(serializer)],
      max_retries: 0,
      retry_if_unreachable: false,
      on_user_error: record,
      on_internal_error: record,
      ...("use_deferred" in extra ? {} : { use_es6_promises: true }),
      ...extra,
    });
    this.#connection.onopen = (session, details) => {
      const transport = details.transport as { protocol?: string } | undefined;
      this.protocol = transport?.protocol ?? null;
      this.welcome = details;
      this.#session = session as unknown as S;
      joined.resolve(session as unknown as S);
    };
    this.#connection.onclose = (reason, details) => {
      const info = { reason, wampReason: details.reason, message: details.message };
      joined.reject(Object.assign(new Error(`connection closed: ${show(info)}`), { closed: info }));
      closed.resolve(info);
      return true;
    };
    this.#connection.open();
  }

  /**
   * Opens a connection offering only `serializer`; does not wait for the join. `extra`
   * connection options override the defaults.
   */
  static open<S extends { readonly id: number; readonly isOpen: boolean } = AbSession>(
    url: string,
    realm: string,
    serializer: SerializerId,
    extra: Record<string, unknown> = {},
  ): AutobahnClient<S> {
    const c = new AutobahnClient<S>(url, realm, serializer, extra);
    c.joined.catch(() => {}); // a failed join is reported through `closed` too
    return c;
  }

  /** Opens and waits for the join (throws if the join fails, after the socket closed). */
  static async join<S extends { readonly id: number; readonly isOpen: boolean } = AbSession>(
    url: string,
    serializer: SerializerId,
    realm = "realm1",
    extra: Record<string, unknown> = {},
  ): Promise<AutobahnClient<S>> {
    const c = AutobahnClient.open<S>(url, realm, serializer, extra);
    try {
      await deadline(c.joined, 5000, `AutobahnJS ${serializer} join`);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The joined session; throws before the join. */
  get session(): S {
    if (!this.#session) throw new Error("AutobahnJS session not joined");
    return this.#session;
  }

  /** The session id. */
  get id(): number {
    return this.session.id;
  }

  /** WELCOME's authid. */
  get authid(): string {
    return this.welcome.authid as string;
  }

  /** The session is still open and AutobahnJS saw nothing wrong on the wire. */
  assertHealthy(what: string): void {
    assert.deepEqual(this.errors, [], `${what}: AutobahnJS errors`);
    assert.ok(this.session.isOpen, `${what}: session closed`);
  }

  /** Leaves (GOODBYE) if joined, closes the socket, and waits until it is closed. */
  async close(): Promise<AbClosed> {
    if (this.#connection.isConnected) {
      try {
        this.#connection.close();
      } catch {
        // "connection already closed": fine
      }
    }
    return await deadline(this.closed, 5000, "AutobahnJS close");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

// ---------------------------------------------------------------------------------------------
// wampy (npm "wampy")

/** wampy's serializer instance for `id`, from the package's own subpath exports. */
export function wampySerializer(id: SerializerId) {
  if (id === "json") return new JsonSerializer();
  if (id === "msgpack") return new MsgpackSerializer();
  return new CborSerializer();
}

/** A wampy client with auto-reconnect off and a promise for the socket's close. */
export class WampyClient implements AsyncDisposable {
  readonly wampy: Wampy;
  readonly #closed = deferred<void>();
  #connected = false;

  constructor(url: string, realm: string, serializer: SerializerId) {
    this.wampy = new Wampy(url, {
      realm,
      serializer: wampySerializer(serializer),
      autoReconnect: false,
      // wampy sees Deno's `process` global, takes it for Node.js and then wants a WebSocket
      // class handed in; Deno's own WebSocket works.
      ws: WebSocket,
      onClose: () => this.#closed.resolve(),
    });
  }

  /** Connects and joins; on failure waits for the socket to close, then rethrows. */
  static async join(url: string, serializer: SerializerId, realm = "realm1"): Promise<WampyClient> {
    const c = new WampyClient(url, realm, serializer);
    await c.connect();
    return c;
  }

  async connect(): Promise<Record<string, unknown>> {
    try {
      const details = await deadline(this.wampy.connect(), 5000, "wampy connect");
      this.#connected = true;
      return details;
    } catch (e) {
      await deadline(this.#closed.promise, 5000, "wampy close after failed connect");
      throw e;
    }
  }

  /** Sends GOODBYE (if joined) and waits until the socket is closed. */
  async close(): Promise<void> {
    if (this.#connected) {
      this.#connected = false;
      await deadline(this.wampy.disconnect(), 5000, "wampy disconnect");
    }
    await deadline(this.#closed.promise, 5000, "wampy close");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
