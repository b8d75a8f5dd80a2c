"""Webhook signatures: Standard Webhooks headers, and the legacy X-WAEngine-Signature.

One secret gives one key. A `whsec_<base64>` secret's key is the decoded bytes (what every
Standard Webhooks library does with it); any other secret's key is its UTF-8 bytes, so a
plain secret is the same key as `whsec_` + base64(secret) and old receivers keep working.
Both signatures are HMAC-SHA256 with that key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
# The Standard Webhooks specification asks for keys of 24 to 64 bytes.
KEY_BYTES = (24, 64)


def generate_secret() -> str:
    """A new `whsec_` secret of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a secret (see the module docstring)."""
    if secret.startswith(PREFIX):
        encoded = secret[len(PREFIX):]
        # Some issuers drop base64's padding; the libraries accept that, so do we.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return secret.encode()


def secret_problem(secret: str) -> str | None:
    """Why a `whsec_` secret cannot be used, or None (plain secrets are always usable)."""
    if not secret.startswith(PREFIX):
        return None
    try:
        key = key_of(secret)
    except (binascii.Error, ValueError):
        return "a whsec_ secret must be whsec_ followed by base64"
    if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        return f"a whsec_ secret must encode {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes"
    return None


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
