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
import logging
import secrets
import time
import urllib.parse

from flask import current_app, g, request

from . import forward
from .apikeys import ApiKey, digest, parse_api_keys
from .errors import Forbidden, Unauthorized
from .ratelimit import limiter, refuse

log = logging.getLogger(__name__)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="waengine"'}
# Who a request forwarded by another node acts as: that node checked the client's key and scope.
CLUSTER_KEY = ApiKey(number=0, digest=b"", scope=None)
# EventSource and browser WebSockets cannot send headers: event streams also take `?token=`, a
# short-lived token made by POST /auth/stream-token, so the API key itself never appears in a URL
# (or a proxy's log).
STREAM_TOKEN_TTL = 60
# The views that open an event stream: a token is taken there and nowhere else (matched by
# endpoint, not by path, so `/sessions/events?token=` is the session "events", not a stream).
STREAM_ENDPOINTS = frozenset({"events.stream_events", "events.stream_all_events",
                              "ws.session_socket", "ws.all_sockets", "ws.not_a_websocket"})


def presented_key() -> str | None:
    """The key the request carries in X-API-Key or Authorization: Bearer, if any."""
    return key_of(request.headers.get("X-API-Key"), request.headers.get("Authorization"))


def key_of(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key in these two header values (X-API-Key first), if any."""
    if x_api_key:
        return x_api_key
    scheme, _, token = (authorization or "").partition(" ")
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
    """A token for one event stream, valid STREAM_TOKEN_TTL seconds with the key's scope."""
    expires = int(now or time.time()) + STREAM_TOKEN_TTL
    number = key.number if key else 0
    # The nonce makes each token one of a kind, so that spending it (spend_token) spends
    # only this one.
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
    return f"{number}.{expires}.{nonce}.{_token_mac(key, number, expires, nonce)}", expires


def _token_mac(key: ApiKey | None, number: int, expires: int, nonce: str) -> str:
    # Keyed by the key's digest: stateless (any worker, any restart) and dies with the key.
    secret = key.digest if key else b"auth-disabled"
    mac = hmac.new(secret, f"{number}.{expires}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def match_token(token: str, keys: list[ApiKey], now: float | None = None) -> ApiKey | None:
    """The key a valid, unexpired stream token was made for."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    number, expires, nonce, mac = parts
    if not (number.isdigit() and expires.isdigit()) or int(expires) < (now or time.time()):
        return None
    key = next((k for k in keys if k.number == int(number)), None)
    if key is None or not hmac.compare_digest(
            mac, _token_mac(key, key.number, int(expires), nonce)):
        return None
    return key


def is_stream() -> bool:
    """Whether the request opens an event stream (EventSource, WebSocket): a token may."""
    return request.method == "GET" and request.endpoint in STREAM_ENDPOINTS


def query_token() -> str | None:
    """The `token` query parameter, spelled so: `%74oken=` is no token (proxies and logs
    that look for `token=` would not see it)."""
    for pair in request.query_string.split(b"&"):
        name, sep, value = pair.partition(b"=")
        if sep and name == b"token":
            return urllib.parse.unquote(value.decode("ascii", "replace"))
    return None


def spend_token(token: str, storage) -> bool:
    """True the first time a token is used; a replay (within its life) is refused.

    Counted in the rate limiter's storage: Redis (every node) when CACHE is Redis."""
    mac = token.rpartition(".")[2]
    try:
        return storage.incr(f"waengine/stream-token/{mac}", STREAM_TOKEN_TTL + 1) == 1
    except Exception as e:  # noqa: BLE001 - Redis down: the stream opens (as rate limits do)
        log.warning("stream token store failed (%s): replays not checked", type(e).__name__)
        return True


def may_see_detail() -> bool:
    """On an open route: whether the request carries a valid key (or auth is off)."""
    keys = current_app.extensions.get("waengine.keys")
    if not keys:
        return True
    key = presented_key()
    return bool(key) and match_key(key, keys) is not None


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


SCOPED_ROUTES = ("/sessions", "/events", "/ws", "/auth/stream-token")


def _check_scope(key: ApiKey) -> None:
    if _is_docs(request.path):
        return
    session_id = (request.view_args or {}).get("session_id")
    if session_id is not None:
        require_session(session_id)
    elif request.url_rule is not None and request.url_rule.rule not in SCOPED_ROUTES:
        # /sessions lists only the key's sessions and creates only ids in its scope (the views),
        # /events and /ws stream only theirs; other routes (/performance, /metrics) show every
        # session, so are not for scoped keys.
        raise Forbidden("This API key is scoped to sessions and may not use this route")


def init_app(app) -> None:
    keys = parse_api_keys(app.config["API_KEYS"])
    app.extensions["waengine.keys"] = keys
    if not keys:  # config refuses AUTH_DISABLED together with keys
        app.logger.warning("no API keys configured: the API is open (%s)",
                           "WAENGINE_AUTH_DISABLED=1" if app.config["AUTH_DISABLED"]
                           else "development only")
        return

    @app.before_request
    def require_key():
        if open_route(request.path, app.config):
            return None
        if forward.verified():  # another node of the cluster, which checked the client's key
            g.api_key = CLUSTER_KEY
            return None
        key = presented_key()
        token = query_token() if key is None and is_stream() else None
        if not (key or token):
            raise Unauthorized(details={"reason": "missing"}, headers=CHALLENGE)
        limits = limiter()
        client = limits.client()
        # Guessing keys: past AUTH_FAIL_LIMIT failures an address gets 429 whatever it sends
        # (answering a right key then would tell the guesser it found one).
        wait = limits.exhausted(limits.auth_failures, "auth-fail", client)
        if wait:
            refuse(wait, "failed API keys from this address")
        matched = match_key(key, keys) if key else match_token(token, keys)
        if matched is None:
            limits.hit(limits.auth_failures, "auth-fail", client)
            raise Unauthorized(details={"reason": "invalid"}, headers=CHALLENGE)
        if token and not spend_token(token, limits.strategy.storage):
            raise Unauthorized("This stream token was used already: get a new one",
                               details={"reason": "token_used"}, headers=CHALLENGE)
        g.api_key = matched
        if matched.scope is not None:
            _check_scope(matched)
        return None
