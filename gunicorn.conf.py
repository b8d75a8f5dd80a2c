"""gunicorn settings for waengine: `gunicorn -c gunicorn.conf.py wsgi:app` (make run).

Threads and bind come from waengine's configuration (WAENGINE_THREADS, WAENGINE_BIND or
config/<env>.py); a `-b` on the command line still wins. docs/operations.md explains each value.
"""

import os
import signal
import sys

from waengine.config import ConfigError, load_config
from waengine.logs import gunicorn_logconfig

# Files the server makes (waengine.db and its -wal/-shm, media, browser profiles) are the
# service user's alone: 0600 files, 0700 folders. Set here, in the master before the worker
# forks, so Chromium and chromedriver inherit it too. (waengine/cli.py does the same.)
os.umask(0o077)

try:
    _config = load_config()
except ConfigError:
    _config = None  # on_starting prints the one-line reason and exits

# One worker process: sessions (a browser and its thread each) live in this process's memory;
# a second worker would not see them. Scale a node with threads, scale out with more nodes.
workers = 1
worker_class = "gthread"
# Each request holds a thread while its browser command runs (and an SSE stream holds one for
# as long as it is open, capped by SSE_MAX_STREAMS), so threads bound concurrent API calls.
threads = int(_config["THREADS"]) if _config else 16
bind = _config["BIND"] if _config else "127.0.0.1:8080"
# Recycling the worker would kill every browser and every login flow in progress.
max_requests = 0
# gthread's heartbeat comes from the worker's main loop, not from request threads, so a long
# browser command (COMMAND_TIMEOUT, 60 s) never trips it; only a wedged worker process does.
timeout = 120
# SIGTERM: every browser quits in parallel (~0.1 s each through the shared chromedriver, a hung
# one is killed after 10 s) so profiles, i.e. logins, are flushed to disk before exit.
graceful_timeout = 60
keepalive = 5
# API clients send a dozen short headers; these refuse (431, gunicorn's own HTML body, before
# Flask) a flood of headers or a huge one (docs/security.md). 8190 bytes fits any Bearer key.
limit_request_fields = 50
limit_request_field_size = 8190
accesslog = "-"
# gunicorn's logger, building only the atoms the access line shows (waengine/logs.py).
logger_class = "waengine.logs.AccessLogger"
# %(M)s: request time in milliseconds. (The request id is on every line already: logs.py.)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# The error log, the access log and the app's own loggers in one format (LOG_FORMAT, text or
# json), each line with its request id and session, secrets masked (waengine/logs.py).
logconfig_dict = gunicorn_logconfig(_config["LOG_FORMAT"] if _config else "text",
                                    _config["LOG_LEVEL"] if _config else "INFO")


def on_starting(server):
    """Refuse to start on bad configuration or a damaged waengine.db, with a one-line reason
    instead of a boot loop."""
    from pathlib import Path

    from waengine.backends import check_registry

    try:
        config = load_config()
        check_registry(config, Path(config["DATA_DIR"]).resolve())
    except ConfigError as e:  # DatabaseDamaged too: a damaged registry, with the way out
        sys.stderr.write(f"waengine: {e}\n")
        raise SystemExit(2) from None


def post_worker_init(worker):
    """Start the engine in the worker, never in the master, once per worker (Engine.start is
    idempotent): reap what a killed predecessor left, restore sessions, start the watchdog
    and the reaper."""
    from waengine import engine_of
    from waengine.ops.collector import freeze_startup_heap

    engine = engine_of(worker.wsgi)
    # The app as loaded lives as long as the worker: out of the collector's full walks, which
    # otherwise run inside requests (waengine/ops/collector.py).
    freeze_startup_heap()
    engine.start()
    graceful_stop = worker.handle_exit

    def handle_exit(sig, frame):
        # Open event streams (SSE, WebSocket: close 1001) end now; else the graceful stop would
        # wait graceful_timeout for clients that never hang up, before worker_exit runs.
        engine.events.close_streams()
        graceful_stop(sig, frame)

    signal.signal(signal.SIGTERM, handle_exit)


def worker_exit(server, worker):
    """Stop the watchdog and reaper, quit every browser so profiles are flushed; sessions come
    back on the next start. (A SIGKILLed worker runs nothing: its successor reaps instead.)"""
    from waengine import engine_of

    app = getattr(worker, "wsgi", None)
    if app is not None:
        engine_of(app).close()
