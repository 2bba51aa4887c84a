/**
 * When a batched WebSocket connection (`wamp.2.*.batched`) sends: the messages the router
 * hands a peer during one task are collected and leave as one WebSocket message when that
 * task's microtasks run (`queueMicrotask`), so a burst (the events of several publications
 * read from one TCP segment, a callee's progressive results) shares one frame, and a message
 * sent alone still leaves at once, with no timer delaying it. A batch is sent early once it
 * holds {@linkcode BATCH_MAX_MESSAGES} messages or {@linkcode BATCH_MAX_BYTES} bytes; a message
 * that would take it past the byte bound first sends what is collected, and a message larger
 * than the bound goes alone. Before the connection closes, what is collected is sent, so the
 * session's last messages (GOODBYE, ABORT) precede the close frame.
 *
 * @module
 */

/** Most messages in one outgoing batch. */
export const BATCH_MAX_MESSAGES = 256;
/** Most bytes (with the framing) in one outgoing batch, unless one message is larger. */
export const BATCH_MAX_BYTES = 64 * 1024;

/** One connection's outgoing batch. */
export class OutgoingBatch<P> {
  #parts: P[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #send: (parts: P[]) => void;

  /** `send` writes one batch (never empty). */
  constructor(send: (parts: P[]) => void) {
    this.#send = send;
  }

  /** Bytes collected and not yet sent. */
  get pending(): number {
    return this.#bytes;
  }

  /** Adds one encoded message of `bytes` bytes (framing included). */
  add(part: P, bytes: number): void {
    if (this.#parts.length > 0 && this.#bytes + bytes > BATCH_MAX_BYTES) this.flush();
    this.#parts.push(part);
    this.#bytes += bytes;
    if (this.#parts.length >= BATCH_MAX_MESSAGES || this.#bytes >= BATCH_MAX_BYTES) {
      this.flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Sends what is collected now. */
  flush(): void {
    if (this.#parts.length === 0) return;
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    this.#send(parts);
  }

  /** Forgets what is collected (the connection is gone or being dropped). */
  discard(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}
