"""Status posts (stories) a linked page makes, who viewed them, and their 24 hours.

WhatsApp's rules: a status reaches only the poster's contacts who saved the poster too
(notices.py's post_status picks them the same way), it is gone 24 hours after it was posted,
and only its poster sees who viewed it. The network's clock decides "24 hours", so a test
moves the clock (POST /_sandbox/clock) instead of waiting a day.
"""

from __future__ import annotations

import re

from .messages import decode_base64
from .model import Message, SandboxError, normalize_phone, user_wid
from .notices import STATUS_CHAT

STATUS_TTL = 24 * 3600
STATUS_TYPES = ("chat", "image", "video")
FONTS = range(0, 6)  # wa-js TextFontStyle 0..5


class StatusOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def _status_audience(self, digits: str) -> list[str]:
        book = self._phones[digits].book
        return sorted(p for p, account in self._phones.items()
                      if p != digits and digits in account.book and p in book)

    def _live(self, msg: Message) -> bool:
        return not msg.revoked and self._clock() - msg.t < STATUS_TTL

    def post_status_from_device(self, device_id: str, token: str, payload: dict) -> dict:
        """A page posts a status (text with font and background colour, image or video)."""
        with self._cond:
            device = self._auth(device_id, token)
            msg_id = str(payload.get("id") or "")
            if not re.fullmatch(r"[0-9A-F]{16,32}", msg_id):
                raise SandboxError(400, "invalid_message_id", "Message ids are uppercase hex")
            if msg_id in self._messages:  # a retried post: the same status
                return self._status_result(self._messages[msg_id], device.phone)
            kind = str(payload.get("type") or "chat")
            if kind not in STATUS_TYPES:
                raise SandboxError(400, "invalid_type", f"A status is text, image or video, not {kind}")
            msg = Message(id=msg_id, sender=device.phone, to=STATUS_CHAT, type=kind,
                          t=int(self._clock()), origin_device=device.id)
            if kind == "chat":
                msg.body = str(payload.get("body") or "")
                if not msg.body.strip():
                    raise SandboxError(400, "validation_error", "A text status needs a text")
                font, color = payload.get("font", 0), payload.get("backgroundColor")
                if not isinstance(font, int) or font not in FONTS or isinstance(color, bool) \
                        or not isinstance(color, int) or not 0 <= color <= 0xFFFFFFFF:
                    raise SandboxError(400, "validation_error",
                                       "font is 0..5 and backgroundColor an ARGB number")
                msg.font, msg.background = font, color
            else:
                if payload.get("data") is None:
                    raise SandboxError(400, "validation_error", "A media status needs its file")
                msg.data = decode_base64(payload["data"])
                msg.size, msg.mimetype = len(msg.data), str(payload.get("mimetype") or "")
                msg.filename = payload.get("filename") or None
                msg.caption = str(payload.get("caption") or "") or None
            msg.recipients = self._status_audience(device.phone)
            self._store_notice(msg, [device.phone, *msg.recipients], unread=False)
            return self._status_result(msg, device.phone)

    def _status_result(self, msg: Message, phone: str) -> dict:
        view = self._status_view(msg, self._phones[phone])
        return {"key": view["key"], "t": msg.t, "ack": 1}

    def my_statuses(self, device_id: str, token: str) -> list[dict]:
        """The page's own statuses still up (24 h), oldest first."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            return [self._status_view(m, account) for m in self._statuses_of(device.phone)]

    def _statuses_of(self, digits: str) -> list[Message]:
        return [m for m in self._messages.values()
                if m.to == STATUS_CHAT and m.sender == digits and self._live(m)]

    def status_viewers(self, device_id: str, token: str, msg_id: str) -> dict:
        """Who the status reached and who viewed it, for its poster only."""
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._messages.get(msg_id)
            if msg is None or msg.to != STATUS_CHAT or msg.sender != device.phone:
                raise SandboxError(404, "msg_not_found", f"No status {msg_id} of yours")
            viewed = msg.viewed
            return {"participants": [{"id": user_wid(p), "deliveredAt": viewed.get(p),
                                      "readAt": viewed.get(p)} for p in msg.recipients],
                    "readRemaining": len([p for p in msg.recipients if p not in viewed])}

    def revoke_status(self, device_id: str, token: str, msg_id: str) -> dict:
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._messages.get(msg_id)
            if msg is None or msg.to != STATUS_CHAT or msg.sender != device.phone \
                    or not self._live(msg):
                raise SandboxError(404, "msg_not_found", f"No status {msg_id} of yours")
            self._revoke(msg, skip=device.id)
            return {"id": msg_id, "revoked": True}

    def view_status(self, msg_id: str, by) -> dict:
        """Control API: a contact opens a status (its poster sees the view)."""
        digits = normalize_phone(by)
        with self._cond:
            msg = self._messages.get(msg_id)
            if msg is None or msg.to != STATUS_CHAT or not self._live(msg):
                raise SandboxError(404, "status_not_found", f"No status {msg_id} (gone after 24 h)")
            if digits not in msg.recipients:
                raise SandboxError(403, "not_a_contact", f"{digits} does not see {msg.sender}'s status")
            msg.viewed.setdefault(digits, int(self._clock()))
            msg.read_by.add(digits)
            self._cond.notify_all()
            return {"id": msg.id, "viewers": sorted(msg.viewed)}

    def statuses_seen_by(self, phone) -> list[dict]:
        """Control API: the statuses a phone sees now (its contacts', 24 h)."""
        digits = normalize_phone(phone)
        with self._cond:
            self._require_phone(digits)
            return [{"id": m.id, "from": m.sender, "type": m.type, "text": m.body or m.caption,
                     "timestamp": m.t} for m in self._messages.values()
                    if m.to == STATUS_CHAT and digits in m.recipients and self._live(m)]

    # ----------------------------------------------------------------- the clock

    def clock(self, advance=None, offset=None) -> dict:
        """Control API: move the network's clock (status expiry, edit windows...)."""
        with self._cond:
            if offset is not None:
                self._clock_offset = float(offset)
            if advance is not None:
                self._clock_offset += float(advance)
            return {"now": self._clock(), "offset": self._clock_offset}
