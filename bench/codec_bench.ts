/**
 * Codec benchmark behind the serializer choice:
 * `deno run --lock=dev.lock bench/codec_bench.ts [--ms=100] [--rounds=10]` (dev.lock: cborg is
 * a test-only package, see tests/_npm.ts).
 *
 * Run it without extra permissions, as the router runs: native addons (msgpackr-extract,
 * cbor-extract) then stay off, which is what production gets.
 *
 * For every candidate it first checks the WAMP rules that matter for a codec (64-bit integers
 * written as integers and read back exactly, plain objects, `Uint8Array` bytes), then prints
 * encode and decode ops/s (best of several interleaved rounds) for a typical small EVENT and
 * a larger one.
 * Every decoder of a format reads the same wire bytes (those of the Switchboard serializer).
 *
 * @module
 */

import { Decoder as MsgpackDecoder, Encoder as MsgpackEncoder } from "@msgpack/msgpack";
import { Decoder as CborXDecoder } from "cbor-x/decode";
import { Encoder as CborXEncoder } from "cbor-x/encode";
// deno-lint-ignore no-import-prefix -- a test-only package, pinned in dev.lock (tests/_npm.ts)
import * as cborg from "npm:cborg@^4.5.8";
import { Packr } from "msgpackr/pack";
import { type Options as MsgpackrOptions, Unpackr } from "msgpackr/unpack";
import { cborSerializer } from "../src/serializer/cbor.ts";
import { jsonSerializer } from "../src/serializer/json.ts";
import { msgpackSerializer } from "../src/serializer/msgpack.ts";
import type { Payload } from "../src/serializer/serializer.ts";

/** One codec under test. */
interface Candidate {
  readonly name: string;
  encode(message: readonly unknown[]): Payload;
  decode(payload: Payload): unknown;
}

function numericArg(name: string, fallback: number): number {
  const arg = Deno.args.find((candidate) => candidate.startsWith(`--${name}=`));
  return arg === undefined ? fallback : Number(arg.slice(name.length + 3));
}
const roundMs = numericArg("ms", 100);
const rounds = numericArg("rounds", 10);

const text128 = "hello " + "x".repeat(122);
/** `[EVENT, subId, pubId, {}, ["hello…" (128 bytes), 123], {"a": 1}]`, pubId above 2^32. */
const smallEvent: readonly unknown[] = [36, 1_234_567, 5_647_382_910_123_456, {}, [
  text128,
  123,
], { a: 1 }];
/** An EVENT carrying a 100-row table (about 8 KB as JSON). */
const largeEvent: readonly unknown[] = [
  36,
  1_234_567,
  5_647_382_910_123_456,
  { publisher: 3_692_581_470_123, topic: "com.example.topic.large", retained: false },
  Array.from({ length: 100 }, (_, i) => ({
    id: i * 1_000_003,
    name: `item-${i}`,
    price: i + 0.25,
    tags: ["a", "b", "c"],
    ok: i % 2 === 0,
  })),
  { page: 1, total: 100, cursor: "abcdefghijklmnopqrstuvwxyz0123456789" },
];

function bytesOf(payload: Payload): Uint8Array {
  if (typeof payload === "string") throw new TypeError("expected a binary payload");
  return payload;
}

function textOf(payload: Payload): string {
  if (typeof payload !== "string") throw new TypeError("expected a text payload");
  return payload;
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.fromHex(hex);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `check` and returns a failure description, or null when it passed. */
function rule(label: string, check: () => boolean): string | null {
  try {
    return check() ? null : label;
  } catch (error) {
    return `${label} (threw: ${describe(error)})`;
  }
}

function isPlainBytes(value: unknown): boolean {
  return value instanceof Uint8Array && value.constructor === Uint8Array;
}

function firstItem(decoded: unknown): unknown {
  return Array.isArray(decoded) ? decoded[0] : undefined;
}

/** Binary-format rules; `int64` is the leading byte of a 64-bit unsigned int (0xcf / 0x1b). */
function binaryRules(
  candidate: Candidate,
  int64: number,
  wire: { bigId: string; bigInt: string; bytes: string },
): string[] {
  const failures = [
    rule("writes 112233445566 as uint64 (not float)", () => {
      const out = bytesOf(candidate.encode([112_233_445_566]));
      return out[1] === int64 && out.length === 10;
    }),
    rule("writes 2^53 as uint64 (not float)", () => {
      const out = bytesOf(candidate.encode([2 ** 53]));
      return out[1] === int64 && out.length === 10;
    }),
    rule("writes 1574688364518998111n as uint64", () => {
      const out = bytesOf(candidate.encode([1_574_688_364_518_998_111n]));
      return out[1] === int64 && out.length === 10;
    }),
    rule("reads uint64 112233445566 as number", () => {
      return firstItem(candidate.decode(fromHex(wire.bigId))) === 112_233_445_566;
    }),
    rule("reads uint64 1574688364518998111 as bigint", () => {
      return firstItem(candidate.decode(fromHex(wire.bigInt))) === 1_574_688_364_518_998_111n;
    }),
    rule("reads maps as plain objects, bytes as Uint8Array", () => {
      const map = firstItem(candidate.decode(fromHex(wire.bytes)));
      return typeof map === "object" && map !== null &&
        Object.getPrototypeOf(map) === Object.prototype &&
        isPlainBytes((map as Record<string, unknown>).a);
    }),
  ];
  return failures.filter((failure) => failure !== null);
}

function jsonRules(candidate: Candidate): string[] {
  const failures = [
    rule("writes bigint as digits", () => {
      return textOf(candidate.encode([1_574_688_364_518_998_111n])) === "[1574688364518998111]";
    }),
    rule("writes bytes as \\u0000 + base64", () => {
      return textOf(candidate.encode([new Uint8Array([1])])) === '["\\u0000AQ=="]';
    }),
    rule("reads 1574688364518998111 as bigint", () => {
      return firstItem(candidate.decode("[1574688364518998111]")) === 1_574_688_364_518_998_111n;
    }),
    rule("reads \\u0000 strings as Uint8Array", () => {
      return isPlainBytes(firstItem(candidate.decode('["\\u0000AQ=="]')));
    }),
  ];
  return failures.filter((failure) => failure !== null);
}

/** One timed loop: a candidate encoding or decoding one message. */
interface Case {
  readonly run: () => unknown;
  best: number;
}

/** Ops/s of one round of `roundMs` running `fn`. */
function timeRound(fn: () => unknown): number {
  let count = 0;
  const start = performance.now();
  let now = start;
  while ((now = performance.now()) - start < roundMs) {
    for (let i = 0; i < 20; i++) fn();
    count += 20;
  }
  return count / ((now - start) / 1000);
}

/**
 * Times every case: a warm-up, then `rounds` rounds that visit the cases in turn, so that
 * load from other processes hits all candidates alike. Each case keeps its best round, the
 * one least disturbed by other processes and garbage collection.
 */
function timeCases(cases: readonly Case[]): void {
  for (const item of cases) {
    for (let i = 0; i < 2_000; i++) item.run();
  }
  for (let round = 0; round < rounds; round++) {
    for (const item of cases) item.best = Math.max(item.best, timeRound(item.run));
  }
}

function formatOps(ops: number): string {
  return Math.round(ops).toLocaleString("en-US").padStart(11);
}

// --- candidates -------------------------------------------------------------------------

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
const parseWithSource = JSON.parse as unknown as (
  text: string,
  reviver: (key: string, value: unknown, context?: { source?: string }) => unknown,
) => unknown;

const jsonCandidates: Candidate[] = [
  {
    name: "JSON.stringify/parse, no WAMP rules",
    encode: (message) => JSON.stringify(message),
    decode: (payload) => JSON.parse(textOf(payload)),
  },
  {
    name: "JSON with replacer/reviver on every call",
    encode: (message) =>
      JSON.stringify(message, (_key: string, value: unknown) => {
        if (typeof value === "bigint") return rawJSON(value.toString());
        if (value instanceof Uint8Array) return "\u0000" + value.toBase64();
        return value;
      }),
    decode: (payload) =>
      parseWithSource(textOf(payload), (_key, value, context) => {
        if (typeof value === "string" && value.charCodeAt(0) === 0) {
          return Uint8Array.fromBase64(value.slice(1));
        }
        if (
          typeof value === "number" && !Number.isSafeInteger(value) &&
          context?.source !== undefined && /^-?\d+$/.test(context.source)
        ) {
          return BigInt(context.source);
        }
        return value;
      }),
  },
  { name: "Switchboard json (fast paths)", ...bind(jsonSerializer) },
];

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr(
  {
    useRecords: false,
    mapsAsObjects: true,
    copyBuffers: true,
    int64AsType: "auto",
  } as unknown as MsgpackrOptions,
);
const msgpackEncoder = new MsgpackEncoder({ useBigInt64: true });
const msgpackDecoder = new MsgpackDecoder({ useBigInt64: true });

const msgpackCandidates: Candidate[] = [
  {
    name: "msgpackr (pure JS), int64AsType auto",
    encode: (message) => packr.pack(message),
    decode: (payload) => unpackr.unpack(bytesOf(payload)),
  },
  {
    name: "@msgpack/msgpack, useBigInt64",
    encode: (message) => msgpackEncoder.encode(message),
    decode: (payload) => msgpackDecoder.decode(bytesOf(payload)),
  },
  { name: "Switchboard msgpack", ...bind(msgpackSerializer) },
];

const cborXOptions = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  copyBuffers: true,
};
const cborXEncoder = new CborXEncoder(cborXOptions);
const cborXDecoder = new CborXDecoder(cborXOptions);
const cborgEncodeOptions = { mapSorter: undefined, float64: true };

const cborCandidates: Candidate[] = [
  {
    name: "cbor-x (pure JS)",
    encode: (message) => cborXEncoder.encode(message),
    decode: (payload) => cborXDecoder.decode(bytesOf(payload)),
  },
  {
    name: "cborg",
    encode: (message) => cborg.encode(message, cborgEncodeOptions),
    decode: (payload) => cborg.decode(bytesOf(payload)),
  },
  { name: "Switchboard cbor", ...bind(cborSerializer) },
];

function bind(serializer: Candidate): Pick<Candidate, "encode" | "decode"> {
  return {
    encode: (message) => serializer.encode(message),
    decode: (payload) => serializer.decode(payload),
  };
}

// --- run --------------------------------------------------------------------------------

interface Format {
  readonly title: string;
  readonly candidates: Candidate[];
  readonly wireEncoder: Candidate;
  readonly rules: (candidate: Candidate) => string[];
}

const formats: Format[] = [
  {
    title: "JSON",
    candidates: jsonCandidates,
    wireEncoder: jsonSerializer,
    rules: jsonRules,
  },
  {
    title: "MessagePack",
    candidates: msgpackCandidates,
    wireEncoder: msgpackSerializer,
    rules: (candidate) =>
      binaryRules(candidate, 0xcf, {
        bigId: "91cf0000001a21a278be",
        bigInt: "91cf15da6ab97718805f",
        bytes: "9181a161c40101",
      }),
  },
  {
    title: "CBOR",
    candidates: cborCandidates,
    wireEncoder: cborSerializer,
    rules: (candidate) =>
      binaryRules(candidate, 0x1b, {
        bigId: "811b0000001a21a278be",
        bigInt: "811b15da6ab97718805f",
        bytes: "81a161614101",
      }),
  },
];

const messages: ReadonlyArray<readonly [string, readonly unknown[]]> = [
  ["small EVENT", smallEvent],
  ["large EVENT", largeEvent],
];

console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.arch}-${Deno.build.os}; ` +
    `ops/s, best of ${rounds} x ${roundMs} ms`,
);
for (const [label, message] of messages) {
  const jsonSize = textOf(jsonSerializer.encode(message)).length;
  const msgpackSize = bytesOf(msgpackSerializer.encode(message)).length;
  const cborSize = bytesOf(cborSerializer.encode(message)).length;
  console.log(`${label}: ${jsonSize} B JSON, ${msgpackSize} B MessagePack, ${cborSize} B CBOR`);
}

interface Row {
  readonly format: Format;
  readonly candidate: Candidate;
  readonly failures: string[];
  readonly timings: ReadonlyArray<{ label: string; encode: Case; decode: Case }>;
}

const rows: Row[] = [];
for (const format of formats) {
  for (const candidate of format.candidates) {
    const timings = messages.map(([label, message]) => {
      const wire = format.wireEncoder.encode(message);
      return {
        label,
        encode: { run: () => candidate.encode(message), best: 0 },
        decode: { run: () => candidate.decode(wire), best: 0 },
      };
    });
    rows.push({ format, candidate, failures: format.rules(candidate), timings });
  }
}
timeCases(rows.flatMap((row) => row.timings.flatMap((timing) => [timing.encode, timing.decode])));

let currentFormat: Format | null = null;
for (const row of rows) {
  if (row.format !== currentFormat) {
    currentFormat = row.format;
    console.log(`\n== ${row.format.title}`);
  }
  console.log(`\n${row.candidate.name}`);
  console.log(
    row.failures.length === 0
      ? "  WAMP rules: all met"
      : `  WAMP rules FAILED: ${row.failures.join("; ")}`,
  );
  for (const timing of row.timings) {
    console.log(
      `  ${timing.label.padEnd(12)} encode ${formatOps(timing.encode.best)}   ` +
        `decode ${formatOps(timing.decode.best)}`,
    );
  }
}
