/**
 * The cryptographic operations of one WAMP-CRA authentication, behind an interface so that
 * tests can observe that every authid costs the same work, and their WebCrypto implementation.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The cryptographic operations one WAMP-CRA authentication runs. */
export interface CraPrimitives {
  /** HMAC-SHA256 of `data` under `key`: one 32-byte block of a deterministic salt. */
  saltBlock(key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
  /** The salted key: the base64 text of PBKDF2-HMAC-SHA256(secret, salt) (Autobahn's `derive_key`). */
  pbkdf2(secret: string, salt: string, iterations: number, keylen: number): Promise<string>;
  /** The signature: base64(HMAC-SHA256(key, message)) (Autobahn's `compute_wcs`). */
  sign(key: string, message: string): Promise<string>;
}

/** The primitives on WebCrypto. */
export const webCryptoCra: CraPrimitives = {
  async saltBlock(key, data) {
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  },
  async pbkdf2(secret, salt, iterations, keylen) {
    const base = await crypto.subtle.importKey("raw", encoder.encode(secret), "PBKDF2", false, [
      "deriveBits",
    ]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: encoder.encode(salt), iterations },
      base,
      keylen * 8,
    );
    return new Uint8Array(bits).toBase64();
  },
  async sign(key, message) {
    // WebCrypto refuses an empty HMAC key. HMAC pads every key shorter than the hash's block
    // with zero bytes, so one zero byte is the same key (and gives Python's hmac result).
    const raw = key === "" ? new Uint8Array(1) : encoder.encode(key);
    const k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(message))).toBase64();
  },
};
