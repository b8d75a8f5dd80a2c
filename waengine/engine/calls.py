"""Incoming calls a session rejects (`rejectCalls`), with an optional text reply (`callReply`).

The page reports a call (`call.received`) from the worker's poll or the push channel's thread;
rejecting it is a page op, which must run on the session's worker thread and may not wait on
itself, so each rejection runs on a short-lived named thread. The reply is an ordinary queued
send (paced like any other), keyed by the call id so a call reported twice (a reload, a
catch-up) is answered once; a call that already stopped ringing is neither rejected nor
answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import WAEngineError
from .page import Page, SendOp, text_args

log = logging.getLogger(__name__)


def call_policy(config: dict, options: dict | None) -> dict:
    """{rejectCalls, callReply} of a session: its own fields, else the configured defaults."""
    options = options or {}
    reject = options.get("rejectCalls")
    reply = options.get("callReply")
    return {"rejectCalls": bool(config["REJECT_CALLS"] if reject is None else reject),
            "callReply": (config["CALL_REPLY"] if reply is None else reply) or None}


class CallRejecter:
    def __init__(self, config: dict, queue_send: Callable[[object, str, dict, str], None]):
        self.config = config
        self.queue_send = queue_send  # (session, op, args, idempotency key): the paced queue

    def on_call(self, session, call: dict) -> None:
        """A call rings on this session: reject it (and answer) if the session says so."""
        policy = call_policy(self.config, session.options)
        if not policy["rejectCalls"] or call.get("isGroup") or not call.get("id"):
            return
        threading.Thread(target=self._reject, args=(session, call, policy["callReply"]),
                         name=f"wa-call-{session.id}", daemon=True).start()

    def _reject(self, session, call: dict, reply: str | None) -> None:
        try:
            Page(session).reject_call(call["id"])
        except WAEngineError as e:  # it stopped ringing, the page is gone: nothing to answer
            log.info("session %s: call %s not rejected: %s", session.id, call["id"], e.message)
            return
        log.info("session %s: rejected call %s from %s", session.id, call["id"], call.get("from"))
        if not reply or not call.get("from"):
            return
        try:
            self.queue_send(session, SendOp.TEXT.value, text_args(call["from"], reply),
                            f"call-reply:{call['id']}")
        except WAEngineError as e:
            log.warning("session %s: reply to call %s not queued: %s", session.id, call["id"],
                        e.message)
