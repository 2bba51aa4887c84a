/**
 * Switchboard's command line: parses flags, loads the config and runs the router.
 *
 * @module
 */

import { parseArgs } from "node:util";
import defaultConfig from "./config.example.json" with { type: "json" };
import denoJson from "./deno.json" with { type: "json" };

/**
 * The environment variables the `ws` package reads when it loads (whether to use its optional
 * native add-ons): the router needs read access to exactly these.
 */
const WS_ENV = ["WS_NO_BUFFER_UTIL", "WS_NO_UTF_8_VALIDATE"];

const HELP = `Switchboard ${denoJson.version}: a WAMP v2 router

Usage: switchboard [options]

Options:
  --config FILE      Crossbar-style node config (JSON). Default: the embedded
                     config.example.json (realm1 on ws://127.0.0.1:8080/ws).
  --host HOST        Override the first transport's listening interface.
  --port PORT        Override the first transport's port (0 = any free port).
  --node NAME        This node's name in a cluster (overrides cluster.node).
  --cluster URL[,URL]
                     NATS servers of the cluster (overrides cluster.servers; creates
                     the cluster block when the config has none).
  --log-level LEVEL  error | warn | info | debug (default: info).
  --log-format FMT   text (default) or json (one JSON object per line).

  --help             Show this help and exit.
  --version          Show the version and exit.

Signals: SIGINT/SIGTERM shut down cleanly; SIGHUP reloads --config (realms, roles,
permissions, stats) without dropping sessions; an invalid file is rejected and the old
configuration stays.

Permissions: --allow-net (to listen), --allow-read (to read --config and TLS files) and
--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE (the WebSocket library reads these two
when it loads). A config that uses "$ENV_VAR" secrets also needs those variables in
--allow-env, and a RawSocket transport on a Unix socket also needs --allow-write.
`;

function fail(message: string): never {
  console.error(`switchboard: ${message}`);
  Deno.exit(1);
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseArgs({
      args: Deno.args,
      options: {
        config: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        node: { type: "string" },
        cluster: { type: "string" },
        "log-level": { type: "string", default: "info" },
        "log-format": { type: "string", default: "text" },
        help: { type: "boolean", default: false },
        version: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    fail(`${(e instanceof Error ? e.message : String(e)).split("\n")[0]} (see --help)`);
  }
  if (flags.help) {
    console.log(HELP);
    return;
  }
  if (flags.version) {
    console.log(`switchboard ${denoJson.version}`);
    return;
  }
  const missing = WS_ENV.filter((variable) =>
    Deno.permissions.querySync({ name: "env", variable }).state !== "granted"
  );
  if (missing.length > 0) {
    fail(
      `needs --allow-env=${WS_ENV.join(",")} (the WebSocket library reads ${
        missing.join(" and ")
      } when it loads); add them to --allow-env`,
    );
  }
  const {
    applyOverrides,
    ClusterStartError,
    ConfigError,
    consoleLogger,
    createRouter,
    isLogLevel,
    jsonLogger,
    loadConfigFile,
    parseConfig,
  } = await import("./mod.ts");
  const level = flags["log-level"] ?? "info";
  if (!isLogLevel(level)) fail(`--log-level must be error, warn, info or debug, got "${level}"`);
  let port: number | undefined;
  if (flags.port !== undefined) {
    port = Number(flags.port);
    if (!/^\d+$/.test(flags.port) || port > 65535) {
      fail(`--port must be an integer 0..65535, got "${flags.port}"`);
    }
  }

  const overrides = {
    host: flags.host,
    port,
    node: flags.node,
    cluster: flags.cluster?.split(",").map((url) => url.trim()),
  };
  let config;
  try {
    config = flags.config ? await loadConfigFile(flags.config) : parseConfig(defaultConfig);
    config = applyOverrides(config, overrides);
  } catch (e) {
    if (e instanceof ConfigError) fail(`config error: ${e.message}`);
    throw e;
  }

  const format = flags["log-format"] ?? "text";
  if (format !== "text" && format !== "json") {
    fail(`--log-format must be text or json, got "${format}"`);
  }
  const logger = format === "json" ? jsonLogger(level) : consoleLogger(level);
  const router = createRouter(config, { logger });
  // Signals are handled from before the first listener opens, so a supervisor that signals
  // as soon as it sees the start-up line gets a clean shutdown.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: closing every session with wamp.close.system_shutdown`);
    await router.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  if (flags.config) {
    const file = flags.config;
    router.configSource = async () => applyOverrides(await loadConfigFile(file), overrides);
  }
  Deno.addSignalListener("SIGHUP", () => {
    logger.info("SIGHUP received: reloading the configuration");
    router.reload().catch((e) => {
      logger.error("reload failed; the old configuration stays in force", {
        error: e instanceof Error ? e.message : String(e),
      });
    });
  });
  let listeners;
  try {
    listeners = await router.serve();
  } catch (e) {
    if (e instanceof ClusterStartError) {
      await router.close(0);
      fail(e.message);
    }
    if (
      e instanceof ConfigError || e instanceof Deno.errors.AddrInUse ||
      e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.AddrNotAvailable
    ) {
      await router.close(0);
      fail(e instanceof ConfigError ? `config error: ${e.message}` : `cannot listen: ${e.message}`);
    }
    throw e;
  }
  const realms = router.realmNames.join(", ") || "none";
  for (const l of listeners) {
    const serializers = l.transport.type === "websocket"
      ? l.transport.websocket.serializers
      : l.transport.type === "rawsocket"
      ? l.transport.rawsocket.serializers
      : [...new Set([...l.transport.paths.values()].flatMap((p) => p.serializers))];
    console.log(
      `Switchboard ${denoJson.version} listening on ${l.urls.join(", ")} ` +
        `(realms: ${realms}; serializers: ${serializers.join(", ")})`,
    );
  }
  if (listeners.length === 0) {
    console.log(`Switchboard ${denoJson.version}: no transports configured (realms: ${realms})`);
  }
}

if (import.meta.main) await main();
