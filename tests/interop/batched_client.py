#!/usr/bin/env python3
"""Autobahn|Python over Switchboard's batched WebSocket subprotocols.

    python3 batched_client.py --url ws://127.0.0.1:N/ws [--serializers cbor.batched,json]

Without --serializers, the factory's own default offer is used (Autobahn|Python offers the
batched variants first: cbor.batched, cbor, msgpack.batched, msgpack, ..., json). Joins,
registers an echo procedure and subscribes, then publishes a burst of acknowledged events to
itself without waiting in between (so the router has many messages for it at once and batches
them) and calls the echo procedure with a mixed payload. Prints one JSON line and exits 0:
{"joined": true, "serializer": "<SERIALIZER_ID in use>", "events": [...], "acks": n,
 "echo": [...], "binary_ok": true, "frames": <WebSocket messages received>}, or {"joined": false, "error": "..."}.
"""

import argparse
import asyncio
import json

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import (  # noqa: E402
    WampWebSocketClientFactory,
    WampWebSocketClientProtocol,
)
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import ComponentConfig, PublishOptions  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

SERIALIZERS = {
    "json": lambda: JsonSerializer(),
    "json.batched": lambda: JsonSerializer(batched=True),
    "msgpack": lambda: MsgPackSerializer(),
    "msgpack.batched": lambda: MsgPackSerializer(batched=True),
    "cbor": lambda: CBORSerializer(),
    "cbor.batched": lambda: CBORSerializer(batched=True),
}
TIMEOUT = 15.0
BURST = 200

# WebSocket messages (frames) received, counted before Autobahn splits their batches
FRAMES = [0]
_on_message = WampWebSocketClientProtocol.onMessage


def _counting_on_message(self, payload, is_binary):
    FRAMES[0] += 1
    return _on_message(self, payload, is_binary)


WampWebSocketClientProtocol.onMessage = _counting_on_message


class Client(ApplicationSession):
    def __init__(self, done):
        super().__init__(ComponentConfig("realm1"))
        self.done = done
        self.events = []
        self.burst_done = asyncio.get_event_loop().create_future()

    async def onJoin(self, details):
        await self.register(lambda *args: list(args), "com.batched.echo")

        def on_event(n):
            self.events.append(n)
            if len(self.events) == BURST and not self.burst_done.done():
                self.burst_done.set_result(True)

        await self.subscribe(on_event, "com.batched.topic")
        acks = await asyncio.gather(*[
            self.publish("com.batched.topic", i,
                         options=PublishOptions(acknowledge=True, exclude_me=False))
            for i in range(BURST)
        ])
        await asyncio.wait_for(self.burst_done, TIMEOUT)
        blob = bytes(range(256))
        echo = await self.call("com.batched.echo", "héllo ✓", 2**53, 1.5, blob)
        self.done.set_result({
            "joined": True,
            "serializer": details.serializer,
            "events": self.events,
            "acks": len([a for a in acks if a is not None]),
            "echo": echo[:3],
            "binary_ok": echo[3] == blob,
            "frames": FRAMES[0],
        })
        self.leave()

    def onDisconnect(self):
        if not self.done.done():
            self.done.set_result({"joined": False, "error": "disconnected before the end"})


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--serializers", help="comma-separated, most preferred first")
    args = p.parse_args()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    serializers = None
    if args.serializers:
        serializers = [SERIALIZERS[name]() for name in args.serializers.split(",")]
    factory = WampWebSocketClientFactory(lambda: Client(done), url=args.url, serializers=serializers)
    _secure, host, port, _resource, _path, _params = parse_url(args.url)
    transport, _protocol = await asyncio.wait_for(loop.create_connection(factory, host, port), TIMEOUT)
    try:
        result = await asyncio.wait_for(done, TIMEOUT)
    except asyncio.TimeoutError:
        result = {"joined": False, "error": "timed out"}
    print(json.dumps(result), flush=True)
    transport.close()


if __name__ == "__main__":
    asyncio.run(main())
