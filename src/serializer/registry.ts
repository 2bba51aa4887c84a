/**
 * The serializers Switchboard speaks, and how a transport picks one.
 *
 * WebSocket negotiates by subprotocol (`Sec-WebSocket-Protocol`), RawSocket by the
 * serializer id in its handshake, config files and stats use the short name.
 *
 * @module
 */

import { batchedVariant } from "./batched.ts";
import { cborSerializer } from "./cbor.ts";
import { jsonSerializer } from "./json.ts";
import { msgpackSerializer } from "./msgpack.ts";
import type { Serializer, SerializerName } from "./serializer.ts";

/** Every serializer, each at the position given by its `index` (JSON 0, MessagePack 1, CBOR 2). */
export const SERIALIZERS: readonly Serializer[] = Object.freeze([
  jsonSerializer,
  msgpackSerializer,
  cborSerializer,
]);

/** WebSocket subprotocols of all serializers, in `index` order. */
export const SUBPROTOCOLS: readonly string[] = Object.freeze(
  SERIALIZERS.map((serializer) => serializer.subprotocol),
);

/**
 * The batched WebSocket variants (`wamp.2.json.batched`, ...), in `index` order: each shares
 * its plain serializer's codec and index, and is allowed wherever that serializer is.
 */
export const BATCHED_SERIALIZERS: readonly Serializer[] = Object.freeze(
  SERIALIZERS.map(batchedVariant),
);

/** The batched WebSocket subprotocols, in `index` order. */
export const BATCHED_SUBPROTOCOLS: readonly string[] = Object.freeze(
  BATCHED_SERIALIZERS.map((serializer) => serializer.subprotocol),
);

/** The serializer of a WebSocket subprotocol (exact, case-sensitive), if it is one of ours. */
function serializerBySubprotocol(subprotocol: string): Serializer | undefined {
  return SERIALIZERS.find((serializer) => serializer.subprotocol === subprotocol) ??
    BATCHED_SERIALIZERS.find((serializer) => serializer.subprotocol === subprotocol);
}

/**
 * Looks a serializer up by its RawSocket serializer id.
 *
 * @param id the `SSSS` nibble of a RawSocket handshake (1 JSON, 2 MessagePack, 3 CBOR)
 * @returns the serializer, or `undefined` for an id Switchboard does not support
 */
export function serializerByRawSocketId(id: number): Serializer | undefined {
  return SERIALIZERS.find((serializer) => serializer.rawSocketId === id);
}

/**
 * Picks the serializer for a WebSocket handshake: the first subprotocol in the client's
 * order of preference that is one of ours and allowed (a serializer allowed on an endpoint is
 * allowed batched too, as in Crossbar).
 *
 * @param offered the client's subprotocols, most preferred first
 * @param allowed the serializers this listener accepts
 * @returns the chosen serializer, or `null` when nothing offered is allowed
 */
export function negotiateSubprotocol(
  offered: readonly string[],
  allowed: readonly SerializerName[],
): Serializer | null {
  for (const subprotocol of offered) {
    const serializer = serializerBySubprotocol(subprotocol);
    if (serializer !== undefined && allowed.includes(serializer.name)) return serializer;
  }
  return null;
}
