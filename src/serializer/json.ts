/**
 * JSON serializer (`wamp.2.json`, RawSocket serializer id 1).
 *
 * Codec: the engine's own `JSON.stringify` / `JSON.parse`. Measured with
 * `deno run bench/codec_bench.ts` (Deno 2.9.6, V8 15.0, x86_64 Linux, 2 shared cores; ops/s,
 * best of 10 interleaved rounds; small = the 177-byte EVENT with a 128-byte string,
 * large = an 8 KB EVENT with a 100-row table):
 *
 * | variant                                  | small enc | small dec | large enc | large dec |
 * | ---------------------------------------- | --------- | --------- | --------- | --------- |
 * | this serializer (fast paths)             | 3,166,938 | 2,482,447 |    53,558 |    31,974 |
 * | replacer + reviver on every call         | 1,311,496 |   307,308 |    17,998 |     3,630 |
 * | plain JSON (breaks bigint and binary)    | 3,724,517 | 3,107,881 |    69,420 |    35,121 |
 *
 * WAMP rules on top of plain JSON:
 * - `Uint8Array` values travel as a JSON string `"\u0000" + base64(bytes)` (padded base64), and
 *   any decoded string starting with U+0000 becomes a `Uint8Array` again.
 * - `bigint` values are written as exact digits (`JSON.rawJSON`); integer literals beyond
 *   ±2^53 decode as `bigint` (from the reviver's `context.source`), all others as `number`.
 *
 * Fast paths: encoding walks the message once and calls plain `JSON.stringify` unless it
 * holds a `bigint` or `Uint8Array`. Decoding calls plain `JSON.parse`, then walks the result
 * once: strings starting with U+0000 are turned into bytes in place, and only when a number
 * at or beyond ±2^53 shows up (a literal that may have lost digits) is the text parsed again
 * with a reviver.
 *
 * @module
 */

import type { Payload, Serializer } from "./serializer.ts";
import { describe, SerializationError, tooDeep } from "./serializer.ts";

/** 2^53: integers up to this magnitude are exact as `number`. */
const TWO_53 = 2 ** 53;
const BIG_TWO_53 = 2n ** 53n;
/** A JSON integer literal (JSON has no `+` sign and no leading zeros). */
const INTEGER_LITERAL = /^-?\d+$/;
/** Prefix that marks a binary value in WAMP JSON. */
const BINARY_PREFIX = "\u0000";

/** The third argument V8 passes to a `JSON.parse` reviver (source text access). */
interface ReviverContext {
  /** Source text of a primitive value. */
  readonly source?: string;
}

/** `JSON` with the two standard additions that TypeScript's lib does not declare yet. */
interface JsonWithSourceAccess {
  parse(
    text: string,
    reviver: (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown,
  ): unknown;
  rawJSON(text: string): unknown;
}

const jsonWithSource = JSON as unknown as JsonWithSourceAccess;

/**
 * Number of bytes `text` takes in UTF-8, computed without allocating.
 *
 * A lone surrogate counts 3 bytes, the size of the U+FFFD that `TextEncoder` writes for it.
 *
 * @param text any string
 * @returns its UTF-8 encoded length in bytes
 */
export function utf8ByteLength(text: string): number {
  const length = text.length;
  let bytes = length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else {
      bytes += 2;
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
        const next = text.charCodeAt(i + 1);
        // A surrogate pair is two UTF-16 units but one 4-byte UTF-8 sequence.
        if (next >= 0xdc00 && next <= 0xdfff) i++;
      }
    }
  }
  return bytes;
}

/**
 * True when `value` holds a `bigint` or a `Uint8Array` anywhere (then a replacer is needed).
 *
 * @throws {SerializationError} for a string starting with U+0000: WAMP's JSON reserves that
 *   prefix for binary values, so such a string (fine in MessagePack and CBOR) would reach a
 *   JSON peer as undecodable bytes.
 */
function needsReplacer(value: unknown): boolean {
  if (typeof value === "string") {
    if (value.charCodeAt(0) === 0) {
      throw new SerializationError(
        "a string starting with U+0000 cannot be written in WAMP JSON (the prefix marks binary)",
      );
    }
    return false;
  }
  if (typeof value !== "object" || value === null) return typeof value === "bigint";
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (needsReplacer(value[i])) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (needsReplacer(record[key])) return true;
  }
  return false;
}

/** `JSON.stringify` replacer for the two WAMP additions. */
function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === "bigint") return jsonWithSource.rawJSON(value.toString());
  if (value instanceof Uint8Array) return BINARY_PREFIX + value.toBase64();
  return value;
}

/** Decodes the base64 part of a WAMP JSON binary string. */
function decodeBinary(text: string): Uint8Array {
  return Uint8Array.fromBase64(text.slice(1));
}

/** `JSON.parse` reviver: binary strings to bytes, integer literals beyond ±2^53 to `bigint`. */
function reviver(
  this: unknown,
  _key: string,
  value: unknown,
  context?: ReviverContext,
): unknown {
  if (typeof value === "string") {
    return value.charCodeAt(0) === 0 ? decodeBinary(value) : value;
  }
  if (typeof value === "number" && (value >= TWO_53 || value <= -TWO_53)) {
    const source = context?.source;
    if (source !== undefined && INTEGER_LITERAL.test(source)) {
      const exact = BigInt(source);
      return exact <= BIG_TWO_53 && exact >= -BIG_TWO_53 ? Number(exact) : exact;
    }
  }
  return value;
}

/**
 * Fixes a freshly parsed value in place: binary strings become `Uint8Array`. `depth` is the
 * nesting level of `container` (1 for the top level).
 *
 * @returns true when a number at or beyond ±2^53 was seen, so the text must be parsed again
 *   with the reviver to recover exact digits
 * @throws {SerializationError} when containers nest deeper than `maxDepth`
 */
function fixParsed(
  container: unknown[] | Record<string, unknown>,
  depth: number,
  maxDepth: number,
): boolean {
  if (depth > maxDepth) throw tooDeep(maxDepth);
  if (Array.isArray(container)) {
    for (let i = 0; i < container.length; i++) {
      const item = container[i];
      if (typeof item === "string") {
        if (item.charCodeAt(0) === 0) container[i] = decodeBinary(item);
      } else if (typeof item === "number") {
        if (item >= TWO_53 || item <= -TWO_53) return true;
      } else if (typeof item === "object" && item !== null) {
        if (fixParsed(item as unknown[] | Record<string, unknown>, depth + 1, maxDepth)) {
          return true;
        }
      }
    }
    return false;
  }
  for (const key in container) {
    const item = container[key];
    if (typeof item === "string") {
      if (item.charCodeAt(0) === 0) container[key] = decodeBinary(item);
    } else if (typeof item === "number") {
      if (item >= TWO_53 || item <= -TWO_53) return true;
    } else if (typeof item === "object" && item !== null) {
      if (fixParsed(item as unknown[] | Record<string, unknown>, depth + 1, maxDepth)) {
        return true;
      }
    }
  }
  return false;
}

/** Decodes WAMP JSON text; throws the engine's errors (wrapped by the caller). */
function parseWamp(text: string, maxDepth: number): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value === "object" && value !== null) {
    if (fixParsed(value as unknown[] | Record<string, unknown>, 1, maxDepth)) {
      // the depth was checked up to the large number; check it again on the exact parse
      const exact = jsonWithSource.parse(text, reviver);
      if (typeof exact === "object" && exact !== null) checkDepth(exact, 1, maxDepth);
      return exact;
    }
    return value;
  }
  if (typeof value === "string") return value.charCodeAt(0) === 0 ? decodeBinary(value) : value;
  if (typeof value === "number" && (value >= TWO_53 || value <= -TWO_53)) {
    return jsonWithSource.parse(text, reviver);
  }
  return value;
}

/** Throws when `value` nests containers deeper than `maxDepth` (bytes are not containers). */
function checkDepth(value: object, depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw tooDeep(maxDepth);
  if (value instanceof Uint8Array) return;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (typeof item === "object" && item !== null) checkDepth(item, depth + 1, maxDepth);
  }
}

/** The WAMP JSON serializer: text payloads, index 0. */
export const jsonSerializer: Serializer = Object.freeze<Serializer>({
  name: "json",
  subprotocol: "wamp.2.json",
  rawSocketId: 1,
  binary: false,
  index: 0,
  encode(message: readonly unknown[]): Payload {
    try {
      return needsReplacer(message) ? JSON.stringify(message, replacer) : JSON.stringify(message);
    } catch (error) {
      throw new SerializationError(`cannot encode message as JSON: ${describe(error)}`, {
        cause: error,
      });
    }
  },
  decode(payload: Payload, maxDepth = Infinity): unknown {
    if (typeof payload !== "string") {
      throw new SerializationError(
        "JSON payload must be text (a text frame), but binary data was received",
      );
    }
    try {
      return parseWamp(payload, maxDepth);
    } catch (error) {
      if (error instanceof SerializationError) throw error;
      throw new SerializationError(`invalid JSON payload: ${describe(error)}`, { cause: error });
    }
  },
  byteLength(payload: Payload): number {
    return typeof payload === "string" ? utf8ByteLength(payload) : payload.byteLength;
  },
});
