/**
 * MessagePack serializer (`wamp.2.msgpack`, RawSocket serializer id 2).
 *
 * Codecs: `@msgpack/msgpack` encodes, `msgpackr` (pure JS) decodes. Measured with
 * `deno run bench/codec_bench.ts` (Deno 2.9.6, V8 15.0, x86_64 Linux, 2 shared cores; ops/s,
 * best of 10 interleaved rounds; small = the 153-byte EVENT with a 128-byte string,
 * large = a 5.4 KB EVENT with a 100-row table):
 *
 * | variant                                  | small enc | small dec | large enc | large dec |
 * | ---------------------------------------- | --------- | --------- | --------- | --------- |
 * | this serializer                          | 1,414,471 | 2,504,079 |    26,778 |    26,429 |
 * | msgpackr alone (int64AsType "auto")      | 2,414,397 | 3,358,651 |    42,675 |    30,245 |
 * | @msgpack/msgpack alone (useBigInt64)     |   972,448 | 1,088,254 |    34,597 |    30,996 |
 *
 * Neither package meets the rules alone. msgpackr writes integers beyond 32 bits (WAMP IDs)
 * as float64 and positive `bigint` as int64 (0xd3), so it only decodes here: its
 * `int64AsType: "auto"` gives exact `number` up to ±2^53 and `bigint` beyond. @msgpack/msgpack
 * writes every safe integer in the smallest int format, uint64 included, but only its
 * `useBigInt64` mode writes `bigint`, and that mode writes integers beyond 32 bits as float64
 * and reads every 64-bit int as `bigint`; so the plain mode encodes, and the `useBigInt64`
 * mode only takes messages that hold a `bigint` (or ±2^53), after widening their large
 * integers to `bigint`. Encoding goes to the encoder's reused buffer and is then copied into
 * a shared slab (`slab.ts`): allocating a fresh `ArrayBuffer` per message, as
 * @msgpack/msgpack's own `encode` does, took about half of its time on small messages.
 *
 * @module
 */

import { Encoder } from "@msgpack/msgpack";
import { type Options as UnpackrOptions, Unpackr } from "msgpackr/unpack";
import { utf8ByteLength } from "./json.ts";
import { copyToSlab } from "./slab.ts";
import type { Payload, Serializer } from "./serializer.ts";
import { describe, kindOf, SerializationError, tooDeep } from "./serializer.ts";

const TWO_53 = 2 ** 53;
const UINT64_END = 2n ** 64n;
const INT64_MIN = -(2n ** 63n);

/**
 * True when `value` holds a `bigint`, or the integer ±2^53, anywhere: the only values the
 * fast encoder would get wrong (it rejects `bigint` and writes ±2^53, not a safe integer,
 * as float64). Every other integer it writes in the smallest int format, up to uint64.
 */
function needsBigIntEncoder(value: unknown): boolean {
  if (typeof value !== "object" || value === null) {
    return typeof value === "bigint" || value === TWO_53 || value === -TWO_53;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (needsBigIntEncoder(value[i])) return true;
    }
    return false;
  }
  if (ArrayBuffer.isView(value)) return false;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (needsBigIntEncoder(record[key])) return true;
  }
  return false;
}

/**
 * Returns `value` for the `bigint` encoder: every integer that needs 64 bits is turned into
 * a `bigint` (that encoder writes `bigint` as uint64/int64, but a large `number` as float64).
 * Containers are copied only where something changed; the input is never modified.
 * Throws `SerializationError` for a `bigint` outside the 64-bit range.
 */
function widenIntegers(value: unknown): unknown {
  if (typeof value === "number") {
    // The encoder writes integers in [-2^31, 2^32) itself in the smallest int format.
    if (
      (value > 0xffffffff || value < -0x80000000) && value <= TWO_53 && value >= -TWO_53 &&
      Number.isInteger(value)
    ) {
      return BigInt(value);
    }
    return value;
  }
  if (typeof value !== "object" || value === null) {
    if (typeof value === "bigint" && (value >= UINT64_END || value < INT64_MIN)) {
      throw new SerializationError(`integer ${value} does not fit in a MessagePack 64-bit int`);
    }
    return value;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const widened = widenIntegers(item);
      if (widened !== item) {
        copy ??= value.slice();
        copy[i] = widened;
      }
    }
    return copy ?? value;
  }
  if (ArrayBuffer.isView(value)) return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    const item = record[key];
    const widened = widenIntegers(item);
    if (widened !== item) {
      copy ??= { ...record };
      copy[key] = widened;
    }
  }
  return copy ?? value;
}

/**
 * Shared by both encoders: like JSON, an `undefined` property is left out (items become nil).
 * `maxDepth` is above the largest nesting the router accepts (`max_nesting` ≤ 1000), so
 * whatever a client may send can be encoded for every subscriber.
 */
const encoderOptions = { ignoreUndefined: true, maxDepth: 1100 } as const;
/** Fast path: writes safe integers in the smallest int format (uint64/int64 past 32 bits). */
const encoder = new Encoder(encoderOptions);
/** Slow path, for messages with a `bigint`: writes `bigint` as uint64/int64. */
const bigIntEncoder = new Encoder({ ...encoderOptions, useBigInt64: true });

/**
 * `msgpackr` decodes uint64/int64 within ±2^53 as `number` and beyond as `bigint`
 * (`int64AsType: "auto"`, which its type declarations do not list yet). Maps become plain
 * objects, `bin` a copied `Uint8Array`; records are off.
 */
const unpackr = new Unpackr(
  {
    useRecords: false,
    mapsAsObjects: true,
    copyBuffers: true,
    int64AsType: "auto",
  } as unknown as UnpackrOptions,
);

/**
 * Keeps decoded values inside the WAMP data model, in place: byte strings become plain
 * `Uint8Array`, and what msgpackr makes of extension types (a timestamp `Date`, typed arrays,
 * its marker for the never-used byte 0xc1) is rejected with `SerializationError`.
 */
function checkDecoded(value: unknown, depth: number, maxDepth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    if (depth > maxDepth) throw tooDeep(maxDepth);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === "object" && item !== null) {
        value[i] = checkDecoded(item, depth + 1, maxDepth);
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
      `unsupported MessagePack item (decodes to ${kindOf(value)}): WAMP carries only ` +
        "JSON-like values, binary and integers",
    );
  }
  if (depth > maxDepth) throw tooDeep(maxDepth);
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item === "object" && item !== null) {
      record[key] = checkDecoded(item, depth + 1, maxDepth);
    }
  }
  return value;
}

/** The WAMP MessagePack serializer: binary payloads, index 1. */
export const msgpackSerializer: Serializer = Object.freeze<Serializer>({
  name: "msgpack",
  subprotocol: "wamp.2.msgpack",
  rawSocketId: 2,
  binary: true,
  index: 1,
  encode(message: readonly unknown[]): Payload {
    try {
      const encoded = needsBigIntEncoder(message)
        ? bigIntEncoder.encodeSharedRef(widenIntegers(message))
        : encoder.encodeSharedRef(message);
      return copyToSlab(encoded);
    } catch (error) {
      if (error instanceof SerializationError) throw error;
      throw new SerializationError(`cannot encode message as MessagePack: ${describe(error)}`, {
        cause: error,
      });
    }
  },
  decode(payload: Payload, maxDepth = Infinity): unknown {
    if (typeof payload === "string") {
      throw new SerializationError(
        "MessagePack payload must be binary (a binary frame), but text was received",
      );
    }
    try {
      return checkDecoded(unpackr.unpack(payload), 1, maxDepth);
    } catch (error) {
      if (error instanceof SerializationError) throw error;
      throw new SerializationError(`invalid MessagePack payload: ${describe(error)}`, {
        cause: error,
      });
    }
  },
  byteLength(payload: Payload): number {
    return typeof payload === "string" ? utf8ByteLength(payload) : payload.byteLength;
  },
});
