"""API-key auth: X-API-Key or Authorization: Bearer, compared in constant time, optionally scoped.

Keys and their scopes are parsed by `apikeys` (the API_KEYS syntax is described there).
A scoped key gets 403 `forbidden` for any other session, sees only its sessions in
`GET /sessions`, may create only ids in its scope, and may use no route outside `/sessions`
(`/performance` and `/metrics` show every session). Keys never appear in logs or error messages:
a key is named by its position in the list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from flask import g, request

from .apikeys import RECOMMENDED_KEY_LENGTH, ApiKey, digest, parse_api_keys
from .errors import Forbidden, Unauthorized

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="waengine"'}
# EventSource cannot send headers: event streams also take `?token=`, a short-lived token made
# by POST /auth/stream-token, so the API key itself never appears in a URL (or a proxy's log).
STREAM_TOKEN_TTL = 60
STREAM_ROUTES = ("/events",)


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


def stream_token(key: ApiKey | None, now: float | None = None) -> tuple[str, int]:
    """A token for the event streams, valid STREAM_TOKEN_TTL seconds with the key's scope."""
    expires = int(now or time.time()) + STREAM_TOKEN_TTL
    number = key.number if key else 0
    return f"{number}.{expires}.{_token_mac(key, number, expires)}", expires


def _token_mac(key: ApiKey | None, number: int, expires: int) -> str:
    # Keyed by the key's digest: stateless (any worker, any restart) and dies with the key.
    secret = key.digest if key else b"auth-disabled"
    mac = hmac.new(secret, f"{number}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def match_token(token: str, keys: list[ApiKey], now: float | None = None) -> ApiKey | None:
    """The key a valid, unexpired stream token was made for."""
    number, _, rest = token.partition(".")
    expires, _, mac = rest.partition(".")
    if not (number.isdigit() and expires.isdigit()) or int(expires) < (now or time.time()):
        return None
    key = next((k for k in keys if k.number == int(number)), None)
    if key is None or not hmac.compare_digest(mac, _token_mac(key, key.number, int(expires))):
        return None
    return key


def is_stream(path: str) -> bool:
    """Event streams (SSE) a browser opens with EventSource: these accept a stream token."""
    return path in STREAM_ROUTES or (path.startswith("/sessions/") and path.endswith("/events"))


def allowed(session_id: str) -> bool:
    """True if the request's key may act on this session (always, when auth is off)."""
    key = g.get("api_key")
    return key is None or key.allows(session_id)


def require_session(session_id: str) -> None:
    """Refuse (403) a session outside the request key's scope."""
    if not allowed(session_id):
        raise Forbidden(details={"session": session_id})


def open_route(path: str, config) -> bool:
    """Routes that need no key: /health always; /metrics and the docs by config switch.

    The dashboard's page and assets hold no data: the page calls the API with the key the
    operator types in, so it is open like the docs page.
    """
    if path == "/health":
        return True
    if config.get("DASHBOARD") and _is_under(path, config["DASHBOARD_PATH"]):
        return True
    if path == "/metrics":
        return not config["METRICS_AUTH"]
    if _is_docs(path):
        return not config["DOCS_AUTH"]
    return False


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _is_docs(path: str) -> bool:
    return path in ("/openapi.json", "/docs") or path.startswith("/docs/")


SCOPED_ROUTES = ("/sessions", "/events", "/auth/stream-token")


def _check_scope(key: ApiKey) -> None:
    if _is_docs(request.path):
        return
    session_id = (request.view_args or {}).get("session_id")
    if session_id is not None:
        require_session(session_id)
    elif request.url_rule is not None and request.url_rule.rule not in SCOPED_ROUTES:
        # /sessions lists only the key's sessions and creates only ids in its scope (the views),
        # /events streams only theirs; other routes (/performance, /metrics) show every
        # session, so are not for scoped keys.
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
        token = request.args.get("token")
        if matched is None and token and request.method == "GET" and is_stream(request.path):
            matched = match_token(token, keys)
            key = key or token
        if matched is None:
            reason = "invalid" if key else "missing"
            raise Unauthorized(details={"reason": reason}, headers=CHALLENGE)
        g.api_key = matched
        if matched.scope is not None:
            _check_scope(matched)
        return None
