"""API-key auth: X-API-Key or Authorization: Bearer, compared in constant time."""

from __future__ import annotations

import hmac

from flask import request

from .errors import Unauthorized

OPEN_PATHS = {"/health"}


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def key_is_valid(key: str, keys: list[str]) -> bool:
    # Compare against every key, so the time taken does not say which one nearly matched.
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(key.encode(), candidate.encode())
    return matched


def init_app(app) -> None:
    keys = list(app.config["API_KEYS"])
    if not keys:
        app.logger.warning("no API keys configured: the API is open (development only)")
        return

    @app.before_request
    def require_key():
        if request.path in OPEN_PATHS:
            return None
        key = presented_key()
        if key is None or not key_is_valid(key, keys):
            raise Unauthorized(headers={"WWW-Authenticate": 'Bearer realm="waengine"'})
        return None
