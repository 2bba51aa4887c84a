/**
 * The cluster message codec (src/cluster/codec.ts): what round-trips, and that hostile bytes
 * only ever raise CodecError.
 */

import assert from "node:assert/strict";
import { CodecError, decode, DEFAULT_MAX_DEPTH, encode } from "../src/cluster/codec.ts";
import { Rng } from "./fuzz/rng.ts";

Deno.test("codec: values round-trip, binary stays binary, integers stay exact", () => {
  const value = {
    kind: "event",
    session: 2 ** 53 - 1,
    negative: -(2 ** 53 - 1),
    id: 8_796_093_022_207 * 1023,
    big: 2n ** 63n - 1n,
    small: -5,
    float: 1.25,
    text: "é😀",
    payload: new Uint8Array([0, 1, 255]),
    list: [null, true, false, [], {}],
    nested: { args: [1, "two", { three: new Uint8Array(0) }] },
  };
  const decoded = decode(encode(value)) as typeof value;
  assert.deepEqual(decoded, value);
  assert.equal(decoded.payload.constructor, Uint8Array);
  assert.equal(
    decoded.nested.args[2] && Object.getPrototypeOf(decoded.nested.args[2]),
    Object.prototype,
  );
  assert.equal(typeof decoded.session, "number");
  // A Map is written as a map and read as a plain object.
  assert.deepEqual(decode(encode(new Map([["a", 1]]))), { a: 1 });
});

Deno.test("codec: an encoding is not changed by the next one", () => {
  const first = encode({ a: "first" });
  const copy = first.slice();
  encode({ a: "second, longer, to overwrite a shared buffer" });
  assert.deepEqual(first, copy);
});

Deno.test("codec: too deep, trailing bytes, extension types and garbage raise CodecError", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 20; i++) deep = [deep];
  assert.deepEqual(decode(encode(deep), 20), deep);
  assert.throws(() => decode(encode(deep), 19), CodecError);
  let deepMap: unknown = 1;
  for (let i = 0; i < 20; i++) deepMap = { k: deepMap };
  assert.throws(() => decode(encode(deepMap), 10), CodecError);
  // 200,000 nested one-element arrays: past the default limit (or the stack), never a crash.
  const bomb = new Uint8Array(200_001).fill(0x91);
  bomb[200_000] = 0xc0;
  assert.throws(() => decode(bomb), CodecError);
  assert.ok(DEFAULT_MAX_DEPTH >= 1000);
  assert.throws(() => decode(new Uint8Array(0)), CodecError);
  assert.throws(() => decode(new Uint8Array([0x01, 0x02])), CodecError, "trailing bytes");
  assert.throws(() => decode(new Uint8Array([0x92, 0x01])), CodecError, "truncated");
  assert.throws(() => decode(new Uint8Array([0xc1])), CodecError, "never-used byte");
  // A timestamp (ext -1) decodes to a Date in msgpackr: outside the data model.
  assert.throws(() => decode(new Uint8Array([0xd6, 0xff, 0, 0, 0, 1])), CodecError);
  assert.throws(() => encode(2n ** 64n), CodecError);
});

Deno.test("codec: random bytes only ever raise CodecError (seeded)", () => {
  const rng = new Rng(99);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = new Uint8Array(1 + rng.int(24)).map(() => rng.int(256));
    try {
      decode(bytes);
      decoded++;
    } catch (error) {
      assert.ok(error instanceof CodecError, `${bytes}: ${error}`);
    }
  }
  assert.ok(decoded > 0);
});
