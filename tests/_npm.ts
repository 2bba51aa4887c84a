/**
 * The npm packages that only tests load: the WAMP client libraries the interop tests drive
 * (AutobahnJS, wampy). (The CBOR codec the codec benchmark compares with, cborg, is imported the
 * same way by bench/codec_bench.ts itself, so that the benchmark loads nothing else.)
 *
 * They are imported here by `npm:` specifier instead of through deno.json's `"imports"`, so they
 * never enter `deno.lock`, the router's run path (`deno task start` installs everything listed
 * in deno.json's imports and deno.lock before it starts the router). They are pinned in
 * `dev.lock` instead, which `deno task test`, `check` and `bench` use (`--lock=dev.lock`).
 * `tests/run_path_test.ts` fails when one of them reaches deno.lock or main.ts's module graph.
 *
 * @module
 */

export { default as autobahn } from "npm:autobahn@^26.3.1";
export { Wampy } from "npm:wampy@^8.0.2";
export { JsonSerializer } from "npm:wampy@^8.0.2/JsonSerializer.js";
export { MsgpackSerializer } from "npm:wampy@^8.0.2/MsgpackSerializer.js";
export { CborSerializer } from "npm:wampy@^8.0.2/CborSerializer.js";
