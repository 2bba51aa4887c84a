/**
 * Client connections to the router under test over WebSocket and RawSocket: they send payloads
 * framed as their transport frames them (or any bytes at all), and decode what the router sends
 * into a queue of {@linkcode Incoming} events.
 *
 * @module
 */

import { SERIALIZERS } from "../../src/serializer/registry.ts";
import type { Serializer, SerializerName } from "../../src/serializer/serializer.ts";
import { readExactly } from "../../src/transport/rawsocket.ts";
import { errText, hex } from "./describe.ts";
import type { Endpoint } from "./target.ts";
import { concat, type Payload, rsFrame, utf8, utf8Fatal, type Wire, writeAll } from "./wire.ts";

/** The serializer called `name`. */
function byName(name: string): Serializer {
  return SERIALIZERS.find((s) => s.name === name)!;
}

export type Incoming =
  | { kind: "msg"; msg: unknown[] }
  | { kind: "bad"; error: string; raw: Payload }
  | { kind: "closed" }
  | { kind: "timeout" };

/** A client connection that decodes what the router sends, queued for `next()`. */
export abstract class Conn implements AsyncDisposable {
  readonly #queue: Incoming[] = [];
  #waiter: ((i: Incoming) => void) | null = null;
  closed = false;
  /** Sees every decoded message first; returns true when it consumed it. */
  intercept: ((msg: unknown[]) => boolean) | null = null;
  /** A frame larger than the router's `max_message_size` was sent on this connection. */
  sentOversize = false;
  /** The WebSocket close code the router closed with (null: not a WebSocket, or open). */
  closeCode: number | null = null;
  /** The router's `max_message_size`. */
  readonly maxMessageSize: number;
  /** How long `next()` waits by default. */
  readonly waitMs: number;

  constructor(
    readonly label: string,
    readonly serializer: Serializer,
    endpoint: Endpoint,
  ) {
    this.maxMessageSize = endpoint.maxMessageSize;
    this.waitMs = endpoint.waitMs;
  }

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
  next(ms = this.waitMs): Promise<Incoming> {
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

export class WsConn extends Conn {
  readonly #ws: WebSocket;
  readonly #done: Promise<void>;

  private constructor(ws: WebSocket, label: string, serializer: Serializer, endpoint: Endpoint) {
    super(label, serializer, endpoint);
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

  static async open(endpoint: Endpoint, name: SerializerName): Promise<WsConn> {
    const serializer = byName(name);
    const ws = new WebSocket(endpoint.wsUrl, [serializer.subprotocol]);
    const c = new WsConn(ws, `WebSocket/${name}`, serializer, endpoint);
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
    if (bytes > this.maxMessageSize) this.sentOversize = true;
    this.#ws.send(w.frame === "text" ? w.data as string : w.data as Uint8Array);
  }

  async close(): Promise<void> {
    const s = this.#ws.readyState;
    if (s === WebSocket.OPEN || s === WebSocket.CONNECTING) this.#ws.close();
    await this.#done;
  }
}

export class RsConn extends Conn {
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

  private constructor(conn: Deno.Conn, label: string, serializer: Serializer, endpoint: Endpoint) {
    super(label, serializer, endpoint);
    this.#conn = conn;
    this.#reader = this.#read();
  }

  /** Connects and completes the handshake announcing 2^(9+exponent) bytes as our maximum. */
  static async open(endpoint: Endpoint, name: SerializerName, exponent = 15): Promise<RsConn> {
    const serializer = byName(name);
    const conn = await Deno.connect({ hostname: endpoint.rsHost, port: endpoint.rsPort });
    try {
      await writeAll(conn, new Uint8Array([0x7f, (exponent << 4) | serializer.rawSocketId, 0, 0]));
      const reply = await readExactly(conn, 4);
      if (
        reply.length !== 4 || reply[0] !== 0x7f || (reply[1]! & 0x0f) !== serializer.rawSocketId
      ) {
        throw new Error(`RawSocket handshake refused: ${hex(reply)}`);
      }
    } catch (e) {
      conn.close();
      throw e;
    }
    const max = exponent === 15 ? "" : ` (client maximum ${2 ** (9 + exponent)} bytes)`;
    return new RsConn(conn, `RawSocket/${name}${max}`, serializer, endpoint);
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
          const length = (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!;
          if (buf.length < 4 + length) break;
          const type = buf[0]! & 0x07;
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
    return this.sendRaw(frame.length - 4 > this.maxMessageSize ? frame.subarray(0, 4) : frame);
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

/** A connection of either transport (RawSocket: announcing 2^(9+exponent) bytes as our maximum). */
export function openConn(
  endpoint: Endpoint,
  transport: "ws" | "rs",
  serializer: SerializerName,
  exponent = 15,
): Promise<Conn> {
  return transport === "ws"
    ? WsConn.open(endpoint, serializer)
    : RsConn.open(endpoint, serializer, exponent);
}
