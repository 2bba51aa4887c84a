/**
 * Hand-made payloads: a PUBLISH of an exact size, and bytes written by hand that stress the
 * decoders (deep nesting, CBOR cycles and tags, MessagePack extensions, `__proto__` keys, huge
 * declared lengths, out-of-range numbers, trailing bytes).
 *
 * @module
 */

import type { Serializer } from "../../src/serializer/serializer.ts";
import type { Rng } from "./rng.ts";
import { BYSTANDER_PROC } from "./scenario.ts";
import { concat, type Payload, utf8 } from "./wire.ts";

/** An acknowledged PUBLISH whose payload is exactly `size` bytes (a string argument fills it). */
export function sizedPublish(s: Serializer, request: number, size: number): Payload {
  const make = (n: number) =>
    s.encode([16, request, { acknowledge: true }, "com.fuzz.big", ["x".repeat(n)]]);
  let n = size - 64;
  for (let i = 0; i < 3; i++) {
    const p = make(n);
    const length = typeof p === "string" ? utf8.encode(p).length : p.length;
    if (length === size) return typeof p === "string" ? p : p.slice();
    n += size - length;
  }
  throw new Error(`cannot build a ${s.name} PUBLISH of ${size} bytes`);
}

/** Hand-made payloads that stress the decoders: deep nesting, cycles, tags, extensions. */
export function nastyPayload(
  rng: Rng,
  s: Serializer,
  request: number,
): { what: string; data: Payload } {
  const depth = rng.pick([1000, 10_000, 100_000]);
  if (s.name === "json") {
    const cases: [string, string][] = [
      [
        `PUBLISH with args nested ${depth} deep`,
        `[16,${request},{"acknowledge":true},"com.fuzz.deep",[${"[".repeat(depth)}${
          "]".repeat(depth)
        }]]`,
      ],
      [
        `PUBLISH with kwargs nested ${depth} deep`,
        `[16,${request},{},"com.fuzz.deep",[],${'{"a":'.repeat(depth)}1${"}".repeat(depth)}]`,
      ],
      [
        "SUBSCRIBE with a __proto__ option",
        `[32,${request},{"__proto__":{"match":"prefix"}},"com."]`,
      ],
      [
        "PUBLISH with out-of-range numbers",
        `[16,${request},{"acknowledge":true},"com.fuzz.n",[1e400,-1e400,-0,123456789012345678901234567890]]`,
      ],
      ["CALL with timeout 1e400", `[48,${request},{"timeout":1e400},"${BYSTANDER_PROC}",[]]`],
      ["binary marker with bad base64", `[16,${request},{},"com.fuzz.b",["\\u0000!!!"]]`],
      ["binary marker as a dict key", `[16,${request},{},"com.fuzz.b",[],{"\\u0000AA":1}]`],
      ["duplicate option keys", `[16,${request},{"acknowledge":false,"acknowledge":true},"com.x"]`],
      ["request id 2^53+1", `[48,9007199254740993,{},"${BYSTANDER_PROC}"]`],
      ["type as 16.0 with whitespace", ` \n\t[16.0 , ${request} , { } , "com.x" ] \n`],
      ["byte order mark", `\ufeff[16,${request},{},"com.x"]`],
      [
        "100000 arguments",
        `[16,${request},{"acknowledge":true},"com.fuzz.many",[${"0,".repeat(100_000)}0]]`,
      ],
      [
        "50000 option keys",
        `[16,${request},{${
          Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(",")
        }},"com.x"]`,
      ],
      ["a lone surrogate escape in the topic", `[32,${request},{},"com.\\ud800"]`],
      ["NaN literal", `[16,NaN,{},"com.x"]`],
      ["trailing garbage", `[16,${request},{},"com.x"]]`],
    ];
    const [what, data] = rng.pick(cases);
    return { what, data };
  }
  // Binary serializers: a head encoded normally, then hand-written items.
  const item = (v: unknown) => (s.encode([v]) as Uint8Array).slice(1);
  const head = (items: unknown[], extra: number) =>
    concat(
      new Uint8Array([(s.name === "msgpack" ? 0x90 : 0x80) | (items.length + extra)]),
      ...items.map(item),
    );
  const b = (...bytes: number[]) => new Uint8Array(bytes);
  const publish = (...args: Uint8Array[]) =>
    concat(head([16, request, {}, "com.fuzz.n"], 1), ...args);
  const deep = (open: number, empty: number) =>
    concat(b(open), new Uint8Array(depth).fill(open), b(empty));
  const cases: [string, Uint8Array][] = s.name === "msgpack"
    ? [
      [`args nested ${depth} deep`, publish(deep(0x91, 0x90))],
      [
        "a __proto__ map key",
        concat(
          head([32, request], 2),
          b(0x81),
          item("__proto__"),
          b(0x81),
          item("match"),
          item("prefix"),
        ),
      ],
      ["timestamp extension", publish(b(0x91, 0xd6, 0xff, 0, 0, 0, 0))],
      ["unknown extension type 5", publish(b(0x91, 0xd4, 0x05, 0x00))],
      ["never-used byte 0xc1", publish(b(0x91, 0xc1))],
      ["str32 claiming 4 GiB", publish(b(0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61))],
      ["bin32 claiming 4 GiB", publish(b(0x91, 0xc6, 0xff, 0xff, 0xff, 0xff))],
      ["array32 claiming 2^32-1 items", publish(b(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01))],
      ["map32 claiming 2^32-1 entries", publish(b(0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01))],
      [
        "uint64 max request id",
        concat(b(0x94, 0x10, 0xcf), new Uint8Array(8).fill(0xff), b(0x80), item("com.x")),
      ],
      [
        "float32 NaN request id",
        concat(b(0x94, 0x10, 0xca, 0x7f, 0xc0, 0, 0, 0x80), item("com.x")),
      ],
      ["an array as a map key", publish(b(0x91, 0x81, 0x91, 0x01, 0x01))],
      ["a map as a map key", publish(b(0x91, 0x81, 0x81, 0x01, 0x01, 0x01))],
      ["invalid UTF-8 in a string", publish(b(0x91, 0xa2, 0xff, 0xfe))],
      ["a record definition", publish(b(0x91, 0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x40, 0x01))],
      ["trailing bytes", concat(head([16, request, {}, "com.x"], 0), b(0x00))],
    ]
    : [
      [`args nested ${depth} deep`, publish(deep(0x81, 0x80))],
      ["a cyclic array (tags 28/29)", publish(b(0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00))],
      [
        "a cyclic map (tags 28/29)",
        publish(b(0x81, 0xd8, 0x1c, 0xa1, 0x61, 0x61, 0xd8, 0x1d, 0x00)),
      ],
      ["a dangling shared reference (tag 29)", publish(b(0x81, 0xd8, 0x1d, 0x05))],
      ["undefined", publish(b(0x81, 0xf7))],
      ["a date (tag 1)", publish(b(0x81, 0xc1, 0x1a, 0, 0, 0, 0))],
      ["a 16-byte bignum (tag 2)", publish(b(0x81, 0xc2, 0x50), new Uint8Array(16).fill(0xff))],
      ["a negative bignum (tag 3)", publish(b(0x81, 0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0))],
      [
        "a bignum request id",
        concat(b(0x84, 0x10, 0xc2, 0x48, 1, 0, 0, 0, 0, 0, 0, 0, 0xa0), item("com.x")),
      ],
      ["a set (tag 258)", publish(b(0x81, 0xd9, 0x01, 0x02, 0x81, 0x01))],
      ["a map (tag 259)", publish(b(0x81, 0xd9, 0x01, 0x03, 0xa1, 0x01, 0x02))],
      ["a generic object (tag 27)", publish(b(0x81, 0xd8, 0x1b, 0x82), item("RegExp"), item("("))],
      [
        "a generic object named constructor",
        publish(b(0x81, 0xd8, 0x1b, 0x82), item("constructor"), b(0xa0)),
      ],
      ["a typed array (tag 70)", publish(b(0x81, 0xd8, 0x46, 0x44, 1, 0, 0, 0))],
      ["a packed table (tag 51)", publish(b(0x81, 0xd8, 0x33, 0x84, 0x81, 0x01, 0x80, 0x80, 0x06))],
      [
        "a record definition (tag 0xdffe)",
        publish(b(0x81, 0xd9, 0xdf, 0xfe, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x61, 0x01)),
      ],
      ["simple value 16 and float16 NaN", publish(b(0x82, 0xf0, 0xf9, 0x7e, 0x00))],
      [
        "indefinite-length items",
        publish(b(0x9f, 0x7f, 0x61, 0x61, 0xff, 0xbf, 0x61, 0x62, 0x01, 0xff, 0xff)),
      ],
      ["invalid UTF-8 in a text string", publish(b(0x81, 0x62, 0xff, 0xfe))],
      ["an array claiming 2^64-1 items", publish(b(0x9b), new Uint8Array(8).fill(0xff), b(0x01))],
      [
        "a __proto__ map key",
        concat(
          head([32, request], 2),
          b(0xa1),
          item("__proto__"),
          b(0xa1),
          item("match"),
          item("prefix"),
        ),
      ],
      ["self-described CBOR (tag 55799)", concat(b(0xd9, 0xd9, 0xf7), publish(b(0x80)))],
      ["trailing bytes", concat(head([16, request, {}, "com.x"], 0), b(0x00))],
    ];
  const [what, data] = rng.pick(cases);
  return { what, data };
}
