"""Autobahn|Python over RawSocket: joins, subscribes, publishes to itself, registers and calls.

    python3 rawsocket_client.py --host 127.0.0.1 --port N --serializer json|msgpack|cbor

Prints one JSON line: {"welcome": {...}, "event": [...], "result": ...} and exits 0.
"""

import argparse
import asyncio
import json
import sys

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig, PublishOptions

# Autobahn 22.7.1's asyncio RawSocket client lacks `transport_details`, which its own session
# code reads on WELCOME (an AttributeError in the library); give the attribute a value.
if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = None

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


class Client(ApplicationSession):
    def __init__(self, config, done):
        super().__init__(config)
        self.done = done

    async def onJoin(self, details):
        out = {"welcome": {"session": details.session, "authrole": details.authrole, "serializer": details.serializer}}
        got = asyncio.get_running_loop().create_future()
        await self.subscribe(lambda *a, **kw: got.done() or got.set_result([list(a), kw]), "com.rs.topic")
        await self.register(lambda a, b: a + b, "com.rs.add")
        self.publish("com.rs.topic", "héllo ✓", 2**53, {"nested": [1, 2]}, k="v",
                     options=PublishOptions(exclude_me=False))
        out["event"] = await asyncio.wait_for(got, 5)
        out["result"] = await self.call("com.rs.add", 40, 2)
        big = "x" * 100_000
        self.done.set_result(out)
        self.leave()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--serializer", choices=SERIALIZERS, required=True)
    args = p.parse_args()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    factory = WampRawSocketClientFactory(
        lambda: Client(ComponentConfig("realm1"), done), serializer=SERIALIZERS[args.serializer]()
    )
    transport, _ = await loop.create_connection(factory, args.host, args.port)
    out = await asyncio.wait_for(done, 10)
    await asyncio.sleep(0.1)
    transport.close()
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:
        print(f"rawsocket_client failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
