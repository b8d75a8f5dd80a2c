"""What a view reaches: the app's engine, its session manager, a list read through the cache.

Its own module (not the package `__init__`), so the blueprints import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from ..engine.page import Page


def engine():
    return current_app.extensions["waengine"]


def manager():
    return engine().manager


def page(session_id: str, need_connected: bool = True) -> Page:
    """The session's WhatsApp Web page (404 for an unknown session)."""
    return Page(manager().get(session_id), need_connected)


def cached_list(session_id: str, kind: str, read: Callable[[Page], list[dict]],
                shape: Callable[[dict], dict], refresh: bool = False) -> dict:
    """`{"data": [...], "cached": bool}` of a list read through the session cache."""
    session = manager().get(session_id)
    session.touch()  # a client reading from the cache is still using the session (reaper)
    data, cached = engine().cache.fetch(
        session_id, kind, lambda: [shape(item) for item in read(Page(session))], refresh)
    return {"data": data, "cached": cached}
