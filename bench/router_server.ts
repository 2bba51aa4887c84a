/**
 * Starts Switchboard for the benchmark, as its own process.
 *
 * Usage:
 * `deno run --allow-net=127.0.0.1 --allow-read --allow-env bench/router_server.ts '<config JSON>'`
 *
 * The only argument is a Crossbar-shaped node config (see `config.ts` in this folder for the one
 * the benchmark uses: a `websocket` and a `rawsocket` transport on 127.0.0.1, port 0 each). The
 * router serves it, and also mounts its first transport in a `Deno.serve` server of its own on
 * 127.0.0.1 (`router.handler()`: Deno's HTTP server and WebSocket instead of the router's own
 * listener, for the `-mounted` cases). This prints
 * `{"port": <websocket port>, "ports": {"websocket": <n>, "rawsocket": <n>, "mounted": <n>},
 * "pid": <n>}` with the ports actually bound (the first TCP listener of each transport type), and
 * then follows the control protocol of `server_control.ts`.
 *
 * Uses the public API of `mod.ts`: `createRouter(config)`, `router.serve()` → listeners,
 * `router.handler()`, `router.close()`. This is the file to adapt if that API changes.
 *
 * @module
 */

import { ConfigError, createRouter, type Router } from "../mod.ts";
import { announce, serveControl } from "./server_control.ts";

if (import.meta.main) {
  const raw = Deno.args[0];
  if (raw === undefined) {
    console.error("usage: router_server.ts '<node config JSON>'");
    Deno.exit(2);
  }
  let router: Router;
  try {
    router = createRouter(JSON.parse(raw));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`router_server.ts: bad config: ${err.message}`);
    Deno.exit(2);
  }
  const listeners = await router.serve();
  if (listeners.length === 0) {
    console.error("router_server.ts: the config has no transport to serve");
    Deno.exit(2);
  }
  // One port per transport type (the first TCP listener of each; Unix sockets have port 0).
  const ports: Record<string, number> = {};
  for (const l of listeners) {
    if (l.port > 0) ports[l.transport.type] ??= l.port;
  }
  const mounted = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    router.handler(),
  );
  ports.mounted = mounted.addr.port;
  const main = ports.websocket ?? listeners[0]!.port;
  announce(main, ports);
  await serveControl(async () => {
    await router.close();
    await mounted.shutdown();
  });
}
