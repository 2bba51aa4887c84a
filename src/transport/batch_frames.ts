/**
 * What one outgoing batch goes out as, built once per fan-out: the subscribers of a topic get the
 * same EVENTs in the same task, so their batches hold the very same messages (the same
 * `EncodeCache` objects, in the same order). The first receiver joins the batch and the link
 * frames it; the others find both and reuse them, as unbatched connections share one frame per
 * message. Different batches (another order, another message in between) are joined on their own.
 *
 * @module
 */

import { joinByteBatch, joinTextBatch, RECORD_SEPARATOR } from "../serializer/batched.ts";
import type { EncodeCache } from "../serializer/encode_cache.ts";
import type { Serializer } from "../serializer/serializer.ts";

/** One message waiting in a batch: its encoding and the fan-out cache it came with. */
export interface BatchPart {
  /** JSON text (or its UTF-8 bytes, for links that send bytes) or binary message. */
  readonly payload: string | Uint8Array;
  readonly cache: EncodeCache | undefined;
}

/** What a batch goes out as: the arguments of `WebSocketLink.send`. */
export interface BatchOut {
  /** Text frame: the joined text, or `""` when the link sends it from `bytes`; null: binary. */
  readonly text: string | null;
  readonly bytes: Uint8Array | null;
  /** Where the link may keep the frame for the next receiver of the same batch. */
  readonly cache: EncodeCache | undefined;
}

/** A batch joined for one fan-out, found through the cache of its first message. */
interface Shared {
  readonly caches: readonly EncodeCache[];
  readonly index: number;
  readonly sendsBytes: boolean;
  readonly separator: string;
  readonly out: BatchOut;
}

const SHARED = new WeakMap<EncodeCache, Shared>();

/**
 * The batch of `parts` for a link on `serializer` (`sendsBytes`: the link sends text frames from
 * UTF-8 bytes), with the JSON `separator`; reused when the previous receiver of the same messages
 * built the same batch.
 */
export function batchOut(
  parts: readonly BatchPart[],
  serializer: Serializer,
  sendsBytes: boolean,
  separator: string = RECORD_SEPARATOR,
): BatchOut {
  const first = parts[0]?.cache;
  const shared = first ? SHARED.get(first) : undefined;
  if (
    shared && shared.index === serializer.index && shared.sendsBytes === sendsBytes &&
    shared.separator === separator && shared.caches.length === parts.length &&
    parts.every((p, i) => p.cache === shared.caches[i])
  ) {
    return shared.out;
  }
  const out = join(parts, serializer, sendsBytes, separator);
  if (first && parts.every((p) => p.cache !== undefined)) {
    const caches = parts.map((p) => p.cache!);
    SHARED.set(first, { caches, index: serializer.index, sendsBytes, separator, out });
  }
  return out;
}

function join(
  parts: readonly BatchPart[],
  serializer: Serializer,
  sendsBytes: boolean,
  separator: string,
): BatchOut {
  const payloads = parts.map((p) => p.payload);
  // a fresh cache per joined batch: the link keeps the batch's frame there
  const cache: EncodeCache = [];
  if (serializer.binary) {
    return { text: null, bytes: joinByteBatch(payloads as Uint8Array[], true), cache };
  }
  if (sendsBytes) {
    return { text: "", bytes: joinByteBatch(payloads as Uint8Array[], false, separator), cache };
  }
  return { text: joinTextBatch(payloads as string[], separator), bytes: null, cache };
}
