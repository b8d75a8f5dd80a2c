"""HTTP API: one blueprint per area. Views parse, call the engine, return a dict."""

from __future__ import annotations

from flask import current_app


def engine():
    return current_app.extensions["waengine"]


def manager():
    return engine().manager


def register(app) -> None:
    from . import events, messages, monitoring, sessions

    app.register_blueprint(sessions.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(monitoring.bp)
