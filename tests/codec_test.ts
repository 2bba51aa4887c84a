/**
 * The message codec: wire arrays ⇄ typed messages, validated once at the edge (no sockets).
 */

import assert from "node:assert/strict";
import { decodeMessage, encodeMessage } from "../src/wamp/codec.ts";
import { ProtocolError } from "../src/wamp/errors.ts";

const VALID: unknown[][] = [
  [1, "realm1", { roles: { caller: {} } }],
  [2, 123, { roles: {} }],
  [3, { message: "x" }, "wamp.error.no_such_realm"],
  [4, "ticket", {}],
  [5, "secret", {}],
  [6, {}, "wamp.close.close_realm"],
  [8, 48, 7, {}, "com.error", ["a"], { k: 1 }],
  [16, 1, { acknowledge: true }, "com.topic"],
  [16, 1, {}, "com.topic", [1, 2]],
  [16, 1, {}, "com.topic", [], { a: 1 }],
  [17, 1, 2],
  [32, 1, { match: "prefix" }, "com."],
  [33, 1, 2],
  [34, 1, 2],
  [35, 1],
  [35, 0, { subscription: 5, reason: "gone" }],
  [36, 1, 2, {}, ["x"]],
  [48, 1, {}, "com.proc", [2 ** 53]],
  [49, 1, { mode: "kill" }],
  [50, 1, { progress: true }, ["r"]],
  [64, 1, { invoke: "roundrobin" }, "com.proc"],
  [65, 1, 2],
  [66, 1, 2],
  [67, 1],
  [67, 0, { registration: 5 }],
  [68, 1, 2, {}, [], { a: 1 }],
  [69, 1, { mode: "killnowait" }],
  [70, 1, {}, ["y"]],
];

Deno.test("codec: every message type round-trips", async (t) => {
  for (const wire of VALID) {
    await t.step(JSON.stringify(wire), () => {
      const msg = decodeMessage(wire);
      assert.equal(msg.type, wire[0]);
      assert.deepEqual(encodeMessage(msg), wire);
    });
  }
});

Deno.test("codec: empty trailing payload elements are left out, args kept when kwargs present", () => {
  assert.deepEqual(
    encodeMessage({ type: 36, subscription: 1, publication: 2, details: {}, args: [] }),
    [
      36,
      1,
      2,
      {},
    ],
  );
  assert.deepEqual(
    encodeMessage({ type: 36, subscription: 1, publication: 2, details: {}, args: [], kwargs: {} }),
    [36, 1, 2, {}],
  );
  assert.deepEqual(
    encodeMessage({ type: 36, subscription: 1, publication: 2, details: {}, kwargs: { a: 1 } }),
    [36, 1, 2, {}, [], { a: 1 }],
  );
});

Deno.test("codec: malformed messages are protocol errors with a readable reason", async (t) => {
  const cases: [unknown, RegExp][] = [
    [[], /non-empty array/],
    ["[1]", /non-empty array/],
    [{ 0: 1 }, /non-empty array/],
    [[99], /unknown message type/],
    [["1", "realm"], /unknown message type/],
    [[1, "realm1"], /HELLO must have 2 elements/],
    [[1, "realm1", {}, {}], /HELLO must have 2 elements/],
    [[1, 5, {}], /HELLO.realm must be a string/],
    [[1, "realm1", []], /HELLO.details must be a dictionary/],
    [[16, 0, {}, "t"], /PUBLISH.request must be an id/],
    [[16, 2 ** 53 + 2, {}, "t"], /PUBLISH.request must be an id/],
    [[16, 1.5, {}, "t"], /PUBLISH.request must be an id/],
    [[16, 1, {}, "t", {}], /Arguments must be a list/],
    [[16, 1, {}, "t", [], []], /ArgumentsKw must be a dictionary/],
    [[16, 1, null, "t"], /PUBLISH.options must be a dictionary/],
    [[16, 1, new Uint8Array(2), "t"], /PUBLISH.options must be a dictionary/],
    [[32, 1, {}, "t", []], /SUBSCRIBE must have 3 elements/],
    [[8, -1, 1, {}, "e"], /ERROR.requestType must be an integer/],
  ];
  for (const [wire, re] of cases) {
    await t.step(JSON.stringify(wire), () => {
      assert.throws(
        () => decodeMessage(wire),
        (e: unknown) => e instanceof ProtocolError && re.test(e.message),
      );
    });
  }
});
