#!/usr/bin/env python3
"""Autobahn|Python (asyncio) authenticating client for Switchboard's auth interop tests.

Opens one WebSocket (ws:// or wss://), joins --realm authenticating with --method, prints
exactly one JSON line and exits 0:

  {"joined": true, "session": ..., "realm": ..., "authid": ..., "authrole": ...,
   "authmethod": ..., "authprovider": ..., "authextra": {...}, "challenge": {...}}
  {"joined": false, "reason": "<ABORT reason>", "message": "<ABORT message>", "challenge": ...}
  {"joined": false, "error": "<connection/TLS error>"}

"challenge" is the CHALLENGE the router sent (method and extra), or null. On an unexpected
failure it prints a message to stderr and exits non-zero. The Deno test
(tests/auth_interop_test.ts) spawns this script and asserts on the JSON; this script only
reports, it does not judge.

Methods:
  anonymous   authmethods ["anonymous"]
  ticket      authmethods ["ticket"], --authid, --ticket
  wampcra     authmethods ["wampcra"], --authid, --secret (salted when the CHALLENGE carries
              a salt: autobahn.wamp.auth.derive_key, then compute_wcs)
  cryptosign  authmethods ["cryptosign"], --private-key (hex seed, 32 bytes), --authid optional;
              autobahn.wamp.cryptosign.CryptosignKey signs the challenge; --pubkey announces
              another public key than the private key's (a wrong signature)
  scram       authmethods ["scram"], --authid, --password: autobahn.wamp.auth.AuthScram (needs
              argon2-cffi and passlib); its onWelcome check of the router's
              scram_server_signature is reported as "verified"
  cookie      authmethods ["cookie", "ticket"] (with --authid/--ticket); --cookie sends that
              Cookie header
  tls         authmethods ["tls"]: the TLS client certificate --client-cert/--client-key
              authenticates (no challenge)

Every result also carries "set_cookie": the Set-Cookie header of the upgrade response, or null.

TLS: with a wss:// --url the connection verifies the router's certificate with
ssl.create_default_context(cafile=--cafile); without --cafile the system trust store is used.
"""

import argparse
import asyncio
import binascii
import json
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.auth import compute_wcs, derive_key  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

STEP_TIMEOUT = 8.0

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer}


class ScenarioFailure(Exception):
    pass


class AuthClient(ApplicationSession):
    """Joins with the configured authentication; the outcome is the `joined` future."""

    def __init__(self, opts):
        super().__init__(ComponentConfig(opts.realm))
        self.opts = opts
        loop = asyncio.get_running_loop()
        self.joined = loop.create_future()
        self.gone = loop.create_future()
        self.abort = None
        self.challenge = None
        self.key = None
        self.scram = None
        self.verified = None
        if opts.method == "scram":
            from autobahn.wamp.auth import AuthScram

            self.scram = AuthScram(authid=opts.authid, password=opts.password)
        if opts.method == "cryptosign":
            from autobahn.wamp.cryptosign import CryptosignKey

            self.key = CryptosignKey.from_bytes(binascii.a2b_hex(opts.private_key))

    def onConnect(self):
        o = self.opts
        # the upgrade response's headers, as the WebSocket client protocol parsed them
        self.set_cookie = (getattr(self._transport, "http_headers", None) or {}).get("set-cookie")
        kwargs = {"authmethods": [o.method]}
        if o.method == "cookie":
            kwargs["authmethods"] = ["cookie", "ticket"]
        if self.scram is not None:
            kwargs["authextra"] = self.scram.authextra
        if o.authid:
            kwargs["authid"] = o.authid
        if o.authrole:
            kwargs["authrole"] = o.authrole
        if self.key is not None:
            kwargs["authextra"] = {"pubkey": o.pubkey or self.key.public_key()}
        self.join(o.realm, **kwargs)

    async def onChallenge(self, challenge):
        self.challenge = {"method": challenge.method, "extra": challenge.extra}
        o = self.opts
        if challenge.method == "ticket":
            return o.ticket
        if challenge.method == "wampcra":
            extra = challenge.extra
            key = o.secret
            if "salt" in extra:
                key = derive_key(o.secret, extra["salt"], extra.get("iterations", 1000),
                                 extra.get("keylen", 32))
            return compute_wcs(key, extra["challenge"]).decode("ascii")
        if challenge.method == "cryptosign":
            return await self.key.sign_challenge(challenge)
        if challenge.method == "scram" and self.scram is not None:
            return self.scram.on_challenge(self, challenge).decode("ascii")
        raise ScenarioFailure(f"unexpected challenge method {challenge.method}")

    def onWelcome(self, msg):
        if self.scram is not None and msg.authmethod == "scram":
            error = self.scram.on_welcome(self, msg.authextra)
            self.verified = error is None
            return error
        return None

    def onJoin(self, details):
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details):
        if not self.joined.done():
            # ABORT before WELCOME
            self.abort = {"reason": details.reason, "message": details.message}
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


async def run(opts):
    client = AuthClient(opts)
    factory = WampWebSocketClientFactory(
        lambda: client, url=opts.url, serializers=[SERIALIZERS[opts.serializer]()],
        headers={"Cookie": opts.cookie} if opts.cookie else None,
    )
    secure, host, port, _resource, _path, _params = parse_url(opts.url)
    context = None
    if secure:
        context = ssl.create_default_context(cafile=opts.cafile) if opts.cafile \
            else ssl.create_default_context()
        if opts.client_cert:
            context.load_cert_chain(opts.client_cert, opts.client_key)
    loop = asyncio.get_running_loop()
    try:
        _transport, protocol = await asyncio.wait_for(
            loop.create_connection(factory, host, port, ssl=context), STEP_TIMEOUT
        )
    except (OSError, ssl.SSLError) as e:
        return {"joined": False, "error": f"{type(e).__name__}: {e}"}
    # a connection the router closes before the WebSocket opens (a refused TLS client
    # certificate) never reaches the session: its end is the protocol's is_closed
    closed = asyncio.ensure_future(protocol.is_closed)
    await asyncio.wait([client.joined, closed], timeout=STEP_TIMEOUT,
                       return_when=asyncio.FIRST_COMPLETED)
    if not client.joined.done() and closed.done() and client._transport is None:
        return {"joined": False, "error": "connection closed before the WebSocket opened",
                "set_cookie": None, "verified": None, "challenge": None}
    def set_cookie():
        return getattr(client, "set_cookie", None)

    try:
        details = await asyncio.wait_for(asyncio.shield(client.joined), STEP_TIMEOUT)
        return {
            "set_cookie": set_cookie(),
            "verified": client.verified,
            "joined": True,
            "session": details.session,
            "realm": details.realm,
            "authid": details.authid,
            "authrole": details.authrole,
            "authmethod": details.authmethod,
            "authprovider": details.authprovider,
            "authextra": details.authextra,
            "challenge": client.challenge,
        }
    except ScenarioFailure as e:
        out = {"joined": False, "challenge": client.challenge, "set_cookie": set_cookie(),
               "verified": client.verified}
        if client.abort:
            out.update(client.abort)
        else:
            out["error"] = str(e)
        return out
    finally:
        await client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--realm", default="realm1")
    parser.add_argument("--serializer", choices=sorted(SERIALIZERS), default="json")
    parser.add_argument("--method", choices=["anonymous", "ticket", "wampcra", "cryptosign", "scram", "cookie", "tls"],
                        required=True)
    parser.add_argument("--password", help="scram: the password")
    parser.add_argument("--cookie", help="a Cookie header to send with the upgrade request")
    parser.add_argument("--authid")
    parser.add_argument("--authrole", help="authrole to request in HELLO")
    parser.add_argument("--ticket")
    parser.add_argument("--secret")
    parser.add_argument("--private-key", help="Ed25519 seed, 64 hex characters")
    parser.add_argument("--pubkey", help="announce this public key instead of the private key's")
    parser.add_argument("--cafile", help="PEM file to verify the router's TLS certificate with")
    parser.add_argument("--client-cert", help="PEM client certificate to present (tls method)")
    parser.add_argument("--client-key", help="PEM key of --client-cert")
    opts = parser.parse_args()
    if opts.method == "cryptosign" and not opts.private_key:
        parser.error("--method cryptosign needs --private-key")

    try:
        result = asyncio.run(asyncio.wait_for(run(opts), 18.0))
    except Exception as e:  # noqa: BLE001 - report any failure as one line and a non-zero exit
        print(f"auth client failed: {type(e).__name__}: {e or repr(e)}", file=sys.stderr)
        return 1
    result["method"] = opts.method
    result["serializer"] = opts.serializer
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
