/**
 * Serializer layer: the WAMP test vectors (shared/wamp-testvectors) on JSON, MessagePack and
 * CBOR, plus the integer, binary, text and error rules of src/serializer/.
 */

import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { cborSerializer } from "../src/serializer/cbor.ts";
import { jsonSerializer, utf8ByteLength } from "../src/serializer/json.ts";
import { msgpackSerializer } from "../src/serializer/msgpack.ts";
import {
  negotiateSubprotocol,
  serializerByRawSocketId,
  SERIALIZERS,
  SUBPROTOCOLS,
} from "../src/serializer/registry.ts";
import { type Payload, SerializationError, type Serializer } from "../src/serializer/serializer.ts";

const ALL: readonly Serializer[] = [jsonSerializer, msgpackSerializer, cborSerializer];
const BINARY: readonly Serializer[] = [msgpackSerializer, cborSerializer];

// --- helpers ----------------------------------------------------------------------------

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function bytesOf(payload: Payload): Uint8Array {
  assert.ok(payload instanceof Uint8Array, "expected a binary payload");
  return payload;
}

function textOf(payload: Payload): string {
  assert.equal(typeof payload, "string", "expected a text payload");
  return payload as string;
}

function roundTrip(serializer: Serializer, message: readonly unknown[]): unknown {
  return serializer.decode(serializer.encode(message));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// --- test vectors -----------------------------------------------------------------------

const VECTORS_DIR = new URL("../../shared/wamp-testvectors/", import.meta.url);

/** One byte representation of a sample in one serializer. */
interface Representation {
  readonly bytes?: string;
  readonly bytes_hex?: string;
  readonly bytes_base64?: string;
  readonly note?: string;
}

/** A sample with canonical bytes and expected attributes. */
interface SerializationSample {
  readonly description: string;
  readonly serializers: Readonly<Record<string, readonly Representation[]>>;
  readonly expected_attributes: Readonly<Record<string, unknown>>;
}

/** A sample holding only a wire message (for validation rules). */
interface ValidationSample {
  readonly description: string;
  readonly wmsg: readonly unknown[];
}

/** A single-message vector file. */
interface SingleMessageVector {
  readonly path: string;
  readonly code: number;
  readonly serializationSamples: readonly SerializationSample[];
  readonly validationSamples: readonly ValidationSample[];
}

function parseRepresentation(value: unknown, where: string): Representation {
  if (!isRecord(value)) throw new Error(`${where}: representation is not an object`);
  const { bytes, bytes_hex, bytes_base64 } = value;
  for (const [key, field] of Object.entries({ bytes, bytes_hex, bytes_base64 })) {
    if (field !== undefined && typeof field !== "string") {
      throw new Error(`${where}: ${key} is not a string`);
    }
  }
  return value as Representation;
}

function parseVectorFile(path: string, document: unknown): SingleMessageVector | null {
  if (!isRecord(document)) throw new Error(`${path}: not a JSON object`);
  // Multi-message vectors (multisession/) describe sessions, not serialized bytes.
  if (!("samples" in document)) return null;
  const { wamp_message_code: code, samples } = document;
  if (typeof code !== "number" || !Array.isArray(samples)) {
    throw new Error(`${path}: missing wamp_message_code or samples`);
  }
  const serializationSamples: SerializationSample[] = [];
  const validationSamples: ValidationSample[] = [];
  samples.forEach((sample: unknown, index) => {
    const where = `${path} sample ${index}`;
    if (!isRecord(sample) || typeof sample.description !== "string") {
      throw new Error(`${where}: not a sample`);
    }
    if (isRecord(sample.serializers) && isRecord(sample.expected_attributes)) {
      const serializers: Record<string, Representation[]> = {};
      for (const [name, list] of Object.entries(sample.serializers)) {
        if (!Array.isArray(list)) throw new Error(`${where}: serializers.${name} is not a list`);
        serializers[name] = list.map((item: unknown) => parseRepresentation(item, where));
      }
      serializationSamples.push({
        description: sample.description,
        serializers,
        expected_attributes: sample.expected_attributes,
      });
    } else if (Array.isArray(sample.wmsg)) {
      validationSamples.push({ description: sample.description, wmsg: sample.wmsg });
    } else {
      throw new Error(`${where}: neither a serialization nor a validation sample`);
    }
  });
  return { path, code, serializationSamples, validationSamples };
}

async function listJsonFiles(dir: URL, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      found.push(...await listJsonFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    } else if (entry.isFile && entry.name.endsWith(".json") && entry.name !== "SCHEMA.json") {
      found.push(`${prefix}${entry.name}`);
    }
  }
  return found.sort();
}

async function loadVectors(): Promise<SingleMessageVector[]> {
  const vectors: SingleMessageVector[] = [];
  for (const path of await listJsonFiles(VECTORS_DIR)) {
    const document: unknown = JSON.parse(await Deno.readTextFile(new URL(path, VECTORS_DIR)));
    const vector = parseVectorFile(path, document);
    if (vector !== null) vectors.push(vector);
  }
  return vectors;
}

let vectors: SingleMessageVector[] = [];
let vectorLoadError: unknown = null;
try {
  vectors = await loadVectors();
} catch (error) {
  vectorLoadError = error;
}

Deno.test("test vectors: the directory is present and holds single-message vectors", () => {
  if (vectorLoadError !== null) {
    throw new Error(`cannot load test vectors from ${VECTORS_DIR.href}`, {
      cause: vectorLoadError,
    });
  }
  assert.ok(vectors.length >= 20, `only ${vectors.length} single-message vector files found`);
  const samples = vectors.reduce((sum, vector) => sum + vector.serializationSamples.length, 0);
  assert.ok(samples >= 30, `only ${samples} serialization samples found`);
});

/**
 * Array positions of each message type's fields, under the names the vectors'
 * `expected_attributes` use (Autobahn's attribute names).
 */
const LAYOUTS: Readonly<Record<number, readonly string[]>> = {
  1: ["message_type", "realm", "details"], // HELLO
  2: ["message_type", "session_id", "details"], // WELCOME
  3: ["message_type", "details", "reason"], // ABORT
  4: ["message_type", "method", "extra"], // CHALLENGE
  5: ["message_type", "signature", "extra"], // AUTHENTICATE
  6: ["message_type", "details", "reason"], // GOODBYE
  8: ["message_type", "request_type", "request_id", "details", "error", "args", "kwargs"],
  16: ["message_type", "request_id", "options", "topic", "args", "kwargs"], // PUBLISH
  17: ["message_type", "request_id", "publication_id"], // PUBLISHED
  32: ["message_type", "request_id", "options", "topic"], // SUBSCRIBE
  33: ["message_type", "request_id", "subscription_id"], // SUBSCRIBED
  34: ["message_type", "request_id", "subscription_id"], // UNSUBSCRIBE
  35: ["message_type", "request_id"], // UNSUBSCRIBED
  36: ["message_type", "subscription", "publication", "details", "args", "kwargs"], // EVENT
  48: ["message_type", "request_id", "options", "procedure", "args", "kwargs"], // CALL
  49: ["message_type", "request_id", "options"], // CANCEL
  50: ["message_type", "request_id", "details", "args", "kwargs"], // RESULT
  64: ["message_type", "request_id", "options", "procedure"], // REGISTER
  65: ["message_type", "request_id", "registration_id"], // REGISTERED
  66: ["message_type", "request_id", "registration_id"], // UNREGISTER
  67: ["message_type", "request_id"], // UNREGISTERED
  68: ["message_type", "request_id", "registration_id", "details", "args", "kwargs"],
  69: ["message_type", "request_id", "options"], // INTERRUPT
  70: ["message_type", "request_id", "options", "args", "kwargs"], // YIELD
  337: ["message_type", "publication_id"], // EVENT_RECEIVED
};

/**
 * The attributes of a decoded message, as the vectors name them:
 * - absent optional `args` / `kwargs` are `null`;
 * - payload transparency: binary in the `args` position is the opaque `payload`, given in
 *   the vectors as hex (then `args` and `kwargs` are `null`); otherwise `payload` is `null`;
 * - HELLO / WELCOME `roles` is `Details.roles`.
 */
function attributesOf(message: readonly unknown[]): Record<string, unknown> {
  const code = message[0];
  assert.equal(typeof code, "number", "message type must be a number");
  const layout = LAYOUTS[code as number];
  assert.ok(layout !== undefined, `no attribute layout for message type ${String(code)}`);
  assert.ok(message.length <= layout.length, `message has ${message.length} fields`);
  const attributes: Record<string, unknown> = {};
  layout.forEach((name, position) => {
    attributes[name] = position < message.length ? message[position] : null;
  });
  if (layout.includes("args")) {
    if (attributes.args instanceof Uint8Array) {
      assert.equal(attributes.args.constructor, Uint8Array, "payload must be a plain Uint8Array");
      assert.equal(attributes.kwargs, null, "a transparent payload has no kwargs");
      attributes.payload = hex(attributes.args);
      attributes.args = null;
    } else {
      attributes.payload = null;
    }
  }
  if (code === 1 || code === 2) {
    assert.ok(isRecord(attributes.details), "details must be a dict");
    attributes.roles = attributes.details.roles;
  }
  return attributes;
}

function assertAttributes(decoded: unknown, expected: Readonly<Record<string, unknown>>): void {
  assert.ok(Array.isArray(decoded), "a WAMP message decodes to an array");
  const actual = attributesOf(decoded);
  for (const [name, value] of Object.entries(expected)) {
    assert.ok(name in actual, `no array position known for attribute "${name}"`);
    assert.deepStrictEqual(actual[name], value, `attribute "${name}"`);
  }
}

/** The payload a transport would hand over for a representation's bytes. */
function payloadOf(serializer: Serializer, representation: Representation): Payload {
  let bytes: Uint8Array;
  if (representation.bytes_hex !== undefined) {
    bytes = Uint8Array.fromHex(representation.bytes_hex);
  } else if (representation.bytes_base64 !== undefined) {
    bytes = Uint8Array.fromBase64(representation.bytes_base64);
  } else {
    assert.ok(representation.bytes !== undefined, "representation has no bytes");
    bytes = new TextEncoder().encode(representation.bytes);
  }
  if (!serializer.binary) {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (representation.bytes !== undefined) {
      assert.equal(text, representation.bytes, "vector's bytes and bytes_hex disagree");
    }
    return text;
  }
  return bytes;
}

function payloadKey(payload: Payload): string {
  return typeof payload === "string" ? `text:${payload}` : `hex:${hex(payload)}`;
}

for (const vector of vectors) {
  for (const serializer of ALL) {
    Deno.test(`test vectors: ${vector.path} [${serializer.name}]`, async (t) => {
      let steps = 0;
      for (const [index, sample] of vector.serializationSamples.entries()) {
        const representations = sample.serializers[serializer.name] ?? [];
        const label = `#${index + 1} ${sample.description}`;
        for (const [rep, representation] of representations.entries()) {
          const name = representations.length > 1
            ? `${label} (representation ${rep + 1}/${representations.length})`
            : label;
          steps++;
          await t.step(name, () => {
            const payload = payloadOf(serializer, representation);
            const decoded = serializer.decode(payload);
            assert.ok(Array.isArray(decoded));
            assert.equal(decoded[0], vector.code, "message type code");
            assertAttributes(decoded, sample.expected_attributes);
            // What we encode decodes back to the same message.
            const again = roundTrip(serializer, decoded);
            assert.deepStrictEqual(again, decoded);
            assertAttributes(again, sample.expected_attributes);
          });
        }
        if (representations.length > 0) {
          steps++;
          await t.step(`${label}: encodes to one of the listed representations`, () => {
            const decoded = serializer.decode(payloadOf(serializer, representations[0]!));
            assert.ok(Array.isArray(decoded));
            const listed = representations.map((rep) => payloadKey(payloadOf(serializer, rep)));
            const ours = payloadKey(serializer.encode(decoded));
            assert.ok(listed.includes(ours), `encoded ${ours}; listed: ${listed.join(" | ")}`);
          });
        }
      }
      for (const [index, sample] of vector.validationSamples.entries()) {
        steps++;
        await t.step(`wmsg #${index + 1} ${sample.description}: round trip`, () => {
          assert.deepStrictEqual(roundTrip(serializer, sample.wmsg), sample.wmsg);
        });
      }
      assert.ok(steps > 0, `no ${serializer.name} sample in ${vector.path}`);
    });
  }
}

// --- integers ---------------------------------------------------------------------------

const TWO_53 = 2 ** 53;
const BIG = 1_574_688_364_518_998_111n;

Deno.test("integers: ±2^53 stay exact numbers and are written as integers", async (t) => {
  const message = [TWO_53, -TWO_53, TWO_53 - 1, -(TWO_53 - 1)];
  for (const serializer of ALL) {
    await t.step(serializer.name, () => {
      const decoded = roundTrip(serializer, message);
      assert.deepStrictEqual(decoded, message);
    });
  }
  await t.step("json: digits", () => {
    assert.equal(
      textOf(jsonSerializer.encode([TWO_53, -TWO_53])),
      "[9007199254740992,-9007199254740992]",
    );
    assert.deepStrictEqual(jsonSerializer.decode("[9007199254740992]"), [TWO_53]);
    assert.deepStrictEqual(jsonSerializer.decode("[9007199254740993]"), [9007199254740993n]);
    assert.deepStrictEqual(jsonSerializer.decode("[-9007199254740993]"), [-9007199254740993n]);
  });
  await t.step("msgpack: uint64 / int64", () => {
    assert.equal(hex(bytesOf(msgpackSerializer.encode([TWO_53]))), "91cf0020000000000000");
    assert.equal(hex(bytesOf(msgpackSerializer.encode([-TWO_53]))), "91d3ffe0000000000000");
    assert.deepStrictEqual(
      msgpackSerializer.decode(Uint8Array.fromHex("91cf0020000000000000")),
      [TWO_53],
    );
    assert.deepStrictEqual(
      msgpackSerializer.decode(Uint8Array.fromHex("91cf0020000000000001")),
      [9007199254740993n],
    );
  });
  await t.step("cbor: major type 0 / 1", () => {
    assert.equal(hex(bytesOf(cborSerializer.encode([TWO_53]))), "811b0020000000000000");
    assert.equal(hex(bytesOf(cborSerializer.encode([-TWO_53]))), "813b001fffffffffffff");
    assert.deepStrictEqual(
      cborSerializer.decode(Uint8Array.fromHex("811b0020000000000000")),
      [TWO_53],
    );
    assert.deepStrictEqual(
      cborSerializer.decode(Uint8Array.fromHex("811b0020000000000001")),
      [9007199254740993n],
    );
  });
});

Deno.test("integers: 1574688364518998111n round-trips as an exact 64-bit integer", async (t) => {
  const message = [BIG, -BIG, { timestamp: BIG }, [BIG]];
  for (const serializer of ALL) {
    await t.step(`${serializer.name}: round trip`, () => {
      const decoded = roundTrip(serializer, message);
      assert.deepStrictEqual(decoded, message);
      assert.ok(Array.isArray(decoded));
      assert.equal(typeof decoded[0], "bigint");
    });
  }
  await t.step("json: exact digits, no quotes, no exponent", () => {
    const text = textOf(jsonSerializer.encode([BIG, { timestamp: BIG }]));
    assert.equal(text, '[1574688364518998111,{"timestamp":1574688364518998111}]');
    assert.deepStrictEqual(jsonSerializer.decode(text), [BIG, { timestamp: BIG }]);
  });
  await t.step("msgpack: uint64 0xcf, int64 0xd3", () => {
    assert.equal(hex(bytesOf(msgpackSerializer.encode([BIG]))), "91cf15da6ab97718805f");
    assert.equal(hex(bytesOf(msgpackSerializer.encode([-BIG]))), "91d3ea25954688e77fa1");
  });
  await t.step("cbor: major type 0 with 8-byte argument 0x1b, negative 0x3b", () => {
    assert.equal(hex(bytesOf(cborSerializer.encode([BIG]))), "811b15da6ab97718805f");
    assert.equal(hex(bytesOf(cborSerializer.encode([-BIG]))), "813b15da6ab97718805e");
  });
  await t.step("msgpack: a bigint beyond 64 bits is a SerializationError", () => {
    assert.throws(() => msgpackSerializer.encode([2n ** 64n]), SerializationError);
    assert.throws(() => msgpackSerializer.encode([-(2n ** 63n) - 1n]), SerializationError);
  });
  await t.step("a small bigint decodes as a number", () => {
    for (const serializer of ALL) {
      assert.deepStrictEqual(roundTrip(serializer, [5n, -5n]), [5, -5], serializer.name);
    }
  });
});

Deno.test("integers: safe integers use the smallest int format, other numbers floats", async (t) => {
  const message = [0, 23, 24, 127, 255, 300, 65_536, 4_294_967_295, 112_233_445_566, -1, -200];
  const tail = [-3_000_000_000, -5_000_000_000];
  await t.step("msgpack", () => {
    assert.equal(
      hex(bytesOf(msgpackSerializer.encode(message))),
      "9b" + "00" + "17" + "18" + "7f" + "ccff" + "cd012c" + "ce00010000" + "ceffffffff" +
        "cf0000001a21a278be" + "ff" + "d1ff38",
    );
    assert.equal(
      hex(bytesOf(msgpackSerializer.encode(tail))),
      "92" + "d3ffffffff4d2fa200" + "d3fffffffed5fa0e00",
    );
    assert.equal(hex(bytesOf(msgpackSerializer.encode([1.5]))), "91cb3ff8000000000000");
  });
  await t.step("cbor", () => {
    assert.equal(
      hex(bytesOf(cborSerializer.encode(message))),
      "8b" + "00" + "17" + "1818" + "187f" + "18ff" + "19012c" + "1a00010000" + "1affffffff" +
        "1b0000001a21a278be" + "20" + "38c7",
    );
    assert.equal(
      hex(bytesOf(cborSerializer.encode(tail))),
      "82" + "3ab2d05dff" + "3b000000012a05f1ff",
    );
    const float = bytesOf(cborSerializer.encode([1.5]))[1]! >> 5;
    assert.equal(float, 7, "1.5 is a CBOR float (major type 7)");
  });
  await t.step("json", () => {
    assert.equal(textOf(jsonSerializer.encode([112_233_445_566, 1.5])), "[112233445566,1.5]");
  });
  for (const serializer of ALL) {
    await t.step(`${serializer.name}: round trip`, () => {
      const all = [...message, ...tail, 1.5, -0.25, 1e300];
      assert.deepStrictEqual(roundTrip(serializer, all), all);
    });
  }
});

// --- binary -----------------------------------------------------------------------------

const SPEC_BYTES = Uint8Array.fromHex("10e3ff9053075c526f5fc06d4fe37cdb");

Deno.test("binary: Uint8Array round-trips on every serializer", async (t) => {
  const message = [16, 1, {}, "com.example", [SPEC_BYTES, new Uint8Array(0)], { blob: SPEC_BYTES }];
  for (const serializer of ALL) {
    await t.step(serializer.name, () => {
      const decoded = roundTrip(serializer, message);
      assert.deepStrictEqual(decoded, message);
      assert.ok(Array.isArray(decoded) && Array.isArray(decoded[4]));
      assert.equal(decoded[4][0]!.constructor, Uint8Array);
    });
  }
  await t.step("json: \\u0000 + padded base64, as in the spec", () => {
    assert.equal(
      textOf(jsonSerializer.encode([SPEC_BYTES])),
      '["\\u0000EOP/kFMHXFJvX8BtT+N82w=="]',
    );
    assert.deepStrictEqual(jsonSerializer.decode('["\\u0000EOP/kFMHXFJvX8BtT+N82w=="]'), [
      SPEC_BYTES,
    ]);
    // Object keys starting with U+0000 stay strings; only values are binary.
    assert.deepStrictEqual(jsonSerializer.decode('{"\\u0000AQ==":"\\u0000AQ=="}'), {
      "\u0000AQ==": new Uint8Array([1]),
    });
  });
  await t.step("json: binary next to a big integer (reviver path)", () => {
    const mixed = [SPEC_BYTES, BIG, { b: SPEC_BYTES }];
    const text = textOf(jsonSerializer.encode(mixed));
    assert.deepStrictEqual(jsonSerializer.decode(text), mixed);
  });
  await t.step("json: broken base64 after U+0000 is a SerializationError", () => {
    assert.throws(() => jsonSerializer.decode('["\\u0000!!"]'), SerializationError);
  });
  await t.step("msgpack: bin 8", () => {
    assert.equal(hex(bytesOf(msgpackSerializer.encode([SPEC_BYTES]))), "91c410" + hex(SPEC_BYTES));
  });
  await t.step("cbor: byte string, untagged", () => {
    assert.equal(hex(bytesOf(cborSerializer.encode([SPEC_BYTES]))), "8150" + hex(SPEC_BYTES));
  });
  await t.step("decoded bytes do not alias the payload", () => {
    for (const serializer of BINARY) {
      const payload = bytesOf(serializer.encode([SPEC_BYTES])).slice();
      const decoded = serializer.decode(payload);
      payload.fill(0);
      assert.deepStrictEqual(decoded, [SPEC_BYTES], serializer.name);
    }
  });
});

// --- text and structure -----------------------------------------------------------------

Deno.test("text: unicode strings and keys round-trip", async (t) => {
  const strings = ["", "ascii", "äöü ß", "€ 日本語", "𝄞 🎉👍🏽", '\u0001\u001f"\\/', "a\u2028b"];
  const message = [50, 1, { "ключ": "значение", "🔑": "🎉" }, strings, {
    nested: { "ü": strings },
  }];
  for (const serializer of ALL) {
    await t.step(serializer.name, () => {
      assert.deepStrictEqual(roundTrip(serializer, message), message);
    });
  }
});

Deno.test("structure: nested objects decode as plain objects, undefined as in JSON", async (t) => {
  const message = [
    50,
    7,
    { a: { b: { c: { d: [1, { e: [true, false, null] }] } } }, list: [[[]], {}] },
    [{ x: 1.25, y: "z" }],
    { deep: Array.from({ length: 50 }, (_, i) => ({ i })) },
  ];
  for (const serializer of ALL) {
    await t.step(serializer.name, () => {
      const decoded = roundTrip(serializer, message);
      assert.deepStrictEqual(decoded, message);
      assert.ok(Array.isArray(decoded) && isRecord(decoded[2]));
      assert.equal(Object.getPrototypeOf(decoded[2]), Object.prototype);
      assert.equal(Object.getPrototypeOf(decoded[2].a), Object.prototype);
      assert.ok(!(decoded[2] instanceof Map));
    });
    await t.step(`${serializer.name}: undefined is left out of objects, null in arrays`, () => {
      const decoded = roundTrip(serializer, [1, { a: undefined, b: 2 }, [undefined, 3]]);
      assert.deepStrictEqual(decoded, [1, { b: 2 }, [null, 3]]);
    });
    await t.step(`${serializer.name}: encoding leaves the message untouched`, () => {
      const input = [36, 112_233_445_566, { n: 2 ** 40, big: BIG, u: undefined }, [2 ** 53]];
      const copy = structuredClone(input);
      serializer.encode(input);
      assert.deepStrictEqual(input, copy);
    });
  }
  await t.step("binary payloads stay valid after later encodings", () => {
    for (const serializer of BINARY) {
      const first = bytesOf(serializer.encode([1, "first", 112_233_445_566]));
      const firstHex = hex(first);
      for (let i = 0; i < 2_000; i++) serializer.encode([i, "x".repeat(i % 300)]);
      assert.equal(hex(first), firstHex, serializer.name);
      assert.deepStrictEqual(serializer.decode(first), [1, "first", 112_233_445_566]);
    }
  });
  await t.step("large binary messages (over 8 KiB) round-trip", () => {
    const big = [36, 1, 2, {}, [new Uint8Array(70_000).fill(7), "y".repeat(20_000)]];
    for (const serializer of ALL) {
      // isDeepStrictEqual: a failing assert.deepStrictEqual would spend minutes on the diff.
      assert.ok(isDeepStrictEqual(roundTrip(serializer, big), big), serializer.name);
    }
  });
});

// --- errors -----------------------------------------------------------------------------

function assertSerializationError(fn: () => unknown, mentions: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SerializationError, `got ${String(error)}`);
    assert.equal(error.name, "SerializationError");
    assert.ok(error.message.includes(mentions), `message "${error.message}" lacks "${mentions}"`);
    return true;
  });
}

Deno.test("errors: a payload of the wrong kind is a SerializationError", async (t) => {
  await t.step("json given bytes", () => {
    assertSerializationError(
      () => jsonSerializer.decode(new TextEncoder().encode("[1]")),
      "text",
    );
  });
  await t.step("msgpack given text", () => {
    assertSerializationError(() => msgpackSerializer.decode("[1]"), "binary");
  });
  await t.step("cbor given text", () => {
    assertSerializationError(() => cborSerializer.decode("[1]"), "binary");
  });
});

Deno.test("errors: JSON refuses strings starting with U+0000 (its binary marker); others carry them", () => {
  for (
    const message of [[16, 1, {}, "t", ["\u0000!!"]], [16, 1, {}, "t", [], { k: ["\u0000AA"] }]]
  ) {
    assert.throws(() => jsonSerializer.encode(message), SerializationError);
    for (const s of [msgpackSerializer, cborSerializer]) {
      assert.deepEqual(s.decode(s.encode(message)), message);
    }
  }
  // U+0000 elsewhere in a string is ordinary text
  const inner = [16, 1, {}, "t", ["a\u0000b"]];
  assert.deepEqual(jsonSerializer.decode(jsonSerializer.encode(inner)), inner);
});

Deno.test("errors: malformed input is a SerializationError", async (t) => {
  const cases: ReadonlyArray<readonly [Serializer, string, Payload, string]> = [
    [jsonSerializer, "truncated", "[36, 1, 2, {}", "JSON"],
    [jsonSerializer, "trailing garbage", "[1, 2] x", "JSON"],
    [jsonSerializer, "not JSON", "hello", "JSON"],
    [jsonSerializer, "empty", "", "JSON"],
    [msgpackSerializer, "truncated array", Uint8Array.fromHex("930102"), "MessagePack"],
    [msgpackSerializer, "truncated string", Uint8Array.fromHex("91a5616263"), "MessagePack"],
    [msgpackSerializer, "trailing garbage", Uint8Array.fromHex("910102"), "MessagePack"],
    [msgpackSerializer, "empty", new Uint8Array(0), "MessagePack"],
    [msgpackSerializer, "never-used byte 0xc1", Uint8Array.fromHex("91c1"), "MessagePack"],
    [msgpackSerializer, "timestamp extension", Uint8Array.fromHex("91d6ff00000001"), "MessagePack"],
    [msgpackSerializer, "unknown extension", Uint8Array.fromHex("91d40501"), "MessagePack"],
    [cborSerializer, "truncated array", Uint8Array.fromHex("83010203").subarray(0, 3), "CBOR"],
    [cborSerializer, "truncated uint64", Uint8Array.fromHex("811b0000"), "CBOR"],
    [cborSerializer, "trailing garbage", Uint8Array.fromHex("810102"), "CBOR"],
    [cborSerializer, "stray break", Uint8Array.fromHex("ff"), "CBOR"],
    [cborSerializer, "empty", new Uint8Array(0), "CBOR"],
    [cborSerializer, "tagged value (tag 1, a date)", Uint8Array.fromHex("81c11a5f5e1000"), "CBOR"],
  ];
  for (const [serializer, label, payload, mentions] of cases) {
    await t.step(`${serializer.name}: ${label}`, () => {
      assertSerializationError(() => serializer.decode(payload), mentions);
    });
  }
  await t.step("json: a cyclic message cannot be encoded", () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    for (const serializer of ALL) {
      assert.throws(() => serializer.encode(cyclic), SerializationError, serializer.name);
    }
  });
});

// --- sizes ------------------------------------------------------------------------------

Deno.test("byteLength: UTF-8 length of text, byte length of binary", async (t) => {
  await t.step("multi-byte text", () => {
    assert.equal(jsonSerializer.byteLength("aé€𝄞"), 1 + 2 + 3 + 4);
    assert.equal(utf8ByteLength("日本語"), 9);
    assert.equal(utf8ByteLength(""), 0);
  });
  await t.step("matches TextEncoder, lone surrogates included", () => {
    const encoder = new TextEncoder();
    for (const text of ["plain", "ü€𝄞🎉👍🏽", "\ud800", "x\udc00y", "\ud83d", "\ud83d\ude00\ud83d"]) {
      assert.equal(utf8ByteLength(text), encoder.encode(text).length, JSON.stringify(text));
    }
  });
  await t.step("an encoded JSON message", () => {
    const payload = textOf(jsonSerializer.encode([36, 1, 2, {}, ["größe 𝄞"]]));
    assert.equal(jsonSerializer.byteLength(payload), new TextEncoder().encode(payload).length);
  });
  await t.step("binary payloads, views included", () => {
    for (const serializer of BINARY) {
      const payload = serializer.encode([36, 1, 2, {}, ["größe"]]);
      assert.equal(serializer.byteLength(payload), bytesOf(payload).length);
      const view = new Uint8Array(100).subarray(10, 25);
      assert.equal(serializer.byteLength(view), 15);
    }
  });
});

// --- registry ---------------------------------------------------------------------------

Deno.test("registry: lookups and subprotocol negotiation", async (t) => {
  await t.step("SERIALIZERS is indexed by index", () => {
    assert.deepStrictEqual(SERIALIZERS.map((s) => s.name), ["json", "msgpack", "cbor"]);
    SERIALIZERS.forEach((serializer, index) => assert.equal(serializer.index, index));
    assert.deepStrictEqual(SERIALIZERS.map((s) => s.binary), [false, true, true]);
    assert.deepStrictEqual([...SUBPROTOCOLS], ["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"]);
  });
  await t.step("by name, subprotocol and RawSocket id", () => {
    const all = SERIALIZERS.map((s) => s.name);
    assert.equal(negotiateSubprotocol(["wamp.2.cbor"], all), cborSerializer);
    assert.equal(
      negotiateSubprotocol(["wamp.2.json.batched"], all)?.subprotocol,
      "wamp.2.json.batched",
    );
    assert.equal(negotiateSubprotocol(["wamp.2.json.batched"], all)?.batched, true);
    assert.equal(negotiateSubprotocol(["wamp.2.JSON"], all), null);
    assert.equal(serializerByRawSocketId(1), jsonSerializer);
    assert.equal(serializerByRawSocketId(2), msgpackSerializer);
    assert.equal(serializerByRawSocketId(3), cborSerializer);
    assert.equal(serializerByRawSocketId(0), undefined);
    assert.equal(serializerByRawSocketId(4), undefined);
  });
  await t.step("negotiation: the client's first offered subprotocol that is allowed", () => {
    const all = ["json", "msgpack", "cbor"] as const;
    assert.equal(negotiateSubprotocol(["wamp.2.cbor", "wamp.2.json"], all), cborSerializer);
    assert.equal(negotiateSubprotocol(["wamp.2.cbor", "wamp.2.json"], ["json"]), jsonSerializer);
    assert.equal(
      negotiateSubprotocol(["wamp.2.ubjson", "wamp.2.msgpack"], ["cbor", "msgpack"]),
      msgpackSerializer,
    );
    assert.equal(negotiateSubprotocol(["wamp.2.cbor"], ["json"]), null);
    assert.equal(negotiateSubprotocol(["mqtt", "wamp.2.ubjson.batched"], all), null);
    assert.equal(negotiateSubprotocol([], all), null);
  });
});
