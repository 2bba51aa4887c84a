/**
 * A hostile client with a very long topic cannot knock its node off NATS (nats-server ends a
 * connection whose protocol line exceeds `max_control_line`): a PUBLISH or SUBSCRIBE whose
 * NATS subject would exceed MAX_SUBJECT_BYTES gets ERROR `wamp.error.invalid_uri`, nothing is
 * sent, the link stays connected and events keep crossing. Two nodes in this process over a
 * real nats-server.
 */

import assert from "node:assert/strict";
import { clusterNodeOf } from "../src/cluster/node.ts";
import { MAX_SUBJECT_BYTES } from "../src/cluster/subjects.ts";
import { WampError } from "../src/wamp/errors.ts";
import { natsNode } from "./_cluster_inproc.ts";
import { NatsServer } from "./_nats.ts";

Deno.test("cluster: a topic too long for a NATS subject is refused with invalid_uri, the node stays on NATS", async () => {
  await using nats = await NatsServer.start();
  const a = natsNode("long-a", nats.url);
  const b = natsNode("long-b", nats.url);
  try {
    await Promise.all([a.ready, b.ready]);
    const pub = await a.session("realm1", { authrole: "anonymous" });
    const sub = await b.session("realm1", { authrole: "anonymous" });
    // one component of 3,000 'é' is 6,000 UTF-8 bytes, encoded longer still: past the bound
    const long = `com.x.${"é".repeat(3000)}`;
    await assert.rejects(
      pub.publish(long, ["x"], {}, { acknowledge: true }),
      (e: unknown) => e instanceof WampError && e.uri === "wamp.error.invalid_uri",
    );
    await assert.rejects(
      sub.subscribe(long, () => {}),
      (e: unknown) => e instanceof WampError && e.uri === "wamp.error.invalid_uri",
    );
    await assert.rejects(
      sub.subscribe(`com..${"a".repeat(MAX_SUBJECT_BYTES)}`, () => {}, { match: "wildcard" }),
      (e: unknown) => e instanceof WampError && e.uri === "wamp.error.invalid_uri",
    );
    // a long topic under the bound still crosses, and the links never dropped
    const fine = `com.x.${"a".repeat(2000)}`;
    const got: unknown[] = [];
    await sub.subscribe(fine, (args) => got.push(args[0]));
    await pub.publish(fine, ["ok"], {}, { acknowledge: true });
    for (let i = 0; i < 100 && got.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(got, ["ok"]);
    assert.equal(clusterNodeOf(a)!.link.status, "connected");
    assert.equal(clusterNodeOf(a)!.disconnects, 0);
    assert.equal(clusterNodeOf(b)!.disconnects, 0);
  } finally {
    await a.close(0);
    await b.close(0);
  }
});
