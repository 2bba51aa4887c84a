/**
 * Small byte arrays carved out of shared 64 KiB slabs. A fresh `ArrayBuffer` per encoded
 * message is expensive in V8 (every buffer over 64 bytes gets an external backing store): for
 * small messages it took about half of MessagePack's encoding time, and `TextEncoder.encode`
 * (0.9 M small JSON messages/s here) was seven times slower than `encodeInto` a slab (6 M/s).
 *
 * A returned array shares its `buffer` with others, so consumers must honour `byteOffset` and
 * `byteLength`; a slab is dropped (left to the garbage collector) once full.
 *
 * @module
 */

/** Size of the shared buffers that small payloads go into. */
const SLAB_SIZE = 64 * 1024;
/** Payloads larger than this get a buffer of their own. */
const SLAB_MAX_PAYLOAD = 8 * 1024;

let slab = new Uint8Array(SLAB_SIZE);
let offset = 0;
const encoder = new TextEncoder();

/** Room for `length` bytes in the current slab (a new slab when it is full). */
function room(length: number): Uint8Array {
  if (offset + length > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    offset = 0;
  }
  return slab.subarray(offset, offset + length);
}

/** Takes `used` bytes of the current slab, keeping the next payload 8-byte aligned. */
function take(used: number): Uint8Array {
  const out = slab.subarray(offset, offset + used);
  offset = (offset + used + 7) & ~7;
  return out;
}

/** A copy of `view` (which may be reused by its owner) in a shared slab. */
export function copyToSlab(view: Uint8Array): Uint8Array {
  const length = view.byteLength;
  if (length > SLAB_MAX_PAYLOAD) return view.slice();
  room(length).set(view);
  return take(length);
}

/** The UTF-8 bytes of `text`, in a shared slab when small. */
export function utf8InSlab(text: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit
  const worst = text.length * 3;
  if (worst > SLAB_MAX_PAYLOAD) return encoder.encode(text);
  const { written } = encoder.encodeInto(text, room(worst));
  return take(written);
}

/** The bytes of `chunks`, one after the other, in one array (in a shared slab when small). */
export function concatInSlab(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const out = total > SLAB_MAX_PAYLOAD ? new Uint8Array(total) : room(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return total > SLAB_MAX_PAYLOAD ? out : take(total);
}
