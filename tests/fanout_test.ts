/**
 * An EVENT fanned out to many subscribers is encoded once per serializer, not once per
 * subscriber: the broker hands every subscriber of a subscription the same message and the
 * same encoding cache, and a WebSocket peer reuses a cached encoding instead of encoding again.
 */

import assert from "node:assert/strict";
import { FakeClock } from "../src/clock.ts";
import { silentLogger } from "../src/log.ts";
import { Broker } from "../src/router/broker.ts";
import type { SessionRef } from "../src/router/session_ref.ts";
import { jsonSerializer } from "../src/serializer/json.ts";
import { msgpackSerializer } from "../src/serializer/msgpack.ts";
import type { Payload, Serializer } from "../src/serializer/serializer.ts";
import type { EncodeCache } from "../src/serializer/encode_cache.ts";
import {
  nativeLink,
  WebSocketPeer,
  type WebSocketPeerOptions,
} from "../src/transport/websocket.ts";

const PEER_OPTIONS: WebSocketPeerOptions = {
  maxMessageSize: 1 << 20,
  maxNesting: 64,
  slowConsumer: {
    max_queue_bytes: 1 << 30,
    max_queue_messages: 1 << 30,
    policy: "drop",
    timeout_ms: 10_000,
  },
  pingIntervalMs: 0,
  pingTimeoutMs: 1000,
  closeTimeoutMs: 1000,
  idleTimeoutMs: 0,
};
import type { Message } from "../src/wamp/messages.ts";

function recordingSession(id: number, sent: { msg: Message; cache?: EncodeCache }[]): SessionRef {
  return {
    id,
    authid: `s${id}`,
    authrole: "anonymous",
    hasFeature: () => false,
    send(msg, cache) {
      sent.push({ msg, cache });
      return "sent";
    },
  };
}

Deno.test("broker: every subscriber of a subscription gets the same message and cache", () => {
  const broker = new Broker(new FakeClock());
  const sent: { msg: Message; cache?: EncodeCache }[] = [];
  const subs = [1, 2, 3, 4, 5].map((i) => recordingSession(i, sent));
  for (const s of subs) broker.subscribe(s, "com.fan", "exact");
  const publisher = recordingSession(99, []);
  broker.publish(
    publisher,
    { type: 16, request: 1, options: {}, topic: "com.fan", args: [1] },
    false,
  );
  assert.equal(sent.length, 5);
  assert.ok(sent.every((x) => x.msg === sent[0]!.msg), "one EVENT object");
  assert.ok(
    sent[0]!.cache !== undefined && sent.every((x) => x.cache === sent[0]!.cache),
    "one cache",
  );
});

class FakeSocket {
  readyState = WebSocket.OPEN;
  binaryType = "blob";
  bufferedAmount = 0;
  readonly sent: Payload[] = [];
  onmessage: unknown = null;
  onclose: unknown = null;
  onerror: unknown = null;
  send(p: Payload) {
    this.sent.push(p);
  }
  close() {}
}

for (const serializer of [jsonSerializer, msgpackSerializer] as Serializer[]) {
  Deno.test(`websocket peer over ${serializer.name}: a cached encoding is sent, not re-encoded`, () => {
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    const peers = sockets.map((s) =>
      new WebSocketPeer(
        nativeLink(s as unknown as WebSocket),
        serializer,
        PEER_OPTIONS,
        {
          type: "websocket",
          peer: "x",
        },
        silentLogger,
        new FakeClock(),
      )
    );
    const event: Message = {
      type: 36,
      subscription: 1,
      publication: 2,
      details: {},
      args: ["hello"],
    };
    const cache: EncodeCache = [];
    const sizes = peers.map((p) => p.send(event, cache));
    const first = sockets[0]!.sent[0]!;
    assert.ok(
      sockets.every((s) => s.sent.length === 1 && s.sent[0] === first),
      "the same payload object",
    );
    assert.ok(sizes.every((n) => n === serializer.byteLength(first) && n > 0));
    // the cached slot is what goes out: a sentinel in the cache is sent verbatim
    const sentinel = serializer.binary ? new Uint8Array([1, 2, 3]) : "sentinel";
    const primed: EncodeCache = [];
    primed[serializer.index * 2] = sentinel;
    primed[serializer.index * 2 + 1] = 3;
    const other = new FakeSocket();
    const n = new WebSocketPeer(
      nativeLink(other as unknown as WebSocket),
      serializer,
      PEER_OPTIONS,
      { type: "websocket", peer: "x" },
      silentLogger,
      new FakeClock(),
    ).send(event, primed);
    assert.equal(other.sent[0], sentinel);
    assert.equal(n, 3);
  });
}
