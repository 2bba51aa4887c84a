/**
 * The one small interface every WAMP serializer implements, and the error it throws (with the
 * helpers its messages are built with).
 *
 * A serializer turns a WAMP message array into a WebSocket/RawSocket payload and back.
 * JSON produces text (`string`, sent as a text frame); MessagePack and CBOR produce bytes
 * (`Uint8Array`, sent as binary frames). Integers up to 2^53 decode as `number`, larger
 * ones as `bigint`; binary values are `Uint8Array` on every serializer.
 *
 * @module
 */

/** Name of a serializer as used in config files and in stats (`stats.serializer`). */
export type SerializerName = "json" | "msgpack" | "cbor";

/** An encoded WAMP message: text for JSON, bytes for binary serializers. */
export type Payload = string | Uint8Array;

/** Encodes and decodes whole WAMP messages. */
export interface Serializer {
  /** Short name: `json`, `msgpack` or `cbor`. */
  readonly name: SerializerName;
  /** WebSocket subprotocol, e.g. `wamp.2.json`. */
  readonly subprotocol: string;
  /** RawSocket serializer id (JSON 1, MessagePack 2, CBOR 3). */
  readonly rawSocketId: number;
  /** True when payloads are bytes (binary frames), false for text (JSON). */
  readonly binary: boolean;
  /** Small dense index (0, 1, 2) so callers can cache encodings in an array. */
  readonly index: number;
  /**
   * True for the batched WebSocket variant (`wamp.2.<name>.batched`): the same codec and
   * index, several messages per WebSocket message (see `batched.ts`).
   */
  readonly batched?: boolean;
  /** Encodes a message array. Throws `SerializationError` on values it cannot encode. */
  encode(message: readonly unknown[]): Payload;
  /**
   * Decodes one payload. Throws `SerializationError` on malformed input, a wrong payload kind,
   * or arrays/objects nested deeper than `maxDepth` (the message's own array is level 1).
   */
  decode(payload: Payload, maxDepth?: number): unknown;
  /** Size in bytes of an encoded payload (UTF-8 length for text). Must not allocate. */
  byteLength(payload: Payload): number;
}

/** Raised when a payload cannot be decoded or a value cannot be encoded. */
export class SerializationError extends Error {
  override name = "SerializationError";
}

/** The error for a decoded value nested deeper than allowed. */
export function tooDeep(maxDepth: number): SerializationError {
  return new SerializationError(
    `the message nests arrays/objects deeper than the limit of ${maxDepth} levels`,
  );
}

/** Readable text of an unknown thrown value, for the message of a wrapping SerializationError. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Name of a value's class, for the message of a SerializationError refusing it. */
export function kindOf(value: object): string {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (typeof prototype === "object" && prototype !== null && "constructor" in prototype) {
    const constructor: unknown = prototype.constructor;
    if (typeof constructor === "function" && constructor.name !== "") return constructor.name;
  }
  return "object";
}
