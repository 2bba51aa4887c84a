import assert from "node:assert/strict";
import type { MatchPolicy } from "../src/config/types.ts";
import { UriIndex, uriMatches } from "../src/wamp/uri_index.ts";

type Key = readonly [string, MatchPolicy];

/** Brute-force reference: keys of all entries matching `topic`, sorted. */
function oracle(keys: Iterable<Key>, topic: string): string[] {
  const out = new Set<string>();
  for (const [uri, match] of keys) if (uriMatches(uri, match, topic)) out.add(`${match}:${uri}`);
  return [...out].sort();
}

/** Keys of the entries the index reports for `topic`, sorted. */
function found(index: UriIndex<string>, topic: string): string[] {
  const out: string[] = [];
  index.forEachMatch(topic, (value, uri, match) => {
    assert.equal(value, `${match}:${uri}`);
    out.push(value);
  });
  return out.sort();
}

function build(keys: Iterable<Key>): UriIndex<string> {
  const index = new UriIndex<string>();
  for (const [uri, match] of keys) index.set(uri, match, `${match}:${uri}`);
  return index;
}

/** [pattern, match, topic, matches] */
const MATCH_TABLE: readonly [string, MatchPolicy, string, boolean][] = [
  ["a.b", "exact", "a.b", true],
  ["a.b", "exact", "a.b.c", false],
  ["a.b", "exact", "a", false],
  ["a.b", "prefix", "a.b", true],
  ["a.b", "prefix", "a.b.c", true],
  ["a.b", "prefix", "a.bc", true],
  ["a.b", "prefix", "a", false],
  ["a.b", "prefix", "a.c", false],
  ["a.b", "prefix", "x.a.b", false],
  ["a.b.", "prefix", "a.b", false],
  ["a.b.", "prefix", "a.b.c", true],
  ["", "prefix", "anything.at.all", true],
  ["", "prefix", "x", true],
  ["a..c", "wildcard", "a.b.c", true],
  ["a..c", "wildcard", "a.xyz.c", true],
  ["a..c", "wildcard", "a.b.c.d", false],
  ["a..c", "wildcard", "a.c", false],
  ["a..c", "wildcard", "a.b.d", false],
  ["..", "wildcard", "x.y.z", true],
  ["..", "wildcard", "x.y", false],
  [".b", "wildcard", "a.b", true],
  ["a.", "wildcard", "a.b", true],
  ["a.", "wildcard", "a.b.c", false],
  ["a.b", "wildcard", "a.b", true],
  ["a.b", "wildcard", "a.c", false],
  ["", "wildcard", "x", true],
  ["", "wildcard", "x.y", false],
];

Deno.test("uriMatches and UriIndex agree with the case table for each policy", () => {
  for (const [pattern, match, topic, expected] of MATCH_TABLE) {
    const label = `${match} ${JSON.stringify(pattern)} vs ${JSON.stringify(topic)}`;
    assert.equal(uriMatches(pattern, match, topic), expected, label);
    const index = build([[pattern, match]]);
    assert.deepEqual(index.matchAll(topic), expected ? [`${match}:${pattern}`] : [], label);
    assert.equal(index.best(topic)?.uri, expected ? pattern : undefined, label);
  }
});

Deno.test("matchAll returns every matching exact, prefix and wildcard entry", () => {
  const keys: Key[] = [
    ["com.app.x", "exact"],
    ["com.app.x", "prefix"],
    ["com.app.x", "wildcard"],
    ["com.app", "prefix"],
    ["com.ap", "prefix"],
    ["", "prefix"],
    ["com.app.y", "prefix"],
    ["com..x", "wildcard"],
    ["..x", "wildcard"],
    ["com..", "wildcard"],
    ["com.app", "wildcard"],
    ["com.app.x", "exact"], // duplicate key: replaces
  ];
  const index = build(keys);
  assert.equal(index.size, 11);
  assert.deepEqual(found(index, "com.app.x"), [
    "exact:com.app.x",
    "prefix:",
    "prefix:com.ap",
    "prefix:com.app",
    "prefix:com.app.x",
    "wildcard:..x",
    "wildcard:com..",
    "wildcard:com..x",
    "wildcard:com.app.x",
  ]);
  assert.deepEqual(found(index, "com.app.xyz"), [
    "prefix:",
    "prefix:com.ap",
    "prefix:com.app",
    "prefix:com.app.x",
    "wildcard:com..",
  ]);
  assert.deepEqual(found(index, "org.x"), ["prefix:"]);
  for (const topic of ["com.app.x", "com.app.xyz", "org.x", "com.app", "com.apple", "a.b.x"]) {
    assert.deepEqual(found(index, topic), oracle(keys, topic), topic);
    assert.deepEqual(index.matchAll(topic).sort(), oracle(keys, topic), topic);
  }
});

Deno.test("same URI with different match policies are separate entries", () => {
  const index = new UriIndex<number>();
  index.set("a.b", "exact", 1).set("a.b", "prefix", 2).set("a.b", "wildcard", 3);
  assert.equal(index.size, 3);
  assert.equal(index.get("a.b", "exact"), 1);
  assert.equal(index.get("a.b", "prefix"), 2);
  assert.equal(index.get("a.b", "wildcard"), 3);
  assert.equal(index.has("a.b", "prefix"), true);
  assert.equal(index.get("a", "prefix"), undefined, "get does not pattern-match");
  assert.equal(index.delete("a.b", "prefix"), true);
  assert.equal(index.delete("a.b", "prefix"), false);
  assert.equal(index.get("a.b", "prefix"), undefined);
  assert.deepEqual(index.matchAll("a.b").sort(), [1, 3]);
  assert.deepEqual([...index], [["a.b", "exact", 1], ["a.b", "wildcard", 3]]);
  assert.deepEqual([...index.entries()], [["a.b", "exact", 1], ["a.b", "wildcard", 3]]);
  index.clear();
  assert.equal(index.size, 0);
  assert.deepEqual(index.matchAll("a.b"), []);
  assert.equal(index.nodeCount, 0);
});

Deno.test("set replaces the value of an existing key", () => {
  const index = new UriIndex<string>();
  index.set("a.", "prefix", "old");
  const before = index.best("a.b");
  index.set("a.", "prefix", "new");
  assert.equal(index.size, 1);
  assert.deepEqual(index.matchAll("a.b"), ["new"]);
  assert.equal(index.best("a.b")?.value, "new");
  assert.equal(before?.value, "old", "previously returned matches are not mutated");
});

Deno.test("best: exact, else longest prefix, else best wildcard", () => {
  const index = build([
    ["a1.b2.c3.d4", "wildcard"],
    ["a1...d4", "wildcard"],
    ["a1.b2..d4", "wildcard"],
    ["a1.b2.c33..e5", "wildcard"],
    ["a1.b2..d4.e5", "wildcard"],
    [".b2.c3.d4", "wildcard"],
    ["x.", "prefix"],
    ["x.y", "prefix"],
    ["x.y.z", "exact"],
    ["x..z", "wildcard"],
  ]);
  const table: [string, string | undefined][] = [
    ["a1.b2.c3.d4", "wildcard:a1.b2.c3.d4"],
    ["a1.b2.c9.d4", "wildcard:a1.b2..d4"], // spec: a1.b2..d4 beats a1...d4
    ["a1.b9.c9.d4", "wildcard:a1...d4"],
    ["a9.b2.c3.d4", "wildcard:.b2.c3.d4"],
    ["a1.b2.c33.d4.e5", "wildcard:a1.b2.c33..e5"], // spec: beats a1.b2..d4.e5
    ["a1.b2.c34.d4.e5", "wildcard:a1.b2..d4.e5"],
    ["a1.b2.c3.d5", undefined],
    ["x.y.z", "exact:x.y.z"], // exact beats prefix and wildcard
    ["x.y.q", "prefix:x.y"], // longest prefix beats shorter prefix and wildcard
    ["x.yz", "prefix:x.y"],
    ["x.q.z", "prefix:x."], // prefix beats wildcard x..z for registrations
    ["q", undefined],
  ];
  for (const [topic, expected] of table) {
    const best = index.best(topic);
    assert.equal(best === undefined ? undefined : `${best.match}:${best.uri}`, expected, topic);
    if (best !== undefined) assert.equal(best.value, expected);
  }
  index.delete("x.", "prefix");
  assert.equal(index.best("x.q.z")?.uri, "x..z");
  assert.equal(index.exactMatch("x.y.z")?.value, "exact:x.y.z");
  assert.equal(index.longestPrefix("x.y.z")?.uri, "x.y");
  assert.equal(index.bestWildcard("x.y.z")?.uri, "x..z");
});

Deno.test("empty prefix matches everything and is the shortest prefix", () => {
  const index = build([["", "prefix"], ["com.", "prefix"]]);
  assert.deepEqual(found(index, "org.example"), ["prefix:"]);
  assert.deepEqual(found(index, "com.example"), ["prefix:", "prefix:com."]);
  assert.equal(index.best("org.example")?.uri, "");
  assert.equal(index.best("com.example")?.uri, "com.");
  index.delete("com.", "prefix");
  assert.equal(index.best("com.example")?.uri, "");
});

Deno.test("radix tree splits and merges edges correctly", () => {
  const keys: Key[] = [
    ["abc", "prefix"],
    ["abd", "prefix"],
    ["ab", "prefix"],
    ["a", "prefix"],
    ["abcdef", "prefix"],
    ["abcxyz", "prefix"],
    ["b", "prefix"],
  ];
  const topics = [
    "a",
    "ab",
    "abc",
    "abcd",
    "abcdefg",
    "abcx",
    "abcxyz",
    "abd",
    "abe",
    "b",
    "c",
    "",
  ];
  const index = build(keys);
  const remaining = new Map(keys.map((k) => [`${k[1]}:${k[0]}`, k]));
  for (const topic of topics) assert.deepEqual(found(index, topic), oracle(keys, topic), topic);
  for (const key of [...keys].reverse().concat(keys)) {
    const removed = remaining.delete(`${key[1]}:${key[0]}`);
    assert.equal(index.delete(key[0], key[1]), removed);
    for (const topic of topics) {
      assert.deepEqual(found(index, topic), oracle(remaining.values(), topic), topic);
    }
    assert.equal(index.nodeCount, build(remaining.values()).nodeCount, "pruned like a fresh build");
  }
  assert.equal(index.nodeCount, 0);
});

Deno.test("deletion prunes: random insert/delete sequences match a fresh build and the oracle", () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const words = ["a", "b", "ab", "abc", "", "x"];
  const randomUri = (): string => {
    const parts: string[] = [];
    const n = 1 + rand(3);
    for (let i = 0; i < n; i++) parts.push(words[rand(words.length)]!);
    return parts.join(".");
  };
  const policies: MatchPolicy[] = ["exact", "prefix", "wildcard"];
  const index = new UriIndex<string>();
  const live = new Map<string, Key>();
  for (let step = 0; step < 3000; step++) {
    const uri = randomUri();
    const match = policies[rand(3)]!;
    const id = `${match}:${uri}`;
    if (rand(2) === 0) {
      index.set(uri, match, id);
      live.set(id, [uri, match]);
    } else {
      assert.equal(index.delete(uri, match), live.delete(id));
    }
    if (step % 50 === 0) {
      assert.equal(index.size, live.size);
      assert.equal(index.nodeCount, build(live.values()).nodeCount, `step ${step}`);
      for (let t = 0; t < 10; t++) {
        const topic = randomUri().replaceAll("..", ".a.");
        assert.deepEqual(found(index, topic), oracle(live.values(), topic), topic);
      }
    }
  }
  for (const [uri, match] of [...live.values()]) assert.equal(index.delete(uri, match), true);
  assert.equal(index.size, 0);
  assert.equal(index.nodeCount, 0, "everything pruned");
});

Deno.test("scale: 10k exact + 1k prefix + 1k wildcard, correct and visiting few nodes", () => {
  const keys: Key[] = [];
  for (let i = 0; i < 10_000; i++) keys.push([`com.app.topic${i}.event`, "exact"]);
  for (let i = 0; i < 1_000; i++) keys.push([`com.app.topic${i}.`, "prefix"]);
  for (let i = 0; i < 1_000; i++) keys.push([`com..topic${i}.event`, "wildcard"]);
  keys.push(["com.", "prefix"], ["com...event", "wildcard"]);
  const index = build(keys);
  assert.equal(index.size, 12_002);
  for (const i of [0, 7, 999, 1000, 5000, 9999]) {
    const topic = `com.app.topic${i}.event`;
    const before = index.nodesVisited;
    const result = found(index, topic);
    const visited = index.nodesVisited - before;
    assert.deepEqual(result, oracle(keys, topic), topic);
    // exact + com. + (topic prefix when i < 1000) + com...event + (com..topicN.event when i < 1000)
    assert.equal(result.length, i < 1000 ? 5 : 3, topic);
    // The walk touches O(topic length) nodes, nowhere near the 12,002 entries.
    assert.ok(visited <= 40, `${topic}: visited ${visited} nodes`);
  }
  const before = index.nodesVisited;
  assert.equal(index.best("com.app.topic3.event")?.match, "exact");
  assert.equal(index.best("com.app.topic3.other")?.uri, "com.app.topic3.");
  assert.equal(index.best("org.x.topic3.event")?.uri, undefined);
  assert.equal(index.best("com.x.topic3.event")?.uri, "com.");
  index.delete("com.", "prefix");
  assert.equal(index.best("com.x.topic3.event")?.uri, "com..topic3.event");
  assert.ok(index.nodesVisited - before <= 200, `best visited ${index.nodesVisited - before}`);
});

Deno.test("very deep patterns do not overflow the call stack", () => {
  const deep = new Array(100_001).fill("").join("."); // 100,001 empty components
  const topic = new Array(100_001).fill("x").join(".");
  const index = new UriIndex<number>();
  index.set(deep, "wildcard", 1);
  index.set(topic.slice(0, 5000), "prefix", 2);
  assert.deepEqual(index.matchAll(topic).sort(), [1, 2]);
  assert.equal(index.bestWildcard(topic)?.value, 1);
  assert.equal(index.delete(deep, "wildcard"), true);
  assert.equal(index.delete(topic.slice(0, 5000), "prefix"), true);
  assert.equal(index.nodeCount, 0);
});
