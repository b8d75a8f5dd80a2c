"""Cluster mode on PostgreSQL: every node's streams and deliverers wake when any node commits an
event. The outbox's INSERT sends NOTIFY waengine_events with the event's seq in its transaction
(PostgreSQL delivers it at commit); one connection per node LISTENs and moves the outbox's
last_seq on, which wakes the SSE and WebSocket streams and the webhook and sink senders waiting
on it, as a local commit does.

A notification lost while the listening connection is down costs nothing but latency: streams
read the outbox again at their keepalive anyway, and the listener reads MAX(seq) when it
reconnects.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
CHANNEL = "waengine_events"


class OutboxListener:
    def __init__(self, outbox, url: str):
        self.outbox = outbox
        self.url = url
        self._stop = threading.Event()
        self._conn = None
        self._thread = threading.Thread(target=self._run, name="wa-events-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.outbox.moved_to(self.outbox.max_seq())  # what passed while away
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.outbox.moved_to(int(note.payload))
            except Exception as e:  # the server is gone or restarting: listen again shortly
                log.warning("event notifications: %s; listening again in 2s", e)
                self._stop.wait(2.0)
