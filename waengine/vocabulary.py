"""The words every layer shares, each defined once: session statuses and the session-id pattern.

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
CONNECTED_DETAILS = ("OFFLINE", "SYNCING", "RESUMING")

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
