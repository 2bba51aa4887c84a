/**
 * HTTP/1.1 on connections Switchboard accepted itself: `node:http` parses requests, plain
 * requests (metrics, status page, HTTP bridge, 404) go to a fetch-style handler, and WebSocket
 * upgrades on WAMP paths are completed by the `ws` package and become {@linkcode WebSocketPeer}s.
 *
 * Deadlines (the connection's {@linkcode Deadline} from its {@linkcode Accepted}):
 * - until a request's headers are in: the open handshake deadline armed at accept;
 * - while a request body is still arriving: `idleMs` from the headers;
 * - between requests of a kept-alive connection: `idleMs` from the end of the last response;
 * - after a WebSocket upgrade: the WAMP path's own open handshake timeout, counted from the
 *   accept, until the WAMP session is established (the session clears it).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import http from "node:http";
import type { Duplex } from "node:stream";
import tls from "node:tls";
// @ts-types="@types/ws"
import * as ws from "ws";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { SerializerName } from "../serializer/serializer.ts";
import { ConnStream } from "./conn_stream.ts";
import "./ws_receiver_end.ts";
import type { CookieStore } from "./cookie_store.ts";
import { clientAddress, type TrustedProxies } from "./forwarded.ts";
import type { Accepted } from "./listener.ts";
import { type PeerCertificate, peerString, type TransportDetails } from "./peer.ts";
import { chooseSerializer, WebSocketPeer, type WebSocketPeerOptions } from "./websocket.ts";
import { type FrameMaker, type LinkStream, wsLink, type WsSocket } from "./ws_link.ts";

const { WebSocketServer } = ws;
type WebSocketServer = ws.WebSocketServer;
/** `ws`'s public frame builder (`Sender.frame`), which its type declarations do not list. */
const frame = (ws as unknown as { Sender: { frame: FrameMaker } }).Sender.frame;

/** A WAMP WebSocket path as the HTTP server needs it. */
export interface WampRoute {
  readonly serializers: readonly SerializerName[];
  readonly peer: WebSocketPeerOptions;
  /** This path's open handshake timeout, counted from the accept (ms; 0 = none). */
  readonly handshakeMs: number;
  readonly trustedProxies: TrustedProxies;
  /** The path's tracking cookies (cookie authentication), or null without. */
  readonly cookies?: CookieStore | null;
  /**
   * Whether a browser origin may upgrade (`allowed_origins`, `allow_null_origin`; the request's
   * `Host` header given too); others get 403 before the upgrade. Null or absent: any.
   */
  readonly origins?: ((origin: string, host: string | null) => boolean) | null;
  /** Whether an upgrade must offer a WAMP subprotocol (else it speaks JSON); default true. */
  readonly requireSubprotocol?: boolean;
  /** Largest incoming frame payload in bytes (`max_frame_size`); 0 or absent: no own limit. */
  readonly maxFrameSize?: number;
}

/** Who sent a request. */
export interface ClientInfo {
  /** The connection's remote address. */
  readonly remoteAddr: Deno.Addr;
}

/** What an {@linkcode HttpServer} serves (`R`: the caller's route type). */
export interface HttpServerOptions<R extends WampRoute = WampRoute> {
  readonly clock: Clock;
  readonly logger: Logger;
  /** True for TLS listeners (`https:`/`wss:`). */
  readonly secure: boolean;
  /**
   * TLS done here with `node:tls` over the accepted TCP connection, requiring a client
   * certificate verified against the context's CAs (`Deno.listenTls` cannot ask for one);
   * null or absent: the listener's own TLS, or none.
   */
  readonly clientCertificates?: tls.SecureContext | null;
  /** Deadline for request bodies and for idle kept-alive connections (ms). */
  readonly idleMs: number;
  /**
   * The WAMP endpoint serving WebSocket upgrades on `path` (no slashes), if any. Return the
   * same object for the same endpoint: the WebSocket server of each route is kept.
   */
  wampRoute(path: string): R | undefined;
  /** Serves a plain HTTP request. */
  fetch(req: Request, client: ClientInfo): Response | Promise<Response>;
  /** A WebSocket connection was upgraded on a WAMP path: attach its session. */
  connected(peer: WebSocketPeer, route: R): void;
}

/**
 * How much a WebSocket message may exceed `max_message_size` and still be read whole, so the
 * client is told with an ABORT naming the limit instead of a bare close 1009: as much again as
 * the limit, at most 1 MiB. A larger frame is cut off with close 1009 while it arrives.
 */
const OVERSIZE_HEADROOM = 1024 * 1024;

/** Writes a whole HTTP response on a socket that `node:http` handed over, then closes it. */
function writeRaw(socket: Duplex, status: number, reason: string, text: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = Buffer.from(text);
  socket.write(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`,
  );
  socket.end(body);
}

/** The HTTP side of one transport. */
export class HttpServer<R extends WampRoute = WampRoute> {
  readonly #options: HttpServerOptions<R>;
  readonly #server: http.Server;
  readonly #accepted = new WeakMap<Duplex, Accepted>();
  readonly #wss = new WeakMap<WampRoute, WebSocketServer>();
  /** The `Set-Cookie` value of each upgrade response that sets a tracking cookie. */
  readonly #setCookie = new WeakMap<http.IncomingMessage, string>();
  /** The verified client certificate of each connection with TLS done here. */
  readonly #certificates = new WeakMap<Duplex, PeerCertificate>();

  constructor(options: HttpServerOptions<R>) {
    this.#options = options;
    this.#server = http.createServer({ maxHeaderSize: 16 * 1024 });
    this.#server.on("request", (req, res) => this.#request(req, res));
    this.#server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
    this.#server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
      if (err.code === "HPE_HEADER_OVERFLOW") {
        return writeRaw(socket, 431, "Request Header Fields Too Large", "Headers too large.\n");
      }
      writeRaw(socket, 400, "Bad Request", "Bad request.\n");
    });
  }

  /** Serves one accepted connection; `head` holds bytes already read from it. */
  serve(accepted: Accepted, head?: Uint8Array): void {
    const stream = new ConnStream(accepted.conn, head);
    stream.setNoDelay(true);
    this.#accepted.set(stream, accepted);
    stream.on("close", () => accepted.release());
    stream.on("error", (e: Error) => {
      this.#options.logger.debug("http connection failed", { error: e.message });
    });
    const context = this.#options.clientCertificates;
    if (context) return this.#serveTls(stream, accepted, context);
    this.#accepted.set(stream, accepted);
    this.#server.emit("connection", stream);
  }

  /**
   * The TLS server handshake on `stream`, asking for a client certificate: the connection goes
   * to HTTP only once its certificate chains to the context's CAs (a bare `TLSSocket` does not
   * enforce that itself; its `verifyError()` tells).
   */
  #serveTls(stream: ConnStream, accepted: Accepted, secureContext: tls.SecureContext): void {
    const { logger } = this.#options;
    const socket = new tls.TLSSocket(stream, {
      isServer: true,
      secureContext,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const peer = peerString(accepted.conn.remoteAddr);
    // the TLS socket does not always pass its end on to the connection under it
    const drop = () => {
      socket.destroy();
      stream.destroy();
    };
    socket.on("error", (e: Error) => {
      logger.debug("TLS connection failed", { peer, error: e.message });
      drop();
    });
    socket.on("close", () => stream.destroy());
    socket.once("secure", () => {
      const handle = socket as unknown as { ssl?: { verifyError?(): Error | null } };
      const error = handle.ssl?.verifyError?.() ?? null;
      const cert = socket.getPeerCertificate();
      if (error || !cert?.fingerprint256) {
        logger.info("TLS client certificate refused", {
          peer,
          reason: error ? String((error as { code?: string }).code ?? error.message) : "none sent",
        });
        return drop();
      }
      this.#accepted.set(socket, accepted);
      this.#certificates.set(socket, {
        sha1: cert.fingerprint,
        sha256: cert.fingerprint256,
        subject: { ...cert.subject } as Record<string, string>,
        issuer: { ...cert.issuer } as Record<string, string>,
        serial: cert.serialNumber,
        not_before: cert.valid_from,
        not_after: cert.valid_to,
      });
      this.#server.emit("connection", socket);
    });
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const accepted = this.#accepted.get(req.socket);
    const deadline = accepted?.deadline;
    const { idleMs, logger } = this.#options;
    // headers are in; a body still arriving gets its own deadline
    deadline?.clear();
    if (req.readableEnded) deadline?.clear();
    else {
      deadline?.arm(idleMs);
      req.on("end", () => deadline?.clear());
      // GET and HEAD have no body to read: drain the (empty) request so its end clears the
      // deadline now, not when a long response is done (which the deadline would cut short)
      if (req.method === "GET" || req.method === "HEAD") req.resume();
    }
    res.on("finish", () => {
      if (!req.socket.destroyed) deadline?.arm(idleMs);
    });
    this.#respond(req, res, accepted).catch((e) => {
      logger.error("HTTP handler failed", { url: req.url, error: String(e) });
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("Internal error\n");
      } else {
        res.destroy();
      }
    });
  }

  async #respond(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    accepted: Accepted | undefined,
  ): Promise<void> {
    const request = this.#toRequest(req, res);
    if (!request) {
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      return void res.end("Bad request\n");
    }
    const remoteAddr: Deno.Addr = accepted?.conn.remoteAddr ??
      { transport: "tcp", hostname: "0.0.0.0", port: 0 };
    const { logger } = this.#options;
    const response = await this.#options.fetch(request, { remoteAddr });
    const headers: Record<string, string | string[]> = {};
    response.headers.forEach((value, key) => {
      headers[key] = key === "set-cookie" ? response.headers.getSetCookie() : value;
    });
    res.writeHead(response.status, headers);
    if (!response.body || req.method === "HEAD") {
      await response.body?.cancel();
      return void res.end();
    }
    const reader = response.body.getReader();
    res.on("close", () => void reader.cancel().catch(() => {}));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        if (res.destroyed) return; // gone already: its close has been and will not come again
        // both listeners go once either fires: a long body waits for drain many times. A client
        // that stops reading gets `idleMs` to take some more before its connection is dropped
        // (else it could hold a connection and an open file for ever).
        await new Promise<void>((resolve) => {
          const { clock, idleMs } = this.#options;
          const stalled = idleMs > 0
            ? clock.setTimer(() => {
              logger.debug("HTTP client stopped reading the response; dropping it", {
                url: req.url,
                timeout_ms: idleMs,
              });
              res.destroy();
              done();
            }, idleMs)
            : null;
          function done() {
            if (stalled !== null) clock.clearTimer(stalled);
            res.off("drain", done);
            res.off("close", done);
            resolve();
          }
          res.once("drain", done);
          res.once("close", done);
        });
        if (res.destroyed) return;
      }
    }
    res.end();
  }

  /** The fetch-style request of a `node:http` one, or null when its URL is not usable. */
  #toRequest(req: http.IncomingMessage, res: http.ServerResponse): Request | null {
    const host = req.headers.host ?? "localhost";
    let url: URL;
    try {
      url = new URL(req.url ?? "/", `${this.#options.secure ? "https" : "http"}://${host}`);
    } catch {
      return null;
    }
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      try {
        headers.append(raw[i]!, raw[i + 1]!);
      } catch {
        return null; // a header value fetch's Headers refuses
      }
    }
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    const method = req.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD";
    return new Request(url, {
      method,
      headers,
      signal: controller.signal,
      body: hasBody ? bodyStream(req) : null,
    });
  }

  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const accepted = this.#accepted.get(socket);
    const { logger, clock, secure } = this.#options;
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://x").pathname.replace(/^\/+|\/+$/g, "");
    } catch {
      return writeRaw(socket, 400, "Bad Request", "Bad request.\n");
    }
    const route = this.#options.wampRoute(path);
    if (!route || !accepted) return writeRaw(socket, 404, "Not Found", "Not found\n");
    const refusal = originRefusal(route.origins ?? null, req);
    if (refusal !== null) {
      logger.info("websocket upgrade refused: origin not allowed", {
        peer: peerString(accepted.conn.remoteAddr),
        origin: refusal,
        path: `/${path}`,
      });
      return writeRaw(socket, 403, "Forbidden", "Origin not allowed.\n");
    }
    const chosen = chooseSerializer(
      req.headers["sec-websocket-protocol"],
      route.serializers,
      route.requireSubprotocol ?? true,
    );
    if (chosen instanceof Response) {
      void chosen.text().then((text) => writeRaw(socket, chosen.status, "Bad Request", text));
      return;
    }
    if (route.handshakeMs > 0) accepted.deadline.armAt(accepted.acceptedAt + route.handshakeMs);
    const conn = accepted.conn;
    const remote = conn.remoteAddr;
    const client = remote.transport === "tcp"
      ? clientAddress(
        remote.hostname,
        (name) => {
          const v = req.headers[name];
          return Array.isArray(v) ? v.join(",") : v;
        },
        route.trustedProxies,
      )
      : undefined;
    const details: TransportDetails = {
      type: "websocket",
      channel_type: secure ? "tls" : "tcp",
      channel_framing: "websocket",
      channel_serializer: chosen.name,
      peer: peerString(remote, client),
      is_secure: secure,
      websocket_protocol: chosen.subprotocol,
      http_path: `/${path}`,
      ...(this.#certificates.has(socket) ? { peer_cert: this.#certificates.get(socket)! } : {}),
    };
    const stream: LinkStream = socket instanceof ConnStream ? socket : tlsLinkStream(socket);
    const visit = route.cookies?.visit(req.headers.cookie, secure, `/${path}`) ?? null;
    if (visit?.setCookie) this.#setCookie.set(req, visit.setCookie);
    this.#serverFor(route).handleUpgrade(req, socket, head, (socket) => {
      const peer = new WebSocketPeer(
        wsLink(socket as unknown as WsSocket, stream, frame),
        chosen,
        route.peer,
        details,
        logger,
        clock,
        accepted.deadline,
        visit?.cookie ?? null,
      );
      this.#options.connected(peer, route);
    });
  }

  #serverFor(route: R): WebSocketServer {
    let wss = this.#wss.get(route);
    if (!wss) {
      const limit = route.peer.maxMessageSize;
      const frameLimit = route.maxFrameSize ?? 0;
      const payload = limit + Math.min(limit, OVERSIZE_HEADROOM);
      wss = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        // ws limits a message's frames together: max_frame_size caps that total too
        maxPayload: frameLimit > 0 ? Math.min(frameLimit, payload) : payload,
        skipUTF8Validation: false,
        allowSynchronousEvents: true,
        handleProtocols: (protocols: Set<string>) => {
          // the subprotocol was chosen above; ws only needs it echoed
          const offered = [...protocols];
          const chosen = chooseSerializer(offered.join(","), route.serializers);
          return chosen instanceof Response ? false : chosen.subprotocol;
        },
      });
      wss.on("headers", (headers: string[], req: http.IncomingMessage) => {
        const cookie = this.#setCookie.get(req);
        if (cookie !== undefined) headers.push(`Set-Cookie: ${cookie}`);
      });
      this.#wss.set(route, wss);
    }
    return wss;
  }
}

/**
 * Null when the upgrade's `Origin` is allowed by `policy` (or it has none), else the origin
 * refused (two `Origin` headers are refused as a whole, as Autobahn does).
 */
function originRefusal(
  allowed: ((origin: string, host: string | null) => boolean) | null,
  req: http.IncomingMessage,
): string | null {
  if (allowed === null) return null;
  const origins: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "origin") origins.push(raw[i + 1]!.trim());
  }
  if (origins.length === 0) return null;
  if (origins.length > 1) return origins.join(", ");
  return allowed(origins[0]!, req.headers.host ?? null) ? null : origins[0]!;
}

/** A WebSocket link's writes on a socket whose TLS is done here (no per-turn batching). */
function tlsLinkStream(socket: Duplex): LinkStream {
  return {
    queue(bytes) {
      socket.write(bytes);
    },
    get queued() {
      return socket.writableLength;
    },
    end() {
      socket.end();
    },
    destroy() {
      socket.destroy();
    },
    once(event, fn) {
      socket.once(event, fn);
    },
  };
}

/** A request body as a byte stream, pulling from `node:http` with backpressure. */
function bodyStream(req: http.IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.on("end", () => controller.close());
      req.on("error", (e) => controller.error(e));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.destroy();
    },
  }, { highWaterMark: 4 });
}
