#!/usr/bin/env python3
"""
Calls across two nodes of a Switchboard cluster with Autobahn|Python: a callee joins the first
URL and registers, a caller joins the second and calls it with the standard payload (and a
procedure whose callee raises an application error). Prints exactly one JSON line with what
each side saw; exits non-zero with one line on stderr on any failure.

Usage: cluster_rpc.py --callee-url ws://... --caller-url ws://... [--serializer json]
"""

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from autobahn_client import (  # noqa: E402
    SERIALIZERS,
    STEP_TIMEOUT,
    join,
    payload,
    type_report,
)
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult, RegisterOptions  # noqa: E402


async def until_registered(caller, procedure):
    """The caller's node sees the registration (its view of the bucket is eventually consistent)."""
    for _ in range(200):
        if await caller.call("wamp.registration.match", procedure) is not None:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{procedure} never seen on the caller's node")


async def run(opts):
    callee = await join(opts.callee_url, "realm1", opts.serializer)
    caller = await join(opts.caller_url, "realm1", opts.serializer)
    seen = {}
    try:

        def echo(*args, **kwargs):
            seen["args"] = list(args)
            seen["kwargs"] = dict(kwargs)
            return CallResult(*args, node="callee", **kwargs)

        def bad():
            raise ApplicationError("com.example.cluster.bad", "no", code=7)

        await callee.register(echo, "com.example.cluster.echo", options=RegisterOptions())
        await callee.register(bad, "com.example.cluster.bad", options=RegisterOptions())
        await until_registered(caller, "com.example.cluster.echo")
        await until_registered(caller, "com.example.cluster.bad")
        args, kwargs = payload()
        res = await asyncio.wait_for(
            caller.call("com.example.cluster.echo", *args, **kwargs), STEP_TIMEOUT
        )
        error = None
        try:
            await asyncio.wait_for(caller.call("com.example.cluster.bad"), STEP_TIMEOUT)
        except ApplicationError as e:
            error = {"error": e.error, "args": list(e.args), "kwargs": dict(e.kwargs)}
        return {
            "args": list(res.results),
            "kwargs": dict(res.kwresults),
            "types": type_report(list(res.results), dict(res.kwresults)),
            "invocation": {"args": seen.get("args"), "kwargs": seen.get("kwargs")},
            "error": error,
        }
    finally:
        await caller.close()
        await callee.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callee-url", required=True)
    parser.add_argument("--caller-url", required=True)
    parser.add_argument("--serializer", choices=sorted(SERIALIZERS), default="json")
    opts = parser.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(opts), 18.0))
    except Exception as e:  # noqa: BLE001 - report any failure as one line and a non-zero exit
        print(f"cluster rpc failed: {type(e).__name__}: {e or repr(e)}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
