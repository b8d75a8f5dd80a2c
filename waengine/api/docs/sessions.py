"""Response schemas of the session routes."""

from __future__ import annotations

from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.validators import OneOf

from ...engine.manager import SESSION_ID
from .out import STATUSES, TIME, Out


class Me(Out):
    id = String(required=True, metadata={"example": "6281234567890@c.us"})
    name = String(allow_none=True)


class BrowserInfo(Out):
    pid = Integer(required=True)
    rssMb = Float(allow_none=True)


class Session(Out):
    id = String(required=True, metadata={"pattern": SESSION_ID.pattern})
    status = String(required=True, validate=OneOf(STATUSES))
    statusReason = String(required=True, allow_none=True,
                          metadata={"example": "qr_expired"})
    me = Nested(Me, required=True, allow_none=True)
    createdAt = String(required=True, metadata=TIME)
    lastActivityAt = String(required=True, allow_none=True, metadata=TIME)
    restarts = Integer(required=True)
    browser = Nested(BrowserInfo, required=True, allow_none=True)


class SessionList(Out):
    data = List(Nested(Session), required=True)


class QrCode(Out):
    qr = String(required=True, metadata={"description": "the string the phone scans"})
    expiresAt = String(required=True, metadata=TIME)


class PairingCode(Out):
    code = String(required=True, metadata={"example": "ABCD-EFGH"})


class Cleared(Out):
    cleared = Integer(required=True)


class Pacing(Out):
    """The send pacing in force for a session (its overrides on top of the configuration)."""

    minInterval = Float(required=True, metadata={"description": "seconds"})
    jitter = Float(required=True, metadata={"description": "seconds, random extra"})
    dailyCap = Integer(required=True, metadata={"description": "0 = none"})
    typing = Boolean(required=True)
