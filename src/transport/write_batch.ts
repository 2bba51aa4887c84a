/**
 * Write batching: everything written to a stream within one turn of the event loop leaves in
 * one `write` call. A fan-out of one EVENT to many subscribers, or a burst of results, then
 * costs one system call per connection instead of one per message (measured: about twice the
 * deliveries per second of Deno's own WebSocket server for a 1 → 10 fan-out).
 *
 * @module
 */

/** A stream that can hold writes back (`node:stream` Writable). */
export interface Corkable {
  cork(): void;
  uncork(): void;
  readonly destroyed: boolean;
}

const corked = new Set<Corkable>();
let flushQueued = false;

function flush(): void {
  flushQueued = false;
  for (const stream of corked) {
    if (!stream.destroyed) stream.uncork();
  }
  corked.clear();
}

/** Holds `stream`'s writes until the current turn ends (idempotent within a turn). */
export function batchWrites(stream: Corkable): void {
  if (corked.has(stream)) return;
  stream.cork();
  corked.add(stream);
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flush);
  }
}
