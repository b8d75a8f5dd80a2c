"""What a view reaches: the app's engine, its session manager, a list read through the cache.

Its own module (not the package `__init__`), so the blueprints import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, request

from ..cache import Body
from ..engine.page import Page


def engine():
    return current_app.extensions["waengine"]


def manager():
    return engine().manager


def page(session_id: str, need_connected: bool = True) -> Page:
    """The session's WhatsApp Web page (404 for an unknown session)."""
    return Page(manager().get(session_id), need_connected)


def cached_list(session_id: str, kind: str, read: Callable[[Page], list[dict]],
                shape: Callable[[dict], dict], refresh: bool = False) -> Response:
    """`{"data": [...], "cached": bool}` of a list read through the session cache."""
    session = manager().get(session_id)
    session.touch()  # a client reading from the cache is still using the session (reaper)
    body, cached = engine().cache.fetch_body(
        session_id, kind, lambda: [shape(item) for item in read(Page(session))], refresh)
    return body_response(body, cached)


def body_response(body: Body, cached: bool) -> Response:
    """A stored body as it is: 304 when the client has it, else the bytes its encoding takes."""
    if request.if_none_match.contains(body.etag):
        response = Response(status=304)
    elif not cached:  # the load's own response: flask-compress encodes it as usual
        response = Response(body.uncached(), mimetype="application/json")
    else:
        encoding = next((e for e in ("br", "gzip") if request.accept_encodings[e]), None)
        response = Response(body.encoded(encoding), mimetype="application/json")
        if encoding:
            response.headers["Content-Encoding"] = encoding
    response.set_etag(body.etag)
    response.headers["Cache-Control"] = "private, no-cache"  # revalidate: events change lists
    response.vary.add("Accept-Encoding")
    return response
