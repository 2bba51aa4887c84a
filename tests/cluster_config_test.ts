/**
 * The cluster's configuration and start-up: the worker-level `cluster` block (every key, every
 * error naming its path), `--node` / `--cluster` overrides, `createRouter` (the only way to a
 * clustered router; a single-node config loads no cluster module), and a node that cannot
 * reach NATS: the library rejects with `ClusterStartError`, the CLI exits with one line.
 */

import assert from "node:assert/strict";
import {
  applyOverrides,
  ClusterStartError,
  ConfigError,
  createRouter,
  parseConfig,
  Router,
} from "../mod.ts";
import { DEFAULT_NODE_NAME_PREFIX } from "../src/config/defaults.ts";
import { routerInternals } from "../src/router/router.ts";
import { CLI_PERMISSIONS } from "./_process.ts";
import { freePort } from "./_nats.ts";

type Json = Record<string, unknown>;

function node(cluster?: unknown, transports: unknown[] = []): Json {
  const worker: Json = { type: "router", realms: [{ name: "realm1", roles: [] }], transports };
  if (cluster !== undefined) worker.cluster = cluster;
  return { version: 2, workers: [worker] };
}

function configError(fn: () => unknown, path: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.path, path);
    assert.match(e.reason, reason);
    return true;
  });
}

const NATS = { type: "nats", servers: ["nats://127.0.0.1:4222"] };

Deno.test("cluster config: the block resolves with its defaults", () => {
  const c = parseConfig(node({ ...NATS, node: "sb1" })).cluster!;
  assert.deepEqual(c, {
    type: "nats",
    servers: ["nats://127.0.0.1:4222"],
    node: "sb1",
    heartbeat_interval: 1000,
    node_timeout: 3000,
  });
  const a = parseConfig(node(NATS)).cluster!;
  const b = parseConfig(node(NATS)).cluster!;
  assert.match(a.node, new RegExp(`^${DEFAULT_NODE_NAME_PREFIX}[0-9a-f]{8}$`));
  assert.notEqual(a.node, b.node, "a default name is random");
  const tls = parseConfig(node({
    ...NATS,
    servers: ["tls://nats.example.com:4443", "nats://10.0.0.2"],
    heartbeat_interval: 500,
    node_timeout: 2000,
  })).cluster!;
  assert.deepEqual(tls.servers, ["tls://nats.example.com:4443", "nats://10.0.0.2"]);
  assert.equal(tls.heartbeat_interval, 500);
  assert.equal(tls.node_timeout, 2000);
  assert.equal(parseConfig(node()).cluster, undefined);
});

Deno.test("cluster config: every wrong value is an error naming its path", () => {
  const p = "workers[0].cluster";
  configError(() => parseConfig(node("nats")), p, /must be an object/);
  configError(() => parseConfig(node({ ...NATS, nodes: 3 })), `${p}.nodes`, /unknown key/);
  configError(() => parseConfig(node({ servers: NATS.servers })), `${p}.type`, /required/);
  configError(() => parseConfig(node({ ...NATS, type: "redis" })), `${p}.type`, /"nats"/);
  configError(() => parseConfig(node({ type: "nats" })), `${p}.servers`, /required/);
  configError(() => parseConfig(node({ ...NATS, servers: [] })), `${p}.servers`, /at least one/);
  configError(() => parseConfig(node({ ...NATS, servers: "nats://x" })), `${p}.servers`, /array/);
  for (const bad of ["http://x:4222", "127.0.0.1:4222", "nats://", "nats://x/path", 4222]) {
    configError(
      () => parseConfig(node({ ...NATS, servers: ["nats://ok", bad] })),
      `${p}.servers[1]`,
      /NATS server URL|must be a string/,
    );
  }
  for (const bad of ["", "a.b", "n 1", "x".repeat(65), "n*", 7]) {
    configError(() => parseConfig(node({ ...NATS, node: bad })), `${p}.node`, /A-Z|string/);
  }
  configError(
    () => parseConfig(node({ ...NATS, heartbeat_interval: 10 })),
    `${p}.heartbeat_interval`,
    /100\.\.60000/,
  );
  configError(
    () => parseConfig(node({ ...NATS, node_timeout: 1.5 })),
    `${p}.node_timeout`,
    /integer/,
  );
  configError(
    () => parseConfig(node({ ...NATS, heartbeat_interval: 2000, node_timeout: 2000 })),
    `${p}.node_timeout`,
    /longer than heartbeat_interval/,
  );
});

Deno.test("cluster config: --node and --cluster override the block, or create it", () => {
  const base = parseConfig(node({ ...NATS, node: "sb1" }));
  const renamed = applyOverrides(base, { node: "n2" });
  assert.equal(renamed.cluster!.node, "n2");
  assert.deepEqual(renamed.cluster!.servers, NATS.servers);
  const moved = applyOverrides(base, { cluster: ["nats://10.0.0.1:4222", "tls://h:1"] });
  assert.deepEqual(moved.cluster!.servers, ["nats://10.0.0.1:4222", "tls://h:1"]);
  assert.equal(moved.cluster!.node, "sb1");
  const single = parseConfig(node());
  const created = applyOverrides(single, { cluster: ["nats://127.0.0.1:4222"], node: "n3" });
  assert.deepEqual(created.cluster, {
    type: "nats",
    servers: ["nats://127.0.0.1:4222"],
    node: "n3",
    heartbeat_interval: 1000,
    node_timeout: 3000,
  });
  assert.equal(single.cluster, undefined, "the input is not modified");
  configError(() => applyOverrides(single, { node: "n1" }), "(override).node", /--node needs/);
  configError(() => applyOverrides(base, { node: "a b" }), "(override).node", /A-Z/);
  configError(
    () => applyOverrides(base, { cluster: ["nats://ok", "bad"] }),
    "(override).cluster[1]",
    /NATS server URL/,
  );
  configError(() => applyOverrides(base, { cluster: [] }), "(override).cluster", /at least one/);
});

Deno.test("cluster config: new Router() refuses a cluster block and names createRouter", () => {
  const config = parseConfig(node({ ...NATS, node: "sb1" }));
  assert.throws(() => new Router(config), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /createRouter/);
    return true;
  });
});

Deno.test("cluster config: a single-node router has no extension and a static graph without cluster code", async () => {
  await using router = createRouter(node());
  await router.ready;
  assert.equal(routerInternals(router).extension, null);
  // mod.ts and main.ts reach src/cluster/ (and nats.js) only through create_router.ts's
  // dynamic import, which runs only for a config with a cluster block
  for (const root of ["mod.ts", "main.ts"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
      }[];
    };
    const byName = new Map(info.modules.map((m) => [m.specifier, m]));
    const root_ = info.modules.find((m) => m.specifier.endsWith(`/${root}`))!;
    const seen = new Set<string>();
    const dynamicIntoCluster: string[] = [];
    const walk = (spec: string) => {
      if (seen.has(spec)) return;
      seen.add(spec);
      for (const d of byName.get(spec)?.dependencies ?? []) {
        const to = d.code?.specifier;
        if (!to) continue;
        // main.ts loads mod.ts by a dynamic import: that is the start path too; a dynamic
        // import of cluster code is the guarded one
        if (d.isDynamic && /\/src\/cluster\//.test(to)) {
          dynamicIntoCluster.push(`${spec} → ${to}`);
          continue;
        }
        walk(to);
      }
    };
    walk(root_.specifier);
    const cluster = [...seen].filter((s) => /\/src\/cluster\/|@nats-io/.test(s));
    assert.deepEqual(cluster, [], `${root} statically loads cluster code`);
    assert.ok(seen.size > 20, `${root}: the walk found the graph (${seen.size})`);
    {
      const base = new URL("..", import.meta.url).href;
      assert.deepEqual(
        dynamicIntoCluster.map((e) => e.replaceAll(base, "")),
        ["src/create_router.ts → src/cluster/node.ts"],
      );
    }
  }
});

Deno.test("cluster config: unreachable NATS rejects ready and serve() with ClusterStartError", async () => {
  const url = `nats://127.0.0.1:${freePort()}`;
  const router = createRouter(node({ type: "nats", servers: [url], node: "lonely" }));
  await assert.rejects(router.ready, (e: unknown) => {
    assert.ok(e instanceof ClusterStartError, String(e));
    assert.deepEqual(e.servers, [url]);
    assert.ok(e.message.includes(url), e.message);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  });
  await assert.rejects(router.serve(), ClusterStartError);
  await router.close();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSIONS, "main.ts", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("cluster config: the CLI exits with one line when NATS is out of reach, or --node has no cluster", async () => {
  const url = `nats://127.0.0.1:${freePort()}`;
  const down = await cli("--port", "0", "--node", "n1", "--cluster", url);
  assert.equal(down.code, 1);
  assert.equal(down.stdout, "");
  const lines = down.stderr.trimEnd().split("\n").filter((l) => !/ INFO /.test(l));
  assert.equal(lines.length, 1, down.stderr);
  assert.match(lines[0]!, /^switchboard: cannot reach the cluster's NATS servers/);
  assert.ok(lines[0]!.includes(url), lines[0]);
  const alone = await cli("--port", "0", "--node", "n1");
  assert.equal(alone.code, 1);
  assert.match(
    alone.stderr,
    /^switchboard: config error: \(override\)\.node: --node needs a cluster/,
  );
  const bad = await cli("--port", "0", "--cluster", "http://x");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\(override\)\.cluster\[0\]: must be a NATS server URL/);
});
