"""The words every layer shares, each defined once: session, send, ack and delivery statuses and
the session-id pattern.

A leaf module (the standard library and errors.py only), so the API, the engine, the cache and
the metrics all import the same definition and cannot drift apart.
"""

from __future__ import annotations

import re
from enum import Enum

from .errors import ValidationError


class Status(str, Enum):
    """A session's state (docs/api.md: the session state machine)."""

    STARTING = "STARTING"
    SCAN_QR = "SCAN_QR"
    CONNECTED = "CONNECTED"
    # WhatsApp is open for this account in another window: nothing flows until a takeover.
    CONFLICT = "CONFLICT"
    RECOVERING = "RECOVERING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


STATUSES = tuple(s.value for s in Status)

# What a CONNECTED session's `detail` may say: linked, but the stream is not up (yet). Sends
# made then wait in the queue until it is (wa-js StreamMode OFFLINE / SYNCING, StreamInfo
# RESUMING: whatsapp/enums/StreamMode.d.ts, StreamInfo.d.ts).
STREAM_DETAILS = ("OFFLINE", "SYNCING", "RESUMING")
# DEGRADED: the stream looks up but nothing flows (engine/ladder.py); sends still go to the page
# one at a time, in order, as the probe that sees it flow again.
CONNECTED_DETAILS = (*STREAM_DETAILS, "DEGRADED")
# A CONNECTED session whose sends to new contacts WhatsApp's reach-out timelock holds
# (engine/reachout.py): its `detail` when the stream is up; replies still go out.
RESTRICTED = "RESTRICTED"

# A message's ack as responses name it (docs/api.md), and WhatsApp's numeric ack (wa-js
# whatsapp/enums/ACK.d.ts: -1 error, 0 clock, 1 sent, 2 received, 3 read, 4 played) by name.
ACKS = ("pending", "sent", "delivered", "read", "failed")
ACK_BY_CODE = {-1: "failed", 0: "pending", 1: "sent", 2: "delivered", 3: "read", 4: "read",
               5: "read"}


class SendStatus(str, Enum):
    """Where a queued send is (the outgoing queue's `status` column, GET …/messages/{id})."""

    QUEUED = "queued"
    # The browser died while the send was in the page: looked for in the chat before any retry.
    UNKNOWN = "unknown"
    SENT = "sent"
    FAILED = "failed"


SEND_STATUSES = tuple(s.value for s in SendStatus)
# How a queued send to a new contact shows while a reach-out limit holds it (its row stays
# queued): the API's word, never stored.
HELD = "held"
# Still to be sent, or its outcome is still being found out.
PENDING_SENDS = (SendStatus.QUEUED.value, SendStatus.UNKNOWN.value)
# A webhook delivery's status (GET …/webhook/deliveries).
DELIVERY_STATUSES = ("pending", "delivered", "failed")

# A session id names a folder (its browser profile), so it is a safe path segment.
SESSION_ID_CHARS = "A-Za-z0-9_-"
SESSION_ID_MAX = 64
SESSION_ID = re.compile(rf"^[{SESSION_ID_CHARS}]{{1,{SESSION_ID_MAX}}}$")
# An API key's scope entry: a session id, or a prefix of one ending in '*'.
SESSION_SCOPE = re.compile(rf"{SESSION_ID.pattern}|^[{SESSION_ID_CHARS}]{{0,{SESSION_ID_MAX - 1}}}\*$")


def check_session_id(session_id: str) -> str:
    """Reject ids that could reach outside the data folder before any file-system use."""
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise ValidationError(f"Session id must match {SESSION_ID.pattern}",
                              details={"field": "id"})
    return session_id
