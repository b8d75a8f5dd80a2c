"""waengine: a self-hosted, multi-session WhatsApp Web gateway."""

from __future__ import annotations

import logging

__version__ = "0.1.0"


def create_app(test_config: dict | None = None, factory=None):
    """Build the Flask app and its (not yet started) engine; starts no thread and no browser.

    `factory` replaces the Chromium launcher (unit tests pass a fake browser).
    """
    from apiflask import APIFlask
    from flask_compress import Compress

    from . import api, auth, dashboard, errors, fastpath, forward, logs, ratelimit, request_checks
    from .api import docs
    from .config import load_config
    from .ops import metrics as ops_metrics
    from .wiring import Engine

    config = load_config(test_config)
    logs.configure(config)
    # Selenium and urllib3 log every WebDriver round trip (with its payload) at DEBUG.
    for noisy in ("selenium", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    app = _app_class(APIFlask)("waengine", title="waengine", version=__version__,
                   spec_path="/openapi.json", docs_path="/docs")
    app.config.update(config)
    app.config.update(
        # A 16 MB upload sent as base64 JSON is 21.4 MB; anything bigger is refused (413).
        MAX_CONTENT_LENGTH=config.get("MAX_CONTENT_LENGTH") or 24 * 2**20,
        COMPRESS_MIMETYPES=["application/json"],
        COMPRESS_ALGORITHM=["br", "gzip"],
        # Measured on 2,000 contacts (make bench, docs/performance.md): brotli's default 4 came
        # out larger than gzip 6; 6 is 8 % smaller in about gzip 6's time (5 ties with gzip on
        # sparser lists; 9 and 11 cost 4x and 75x the time).
        COMPRESS_BR_LEVEL=6,
        COMPRESS_LEVEL=6,
        COMPRESS_MIN_SIZE=512,
    )
    app.json.sort_keys = False
    logs.init_app(app)  # first: every log line of a request carries its id
    ops_metrics.init_app(app)  # early, so its timer also covers requests auth refuses
    errors.init_app(app)
    auth.init_app(app)
    # after auth: it counts per key; a node's forward was counted where the client came in
    ratelimit.init_app(app, exempt=lambda path, config: auth.open_route(path, config)
                       or forward.verified())
    request_checks.init_app(app)  # after auth: a stranger learns nothing from the checks
    forward.init_app(app)  # after the checks: the node the client reached answers 4xx itself
    docs.init_app(app)
    Compress(app)
    api.register(app)
    dashboard.init_app(app)
    app.extensions["waengine"] = Engine(config, factory=factory)
    fastpath.init_app(app)  # cached list hits answered before Flask, as Flask would
    return app


def _app_class(base):
    """APIFlask that asks once per function whether a hook or view is a coroutine function.

    Flask's ensure_sync asks `inspect` again for every hook and view on every request (nine
    per request here, ~20 µs of a cached read's ~110: docs/performance.md "Cached reads
    against bare Flask"). Hooks and views are the same objects from request to request.
    """

    class App(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._waengine_sync: dict = {}

        def ensure_sync(self, func):
            made = self._waengine_sync.get(func)
            if made is None:
                made = super().ensure_sync(func)
                if len(self._waengine_sync) < 4096:  # views and hooks: a few hundred at most
                    self._waengine_sync[func] = made
            return made

    return App


def engine_of(app):
    """The Engine of an app made by create_app."""
    return app.extensions["waengine"]
