/**
 * What the codecs' native add-ons (`cbor-extract`, `msgpackr-extract`) would buy the router:
 * `deno run --allow-ffi --allow-read --allow-env bench/native_addons.ts [--rounds=9]`.
 *
 * The router imports the pure-JavaScript decoders (`cbor-x/decode`, `msgpackr/unpack`) and runs
 * without `--allow-ffi`, so the add-ons Deno fetches as optional dependencies are never loaded
 * (README, "The first start on a fresh machine"). This decodes the same wire bytes (an EVENT
 * with a string-heavy payload, written by the router's own serializers) with those decoders and
 * with the packages' main entry points, which load the add-ons when `--allow-ffi` allows it,
 * interleaved for several rounds, and prints the median decodes per second of each. The add-ons
 * only speed up decoding strings; encoding, the cost of a fan-out, is the same code either way.
 *
 * @module
 */

import * as cborNative from "cbor-x";
import { Decoder as CborDecoder } from "cbor-x/decode";
import * as msgpackNative from "msgpackr";
import { Unpackr } from "msgpackr/unpack";
import { cborSerializer } from "../src/serializer/cbor.ts";
import { msgpackSerializer } from "../src/serializer/msgpack.ts";

const roundsArg = Deno.args.find((a) => a.startsWith("--rounds="));
const ROUNDS = roundsArg ? Number(roundsArg.slice("--rounds=".length)) : 9;
const PER_ROUND = 100_000;

const EVENT = [
  36,
  1234567,
  7654321,
  {},
  ["héllo ✓ 𝄞", "com.example.topic"],
  { name: "sensor-17", unit: "celsius", tags: ["a", "bb", "ccc"], text: "x".repeat(200) },
];

function bytesOf(payload: string | Uint8Array): Uint8Array {
  return typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
}
const cbor = bytesOf(cborSerializer.encode(EVENT));
const msgpack = bytesOf(msgpackSerializer.encode(EVENT));

const cases: [string, () => unknown][] = [
  ["CBOR, cbor-x/decode (the router's)", () => cborJs.decode(cbor)],
  ["CBOR, cbor-x with cbor-extract", () => cborAddon.decode(cbor)],
  ["MessagePack, msgpackr/unpack (the router's)", () => msgpackJs.unpack(msgpack)],
  ["MessagePack, msgpackr with msgpackr-extract", () => msgpackAddon.unpack(msgpack)],
];
const cborJs = new CborDecoder({ useRecords: false });
const cborAddon = new cborNative.Decoder({ useRecords: false });
const msgpackJs = new Unpackr({ useRecords: false });
const msgpackAddon = new msgpackNative.Unpackr({ useRecords: false });

function rate(decode: () => unknown): number {
  const start = performance.now();
  for (let i = 0; i < PER_ROUND; i++) decode();
  return PER_ROUND / (performance.now() - start) * 1000;
}

console.log(
  `add-ons loaded: cbor-extract ${cborNative.isNativeAccelerationEnabled}, ` +
    `msgpackr-extract ${msgpackNative.isNativeAccelerationEnabled} ` +
    `(an EVENT of ${cbor.length} B in CBOR, ${msgpack.length} B in MessagePack)`,
);
for (const [, decode] of cases) rate(decode); // warm-up
const rates: number[][] = cases.map(() => []);
for (let r = 0; r < ROUNDS; r++) cases.forEach(([, decode], i) => rates[i]!.push(rate(decode)));
cases.forEach(([name], i) => {
  const sorted = rates[i]!.sort((a, b) => a - b);
  const k = (v: number) => `${Math.round(v / 1000)}k`;
  console.log(
    `${name}: median ${k(sorted[Math.floor(ROUNDS / 2)]!)} decodes/s ` +
      `(min ${k(sorted[0]!)}, max ${k(sorted[ROUNDS - 1]!)})`,
  );
});
