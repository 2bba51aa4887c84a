/**
 * The small control protocol between the benchmark (parent) and a server under test (child).
 *
 * The child prints one JSON line `{"port": <n>, "pid": <n>}` on stdout once it listens (the
 * router adds `"ports": {"websocket": <n>, "rawsocket": <n>}`, one port per transport). It then
 * reads its stdin line by line, one `<command> <id>` per line, and answers each with one JSON
 * line that carries the same `id` (so a late answer cannot be taken for a later one): `gc`
 * runs a full garbage collection when the child was started with `--v8-flags=--expose-gc` and
 * answers `{"gc": true|false}`; `rss` answers `{"rss": <bytes>}` (`Deno.memoryUsage().rss`);
 * `cpu` answers `{"cpu": <seconds>}` (user + system CPU time of the process); `heap` answers
 * `{"heapUsed": <bytes>, "external": <bytes>}`; `snapshot` writes a V8 heap snapshot into the
 * directory named by `BENCH_HEAP_SNAPSHOT_DIR` and answers `{"path": <file>}`. These need no
 * permissions, whereas reading `/proc/<pid>/*` from Deno requires `--allow-all`. End of input
 * (the parent exited or closed the pipe) shuts the server down (at most 1 s) and ends the
 * process, so no server outlives its benchmark.
 *
 * @module
 */

import process from "node:process";
import { writeHeapSnapshot } from "node:v8";

/**
 * Environment variable naming the directory the `snapshot` command writes heap snapshots to
 * (set by `targets.ts`, which also grants the child write access to it).
 */
export const HEAP_SNAPSHOT_ENV = "BENCH_HEAP_SNAPSHOT_DIR";

const encoder = new TextEncoder();

/** Writes one JSON line to stdout. */
export function reply(value: unknown): void {
  const bytes = encoder.encode(JSON.stringify(value) + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/**
 * Announces the listening port to the parent (the WebSocket one), and with `ports` the port of
 * each transport by type.
 */
export function announce(port: number, ports?: Readonly<Record<string, number>>): void {
  reply(ports === undefined ? { port, pid: Deno.pid } : { port, ports, pid: Deno.pid });
}

/**
 * Serves control commands from stdin until end of input, then calls `shutdown` and exits.
 * Never returns.
 */
export async function serveControl(shutdown: () => Promise<void>): Promise<never> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const [command = "", idText = "0"] = pending.slice(0, nl).trim().split(/\s+/);
      pending = pending.slice(nl + 1);
      const id = Number(idText);
      if (command === "gc") {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (gc !== undefined) gc();
        reply({ id, gc: gc !== undefined });
      } else if (command === "rss") {
        reply({ id, rss: Deno.memoryUsage().rss });
      } else if (command === "cpu") {
        const { user, system } = process.cpuUsage();
        reply({ id, cpu: (user + system) / 1e6 });
      } else if (command === "heap") {
        const { heapUsed, external } = Deno.memoryUsage();
        reply({ id, heapUsed, external });
      } else if (command === "snapshot") {
        const dir = Deno.env.get(HEAP_SNAPSHOT_ENV);
        if (dir === undefined) {
          reply({ id, error: `snapshot: ${HEAP_SNAPSHOT_ENV} not set` });
        } else {
          Deno.mkdirSync(dir, { recursive: true });
          const path = writeHeapSnapshot(`${dir}/heap-${Deno.pid}-${id}.heapsnapshot`);
          reply({ id, path });
        }
      } else if (command !== "") {
        reply({ id, error: `unknown command: ${command}` });
      }
    }
  }
  // Graceful shutdown may wait on open connections; give it a moment, then exit regardless.
  await Promise.race([shutdown(), new Promise((resolve) => setTimeout(resolve, 1000))]);
  Deno.exit(0);
}
