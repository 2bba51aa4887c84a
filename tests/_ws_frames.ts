/**
 * Raw WebSocket for hostile tests: an HTTP upgrade written by hand over `Deno.connect`, client
 * frames built byte by byte (masked or not, reserved bits, announced lengths that are never
 * sent in full), and a reader for the router's frames and close codes.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads bytes from a connection on demand. */
export class ByteReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** Reads until `n` bytes are buffered; null when the connection ends first. */
  async need(n: number): Promise<boolean> {
    while (this.#buf.byteLength < n) {
      const chunk = new Uint8Array(64 * 1024);
      let got: number | null;
      try {
        got = await this.conn.read(chunk);
      } catch (e) {
        if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BadResource) {
          return false;
        }
        throw e;
      }
      if (got === null) return false;
      const next = new Uint8Array(this.#buf.byteLength + got);
      next.set(this.#buf);
      next.set(chunk.subarray(0, got), this.#buf.byteLength);
      this.#buf = next;
    }
    return true;
  }

  /** Takes `n` buffered bytes. */
  take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Reads up to and including the end of an HTTP head; null when the connection ends. */
  async head(): Promise<string | null> {
    for (;;) {
      const text = decoder.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const bytes = encoder.encode(text.slice(0, end + 4)).byteLength;
        return decoder.decode(this.take(bytes));
      }
      if (!(await this.need(this.#buf.byteLength + 1))) return null;
    }
  }

  /** True when the connection has ended (reads nothing more). */
  async ended(): Promise<boolean> {
    return !(await this.need(this.#buf.byteLength + 1));
  }
}

/** The upgrade request for `path` offering `protocol`. */
export function upgradeRequest(path: string, protocol: string, extra = ""): Uint8Array {
  return encoder.encode(
    `GET /${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: ${protocol}\r\n${extra}\r\n`,
  );
}

/** Connects and upgrades; returns the connection, its reader and the response head. */
export async function rawUpgrade(
  port: number,
  path = "ws",
  protocol = "wamp.2.json",
  extraHeaders = "",
): Promise<{ conn: Deno.TcpConn; reader: ByteReader; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(upgradeRequest(path, protocol, extraHeaders));
  const reader = new ByteReader(conn);
  const head = await reader.head();
  if (head === null) throw new Error("connection closed during the upgrade");
  return { conn, reader, head };
}

/** Options of a client frame. */
export interface FrameOptions {
  /** Mask the payload, as RFC 6455 requires of clients (default true). */
  mask?: boolean;
  /** Reserved bits RSV1-3 (0..7). */
  rsv?: number;
  fin?: boolean;
  /** Announce this payload length instead of the real one (the rest never comes). */
  announce?: number;
}

/** A client frame: opcode 1 text, 2 binary, 8 close, 9 ping. */
export function clientFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const mask = options.mask ?? true;
  const length = options.announce ?? data.byteLength;
  const header: number[] = [
    ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode,
  ];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push(
      (length >>> 24) & 0xff,
      (length >>> 16) & 0xff,
      (length >>> 8) & 0xff,
      length & 0xff,
    );
  }
  const key = mask ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const out = new Uint8Array(header.length + key.length + data.byteLength);
  out.set(header);
  out.set(key, header.length);
  for (let i = 0; i < data.byteLength; i++) {
    out[header.length + key.length + i] = mask ? data[i]! ^ key[i % 4]! : data[i]!;
  }
  return out;
}

/** A frame the router sent. */
export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Uint8Array;
}

/** Reads the router's next frame, or null when the connection ends. */
export async function readFrame(reader: ByteReader): Promise<ServerFrame | null> {
  if (!(await reader.need(2))) return null;
  const [b0, b1] = reader.take(2);
  let length = b1! & 0x7f;
  if (length === 126) {
    if (!(await reader.need(2))) return null;
    const l = reader.take(2);
    length = (l[0]! << 8) | l[1]!;
  } else if (length === 127) {
    if (!(await reader.need(8))) return null;
    const l = reader.take(8);
    length = Number(new DataView(l.buffer, l.byteOffset, 8).getBigUint64(0));
  }
  if (!(await reader.need(length))) return null;
  return { opcode: b0! & 0x0f, payload: reader.take(length) };
}

/**
 * Reads frames until the router's close frame and returns its close code (null: the
 * connection ended without one).
 */
export async function closeCode(reader: ByteReader): Promise<number | null> {
  for (;;) {
    const f = await readFrame(reader);
    if (f === null) return null;
    if (f.opcode === 8) {
      return f.payload.byteLength >= 2 ? (f.payload[0]! << 8) | f.payload[1]! : 1005;
    }
  }
}

/** Reads frames until a text/binary one arrives; returns its payload (null: closed). */
export async function readMessage(reader: ByteReader): Promise<Uint8Array | null> {
  for (;;) {
    const f = await readFrame(reader);
    if (f === null || f.opcode === 8) return null;
    if (f.opcode === 1 || f.opcode === 2) return f.payload;
  }
}

/** Sends a WAMP message as JSON text. */
export async function sendJson(conn: Deno.Conn, msg: unknown[]): Promise<void> {
  await conn.write(clientFrame(1, JSON.stringify(msg)));
}

/** Reads the next WAMP message as JSON (null: closed). */
export async function readJson(reader: ByteReader): Promise<unknown[] | null> {
  const m = await readMessage(reader);
  return m === null ? null : JSON.parse(decoder.decode(m));
}
