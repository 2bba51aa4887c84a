/**
 * CBOR serializer (`wamp.2.cbor`, RawSocket serializer id 3).
 *
 * Codec: `cbor-x` (pure JS), with one walk over the message each way. Measured with
 * `deno run bench/codec_bench.ts` (Deno 2.9.6, V8 15.0, x86_64 Linux, 2 shared cores; ops/s,
 * best of 10 interleaved rounds; small = the 155-byte EVENT with a 128-byte string,
 * large = a 5.4 KB EVENT with a 100-row table):
 *
 * | variant                                  | small enc | small dec | large enc | large dec |
 * | ---------------------------------------- | --------- | --------- | --------- | --------- |
 * | this serializer (cbor-x + walks)         | 1,175,144 | 2,430,471 |    25,788 |    25,538 |
 * | cbor-x alone                             | 1,762,061 | 3,681,883 |    28,863 |    28,956 |
 * | cborg (float64, unsorted maps)           |   566,774 | 1,888,835 |     4,101 |    16,319 |
 *
 * cbor-x alone writes integers beyond 32 bits (WAMP IDs) as float64 and reads every 8-byte
 * integer as `bigint`; cborg meets the rules except for ±2^53 (written as floats) but encodes
 * 2 to 6 times slower, so cbor-x it is, with the walks below.
 *
 * @module
 */

import { Decoder, type Options as CborOptions } from "cbor-x/decode";
import { Encoder } from "cbor-x/encode";
import { utf8ByteLength } from "./json.ts";
import type { Payload, Serializer } from "./serializer.ts";
import { describe, kindOf, SerializationError, tooDeep } from "./serializer.ts";

const TWO_53 = 2 ** 53;
const BIG_TWO_53 = 2n ** 53n;

/**
 * Returns `value` prepared for `cbor-x`, copying containers only where something changes:
 * - integers that need 64 bits become `bigint`, which cbor-x writes as major type 0/1 with
 *   an 8-byte argument (a large `number` would be written as a float64);
 * - `undefined` follows JSON: left out of objects, `null` in arrays (CBOR `undefined` is
 *   not part of the WAMP data model).
 */
function prepareForEncoding(value: unknown): unknown {
  if (typeof value === "number") {
    // cbor-x writes integers in [-2^32, 2^32) itself in the smallest int format.
    if (
      (value > 0xffffffff || value < -0x100000000) && value <= TWO_53 && value >= -TWO_53 &&
      Number.isInteger(value)
    ) {
      return BigInt(value);
    }
    return value;
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const prepared = item === undefined ? null : prepareForEncoding(item);
      if (prepared !== item) {
        copy ??= value.slice();
        copy[i] = prepared;
      }
    }
    return copy ?? value;
  }
  if (ArrayBuffer.isView(value)) return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    const item = record[key];
    if (item === undefined) {
      copy ??= { ...record };
      delete copy[key];
      continue;
    }
    const prepared = prepareForEncoding(item);
    if (prepared !== item) {
      copy ??= { ...record };
      copy[key] = prepared;
    }
  }
  return copy ?? value;
}

/**
 * Brings a freshly decoded value into the WAMP data model, in place:
 * - integers within ±2^53 that cbor-x returned as `bigint` (every 8-byte argument) become
 *   `number`;
 * - byte strings become plain `Uint8Array` (cbor-x may return a `Buffer`);
 * - anything else that is not a plain object or array (a tagged date, set, Map, typed array
 *   other than bytes, or an unknown tag) is rejected with `SerializationError`.
 */
function normalizeDecoded(value: unknown, depth: number, maxDepth: number): unknown {
  if (typeof value === "bigint") {
    return value <= BIG_TWO_53 && value >= -BIG_TWO_53 ? Number(value) : value;
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    if (depth > maxDepth) throw tooDeep(maxDepth);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === "object" || typeof item === "bigint") {
        value[i] = normalizeDecoded(item, depth + 1, maxDepth);
      }
    }
    return value;
  }
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new SerializationError(
      `unsupported CBOR item (decodes to ${kindOf(value)}): WAMP carries only JSON-like values, ` +
        "byte strings and integers",
    );
  }
  if (depth > maxDepth) throw tooDeep(maxDepth);
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item === "object" || typeof item === "bigint") {
      record[key] = normalizeDecoded(item, depth + 1, maxDepth);
    }
  }
  return value;
}

/**
 * cbor-x options: plain maps with definite (preferred) lengths, byte strings untagged, no
 * records or structured cloning. Decoded maps become plain objects and byte strings are
 * copied out of the payload.
 */
const options: CborOptions = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  copyBuffers: true,
};
const encoder = new Encoder(options);
const decoder = new Decoder(options);

/** The WAMP CBOR serializer: binary payloads, index 2. */
export const cborSerializer: Serializer = Object.freeze<Serializer>({
  name: "cbor",
  subprotocol: "wamp.2.cbor",
  rawSocketId: 3,
  binary: true,
  index: 2,
  encode(message: readonly unknown[]): Payload {
    let encoded: Uint8Array;
    try {
      encoded = encoder.encode(prepareForEncoding(message));
    } catch (error) {
      throw new SerializationError(`cannot encode message as CBOR: ${describe(error)}`, {
        cause: error,
      });
    }
    // cbor-x hands out views of its own slab as `Buffer`; expose a plain Uint8Array view.
    return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  },
  decode(payload: Payload, maxDepth = Infinity): unknown {
    if (typeof payload === "string") {
      throw new SerializationError(
        "CBOR payload must be binary (a binary frame), but text was received",
      );
    }
    try {
      return normalizeDecoded(decoder.decode(payload), 1, maxDepth);
    } catch (error) {
      if (error instanceof SerializationError) throw error;
      throw new SerializationError(`invalid CBOR payload: ${describe(error)}`, { cause: error });
    }
  },
  byteLength(payload: Payload): number {
    return typeof payload === "string" ? utf8ByteLength(payload) : payload.byteLength;
  },
});
