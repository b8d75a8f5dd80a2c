"""What a view reaches: the app's engine (the one door, wiring.py) and a list read through the
cache.

Its own module (not the package `__init__`), so the blueprints import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from flask import Response, current_app, request
from werkzeug.http import parse_accept_header

from ..cache import Body

# What every cached list answer carries besides its ETag (fastpath.py sends the same);
# no-cache: the client revalidates (If-None-Match), as events change lists.
LIST_HEADERS = (("Cache-Control", "private, no-cache"), ("Vary", "Accept-Encoding"))


def engine():
    """The app's Engine: every view reaches the sessions through its methods."""
    return current_app.extensions["waengine"]


def page(session_id: str, need_connected: bool = True):
    """The session's WhatsApp Web page (404 for an unknown session)."""
    return engine().page(session_id, need_connected)


def cached_list(session_id: str, kind: str, shape: Callable[[dict], dict],
                refresh: bool = False) -> Response:
    """`{"data": [...], "cached": bool}` of a list (chats, contacts, groups) read through the
    session cache."""
    body, cached = engine().cached_list(session_id, kind, shape, refresh)
    return body_response(body, cached)


def body_response(body: Body, cached: bool) -> Response:
    """A stored body as it is: 304 when the client has it, else the bytes its encoding takes.

    A cache hit is the hot path (docs/performance.md "Cached reads against bare Flask"): the
    headers are written as they are, and the request's Accept-Encoding is resolved once per
    distinct header value, not parsed again on every request.
    """
    headers = [("ETag", f'"{body.etag}"'), *LIST_HEADERS]
    if "If-None-Match" in request.headers and request.if_none_match.contains(body.etag):
        return Response(status=304, headers=headers)
    if not cached:  # the load's own response: flask-compress encodes it as usual
        return Response(body.uncached(), mimetype="application/json", headers=headers)
    encoding = stored_encoding(request.headers.get("Accept-Encoding", ""))
    if encoding:
        headers.append(("Content-Encoding", encoding))
    return Response(body.encoded(encoding), mimetype="application/json", headers=headers)


@lru_cache(maxsize=256)
def stored_encoding(accept_encoding: str) -> str | None:
    """The stored encoding (br, then gzip) an Accept-Encoding value takes, if any."""
    accepted = parse_accept_header(accept_encoding)
    return next((e for e in ("br", "gzip") if accepted[e]), None)
