/**
 * Answers to CHALLENGEs: the Ed25519 key of the scenario's cryptosign principal, and the correct
 * AUTHENTICATE signature for ticket, WAMP-CRA and cryptosign.
 *
 * @module
 */

import { CRA_SECRET, TICKET } from "./scenario.ts";
import { utf8 } from "./wire.ts";

export interface Keys {
  publicHex: string;
  privateKey: CryptoKey;
}

export async function ed25519Keys(): Promise<Keys> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return {
    publicHex: [...raw].map((b) => b.toString(16).padStart(2, "0")).join(""),
    privateKey: pair.privateKey,
  };
}

function fromHexString(h: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The correct AUTHENTICATE signature for a CHALLENGE, or a plausible wrong one. */
export async function signature(challenge: unknown[], keys: Keys): Promise<string> {
  const method = challenge[1];
  const extra = (challenge[2] ?? {}) as Record<string, unknown>;
  if (method === "ticket") return TICKET;
  if (method === "wampcra" && typeof extra.challenge === "string") {
    const key = await crypto.subtle.importKey(
      "raw",
      utf8.encode(CRA_SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, utf8.encode(extra.challenge)),
    );
    return mac.toBase64();
  }
  if (method === "cryptosign" && typeof extra.challenge === "string") {
    const data = fromHexString(extra.challenge);
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", keys.privateKey, data));
    return [...sig, ...data].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return "wrong";
}
