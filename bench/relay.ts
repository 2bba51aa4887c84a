/**
 * The bare baseline server: `Deno.serve` + `Deno.upgradeWebSocket`, no WAMP.
 *
 * Run it as its own process (`deno run --allow-net=127.0.0.1 bench/relay.ts`); it prints
 * `{"port": <n>, "pid": <n>}` and follows the control protocol of `server_control.ts`.
 *
 * Routes, chosen by the URL path (`<ch>` is any channel name, so measurements never share state):
 * - `/sub/<ch>`: a subscriber; receives every frame published on the channel.
 * - `/pub/<ch>`: a publisher; each frame it sends is forwarded unchanged to every subscriber.
 * - `/callee/<ch>`: the (one) callee of the channel.
 * - `/caller/<ch>`: a caller. Its frames go to the callee with a fixed header naming the caller:
 *   text frames are prefixed with 8 hex digits, binary frames with a 4-byte big-endian id. The
 *   callee answers with the same header, which the relay strips before sending the rest to that
 *   caller.
 * - `/echo`: sends every frame back (used to open idle connections for the memory case).
 *
 * Any offered subprotocol is accepted (the first one), so WAMP clients can connect unchanged.
 * A connection joins its channel during the upgrade; frames sent to it before its `open` event
 * are dropped, so clients do one ping round trip before the load starts.
 *
 * @module
 */

import { announce, serveControl } from "./server_control.ts";

interface Channel {
  readonly subscribers: Set<WebSocket>;
  callee: WebSocket | null;
  readonly callers: Map<number, WebSocket>;
  nextCaller: number;
}

const channels = new Map<string, Channel>();

function channel(name: string): Channel {
  let ch = channels.get(name);
  if (ch === undefined) {
    ch = { subscribers: new Set(), callee: null, callers: new Map(), nextCaller: 1 };
    channels.set(name, ch);
  }
  return ch;
}

function dropIfEmpty(name: string, ch: Channel): void {
  if (ch.subscribers.size === 0 && ch.callee === null && ch.callers.size === 0) {
    channels.delete(name);
  }
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function withHeader(id: number, data: string | ArrayBuffer): string | Uint8Array {
  if (typeof data === "string") return hex8(id) + data;
  const out = new Uint8Array(4 + data.byteLength);
  new DataView(out.buffer).setUint32(0, id);
  out.set(new Uint8Array(data), 4);
  return out;
}

function sendOpen(ws: WebSocket, data: string | ArrayBuffer | Uint8Array): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(data);
}

function attach(path: string, ws: WebSocket): boolean {
  ws.binaryType = "arraybuffer";
  if (path === "/echo") {
    ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => sendOpen(ws, e.data);
    return true;
  }
  const match = /^\/(sub|pub|callee|caller)\/([^/]+)$/.exec(path);
  if (match === null) return false;
  const [, role, name] = match;
  const ch = channel(name!);
  switch (role) {
    case "sub":
      ch.subscribers.add(ws);
      ws.onclose = () => {
        ch.subscribers.delete(ws);
        dropIfEmpty(name!, ch);
      };
      return true;
    case "pub":
      ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
        for (const sub of ch.subscribers) sendOpen(sub, e.data);
      };
      ws.onclose = () => dropIfEmpty(name!, ch);
      return true;
    case "callee":
      ch.callee = ws;
      ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
        const data = e.data;
        let id: number;
        let rest: string | Uint8Array;
        if (typeof data === "string") {
          id = parseInt(data.slice(0, 8), 16);
          rest = data.slice(8);
        } else {
          id = new DataView(data).getUint32(0);
          rest = new Uint8Array(data, 4);
        }
        const caller = ch.callers.get(id);
        if (caller !== undefined) sendOpen(caller, rest);
      };
      ws.onclose = () => {
        if (ch.callee === ws) ch.callee = null;
        dropIfEmpty(name!, ch);
      };
      return true;
    default: {
      const id = ch.nextCaller++;
      ch.callers.set(id, ws);
      ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
        if (ch.callee !== null) sendOpen(ch.callee, withHeader(id, e.data));
      };
      ws.onclose = () => {
        ch.callers.delete(id);
        dropIfEmpty(name!, ch);
      };
      return true;
    }
  }
}

function handler(req: Request): Response {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("WebSocket only\n", { status: 426 });
  }
  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  const { socket, response } = Deno.upgradeWebSocket(
    req,
    offered.length > 0 ? { protocol: offered[0] } : {},
  );
  const path = new URL(req.url).pathname;
  if (!attach(path, socket)) {
    socket.onopen = () => socket.close(4404, "unknown path");
  }
  return response;
}

if (import.meta.main) {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => announce(port),
  }, handler);
  await serveControl(() => server.shutdown());
}
