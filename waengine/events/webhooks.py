"""Webhook delivery: signed POSTs, in order per session, retried with backoff, then dead-lettered."""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request

from ..store import epoch
from .outbox import EventOutbox
from .signing import headers as signed_headers
from .signing import legacy_signature

log = logging.getLogger(__name__)
USER_AGENT = "waengine-webhooks/1"


sign = legacy_signature  # the X-WAEngine-Signature value (signing.py has both conventions)


def backoff(attempts: int, base: float, cap: float, rand=random.random) -> float:
    """Exponential backoff with full jitter around the exponential value (0.5x to 1.5x)."""
    return min(cap, base * 2 ** max(attempts - 1, 0)) * (0.5 + rand())


def retryable(status: int | None) -> bool:
    """Network errors and 5xx, 408 and 429 are worth retrying; other 4xx will not get better."""
    return status is None or status >= 500 or status in (408, 429)


def _answer(error: urllib.error.HTTPError, limit: int = 300) -> str:
    try:
        return error.read(limit).decode("utf-8", "replace").strip()
    except OSError:
        return ""


class WebhookSender:
    def __init__(self, outbox: EventOutbox, config: dict):
        self.outbox = outbox
        self.timeout = config["WEBHOOK_TIMEOUT"]
        self.base = config["WEBHOOK_RETRY_BASE"]
        self.cap = config["WEBHOOK_RETRY_MAX_DELAY"]
        self.horizon = config["WEBHOOK_RETRY_HORIZON"]
        self.delivered = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wa-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.outbox.changed:
            self.outbox.changed.notify_all()
        if self._thread:
            self._thread.join(self.timeout + 5)
            if self._thread.is_alive():
                log.warning("wa-webhooks did not stop within %.0fs", self.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("webhook sender loop failed; retrying")
                worked = False
            if not worked:
                self._sleep()

    def _sleep(self) -> None:
        nxt = self.outbox.next_due_at()
        wait = 30.0 if nxt is None else max(0.0, min(30.0, nxt - time.time()))
        version = self.outbox.version
        with self.outbox.changed:
            # Wakes at once for a new event or a manual retry; else when the next one is due.
            self.outbox.changed.wait_for(
                lambda: self._stop.is_set() or self.outbox.version != version,
                timeout=wait or 0.05)

    def run_once(self) -> bool:
        """Attempt every delivery that is due now; True if there was any."""
        due = self.outbox.due(time.time())
        for row in due:
            if self._stop.is_set():
                break
            self.attempt(row)
        return bool(due)

    def attempt(self, row: dict) -> None:
        body = row["body"].encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signed_headers(row["event_id"], row["type"], timestamp, body,
                                    row.get("secret"))}
        status, error = None, ""
        try:
            req = urllib.request.Request(row["url"], data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            # The start of the receiver's answer: what an operator needs to see why it failed.
            answer = _answer(e)
            status, error = e.code, f"HTTP {e.code}" + (f": {answer}" if answer else "")
        except (OSError, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
        if status is not None and 200 <= status < 300:
            self.outbox.mark_delivered(row["event_seq"], row["url"], status)
            self.delivered += 1
            return
        age = time.time() - (epoch(row["created_at"]) or time.time())
        dead = not retryable(status) or age > self.horizon
        at = time.time() + backoff(row["attempts"] + 1, self.base, self.cap)
        self.outbox.mark_retry(row["event_seq"], row["url"], at, error, status, dead)
        if dead:
            self.failed += 1
            log.warning("webhook %s for %s dead-lettered after %d attempt(s): %s",
                        row["event_id"], row["session"], row["attempts"] + 1, error)
        else:
            log.info("webhook %s for %s failed (%s); retry in %.1fs", row["event_id"],
                     row["session"], error, at - time.time())

