/**
 * The batched WebSocket subprotocols (`wamp.2.json.batched`, `wamp.2.msgpack.batched`,
 * `wamp.2.cbor.batched`, WAMP advanced profile "Message Batching"): several WAMP messages in one
 * WebSocket message, each encoded as usual. JSON appends the ASCII record separator (0x1e)
 * to every message; MessagePack and CBOR put a 4-byte big-endian length before every message.
 * A batch holds at least one message: an empty batch, an empty message, a JSON batch whose last
 * message lacks its separator and a length that runs past the end are malformed.
 *
 * Autobahn|Python (and so Crossbar) writes the JSON separator as `b'\30'`, which Python reads
 * as octal: 0x18 (CAN), not the spec's 0x1e. Neither byte can appear raw in JSON text, so a
 * JSON batch may end its messages with either, and the peer answers with the one its client
 * uses ({@linkcode jsonSeparatorOf}).
 *
 * Pure functions over payloads; the WebSocket peer decides when to batch.
 *
 * @module
 */

import { concatInSlab } from "./slab.ts";
import { type Payload, SerializationError, type Serializer } from "./serializer.ts";

/** The spec's JSON batch separator, ASCII RS (0x1e). */
export const RECORD_SEPARATOR = "\x1e";
/** The JSON batch separator Autobahn|Python and Crossbar write: 0x18 (`b'\30'`, octal). */
export const AUTOBAHN_SEPARATOR = "\x18";
const RS_BYTES = new Uint8Array([0x1e]);
const CAN_BYTES = new Uint8Array([0x18]);
/** The length prefix of a binary batch's messages. */
const PREFIX = 4;

/** A malformed batch (the transport fails with a protocol error). */
export class BatchError extends SerializationError {
  override name = "BatchError";
}

/** The batched variant of `serializer`: the same codec, subprotocol `<plain>.batched`. */
export function batchedVariant(serializer: Serializer): Serializer {
  return Object.freeze<Serializer>({
    ...serializer,
    subprotocol: `${serializer.subprotocol}.batched`,
    batched: true,
  });
}

/**
 * The messages of one batched WebSocket message, in order, each at most `maxMessage` bytes.
 * Text for JSON, bytes (views into `payload`, not copies) for the binary serializers.
 * @throws {BatchError} for a malformed batch or a message over `maxMessage`.
 */
export function splitBatch(
  serializer: Serializer,
  payload: Payload,
  maxMessage: number,
  separator: string = RECORD_SEPARATOR,
): Payload[] {
  if (typeof payload === "string") {
    if (payload.length === 0) {
      throw new BatchError("empty batch (a batch holds at least one message)");
    }
    if (!payload.endsWith(separator)) {
      const hex = separator.charCodeAt(0).toString(16);
      throw new BatchError(
        `truncated batch: the last message lacks its record separator (0x${hex})`,
      );
    }
    const parts = payload.slice(0, -1).split(separator);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long batch needs its parts measured
    const measure = payload.length * 3 > maxMessage;
    for (const [i, part] of parts.entries()) {
      if (part.length === 0) {
        throw new BatchError(`empty message at position ${i + 1} of the batch`);
      }
      if (!measure) continue;
      const bytes = serializer.byteLength(part);
      if (bytes > maxMessage) throw tooLarge(i, bytes, maxMessage);
    }
    return parts;
  }
  const total = payload.byteLength;
  if (total === 0) throw new BatchError("empty batch (a batch holds at least one message)");
  const view = new DataView(payload.buffer, payload.byteOffset, total);
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < total) {
    if (at + PREFIX > total) {
      throw new BatchError(
        `truncated batch: ${total - at} bytes left where a 4-byte length prefix was expected`,
      );
    }
    const length = view.getUint32(at);
    const i = parts.length;
    if (length === 0) throw new BatchError(`empty message at position ${i + 1} of the batch`);
    if (length > maxMessage) throw tooLarge(i, length, maxMessage);
    if (at + PREFIX + length > total) {
      throw new BatchError(
        `truncated batch: message ${i + 1} announces ${length} bytes, ${
          total - at - PREFIX
        } follow`,
      );
    }
    parts.push(payload.subarray(at + PREFIX, at + PREFIX + length));
    at += PREFIX + length;
  }
  return parts;
}

function tooLarge(i: number, bytes: number, max: number): BatchError {
  return new BatchError(
    `message ${i + 1} of the batch has ${bytes} bytes, over the limit of ${max} bytes`,
  );
}

/**
 * The separator a JSON batch from a client uses: its last character when that is 0x1e or
 * 0x18, else null (the batch is malformed).
 */
export function jsonSeparatorOf(payload: string): string | null {
  const last = payload.slice(-1);
  return last === RECORD_SEPARATOR || last === AUTOBAHN_SEPARATOR ? last : null;
}

/** One batched WebSocket message of JSON texts: each followed by `separator`. */
export function joinTextBatch(
  texts: readonly string[],
  separator: string = RECORD_SEPARATOR,
): string {
  return texts.join(separator) + separator;
}

/**
 * One batched WebSocket message as bytes: for JSON (`binary` false) the UTF-8 texts each
 * followed by `jsonSeparator` ({@linkcode RECORD_SEPARATOR} or {@linkcode AUTOBAHN_SEPARATOR}),
 * for MessagePack and CBOR each message after its 4-byte big-endian length.
 */
export function joinByteBatch(
  parts: readonly Uint8Array[],
  binary: boolean,
  jsonSeparator: string = RECORD_SEPARATOR,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  if (!binary) {
    const separator = jsonSeparator === RECORD_SEPARATOR ? RS_BYTES : CAN_BYTES;
    for (const part of parts) chunks.push(part, separator);
    return concatInSlab(chunks);
  }
  // every length prefix in one small buffer, so a batch costs two allocations, not one a message
  const prefixes = new Uint8Array(PREFIX * parts.length);
  const view = new DataView(prefixes.buffer);
  for (const [i, part] of parts.entries()) {
    view.setUint32(i * PREFIX, part.byteLength);
    chunks.push(prefixes.subarray(i * PREFIX, (i + 1) * PREFIX), part);
  }
  return concatInSlab(chunks);
}

/** What framing adds per message: 1 byte for JSON, 4 for the binary serializers. */
export function batchOverhead(serializer: Serializer): number {
  return serializer.binary ? PREFIX : 1;
}
