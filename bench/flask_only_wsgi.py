"""The gateway without its cached-read fast path (waengine/fastpath.py): every request goes
through Flask. For bench/cached_reads.py, which measures both."""

from wsgi import app

app.wsgi_app = app.wsgi_app.inner
