/**
 * A small WAMP RawSocket client over `Deno.connect` (TCP), for the benchmark's load generator.
 *
 * Handshake: the client sends `0x7F, (L << 4) | S, 0, 0` (S = serializer id: 1 JSON,
 * 2 MessagePack, 3 CBOR; 2^(9+L) = the longest message it accepts) and the router answers
 * `0x7F, (L' << 4) | S, 0, 0` with its own limit, or `0x7F, E << 4, 0, 0` with an error code E.
 * Every frame then has a 4-octet header (low 3 bits of octet 0: 0 WAMP message, 1 PING,
 * 2 PONG; octets 1-3: payload length, 24-bit big-endian) and the payload.
 *
 * Like `ws_client.ts` it sets `TCP_NODELAY`, writes the frames queued in the same turn of the
 * event loop with a single `write`, answers PINGs with PONGs and delivers messages
 * synchronously in arrival order: JSON payloads as strings, binary ones as fresh byte copies,
 * the same as the WebSocket client's text and binary frames, so `wamp_client.ts` runs
 * unchanged on either (see {@linkcode WampTransport} there).
 *
 * @module
 */

/** Read buffer size of a new connection; it doubles while reads fill it, up to the maximum. */
const INITIAL_READ_BUFFER = 4096;
const MAX_READ_BUFFER = 256 * 1024;

const MAGIC = 0x7f;
const FRAME_WAMP = 0;
const FRAME_PING = 1;
const FRAME_PONG = 2;

/** Handshake error codes of the router's error reply (high nibble of its second octet). */
export const RAWSOCKET_ERRORS: Readonly<Record<number, string>> = {
  0: "illegal (error code 0)",
  1: "serializer unsupported",
  2: "maximum message length unacceptable",
  3: "use of reserved bits (unsupported feature)",
  4: "maximum connection count reached",
};

/** A received or sent message: JSON as text, binary serializers as bytes. */
export type RawSocketMessage = string | Uint8Array;

/** Options for {@linkcode connectRawSocket}. */
export interface RawSocketConnectOptions {
  /** Port of the router's RawSocket transport. */
  readonly port: number;
  /** Host to connect to; default `127.0.0.1`. */
  readonly hostname?: string;
  /** RawSocket serializer id: 1 JSON, 2 MessagePack, 3 CBOR. */
  readonly serializerId: number;
  /**
   * Whether payloads are text (JSON): incoming ones are then decoded as UTF-8 strings. Default:
   * true for serializer id 1.
   */
  readonly text?: boolean;
  /**
   * Length exponent L offered in the handshake: this client accepts messages up to 2^(9+L)
   * bytes. 0..15; default 15 (16 MiB).
   */
  readonly maxLengthExponent?: number;
  /** Gives up on the handshake after this many milliseconds; default 10 000. */
  readonly handshakeTimeoutMs?: number;
}

/** How a connection ended. */
export interface RawSocketCloseInfo {
  /** Why it ended (`""` when this side closed it). */
  readonly reason: string;
  /** True when this side closed it after its writes went out, false when it dropped. */
  readonly wasClean: boolean;
}

/** Raised for a failed handshake or a protocol violation by the router. */
export class RawSocketClientError extends Error {
  override name = "RawSocketClientError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Builds one frame: header + payload. */
function buildFrame(type: number, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const frame = new Uint8Array(4 + len);
  frame[0] = type;
  frame[1] = (len >>> 16) & 0xff;
  frame[2] = (len >>> 8) & 0xff;
  frame[3] = len & 0xff;
  frame.set(payload, 4);
  return frame;
}

function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Reads exactly `out.length` bytes; false if the connection ended first. */
async function readFull(conn: Deno.Conn, out: Uint8Array): Promise<boolean> {
  let at = 0;
  while (at < out.length) {
    const n = await conn.read(out.subarray(at));
    if (n === null) return false;
    at += n;
  }
  return true;
}

/**
 * Connects to a RawSocket transport and performs the handshake.
 *
 * @throws {RawSocketClientError} on an error reply, a reply that is not a RawSocket
 *   handshake or names another serializer, or a timeout.
 */
export async function connectRawSocket(options: RawSocketConnectOptions): Promise<RawSocketClient> {
  const id = options.serializerId;
  if (!Number.isInteger(id) || id < 1 || id > 15) {
    throw new RawSocketClientError(`serializer id must be 1..15, got ${id}`);
  }
  const exp = options.maxLengthExponent ?? 15;
  if (!Number.isInteger(exp) || exp < 0 || exp > 15) {
    throw new RawSocketClientError(`length exponent must be 0..15, got ${exp}`);
  }
  const conn = await Deno.connect({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    transport: "tcp",
  });
  conn.setNoDelay(true);
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  try {
    const hello = new Uint8Array([MAGIC, (exp << 4) | id, 0, 0]);
    let off = 0;
    while (off < hello.length) off += await conn.write(hello.subarray(off));
    // Exactly 4 octets: the router sends nothing more before our HELLO, and nothing is over-read.
    const reply = new Uint8Array(4);
    if (!await readFull(conn, reply)) {
      throw new RawSocketClientError("connection closed during the handshake");
    }
    if (reply[0] !== MAGIC) {
      throw new RawSocketClientError(
        `not a RawSocket handshake reply: ${[...reply].map((b) => b.toString(16)).join(" ")}`,
      );
    }
    if ((reply[1]! & 0x0f) === 0) {
      const code = reply[1]! >> 4;
      throw new RawSocketClientError(
        `handshake refused: ${RAWSOCKET_ERRORS[code] ?? `error code ${code}`}`,
      );
    }
    if ((reply[1]! & 0x0f) !== id) {
      throw new RawSocketClientError(
        `router answered with serializer ${reply[1]! & 0x0f}, not the requested ${id}`,
      );
    }
    if (reply[2] !== 0 || reply[3] !== 0) {
      throw new RawSocketClientError("reserved octets set in the handshake reply");
    }
    clearTimeout(timer);
    return new RawSocketClient(
      conn,
      options.text ?? id === 1,
      2 ** (9 + exp),
      2 ** (9 + (reply[1]! >> 4)),
    );
  } catch (err) {
    clearTimeout(timer);
    if (!timedOut) {
      try {
        conn.close();
      } catch (closeErr) {
        if (!(closeErr instanceof Deno.errors.BadResource)) throw closeErr;
      }
    }
    if (timedOut) throw new RawSocketClientError(`handshake timed out after ${timeoutMs} ms`);
    throw err;
  }
}

/**
 * An open RawSocket connection after the handshake. Create one with
 * {@linkcode connectRawSocket}.
 *
 * Incoming WAMP messages are delivered synchronously to {@linkcode RawSocketClient.onmessage}
 * in arrival order.
 */
export class RawSocketClient {
  /** Called for every incoming WAMP message. */
  onmessage: ((data: RawSocketMessage) => void) | null = null;
  /** Resolves once the connection has ended. */
  readonly closed: Promise<RawSocketCloseInfo>;
  /** Largest message this client accepts (what it offered in the handshake). */
  readonly maxIncoming: number;
  /** Largest message the router accepts (from its handshake reply). */
  readonly maxOutgoing: number;

  readonly #conn: Deno.TcpConn;
  readonly #text: boolean;
  #resolveClosed!: (info: RawSocketCloseInfo) => void;
  #buf = new Uint8Array(INITIAL_READ_BUFFER);
  #start = 0;
  #end = 0;
  #lastReadFilled = false;
  #queue: Uint8Array[] = [];
  #queueBytes = 0;
  #flushing: Promise<void> | null = null;
  #closing = false;
  #ended = false;
  #pongWaiters: Array<() => void> = [];

  /** Internal: use {@linkcode connectRawSocket}. */
  constructor(conn: Deno.TcpConn, text: boolean, maxIncoming: number, maxOutgoing: number) {
    this.#conn = conn;
    this.#text = text;
    this.maxIncoming = maxIncoming;
    this.maxOutgoing = maxOutgoing;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#readLoop();
  }

  /** Bytes queued but not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.#queueBytes;
  }

  /** True until {@linkcode close} was called or the connection ended. */
  get isOpen(): boolean {
    return !this.#closing && !this.#ended;
  }

  /**
   * Sends one WAMP message (a string is sent as its UTF-8 bytes).
   *
   * @throws {RawSocketClientError} when the connection is closing or closed, or the message is
   *   longer than the router accepts.
   */
  send(data: RawSocketMessage): void {
    if (!this.isOpen) throw new RawSocketClientError("send on a closing or closed RawSocket");
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length > this.maxOutgoing) {
      throw new RawSocketClientError(
        `message of ${bytes.length} bytes exceeds the router's limit of ${this.maxOutgoing}`,
      );
    }
    this.#enqueue(buildFrame(FRAME_WAMP, bytes));
  }

  /** Sends a PING; resolves when the next PONG arrives (or the connection ends). */
  ping(payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (!this.isOpen) return Promise.reject(new RawSocketClientError("ping on a closed RawSocket"));
    const done = new Promise<void>((resolve) => this.#pongWaiters.push(resolve));
    this.#enqueue(buildFrame(FRAME_PING, payload));
    return done;
  }

  /**
   * Closes the connection once the queued frames went out (RawSocket has no closing
   * handshake), at the latest after `timeoutMs`; resolves when it has ended. `code` and
   * `reason` are accepted for the WebSocket client's signature and ignored.
   */
  async close(_code = 1000, _reason = "", timeoutMs = 2000): Promise<RawSocketCloseInfo> {
    if (!this.#ended && !this.#closing) {
      this.#closing = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const flushed = await Promise.race([
        this.#afterWrites().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      this.#finish("", flushed);
    }
    return await this.closed;
  }

  #enqueue(frame: Uint8Array): void {
    if (this.#ended) return;
    this.#queue.push(frame);
    this.#queueBytes += frame.length;
    // Write on the next microtask, so frames sent in the same turn go out in one write.
    this.#flushing ??= Promise.resolve().then(() => this.#flush());
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#ended) {
        const data = concatBytes(this.#queue, this.#queueBytes);
        this.#queue = [];
        this.#queueBytes = 0;
        let off = 0;
        while (off < data.length) off += await this.#conn.write(data.subarray(off));
      }
    } catch (err) {
      this.#finish(`write failed: ${(err as Error).message ?? String(err)}`, false);
    } finally {
      this.#flushing = null;
    }
  }

  /** Resolves once everything queued so far has been handed to the socket. */
  async #afterWrites(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #readLoop(): Promise<void> {
    let reason = "connection closed by the router";
    try {
      while (!this.#ended) {
        this.#parseFrames();
        if (this.#ended) return;
        this.#makeRoom();
        const free = this.#buf.length - this.#end;
        const n = await this.#conn.read(this.#buf.subarray(this.#end));
        if (n === null) break;
        this.#lastReadFilled = n === free;
        this.#end += n;
      }
    } catch (err) {
      if (
        !(err instanceof Deno.errors.BadResource) && !(err instanceof Deno.errors.Interrupted) &&
        !(err instanceof Deno.errors.ConnectionReset)
      ) {
        reason = `read failed: ${(err as Error).message ?? String(err)}`;
      }
    }
    this.#finish(reason, false);
  }

  /**
   * Compacts the read buffer, and grows it when less than a quarter is free or the last read
   * filled all free space (busy connections read large chunks; idle ones stay small).
   */
  #makeRoom(): void {
    const pending = this.#end - this.#start;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = pending;
    }
    const free = this.#buf.length - this.#end;
    if (
      free < this.#buf.length / 4 || (this.#lastReadFilled && this.#buf.length < MAX_READ_BUFFER)
    ) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(0, this.#end));
      this.#buf = bigger;
    }
  }

  #parseFrames(): void {
    const buf = this.#buf;
    while (!this.#ended) {
      const p = this.#start;
      if (this.#end - p < 4) return;
      if ((buf[p]! & 0xf8) !== 0) return this.#violation("reserved bits set in a frame header");
      const type = buf[p]! & 0x07;
      const len = (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
      if (type === FRAME_WAMP && len > this.maxIncoming) {
        return this.#violation(`message of ${len} bytes exceeds our limit of ${this.maxIncoming}`);
      }
      if (this.#end - p < 4 + len) {
        if (4 + len > this.#buf.length) this.#ensureCapacity(4 + len);
        return;
      }
      const payload = buf.subarray(p + 4, p + 4 + len);
      this.#start = p + 4 + len;
      if (type === FRAME_WAMP) {
        this.#deliver(payload);
      } else if (type === FRAME_PING) {
        if (!this.#closing) this.#enqueue(buildFrame(FRAME_PONG, payload));
      } else if (type === FRAME_PONG) {
        const waiters = this.#pongWaiters;
        this.#pongWaiters = [];
        for (const w of waiters) w();
      } else {
        return this.#violation(`unknown frame type ${type}`);
      }
    }
  }

  /** Grows the buffer so a frame of `size` bytes fits after compaction. */
  #ensureCapacity(size: number): void {
    const pending = this.#end - this.#start;
    let cap = this.#buf.length;
    while (cap < size + 4096) cap *= 2;
    const bigger = new Uint8Array(cap);
    bigger.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = bigger;
    this.#start = 0;
    this.#end = pending;
  }

  #deliver(payload: Uint8Array): void {
    let data: RawSocketMessage;
    if (this.#text) {
      try {
        data = decoder.decode(payload);
      } catch (err) {
        return this.#violation(`invalid UTF-8 in a text message: ${(err as Error).message}`);
      }
    } else {
      data = payload.slice();
    }
    this.onmessage?.(data);
  }

  /** RawSocket has no close reason on the wire: a violation just drops the connection. */
  #violation(message: string): void {
    this.#finish(message, false);
  }

  #finish(reason: string, wasClean: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#conn.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
    const waiters = this.#pongWaiters;
    this.#pongWaiters = [];
    for (const w of waiters) w();
    this.#resolveClosed({ reason, wasClean });
  }
}
