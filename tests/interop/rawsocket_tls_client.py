"""Autobahn|Python (asyncio) over RawSocket with TLS (Autobahn's `rss://`): joins, calls.

    python3 rawsocket_tls_client.py --url rss://127.0.0.1:N --cafile ca.pem

Verifies the router's certificate with ssl.create_default_context(cafile=--cafile), joins
realm1 anonymously, calls wamp.session.get on its own session and prints one JSON line:
{"session": ..., "transport": {...}} (the router's transport details of this session), or
{"error": "..."} when the connection or the TLS handshake fails. Exits 0 either way.
"""

import argparse
import asyncio
import json
import ssl

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.rawsocket.util import parse_url
from autobahn.wamp.serializer import JsonSerializer
from autobahn.wamp.types import ComponentConfig

# Autobahn 22.7.1's asyncio RawSocket client lacks `transport_details`, which its own session
# code reads on WELCOME (an AttributeError in the library); give the attribute a value.
if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = None


class Client(ApplicationSession):
    def __init__(self, config, done):
        super().__init__(config)
        self.done = done

    async def onJoin(self, details):
        info = await self.call("wamp.session.get", details.session)
        self.done.set_result({"session": details.session, "transport": info.get("transport")})
        self.leave()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--cafile", required=True)
    args = p.parse_args()
    secure, host, port = parse_url(args.url)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    factory = WampRawSocketClientFactory(
        lambda: Client(ComponentConfig("realm1"), done), serializer=JsonSerializer()
    )
    context = ssl.create_default_context(cafile=args.cafile) if secure else None
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_connection(factory, host, port, ssl=context), 10
        )
    except (OSError, ssl.SSLError) as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        return
    out = await asyncio.wait_for(done, 10)
    await asyncio.sleep(0.1)
    transport.close()
    print(json.dumps(out), flush=True)


asyncio.run(main())
