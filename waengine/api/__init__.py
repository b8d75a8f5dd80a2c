"""HTTP API: one blueprint per area. Views parse, call the engine, return a dict."""

from __future__ import annotations

from .. import uploads
from . import (
    channels,
    chats,
    cluster,
    communities,
    contacts,
    events,
    groups,
    media,
    messages,
    monitoring,
    profile,
    sessions,
    sinks,
    status,
    ws,
)


def register(app) -> None:
    app.register_blueprint(sessions.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(contacts.bp)
    app.register_blueprint(chats.bp)
    app.register_blueprint(groups.bp)
    app.register_blueprint(channels.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(communities.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(sinks.bp)
    app.register_blueprint(ws.bp)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(cluster.bp)
    uploads.init_app(app)
    messages.init_app(app)
    profile.init_app(app)
