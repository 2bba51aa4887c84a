/**
 * Encoding a message once for many receivers: the cache a fan-out carries from receiver to
 * receiver, and the function every network transport encodes through.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { encodeMessage } from "../wamp/codec.ts";
import { messageName } from "../wamp/message_type.ts";
import type { Message } from "../wamp/messages.ts";
import type { Payload, Serializer } from "./serializer.ts";
import { utf8InSlab } from "./slab.ts";

/**
 * Encodings of one outgoing message, so a message fanned out to many receivers is encoded
 * (and measured) once per serializer: slot `2 * Serializer.index` holds the payload (or
 * `null` when that serializer cannot encode it, so the failure is found and logged once, not
 * once per receiver), the next slot its size in bytes; slot {@linkcode UTF8_SLOT} keeps the
 * UTF-8 bytes of the JSON text for transports that send bytes. Start with an empty array.
 */
export type EncodeCache = (Payload | number | null | undefined)[];

/** {@linkcode EncodeCache} slot for the UTF-8 bytes of the JSON text. */
export const UTF8_SLOT = 6;
/**
 * First {@linkcode EncodeCache} slot of the transports' framed messages: a transport keeps the
 * whole frame of a fanned-out message there (slot `FRAME_SLOT + Serializer.index`), built once
 * for every receiver on that serializer.
 */
export const FRAME_SLOT = 7;

/** The UTF-8 bytes of a JSON payload, encoded once per fan-out through the cache. */
export function utf8Of(text: string, cache: EncodeCache | undefined): Uint8Array {
  const cached = cache?.[UTF8_SLOT] as Uint8Array | undefined;
  if (cached) return cached;
  const bytes = utf8InSlab(text);
  if (cache) cache[UTF8_SLOT] = bytes;
  return bytes;
}

/**
 * The encoding of `message` for `serializer` and its size, taken from `cache` when another
 * receiver already encoded it (and stored there otherwise); null when it cannot be encoded
 * (logged once per message). Shared by every network transport.
 *
 * With `asBytes` (transports that write bytes), JSON text also comes as its UTF-8 bytes
 * (`utf8`), encoded once per fan-out, and its size is their length: no second pass over the
 * text to count its UTF-8 bytes.
 */
export function encodeFor(
  serializer: Serializer,
  message: Message,
  cache: EncodeCache | undefined,
  logger: Logger,
  asBytes = false,
): { payload: Payload; bytes: number; utf8: Uint8Array | null } | null {
  const slot = serializer.index * 2;
  const cached = cache?.[slot] as Payload | null | undefined;
  if (cached === null) return null;
  if (cached !== undefined) {
    const utf8 = asBytes && typeof cached === "string" ? utf8Of(cached, cache) : null;
    return { payload: cached, bytes: cache![slot + 1] as number, utf8 };
  }
  let payload: Payload;
  try {
    payload = serializer.encode(encodeMessage(message));
  } catch (e) {
    if (cache) cache[slot] = null;
    logger.error("cannot encode outgoing message", {
      type: messageName(message.type),
      serializer: serializer.name,
      error: e instanceof Error ? e.message : String(e),
    });
    return null;
  }
  let utf8: Uint8Array | null = null;
  let bytes: number;
  if (asBytes && typeof payload === "string") {
    utf8 = utf8Of(payload, cache);
    bytes = utf8.byteLength;
  } else {
    bytes = serializer.byteLength(payload);
  }
  if (cache) {
    cache[slot] = payload;
    cache[slot + 1] = bytes;
  }
  return { payload, bytes, utf8 };
}
