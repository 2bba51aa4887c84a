/**
 * The encoding of cluster messages on the bus and of values in buckets: MessagePack (msgpackr).
 *
 * What round-trips: `null`, booleans, strings, numbers (integers exact up to ±2^53: msgpackr
 * writes integers past 32 bits as float64, which holds them exactly), `bigint` in the 64-bit
 * range (as int64/uint64; decoded as `number` when within ±2^53, else `bigint`), binary as a
 * plain `Uint8Array`, arrays, and maps as plain objects (a `Map` is written as a map too and
 * comes back as an object). An `undefined` value is written as nil. A key `__proto__` comes back
 * as `__proto_` (msgpackr's guard against prototype pollution).
 *
 * Every node decodes what any peer on the bus publishes, so {@link decode} treats its input as
 * hostile: malformed bytes, trailing bytes, values outside the data model above (timestamps,
 * other extension types) and nesting past the depth limit raise {@link CodecError} and nothing
 * else.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { type Options as UnpackrOptions, Unpackr } from "msgpackr/unpack";

/** Default nesting limit of {@link decode}: above the router's own `max_nesting` (≤ 1000). */
export const DEFAULT_MAX_DEPTH = 1100;

/** A value that cannot be encoded, or bytes that are not a cluster message. */
export class CodecError extends Error {
  /** Always `CodecError`. */
  override name = "CodecError";
}

const packr = new Packr({
  useRecords: false,
  encodeUndefinedAsNil: true,
  // bigint beyond 64 bits is an error rather than a float or an extension type.
  largeBigIntToFloat: false,
});

/**
 * `int64AsType: "auto"` (exact `number` up to ±2^53, `bigint` beyond) is missing from the
 * package's type declarations, hence the cast.
 */
const unpackr = new Unpackr(
  {
    useRecords: false,
    mapsAsObjects: true,
    copyBuffers: true,
    int64AsType: "auto",
  } as unknown as UnpackrOptions,
);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Encodes `value` (see the module doc for the data model). */
export function encode(value: unknown): Uint8Array {
  let packed: Uint8Array;
  try {
    packed = packr.pack(value);
  } catch (error) {
    throw new CodecError(`cannot encode cluster message: ${message(error)}`, { cause: error });
  }
  // msgpackr returns a view of its shared buffer: a copy of its own does not keep that alive.
  return new Uint8Array(packed);
}

/**
 * Encodes `value` like {@link encode}, without copying it out of the encoder's buffer: for bytes
 * handed on at once (a message published on the bus; nats.js copies what it sends before the next
 * task). The view stays intact (the encoder writes each value after the last and starts a new
 * buffer when one is full: `tests/cluster_codec_view_test.ts`), but it keeps that buffer (8 KiB)
 * alive, so values held for long (bucket values, kept copies) go through {@link encode}.
 */
export function encodeView(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (error) {
    throw new CodecError(`cannot encode cluster message: ${message(error)}`, { cause: error });
  }
}

/**
 * Checks, in place, that a decoded value is inside the data model and not nested deeper than
 * `maxDepth`; turns msgpackr's Buffer views into plain Uint8Arrays.
 */
function check(value: unknown, depth: number, maxDepth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (depth > maxDepth) {
    throw new CodecError(`cluster message nested deeper than ${maxDepth} levels`);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = check(value[i], depth + 1, maxDepth);
    return value;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw new CodecError(
      `cluster message holds an unsupported value (${typeof name === "string" ? name : "object"})`,
    );
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = check(record[key], depth + 1, maxDepth);
  return value;
}

/**
 * Decodes one value from `bytes`, which must hold exactly one MessagePack item.
 * @throws {CodecError} for anything that is not a well-formed value of the data model, or is
 *   nested deeper than `maxDepth` (arrays and maps count one level each).
 */
export function decode(bytes: Uint8Array, maxDepth: number = DEFAULT_MAX_DEPTH): unknown {
  if (bytes.byteLength === 0) throw new CodecError("empty cluster message");
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (error) {
    // Includes RangeError from a nesting deep enough to exhaust the stack.
    throw new CodecError(`malformed cluster message: ${message(error)}`, { cause: error });
  }
  return check(value, 1, maxDepth);
}
