/**
 * A listening socket (TCP, TCP with TLS, or a Unix socket) and its accept loop.
 *
 * - **Connection cap**: at most `maxConnections` accepted connections are open at once; one
 *   more is answered by `refuse` (an HTTP 503, a RawSocket "maximum connections" handshake
 *   error) and closed, so the process stays below its file-descriptor limit.
 * - **Accept errors** (the process is out of file descriptors, say) never end the loop: it
 *   backs off (10 ms, doubling up to 1 s) and retries, logging once per burst (at most one
 *   warning per {@linkcode BURST_MS}, with the count of failures since the last one).
 * - **Open handshake deadline**: every connection gets a {@linkcode Deadline}, armed at accept
 *   with `handshakeMs`, that closes it when it expires; the protocol layers clear or re-arm it
 *   (HTTP headers received, WAMP session established, back to idle).
 *
 * @module
 */

import type { Clock, TimerId } from "../clock.ts";
import type { Logger } from "../log.ts";
import { Deadline } from "./deadline.ts";

/** Where a listener binds. */
export type ListenAddress =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** PEM certificate (chain) and key for TLS listeners. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/** One accepted connection, handed to the protocol layer. */
export interface Accepted {
  readonly conn: Deno.Conn;
  /** The open handshake deadline (armed); expiry closes the connection. */
  readonly deadline: Deadline;
  /** Monotonic time (ms) of the accept. */
  readonly acceptedAt: number;
  /** Frees the connection's slot; call once when the connection is closed. */
  release(): void;
}

/** What a {@linkcode Listener} needs. */
export interface ListenerOptions {
  readonly address: ListenAddress;
  readonly tls?: TlsMaterial | null;
  /** Most connections open at once; more are refused. */
  readonly maxConnections: number;
  /** Open handshake deadline armed at accept (ms; 0 = none). */
  readonly handshakeMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The transport kind for log lines (`web`); the bound address is added. */
  readonly name: string;
  /** Hands over an accepted connection. */
  readonly handle: (accepted: Accepted) => void;
  /** Bytes to write to a connection refused for the cap, before it is closed (none: just close). */
  readonly refusal?: Uint8Array | null;
}

/** Longest pause between retries after accept errors. */
const MAX_BACKOFF_MS = 1000;
/** Accept errors within this long of a warning belong to the same burst (not logged again). */
const BURST_MS = 10_000;
/** Refusals being written at once; beyond that, over-cap connections are closed at once. */
const MAX_PENDING_REFUSALS = 256;
/** How long a refusal may take to write before the connection is closed anyway. */
const REFUSAL_TIMEOUT_MS = 1000;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** A bound socket accepting connections until closed. */
export class Listener {
  readonly #listener: Deno.Listener;
  readonly #options: ListenerOptions;
  /** Open connections → their deadline and a resolver run when they are released. */
  readonly #open = new Map<Deno.Conn, { deadline: Deadline; released: Promise<void> }>();
  #closed = false;
  #pendingRefusals = 0;
  #backoffTimer: TimerId | null = null;
  #wakeBackoff: (() => void) | null = null;
  #refused = 0;
  readonly #name: string;
  readonly #done: Promise<void>;

  /**
   * Binds the socket and starts accepting.
   * @throws the `Deno.listen`/`Deno.listenTls` errors (address in use, permission denied …).
   */
  constructor(options: ListenerOptions) {
    this.#options = options;
    const a = options.address;
    if (a.kind === "unix") {
      this.#listener = Deno.listen({ transport: "unix", path: a.path });
    } else if (options.tls) {
      this.#listener = Deno.listenTls({
        hostname: a.host,
        port: a.port,
        cert: options.tls.cert,
        key: options.tls.key,
      });
    } else {
      this.#listener = Deno.listen({ hostname: a.host, port: a.port });
    }
    const bound = this.#listener.addr;
    this.#name = `${options.name} ${
      bound.transport === "unix"
        ? bound.path
        : `${(bound as Deno.NetAddr).hostname}:${(bound as Deno.NetAddr).port}`
    }`;
    this.#done = this.#loop();
  }

  /** The bound address. */
  get addr(): Deno.Addr {
    return this.#listener.addr;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Connections refused so far because the cap was reached. */
  get refused(): number {
    return this.#refused;
  }

  async #loop(): Promise<void> {
    const { clock, logger } = this.#options;
    const name = this.#name;
    let backoff = 0;
    /** Failed accepts since the last warning, and whether the warned burst has recovered. */
    let failures = 0;
    let warnedAt = -Infinity;
    let recovered = true;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closed || e instanceof Deno.errors.BadResource) return;
        if (e instanceof Deno.errors.Interrupted) continue;
        failures++;
        const now = clock.nowMs();
        if (now - warnedAt >= BURST_MS) {
          logger.warn("cannot accept connections; retrying with back-off", {
            transport: name,
            error: e instanceof Error ? e.message : String(e),
            failed_accepts: failures,
          });
          warnedAt = now;
          failures = 0;
          recovered = false;
        }
        backoff = backoff === 0 ? 10 : Math.min(backoff * 2, MAX_BACKOFF_MS);
        await this.#sleep(backoff);
        if (this.#closed) return;
        continue;
      }
      backoff = 0;
      if (!recovered) {
        logger.info("accepting connections again", { transport: name });
        recovered = true;
      }
      if (this.#closed) {
        closeQuietly(conn);
        return;
      }
      if (this.#open.size >= this.#options.maxConnections) {
        this.#refuse(conn);
        continue;
      }
      this.#admit(conn, clock.nowMs());
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeBackoff = resolve;
      this.#backoffTimer = this.#options.clock.setTimer(() => {
        this.#backoffTimer = null;
        this.#wakeBackoff = null;
        resolve();
      }, ms);
    });
  }

  #admit(conn: Deno.Conn, acceptedAt: number): void {
    const { clock, logger, handshakeMs } = this.#options;
    const name = this.#name;
    const deadline = new Deadline(clock, () => {
      logger.debug("open handshake timed out; closing the connection", {
        transport: name,
        timeout_ms: handshakeMs,
      });
      closeQuietly(conn);
    });
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#open.set(conn, { deadline, released: promise });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      deadline.clear();
      this.#open.delete(conn);
      resolve();
    };
    if (handshakeMs > 0) deadline.armAt(acceptedAt + handshakeMs);
    try {
      this.#options.handle({ conn, deadline, acceptedAt, release });
    } catch (e) {
      // a handler must not be able to stop the accept loop
      logger.error("connection handler failed", { transport: name, error: String(e) });
      release();
      closeQuietly(conn);
    }
  }

  #refuse(conn: Deno.Conn): void {
    this.#refused++;
    const refusal = this.#options.refusal;
    if (!refusal || this.#pendingRefusals >= MAX_PENDING_REFUSALS) return closeQuietly(conn);
    this.#pendingRefusals++;
    const { clock } = this.#options;
    const timer = clock.setTimer(() => closeQuietly(conn), REFUSAL_TIMEOUT_MS);
    conn.write(refusal).catch(() => 0).finally(() => {
      clock.clearTimer(timer);
      this.#pendingRefusals--;
      closeQuietly(conn);
    });
  }

  /**
   * Stops accepting. With `closeConnections`, also closes every connection still open and
   * waits (up to `graceMs` on the clock) until their protocol layers have released them.
   */
  async close(closeConnections = false, graceMs = 1000): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#backoffTimer !== null) this.#options.clock.clearTimer(this.#backoffTimer);
      this.#backoffTimer = null;
      this.#wakeBackoff?.();
      this.#wakeBackoff = null;
      try {
        this.#listener.close();
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource)) throw e;
      }
      await this.#done;
    }
    if (!closeConnections || this.#open.size === 0) return;
    const released: Promise<void>[] = [];
    for (const [conn, entry] of this.#open) {
      entry.deadline.clear();
      closeQuietly(conn);
      released.push(entry.released);
    }
    const { clock } = this.#options;
    let timer: TimerId | null = null;
    await Promise.race([
      Promise.all(released),
      new Promise<void>((resolve) => (timer = clock.setTimer(resolve, graceMs))),
    ]);
    if (timer !== null) clock.clearTimer(timer);
  }
}
