/**
 * `encodeView` (src/cluster/codec.ts) hands out views of the encoder's shared buffer without a
 * copy: every view must stay intact while later values are encoded, also across the encoder's
 * buffer changes and with values larger than its buffer. And `StringMemo` (src/cluster/memo.ts),
 * the per-event subject memo: computed once per key, bounded.
 */

import assert from "node:assert/strict";
import { decode, encode, encodeView } from "../src/cluster/codec.ts";
import { StringMemo } from "../src/cluster/memo.ts";

function record(i: number): Record<string, unknown> {
  return {
    publication: i * 7919,
    topic: `com.example.topic${i % 13}`,
    args: ["x".repeat(i % 300), i],
    options: i % 5 === 0 ? { exclude_me: false, eligible: [i] } : {},
    publisher: { id: i, authid: `user-${i}`, authrole: "user" },
    disclose: i % 2 === 0,
    triggersStats: true,
  };
}

Deno.test("encodeView: every view stays intact while later values are encoded", () => {
  const views: Array<[number, Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < 5000; i++) {
    // a value past the encoder's 8 KiB buffer now and then
    const value = i % 997 === 0 ? { ...record(i), args: ["y".repeat(20_000)] } : record(i);
    views.push([i, encodeView(value), encode(value)]);
  }
  for (const [i, view, copy] of views) {
    assert.deepEqual(new Uint8Array(view), copy, `value ${i}`);
    const expected = i % 997 === 0 ? { ...record(i), args: ["y".repeat(20_000)] } : record(i);
    assert.deepEqual(decode(view), expected, `value ${i}`);
  }
});

Deno.test("StringMemo: computes a key once and holds at most its limit", () => {
  const calls: string[] = [];
  const memo = new StringMemo((key) => {
    calls.push(key);
    return key.length === 0 ? undefined : key.toUpperCase();
  }, 3);
  assert.deepEqual(memo.get("a"), "A");
  assert.deepEqual(memo.get("a"), "A");
  assert.deepEqual(memo.get(""), undefined);
  assert.deepEqual(memo.get(""), undefined, "an undefined value is remembered too");
  assert.deepEqual(calls, ["a", ""]);
  memo.get("b");
  assert.deepEqual(memo.size, 3);
  assert.deepEqual(memo.get("c"), "C");
  assert.deepEqual(memo.size, 1, "starts over when full");
  assert.deepEqual(memo.get("a"), "A");
  assert.deepEqual(calls, ["a", "", "b", "c", "a"]);
});
