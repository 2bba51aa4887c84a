#!/usr/bin/env python3
"""A session monitor in the style of Autobahn|Python's examples, for the cluster tests.

Joins --url/--realm and subscribes to wamp.session.on_join (handler taking the details),
wamp.session.on_leave with a ONE-argument handler (as the examples write it; the router
sends the session id first) and to --topic (testaments). Prints one JSON line per thing seen
("ready", {"join": id, "node": ...}, {"leave": id}, {"topic": args}), flushed at once, until
stdin is closed or --seconds pass. With --query it instead calls wamp.session.count,
wamp.session.list and wamp.session.get on every listed id, prints them as one JSON line
and leaves. This script only reports; the Deno test judges.
"""

import argparse
import asyncio
import json
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402


def say(obj):
    print(json.dumps(obj), flush=True)


class Monitor(ApplicationSession):
    async def onJoin(self, details):
        args = self.config.extra["args"]
        try:
            if args.query:
                count = await self.call("wamp.session.count")
                ids = await self.call("wamp.session.list")
                got = {}
                for i in ids:
                    d = await self.call("wamp.session.get", i)
                    got[str(i)] = {"authid": d.get("authid"), "node": d.get("node")}
                say({"self": details.session, "count": count, "list": ids, "get": got})
                self.leave()
                return

            def on_join(info):
                say({"join": info["session"], "node": info.get("node")})

            def on_leave(session_id):
                say({"leave": session_id})

            def on_topic(*a):
                say({"topic": list(a)})

            await self.subscribe(on_join, "wamp.session.on_join")
            await self.subscribe(on_leave, "wamp.session.on_leave")
            await self.subscribe(on_topic, args.topic)
            say({"ready": details.session})
            loop = asyncio.get_event_loop()
            reader = loop.run_in_executor(None, sys.stdin.read)
            try:
                await asyncio.wait_for(reader, timeout=args.seconds)
            except asyncio.TimeoutError:
                pass
            self.leave()
        except Exception as e:  # report, never hang
            print(f"monitor failed: {e!r}", file=sys.stderr, flush=True)
            self.leave()

    def onDisconnect(self):
        done = self.config.extra["done"]
        if not done.done():
            done.set_result(True)


async def run(args):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    config = ComponentConfig(args.realm, extra={"args": args, "done": done})
    factory = WampWebSocketClientFactory(
        lambda: Monitor(config), url=args.url, serializers=[JsonSerializer()]
    )
    _secure, host, port, _resource, _path, _params = parse_url(args.url)
    await asyncio.wait_for(loop.create_connection(factory, host, port), 10)
    await done


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--realm", default="realm1")
    p.add_argument("--topic", default="com.cluster.will")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--query", action="store_true")
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
