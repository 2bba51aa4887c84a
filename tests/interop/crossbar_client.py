#!/usr/bin/env python3
"""Autobahn|Python clients written the way Crossbar.io's examples write them (Twisted, as they are).

Switchboard's tests (tests/crossbar_behaviour_test.ts) run these against the router to check
that Crossbar-era clients work unchanged. Each scenario prints lines on stdout and, last, one
JSON result line; it exits 0 unless the script itself broke. This script only reports, the
test judges.

Scenarios (--scenario):
  ticket     crossbar-examples authentication/ticket/static/client.py: an ApplicationSession
             that joins in onConnect with ["ticket"] and the principal's authid and answers the
             CHALLENGE with the ticket from the environment variable MYTICKET; run with
             ApplicationRunner(url, realm). Without --realm the realm is None (HELLO carries
             null), so the router must assign it.
  component  the same login with Autobahn's Component API: Component(transports=url,
             realm=None or --realm, authentication={"ticket": {...}}).
  component-scram  the Component API with WAMP-SCRAM: authentication={"scram": {"authid",
             "password"}}, the password from the environment variable MYPASSWORD.
  monitor    the session statistics docs' monitor: subscribes to wamp.session.on_join and
             wamp.session.on_leave with one-argument handlers, `on_session_leave(session_id)`;
             prints READY once subscribed, "LEFT <id>" per leave, and leaves after --count.
             A handler that raises (a TypeError from extra positional arguments) is reported
             through onUserError and ends the run at once.

Result line:
  {"joined": true, "realm": ..., "authid": ..., "authrole": ..., "session": ...,
   "leave_reason": <reason of the GOODBYE/ABORT that ended the session>, "leave_message": ...}
  {"joined": false, "leave_reason": ..., "leave_message": ...}
  monitor: {"joined": true, "left": [ids], "errors": [texts]}
"""

import argparse
import json
import os
import sys

import txaio

txaio.use_twisted()

from autobahn.twisted.component import Component, run  # noqa: E402
from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.internet.error import ReactorNotRunning  # noqa: E402

RESULT = {"joined": False, "leave_reason": None, "leave_message": None}


def out(line):
    """A line for the test on the real stdout (Twisted's logging takes over sys.stdout)."""
    sys.__stdout__.write(line + "\n")
    sys.__stdout__.flush()


def ticket_session(authid, ticket):
    class ClientSession(ApplicationSession):
        def onConnect(self):
            self.join(self.config.realm, ["ticket"], authid)

        def onChallenge(self, challenge):
            if challenge.method == "ticket":
                return ticket
            raise Exception("Invalid authmethod {}".format(challenge.method))

        def onJoin(self, details):
            RESULT.update(
                joined=True,
                realm=details.realm,
                authid=details.authid,
                authrole=details.authrole,
                session=details.session,
            )
            self.leave()

        def onLeave(self, details):
            RESULT.update(leave_reason=details.reason, leave_message=details.message)
            self.disconnect()

        def onDisconnect(self):
            try:
                reactor.stop()
            except ReactorNotRunning:
                pass

    return ClientSession


def monitor_session(count):
    class ClientSession(ApplicationSession):
        left = []
        errors = []

        async def onJoin(self, details):
            RESULT.update(joined=True, left=self.left, errors=self.errors)

            def on_session_join(session_details):
                out("JOINED {}".format(session_details["session"]))

            await self.subscribe(on_session_join, "wamp.session.on_join")

            def on_session_leave(session_id):
                out("LEFT {}".format(session_id))
                self.left.append(session_id)
                if len(self.left) >= count:
                    self.leave()

            await self.subscribe(on_session_leave, "wamp.session.on_leave")
            out("READY")

        def onUserError(self, fail, msg):
            self.errors.append("{}: {}".format(msg, fail.value))
            self.leave()

        def onLeave(self, details):
            RESULT.update(leave_reason=details.reason, leave_message=details.message)
            self.disconnect()

        def onDisconnect(self):
            try:
                reactor.stop()
            except ReactorNotRunning:
                pass

    return ClientSession


def run_component(url, realm, authentication):
    component = Component(
        transports=[{"url": url, "max_retries": 0}],
        realm=realm,
        authentication=authentication,
        is_fatal=lambda _e: True,
    )

    @component.on_join
    async def joined(session, details):
        RESULT.update(
            joined=True,
            realm=details.realm,
            authid=details.authid,
            authrole=details.authrole,
            session=details.session,
        )
        await session.leave()

    @component.on_leave
    def left(session, details):
        RESULT.update(leave_reason=details.reason, leave_message=details.message)

    try:
        run([component], log_level="warn")
    except SystemExit:
        # run() ends the process through twisted's react(), with status 1 when the component
        # failed (an ABORT, say): this script reports the outcome, the test judges it
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--realm", default=None, help="the realm to join; none: let the router assign it")
    p.add_argument(
        "--scenario", choices=["ticket", "component", "component-scram", "monitor"], required=True
    )
    p.add_argument("--authid", default="client1")
    p.add_argument("--count", type=int, default=1)
    args = p.parse_args()
    if args.scenario == "monitor":
        ApplicationRunner(url=args.url, realm=args.realm).run(monitor_session(args.count), log_level="warn")
    elif args.scenario == "ticket":
        session = ticket_session(args.authid, os.environ["MYTICKET"])
        ApplicationRunner(url=args.url, realm=args.realm).run(session, log_level="warn")
    elif args.scenario == "component":
        ticket = {"authid": args.authid, "ticket": os.environ["MYTICKET"]}
        run_component(args.url, args.realm, {"ticket": ticket})
    else:
        scram = {"authid": args.authid, "password": os.environ["MYPASSWORD"]}
        run_component(args.url, args.realm, {"scram": scram})
    out(json.dumps(RESULT))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report and let the test fail with a readable reason
        print("crossbar_client failed: {}: {}".format(type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
