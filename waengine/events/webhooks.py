"""Webhook delivery: signed POSTs, in order per session, retried with backoff, then dead-lettered.

Deliveries run on a bounded pool, one in flight per (session, URL) so each session's events
stay in order, and at most PER_DESTINATION per URL so a slow receiver cannot take the pool.
WEBHOOK_TIMEOUT bounds a whole attempt (connect, send, every byte of the answer), not one
socket read: a receiver that trickles its answer is cut off at the deadline.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..backoff import backoff as doubling
from ..config import Defaults
from ..netguard import AddressRefused, Guard
from ..store import epoch
from .outbox import EventOutbox
from .signing import headers as signed_headers
from .signing import legacy_signature

log = logging.getLogger(__name__)
USER_AGENT = "waengine-webhooks/1"


sign = legacy_signature  # the X-WAEngine-Signature value (signing.py has both conventions)


def backoff(attempts: int, base: float, cap: float, rand=random.random) -> float:
    """Exponential backoff with full jitter around the exponential value (0.5x to 1.5x)."""
    return doubling(attempts, base, cap) * (0.5 + rand())


class DeadlineExceeded(OSError):
    """The receiver did not answer in full within WEBHOOK_TIMEOUT."""


def post(url: str, body: bytes, headers: dict, deadline: float,
         keep: int = 300, guard: Guard | None = None) -> tuple[int, str]:
    """POST and return the status and the start of the answer (up to `keep` bytes, text); the
    whole exchange must end within `deadline` seconds.

    The host is resolved and checked by `guard` when connecting, and the connection goes to
    the address checked (netguard.py); AddressRefused (a ValueError) if it is inside."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    conn = (guard or Guard()).http_connection(url, deadline)
    expired = threading.Event()

    def cut():
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read at once
            except OSError:
                pass

    timer = threading.Timer(deadline, cut)
    timer.name, timer.daemon = "wa-webhook-deadline", True
    timer.start()
    try:
        path = parts.path or "/"
        conn.request("POST", path + (f"?{parts.query}" if parts.query else ""), body, headers)
        resp = conn.getresponse()
        answer = resp.read()  # in full: the deadline, not the size, bounds a trickling answer
        return resp.status, answer[:keep].decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as e:
        if expired.is_set():
            raise DeadlineExceeded(f"no complete answer within {deadline:g}s") from e
        raise
    finally:
        timer.cancel()
        conn.close()


def retryable(status: int | None) -> bool:
    """Network errors and 5xx, 408 and 429 are worth retrying; other 4xx will not get better."""
    return status is None or status >= 500 or status in (408, 429)


class WebhookSender:
    SINKS = False  # which deliveries this sender takes: webhooks' (SinkSender: sinks')
    NAME = "webhook"  # in thread names and logs

    def __init__(self, outbox: EventOutbox, config: dict):
        self.outbox = outbox
        self.timeout = config["WEBHOOK_TIMEOUT"]
        self.base = config["WEBHOOK_RETRY_BASE"]
        self.cap = config["WEBHOOK_RETRY_MAX_DELAY"]
        self.horizon = config["WEBHOOK_RETRY_HORIZON"]
        self.guard = Guard.from_config(config)
        self.delivered = 0
        self.failed = 0
        self.concurrency = int(config.get("WEBHOOK_CONCURRENCY", Defaults.WEBHOOK_CONCURRENCY))
        # A slow receiver takes at most this many of the pool's threads.
        self.per_destination = max(1, self.concurrency // 2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str]] = set()
        # Attempts ended so far (counted under _lock as their key is released).
        self._ended = 0
        self._per_url: Counter = Counter()
        # (session id, url) -> the hook's secret, looked up when sending (never stored per row).
        self.secret_for: Callable[[str, str], str | None] | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"wa-{self.NAME}")
        self._thread = threading.Thread(target=self._run, name=f"wa-{self.NAME}s",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.outbox.changed:
            self.outbox.changed.notify_all()
        if self._thread:
            self._thread.join(self.timeout + 5)
            if self._thread.is_alive():
                log.warning("wa-%ss did not stop within %.0fs", self.NAME, self.timeout + 5)
        if self._pool:
            # Attempts in flight end by their deadline; their rows stay pending if cut short.
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            # Read before looking for work: an attempt that ends (or an event stored) while
            # run_once looks changes it, so the sleep below does not wait for it in vain.
            version = self.outbox.version
            try:
                worked = self.run_once()
            except Exception:
                log.exception("%s sender loop failed; retrying", self.NAME)
                worked = False
            if not worked:
                self._sleep(version)

    def _sleep(self, version: int) -> None:
        nxt = self.outbox.next_due_at(self.SINKS)
        wait = 30.0 if nxt is None else max(0.0, min(30.0, nxt - time.time()))
        if wait == 0 and self._in_flight:
            wait = 1.0  # what is due is in flight: its end bumps the version
        with self.outbox.changed:
            # Wakes at once for a new event or a manual retry; else when the next one is due.
            self.outbox.changed.wait_for(
                lambda: self._stop.is_set() or self.outbox.version != version,
                timeout=wait or 0.05)

    def run_once(self) -> bool:
        """Start every due delivery whose queue and destination have room; True if any, or
        when what it read went stale (the caller looks again at once)."""
        started = 0
        ended = self._ended
        for row in self.outbox.due(time.time(), limit=200, sinks=self.SINKS):
            if self._stop.is_set():
                break
            key = (row["session"], row["url"])
            with self._lock:
                if self._ended != ended:
                    # An attempt ended while due() read: its row may be read as still pending
                    # (PostgreSQL reads a snapshot taken when the query began). Read again.
                    return True
                if key in self._in_flight or self._per_url[row["url"]] >= self.per_destination:
                    continue
                self._in_flight.add(key)
                self._per_url[row["url"]] += 1
            if self.secret_for is not None:
                row["secret"] = self.secret_for(row["session"], row["url"])
            if self._pool is None:  # not started (tests drive run_once by hand): inline
                self._attempt_and_release(row, key)
                ended = self._ended  # its own key's: due() gave one row per key
            else:
                self._pool.submit(self._attempt_and_release, row, key)
            started += 1
        return started > 0

    def _attempt_and_release(self, row: dict, key: tuple[str, str]) -> None:
        try:
            self.attempt(row)
        except Exception:
            log.exception("%s %s for %s: attempt failed", self.NAME, row["event_id"],
                          row["session"])
        finally:
            with self._lock:
                self._in_flight.discard(key)
                self._per_url[row["url"]] -= 1
                self._ended += 1
            with self.outbox.changed:  # the session's next event may go now
                self.outbox.version += 1
                self.outbox.changed.notify_all()

    def attempt(self, row: dict) -> None:
        body = row["body"].encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signed_headers(row["event_id"], row["type"], timestamp, body,
                                    row.get("secret"))}
        status, error, refused = None, "", False
        try:
            status, answer = post(row["url"], body, headers, self.timeout, guard=self.guard)
            if not 200 <= status < 300:
                # The start of the receiver's answer: what an operator needs to see why it failed
                # (a scoped key sees the status only: api/events.py public_error).
                error = f"HTTP {status}" + (f": {answer}" if answer else "")
        except AddressRefused as e:
            # Never retried: the address will not become public by waiting.
            error, refused = f"AddressRefused: {e}", True
        except (OSError, ValueError, http.client.HTTPException) as e:
            error = f"{type(e).__name__}: {e}"
        if status is not None and 200 <= status < 300:
            self.outbox.mark_delivered(row["event_seq"], row["url"], status)
            self.delivered += 1
            return
        age = time.time() - (epoch(row["created_at"]) or time.time())
        dead = refused or not retryable(status) or age > self.horizon
        at = time.time() + backoff(row["attempts"] + 1, self.base, self.cap)
        self.outbox.mark_retry(row["event_seq"], row["url"], at, error, status, dead)
        if dead:
            self.failed += 1
            log.warning("webhook %s for %s dead-lettered after %d attempt(s): %s",
                        row["event_id"], row["session"], row["attempts"] + 1, error)
        else:
            log.info("webhook %s for %s failed (%s); retry in %.1fs", row["event_id"],
                     row["session"], error, at - time.time())

