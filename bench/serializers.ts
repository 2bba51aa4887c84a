/**
 * The serializers the benchmark runs each case over: the project's own JSON and MessagePack
 * serializers, so the load generator encodes and decodes exactly as the router does.
 *
 * @module
 */

import { jsonSerializer } from "../src/serializer/json.ts";
import { msgpackSerializer } from "../src/serializer/msgpack.ts";
import type { Serializer } from "../src/serializer/serializer.ts";

/** Serializers by name, in run order. */
export const BENCH_SERIALIZERS: ReadonlyMap<string, Serializer> = new Map([
  ["json", jsonSerializer],
  ["msgpack", msgpackSerializer],
]);
