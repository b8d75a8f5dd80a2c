"""Cached list reads answered before Flask: GET /sessions/{id}/contacts, /groups and /chats.

A cache hit is stored bytes (cache.py `Body`), yet through Flask it cost ~106 µs of Python
per request against a bare Flask app's 36 µs (routing, the request context, nine hooks,
the response object): under load the worker's GIL, shared with every session's thread, made
that the limit (docs/performance.md "Cached reads"). `FastPath` wraps the app's `wsgi_app`
and answers a clean, authorized hit itself with what Flask would send: the same checks in
the same order (API key and its scope, failed-key lockout, rate limit), the same headers
(ETag, 304 on If-None-Match, the stored br/gzip/identity bytes, Vary, Cache-Control,
nosniff, X-Request-ID), the same request metrics, and the session touched for the reaper.
gunicorn writes the access line of either answer.

Anything else goes to Flask unchanged: another method or path, a query string (refresh=true),
no key or a refused one (Flask answers 401/403/429 with its envelope), an Accept-Encoding it
might compress differently, a cluster forward, a session that is not CONNECTED or not held by
this node, a miss, or an error here. Passing on never changes the answer, only its cost; the
one thing carried over is the rate limiter's count (ratelimit.COUNTED), so a request is
counted once.
"""

from __future__ import annotations

import logging
import re
import time

from werkzeug.http import parse_etags

from . import auth, forward, logs
from .api.context import LIST_HEADERS, stored_encoding
from .cache import KINDS
from .ratelimit import COUNTED
from .vocabulary import SESSION_ID

log = logging.getLogger(__name__)

_PATH = re.compile(rf"^/sessions/([^/]+)/({'|'.join(KINDS)})$")
# The route each kind's view is registered under: the metrics' `route` label.
ROUTES = {kind: f"/sessions/<session_id>/{kind}" for kind in KINDS}
_CLUSTER = "HTTP_" + forward.HEADER.upper().replace("-", "_")
# Accept-Encoding values under which Flask sends the identity bytes as they are.
_IDENTITY = ("", "identity")


class FastPath:
    """WSGI middleware around the Flask app's `wsgi_app` (installed by create_app)."""

    def __init__(self, app, inner):
        self.inner = inner
        self.config = app.config
        self.engine = app.extensions["waengine"]
        self.keys = app.extensions["waengine.keys"]
        self.limiter = app.extensions["waengine.limiter"]
        self.count = app.extensions["waengine_metrics"]["count"]
        self._failed = False

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            answer = self.answer(environ, started)
        except Exception:  # noqa: BLE001 - Flask answers it, as it would have anyway
            if not self._failed:  # a bug here costs speed, not answers: say it once
                self._failed = True
                log.exception("the cached-read fast path failed; Flask answers these reads "
                              "(further failures are not logged)")
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        status, headers, data = answer
        start_response(status, headers)
        return [data]

    def answer(self, environ, started: float) -> tuple[str, list, bytes] | None:
        """(status, headers, body) of a cache hit this request may have; None: ask Flask."""
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
            return None
        path = environ.get("PATH_INFO") or ""
        match = _PATH.match(path)
        if match is None or _CLUSTER in environ or auth.open_route(path, self.config):
            return None
        session_id, kind = match.groups()
        if not SESSION_ID.fullmatch(session_id):  # request_checks.py: 422
            return None
        accept = environ.get("HTTP_ACCEPT_ENCODING", "")
        encoding = stored_encoding(accept)
        if encoding is None and accept.strip() not in _IDENTITY:
            return None  # flask-compress may pick something: its answer is Flask's
        # auth.py's require_key, in its order
        key = None
        if self.keys:
            presented = auth.key_of(environ.get("HTTP_X_API_KEY"),
                                    environ.get("HTTP_AUTHORIZATION"))
            if not presented:
                return None  # 401 missing
            limits = self.limiter
            if limits.auth_failures and limits.exhausted(
                    limits.auth_failures, "auth-fail", self._client(environ)):
                return None  # 429: this address guessed keys
            key = auth.match_key(presented, self.keys)
            if key is None or (key.scope is not None and not key.allows(session_id)):
                return None  # 401 invalid (Flask counts the failure), 403 forbidden
        # ratelimit.py's count_request: counted here, once
        if self.limiter.requests:
            identity = (("key", str(key.number)) if key is not None
                        else ("client", self._client(environ)))
            wait = environ[COUNTED] = self.limiter.hit(self.limiter.requests, *identity)
            if wait:
                return None  # 429, from the count made here
        body = self.engine.cached_hit(session_id, kind)  # counts the hit, touches the session
        if body is None:
            return None
        headers = [("ETag", f'"{body.etag}"'), *LIST_HEADERS]
        etags = environ.get("HTTP_IF_NONE_MATCH")
        if etags is not None and parse_etags(etags).contains(body.etag):
            status, code, data = "304 NOT MODIFIED", 304, b""
        else:
            status, code, data = "200 OK", 200, body.encoded(encoding)
            if encoding:
                headers.append(("Content-Encoding", encoding))
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        headers += [("X-Content-Type-Options", "nosniff"),
                    (logs.REQUEST_ID_HEADER,
                     logs.request_id_for(environ.get("HTTP_X_REQUEST_ID", "")))]
        self.count("GET", ROUTES[kind], code, started, "application/json")
        return status, headers, data

    def _client(self, environ) -> str:
        return self.limiter.client_of(environ.get("REMOTE_ADDR"),
                                      environ.get("HTTP_X_FORWARDED_FOR"))


def init_app(app) -> None:
    """Answer cached list hits before Flask (last: it needs the engine, keys and limiter)."""
    app.wsgi_app = FastPath(app, app.wsgi_app)
