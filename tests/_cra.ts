/**
 * WAMP-CRA as a client computes it, with WebCrypto and independently of src/auth: the key
 * (Autobahn's `derive_key` for salted users) and the signature (`compute_wcs`).
 *
 * @module
 */

const enc = new TextEncoder();

/** The WAMP-CRA key: the secret, or when salted the base64 text of PBKDF2-HMAC-SHA256. */
export async function craKey(
  user: { secret: string; salt: string | null; iterations: number; keylen: number },
): Promise<string> {
  if (user.salt === null) return user.secret;
  const base = await crypto.subtle.importKey("raw", enc.encode(user.secret), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: enc.encode(user.salt), iterations: user.iterations },
    base,
    user.keylen * 8,
  );
  return new Uint8Array(bits).toBase64();
}

/** The WAMP-CRA signature: base64(HMAC-SHA256(key, challenge)). */
export async function craSign(key: string, challenge: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    enc.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(challenge))).toBase64();
}
