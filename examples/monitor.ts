/**
 * Session monitor in Deno: prints wamp.session.on_join, on_stats and on_leave events, like
 * examples/monitor.py, using AutobahnJS (npm) over a WebSocket.
 *
 *     deno run --lock=dev.lock --allow-net --allow-env examples/monitor.ts [--url ws://localhost:8080/ws] [--realm realm1]
 *
 * AutobahnJS is a test-only package of this repository: it is imported by `npm:` specifier and
 * pinned in dev.lock (`--lock=dev.lock`), so it never enters deno.lock, the router's run path.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- not in deno.json's imports, which `deno task start` installs
import autobahn from "npm:autobahn@^26.3.1";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string", default: "ws://localhost:8080/ws" },
    realm: { type: "string", default: "realm1" },
  },
});

// deno-lint-ignore no-explicit-any
const show = (v: unknown) => Deno.inspect(v, { depth: 6, colors: false, sorted: true }) as any;

const connection = new autobahn.Connection({
  url: values.url!,
  realm: values.realm!,
  max_retries: -1,
});

connection.onopen = async (session: autobahn.Session) => {
  console.log(`>>>>>> MONITOR session joined: ${session.id}`);
  await session.subscribe("wamp.session.on_join", ([details]: unknown[]) => {
    console.log(`>>>>>> MONITOR : session joined\n${show(details)}\n`);
  });
  await session.subscribe("wamp.session.on_stats", ([details, stats]: unknown[]) => {
    console.log(`>>>>>> MONITOR : session stats\n${show(details)}\n${show(stats)}\n`);
  });
  await session.subscribe("wamp.session.on_leave", ([sessionId]: unknown[]) => {
    console.log(`>>>>>> MONITOR : session ${sessionId} left`);
  });
};

connection.open();
