/**
 * One HTTP/1.1 request written byte for byte over TCP (or TLS), so a test can send what
 * `fetch` would normalize away (`..` segments, backslashes, NUL, odd encodings, duplicate
 * headers), and the response read until the server closes (`Connection: close`).
 *
 * @module
 */

/** A parsed response (the body as sent: chunked bodies are not decoded). */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends `GET <target>` (or `method`) with `headers` and returns the response.
 *
 * @param port The server's port on 127.0.0.1.
 * @param target The request target exactly as written on the request line.
 * @param headers Extra header lines (`Host` and `Connection: close` are added).
 * @param headOnly Stop reading at the end of the response head (for upgrades).
 */
export async function rawRequest(
  port: number,
  target: string,
  {
    method = "GET",
    headers = [] as readonly string[],
    tls = null as Deno.ConnectTlsOptions | null,
    headOnly = false,
  } = {},
): Promise<RawResponse> {
  const conn = tls
    ? await Deno.connectTls({ ...tls, hostname: "127.0.0.1", port })
    : await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      headers.map((h) => `${h}\r\n`).join("") +
      (headers.some((h) => /^connection:/i.test(h)) ? "" : "Connection: close\r\n") + "\r\n";
    await conn.write(encoder.encode(head));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (e instanceof Deno.errors.ConnectionReset) break;
        throw e;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      // a 101 keeps the connection open: stop at the end of the head
      if (headOnly && decoder.decode(chunks.at(-1)!).includes("\r\n\r\n")) break;
    }
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    const text = decoder.decode(all);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new Error(`no complete response head: ${JSON.stringify(text.slice(0, 200))}`);
    }
    const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
    const status = Number(statusLine!.split(" ")[1]);
    const parsed = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      parsed.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const headLength = encoder.encode(text.slice(0, end + 4)).length;
    const body = all.slice(headLength);
    return { status, headers: parsed, body, text: decoder.decode(body) };
  } finally {
    closeQuietly(conn);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}
