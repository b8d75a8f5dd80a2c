"""gunicorn settings for waengine: `gunicorn -c gunicorn.conf.py wsgi:app` (make run)."""

import os
import sys

# One worker process: sessions (a browser and its thread each) live in this process's memory;
# a second worker would not see them. Scale a node with threads, scale out with more nodes.
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("WAENGINE_THREADS", "16"))
bind = os.environ.get("WAENGINE_BIND", "127.0.0.1:8080")  # `-b` on the command line wins
# Recycling the worker would kill every browser and every login flow in progress.
max_requests = 0
# A browser command may take up to COMMAND_TIMEOUT (60 s); the heartbeat is separate from it.
timeout = 120
graceful_timeout = 60  # time for every browser to quit and flush its profile
keepalive = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def on_starting(server):
    """Refuse to start on bad configuration, with a one-line reason instead of a boot loop."""
    from waengine.config import ConfigError, load_config

    try:
        load_config()
    except ConfigError as e:
        sys.stderr.write(f"waengine: {e}\n")
        raise SystemExit(2) from None


def post_worker_init(worker):
    """Start the engine in the worker (never in the master): reap orphans, restore sessions."""
    from waengine import engine_of

    engine_of(worker.wsgi).start()


def worker_exit(server, worker):
    """Quit every browser so profiles are flushed; sessions come back on the next start."""
    from waengine import engine_of

    app = getattr(worker, "wsgi", None)
    if app is not None:
        engine_of(app).close()
