/**
 * A `Deno.Conn` as a Node.js `Duplex` stream, so `node:http` and the `ws` package can run on
 * connections that Switchboard accepted itself (with `Deno.listen`, whose accept errors can be
 * handled, unlike those of `Deno.serve` and Deno's `node:net` servers, whose accept loops stop
 * for good at the first "too many open files").
 *
 * - Reads go into buffers that start small, grow fast while reads fill them (1 KiB up to
 *   64 KiB) and shrink slowly, so an idle connection, which always has one read pending, holds
 *   1 KiB, not 64, and a busy one reads whole messages.
 * - {@linkcode ConnStream.queue}d bytes of one turn of the event loop leave in one `write`
 *   call (a fan-out costs one system call per connection, not one per message), in order with
 *   what is written through the stream itself (corked writes leave together too).
 * - `end()` shuts down the write side (FIN) and `destroy()` closes the connection.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { concatInSlab } from "../serializer/slab.ts";

const MIN_READ = 1024;
const MAX_READ = 64 * 1024;
/**
 * Messages this large are written on their own instead of batched with the turn's others
 * (measured on fan-out 1 → 10: batching took 128-byte events from 0.87 to 1.25 of the bare
 * relay's rate, but 4 KiB events from 0.94 down to 0.8).
 */
const OWN_WRITE = 2048;
/** Small reads in a row before the read buffer shrinks. */
const SHRINK_AFTER = 8;

type Callback = (error?: Error | null) => void;

/** A connection's bytes as a Node.js stream. */
export class ConnStream extends Duplex {
  readonly conn: Deno.Conn;
  #reading = false;
  #closed = false;
  /** Bytes queued this turn (not yet handed to a write). */
  #batch: Uint8Array[] = [];
  #flushQueued = false;
  /** Bytes queued with `queue()` and not yet taken by the network. */
  #queued = 0;
  /** Every write, in order: queued batches and the stream's own writes. */
  #chain: Promise<void> = Promise.resolve();

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

  /**
   * Disables Nagle's algorithm on TCP connections (a no-op elsewhere). Setting the value it
   * already set makes no system call: the HTTP server sets it on accept and `ws` again on the
   * upgrade (each was 2.5 % of the router's CPU in a session storm).
   */
  setNoDelay(noDelay = true): this {
    const conn = this.conn as Partial<Deno.TcpConn>;
    if (typeof conn.setNoDelay === "function" && !this.#closed && this.#noDelay !== noDelay) {
      conn.setNoDelay(noDelay);
      this.#noDelay = noDelay;
    }
    return this;
  }

  /** The `TCP_NODELAY` value this stream last set (null: never set). */
  #noDelay: boolean | null = null;

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
    for (;;) {
      const buf = new Uint8Array(this.#size);
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
      this.#adapt(n);
      const chunk = Buffer.from(buf.buffer, 0, n);
      // What push() would do at once here (flowing, nothing buffered, someone listening, bytes
      // not decoded to text), without its bookkeeping (the chunk accounting and a nextTick with
      // an async id per read); otherwise push() keeps the order, the backpressure and the
      // encoding set with setEncoding().
      if (
        this.readableFlowing === true && this.readableLength === 0 && !this.destroyed &&
        this.readableEncoding === null && this.listenerCount("data") > 0
      ) {
        this.emit("data", chunk);
        continue;
      }
      if (!this.push(chunk)) {
        this.#reading = false;
        return;
      }
    }
  }

  /** Read buffer size: 1 KiB to start, four times larger after a full read. */
  #size = MIN_READ;
  /** Consecutive reads that used less than a quarter of the buffer. */
  #small = 0;

  /**
   * Grows the read buffer fast when a read filled it (a message in flight needs it) and
   * shrinks it slowly, after a run of small reads, so a busy connection reads whole messages
   * in one go while an idle one goes back to holding 1 KiB.
   */
  #adapt(n: number): void {
    if (n === this.#size) {
      this.#size = Math.min(this.#size * 4, MAX_READ);
      this.#small = 0;
    } else if (n < this.#size / 4 && this.#size > MIN_READ) {
      if (++this.#small >= SHRINK_AFTER) {
        this.#size = Math.max(MIN_READ, this.#size >> 1);
        this.#small = 0;
      }
    } else {
      this.#small = 0;
    }
  }

  /**
   * Queues `bytes` (kept as they are until written) to leave with everything else queued in
   * this turn, in one write, after the writes before it.
   */
  queue(bytes: Uint8Array): void {
    if (this.#closed || this.destroyed) return;
    this.#queued += bytes.byteLength;
    if (bytes.byteLength >= OWN_WRITE) {
      // a large message is written on its own, after what is batched before it: copying it
      // into a batch costs more than the system call saved, and it need not wait for the turn
      this.#flush();
      return this.#chainWrite(bytes);
    }
    this.#batch.push(bytes);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Bytes given to `queue()` and not yet written. */
  get queued(): number {
    return this.#queued;
  }

  /** Hands this turn's batch to the write chain (before any later stream write). */
  #flush(): void {
    this.#flushQueued = false;
    const chunks = this.#batch;
    if (chunks.length === 0) return;
    this.#batch = [];
    this.#chainWrite(chunks.length === 1 ? chunks[0]! : concatInSlab(chunks));
  }

  /** Writes `data` (given to `queue()`) after everything before it. */
  #chainWrite(data: Uint8Array): void {
    const n = data.byteLength;
    this.#chain = this.#chain.then(() => this.#writeAll(data)).then(
      () => void (this.#queued -= n),
      (e) => {
        this.#queued -= n;
        this.destroy(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  override _write(chunk: Buffer, _encoding: string, callback: Callback): void {
    this.#flush();
    this.#chain = this.#chain.then(() => this.#writeAll(chunk)).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(data, "", callback);
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.byteLength) written += await this.conn.write(data.subarray(written));
  }

  /**
   * A repeated `end()` without data or callback returns at once. `ws` ends the socket again when
   * the peer's FIN arrives, after Switchboard ended it: Node's `end()` would build an
   * `ERR_STREAM_ALREADY_FINISHED` error (with a stack trace) only to drop it, 8 % of the
   * router's CPU in a session storm (see `ws_receiver_end.ts` for the same on `ws`'s receiver).
   */
  override end(...args: unknown[]): this {
    if (args.length === 0 && this.writableEnded) return this;
    return (super.end as (...a: unknown[]) => this)(...args);
  }

  override _final(callback: Callback): void {
    if (this.#closed) return callback();
    this.#flush();
    this.#chain.then(() => this.conn.closeWrite()).then(() => callback(), (e) => {
      // the peer may already be gone: nothing is left to shut down
      if (e instanceof Deno.errors.NotConnected || e instanceof Deno.errors.BadResource) {
        return callback();
      }
      callback(e);
    });
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.#batch = [];
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
