/**
 * A small WebSocket client (RFC 6455) over `Deno.connect`, for the benchmark's load generator.
 *
 * Deno's built-in `WebSocket` client leaves Nagle's algorithm on (reported to stall
 * request/response loads by ~40 ms). This client sets `TCP_NODELAY` on its socket, masks its
 * frames as a client must, sends text and binary messages (optionally fragmented), reassembles
 * fragmented and large incoming messages (64-bit lengths), answers pings with pongs and performs
 * the closing handshake. Frames queued in the same turn of the event loop are written with a single
 * `write` call.
 *
 * @module
 */

/** Read buffer size of a new connection; it doubles while reads fill it, up to the maximum. */
const INITIAL_READ_BUFFER = 4096;
const MAX_READ_BUFFER = 256 * 1024;

const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Opcodes of RFC 6455 §5.2. */
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A received or sent message: text frames carry strings, binary frames bytes. */
export type WsMessage = string | Uint8Array;

/** Options for {@linkcode connectWebSocket}. */
export interface WsConnectOptions {
  /** Port of the server. */
  readonly port: number;
  /** Host to connect to; default `127.0.0.1`. */
  readonly hostname?: string;
  /** Request path (with query, if any); default `/`. */
  readonly path?: string;
  /** Subprotocols offered in `Sec-WebSocket-Protocol`; when given, the server must pick one. */
  readonly protocols?: readonly string[];
  /** Largest accepted incoming message in bytes; default 16 MiB. */
  readonly maxMessageSize?: number;
  /** Gives up on the handshake after this many milliseconds; default 10 000. */
  readonly handshakeTimeoutMs?: number;
}

/** How a connection ended. */
export interface WsCloseInfo {
  /** Close code of the peer's close frame; 1005 when it had none, 1006 when TCP dropped. */
  readonly code: number;
  /** Close reason from the peer's close frame. */
  readonly reason: string;
  /** True when both sides exchanged close frames. */
  readonly wasClean: boolean;
}

/** Raised for a failed handshake or a protocol violation by the server. */
export class WebSocketError extends Error {
  override name = "WebSocketError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Pool of random bytes for mask keys, refilled 4 KiB at a time. */
const maskPool = new Uint8Array(4096);
let maskPos = maskPool.length;

function nextMask(out: Uint8Array, at: number): void {
  if (maskPos + 4 > maskPool.length) {
    crypto.getRandomValues(maskPool);
    maskPos = 0;
  }
  out[at] = maskPool[maskPos]!;
  out[at + 1] = maskPool[maskPos + 1]!;
  out[at + 2] = maskPool[maskPos + 2]!;
  out[at + 3] = maskPool[maskPos + 3]!;
  maskPos += 4;
}

/** Builds one masked client frame. */
function buildFrame(fin: boolean, opcode: number, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + lenBytes + 4;
  const frame = new Uint8Array(head + len);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (lenBytes === 0) {
    frame[1] = 0x80 | len;
  } else if (lenBytes === 2) {
    frame[1] = 0x80 | 126;
    frame[2] = len >>> 8;
    frame[3] = len & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(len / 0x1_0000_0000));
    view.setUint32(6, len >>> 0);
  }
  const maskAt = head - 4;
  nextMask(frame, maskAt);
  const m0 = frame[maskAt]!,
    m1 = frame[maskAt + 1]!,
    m2 = frame[maskAt + 2]!,
    m3 = frame[maskAt + 3]!;
  let i = 0;
  const n4 = len - (len & 3);
  for (; i < n4; i += 4) {
    frame[head + i] = payload[i]! ^ m0;
    frame[head + i + 1] = payload[i + 1]! ^ m1;
    frame[head + i + 2] = payload[i + 2]! ^ m2;
    frame[head + i + 3] = payload[i + 3]! ^ m3;
  }
  for (; i < len; i++) frame[head + i] = payload[i]! ^ frame[maskAt + (i & 3)]!;
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

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + ACCEPT_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

function indexOfHeaderEnd(buf: Uint8Array, end: number): number {
  for (let i = 3; i < end; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/**
 * Opens a WebSocket connection: TCP connect with `TCP_NODELAY`, then the HTTP/1.1 upgrade
 * handshake (key/accept check, subprotocol negotiation).
 *
 * @throws {WebSocketError} when the server refuses the upgrade or picks no offered subprotocol.
 */
export async function connectWebSocket(options: WsConnectOptions): Promise<WebSocketClient> {
  const hostname = options.hostname ?? "127.0.0.1";
  const conn = await Deno.connect({ hostname, port: options.port, transport: "tcp" });
  conn.setNoDelay(true);
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  try {
    const key = randomKey();
    const lines = [
      `GET ${options.path ?? "/"} HTTP/1.1`,
      `Host: ${hostname}:${options.port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
    ];
    const offered = options.protocols ?? [];
    if (offered.length > 0) lines.push(`Sec-WebSocket-Protocol: ${offered.join(", ")}`);
    const request = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    let off = 0;
    while (off < request.length) off += await conn.write(request.subarray(off));

    let buf = new Uint8Array(4096);
    let end = 0;
    let headerEnd = -1;
    while (headerEnd < 0) {
      if (end === buf.length) {
        if (buf.length >= 65536) throw new WebSocketError("handshake response headers too large");
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) throw new WebSocketError("connection closed during handshake");
      end += n;
      headerEnd = indexOfHeaderEnd(buf, end);
    }
    const head = new TextDecoder().decode(buf.subarray(0, headerEnd));
    const [statusLine, ...headerLines] = head.split("\r\n");
    const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine!);
    if (status === null || status[1] !== "101") {
      throw new WebSocketError(`upgrade refused: ${statusLine}`);
    }
    const headers = new Map<string, string>();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    if (headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new WebSocketError("missing 'Upgrade: websocket' in handshake response");
    }
    if (!(headers.get("connection") ?? "").toLowerCase().split(/\s*,\s*/).includes("upgrade")) {
      throw new WebSocketError("missing 'Connection: Upgrade' in handshake response");
    }
    if (headers.get("sec-websocket-accept") !== await acceptKey(key)) {
      throw new WebSocketError("wrong Sec-WebSocket-Accept in handshake response");
    }
    const protocol = headers.get("sec-websocket-protocol") ?? "";
    if (offered.length > 0 && !offered.includes(protocol)) {
      throw new WebSocketError(
        protocol === ""
          ? `server picked none of the offered subprotocols (${offered.join(", ")})`
          : `server picked a subprotocol that was not offered: ${protocol}`,
      );
    }
    if (offered.length === 0 && protocol !== "") {
      throw new WebSocketError(`server picked subprotocol ${protocol} though none was offered`);
    }
    clearTimeout(timer);
    return new WebSocketClient(
      conn,
      protocol,
      buf.slice(headerEnd, end),
      options.maxMessageSize ?? 16 * 1024 * 1024,
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
    if (timedOut) throw new WebSocketError(`handshake timed out after ${timeoutMs} ms`);
    throw err;
  }
}

/**
 * An open client-side WebSocket connection. Create one with {@linkcode connectWebSocket}.
 *
 * Incoming messages are delivered synchronously to {@linkcode WebSocketClient.onmessage} in
 * arrival order; binary messages are fresh copies the handler may keep.
 */
export class WebSocketClient {
  /** The subprotocol the server picked (`""` when none was offered). */
  readonly protocol: string;
  /** Called for every complete incoming message. */
  onmessage: ((data: WsMessage) => void) | null = null;
  /** Resolves once the connection has ended, cleanly or not. */
  readonly closed: Promise<WsCloseInfo>;

  readonly #conn: Deno.TcpConn;
  readonly #maxMessageSize: number;
  #resolveClosed!: (info: WsCloseInfo) => void;
  #buf: Uint8Array;
  #start = 0;
  #end: number;
  #lastReadFilled = false;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = -1;
  #queue: Uint8Array[] = [];
  #queueBytes = 0;
  #flushing: Promise<void> | null = null;
  #closeSent = false;
  #closeReceived: { code: number; reason: string } | null = null;
  #ended = false;
  #pongWaiters: Array<() => void> = [];
  #writeFailure: Error | null = null;

  /** Internal: use {@linkcode connectWebSocket}. */
  constructor(conn: Deno.TcpConn, protocol: string, leftover: Uint8Array, maxMessageSize: number) {
    this.#conn = conn;
    this.protocol = protocol;
    this.#maxMessageSize = maxMessageSize;
    this.#buf = new Uint8Array(Math.max(INITIAL_READ_BUFFER, leftover.length * 2));
    this.#buf.set(leftover);
    this.#end = leftover.length;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#readLoop();
  }

  /** This end's address (the client's port, as the server sees it). */
  get localAddr(): Deno.NetAddr {
    return this.#conn.localAddr;
  }

  #stalled: PromiseWithResolvers<void> | null = null;

  /**
   * Stops reading from the connection for good (it can still be closed): a stalled receiver,
   * for slow-consumer loads. What the server sends backs up in the kernel's socket buffers,
   * then in the server.
   */
  stall(): void {
    this.#stalled ??= Promise.withResolvers<void>();
  }

  /** Bytes queued but not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.#queueBytes;
  }

  /** True until a close frame was sent or the connection ended. */
  get isOpen(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /**
   * Sends one message: a string as a text frame, bytes as a binary frame. With
   * `fragmentSize`, a message longer than that is split into continuation frames.
   *
   * @throws {WebSocketError} when the connection is closing or closed.
   */
  send(data: WsMessage, fragmentSize = Infinity): void {
    if (!this.isOpen) throw new WebSocketError("send on a closing or closed WebSocket");
    const text = typeof data === "string";
    const bytes = text ? encoder.encode(data) : data;
    const opcode = text ? OP_TEXT : OP_BINARY;
    if (bytes.length <= fragmentSize) {
      this.#enqueue(buildFrame(true, opcode, bytes));
      return;
    }
    const step = Math.max(1, Math.floor(fragmentSize));
    for (let at = 0; at < bytes.length; at += step) {
      const last = at + step >= bytes.length;
      this.#enqueue(
        buildFrame(last, at === 0 ? opcode : OP_CONTINUATION, bytes.subarray(at, at + step)),
      );
    }
  }

  /** Sends a ping; resolves when the next pong arrives (or the connection ends). */
  ping(payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (!this.isOpen) return Promise.reject(new WebSocketError("ping on a closed WebSocket"));
    if (payload.length > 125) {
      return Promise.reject(new WebSocketError("ping payload longer than 125 bytes"));
    }
    const done = new Promise<void>((resolve) => this.#pongWaiters.push(resolve));
    this.#enqueue(buildFrame(true, OP_PING, payload));
    return done;
  }

  /**
   * Starts the closing handshake and resolves when the connection has ended. The TCP
   * connection is dropped if the server has not answered within `timeoutMs`.
   */
  async close(code = 1000, reason = "", timeoutMs = 2000): Promise<WsCloseInfo> {
    if (!this.#closeSent && !this.#ended) this.#sendClose(code, reason);
    const timer = setTimeout(() => this.#finish(1006, ""), timeoutMs);
    const info = await this.closed;
    clearTimeout(timer);
    return info;
  }

  #sendClose(code: number, reason: string): void {
    this.#closeSent = true;
    const r = encoder.encode(reason);
    const payload = new Uint8Array(2 + r.length);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(r, 2);
    this.#enqueue(buildFrame(true, OP_CLOSE, payload));
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
      this.#writeFailure = err instanceof Error ? err : new Error(String(err));
      this.#finish(1006, "");
    } finally {
      this.#flushing = null;
    }
  }

  /** Resolves once everything queued so far has been handed to the socket. */
  async #afterWrites(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.#ended) {
        this.#parseFrames();
        if (this.#ended) return;
        if (this.#stalled !== null) {
          await this.#stalled.promise; // until the connection ends
          return;
        }
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
        if (!this.#ended) this.#protocolError(1002, (err as Error).message ?? String(err));
        return;
      }
    }
    const cr = this.#closeReceived;
    this.#finish(cr ? cr.code : 1006, cr ? cr.reason : "");
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
      const avail = this.#end - this.#start;
      if (avail < 2) return;
      const p = this.#start;
      const b0 = buf[p]!;
      const b1 = buf[p + 1]!;
      if ((b0 & 0x70) !== 0) return this.#protocolError(1002, "reserved bits set");
      if ((b1 & 0x80) !== 0) return this.#protocolError(1002, "masked frame from server");
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (avail < 4) return;
        len = (buf[p + 2]! << 8) | buf[p + 3]!;
        head = 4;
      } else if (len === 127) {
        if (avail < 10) return;
        const view = new DataView(buf.buffer, buf.byteOffset + p + 2, 8);
        const hi = view.getUint32(0);
        if (hi > 0x1fffff) return this.#protocolError(1009, "frame too large");
        len = hi * 0x1_0000_0000 + view.getUint32(4);
        head = 10;
      }
      if (len > this.#maxMessageSize) return this.#protocolError(1009, "message too large");
      if (avail < head + len) {
        if (head + len > this.#buf.length) this.#ensureCapacity(head + len);
        return;
      }
      const payload = buf.subarray(p + head, p + head + len);
      this.#start = p + head + len;
      this.#onFrame(fin, opcode, payload);
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

  #onFrame(fin: boolean, opcode: number, payload: Uint8Array): void {
    if (opcode >= 0x8) {
      if (!fin || payload.length > 125) {
        return this.#protocolError(1002, "fragmented or oversized control frame");
      }
      if (opcode === OP_PING) {
        if (!this.#closeSent) this.#enqueue(buildFrame(true, OP_PONG, payload));
      } else if (opcode === OP_PONG) {
        const waiters = this.#pongWaiters;
        this.#pongWaiters = [];
        for (const w of waiters) w();
      } else if (opcode === OP_CLOSE) {
        this.#onClose(payload);
      } else {
        return this.#protocolError(1002, `unknown control opcode ${opcode}`);
      }
      return;
    }
    if (opcode === OP_CONTINUATION) {
      if (this.#fragmentOpcode < 0) return this.#protocolError(1002, "unexpected continuation");
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#fragmentOpcode >= 0) return this.#protocolError(1002, "expected continuation");
      if (fin) return this.#deliver(opcode, payload, true);
      this.#fragmentOpcode = opcode;
    } else {
      return this.#protocolError(1002, `unknown data opcode ${opcode}`);
    }
    this.#fragmentBytes += payload.length;
    if (this.#fragmentBytes > this.#maxMessageSize) {
      return this.#protocolError(1009, "message too large");
    }
    this.#fragments.push(payload.slice());
    if (!fin) return;
    const whole = concatBytes(this.#fragments, this.#fragmentBytes);
    const op = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    this.#deliver(op, whole, false);
  }

  #deliver(opcode: number, payload: Uint8Array, borrowed: boolean): void {
    let data: WsMessage;
    if (opcode === OP_TEXT) {
      try {
        data = decoder.decode(payload);
      } catch (err) {
        return this.#protocolError(1007, `invalid UTF-8 in text frame: ${(err as Error).message}`);
      }
    } else {
      data = borrowed ? payload.slice() : payload;
    }
    if (this.#ended) return;
    this.onmessage?.(data);
  }

  #onClose(payload: Uint8Array): void {
    let code = 1005;
    let reason = "";
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      reason = new TextDecoder().decode(payload.subarray(2));
    } else if (payload.length === 1) {
      return this.#protocolError(1002, "close frame with a 1-byte payload");
    }
    this.#closeReceived = { code, reason };
    if (!this.#closeSent) {
      this.#sendClose(code === 1005 ? 1000 : code, "");
    }
    // The server closes the TCP connection after the exchange; finish our writes, then drop ours.
    this.#afterWrites().then(() => this.#finish(code, reason));
  }

  #protocolError(code: number, message: string): void {
    if (!this.#closeSent) this.#sendClose(code, message.slice(0, 120));
    this.#afterWrites().then(() => this.#finish(1006, message));
  }

  #finish(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stalled?.resolve();
    try {
      this.#conn.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
    const waiters = this.#pongWaiters;
    this.#pongWaiters = [];
    for (const w of waiters) w();
    const wasClean = this.#closeSent && this.#closeReceived !== null;
    this.#resolveClosed({ code, reason, wasClean });
  }

  /** The error that broke the write side, if any (for diagnostics). */
  get writeFailure(): Error | null {
    return this.#writeFailure;
  }
}
