"""API-key auth: X-API-Key or Authorization: Bearer, compared in constant time, optionally scoped.

Keys and their scopes are parsed by `apikeys` (the API_KEYS syntax is described there).
A scoped key gets 403 `forbidden` for any other session, sees only its sessions in
`GET /sessions`, may create only ids in its scope, and may use no route outside `/sessions`
(`/performance` and `/metrics` show every session). Keys never appear in logs or error messages:
a key is named by its position in the list.
"""

from __future__ import annotations

import hmac

from flask import g, request

from .apikeys import RECOMMENDED_KEY_LENGTH, ApiKey, digest, parse_api_keys
from .errors import Forbidden, Unauthorized

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="waengine"'}


def presented_key() -> str | None:
    """The key the request carries in X-API-Key or Authorization: Bearer, if any."""
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def match_key(key: str, keys: list[ApiKey]) -> ApiKey | None:
    """The configured key equal to `key`, comparing with every one in constant time."""
    # Digests have one length, so compare_digest's time says nothing about the key's length,
    # and the loop never stops early, so it says nothing about which key nearly matched.
    presented = digest(key)
    found = None
    for candidate in keys:
        if hmac.compare_digest(presented, candidate.digest):
            found = candidate
    return found


def allowed(session_id: str) -> bool:
    """True if the request's key may act on this session (always, when auth is off)."""
    key = g.get("api_key")
    return key is None or key.allows(session_id)


def require_session(session_id: str) -> None:
    """Refuse (403) a session outside the request key's scope."""
    if not allowed(session_id):
        raise Forbidden(details={"session": session_id})


def open_route(path: str, config) -> bool:
    """Routes that need no key: /health always; /metrics and the docs by config switch."""
    if path == "/health":
        return True
    if path == "/metrics":
        return not config["METRICS_AUTH"]
    if _is_docs(path):
        return not config["DOCS_AUTH"]
    return False


def _is_docs(path: str) -> bool:
    return path in ("/openapi.json", "/docs") or path.startswith("/docs/")


def _check_scope(key: ApiKey) -> None:
    if _is_docs(request.path):
        return
    session_id = (request.view_args or {}).get("session_id")
    if session_id is not None:
        require_session(session_id)
    elif request.url_rule is not None and request.url_rule.rule != "/sessions":
        # /sessions lists only the key's sessions and creates only ids in its scope (the views);
        # other routes (/performance, /metrics) show every session, so are not for scoped keys.
        raise Forbidden("This API key is scoped to sessions and may not use this route")


def init_app(app) -> None:
    keys = parse_api_keys(app.config["API_KEYS"])
    if not keys or app.config["AUTH_DISABLED"]:
        app.logger.warning("no API keys configured: the API is open (development only)")
        return
    for key in keys:
        if key.short and app.config["ENV"] == "production":
            app.logger.warning("API_KEYS entry %d is shorter than %d characters: use a random "
                               "key (openssl rand -hex 24)", key.number, RECOMMENDED_KEY_LENGTH)

    @app.before_request
    def require_key():
        if open_route(request.path, app.config):
            return None
        key = presented_key()
        matched = match_key(key, keys) if key else None
        if matched is None:
            reason = "invalid" if key else "missing"
            raise Unauthorized(details={"reason": reason}, headers=CHALLENGE)
        g.api_key = matched
        if matched.scope is not None:
            _check_scope(matched)
        return None
