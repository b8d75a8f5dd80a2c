"""What a view reaches: the app's engine, its session manager, a list read through the cache.

Its own module (not the package `__init__`), so the blueprints import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app


def engine():
    return current_app.extensions["waengine"]


def manager():
    return engine().manager


def cached_list(session_id: str, kind: str, op: str, shape: Callable[[dict], dict],
                refresh: bool = False) -> dict:
    """`{"data": [...], "cached": bool}` of a list read through the session cache."""
    session = manager().get(session_id)
    session.touch()  # a client reading from the cache is still using the session (reaper)
    data, cached = engine().cache.fetch(
        session_id, kind, lambda: [shape(item) for item in session.call(op)], refresh)
    return {"data": data, "cached": cached}
