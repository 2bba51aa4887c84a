/**
 * Makes a repeated `end()` of a `ws` frame receiver cheap.
 *
 * `ws` ends a connection's `Receiver` (a Node.js `Writable`) up to three times on a normal
 * close: itself when the close frame arrives, then again when the peer's FIN arrives and when
 * the socket closes. Node's `end()` on an ended stream builds an `ERR_STREAM_ALREADY_FINISHED`
 * error, with a stack trace, and drops it when no callback is given. In a session storm
 * (`deno task bench --case session-storm --cpu-prof DIR`) building those errors was 26–28 % of
 * the router's CPU. A repeated `end()` without data or callback now returns at once, which is
 * what Node does once it has built and dropped the error; every other call is Node's own.
 *
 * Imported for its effect by the modules that create `ws` servers; the patch is applied once.
 *
 * @module
 */

// @ts-types="@types/ws"
import * as ws from "ws";
import { Writable } from "node:stream";

type End = (this: Writable, ...args: unknown[]) => Writable;

const nodeEnd = Writable.prototype.end as End;
/** `ws` exports its `Receiver` class; its type declarations do not list it. */
const receiver = (ws as unknown as { Receiver: { prototype: { end: End } } }).Receiver.prototype;

if (receiver.end === nodeEnd) {
  receiver.end = function (this: Writable, ...args: unknown[]): Writable {
    if (args.length === 0 && this.writableEnded) return this;
    return nodeEnd.apply(this, args);
  };
}
