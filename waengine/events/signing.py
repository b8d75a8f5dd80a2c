"""Webhook signatures: Standard Webhooks headers, and the legacy X-WAEngine-Signature.

One secret gives one key. A `whsec_<base64>` secret's key is the decoded bytes (what every
Standard Webhooks library does with it); any other secret's key is its UTF-8 bytes, so a
plain secret is the same key as `whsec_` + base64(secret) and old receivers keep working.
Both signatures are HMAC-SHA256 with that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PREFIX = "whsec_"
# whsec_ and the padded base64 of 24 to 64 bytes (the size the Standard Webhooks
# specification asks for): 8 to 21 groups of four, the last possibly padded.
_B64 = "[A-Za-z0-9+/]"
WHSEC_PATTERN = (rf"^whsec_(?:(?:{_B64}{{4}}){{8,20}}(?:{_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)?"
                 rf"|(?:{_B64}{{4}}){{21}}(?:{_B64}{{2}}==)?)$")
_WHSEC = re.compile(WHSEC_PATTERN)


def generate_secret() -> str:
    """A new `whsec_` secret of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a secret (see the module docstring)."""
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    return secret.encode()


MIN_SECRET_BYTES = 24  # a shorter HMAC key can be guessed offline from one signed delivery


def secret_problem(secret: str) -> str | None:
    """Why a secret cannot be used, or None ("" is no secret: deliveries go unsigned)."""
    if not secret.startswith(PREFIX):
        if secret and len(secret.encode()) < MIN_SECRET_BYTES:
            return f"a webhook secret is at least {MIN_SECRET_BYTES} bytes (or a whsec_ secret)"
        return None
    if _WHSEC.fullmatch(secret):
        return None
    return "a whsec_ secret is whsec_ followed by the padded base64 of 24 to 64 bytes"


def legacy_signature(secret: str, timestamp: str, body: bytes) -> str:
    """X-WAEngine-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>."""
    mac = hmac.new(key_of(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(event_id: str, event_type: str, timestamp: str, body: bytes,
            secret: str | None) -> dict[str, str]:
    """The delivery's identity and signature headers, in both conventions.

    `webhook-id` is the event id, the same on every retry, so receivers can deduplicate.
    """
    out = {"webhook-id": event_id, "webhook-timestamp": timestamp,
           "X-WAEngine-Event": event_type, "X-WAEngine-Delivery": event_id,
           "X-WAEngine-Timestamp": timestamp}
    if secret:
        out["webhook-signature"] = standard_signature(secret, event_id, timestamp, body)
        out["X-WAEngine-Signature"] = legacy_signature(secret, timestamp, body)
    return out
