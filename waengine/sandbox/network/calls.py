"""Voice and video calls: a phone calls another; its linked devices see it ring.

WhatsApp Web cannot answer calls (it can reject them: wa-js `call.reject`); a call that is
neither answered on the phone nor rejected stops ringing after `ring_seconds`. Either way
both chats then get a `call_log` message, as WhatsApp Web shows "Missed voice call".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .model import Message, SandboxError, new_message_id, normalize_phone, user_wid

RING_SECONDS = 45.0  # WhatsApp stops ringing after about this long


@dataclass
class Call:
    id: str
    caller: str
    callee: str
    video: bool
    offer_time: int
    state: str = "ringing"  # ringing | rejected | missed
    ended_at: int | None = None
    rejected_by: str | None = None  # the device that rejected it


class CallOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def start_call(self, caller, callee, video: bool = False,
                   ring_seconds: float | None = None) -> dict:
        """Control API: phone `caller` calls `callee`; the callee's devices get the offer."""
        frm, to = normalize_phone(caller), normalize_phone(callee)
        if frm == to:
            raise SandboxError(400, "validation_error", "A phone cannot call itself")
        ring = RING_SECONDS if ring_seconds is None else float(ring_seconds)
        if not 0 < ring <= 600:
            raise SandboxError(400, "validation_error", "'ringSeconds' must be in (0, 600]")
        with self._cond:
            self._ensure_phone(frm)
            self._require_phone(to)
            call = Call(id=secrets.token_hex(16).upper(), caller=frm, callee=to,
                        video=bool(video), offer_time=int(self._clock()))
            self._calls()[call.id] = call
            self._push_phone(to, "call", lambda a: {"call": self._call_offer(call)})
            self._later(ring, lambda: self._end_call(call, "missed"))
            self._cond.notify_all()
            return self._call_view(call)

    def get_call(self, call_id: str) -> dict:
        with self._cond:
            return self._call_view(self._require_call(call_id))

    def reject_call_from_device(self, device_id: str, token: str, call_id: str) -> dict:
        """A page rejects a call that rings on its account (wa-js call.reject)."""
        with self._cond:
            device = self._auth(device_id, token)
            call = self._calls().get(str(call_id))
            if call is None or call.callee != device.phone:
                raise SandboxError(404, "call_not_found", f"Call {call_id} not found")
            if call.state != "ringing":
                raise SandboxError(409, "call_is_not_incoming_ring",
                                   f"Call {call_id} is not incoming ring")
            call.rejected_by = device.id
            self._end_call(call, "rejected")
            self._cond.notify_all()
            return self._call_view(call)

    def _end_call(self, call: Call, state: str) -> None:
        if call.state != "ringing":
            return
        call.state, call.ended_at = state, int(self._clock())
        self._push_phone(call.callee, "call_end", lambda a: {"id": call.id, "state": state})
        # Not answered (missed or rejected): both chats show a missed call.
        log = Message(id=new_message_id("3A"), sender=call.caller, to=call.callee,
                      type="call_log", t=call.ended_at,
                      subtype="miss_video" if call.video else "miss")
        log.recipients = [call.callee]
        self._store_notice(log, [call.caller, call.callee], unread=True)

    def _calls(self) -> dict:
        # Created lazily: reset() (core.py) replaces the state by attribute, not by list.
        calls = getattr(self, "_call_table", None)
        if calls is None or getattr(self, "_call_generation", None) != self._generation:
            calls = self._call_table = {}
            self._call_generation = self._generation
        return calls

    def _require_call(self, call_id: str) -> Call:
        call = self._calls().get(str(call_id))
        if call is None:
            raise SandboxError(404, "call_not_found", f"Call {call_id} not found")
        return call

    @staticmethod
    def _call_offer(call: Call) -> dict:
        return {"id": call.id, "peerJid": user_wid(call.caller), "isVideo": call.video,
                "isGroup": False, "offerTime": call.offer_time}

    @staticmethod
    def _call_view(call: Call) -> dict:
        return {"id": call.id, "from": call.caller, "to": call.callee, "video": call.video,
                "state": call.state, "offerTime": call.offer_time, "endedAt": call.ended_at,
                "rejectedBy": call.rejected_by}
