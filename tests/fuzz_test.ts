/**
 * Deterministic fuzzing of the router's message handling over real sockets on 127.0.0.1.
 *
 * Batches of concurrent fuzz sessions (WebSocket with JSON, MessagePack and CBOR; RawSocket over
 * TCP with all three, some announcing small maximum message lengths) send structurally
 * valid-looking WAMP messages of every type with mutated fields, before and after
 * HELLO/WELCOME and through CHALLENGE/AUTHENTICATE (anonymous, ticket, WAMP-CRA, cryptosign),
 * random garbage, truncated and bit-flipped payloads, hand-made nasty payloads (deep nesting,
 * CBOR cycles and tags, MessagePack extensions, `__proto__` keys, huge declared lengths, exactly
 * the size limit), frames of the wrong kind for the serializer, RawSocket PING/PONG, unknown
 * frame types and reserved bits, and mangled RawSocket handshakes. realm1 holds a bystander;
 * realm2 checks URIs strictly, keeps statistics, lets sessions kill each other and sends
 * authenticated sessions through a dynamic authorizer. After every message of a joined session
 * a probe PUBLISH (acknowledged) shows the router has handled it, so each reply is attributed to
 * the message that caused it.
 *
 * Every session must end in an orderly way: normal replies, or ABORT with a `wamp.error.*`
 * reason and a `details.message` string, then a close and nothing after it. Every message the
 * router sends must decode and be well formed, with valid URIs, and answer a request the session
 * made. Failures: ABORT `wamp.error.runtime_error` (an internal router error), ERROR
 * `wamp.error.runtime_error` from the router's own procedures, "internal error" log lines, hangs
 * (no reply within WAIT_MS), closes without ABORT, CALLs to the bystander or the meta API that
 * are never answered. A long-lived bystander session (exact, prefix and wildcard subscriptions
 * and registrations) must, after every batch, still get the EVENTs it publishes to itself and
 * answer CALLs from a fresh session, and the router must hold no sessions, subscribers, callees,
 * open calls or armed timers of the fuzz sessions.
 *
 * The run is reproducible: each session draws from its own PRNG stream derived from the seed
 * (`FUZZ_SEED`, printed in every failure; `FUZZ_BATCHES` and `FUZZ_SESSIONS` scale the run,
 * batches due after `FUZZ_BUDGET_MS` are skipped; `FUZZ_TRACE=<batch>:<session>` or `all` prints
 * transcripts, `FUZZ_VERBOSE=1` outcome counts). What a session sends depends only on the seed;
 * ids the router hands out and what other sessions do concurrently vary. Failures report the
 * offending message as a literal and as wire bytes, the last exchanges, the router's error log
 * lines and the outcome of replaying the message alone on a fresh session.
 *
 * The second test keeps every failure the fuzzer found as a minimized, seedless case.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createRouter, type Router } from "../mod.ts";
import { type Clock, systemClock, type TimerId } from "../src/clock.ts";
import type { Logger } from "../src/log.ts";
import { routerInternals } from "../src/router/router.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { SERIALIZERS } from "../src/serializer/registry.ts";
import type { Serializer, SerializerName } from "../src/serializer/serializer.ts";
import { readExactly } from "../src/transport/rawsocket.ts";
import { decodeMessage } from "../src/wamp/codec.ts";
import { WampError } from "../src/wamp/errors.ts";
import { isValidUri } from "../src/wamp/uris.ts";

// ---- run parameters --------------------------------------------------------------------------

function envNumber(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

const SEED = envNumber("FUZZ_SEED", 0x5eed2026) >>> 0;
const BATCHES = envNumber("FUZZ_BATCHES", 8);
const SESSIONS_PER_BATCH = envNumber("FUZZ_SESSIONS", 24);
/** Batches still due after this long are skipped (they only run late when failures wait). */
const BUDGET_MS = envNumber("FUZZ_BUDGET_MS", 9000);
/** How long to wait for a reply before calling it a hang (a liveness bound, not a timing check). */
const WAIT_MS = 3000;
/** How long closed sessions may take to disappear from the router. */
const CLEANUP_MS = 1500;
const MAX_MESSAGE_SIZE = 1024 * 1024;
const SEED_TEXT = `FUZZ_SEED=${SEED}`;

// ---- deterministic randomness ----------------------------------------------------------------

/** mulberry32: the same seed gives the same stream. */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = this.next() * total;
    for (const [w, v] of items) {
      r -= w;
      if (r < 0) return v;
    }
    return items[items.length - 1][1];
  }
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The seed of one sub-stream (batch, session), mixed from the run's seed. */
function subSeed(...parts: number[]): number {
  let h = mix32(SEED);
  for (const p of parts) h = mix32(h + Math.imul(p + 1, 0x9e3779b9));
  return h;
}

// ---- small utilities -------------------------------------------------------------------------

type Payload = string | Uint8Array;
const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function hex(bytes: Uint8Array, max = 160): string {
  const shown = [...bytes.subarray(0, max)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > max ? `${shown} …(${bytes.length} bytes in all)` : shown;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function rsFrame(type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + body.length);
  f[0] = type;
  f[1] = (body.length >>> 16) & 0xff;
  f[2] = (body.length >>> 8) & 0xff;
  f[3] = body.length & 0xff;
  f.set(body, 4);
  return f;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** A JavaScript-ish literal of a value for failure reports (bigint, bytes, long strings, depth). */
function lit(v: unknown, depth = 0): string {
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") {
    if (v.length > 120) {
      const first = v[0];
      if (v.split(first).length - 1 === v.length) {
        return `${JSON.stringify(first)}.repeat(${v.length})`;
      }
      return `${JSON.stringify(v.slice(0, 60))} + …(${v.length} chars)`;
    }
    return JSON.stringify(v);
  }
  if (typeof v !== "object" || v === null) return String(v);
  if (depth > 12) return "<nested deeper>";
  if (v instanceof Uint8Array) return `bytes(${v.length}: ${hex(v, 16)})`;
  if (Array.isArray(v)) {
    const items = v.slice(0, 12).map((x) => lit(x, depth + 1));
    if (v.length > 12) items.push(`…(${v.length} items)`);
    return `[${items.join(", ")}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  const items = entries.slice(0, 12).map(([k, x]) => `${JSON.stringify(k)}: ${lit(x, depth + 1)}`);
  if (entries.length > 12) items.push(`…(${entries.length} keys)`);
  return `{${items.join(", ")}}`;
}

function wireText(w: Wire): string {
  if (typeof w.data === "string") {
    const s = w.data.length > 400 ? `${w.data.slice(0, 400)}…(${w.data.length} chars)` : w.data;
    return `${w.frame} frame, text ${JSON.stringify(s)}`;
  }
  return `${w.frame} frame, ${w.data.length} bytes: ${hex(w.data)}`;
}

// ---- the router ------------------------------------------------------------------------------

/** Lines the router logs, formatted like the default logger formats them (so a field that cannot
 * be formatted breaks here as it would in production); warnings and errors are kept. */
class LogCapture implements Logger {
  readonly lines: { seq: number; level: string; text: string }[] = [];
  seq = 0;
  #line(level: string, message: string, fields?: Record<string, unknown>) {
    let text = `${level.toUpperCase()} ${message}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      text += ` ${k}=${
        typeof v === "string"
          ? v
          : JSON.stringify(v, (_k, x) => typeof x === "bigint" ? x.toString() : x)
      }`;
    }
    this.seq++;
    if (level === "error" || level === "warn") {
      this.lines.push({ seq: this.seq, level, text });
    }
  }
  error(m: string, f?: Record<string, unknown>) {
    this.#line("error", m, f);
  }
  warn(m: string, f?: Record<string, unknown>) {
    this.#line("warn", m, f);
  }
  info(m: string, f?: Record<string, unknown>) {
    this.#line("info", m, f);
  }
  debug(_m: string, _f?: Record<string, unknown>) {}
  since(seq: number, levels = ["error"]): string[] {
    return this.lines.filter((l) => l.seq > seq && levels.includes(l.level)).map((l) => l.text);
  }
}

/** The system clock, keeping track of the router's armed timers and where each was set. */
class TrackingClock implements Clock {
  readonly armed = new Map<TimerId, string>();
  nowNs(): bigint {
    return systemClock.nowNs();
  }
  nowMs(): number {
    return systemClock.nowMs();
  }
  setTimer(fn: () => void, ms: number): TimerId {
    const where = (new Error().stack ?? "").split("\n").slice(2, 5).map((l) => l.trim());
    const id: TimerId = systemClock.setTimer(() => {
      this.armed.delete(id);
      fn();
    }, ms);
    this.armed.set(id, `${ms} ms timer set ${where.join(" <- ")}`);
    return id;
  }
  clearTimer(id: TimerId): void {
    this.armed.delete(id);
    systemClock.clearTimer(id);
  }
}

const ALL = { call: true, register: true, publish: true, subscribe: true };
const NONE = { call: false, register: false, publish: false, subscribe: false };
/** realm1: everything, except the meta procedures that end or strip other sessions (they would
 * legitimately hit the bystander). realm2 allows those too: fuzz sessions there may kill each
 * other. */
const GUARDED = [
  { uri: "", match: "prefix", allow: ALL },
  { uri: "wamp.session.kill", match: "prefix", allow: NONE },
  { uri: "wamp.subscription.remove_subscriber", match: "exact", allow: NONE },
  { uri: "wamp.registration.remove_callee", match: "exact", allow: NONE },
];
const OPEN = [{ uri: "", match: "prefix", allow: ALL }];

const AUTHORIZER = "com.fuzz.authorize";

/** The dynamic authorizer of realm2: allows, denies, caches, answers nonsense or fails, by URI. */
function authorize(args: unknown[]): unknown {
  const [, uri, action] = args as [unknown, string, string];
  let h = 7;
  for (const c of `${action} ${uri}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  switch (h % 7) {
    case 0:
      return false;
    case 1:
      return { allow: true, cache: true };
    case 2:
      return { allow: false, cache: true, disclose: true };
    case 3:
      return "yes";
    case 4:
      throw new WampError("com.fuzz.authorizer_failed", "no decision");
    default:
      return true;
  }
}

const TICKET = "alice-ticket";
const CRA_SECRET = "carol-secret";

function fuzzConfig(cryptosignKey: string, moreOptions: Record<string, unknown> = {}) {
  const auth = {
    anonymous: { type: "static", role: "anonymous" },
    ticket: { type: "static", principals: { alice: { ticket: TICKET, role: "user" } } },
    wampcra: { type: "static", users: { carol: { secret: CRA_SECRET, role: "user" } } },
    cryptosign: {
      type: "static",
      principals: { dave: { authorized_keys: [cryptosignKey], role: "user" } },
    },
  };
  const options = {
    max_message_size: MAX_MESSAGE_SIZE,
    auth_max_failures: 1_000_000,
    // no keepalive timers: the leak check expects no armed timer once the fuzz sessions are
    // gone (the bystander stays connected)
    auto_ping_interval: 0,
    ...moreOptions,
  };
  const serializers = ["json", "msgpack", "cbor"];
  const store = {
    type: "memory",
    "event-history": [{ uri: "com.", match: "prefix", limit: 4 }, { uri: "com.fuzz.topic" }],
  };
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [
        {
          name: "realm1",
          roles: [{ name: "anonymous", permissions: GUARDED }, {
            name: "user",
            permissions: GUARDED,
          }],
          store,
        },
        {
          name: "realm2",
          // authenticated sessions in realm2 go through a dynamic authorizer (see AUTHORIZER)
          roles: [{ name: "anonymous", permissions: OPEN }, {
            name: "user",
            authorizer: AUTHORIZER,
          }],
          options: { uri_check: "strict" },
          stats: { trigger_after_rated_messages: 3 },
          store,
        },
      ],
      transports: [
        {
          type: "web",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          paths: { ws: { type: "websocket", serializers, auth, options } },
        },
        {
          type: "rawsocket",
          endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
          serializers,
          auth,
          options,
        },
      ],
    }],
  };
}

/** Largest RawSocket message the router accepts, as the exponent it announces (2^(9+L)). */
const ROUTER_RS_EXPONENT = Math.ceil(Math.log2(MAX_MESSAGE_SIZE)) - 9;

// ---- connections -----------------------------------------------------------------------------

type Incoming =
  | { kind: "msg"; msg: unknown[] }
  | { kind: "bad"; error: string; raw: Payload }
  | { kind: "closed" }
  | { kind: "timeout" };

/** What went on the wire: a WebSocket frame, or raw bytes on a RawSocket connection. */
interface Wire {
  frame: "text" | "binary" | "rawsocket";
  data: Payload;
}

/** A client connection that decodes what the router sends, queued for `next()`. */
abstract class Conn implements AsyncDisposable {
  readonly #queue: Incoming[] = [];
  #waiter: ((i: Incoming) => void) | null = null;
  closed = false;
  /** Sees every decoded message first; returns true when it consumed it. */
  intercept: ((msg: unknown[]) => boolean) | null = null;
  /** A frame larger than the router's `max_message_size` was sent on this connection. */
  sentOversize = false;
  /** The WebSocket close code the router closed with (null: not a WebSocket, or open). */
  closeCode: number | null = null;

  constructor(readonly label: string, readonly serializer: Serializer) {}

  /**
   * True when the router ended the connection with WebSocket close 1009 (message too big)
   * after a frame over its limit: the limit is enforced while the frame arrives, so such a
   * frame is never read whole and cannot be answered with ABORT.
   */
  closedForSize(): boolean {
    return this.closeCode === 1009 && this.sentOversize;
  }

  protected received(raw: Payload): void {
    let msg: unknown;
    try {
      msg = this.serializer.decode(raw);
    } catch (e) {
      return this.#push({ kind: "bad", error: errText(e), raw });
    }
    if (!Array.isArray(msg)) return this.#push({ kind: "bad", error: "not an array", raw });
    if (this.intercept?.(msg)) return;
    this.#push({ kind: "msg", msg });
  }

  protected receivedBad(error: string, raw: Payload): void {
    this.#push({ kind: "bad", error, raw });
  }

  protected ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.#push({ kind: "closed" });
  }

  #push(item: Incoming): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      w(item);
    } else {
      this.#queue.push(item);
    }
  }

  /** The next event; `closed` is sticky. */
  next(ms = WAIT_MS): Promise<Incoming> {
    const head = this.#queue[0];
    if (head) {
      if (head.kind !== "closed") this.#queue.shift();
      return Promise.resolve(head);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve({ kind: "timeout" });
      }, ms);
      this.#waiter = (i) => {
        clearTimeout(timer);
        if (i.kind === "closed") this.#queue.push(i);
        resolve(i);
      };
    });
  }

  /** Encodes and sends a message; returns what went on the wire, or null if it cannot be encoded
   * by the client's serializer (e.g. a bigint beyond 64 bits for MessagePack). */
  sendMsg(msg: unknown): Wire | null {
    let payload: Payload;
    try {
      payload = this.serializer.encode(msg as unknown[]);
    } catch {
      return null;
    }
    return this.sendPayload(typeof payload === "string" ? payload : payload.slice());
  }

  /** Sends one WAMP payload the way the transport frames it. */
  abstract sendPayload(p: Payload): Wire;
  /** Replays a recorded wire unit. */
  abstract sendWire(w: Wire): void;
  abstract close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class WsConn extends Conn {
  readonly #ws: WebSocket;
  readonly #done: Promise<void>;

  private constructor(ws: WebSocket, label: string, serializer: Serializer) {
    super(label, serializer);
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) =>
      this.received(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
    this.#done = new Promise((resolve) => {
      ws.onclose = (ev) => {
        this.closeCode = ev.code;
        this.ended();
        resolve();
      };
    });
  }

  static async open(url: string, name: SerializerName): Promise<WsConn> {
    const serializer = SERIALIZERS.find((s) => s.name === name)!;
    const ws = new WebSocket(url, [serializer.subprotocol]);
    const c = new WsConn(ws, `WebSocket/${name}`, serializer);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (e) => reject(new Error(`websocket error: ${(e as ErrorEvent).message}`));
      });
    } catch (e) {
      await c.#done;
      throw e;
    }
    ws.onerror = () => {};
    return c;
  }

  sendPayload(p: Payload): Wire {
    const w: Wire = { frame: typeof p === "string" ? "text" : "binary", data: p };
    this.sendWire(w);
    return w;
  }

  /** Sends `data` in a frame of the given kind, whatever the serializer uses. */
  sendFrame(frame: "text" | "binary", data: Payload): Wire {
    const w: Wire = {
      frame,
      data: frame === "text"
        ? (typeof data === "string" ? data : String.fromCharCode(...data.subarray(0, 4096)))
        : (typeof data === "string" ? utf8.encode(data) : data),
    };
    this.sendWire(w);
    return w;
  }

  sendWire(w: Wire): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const bytes = typeof w.data === "string" ? utf8.encode(w.data).byteLength : w.data.byteLength;
    if (bytes > MAX_MESSAGE_SIZE) this.sentOversize = true;
    this.#ws.send(w.frame === "text" ? w.data as string : w.data as Uint8Array);
  }

  async close(): Promise<void> {
    const s = this.#ws.readyState;
    if (s === WebSocket.OPEN || s === WebSocket.CONNECTING) this.#ws.close();
    await this.#done;
  }
}

class RsConn extends Conn {
  readonly #conn: Deno.Conn;
  readonly #reader: Promise<void>;
  #writes: Promise<void> = Promise.resolve();
  #closing = false;
  /** PONG payloads received. */
  readonly pongs: Uint8Array[] = [];

  /** The address the router sees for this connection (`tcp4:host:port`). */
  get peer(): string {
    const a = this.#conn.localAddr as Deno.NetAddr;
    return `tcp4:${a.hostname}:${a.port}`;
  }

  private constructor(conn: Deno.Conn, label: string, serializer: Serializer) {
    super(label, serializer);
    this.#conn = conn;
    this.#reader = this.#read();
  }

  /** Connects and completes the handshake announcing 2^(9+exponent) bytes as our maximum. */
  static async open(port: number, name: SerializerName, exponent = 15): Promise<RsConn> {
    const serializer = SERIALIZERS.find((s) => s.name === name)!;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, new Uint8Array([0x7f, (exponent << 4) | serializer.rawSocketId, 0, 0]));
      const reply = await readExactly(conn, 4);
      if (reply.length !== 4 || reply[0] !== 0x7f || (reply[1] & 0x0f) !== serializer.rawSocketId) {
        throw new Error(`RawSocket handshake refused: ${hex(reply)}`);
      }
    } catch (e) {
      conn.close();
      throw e;
    }
    const max = exponent === 15 ? "" : ` (client maximum ${2 ** (9 + exponent)} bytes)`;
    return new RsConn(conn, `RawSocket/${name}${max}`, serializer);
  }

  async #read(): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) return;
        buf = concat(buf, chunk.subarray(0, n));
        while (buf.length >= 4) {
          const length = (buf[1] << 16) | (buf[2] << 8) | buf[3];
          if (buf.length < 4 + length) break;
          const type = buf[0] & 0x07;
          const body = buf.slice(4, 4 + length);
          buf = buf.subarray(4 + length);
          if (type === 0) {
            let payload: Payload = body;
            if (!this.serializer.binary) {
              try {
                payload = utf8Fatal.decode(body);
              } catch (e) {
                this.receivedBad(`invalid UTF-8 in a JSON frame: ${errText(e)}`, body);
                continue;
              }
            }
            this.received(payload);
          } else if (type === 1) {
            this.sendRaw(rsFrame(2, body));
          } else if (type === 2) {
            this.pongs.push(body);
          } else {
            this.receivedBad(`RawSocket frame of unknown type ${type}`, body);
          }
        }
      }
    } catch {
      // reset or closed by us: the connection is over either way
    } finally {
      this.ended();
    }
  }

  sendRaw(bytes: Uint8Array): Wire {
    const w: Wire = { frame: "rawsocket", data: bytes };
    this.sendWire(w);
    return w;
  }

  sendPayload(p: Payload): Wire {
    const frame = rsFrame(0, typeof p === "string" ? utf8.encode(p) : p);
    // Past the router's maximum only the header goes out: the router refuses the frame from its
    // header, and a body it never reads would make its close a TCP reset that can swallow the
    // ABORT.
    return this.sendRaw(frame.length - 4 > MAX_MESSAGE_SIZE ? frame.subarray(0, 4) : frame);
  }

  sendWire(w: Wire): void {
    if (this.closed || this.#closing) return;
    const bytes = typeof w.data === "string" ? utf8.encode(w.data) : w.data;
    this.#writes = this.#writes.then(() => writeAll(this.#conn, bytes)).catch(() => {});
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      await this.#writes;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    await this.#reader;
  }
}

// ---- value and message generators ------------------------------------------------------------

const NUMBERS = [
  0,
  1,
  -1,
  7,
  255,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53),
  2 ** 53 + 2,
  2 ** 64,
  1.5,
  -0.5,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1e308,
  5e-324,
];
const BIGINTS = [
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
  2n ** 64n,
  -(2n ** 63n),
  -(2n ** 63n) - 1n,
  10n ** 30n,
];
const STRINGS = [
  "",
  "a",
  " ",
  "com.fuzz.topic",
  "héllo ✓ 🎉",
  "\ud800",
  "\udfff\ud800",
  "\u0000",
  "\u0000AAEC",
  "\u0000!!",
  "\u0000AAE=",
  "__proto__",
  "constructor",
  "wamp.error.runtime_error",
  "wamp.close.normal",
  "a b",
  "#",
  "..",
  "\n\t\r",
  "null",
  "\u202e",
  "\uffff",
  "𝕏".repeat(50),
];
const KEYS = [
  "a",
  "b",
  "x_custom",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "",
  "0",
  "message",
  "roles",
  "acknowledge",
  "exclude_me",
  "match",
  "é",
  "\u0000k",
  "k".repeat(300),
];
const ALPHABET = "abcxyzXYZ019._-# é🎉\u0000\n";

function randomString(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick([...ALPHABET]);
  return s;
}

function longString(rng: Rng): string {
  return rng.pick(["x", "é", "🎉"]).repeat(rng.pick([1000, 65_535, 65_536, 100_000, 300_000]));
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** Sets an own property, also for keys like `__proto__` (an assignment would set the prototype). */
function put(d: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(d, key, { value, enumerable: true, writable: true, configurable: true });
}

function dict(rng: Rng, depth: number): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  const n = rng.int(5);
  for (let i = 0; i < n; i++) put(d, rng.pick(KEYS), value(rng, depth + 1));
  return d;
}

function nested(rng: Rng, depth: number): unknown {
  let v: unknown = rng.int(10);
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

function value(rng: Rng, depth = 0): unknown {
  const r = rng.int(100);
  if (r < 18) return rng.pick(NUMBERS);
  if (r < 24) return rng.int(1000);
  if (r < 28) return rng.pick(BIGINTS);
  if (r < 45) return rng.pick(STRINGS);
  if (r < 50) return randomString(rng, rng.int(40));
  if (r < 51) return longString(rng);
  if (r < 57) return rng.pick([true, false, null, undefined]);
  if (r < 62) return randomBytes(rng, rng.pick([0, 1, 16, 1000]));
  if (r < 65) return nested(rng, rng.pick([10, 100, 300]));
  if (depth >= 3) return rng.int(10);
  if (r < 82) return Array.from({ length: rng.int(5) }, () => value(rng, depth + 1));
  return dict(rng, depth);
}

const WEIRD_IDS: unknown[] = [
  0,
  -1,
  2 ** 53 + 2,
  2 ** 53,
  2 ** 64,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  -0,
  1e300,
  "1",
  "",
  null,
  true,
  [],
  {},
  [1],
  2n ** 64n,
  2n ** 53n + 1n,
  -(2n ** 63n),
];

/** Values that do not survive every serializer the same way (for payloads crossing serializers). */
const EDGE_VALUES: (() => unknown)[] = [
  () => 2n ** 64n,
  () => -(2n ** 63n) - 1n,
  () => 10n ** 30n,
  () => 2n ** 64n - 1n,
  () => 2 ** 53,
  () => -0,
  () => NaN,
  () => Infinity,
  () => new Uint8Array([0, 1, 255]),
  () => "\u0000AAEC",
  () => "\ud800",
  () => nested(new Rng(1), 1100),
  () => nested(new Rng(2), 990),
  () => {
    const d: Record<string, unknown> = {};
    put(d, "__proto__", { a: 1 });
    return d;
  },
];

const BYSTANDER_TOPIC = "com.bystander.topic";
const BYSTANDER_PROC = "com.bystander.echo";
const META_PROCEDURES = [
  "wamp.session.count",
  "wamp.session.list",
  "wamp.session.get",
  "wamp.session.kill",
  "wamp.session.kill_by_authid",
  "wamp.session.kill_by_authrole",
  "wamp.session.kill_all",
  "wamp.session.add_testament",
  "wamp.session.flush_testaments",
  "wamp.subscription.list",
  "wamp.subscription.lookup",
  "wamp.subscription.match",
  "wamp.subscription.get",
  "wamp.subscription.list_subscribers",
  "wamp.subscription.count_subscribers",
  "wamp.subscription.remove_subscriber",
  "wamp.subscription.get_events",
  "wamp.registration.list",
  "wamp.registration.lookup",
  "wamp.registration.match",
  "wamp.registration.get",
  "wamp.registration.list_callees",
  "wamp.registration.count_callees",
  "wamp.registration.remove_callee",
  "switchboard.reload_config",
];
const KNOWN_URIS = [
  BYSTANDER_TOPIC,
  BYSTANDER_PROC,
  "com.bystander.pfx.a",
  "com.bystander.x.wild",
  "com.fuzz.topic",
  "com.fuzz.proc",
  "com.fuzz.probe",
  "wamp.session.on_join",
  "wamp.session.on_leave",
  "wamp.subscription.on_create",
  "wamp.registration.on_register",
  "wamp.session.on_stats",
];
const COMPONENTS = [
  "com",
  "bystander",
  "topic",
  "echo",
  "pfx",
  "wild",
  "fuzz",
  "a",
  "b",
  "x1",
  "wamp",
  "session",
  "switchboard",
  "probe",
  "Com",
  "_",
];
const BAD_URIS = [
  "",
  ".",
  "..",
  "a..b",
  ".a",
  "a.",
  "a b",
  "a#b",
  "A.B",
  "com.\u0000",
  "wamp",
  "com.fuzz.",
  "é.ü",
  "\ud800",
  "com.\n",
  "#",
  "com..",
];

function uri(rng: Rng): string {
  const r = rng.int(100);
  if (r < 22) return rng.pick(KNOWN_URIS);
  if (r < 30) return rng.pick(META_PROCEDURES);
  if (r < 72) {
    const n = 1 + rng.int(4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(rng.chance(0.1) ? "" : rng.pick(COMPONENTS));
    return parts.join(".");
  }
  if (r < 92) return rng.pick(BAD_URIS);
  if (r < 96) return Array.from({ length: 1 + rng.int(3000) }, () => rng.pick(["a", ""])).join(".");
  if (r < 98) return randomString(rng, rng.int(30));
  return longString(rng);
}

/** What a fuzz session knows, to aim ids at real subscriptions, registrations and calls. */
interface FuzzState {
  request: number;
  subs: number[];
  regs: number[];
  invocations: number[];
  calls: number[];
  sessions: number[];
  /** REGISTER / SUBSCRIBE request id → URI, until the reply. */
  pending: Map<number, string>;
  /** URIs this session registered / subscribed, to call and publish to itself. */
  ownProcedures: string[];
  ownTopics: string[];
  /** While true, ids stay in range and messages keep their shape (mostly non-fatal input). */
  soft: boolean;
  /** HELLO.Details.roles of the session (soft messages use only announced features). */
  roles: Record<string, unknown>;
}

function freshState(): FuzzState {
  return {
    request: 0,
    subs: [],
    regs: [],
    invocations: [],
    calls: [],
    sessions: [],
    pending: new Map(),
    ownProcedures: [],
    ownTopics: [],
    soft: false,
    roles: {},
  };
}

function weirdId(rng: Rng): unknown {
  return rng.pick(WEIRD_IDS);
}

function requestId(rng: Rng, st: FuzzState): unknown {
  const r = rng.int(100);
  if (r < 82 || (st.soft && r < 94)) return ++st.request;
  if (r < 94) return Math.max(1, st.request);
  return weirdId(rng);
}

/** An id from `pool` most of the time (always one draw, so the stream does not depend on it). */
function knownId(rng: Rng, pool: number[], soft = false): unknown {
  const r = rng.int(100);
  const x = rng.next();
  if (r < 60 && pool.length > 0) return pool[Math.floor(x * pool.length)];
  if (r < 72 || (soft && r >= 86)) return 1 + Math.floor(x * 2 ** 53);
  if (r < 86) return 1 + Math.floor(x * 5);
  return weirdId(rng);
}

/** An id from `pool`; random ones only when it is empty. */
function poolId(rng: Rng, pool: number[]): unknown {
  const x = rng.next();
  return pool.length > 0 ? pool[Math.floor(x * pool.length)] : 1 + Math.floor(x * 2 ** 53);
}

/** A URI for a message: often one this session uses, else any. */
function targetUri(rng: Rng, own: string[]): string {
  const x = rng.next();
  return own.length > 0 && rng.chance(0.4) ? own[Math.floor(x * own.length)] : uri(rng);
}

function maybe(rng: Rng, d: Record<string, unknown>, key: string, values: readonly unknown[]) {
  if (rng.chance(0.3)) put(d, key, rng.pick(values));
}

function pptOptions(rng: Rng, d: Record<string, unknown>): void {
  if (!rng.chance(0.12)) return;
  put(d, "ppt_scheme", rng.pick(["x_custom", "wamp", "mqtt", "", 1, null]));
  maybe(rng, d, "ppt_serializer", ["json", "cbor", "native", 5]);
  maybe(rng, d, "ppt_cipher", ["xsalsa20poly1305", 1]);
  maybe(rng, d, "ppt_keyid", ["k1", 2]);
}

function unknownOptions(rng: Rng, d: Record<string, unknown>): void {
  if (!rng.chance(0.2)) return;
  for (let i = rng.int(3); i >= 0; i--) put(d, rng.pick(KEYS), value(rng, 2));
}

function sessionLists(rng: Rng, st: FuzzState): unknown[] {
  return [[], [1, 2], ["a"], 5, [NaN], [2 ** 53], st.sessions.slice(0, 1 + rng.int(3))];
}

function publishOptions(rng: Rng, st: FuzzState): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "acknowledge", [true, true, false, 1, "yes"]);
  maybe(rng, d, "exclude_me", [false, false, true, 0]);
  if (rng.chance(0.15)) put(d, "exclude", rng.pick(sessionLists(rng, st)));
  if (rng.chance(0.15)) put(d, "eligible", rng.pick(sessionLists(rng, st)));
  const roles = [["anonymous"], ["user"], [], [1], "anonymous"];
  if (rng.chance(0.08)) put(d, "exclude_authid", rng.pick([["alice"], [], [3], "x"]));
  if (rng.chance(0.08)) put(d, "exclude_authrole", rng.pick(roles));
  if (rng.chance(0.08)) put(d, "eligible_authid", rng.pick([["alice"], [], [3], "x"]));
  if (rng.chance(0.08)) put(d, "eligible_authrole", rng.pick(roles));
  maybe(rng, d, "disclose_me", [true, false, 1]);
  maybe(rng, d, "retain", [true, false, "true"]);
  pptOptions(rng, d);
  unknownOptions(rng, d);
  return d;
}

const MATCHES = ["exact", "prefix", "wildcard", "prefix", "wildcard", "bogus", 1, null, ""];

function subscribeOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "match", MATCHES);
  maybe(rng, d, "get_retained", [true, false, "y"]);
  unknownOptions(rng, d);
  return d;
}

function callOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "timeout", [0, 1, 10, 100, 5000, -1, 1.5, 2 ** 31, 2 ** 53, "10", null, NaN]);
  maybe(rng, d, "receive_progress", [true, false, 1]);
  maybe(rng, d, "disclose_me", [true, false]);
  if (rng.chance(0.15)) put(d, "progress", rng.pick([true, false, "true"]));
  pptOptions(rng, d);
  unknownOptions(rng, d);
  return d;
}

function registerOptions(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "match", MATCHES);
  maybe(rng, d, "invoke", ["single", "roundrobin", "random", "first", "last", "bogus", 1]);
  maybe(rng, d, "disclose_caller", [true, false]);
  maybe(rng, d, "forward_timeout", [true, false]);
  unknownOptions(rng, d);
  return d;
}

/** Positional and keyword payload (appended only when present). */
function payload(rng: Rng): unknown[] {
  const r = rng.int(100);
  if (r < 35) return [];
  const args = Array.from({ length: rng.int(4) }, () => value(rng, 1));
  if (r < 75) return [args];
  return [args, dict(rng, 1)];
}

/** Arguments for the router's own procedures: plausible ids, URIs and junk. */
function metaArgs(rng: Rng, st: FuzzState): unknown[] {
  const pool = [...st.sessions, ...st.subs, ...st.regs];
  return Array.from({ length: rng.int(4) }, () =>
    rng.weighted<() => unknown>([
      [3, () => knownId(rng, pool)],
      [2, () => uri(rng)],
      [1, () => rng.pick(["exact", "prefix", "wildcard", "detached", "destroyed"])],
      [1, () => rng.pick([["anonymous"], ["user"], [1], null])],
      [2, () => value(rng, 1)],
    ])());
}

function metaKwargs(rng: Rng): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  maybe(rng, d, "reason", ["wamp.close.killed", "not a uri", 5, "com.reason"]);
  maybe(rng, d, "message", ["bye", 5, null]);
  maybe(rng, d, "scope", ["detached", "destroyed", "bogus", 1]);
  maybe(rng, d, "publish_options", [{}, { acknowledge: true }, { exclude_me: false }, 5, []]);
  unknownOptions(rng, d);
  return d;
}

const FEATURES = [
  "publisher_exclusion",
  "publisher_identification",
  "subscriber_blackwhite_listing",
  "pattern_based_subscription",
  "subscription_revocation",
  "registration_revocation",
  "progressive_call_results",
  "progressive_call_invocations",
  "call_canceling",
  "call_timeout",
  "caller_identification",
  "payload_passthru_mode",
  "shared_registration",
];

function roles(rng: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const role of ["publisher", "subscriber", "caller", "callee"]) {
    if (!rng.chance(0.8)) continue;
    const features: Record<string, unknown> = {};
    for (const f of FEATURES) if (rng.chance(0.5)) features[f] = rng.chance(0.9) ? true : 1;
    out[role] = { features };
  }
  if (Object.keys(out).length === 0) out.caller = {};
  return out;
}

function genHello(rng: Rng, pubkey: string): unknown[] {
  const realm = rng.weighted<string>([
    [60, "realm1"],
    [30, "realm2"],
    [2, "nope"],
    [2, ""],
    [1, "realm1 "],
    [1, "REALM1"],
    [1, "a".repeat(10_000)],
    [1, "wamp.realm"],
  ]);
  const details: Record<string, unknown> = { roles: roles(rng) };
  const method = rng.weighted<string | null>([
    [55, null],
    [8, "anonymous"],
    [10, "ticket"],
    [10, "wampcra"],
    [8, "cryptosign"],
    [3, "bogus"],
  ]);
  if (method !== null) {
    details.authmethods = rng.chance(0.85) ? [method] : [method, "anonymous"];
  }
  let authid: string | null = null;
  if (method === "ticket" || method === "wampcra" || method === "cryptosign" || rng.chance(0.1)) {
    authid = rng.weighted<string>([
      [5, method === "ticket" ? "alice" : method === "wampcra" ? "carol" : "dave"],
      [1, "nobody"],
      [1, "x".repeat(2000)],
      [1, ""],
    ]);
    details.authid = authid;
  }
  if (method === "cryptosign" || rng.chance(0.05)) {
    details.authextra = rng.chance(0.8) ? { pubkey } : rng.pick([{ pubkey: "zz" }, {}, [], 5]);
  }
  if (rng.chance(0.1)) details.agent = value(rng, 1);
  unknownOptions(rng, details);
  const msg: unknown[] = [1, realm, details];
  if (rng.chance(0.08)) {
    rng.pick<() => void>([
      () => details.roles = rng.pick([{}, [], "all", { caller: 1 }, { caller: [] }, null]),
      () => details.authmethods = rng.pick(["ticket", [1, 2], [null], {}]),
      () => msg[1] = value(rng, 1),
      () => msg[2] = value(rng, 1),
      () => msg.push(value(rng, 1)),
      () => msg.pop(),
    ])();
  }
  return msg;
}

const CLIENT_TYPES: readonly (readonly [number, number])[] = [
  [14, 16],
  [12, 32],
  [6, 34],
  [14, 48],
  [5, 49],
  [10, 64],
  [5, 66],
  [7, 70],
  [6, 8],
  [2, 6],
  [1, 3],
  [1, 1],
  [1, 5],
];
const ROUTER_TYPES = [2, 4, 17, 33, 35, 36, 50, 65, 67, 68, 69];
const JUNK_TYPES: unknown[] = [0, 7, 9, 99, 255, -1, 1.5, "16", null, 2 ** 53, 2n ** 64n, true];

/** A valid-looking message of type `code` for an established session. */
function template(rng: Rng, code: unknown, st: FuzzState, pubkey: string): unknown[] {
  const id = () => knownId(rng, []);
  switch (code) {
    case 1:
      return genHello(rng, pubkey);
    case 2:
      return [2, id(), {}];
    case 3:
      return [3, { message: "fuzz" }, rng.pick(["wamp.close.normal", "wamp.error.x", 5])];
    case 4:
      return [4, "ticket", {}];
    case 5:
      return [5, rng.pick([TICKET, "", "x".repeat(1000)]), {}];
    case 6:
      return [6, {}, rng.pick(["wamp.close.normal", "wamp.close.system_shutdown", "x"])];
    case 8:
      return [
        8,
        st.soft || rng.chance(0.85) ? 68 : rng.pick([16, 32, 48, 0, -1, 1.5, 99]),
        st.soft ? poolId(rng, st.invocations) : knownId(rng, st.invocations),
        rng.chance(0.8) ? {} : (() => {
          const d: Record<string, unknown> = {};
          pptOptions(rng, d);
          return d;
        })(),
        rng.chance(0.7) ? rng.pick(["com.fuzz.error", "wamp.error.runtime_error", "x"]) : uri(rng),
        ...payload(rng),
      ];
    case 16:
      return [
        16,
        requestId(rng, st),
        publishOptions(rng, st),
        targetUri(rng, st.ownTopics),
        ...payload(rng),
      ];
    case 32: {
      const request = requestId(rng, st);
      const topic = uri(rng);
      if (typeof request === "number") st.pending.set(request, topic);
      return [32, request, subscribeOptions(rng), topic];
    }
    case 34:
      return [34, requestId(rng, st), knownId(rng, st.subs, st.soft)];
    case 48: {
      const continued = rng.chance(st.soft ? 0.03 : 0.15);
      const request = continued ? knownId(rng, st.calls, st.soft) : requestId(rng, st);
      const procedure = rng.chance(0.2)
        ? rng.pick(META_PROCEDURES)
        : rng.chance(0.3)
        ? rng.pick([BYSTANDER_PROC, "com.bystander.pfx.a", "com.bystander.x.wild"])
        : targetUri(rng, st.ownProcedures);
      if (typeof request === "number") st.calls.push(request);
      const rest = procedure.startsWith("wamp.") || procedure.startsWith("switchboard.")
        ? [metaArgs(rng, st), ...(rng.chance(0.4) ? [metaKwargs(rng)] : [])]
        : procedure.startsWith("com.bystander.") && rng.chance(0.3)
        ? [[rng.pick(EDGE_VALUES)()]]
        : payload(rng);
      return [48, request, callOptions(rng), procedure, ...rest];
    }
    case 49: {
      const d: Record<string, unknown> = {};
      maybe(rng, d, "mode", ["skip", "kill", "killnowait", "bogus", 1]);
      unknownOptions(rng, d);
      return [49, knownId(rng, st.calls, st.soft), d];
    }
    case 64: {
      const request = requestId(rng, st);
      const procedure = uri(rng);
      if (typeof request === "number") st.pending.set(request, procedure);
      return [64, request, registerOptions(rng), procedure];
    }
    case 66:
      return [66, requestId(rng, st), knownId(rng, st.regs, st.soft)];
    case 70: {
      const d: Record<string, unknown> = {};
      maybe(rng, d, "progress", [true, false, 1]);
      pptOptions(rng, d);
      unknownOptions(rng, d);
      return [
        70,
        st.soft ? poolId(rng, st.invocations) : knownId(rng, st.invocations),
        d,
        ...payload(rng),
      ];
    }
    case 17:
    case 33:
    case 65:
      return [code, id(), id()];
    case 35:
    case 67:
      return [code, rng.pick([0, 1]), ...(rng.chance(0.5) ? [{ reason: "x" }] : [])];
    case 36:
      return [36, id(), id(), {}, ...payload(rng)];
    case 50:
      return [50, id(), {}, ...payload(rng)];
    case 68:
      return [68, id(), id(), {}, ...payload(rng)];
    case 69:
      return [69, id(), {}];
    default:
      return [code, ...Array.from({ length: rng.int(4) }, () => value(rng, 1))];
  }
}

/** Applies 0..3 structural mutations to a message (in place) and returns it. */
function mutate(rng: Rng, m: unknown[], st: FuzzState): unknown[] {
  const count = rng.weighted<number>([[50, 0], [32, 1], [12, 2], [6, 3]]);
  for (let i = 0; i < count; i++) {
    const at = 1 + rng.int(Math.max(1, m.length - 1));
    rng.weighted<() => void>([
      [5, () => m[at] = value(rng, 1)],
      [3, () => m[at] = weirdId(rng)],
      [2, () => m.pop()],
      [2, () => m.splice(at, 1)],
      [2, () => m.push(...Array.from({ length: 1 + rng.int(3) }, () => value(rng, 1)))],
      [1, () => m[0] = rng.chance(0.5) ? rng.pick(JUNK_TYPES) : rng.pick(ROUTER_TYPES)],
      [2, () => m[at] = rng.pick([[], "x", null, 1, {}, [{}]])],
      [2, () => m[at] = uri(rng)],
      [1, () => m[at] = knownId(rng, [...st.subs, ...st.regs, ...st.invocations])],
      [1, () => m.length = 1],
    ])();
  }
  return m;
}

/** Client messages that an established session may send (ids and shapes kept in soft mode). */
const SOFT_TYPES: readonly (readonly [number, number])[] = [
  [16, 16],
  [12, 32],
  [5, 34],
  [16, 48],
  [4, 49],
  [10, 64],
  [4, 66],
  [8, 70],
  [5, 8],
];

function announced(st: FuzzState, role: string, feature: string): boolean {
  const r = st.roles[role] as { features?: Record<string, unknown> } | undefined;
  return r?.features?.[feature] === true;
}

/** Drops the options that need a feature the session did not announce (protocol violations). */
function softFix(m: unknown[], st: FuzzState): unknown[] {
  const role = m[0] === 16 ? "publisher" : m[0] === 48 ? "caller" : m[0] === 70 ? "callee" : null;
  const options = m[2];
  if (role === null || typeof options !== "object" || options === null) return m;
  const o = options as Record<string, unknown>;
  if (!announced(st, role, "payload_passthru_mode")) delete o.ppt_scheme;
  if (m[0] === 48 && !announced(st, "caller", "progressive_call_invocations")) delete o.progress;
  return m;
}

type Mode = "pre" | "soft" | "hard";

function structuredMessage(rng: Rng, st: FuzzState, mode: Mode, pubkey: string): unknown[] {
  if (mode === "pre" && rng.chance(0.5)) {
    return mutate(rng, genHello(rng, pubkey), st);
  }
  if (mode === "soft") {
    st.soft = true;
    let code = rng.weighted(SOFT_TYPES);
    // answers need an invocation to answer, else they are protocol violations
    if ((code === 70 || code === 8) && st.invocations.length === 0) code = 48;
    const m = softFix(template(rng, code, st, pubkey), st);
    st.soft = false;
    return m;
  }
  const r = rng.int(100);
  const code = r < 86
    ? rng.weighted(CLIENT_TYPES)
    : r < 94
    ? rng.pick(ROUTER_TYPES)
    : rng.pick(JUNK_TYPES);
  return mutate(rng, template(rng, code, st, pubkey), st);
}

/** An acknowledged PUBLISH whose payload is exactly `size` bytes (a string argument fills it). */
function sizedPublish(s: Serializer, request: number, size: number): Payload {
  const make = (n: number) =>
    s.encode([16, request, { acknowledge: true }, "com.fuzz.big", ["x".repeat(n)]]);
  let n = size - 64;
  for (let i = 0; i < 3; i++) {
    const p = make(n);
    const length = typeof p === "string" ? utf8.encode(p).length : p.length;
    if (length === size) return typeof p === "string" ? p : p.slice();
    n += size - length;
  }
  throw new Error(`cannot build a ${s.name} PUBLISH of ${size} bytes`);
}

/** Hand-made payloads that stress the decoders: deep nesting, cycles, tags, extensions. */
function nastyPayload(rng: Rng, s: Serializer, request: number): { what: string; data: Payload } {
  const depth = rng.pick([1000, 10_000, 100_000]);
  if (s.name === "json") {
    const cases: [string, string][] = [
      [
        `PUBLISH with args nested ${depth} deep`,
        `[16,${request},{"acknowledge":true},"com.fuzz.deep",[${"[".repeat(depth)}${
          "]".repeat(depth)
        }]]`,
      ],
      [
        `PUBLISH with kwargs nested ${depth} deep`,
        `[16,${request},{},"com.fuzz.deep",[],${'{"a":'.repeat(depth)}1${"}".repeat(depth)}]`,
      ],
      [
        "SUBSCRIBE with a __proto__ option",
        `[32,${request},{"__proto__":{"match":"prefix"}},"com."]`,
      ],
      [
        "PUBLISH with out-of-range numbers",
        `[16,${request},{"acknowledge":true},"com.fuzz.n",[1e400,-1e400,-0,123456789012345678901234567890]]`,
      ],
      ["CALL with timeout 1e400", `[48,${request},{"timeout":1e400},"${BYSTANDER_PROC}",[]]`],
      ["binary marker with bad base64", `[16,${request},{},"com.fuzz.b",["\\u0000!!!"]]`],
      ["binary marker as a dict key", `[16,${request},{},"com.fuzz.b",[],{"\\u0000AA":1}]`],
      ["duplicate option keys", `[16,${request},{"acknowledge":false,"acknowledge":true},"com.x"]`],
      ["request id 2^53+1", `[48,9007199254740993,{},"${BYSTANDER_PROC}"]`],
      ["type as 16.0 with whitespace", ` \n\t[16.0 , ${request} , { } , "com.x" ] \n`],
      ["byte order mark", `\ufeff[16,${request},{},"com.x"]`],
      [
        "100000 arguments",
        `[16,${request},{"acknowledge":true},"com.fuzz.many",[${"0,".repeat(100_000)}0]]`,
      ],
      [
        "50000 option keys",
        `[16,${request},{${
          Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(",")
        }},"com.x"]`,
      ],
      ["a lone surrogate escape in the topic", `[32,${request},{},"com.\\ud800"]`],
      ["NaN literal", `[16,NaN,{},"com.x"]`],
      ["trailing garbage", `[16,${request},{},"com.x"]]`],
    ];
    const [what, data] = rng.pick(cases);
    return { what, data };
  }
  // Binary serializers: a head encoded normally, then hand-written items.
  const item = (v: unknown) => (s.encode([v]) as Uint8Array).slice(1);
  const head = (items: unknown[], extra: number) =>
    concat(
      new Uint8Array([(s.name === "msgpack" ? 0x90 : 0x80) | (items.length + extra)]),
      ...items.map(item),
    );
  const b = (...bytes: number[]) => new Uint8Array(bytes);
  const publish = (...args: Uint8Array[]) =>
    concat(head([16, request, {}, "com.fuzz.n"], 1), ...args);
  const deep = (open: number, empty: number) =>
    concat(b(open), new Uint8Array(depth).fill(open), b(empty));
  const cases: [string, Uint8Array][] = s.name === "msgpack"
    ? [
      [`args nested ${depth} deep`, publish(deep(0x91, 0x90))],
      [
        "a __proto__ map key",
        concat(
          head([32, request], 2),
          b(0x81),
          item("__proto__"),
          b(0x81),
          item("match"),
          item("prefix"),
        ),
      ],
      ["timestamp extension", publish(b(0x91, 0xd6, 0xff, 0, 0, 0, 0))],
      ["unknown extension type 5", publish(b(0x91, 0xd4, 0x05, 0x00))],
      ["never-used byte 0xc1", publish(b(0x91, 0xc1))],
      ["str32 claiming 4 GiB", publish(b(0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61))],
      ["bin32 claiming 4 GiB", publish(b(0x91, 0xc6, 0xff, 0xff, 0xff, 0xff))],
      ["array32 claiming 2^32-1 items", publish(b(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01))],
      ["map32 claiming 2^32-1 entries", publish(b(0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01))],
      [
        "uint64 max request id",
        concat(b(0x94, 0x10, 0xcf), new Uint8Array(8).fill(0xff), b(0x80), item("com.x")),
      ],
      [
        "float32 NaN request id",
        concat(b(0x94, 0x10, 0xca, 0x7f, 0xc0, 0, 0, 0x80), item("com.x")),
      ],
      ["an array as a map key", publish(b(0x91, 0x81, 0x91, 0x01, 0x01))],
      ["a map as a map key", publish(b(0x91, 0x81, 0x81, 0x01, 0x01, 0x01))],
      ["invalid UTF-8 in a string", publish(b(0x91, 0xa2, 0xff, 0xfe))],
      ["a record definition", publish(b(0x91, 0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x40, 0x01))],
      ["trailing bytes", concat(head([16, request, {}, "com.x"], 0), b(0x00))],
    ]
    : [
      [`args nested ${depth} deep`, publish(deep(0x81, 0x80))],
      ["a cyclic array (tags 28/29)", publish(b(0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00))],
      [
        "a cyclic map (tags 28/29)",
        publish(b(0x81, 0xd8, 0x1c, 0xa1, 0x61, 0x61, 0xd8, 0x1d, 0x00)),
      ],
      ["a dangling shared reference (tag 29)", publish(b(0x81, 0xd8, 0x1d, 0x05))],
      ["undefined", publish(b(0x81, 0xf7))],
      ["a date (tag 1)", publish(b(0x81, 0xc1, 0x1a, 0, 0, 0, 0))],
      ["a 16-byte bignum (tag 2)", publish(b(0x81, 0xc2, 0x50), new Uint8Array(16).fill(0xff))],
      ["a negative bignum (tag 3)", publish(b(0x81, 0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0))],
      [
        "a bignum request id",
        concat(b(0x84, 0x10, 0xc2, 0x48, 1, 0, 0, 0, 0, 0, 0, 0, 0xa0), item("com.x")),
      ],
      ["a set (tag 258)", publish(b(0x81, 0xd9, 0x01, 0x02, 0x81, 0x01))],
      ["a map (tag 259)", publish(b(0x81, 0xd9, 0x01, 0x03, 0xa1, 0x01, 0x02))],
      ["a generic object (tag 27)", publish(b(0x81, 0xd8, 0x1b, 0x82), item("RegExp"), item("("))],
      [
        "a generic object named constructor",
        publish(b(0x81, 0xd8, 0x1b, 0x82), item("constructor"), b(0xa0)),
      ],
      ["a typed array (tag 70)", publish(b(0x81, 0xd8, 0x46, 0x44, 1, 0, 0, 0))],
      ["a packed table (tag 51)", publish(b(0x81, 0xd8, 0x33, 0x84, 0x81, 0x01, 0x80, 0x80, 0x06))],
      [
        "a record definition (tag 0xdffe)",
        publish(b(0x81, 0xd9, 0xdf, 0xfe, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x61, 0x01)),
      ],
      ["simple value 16 and float16 NaN", publish(b(0x82, 0xf0, 0xf9, 0x7e, 0x00))],
      [
        "indefinite-length items",
        publish(b(0x9f, 0x7f, 0x61, 0x61, 0xff, 0xbf, 0x61, 0x62, 0x01, 0xff, 0xff)),
      ],
      ["invalid UTF-8 in a text string", publish(b(0x81, 0x62, 0xff, 0xfe))],
      ["an array claiming 2^64-1 items", publish(b(0x9b), new Uint8Array(8).fill(0xff), b(0x01))],
      [
        "a __proto__ map key",
        concat(
          head([32, request], 2),
          b(0xa1),
          item("__proto__"),
          b(0xa1),
          item("match"),
          item("prefix"),
        ),
      ],
      ["self-described CBOR (tag 55799)", concat(b(0xd9, 0xd9, 0xf7), publish(b(0x80)))],
      ["trailing bytes", concat(head([16, request, {}, "com.x"], 0), b(0x00))],
    ];
  const [what, data] = rng.pick(cases);
  return { what, data };
}

// ---- authentication helpers ------------------------------------------------------------------

interface Keys {
  publicHex: string;
  privateKey: CryptoKey;
}

async function ed25519Keys(): Promise<Keys> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return {
    publicHex: [...raw].map((b) => b.toString(16).padStart(2, "0")).join(""),
    privateKey: pair.privateKey,
  };
}

function fromHexString(h: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The correct AUTHENTICATE signature for a CHALLENGE, or a plausible wrong one. */
async function signature(challenge: unknown[], keys: Keys): Promise<string> {
  const method = challenge[1];
  const extra = (challenge[2] ?? {}) as Record<string, unknown>;
  if (method === "ticket") return TICKET;
  if (method === "wampcra" && typeof extra.challenge === "string") {
    const key = await crypto.subtle.importKey(
      "raw",
      utf8.encode(CRA_SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, utf8.encode(extra.challenge)),
    );
    return mac.toBase64();
  }
  if (method === "cryptosign" && typeof extra.challenge === "string") {
    const data = fromHexString(extra.challenge);
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", keys.privateKey, data));
    return [...sig, ...data].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return "wrong";
}

// ---- the fuzz sessions -----------------------------------------------------------------------

interface Env {
  router: Router;
  clock: TrackingClock;
  wsUrl: string;
  rsPort: number;
  logs: LogCapture;
  keys: Keys;
  failures: string[];
  /** Failures worth replaying alone on a fresh session. */
  replays: Replay[];
  /** Outcome counts, printed with FUZZ_VERBOSE=1. */
  counts: Map<string, number>;
  /** Leftovers already reported (they stay, and would fail every later batch again). */
  reportedLeftovers: Set<string>;
  /** Session id of realm2's in-process authorizer (fuzz sessions there may kill it). */
  authorizer: number;
  /** RawSocket fuzz sessions by the peer address the router sees, to explain leftovers. */
  peers: Map<string, FuzzSession>;
}

function count(env: Env, key: string): void {
  env.counts.set(key, (env.counts.get(key) ?? 0) + 1);
}

interface Replay {
  index: number;
  transport: "ws" | "rs";
  serializer: SerializerName;
  /** RawSocket: the client's maximum, 2^(9+exponent). */
  exponent: number;
  /** An anonymous HELLO to the same realm with the same roles, when the culprit came after one. */
  hello: unknown[] | null;
  /** When the culprit answered a CHALLENGE: the original HELLO, to get the same CHALLENGE. */
  authHello: Wire | null;
  culprit: Wire;
}

const ROUTER_TO_CLIENT = new Set([2, 3, 4, 6, 8, 17, 33, 35, 36, 50, 65, 67, 68, 69]);
const PROBE_BASE = 2 ** 52;

/** Problems with a message the router sent, or null when it is well formed. */
function malformed(m: unknown[]): string | null {
  if (!ROUTER_TO_CLIENT.has(m[0] as number)) return `the router sent message type ${lit(m[0])}`;
  try {
    decodeMessage(m);
  } catch (e) {
    return `the router sent a malformed message (${errText(e)})`;
  }
  if (m[0] === 3 || m[0] === 8) {
    const reason = m[0] === 3 ? m[2] : m[4];
    if (typeof reason !== "string" || !isValidUri(reason, "exact", false)) {
      return `the router sent an error/close URI that is not a valid URI: ${lit(reason)}`;
    }
  }
  return null;
}

class FuzzSession {
  readonly rng: Rng;
  readonly st = freshState();
  readonly sent: { what: string; wire: Wire }[] = [];
  /** Both directions, for failure reports and FUZZ_TRACE. */
  readonly transcript: string[] = [];
  conn!: Conn;
  joined = false;
  over = false;
  clientAborted = false;
  sentGoodbye = false;
  challenge: unknown[] | null = null;
  authenticating = false;
  /** CALL request id → procedure, for CALLs whose RESULT or ERROR must come. */
  readonly awaited = new Map<number, string>();
  /** The last HELLO sent. */
  hello: unknown[] | null = null;
  helloWire: Wire | null = null;
  probes = 0;
  pings: Uint8Array[] = [];
  readonly logStart: number;
  readonly transport: "ws" | "rs";
  readonly serializerName: SerializerName;
  readonly exponent: number;

  constructor(readonly env: Env, readonly batch: number, readonly index: number) {
    this.rng = new Rng(subSeed(batch, index));
    this.logStart = env.logs.seq;
    this.transport = this.rng.chance(0.35) ? "rs" : "ws";
    this.serializerName = this.rng.pick(["json", "msgpack", "cbor"] as const);
    this.exponent = this.transport === "rs" && this.rng.chance(0.1) ? this.rng.int(3) : 15;
  }

  get where(): string {
    const label = this.conn?.label ?? this.transport;
    const realm = lit(this.hello?.[1]);
    return `${SEED_TEXT} batch=${this.batch} session=${this.index} ${label} realm=${realm} ` +
      `joined=${this.joined}`;
  }

  fail(kind: string, detail: string, replay = false, culprit = this.sent.at(-1)): void {
    const lines = [
      `[${kind}] ${this.where}`,
      `  ${detail}`,
      `  HELLO: ${this.hello ? lit(this.hello) : "(none)"}`,
      `  culprit (message #${culprit ? this.sent.indexOf(culprit) + 1 : 0}): ${
        culprit?.what ?? "(none)"
      }`,
      `  culprit on the wire: ${culprit ? wireText(culprit.wire) : "(none)"}`,
    ];
    const last = this.transcript.slice(-10).map((t) => t.slice(0, 400));
    if (last.length > 0) lines.push(`  last exchanges:\n    ${last.join("\n    ")}`);
    const log = this.env.logs.since(this.logStart);
    if (log.length > 0) lines.push(`  router log:\n    ${log.slice(0, 6).join("\n    ")}`);
    this.env.failures.push(lines.join("\n"));
    if (replay && culprit) {
      this.env.replays.push({
        index: this.env.failures.length - 1,
        transport: this.transport,
        serializer: this.serializerName,
        exponent: this.exponent,
        hello: this.joined ? this.anonymousHello() : null,
        authHello: this.authenticating ? this.helloWire : null,
        culprit: culprit.wire,
      });
    }
  }

  /** The session's HELLO without authentication (for replays). */
  anonymousHello(): unknown[] {
    const realm = typeof this.hello?.[1] === "string" ? this.hello[1] : "realm1";
    return [1, realm, {
      roles: Object.keys(this.st.roles).length > 0 ? this.st.roles : { caller: {} },
    }];
  }

  record(what: string, wire: Wire | null): boolean {
    count(this.env, wire ? `sent${this.joined ? " joined" : ""}` : "unencodable");
    if (!wire) return false;
    this.sent.push({ what, wire });
    this.transcript.push(`>>> ${what}`);
    this.noteRequest(wire);
    return true;
  }

  /** CALL request id → procedure, or null once the id was used by more than one CALL. */
  readonly callProcedures = new Map<number, string | null>();
  /** Request ids this session sent, by message type (decoded from the wire, as the router will). */
  readonly requests = new Map<number, Set<number>>();

  noteRequest(wire: Wire): void {
    let payload: Payload | null = null;
    const ser = this.conn.serializer;
    if (wire.frame === "rawsocket") {
      const b = wire.data as Uint8Array;
      const length = (b[1] << 16) | (b[2] << 8) | b[3];
      if (b[0] === 0 && b.length === 4 + length) {
        payload = ser.binary ? b.subarray(4) : new TextDecoder().decode(b.subarray(4));
      }
    } else if ((wire.frame === "text") === !ser.binary) {
      payload = wire.data;
    }
    if (payload === null) return;
    let m: unknown;
    try {
      m = ser.decode(payload);
    } catch {
      return;
    }
    if (!Array.isArray(m)) return;
    // corrupted or foreign bytes may still make a valid ABORT or GOODBYE
    if (m[0] === 3) this.clientAborted = true;
    if (m[0] === 6) this.sentGoodbye = true;
    if (typeof m[0] !== "number" || typeof m[1] !== "number") return;
    if (![16, 32, 34, 48, 64, 66].includes(m[0])) return;
    if (m[0] === 48) {
      const unique = !this.callProcedures.has(m[1]) && typeof m[3] === "string";
      this.callProcedures.set(m[1], unique ? m[3] as string : null);
    }
    let ids = this.requests.get(m[0]);
    if (!ids) this.requests.set(m[0], ids = new Set());
    ids.add(m[1]);
  }

  /** A reply must answer a request of this session of the matching type. */
  checkRequest(m: unknown[]): string | null {
    const replyTo: Record<number, number> = { 17: 16, 33: 32, 35: 34, 50: 48, 65: 64, 67: 66 };
    let type: number;
    let request: unknown;
    if (m[0] === 8) {
      type = m[1] as number;
      request = m[2];
    } else if ((m[0] as number) in replyTo) {
      type = replyTo[m[0] as number];
      request = m[1];
      if ((m[0] === 35 || m[0] === 67) && request === 0) return null; // revocation
    } else {
      return null;
    }
    if (this.requests.get(type)?.has(request as number)) return null;
    return `the router answered request ${lit(request)} of type ${type}, which this session ` +
      `never sent: ${lit(m)}`;
  }

  sendMsg(msg: unknown[], what = lit(msg)): boolean {
    const ok = this.record(what, this.conn.sendMsg(msg));
    const code = Array.isArray(msg) ? msg[0] : undefined;
    // CALLs that must be answered: to the bystander's exact registration in realm1 or to the
    // router's own procedures (nobody can take those over; any other procedure may belong to a
    // fuzz callee that never answers), with a request id of their own (a reused one may continue
    // or end a progressive call invocation instead)
    const procedure = ok && code === 48 ? this.callProcedures.get(msg[1] as number) : null;
    if (
      this.joined && typeof procedure === "string" &&
      ((procedure === BYSTANDER_PROC && this.hello?.[1] === "realm1") ||
        META_PROCEDURES.includes(procedure))
    ) {
      this.awaited.set(msg[1] as number, procedure);
    }
    return ok;
  }

  async run(): Promise<void> {
    try {
      this.conn = this.transport === "ws"
        ? await WsConn.open(this.env.wsUrl, this.serializerName)
        : await RsConn.open(this.env.rsPort, this.serializerName, this.exponent);
    } catch (e) {
      this.fail("connect", `could not connect: ${errText(e)}`);
      return;
    }
    if (this.conn instanceof RsConn) this.env.peers.set(this.conn.peer, this);
    try {
      await this.session();
    } catch (e) {
      this.fail("test error", errText(e) + (e instanceof Error ? `\n${e.stack}` : ""));
    } finally {
      await this.conn.close();
      const trace = Deno.env.get("FUZZ_TRACE");
      if (trace === "all" || trace === `${this.batch}:${this.index}`) {
        console.log(`--- ${this.where}\n  ${this.transcript.join("\n  ")}`);
      }
    }
  }

  async session(): Promise<void> {
    const rng = this.rng;
    if (rng.chance(0.25)) {
      const expectReply = this.action("pre");
      if (expectReply) await this.settleUnjoined();
      if (this.challenge) await this.authenticate();
    }
    if (!this.over && !this.joined) {
      this.hello = genHello(rng, this.env.keys.publicHex);
      if (!this.sendMsg(this.hello)) return;
      this.helloWire = this.sent.at(-1)!.wire;
      await this.settleUnjoined();
      if (this.challenge) await this.authenticate();
    }
    const steps = 4 + rng.int(40);
    if (this.hello && typeof this.hello[2] === "object" && this.hello[2] !== null) {
      const roles = (this.hello[2] as Record<string, unknown>).roles;
      if (typeof roles === "object" && roles !== null) {
        this.st.roles = roles as Record<string, unknown>;
      }
    }
    for (let i = 0; i < steps && this.joined && !this.over; i++) {
      // mostly input the router answers normally; a violation now and then and maybe at the end
      const hard = (i === steps - 1 && rng.chance(0.5)) || rng.chance(0.03);
      this.action(hard ? "hard" : "soft");
      if (!this.over) await this.settleJoined();
    }
    if (!this.over) await this.finish();
  }

  /** One fuzz action; returns whether it expects a WAMP reply when not joined. */
  action(mode: Mode): boolean {
    const rng = this.rng;
    const conn = this.conn;
    const ser = conn.serializer;
    const r = mode === "soft" ? 0 : rng.int(100);
    if (r < 70) {
      const msg = structuredMessage(rng, this.st, mode, this.env.keys.publicHex);
      if (msg[0] === 1 && !this.joined) this.hello = msg;
      const ok = this.sendMsg(msg);
      if (ok && msg[0] === 1 && !this.joined) this.helloWire = this.sent.at(-1)!.wire;
      return ok;
    }
    const valid = () => {
      const msg = template(rng, rng.weighted(CLIENT_TYPES), this.st, this.env.keys.publicHex);
      try {
        const p = ser.encode(msg);
        return { msg, bytes: typeof p === "string" ? utf8.encode(p) : p.slice() };
      } catch {
        return { msg: [16, 1, {}, "com.x"], bytes: utf8.encode('[16,1,{},"com.x"]') };
      }
    };
    const asPayload = (bytes: Uint8Array): Payload =>
      ser.binary ? bytes : new TextDecoder().decode(bytes);
    if (r < 82) {
      const n = rng.pick([0, 1, 2, 5, 64, 1000]);
      const bytes = randomBytes(rng, n);
      const data = ser.binary ? bytes : randomString(rng, n);
      return this.record(`random garbage (${n} bytes)`, conn.sendPayload(data));
    }
    if (r < 86) {
      const { msg, bytes } = valid();
      if (conn instanceof WsConn) {
        const frame = ser.binary ? "text" : "binary";
        return this.record(
          `${lit(msg)} in a ${frame} frame`,
          conn.sendFrame(frame, ser.binary ? randomString(rng, 20) : bytes),
        );
      }
      const other = rng.pick([...SERIALIZERS]);
      let foreign: Payload;
      try {
        foreign = other.encode(msg);
      } catch {
        foreign = "[16,1,{}";
      }
      const fb = typeof foreign === "string" ? utf8.encode(foreign) : foreign.slice();
      return this.record(`${lit(msg)} encoded as ${other.name}`, conn.sendPayload(asPayload(fb)));
    }
    if (r < 90) {
      const { msg, bytes } = valid();
      const cut = rng.int(Math.max(1, bytes.length - 1));
      return this.record(
        `${lit(msg)} truncated to ${cut} of ${bytes.length} bytes`,
        conn.sendPayload(asPayload(bytes.slice(0, cut))),
      );
    }
    if (r < 94) {
      const { msg, bytes } = valid();
      const flips = 1 + rng.int(3);
      for (let i = 0; i < flips && bytes.length > 0; i++) {
        bytes[rng.int(bytes.length)] = rng.chance(0.5) ? rng.int(256) : bytes[0] ^ 0x80;
      }
      return this.record(
        `${lit(msg)} with ${flips} corrupted byte(s)`,
        conn.sendPayload(asPayload(bytes)),
      );
    }
    if (r < 96) {
      const { what, data } = nastyPayload(rng, ser, ++this.st.request);
      return this.record(what, conn.sendPayload(data));
    }
    if (r < 97) {
      const size = MAX_MESSAGE_SIZE + rng.pick([0, 1]);
      const data = sizedPublish(ser, ++this.st.request, size);
      return this.record(`PUBLISH of exactly ${size} bytes`, conn.sendPayload(data));
    }
    if (conn instanceof RsConn) {
      const op = rng.int(6);
      if (op === 0) {
        const body = randomBytes(rng, rng.pick([0, 3, 100]));
        this.pings.push(body);
        this.record(`RawSocket PING (${body.length} bytes)`, conn.sendRaw(rsFrame(1, body)));
        return false;
      }
      if (op === 1) {
        this.record("unsolicited RawSocket PONG", conn.sendRaw(rsFrame(2, randomBytes(rng, 4))));
        return false;
      }
      if (op === 2) {
        const type = 3 + rng.int(5);
        return this.record(
          `RawSocket frame of type ${type}`,
          conn.sendRaw(rsFrame(type, randomBytes(rng, 3))),
        );
      }
      if (op === 3) {
        const f = rsFrame(0, utf8.encode("[]"));
        f[0] |= 0x08 << rng.int(5);
        return this.record("RawSocket frame with reserved bits set", conn.sendRaw(f));
      }
      if (op === 4) {
        return this.record(
          "RawSocket header announcing 16 MiB - 1",
          conn.sendRaw(new Uint8Array([0, 0xff, 0xff, 0xff])),
        );
      }
      return this.record(
        "two WAMP frames and a PING in one write",
        conn.sendRaw(concat(
          rsFrame(0, utf8.encode("[]")),
          rsFrame(1, new Uint8Array(0)),
          rsFrame(0, utf8.encode("[]")),
        )),
      );
    }
    const whole = rng.pick<unknown>([{}, [], 42, "str", null, [[]], [1.5], [NaN], [{ a: 1 }]]);
    return this.sendMsg(whole as unknown[], `whole message ${lit(whole)}`);
  }

  /** Checks a message from the router; returns false when it was reported as a failure. */
  check(m: unknown[]): boolean {
    count(this.env, `received type ${m[0]}${m[0] === 8 ? ` ${m[4]}` : ""}`);
    this.transcript.push(`<<< ${lit(m)}`);
    const problem = malformed(m);
    if (problem) {
      this.fail("malformed reply", `${problem}: ${lit(m)}`, true);
      return false;
    }
    const stray = this.checkRequest(m);
    if (stray) {
      this.fail("reply to a request never sent", stray, true);
      return false;
    }
    switch (m[0]) {
      case 2:
        this.st.sessions.push(m[1] as number);
        break;
      case 33:
      case 65: {
        (m[0] === 33 ? this.st.subs : this.st.regs).push(m[2] as number);
        const u = this.st.pending.get(m[1] as number);
        if (u !== undefined) (m[0] === 33 ? this.st.ownTopics : this.st.ownProcedures).push(u);
        this.st.pending.delete(m[1] as number);
        break;
      }
      case 68:
        this.st.invocations.push(m[1] as number);
        break;
      case 50: {
        const details = m[2] as Record<string, unknown>;
        if (details.progress !== true) this.awaited.delete(m[1] as number);
        const args = m[3];
        if (Array.isArray(args)) {
          for (const a of args.flat()) {
            if (typeof a === "number" && a >= 1) this.st.sessions.push(a);
          }
        }
        break;
      }
      case 8: {
        if (m[1] === 48) this.awaited.delete(m[2] as number);
        const procedure = this.callProcedures.get(m[2] as number);
        if (
          m[1] === 48 && m[4] === "wamp.error.runtime_error" && typeof procedure === "string" &&
          (procedure.startsWith("wamp.") || procedure.startsWith("switchboard."))
        ) {
          this.fail(
            "runtime_error from a router procedure",
            `CALL ${procedure} failed inside the router: ${lit(m)}`,
          );
        }
        break;
      }
    }
    return true;
  }

  async onAbort(m: unknown[]): Promise<void> {
    this.over = true;
    count(
      this.env,
      `ABORT ${m[2]} ${String((m[1] as Record<string, unknown>)?.message).slice(0, 50)}`,
    );
    const details = m[1] as Record<string, unknown>;
    const reason = m[2];
    if (typeof reason !== "string" || !reason.startsWith("wamp.error.")) {
      this.fail("abort reason", `ABORT reason is not a wamp.error.* URI: ${lit(m)}`, true);
    } else if (typeof details.message !== "string") {
      this.fail("abort message", `ABORT without a details.message string: ${lit(m)}`, true);
    }
    if (reason === "wamp.error.runtime_error") {
      this.fail("runtime_error", `internal router error: ${lit(m)}`, true);
    }
    const after = await this.conn.next();
    if (after.kind === "timeout") {
      this.fail("no close", `the router did not close after ABORT ${lit(m)}`);
    } else if (after.kind !== "closed") {
      this.fail(
        "message after ABORT",
        `the router sent ${after.kind === "msg" ? lit(after.msg) : lit(after)} after ${lit(m)}`,
      );
    }
  }

  /** Waits for the answer to a message sent before WELCOME. */
  async settleUnjoined(): Promise<void> {
    for (;;) {
      const i = await this.conn.next();
      if (i.kind === "timeout") {
        this.over = true;
        return this.fail("hang", `no reply within ${WAIT_MS} ms before WELCOME`, true);
      }
      if (i.kind === "closed") {
        this.over = true;
        if (!this.clientAborted && !this.conn.closedForSize()) {
          this.fail("close without ABORT", "the router closed silently", true);
        }
        return;
      }
      if (i.kind === "bad") {
        this.fail("undecodable reply", `${i.error}: ${lit(i.raw)}`, true);
        continue;
      }
      const m = i.msg;
      if (!this.check(m)) continue;
      if (m[0] === 3) return await this.onAbort(m);
      if (m[0] === 2) {
        this.joined = true;
        return;
      }
      if (m[0] === 4) {
        this.challenge = m;
        return;
      }
      if (this.sentGoodbye) {
        this.fail("message after GOODBYE", `after its GOODBYE the router sent ${lit(m)}`, true);
      } else {
        this.fail("unexpected reply", `before WELCOME the router sent ${lit(m)}`, true);
      }
    }
  }

  async authenticate(): Promise<void> {
    const challenge = this.challenge!;
    this.challenge = null;
    this.authenticating = true;
    const rng = this.rng;
    const good = await signature(challenge, this.env.keys);
    const msg: unknown[] = [5, rng.chance(0.75) ? good : rng.pick(["", "x", good + "0"]), {}];
    if (rng.chance(0.2)) mutate(rng, msg, this.st);
    if (!this.sendMsg(msg)) {
      this.over = true;
      return;
    }
    await this.settleUnjoined();
    this.authenticating = false;
    if (this.challenge) {
      this.fail("unexpected reply", "a second CHALLENGE", true);
      this.over = true;
    }
  }

  /** Sends a probe PUBLISH and handles everything up to its PUBLISHED. */
  async settleJoined(): Promise<void> {
    const probe = PROBE_BASE + ++this.probes;
    const pingsBefore = this.pings.length;
    const probeWire = this.conn.sendMsg([16, probe, { acknowledge: true }, "com.fuzz.probe"]);
    if (probeWire) this.noteRequest(probeWire);
    for (;;) {
      const i = await this.conn.next();
      if (i.kind === "timeout") {
        this.over = true;
        return this.fail("hang", `no reply to a probe PUBLISH within ${WAIT_MS} ms`, true);
      }
      if (i.kind === "closed") {
        this.over = true;
        if (!this.clientAborted && !this.conn.closedForSize()) {
          this.fail("close without ABORT", "the router closed silently", true);
        }
        return;
      }
      if (i.kind === "bad") {
        this.fail("undecodable reply", `${i.error}: ${lit(i.raw)}`, true);
        continue;
      }
      const m = i.msg;
      if (!this.check(m)) continue;
      if (m[0] === 3) return await this.onAbort(m);
      if (m[0] === 6) {
        if (this.sentGoodbye && m[2] === "wamp.close.goodbye_and_out") {
          // our GOODBYE was taken: the probe now arrives before HELLO and is answered with ABORT
          this.joined = false;
          continue;
        }
        // router-initiated (killed in realm2): complete the closing handshake and stop
        this.sendMsg([6, {}, "wamp.close.goodbye_and_out"]);
        this.joined = false;
        this.over = true;
        return;
      }
      // PUBLISHED, or ERROR where realm2's authorizer denies the probe
      if ((m[0] === 17 && m[1] === probe) || (m[0] === 8 && m[1] === 16 && m[2] === probe)) break;
    }
    if (this.conn instanceof RsConn && pingsBefore > 0) {
      const expected = this.pings.map((p) => hex(p)).join("|");
      const got = this.conn.pongs.map((p) => hex(p)).join("|");
      if (expected !== got) this.fail("ping", `PONGs ${got} do not answer PINGs ${expected}`);
    }
  }

  /** Ends the session: GOODBYE (maybe rejoining once), client ABORT, or just closing. */
  async finish(): Promise<void> {
    const rng = this.rng;
    const r = rng.int(100);
    // every CALL that must be answered is answered before the session ends
    while (this.awaited.size > 0 && this.joined) {
      const i = await this.conn.next();
      if (i.kind === "timeout") {
        const calls = [...this.awaited].map(([id, p]) => `${id} (${p})`).join(", ");
        const call = this.sent.findLast((s) =>
          [...this.awaited.keys()].some((id) => s.what.startsWith(`[48, ${id}, `))
        );
        this.fail(
          "call never answered",
          `no RESULT or ERROR for CALL ${calls} within ${WAIT_MS} ms`,
          false,
          call,
        );
        break;
      }
      if (i.kind === "closed") return;
      if (i.kind === "msg" && this.check(i.msg) && i.msg[0] === 3) return await this.onAbort(i.msg);
    }
    if (r < 55 && this.joined) {
      this.sendMsg([6, { message: "bye" }, "wamp.close.normal"]);
      for (;;) {
        const i = await this.conn.next();
        if (i.kind === "timeout") return this.fail("hang", "no GOODBYE in reply to GOODBYE", true);
        if (i.kind === "closed") return this.fail("close without GOODBYE", "closed after GOODBYE");
        if (i.kind === "bad") continue;
        if (!this.check(i.msg)) continue;
        if (i.msg[0] === 3) return await this.onAbort(i.msg);
        if (i.msg[0] === 6) break;
      }
      this.joined = false;
      if (rng.chance(0.25) && this.helloWire) {
        this.conn.sendWire(this.helloWire);
        this.record("HELLO again after GOODBYE", this.helloWire);
        await this.settleUnjoined();
        if (this.joined) this.conn.sendMsg([6, {}, "wamp.close.normal"]);
      }
      return;
    }
    if (r < 70) {
      this.sendMsg([3, { message: "client abort" }, "wamp.close.normal"]);
      for (;;) {
        const i = await this.conn.next();
        if (i.kind === "timeout") return this.fail("hang", "no close after the client's ABORT");
        if (i.kind === "closed") return;
        if (i.kind === "msg" && i.msg[0] === 3) return await this.onAbort(i.msg);
      }
    }
    if (r < 85 && this.conn instanceof RsConn) {
      const f = rsFrame(0, utf8.encode('[16,1,{},"com.fuzz.cut",["' + "x".repeat(100) + '"]]'));
      this.record("RawSocket frame cut short, then close", this.conn.sendRaw(f.slice(0, 30)));
    }
  }
}

/** RawSocket handshakes: partial, not RawSocket, reserved bits, unknown serializers, lengths. */
async function handshakeSession(env: Env, batch: number, index: number): Promise<void> {
  const rng = new Rng(subSeed(batch, index, 7));
  const where = `${SEED_TEXT} batch=${batch} session=${index} RawSocket handshake`;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: env.rsPort });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const timer = setTimeout(close, WAIT_MS);
  try {
    const r = rng.int(100);
    if (r < 20) {
      const bytes = new Uint8Array([0x7f, 0xf1, 0, 0]).subarray(0, 1 + rng.int(3));
      await writeAll(conn, bytes);
      await conn.closeWrite();
      const rest = await readExactly(conn, 8);
      if (rest.length !== 0) {
        env.failures.push(`[handshake] ${where}: partial ${hex(bytes)} got ${hex(rest)}`);
      }
      return;
    }
    const hello = new Uint8Array([
      r < 35 ? rng.int(0x7f) : 0x7f,
      rng.int(256),
      rng.chance(0.7) ? 0 : rng.int(256),
      rng.chance(0.7) ? 0 : rng.int(256),
    ]);
    let expected: number[];
    if (hello[0] !== 0x7f) expected = [];
    else if (hello[2] !== 0 || hello[3] !== 0) expected = [0x7f, 0x30, 0, 0];
    else if ((hello[1] & 0x0f) < 1 || (hello[1] & 0x0f) > 3) expected = [0x7f, 0x10, 0, 0];
    else expected = [0x7f, (ROUTER_RS_EXPONENT << 4) | (hello[1] & 0x0f), 0, 0];
    const accepted = expected.length === 4 && (expected[1] & 0x0f) !== 0;
    // a client may send frames right behind an accepted handshake (not behind a refused one:
    // the router closes on them unread)
    const trailing = accepted && rng.chance(0.3)
      ? randomBytes(rng, rng.int(40))
      : new Uint8Array(0);
    await writeAll(conn, concat(hello, trailing));
    const reply = await readExactly(conn, 4);
    if (closed) {
      env.failures.push(
        `[hang] ${where}: no handshake reply to ${hex(hello)} within ${WAIT_MS} ms`,
      );
      return;
    }
    if (hex(reply) !== hex(new Uint8Array(expected))) {
      env.failures.push(
        `[handshake] ${where}: ${hex(hello)} answered ${hex(reply)}, not ${
          hex(new Uint8Array(expected))
        }`,
      );
    }
    if (accepted) {
      // leave after nothing or some garbage
      if (rng.chance(0.5)) await writeAll(conn, randomBytes(rng, rng.int(20)));
      return;
    }
    const rest = await readExactly(conn, 1);
    if (rest.length !== 0 && !closed) {
      env.failures.push(`[handshake] ${where}: data after a refused handshake ${hex(hello)}`);
    }
  } catch (e) {
    if (!closed) env.failures.push(`[handshake] ${where}: ${errText(e)}`);
  } finally {
    clearTimeout(timer);
    close();
  }
}

/** Replays a failure's culprit alone on a fresh session (after its HELLO) and describes the outcome. */
async function replayAlone(env: Env, rp: Replay): Promise<string> {
  let conn: Conn;
  try {
    conn = rp.transport === "ws"
      ? await WsConn.open(env.wsUrl, rp.serializer)
      : await RsConn.open(env.rsPort, rp.serializer, rp.exponent);
  } catch (e) {
    return `replay: could not connect (${errText(e)})`;
  }
  await using _c = conn;
  const describe = (i: Incoming) =>
    i.kind === "msg" ? lit(i.msg) : i.kind === "bad" ? `undecodable (${i.error})` : i.kind;
  if (rp.hello) {
    conn.sendMsg(rp.hello);
    const w = await conn.next();
    if (w.kind !== "msg" || w.msg[0] !== 2) return `replay: HELLO answered ${describe(w)}`;
  } else if (rp.authHello) {
    conn.sendWire(rp.authHello);
    const c = await conn.next();
    if (c.kind !== "msg" || c.msg[0] !== 4) return `replay: HELLO answered ${describe(c)}`;
  }
  conn.sendWire(rp.culprit);
  if (rp.hello) conn.sendMsg([16, PROBE_BASE, { acknowledge: true }, "com.fuzz.probe"]);
  const first = await conn.next();
  const after = rp.hello
    ? " after an anonymous HELLO"
    : rp.authHello
    ? " after the same HELLO and its CHALLENGE"
    : "";
  return `replay of the culprit alone on a fresh ${conn.label} session${after}: ${describe(first)}`;
}

// ---- the bystander and the health checks -----------------------------------------------------

interface Bystander {
  conn: Conn;
  id: number;
  marker: string;
  problems: string[];
  request: number;
}

async function startBystander(env: Env): Promise<Bystander> {
  const conn = await WsConn.open(env.wsUrl, "msgpack");
  const b: Bystander = { conn, id: 0, marker: "", problems: [], request: 0 };
  conn.sendMsg([1, "realm1", {
    roles: {
      publisher: {},
      subscriber: {},
      caller: {},
      callee: { features: { call_canceling: true } },
    },
  }]);
  const w = await conn.next();
  assert.ok(w.kind === "msg" && w.msg[0] === 2, `bystander HELLO: ${lit(w)}`);
  b.id = w.msg[1] as number;
  const setup: unknown[][] = [
    [32, ++b.request, {}, BYSTANDER_TOPIC],
    [32, ++b.request, { match: "prefix" }, "com.bystander."],
    [32, ++b.request, { match: "wildcard" }, "com..topic"],
    [64, ++b.request, {}, BYSTANDER_PROC],
    [64, ++b.request, { match: "prefix" }, "com.bystander.pfx."],
    [64, ++b.request, { match: "wildcard" }, "com.bystander..wild"],
  ];
  for (const m of setup) {
    conn.sendMsg(m);
    const reply = await conn.next();
    assert.ok(
      reply.kind === "msg" && reply.msg[0] === (m[0] === 32 ? 33 : 65),
      `bystander setup ${lit(m)}: ${lit(reply)}`,
    );
  }
  conn.intercept = (m) => {
    const problem = malformed(m);
    if (problem) b.problems.push(`bystander: ${problem}: ${lit(m)}`);
    if (m[0] === 68) {
      // echo the payload back, so RESULTs cross serializers too
      const kwargs = m[5];
      if (!conn.sendMsg([70, m[1], {}, m[4] ?? [], ...(kwargs ? [kwargs] : [])])) {
        conn.sendMsg([70, m[1], {}, ["ok"]]);
      }
      return true;
    }
    if (m[0] === 69) {
      conn.sendMsg([8, 68, m[1], {}, "wamp.error.canceled"]);
      return true;
    }
    if (m[0] === 3 || m[0] === 6) b.problems.push(`bystander got ${lit(m)}`);
    if (m[0] === 36) {
      const args = m[4];
      return !(Array.isArray(args) && args[0] === b.marker);
    }
    return false;
  };
  return b;
}

/** After a batch: the bystander still works, a fresh session can join and call, nothing leaked. */
async function healthCheck(env: Env, b: Bystander, n: number, stage: string): Promise<string[]> {
  const problems = b.problems.splice(0).map((p) => `${stage}: ${p}`);
  const marker = `Ωcheck-${n}`;
  b.marker = marker;
  // The bystander publishes to itself: one EVENT per matching subscription (exact, prefix, wildcard).
  const pub = ++b.request;
  b.conn.sendMsg([16, pub, { exclude_me: false, acknowledge: true }, BYSTANDER_TOPIC, [marker]]);
  let events = 0;
  let published = false;
  while (events < 3 || !published) {
    const i = await b.conn.next();
    if (i.kind !== "msg") {
      problems.push(`${stage}: bystander waiting for its own EVENTs: ${i.kind}`);
      break;
    }
    if (i.msg[0] === 36) events++;
    else if (i.msg[0] === 17 && i.msg[1] === pub) published = true;
    else if (i.msg[0] === 8 || i.msg[0] === 3) {
      problems.push(`${stage}: bystander publish: ${lit(i.msg)}`);
      break;
    }
  }
  // The bystander calls its own procedure.
  const call = ++b.request;
  b.conn.sendMsg([48, call, {}, BYSTANDER_PROC, [marker]]);
  for (;;) {
    const i = await b.conn.next();
    if (i.kind !== "msg") {
      problems.push(`${stage}: bystander calling itself: ${i.kind}`);
      break;
    }
    if (i.msg[0] === 50 && i.msg[1] === call) {
      if (lit(i.msg[3]) !== lit([marker])) problems.push(`${stage}: self call ${lit(i.msg)}`);
      break;
    }
    if (i.msg[0] === 8 || i.msg[0] === 3) {
      problems.push(`${stage}: bystander calling itself: ${lit(i.msg)}`);
      break;
    }
  }
  // A fresh session (rotating transport and serializer) joins and calls all three registrations.
  const kinds = [
    ["ws", "json"],
    ["rs", "msgpack"],
    ["ws", "cbor"],
    ["rs", "json"],
    ["ws", "msgpack"],
    ["rs", "cbor"],
  ] as const;
  const [transport, ser] = kinds[n % kinds.length];
  try {
    await using fresh = transport === "ws"
      ? await WsConn.open(env.wsUrl, ser)
      : await RsConn.open(env.rsPort, ser);
    fresh.sendMsg([1, "realm1", { roles: { caller: {} } }]);
    const w = await fresh.next();
    if (w.kind !== "msg" || w.msg[0] !== 2) {
      problems.push(`${stage}: a fresh ${fresh.label} session could not join: ${lit(w)}`);
    } else {
      const procedures = [BYSTANDER_PROC, `com.bystander.pfx.Ω${n}`, `com.bystander.Ω${n}.wild`];
      for (const [k, procedure] of procedures.entries()) {
        fresh.sendMsg([48, k + 1, {}, procedure, [marker]]);
        const res = await fresh.next();
        if (res.kind !== "msg" || res.msg[0] !== 50 || lit(res.msg[3]) !== lit([marker])) {
          problems.push(`${stage}: ${fresh.label} CALL ${procedure}: ${lit(res)}`);
        }
      }
      fresh.sendMsg([6, {}, "wamp.close.normal"]);
      const bye = await fresh.next();
      if (bye.kind !== "msg" || bye.msg[0] !== 6) {
        problems.push(`${stage}: ${fresh.label} GOODBYE: ${lit(bye)}`);
      }
    }
  } catch (e) {
    problems.push(`${stage}: a fresh ${transport}/${ser} session: ${errText(e)}`);
  }
  // Nothing of the fuzz sessions may remain once their connections are gone.
  const deadline = Date.now() + CLEANUP_MS;
  let leftovers = leaks(env.router, env.clock, b.id, env.authorizer);
  while (leftovers.some((l) => !env.reportedLeftovers.has(l)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    leftovers = leaks(env.router, env.clock, b.id, env.authorizer);
  }
  // timers left armed are reported here; disarmed, they do not trip the op sanitizer again
  for (const id of [...env.clock.armed.keys()]) env.clock.clearTimer(id);
  // a leftover is reported once, not again after every later batch
  for (const l of leftovers) {
    if (env.reportedLeftovers.has(l)) continue;
    env.reportedLeftovers.add(l);
    const owner = env.peers.get(l.match(/tcp4:[\d.]+:\d+/)?.[0] ?? "");
    const story = owner
      ? `\n  left by ${owner.where}\n  HELLO: ${lit(owner.hello)}\n  last exchanges:\n    ${
        owner.transcript.slice(-6).map((t) => t.slice(0, 300)).join("\n    ")
      }`
      : "";
    problems.push(`${stage}: leftover: ${l}${story}`);
  }
  problems.push(...b.problems.splice(0).map((p) => `${stage}: ${p}`));
  return problems;
}

/** Sessions, subscribers, callees and open calls that should be gone. */
function leaks(router: Router, clock: TrackingClock, bystander: number, authorizer: number) {
  const out: string[] = [];
  for (const where of clock.armed.values()) out.push(`a router timer is still armed: ${where}`);
  let joined = 0;
  for (const name of ["realm1", "realm2"]) {
    const realm = routerInternals(router).realm(name)!;
    const keep = (s: SessionRef) =>
      realm.isInternal(s) || s.id === bystander || s.id === authorizer;
    for (const s of realm.sessions.values()) if (!s.internal) joined++;
    for (const s of realm.sessions.values()) {
      if (!keep(s)) {
        out.push(
          `${name}: session ${s.id} (${s.state}, ${s.authmethod} ${lit(s.authid)}, ` +
            `${s.peer.details.type}/${s.serializerName} ${s.peer.details.peer}) is still joined`,
        );
      }
    }
    for (const sub of realm.broker.all()) {
      for (const s of sub.subscribers) {
        if (!keep(s)) out.push(`${name}: subscription ${lit(sub.uri)} keeps session ${s.id}`);
      }
    }
    for (const reg of realm.dealer.all()) {
      for (const c of reg.callees) {
        if (!keep(c.session)) {
          out.push(`${name}: registration ${lit(reg.uri)} keeps session ${c.session.id}`);
        }
      }
    }
    const mine = realm.sessions.get(bystander);
    const open = mine && realm.dealer.openCalls(mine);
    if (open && (open.asCallee > 0 || open.asCaller > 0)) {
      out.push(`bystander has open calls: ${open.asCallee} in, ${open.asCaller} out`);
    }
  }
  if (router.sessionCount !== joined) {
    out.push(`router.sessionCount is ${router.sessionCount}, but ${joined} sessions are joined`);
  }
  return out;
}

// ---- the test --------------------------------------------------------------------------------

Deno.test("fuzz: malformed and mutated input never crashes the router or leaks into other sessions", async (t) => {
  const keys = await ed25519Keys();
  const logs = new LogCapture();
  const clock = new TrackingClock();
  const router = createRouter(fuzzConfig(keys.publicHex), { logger: logs, clock });
  await using _router = { [Symbol.asyncDispose]: () => router.close(100) };
  const listeners = await router.serve();
  const env: Env = {
    router,
    clock,
    wsUrl: listeners[0].urls[0],
    rsPort: listeners[1].port,
    logs,
    keys,
    failures: [],
    replays: [],
    counts: new Map(),
    reportedLeftovers: new Set(),
    authorizer: 0,
    peers: new Map(),
  };
  const authorizer = await router.session("realm2", { authid: "authorizer" });
  await authorizer.register(AUTHORIZER, authorize);
  env.authorizer = authorizer.sessionId;
  const bystander = await startBystander(env);
  await using _bystander = bystander.conn;
  assert.deepEqual(await healthCheck(env, bystander, 0, "before fuzzing"), []);

  const start = Date.now();
  for (let batch = 1; batch <= BATCHES; batch++) {
    const name = `batch ${batch} of ${SESSIONS_PER_BATCH} sessions (${SEED_TEXT})`;
    await t.step({
      name,
      ignore: Date.now() - start > BUDGET_MS,
      fn: async () => {
        env.failures.length = 0;
        env.replays.length = 0;
        const logStart = logs.seq;
        const rng = new Rng(subSeed(batch));
        await Promise.all(
          Array.from(
            { length: SESSIONS_PER_BATCH },
            (_, i) =>
              rng.chance(0.08)
                ? handshakeSession(env, batch, i)
                : new FuzzSession(env, batch, i).run(),
          ),
        );
        for (const rp of env.replays) {
          env.failures[rp.index] += `\n  ${await replayAlone(env, rp)}`;
        }
        if (Deno.env.get("FUZZ_VERBOSE")) {
          console.log([...env.counts].sort().map(([k, v]) => `${v}\t${k}`).join("\n"));
        }
        const failures = [...env.failures];
        const internal = logs.since(logStart).filter((l) =>
          /internal error/.test(l) && !failures.some((f) => f.includes(l))
        );
        if (internal.length > 0) {
          failures.push(`[router log] internal errors logged:\n    ${internal.join("\n    ")}`);
        }
        failures.push(...await healthCheck(env, bystander, batch, `after batch ${batch}`));
        assert.ok(
          failures.length === 0,
          `${failures.length} fuzz failure(s) in batch ${batch} (${SEED_TEXT}; rerun with ` +
            `FUZZ_SEED=${SEED} to reproduce):\n\n${failures.join("\n\n")}`,
        );
      },
    });
  }
});

// ---- the corpus ------------------------------------------------------------------------------

/** The next message, or a description of what came instead. */
async function expectMsg(c: Conn, what: string): Promise<unknown[]> {
  const i = await c.next();
  assert.ok(i.kind === "msg", `${what}: expected a message, got ${lit(i)}`);
  return i.msg;
}

async function joinRaw(c: Conn, roles: Record<string, unknown>, realm = "realm1"): Promise<void> {
  c.sendMsg([1, realm, { roles }]);
  const w = await expectMsg(c, "HELLO");
  assert.equal(w[0], 2, `HELLO answered ${lit(w)}`);
}

/**
 * The failures the fuzzer found, minimized to the messages that trigger them, so each one stays
 * reproducible without a seed. Each step states the orderly behavior the rule asks for.
 */
Deno.test("fuzz corpus: minimized cases found by the fuzzer", async (t) => {
  const keys = await ed25519Keys();
  const logs = new LogCapture();
  // a queue bound above what the kernel buffers hold, so a stalled reader keeps writes pending
  const clock = new TrackingClock();
  const router = createRouter(fuzzConfig(keys.publicHex, { max_queue_bytes: 64 * 1024 * 1024 }), {
    logger: logs,
    clock,
  });
  await using _router = { [Symbol.asyncDispose]: () => router.close(100) };
  const [web, rs] = await router.serve();
  const url = web.urls[0];
  const callee = { callee: { features: { call_canceling: true } }, caller: {}, subscriber: {} };

  await t.step(
    "WAMP-CRA with an empty authid is a failed authentication, not an internal error",
    async () => {
      await using c = await WsConn.open(url, "json");
      c.sendMsg([1, "realm1", { roles: { caller: {} }, authmethods: ["wampcra"], authid: "" }]);
      let reply = await expectMsg(c, "HELLO");
      if (reply[0] === 4) {
        c.sendMsg([5, "x", {}]);
        reply = await expectMsg(c, "AUTHENTICATE");
      }
      assert.equal(reply[0], 3, `expected ABORT, got ${lit(reply)}`);
      assert.notEqual(reply[2], "wamp.error.runtime_error", `internal error: ${lit(reply)}`);
    },
  );

  await t.step("a RawSocket client with a 512-byte maximum leaves no session behind", async () => {
    {
      await using c = await RsConn.open(rs.port, "json", 0);
      c.sendMsg([1, "realm1", { roles: { caller: {} } }]);
      await c.next(); // WELCOME or ABORT
    }
    const deadline = Date.now() + CLEANUP_MS;
    let left = leaks(router, clock, -1, -1);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      left = leaks(router, clock, -1, -1);
    }
    assert.deepEqual(left, []);
  });

  await t.step("nothing follows ABORT to a session that called its own procedure", async () => {
    await using c = await WsConn.open(url, "json");
    await joinRaw(c, callee);
    c.sendMsg([64, 1, {}, "com.corpus.self"]);
    assert.equal((await expectMsg(c, "REGISTER"))[0], 65);
    c.sendMsg([48, 2, {}, "com.corpus.self"]);
    assert.equal((await expectMsg(c, "CALL"))[0], 68);
    c.sendMsg([99]);
    assert.equal((await expectMsg(c, "[99]"))[0], 3);
    const after = await c.next();
    assert.equal(after.kind, "closed", `after ABORT: ${lit(after)}`);
  });

  await t.step(
    "nothing follows the GOODBYE reply to a session that called its own procedure",
    async () => {
      await using c = await WsConn.open(url, "json");
      await joinRaw(c, callee);
      c.sendMsg([64, 1, {}, "com.corpus.self2"]);
      assert.equal((await expectMsg(c, "REGISTER"))[0], 65);
      c.sendMsg([48, 2, {}, "com.corpus.self2"]);
      assert.equal((await expectMsg(c, "CALL"))[0], 68);
      c.sendMsg([6, {}, "wamp.close.normal"]);
      assert.equal((await expectMsg(c, "GOODBYE"))[0], 6);
      // the session is closed: the next message can only be the WELCOME of a new HELLO
      c.sendMsg([1, "realm1", { roles: { caller: {} } }]);
      const next = await expectMsg(c, "HELLO after GOODBYE");
      assert.equal(next[0], 2, `after GOODBYE: ${lit(next)}`);
    },
  );

  await t.step(
    "no meta EVENT follows ABORT to a session watching its own subscriptions",
    async () => {
      await using c = await WsConn.open(url, "json");
      await joinRaw(c, { subscriber: {} });
      c.sendMsg([32, 1, {}, "com.corpus.any"]);
      assert.equal((await expectMsg(c, "SUBSCRIBE"))[0], 33);
      c.sendMsg([32, 2, {}, "wamp.subscription.on_unsubscribe"]);
      assert.equal((await expectMsg(c, "SUBSCRIBE"))[0], 33);
      c.sendMsg([99]);
      assert.equal((await expectMsg(c, "[99]"))[0], 3);
      const after = await c.next();
      assert.equal(after.kind, "closed", `after ABORT: ${lit(after)}`);
    },
  );

  await t.step("a callee's ERROR with an invalid error URI does not reach the caller", async () => {
    await using provider = await WsConn.open(url, "json");
    await using caller = await WsConn.open(url, "json");
    await joinRaw(provider, { callee: {} });
    await joinRaw(caller, { caller: {} });
    provider.sendMsg([64, 1, {}, "com.corpus.error"]);
    assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
    caller.sendMsg([48, 1, {}, "com.corpus.error"]);
    const inv = await expectMsg(provider, "CALL");
    provider.sendMsg([8, 68, inv[1], {}, "not a uri #"]);
    const reply = await expectMsg(caller, "ERROR from the callee");
    assert.equal(reply[0], 8);
    assert.ok(isValidUri(reply[4] as string, "exact", false), `caller got ${lit(reply)}`);
  });

  await t.step(
    "an INVOCATION the callee's serializer cannot carry still ends the call",
    async () => {
      await using provider = await WsConn.open(url, "msgpack");
      await using caller = await WsConn.open(url, "json");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.big"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      // 2^64 fits JSON but no MessagePack integer
      caller.sendPayload('[48,1,{},"com.corpus.big",[18446744073709551616]]');
      const reply = await caller.next();
      assert.ok(
        reply.kind === "msg" && (reply.msg[0] === 50 || reply.msg[0] === 8),
        `the caller got no RESULT or ERROR: ${lit(reply)}`,
      );
    },
  );

  await t.step("a CALL timeout of 2^31 ms does not cancel the call at once", async () => {
    await using provider = await WsConn.open(url, "json");
    await using caller = await WsConn.open(url, "json");
    await joinRaw(provider, { callee: {} });
    await joinRaw(caller, { caller: {} });
    provider.sendMsg([64, 1, {}, "com.corpus.slow"]);
    assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
    caller.sendMsg([48, 1, { timeout: 2 ** 31 }, "com.corpus.slow"]);
    const inv = await expectMsg(provider, "CALL");
    await new Promise((r) => setTimeout(r, 50)); // a callee that takes a moment
    provider.sendMsg([70, inv[1], {}, ["done"]]);
    const reply = await expectMsg(caller, "CALL");
    assert.notEqual(reply[4], "wamp.error.canceled", `a 24-day timeout fired: ${lit(reply)}`);
  });

  await t.step("a CHALLENGE too large for a RawSocket client leaves no timer armed", async () => {
    {
      await using c = await RsConn.open(rs.port, "json", 0);
      c.sendMsg([1, "realm1", {
        roles: { caller: {} },
        authmethods: ["wampcra"],
        authid: "x".repeat(600),
      }]);
      const reply = await c.next();
      assert.ok(reply.kind === "msg" && reply.msg[0] === 3, `expected ABORT, got ${lit(reply)}`);
    }
    const deadline = Date.now() + CLEANUP_MS;
    while (clock.armed.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const armed = [...clock.armed.values()];
    // the router's own timer would also trip Deno's op sanitizer: clear it for the next steps
    for (const id of [...clock.armed.keys()]) clock.clearTimer(id);
    assert.deepEqual(armed, []);
  });

  await t.step(
    "a RawSocket framing violation still sends ABORT while writes are pending",
    async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: rs.port });
      const publisher = await router.session("realm1");
      try {
        await writeAll(conn, new Uint8Array([0x7f, 0xf1, 0, 0]));
        await readExactly(conn, 4);
        const json = (m: unknown[]) => utf8.encode(JSON.stringify(m));
        await writeAll(conn, rsFrame(0, json([1, "realm1", { roles: { subscriber: {} } }])));
        await writeAll(conn, rsFrame(0, json([32, 1, {}, "com.corpus.flood"])));
        let buf: Uint8Array = new Uint8Array(0);
        const frames: string[] = [];
        const readFrame = async (): Promise<string | null> => {
          for (;;) {
            const length = buf.length >= 4 ? (buf[1] << 16) | (buf[2] << 8) | buf[3] : -1;
            if (length >= 0 && buf.length >= 4 + length) {
              const text = new TextDecoder().decode(buf.subarray(4, 4 + length));
              buf = buf.slice(4 + length);
              return text;
            }
            const more = new Uint8Array(64 * 1024);
            const n = await conn.read(more).catch(() => null);
            if (n === null) return null;
            buf = concat(buf, more.subarray(0, n));
          }
        };
        assert.match((await readFrame()) ?? "", /^\[2,/);
        assert.match((await readFrame()) ?? "", /^\[33,/);
        // 24 MB of EVENTs this client does not read yet: the router's writes to it stall
        for (let i = 0; i < 400; i++) {
          await publisher.publish("com.corpus.flood", [
            "x".repeat(60_000),
          ]);
        }
        await writeAll(conn, new Uint8Array([0x08, 0, 0, 2, 0x5b, 0x5d])); // reserved bits set
        for (let f = await readFrame(); f !== null; f = await readFrame()) {
          frames.push(
            f.slice(0, 80),
          );
        }
        assert.ok(
          frames.some((f) => f.startsWith("[3,")),
          `no ABORT among the ${frames.length} frames before the close`,
        );
      } finally {
        conn.close();
        await publisher.close();
      }
    },
  );

  await t.step(
    "a msgpack string starting with U+0000 does not reach a JSON peer undecodable",
    async () => {
      await using provider = await WsConn.open(url, "json");
      await using caller = await WsConn.open(url, "msgpack");
      await joinRaw(provider, { callee: {} });
      await joinRaw(caller, { caller: {}, publisher: {} });
      provider.sendMsg([64, 1, {}, "com.corpus.nul"]);
      assert.equal((await expectMsg(provider, "REGISTER"))[0], 65);
      // a plain string for MessagePack; in WAMP's JSON a leading U+0000 marks base64 bytes
      caller.sendMsg([48, 1, {}, "com.corpus.nul", ["\u0000!!"]]);
      caller.sendMsg([16, 2, { acknowledge: true }, "com.corpus.probe"]);
      let refused = false;
      for (;;) {
        const m = await expectMsg(caller, "CALL");
        if (m[0] === 17) break;
        if ((m[0] === 8 && m[2] === 1) || m[0] === 3) {
          refused = true;
          break;
        }
      }
      if (!refused) {
        const inv = await provider.next();
        assert.ok(inv.kind === "msg", `the JSON callee got ${lit(inv)}`);
      }
    },
  );

  await t.step("a RawSocket client with a small maximum still gets its ABORT", async () => {
    await using c = await RsConn.open(rs.port, "json", 0);
    c.sendMsg([1, "x".repeat(600), { roles: { caller: {} } }]);
    const reply = await c.next();
    assert.ok(reply.kind === "msg" && reply.msg[0] === 3, `expected ABORT, got ${lit(reply)}`);
  });
});
