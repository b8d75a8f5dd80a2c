"""The operator dashboard: one static page (HTML, one JS module, one CSS file) on the public API.

The page holds no data and no key: it asks the operator for an API key, keeps it in the tab's
sessionStorage, and calls the same REST and SSE routes any client uses (docs/dashboard.md).
Served at DASHBOARD_PATH (default /dashboard) unless DASHBOARD is off.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from ..events.outbox import EVENT_TYPES

ASSETS = ("dashboard.js", "dashboard.css")
# The page loads only its own files and talks only to this origin; it may not be framed
# (its buttons stop and delete sessions: no clickjacking).
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                      "style-src 'self'; frame-ancestors 'none'",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


def init_app(app) -> None:
    """Serve the dashboard at DASHBOARD_PATH, unless DASHBOARD is off."""
    if not app.config["DASHBOARD"]:
        return
    bp = Blueprint("dashboard", __name__, static_folder="static", template_folder="templates",
                   static_url_path="/assets")
    bp.add_url_rule("", "page", page, strict_slashes=False)
    bp.after_request(_headers)
    app.register_blueprint(bp, url_prefix=app.config["DASHBOARD_PATH"])


def page():
    """The single page; the API's base URL is where this app is mounted (SCRIPT_NAME)."""
    # EventSource delivers named events only to listeners of that name: the page listens to
    # every type the outbox knows, so a type added there shows up here too.
    return render_template("dashboard.html", event_types=EVENT_TYPES), 200, HEADERS


def _headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
