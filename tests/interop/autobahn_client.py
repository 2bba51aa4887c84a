#!/usr/bin/env python3
"""Autobahn|Python (asyncio) interop client for Switchboard's tests.

Runs one scenario against a running router and prints exactly one JSON line with what it
observed to stdout, then exits 0. On an unexpected failure it prints a message to stderr and
exits non-zero. The Deno test (tests/interop_python_test.ts) spawns this script and asserts
on the JSON; this script only reports, it does not judge.

Scenarios:
  pubsub        two sessions (same serializer): subscribe, publish the payload, report the event
  rpc           two sessions: register an echo procedure, call it, report the result
  error         two sessions: the callee raises ApplicationError(com.example.error.bad, ...)
  denied        one session: subscribe/publish/register/call on com.secret.*, report error URIs
  join          one session: try to join --realm, report welcome or abort reason
  cross         publisher with --serializer, one subscriber per serializer, report each event
  subscribe     subscribe to --topic, print READY, wait for one event, report it
  publish       publish the payload to --topic with acknowledge, report the publication id
  advanced      Advanced Profile: subscription/registration meta events and procedures,
                retained events, testaments, registration revocation, event history (the
                router must keep history for com.example.adv.<serializer>.hist, limit 3)

Values that JSON cannot tell apart (int vs float) are reported in "types".
"""

import argparse
import asyncio
import json
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import (  # noqa: E402
    CallResult,
    PublishOptions,
    RegisterOptions,
    SubscribeOptions,
)
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

BIG = 2**53
TEXT = "héllo ✓ 𝄞"
STEP_TIMEOUT = 8.0

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}


def payload():
    """The standard payload every scenario sends."""
    args = [TEXT, BIG, True, False, 1.5, -0.25, {"nested": [1, {"deep": [True, None, "x"]}]}, [[1, 2], []]]
    kwargs = {
        "unicode": TEXT,
        "big": BIG,
        "flag": True,
        "off": False,
        "pi": 3.14159,
        "nested": {"a": [1, 2, {"b": None}], "s": "ü"},
    }
    return args, kwargs


def type_report(args, kwargs):
    """Python type names of the values whose int/float/bool kind JSON output would blur."""

    def name(container, key):
        try:
            return type(container[key]).__name__
        except (IndexError, KeyError, TypeError):
            return "missing"

    return {
        "args[1]": name(args, 1),
        "args[2]": name(args, 2),
        "args[4]": name(args, 4),
        "kwargs.big": name(kwargs, "big"),
        "kwargs.flag": name(kwargs, "flag"),
        "kwargs.pi": name(kwargs, "pi"),
    }


class ScenarioFailure(Exception):
    pass


class Client(ApplicationSession):
    """A session whose join and disconnect are awaitable futures."""

    def __init__(self, realm):
        super().__init__(ComponentConfig(realm))
        loop = asyncio.get_running_loop()
        self.joined = loop.create_future()
        self.gone = loop.create_future()
        self.left_reason = None

    def onJoin(self, details):
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details):
        self.left_reason = details.reason
        if not self.joined.done():
            # ABORT before WELCOME
            self.joined.set_exception(ScenarioFailure(f"abort:{details.reason}"))
        self.disconnect()

    def onDisconnect(self):
        if not self.joined.done():
            self.joined.set_exception(ScenarioFailure("disconnected before join"))
        if not self.gone.done():
            self.gone.set_result(True)

    async def close(self):
        if self.is_attached():
            try:
                await asyncio.wait_for(self.leave(), STEP_TIMEOUT)
            except Exception:  # noqa: BLE001 - closing best effort, transport still dropped
                pass
        if self._transport is not None and not self.gone.done():
            self._transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.gone), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            pass


async def connect(url, realm, serializer_name):
    """Opens a WebSocket offering only `serializer_name`, attaches a Client; returns it once
    the transport is up (the join outcome is in `client.joined`)."""
    client = Client(realm)
    factory = WampWebSocketClientFactory(
        lambda: client, url=url, serializers=[SERIALIZERS[serializer_name]()]
    )
    _secure, host, port, _resource, _path, _params = parse_url(url)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.create_connection(factory, host, port), STEP_TIMEOUT)
    return client


async def join(url, realm, serializer_name):
    client = await connect(url, realm, serializer_name)
    await asyncio.wait_for(asyncio.shield(client.joined), STEP_TIMEOUT)
    return client


def event_collector():
    """A handler and a future resolved with the first event's (args, kwargs, details)."""
    fut = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        details = kwargs.pop("details", None)
        if not fut.done():
            fut.set_result((list(args), kwargs, details))

    return on_event, fut


def event_report(received):
    args, kwargs, details = received
    return {
        "args": args,
        "kwargs": kwargs,
        "types": type_report(args, kwargs),
        "publication": details.publication if details is not None else None,
    }


async def scenario_pubsub(opts):
    topic = opts.topic
    sub = await join(opts.url, opts.realm, opts.serializer)
    pub = await join(opts.url, opts.realm, opts.serializer)
    try:
        handler, fut = event_collector()
        await sub.subscribe(handler, topic, options=SubscribeOptions(details_arg="details"))
        args, kwargs = payload()
        publication = await pub.publish(topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
        received = await asyncio.wait_for(fut, STEP_TIMEOUT)
        result = event_report(received)
        result["published_id"] = publication.id
        return result
    finally:
        await pub.close()
        await sub.close()


async def scenario_rpc(opts):
    callee = await join(opts.url, opts.realm, opts.serializer)
    caller = await join(opts.url, opts.realm, opts.serializer)
    seen = {}
    try:

        def echo(*args, **kwargs):
            seen["args"] = list(args)
            seen["kwargs"] = dict(kwargs)
            return CallResult(*args, reply="ok", count=len(args), **kwargs)

        await callee.register(echo, "com.example.echo", options=RegisterOptions())
        args, kwargs = payload()
        res = await asyncio.wait_for(caller.call("com.example.echo", *args, **kwargs), STEP_TIMEOUT)
        if isinstance(res, CallResult):
            r_args, r_kwargs = list(res.results), dict(res.kwresults)
        else:
            r_args, r_kwargs = [res], {}
        return {
            "args": r_args,
            "kwargs": r_kwargs,
            "types": type_report(r_args, r_kwargs),
            "invocation": {
                "args": seen.get("args"),
                "kwargs": seen.get("kwargs"),
                "types": type_report(seen.get("args", []), seen.get("kwargs", {})),
            },
        }
    finally:
        await caller.close()
        await callee.close()


async def scenario_error(opts):
    callee = await join(opts.url, opts.realm, opts.serializer)
    caller = await join(opts.url, opts.realm, opts.serializer)
    try:

        def bad(*args, **kwargs):
            raise ApplicationError("com.example.error.bad", "bad input", BIG, TEXT, reason="nope", got=list(args))

        await callee.register(bad, "com.example.bad")
        try:
            res = await asyncio.wait_for(caller.call("com.example.bad", 1, "two"), STEP_TIMEOUT)
        except ApplicationError as e:
            return {"error": e.error, "args": list(e.args), "kwargs": dict(e.kwargs or {})}
        return {"error": None, "unexpected_result": repr(res)}
    finally:
        await caller.close()
        await callee.close()


async def scenario_denied(opts):
    """Tries each action on a denied URI; reports the error URI per action (or "ok")."""
    c = await join(opts.url, opts.realm, opts.serializer)
    out = {}

    async def attempt(name, coro):
        try:
            await asyncio.wait_for(coro, STEP_TIMEOUT)
            out[name] = "ok"
        except ApplicationError as e:
            out[name] = e.error

    try:
        await attempt("subscribe", c.subscribe(lambda *a, **k: None, "com.secret.topic"))
        await attempt("publish", c.publish("com.secret.topic", 1, options=PublishOptions(acknowledge=True)))
        await attempt("register", c.register(lambda: None, "com.secret.proc"))
        await attempt("call", c.call("com.secret.proc"))
        # an allowed URI still works on the same session
        await attempt("allowed_publish", c.publish("com.open.topic", 1, options=PublishOptions(acknowledge=True)))
        return out
    finally:
        await c.close()


async def scenario_join(opts):
    client = await connect(opts.url, opts.realm, opts.serializer)
    try:
        details = await asyncio.wait_for(asyncio.shield(client.joined), STEP_TIMEOUT)
        return {"joined": True, "realm": details.realm, "authrole": details.authrole}
    except ScenarioFailure as e:
        return {"joined": False, "reason": client.left_reason, "message": str(e)}
    finally:
        await client.close()


async def scenario_cross(opts):
    topic = opts.topic
    subs = {name: await join(opts.url, opts.realm, name) for name in SERIALIZERS}
    pub = await join(opts.url, opts.realm, opts.serializer)
    try:
        futs = {}
        for name, s in subs.items():
            handler, fut = event_collector()
            futs[name] = fut
            await s.subscribe(handler, topic, options=SubscribeOptions(details_arg="details"))
        args, kwargs = payload()
        await pub.publish(topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
        out = {}
        for name, fut in futs.items():
            out[name] = event_report(await asyncio.wait_for(fut, STEP_TIMEOUT))
        return {"publisher": opts.serializer, "subscribers": out}
    finally:
        await pub.close()
        for s in subs.values():
            await s.close()


async def scenario_subscribe(opts):
    c = await join(opts.url, opts.realm, opts.serializer)
    try:
        handler, fut = event_collector()
        await c.subscribe(handler, opts.topic, options=SubscribeOptions(details_arg="details"))
        print("READY", flush=True)
        return event_report(await asyncio.wait_for(fut, STEP_TIMEOUT * 2))
    finally:
        await c.close()


async def scenario_publish(opts):
    c = await join(opts.url, opts.realm, opts.serializer)
    try:
        args, kwargs = payload()
        publication = await c.publish(opts.topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
        return {"published_id": publication.id}
    finally:
        await c.close()


async def until(condition, what):
    """Waits (polling) until condition() is true; fails after STEP_TIMEOUT."""
    loop = asyncio.get_running_loop()
    end = loop.time() + STEP_TIMEOUT
    while not condition():
        if loop.time() > end:
            raise ScenarioFailure(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def error_uri(coro):
    """The error URI the call fails with, or "ok: <result>"."""
    try:
        res = await asyncio.wait_for(coro, STEP_TIMEOUT)
        return f"ok: {res!r}"
    except ApplicationError as e:
        return e.error


async def scenario_advanced(opts):
    ser = opts.serializer

    def t(name):
        return f"com.example.adv.{ser}.{name}"

    mon = await join(opts.url, opts.realm, ser)
    pub = await join(opts.url, opts.realm, ser)
    sub = await join(opts.url, opts.realm, ser)
    extra = []
    out = {}
    try:
        # meta events about sub's subscription and registration, seen by the monitor
        meta = []

        def on_meta(name):
            def handler(*args, details=None):
                meta.append({"topic": name, "args": list(args), "publisher_authrole": details.publisher_authrole})

            return handler

        meta_topics = [
            "wamp.subscription.on_create",
            "wamp.subscription.on_subscribe",
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
            "wamp.registration.on_create",
            "wamp.registration.on_register",
        ]
        for name in meta_topics:
            await mon.subscribe(on_meta(name), name, options=SubscribeOptions(details_arg="details"))
        s = await sub.subscribe(lambda *a, **k: None, t("meta"))
        r = await sub.register(lambda *a, **k: "ok", t("proc"), options=RegisterOptions(invoke="roundrobin"))
        await until(lambda: len(meta) >= 4, "4 meta events")
        await s.unsubscribe()
        await until(lambda: len(meta) >= 6, "on_unsubscribe and on_delete")
        out["meta"] = {"session": sub._session_id, "subscription": s.id, "registration": r.id, "events": list(meta)}

        # meta procedures, called by another session
        s2 = await sub.subscribe(lambda *a, **k: None, t("meta2"))
        out["procedures"] = {
            "subscription": s2.id,
            "session": sub._session_id,
            "lookup": await pub.call("wamp.subscription.lookup", t("meta2")),
            "lookup_prefix": await pub.call("wamp.subscription.lookup", t("meta2"), {"match": "prefix"}),
            "match": await pub.call("wamp.subscription.match", t("meta2")),
            "get": await pub.call("wamp.subscription.get", s2.id),
            "list_subscribers": await pub.call("wamp.subscription.list_subscribers", s2.id),
            "count_subscribers": await pub.call("wamp.subscription.count_subscribers", s2.id),
            "list": await pub.call("wamp.subscription.list"),
            "get_unknown": await error_uri(pub.call("wamp.subscription.get", s2.id + 1 if s2.id < 2**53 else 1)),
            "registration": r.id,
            "reg_lookup": await pub.call("wamp.registration.lookup", t("proc")),
            "reg_match": await pub.call("wamp.registration.match", t("proc")),
            "reg_get": await pub.call("wamp.registration.get", r.id),
            "list_callees": await pub.call("wamp.registration.list_callees", r.id),
            "count_callees": await pub.call("wamp.registration.count_callees", r.id),
        }

        # retained event: published with retain=True before anyone subscribes
        args, kwargs = payload()
        published = await pub.publish(
            t("retained"), *args, options=PublishOptions(retain=True, acknowledge=True), **kwargs
        )
        handler, fut = event_collector()
        await sub.subscribe(handler, t("retained"), options=SubscribeOptions(get_retained=True, details_arg="details"))
        received = await asyncio.wait_for(fut, STEP_TIMEOUT)
        out["retained"] = event_report(received)
        out["retained"]["retained"] = received[2].retained
        out["retained"]["published_id"] = published.id

        # testaments: add, flush, add again, leave; the monitor sees detached then destroyed
        wills = []
        await mon.subscribe(
            lambda *a, details=None, **kw: wills.append({"args": list(a), "kwargs": kw}),
            t("will"),
            options=SubscribeOptions(details_arg="details"),
        )
        will = await join(opts.url, opts.realm, ser)
        extra.append(will)
        will_session = will._session_id
        await will.call("wamp.session.add_testament", t("will"), ["flushed"], {})
        flushed = await will.call("wamp.session.flush_testaments")
        await will.call("wamp.session.add_testament", t("will"), ["destroyed", BIG], {"text": TEXT})
        await will.call("wamp.session.add_testament", t("will"), ["detached"], {}, scope="detached")
        bad_scope = await error_uri(will.call("wamp.session.add_testament", t("will"), [], {}, scope="never"))
        await will.close()
        await until(lambda: len(wills) >= 2, "2 testament events")
        await asyncio.sleep(0.1)  # nothing else may follow
        out["testament"] = {"session": will_session, "flushed": flushed, "bad_scope": bad_scope, "events": wills}

        # registration revocation (Autobahn announces registration_revocation)
        callee = await join(opts.url, opts.realm, ser)
        extra.append(callee)
        reg = await callee.register(lambda: "revoked?", t("revoked"))
        removed = await pub.call(
            "wamp.registration.remove_callee", reg.id, callee._session_id, reason="com.example.revoked"
        )
        call_after = await error_uri(pub.call(t("revoked")))
        out["revocation"] = {
            "removed": removed,
            "call_after": call_after,
            "callee_attached": callee.is_attached(),
        }

        # event history: 4 events, the router keeps the last 3
        hist = await sub.subscribe(lambda *a, **k: None, t("hist"))
        ids = []
        for i in range(4):
            p = await pub.publish(t("hist"), i, BIG, options=PublishOptions(acknowledge=True), seq=i)
            ids.append(p.id)
        events = await pub.call("wamp.subscription.get_events", hist.id, 10)
        out["history"] = {"subscription": hist.id, "published": ids, "events": events}
        return out
    finally:
        for c in extra:
            await c.close()
        await sub.close()
        await pub.close()
        await mon.close()


SCENARIOS = {
    "pubsub": scenario_pubsub,
    "rpc": scenario_rpc,
    "error": scenario_error,
    "denied": scenario_denied,
    "join": scenario_join,
    "cross": scenario_cross,
    "subscribe": scenario_subscribe,
    "publish": scenario_publish,
    "advanced": scenario_advanced,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--realm", default="realm1")
    parser.add_argument("--serializer", choices=sorted(SERIALIZERS), default="json")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--topic", default="com.example.interop.topic")
    opts = parser.parse_args()

    async def run():
        return await asyncio.wait_for(SCENARIOS[opts.scenario](opts), 18.0)

    try:
        result = asyncio.run(run())
    except Exception as e:  # noqa: BLE001 - report any failure as one line and a non-zero exit
        print(f"scenario {opts.scenario} failed: {type(e).__name__}: {e or repr(e)}", file=sys.stderr)
        return 1
    result["scenario"] = opts.scenario
    result["serializer"] = opts.serializer
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
