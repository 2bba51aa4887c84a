"""End-to-end check of wamp.session.on_stats with Autobahn|Python (asyncio).

A monitor session subscribes to on_join/on_stats/on_leave; a client session on the same
serializer publishes N unacknowledged events and leaves with GOODBYE. The client's own
Autobahn serializer meters the same connection independently (Autobahn's serializer
statistics, the code Crossbar uses for this feature); the script prints one JSON line with
the meta events seen for the client and the client-side totals.

    python3 stats_check.py --url ws://127.0.0.1:PORT/ws --serializer json --publishes 25
"""

import argparse
import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


class Session(ApplicationSession):
    def __init__(self, config, joined):
        super().__init__(config)
        self.joined = joined

    def onJoin(self, details):
        self.joined.set_result(details)

    def onLeave(self, details):
        self.disconnect()


async def connect(loop, url, serializer, realm):
    joined = loop.create_future()
    factory = WampWebSocketClientFactory(
        lambda: Session(ComponentConfig(realm), joined), url=url, serializers=[serializer]
    )
    u = urlparse(url)
    transport, protocol = await loop.create_connection(factory, u.hostname, u.port)
    details = await asyncio.wait_for(joined, 5)
    return protocol, protocol._session, details


def plain(v):
    """JSON-safe copy that keeps big integers exact (as strings) and records their type."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--realm", default="realm1")
    p.add_argument("--serializer", choices=SERIALIZERS, required=True)
    p.add_argument("--publishes", type=int, default=25)
    args = p.parse_args()
    loop = asyncio.get_running_loop()

    _, monitor, _ = await connect(loop, args.url, SERIALIZERS[args.serializer](), args.realm)
    seen = []  # every meta event, in arrival order; filtered by the client's id at the end
    left = loop.create_future()
    state = {"client": None}

    def on_join(details):
        seen.append(("on_join", details.get("session"), [details]))

    def on_stats(session, stats):
        seen.append(("on_stats", session.get("session"), [session, stats]))

    # the docs' one-argument handler: Autobahn passes every positional argument, so this raises
    # TypeError (and the leave is never seen) unless on_leave carries exactly [session_id]
    def on_leave(session_id):
        seen.append(("on_leave", session_id, [session_id]))
        if session_id == state["client"] and not left.done():
            left.set_result(None)

    await monitor.subscribe(on_join, "wamp.session.on_join")
    await monitor.subscribe(on_stats, "wamp.session.on_stats")
    await monitor.subscribe(on_leave, "wamp.session.on_leave")

    proto, client, details = await connect(loop, args.url, SERIALIZERS[args.serializer](), args.realm)
    state["client"] = details.session
    done = left
    for i in range(args.publishes):
        client.publish("com.example.stats.topic", i, "x" * 10)
    await asyncio.sleep(0.3)
    serializer = proto._serializer
    client.leave()
    await asyncio.wait_for(done, 5)
    client_stats = serializer.stats(reset=False, details=False)
    print(json.dumps({
        "session": str(details.session),
        "events": [
            {"topic": t, "args": plain(a)} for (t, sid, a) in seen if sid == details.session
        ],
        "client_totals": {"bytes": client_stats["bytes"], "messages": client_stats["messages"]},
    }))
    monitor.leave()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 20))
    except Exception as e:  # report and fail the test with a readable reason
        print(f"stats_check failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
