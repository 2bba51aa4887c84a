/**
 * Shared test helpers: a router on 127.0.0.1 with an ephemeral port, and a raw WAMP client
 * over a real WebSocket that sends and receives plain message arrays.
 *
 * @module
 */

import { createRouter, type Listener, type Router, type RouterOptions } from "../mod.ts";
import { SERIALIZERS } from "../src/serializer/registry.ts";
import type { Serializer, SerializerName } from "../src/serializer/serializer.ts";

/** A permissive anonymous role. */
export const ALLOW_ALL = {
  name: "anonymous",
  permissions: [{
    uri: "",
    match: "prefix",
    allow: { call: true, register: true, publish: true, subscribe: true },
  }],
};

/** A node config with one realm and one `web` transport serving `/ws` on 127.0.0.1:0. */
export function testConfig(
  realm: Record<string, unknown> = {},
  more: Record<string, unknown>[] = [],
) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL], ...realm }, ...more],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: { ws: { type: "websocket", serializers: ["json", "msgpack", "cbor"] } },
      }],
    }],
  };
}

/** A started router and its WebSocket URL. */
export interface Running extends AsyncDisposable {
  router: Router;
  url: string;
  port: number;
  /** Every listener the router started, in config order. */
  listeners(): Promise<Listener[]>;
}

/** Starts a router from a node config object (`options`: its clock or logger, say). */
export async function startRouter(
  config: unknown = testConfig(),
  options: RouterOptions = {},
): Promise<Running> {
  const router = createRouter(config, options);
  const all = await router.serve();
  const listener = all[0]!;
  return {
    router,
    url: listener.urls[0]!,
    port: listener.port,
    listeners: () => Promise.resolve(all),
    [Symbol.asyncDispose]: () => router.close(100),
  };
}

/** A raw WAMP client: real WebSocket, real serializer, plain arrays. */
export class RawClient implements AsyncDisposable {
  readonly ws: WebSocket;
  readonly serializer: Serializer;
  readonly received: unknown[][] = [];
  #waiters: ((m: unknown[] | null) => void)[] = [];
  #closed: Promise<CloseEvent>;
  closeEvent: CloseEvent | null = null;

  private constructor(ws: WebSocket, serializer: Serializer) {
    this.ws = ws;
    this.serializer = serializer;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      const payload = typeof ev.data === "string"
        ? ev.data
        : new Uint8Array(ev.data as ArrayBuffer);
      const msg = serializer.decode(payload) as unknown[];
      const w = this.#waiters.shift();
      if (w) w(msg);
      else this.received.push(msg);
    };
    this.#closed = new Promise((resolve) => {
      ws.onclose = (ev) => {
        this.closeEvent = ev;
        for (const w of this.#waiters.splice(0)) w(null);
        resolve(ev);
      };
    });
  }

  /** Opens a WebSocket offering `wamp.2.<serializer>`. */
  static async connect(url: string, name: SerializerName = "json"): Promise<RawClient> {
    const serializer = SERIALIZERS.find((s) => s.name === name)!;
    const ws = new WebSocket(url, [serializer.subprotocol]);
    const client = new RawClient(ws, serializer);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (e) => reject(new Error(`websocket error: ${(e as ErrorEvent).message}`));
    });
    return client;
  }

  /** Connects and joins `realm` with HELLO; returns the client and the WELCOME. */
  static async join(
    url: string,
    name: SerializerName = "json",
    realm = "realm1",
    details: Record<string, unknown> = {},
  ) {
    const c = await RawClient.connect(url, name);
    c.send([1, realm, {
      roles: {
        publisher: {},
        subscriber: {},
        caller: { features: { call_canceling: true, progressive_call_results: true } },
        callee: { features: { call_canceling: true, progressive_call_results: true } },
      },
      ...details,
    }]);
    const welcome = await c.next();
    if (welcome[0] !== 2) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`);
    return { client: c, welcome, session: welcome[1] as number };
  }

  /** Sends one message array. */
  send(msg: unknown[]): void {
    this.ws.send(this.serializer.encode(msg));
  }

  /** Sends a raw frame (string = text, bytes = binary). */
  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  /** The next message, or throws after `ms` or when the socket closes. */
  next(ms = 3000): Promise<unknown[]> {
    const queued = this.received.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: unknown[] | null) => {
        clearTimeout(timer);
        if (m) resolve(m);
        else reject(new Error("socket closed"));
      };
      this.#waiters.push(waiter);
    });
  }

  /** The next message of `type`, skipping others (they are kept in `skipped`). */
  async nextOf(type: number, ms = 3000): Promise<unknown[]> {
    for (;;) {
      const m = await this.next(ms);
      if (m[0] === type) return m;
      this.skipped.push(m);
    }
  }
  readonly skipped: unknown[][] = [];

  /** Resolves when nothing arrives for `ms` (asserts silence); returns what did arrive. */
  async quiet(ms = 150): Promise<unknown[][]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.received.splice(0);
  }

  /** Waits for the socket to close. */
  closed(): Promise<CloseEvent> {
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close();
    }
    await this.#closed;
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Lower-case hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/** The bytes of a hex string. */
export function unhex(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromHex(text);
}

/** An Ed25519 key pair for cryptosign tests. */
export interface EdKey {
  privateKey: CryptoKey;
  /** Raw public key, 64 lower-case hex characters. */
  publicHex: string;
}

/** A fresh Ed25519 key pair (WebCrypto). */
export async function newEdKey(): Promise<EdKey> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicHex: hex(raw) };
}
