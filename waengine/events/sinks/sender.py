"""Sink delivery: the webhook sender's loop (in order per session and sink, retried with
backoff, then dead-lettered), publishing into brokers instead of POSTing.

Each sink has one publisher (one connection) and takes at most one of the pool's threads, so a
broker that is down or slow holds up only its own deliveries: other sinks and the webhooks
(their own sender and pool) go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...config import Defaults
from ...store import epoch, iso_utc
from ..outbox import EventOutbox
from ..signing import headers as identity_headers
from ..webhooks import WebhookSender, backoff
from . import Health, publisher
from .base import Message, Publisher, SinkError

log = logging.getLogger(__name__)


class SinkSender(WebhookSender):
    SINKS = True
    NAME = "sink"

    def __init__(self, outbox: EventOutbox, config: dict):
        super().__init__(outbox, config)
        self.timeout = float(config.get("SINK_TIMEOUT", Defaults.SINK_TIMEOUT))
        # One publisher per sink serializes its publishes: a second thread would only wait.
        self.per_destination = 1
        # (session id, sink key) -> the sink's URL with its secrets; None: no longer configured.
        self.url_for: Callable[[str, str], str | None] = lambda session, key: None
        self.health: dict[str, Health] = {}
        self._publishers: dict[str, Publisher] = {}
        self._made = threading.Lock()

    def stop(self) -> None:
        super().stop()
        with self._made:
            publishers, self._publishers = list(self._publishers.values()), {}
        for pub in publishers:
            pub.close()

    def publisher_for(self, url: str) -> Publisher:
        with self._made:
            pub = self._publishers.get(url)
            if pub is None:
                pub = self._publishers[url] = publisher(url, self.timeout)
                pub.guard = self.guard  # WebhookSender's: the same outgoing address rules
            return pub

    def attempt(self, row: dict) -> None:
        key = row["url"]
        health = self.health.setdefault(key, Health())
        url = self.url_for(row["session"], key)
        error, gone = "", url is None
        if gone:
            error = "the sink is no longer configured for this session"
        else:
            timestamp = str(int(time.time()))
            body = row["body"].encode()
            headers = {"content-type": "application/json",
                       **identity_headers(row["event_id"], row["type"], timestamp, body, None)}
            try:
                self.publisher_for(url).publish(Message(row["session"], row["event_id"],
                                                        row["type"], timestamp, body, headers))
            except (SinkError, ValueError, ImportError) as e:
                error = str(e) if isinstance(e, SinkError) else f"{type(e).__name__}: {e}"
        if not error:
            self.outbox.mark_delivered(row["event_seq"], key, None)
            self.delivered += 1
            health.ok()
            return
        health.fail(error)
        age = time.time() - (epoch(row["created_at"]) or time.time())
        dead = gone or age > self.horizon
        at = time.time() + backoff(row["attempts"] + 1, self.base, self.cap)
        self.outbox.mark_retry(row["event_seq"], key, at, error, None, dead)
        if dead:
            self.failed += 1
            health.failed += 1
            log.warning("sink %s: event %s of %s dead-lettered after %d attempt(s): %s", key,
                        row["event_id"], row["session"], row["attempts"] + 1, error)
        else:
            log.info("sink %s: event %s of %s failed (%s); retry in %.1fs", key,
                     row["event_id"], row["session"], error, at - time.time())

    def report(self) -> list[dict]:
        """Each sink that has been published to: up, or failing since when (the error is in
        the deliveries, which need a key: /health needs none)."""
        return [{"url": key, "up": h.failing_since is None,
                 "failingSince": iso_utc(h.failing_since) if h.failing_since else None,
                 "published": h.published, "deadLettered": h.failed}
                for key, h in sorted(self.health.items())]
