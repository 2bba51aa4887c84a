/**
 * What goes on the wire: WAMP payloads, WebSocket frames and RawSocket frames as bytes.
 *
 * @module
 */

/** A serialized WAMP message: text for JSON, bytes for the binary serializers. */
export type Payload = string | Uint8Array;

/** What went on the wire: a WebSocket frame, or raw bytes on a RawSocket connection. */
export interface Wire {
  frame: "text" | "binary" | "rawsocket";
  data: Payload;
}

export const utf8: TextEncoder = new TextEncoder();
export const utf8Fatal: TextDecoder = new TextDecoder("utf-8", { fatal: true });

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A RawSocket frame: type (0 WAMP, 1 PING, 2 PONG), 24-bit length, body. */
export function rsFrame(type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + body.length);
  f[0] = type;
  f[1] = (body.length >>> 16) & 0xff;
  f[2] = (body.length >>> 8) & 0xff;
  f[3] = body.length & 0xff;
  f.set(body, 4);
  return f;
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
