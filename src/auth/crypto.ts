/**
 * The crypto helpers the authentication methods share, one place each: decoding of hex text
 * that may be malformed, comparison of secrets in time that does not depend on where they
 * differ, and Ed25519 verification (WebCrypto). Encoding to hex and base64 is the platform's
 * (`Uint8Array.prototype.toHex`, `toBase64`).
 *
 * @module
 */

const encoder = new TextEncoder();

/** The bytes of `hex` (either case), or null when it is not whole bytes of hex digits. */
export function fromHex(hex: string): Uint8Array | null {
  return /^(?:[0-9a-fA-F]{2})*$/.test(hex) ? Uint8Array.fromHex(hex) : null;
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Verifies an Ed25519 signature (`signature` 64 bytes) of `message` by `publicKey` (32 bytes). */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", copy(publicKey), { name: "Ed25519" }, false, [
    "verify",
  ]);
  return await crypto.subtle.verify("Ed25519", key, copy(signature), copy(message));
}

/** A copy backed by a plain ArrayBuffer, as WebCrypto's types ask. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}
