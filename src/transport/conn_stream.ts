/**
 * A `Deno.Conn` as a Node.js `Duplex` stream, so `node:http` and the `ws` package can run on
 * connections that Switchboard accepted itself (with `Deno.listen`, whose accept errors can be
 * handled, unlike those of `Deno.serve` and Deno's `node:net` servers, whose accept loops stop
 * for good at the first "too many open files").
 *
 * - Reads go into buffers that start small and grow only while reads fill them (1 KiB up to
 *   64 KiB), so an idle connection, which always has one read pending, holds 1 KiB, not 64.
 * - Writes corked together (`cork()` … `uncork()`) leave in one `write` call.
 * - `end()` shuts down the write side (FIN) and `destroy()` closes the connection.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

const MIN_READ = 1024;
const MAX_READ = 64 * 1024;

type Callback = (error?: Error | null) => void;

/** A connection's bytes as a Node.js stream. */
export class ConnStream extends Duplex {
  readonly conn: Deno.Conn;
  #reading = false;
  #closed = false;

  /**
   * @param conn the accepted connection (TCP, TLS or Unix)
   * @param head bytes already read from it, delivered before anything else
   */
  constructor(conn: Deno.Conn, head?: Uint8Array) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.conn = conn;
    if (head !== undefined && head.byteLength > 0) this.push(Buffer.from(head));
  }

  /** The peer's IP address (`node:http` and `ws` read it). */
  get remoteAddress(): string | undefined {
    const a = this.conn.remoteAddr;
    return a.transport === "tcp" ? a.hostname : undefined;
  }

  /** The peer's port. */
  get remotePort(): number | undefined {
    const a = this.conn.remoteAddr;
    return a.transport === "tcp" ? a.port : undefined;
  }

  /** Disables Nagle's algorithm on TCP connections (a no-op elsewhere). */
  setNoDelay(noDelay = true): this {
    const conn = this.conn as Partial<Deno.TcpConn>;
    if (typeof conn.setNoDelay === "function" && !this.#closed) conn.setNoDelay(noDelay);
    return this;
  }

  /** Accepted for `node:http`/`ws`; Switchboard's own deadlines bound idle connections. */
  setTimeout(_ms: number, _callback?: () => void): this {
    return this;
  }

  /** Accepted for `node:http`/`ws`; TCP keepalive is left as the system sets it. */
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.#pump().catch((e) => this.destroy(e instanceof Error ? e : new Error(String(e))));
  }

  async #pump(): Promise<void> {
    let size = MIN_READ;
    for (;;) {
      const buf = new Uint8Array(size);
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch (e) {
        if (this.#closed) return;
        throw e;
      }
      if (n === null) {
        this.push(null);
        return;
      }
      size = n === size ? Math.min(size * 2, MAX_READ) : Math.max(MIN_READ, size >> 1);
      if (!this.push(Buffer.from(buf.buffer, 0, n))) {
        this.#reading = false;
        return;
      }
    }
  }

  override _write(chunk: Buffer, _encoding: string, callback: Callback): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this.#writeAll(data).then(() => callback(), callback);
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.byteLength) written += await this.conn.write(data.subarray(written));
  }

  override _final(callback: Callback): void {
    if (this.#closed) return callback();
    this.conn.closeWrite().then(() => callback(), (e) => {
      // the peer may already be gone: nothing is left to shut down
      if (e instanceof Deno.errors.NotConnected || e instanceof Deno.errors.BadResource) {
        return callback();
      }
      callback(e);
    });
  }

  override _destroy(error: Error | null, callback: Callback): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.conn.close();
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource)) return callback(e as Error);
      }
    }
    callback(error);
  }
}
