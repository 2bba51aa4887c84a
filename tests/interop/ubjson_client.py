#!/usr/bin/env python3
"""Autobahn|Python offering UBJSON to Switchboard, which does not offer it: where a join ends.

    python3 ubjson_client.py --url ws://127.0.0.1:N/ws --serializers ubjson,json
    python3 ubjson_client.py --host 127.0.0.1 --port N --rawsocket ubjson

The WebSocket form offers the listed serializers in that order of preference; the RawSocket
form asks for the one given. Prints one JSON line and exits 0:
{"joined": true, "serializer": "json", "echo": [...]} after a join (with an RPC round trip
through the router), or {"joined": false, "error": "..."} when the connection ends first.
"""

import argparse
import asyncio
import json

import txaio

txaio.use_asyncio()

import ubjson  # noqa: E402,F401 - the py-ubjson package Autobahn's UBJSONSerializer needs
from autobahn.asyncio.rawsocket import (  # noqa: E402
    WampRawSocketClientFactory,
    WampRawSocketClientProtocol,
)
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
    UBJSONSerializer,
)
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

# Autobahn 22.7.1's asyncio RawSocket client lacks `transport_details`, which its own session
# code reads on WELCOME (an AttributeError in the library); give the attribute a value.
if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = None

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
    "ubjson": UBJSONSerializer,
}
TIMEOUT = 8.0


class Client(ApplicationSession):
    def __init__(self, done):
        super().__init__(ComponentConfig("realm1"))
        self.done = done

    async def onJoin(self, details):
        await self.register(lambda *args: list(args), "com.ubjson.echo")
        echo = await self.call("com.ubjson.echo", "héllo ✓", 2**53, 1.5)
        if not self.done.done():
            self.done.set_result({"joined": True, "serializer": details.serializer, "echo": echo})
        self.leave()

    def onDisconnect(self):
        if not self.done.done():
            self.done.set_result({"joined": False, "error": "disconnected before the join"})


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--serializers", help="comma-separated, most preferred first (WebSocket)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--rawsocket", choices=sorted(SERIALIZERS), help="the one serializer asked for")
    args = p.parse_args()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    if args.rawsocket:
        factory = WampRawSocketClientFactory(
            lambda: Client(done), serializer=SERIALIZERS[args.rawsocket]()
        )
        host, port = args.host, args.port
    else:
        serializers = [SERIALIZERS[name]() for name in args.serializers.split(",")]
        factory = WampWebSocketClientFactory(lambda: Client(done), url=args.url, serializers=serializers)
        _secure, host, port, _resource, _path, _params = parse_url(args.url)
    transport, protocol = await asyncio.wait_for(loop.create_connection(factory, host, port), TIMEOUT)

    # A refused handshake closes the connection before any session is attached: watch it.
    async def closed():
        while not transport.is_closing():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # let a session that did join report first
        if not done.done():
            done.set_result({"joined": False, "error": "connection closed during the handshake"})

    watcher = asyncio.ensure_future(closed())
    try:
        out = await asyncio.wait_for(done, TIMEOUT)
    finally:
        watcher.cancel()
    await asyncio.sleep(0.1)
    transport.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
