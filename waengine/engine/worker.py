"""The session worker's loop: launch the browser, serve commands and page reads, relaunch a
dead browser with backoff, end STOPPED or FAILED. A mixin of Session (engine/session.py): the
worker thread is the only code that touches the session's WebDriver.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager

from .. import counters
from ..backoff import backoff, store_retry
from ..errors import BrowserUnavailable, SessionNotReady, StorageUnavailable
from ..vocabulary import Status
from .bridge import BrowserGone, PageUnreachable

log = logging.getLogger("waengine.engine.session")
# Put on a worker's queue by a "state" notification: read the page now.
WAKE = object()


class Restart(Exception):
    """Asked to relaunch the browser on purpose (reconnect, or a page that never came back)."""

    def __init__(self, reason: str, counts_as_failure: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.counts_as_failure = counts_as_failure


class LaunchFailed(Exception):
    """The browser could not be started (chromedriver refused, Chromium exited at once)."""


class Unreachable(Exception):
    """The browser started but WhatsApp Web (or the proxy) did not answer: a network fault."""

    def __init__(self, reason: str, details: dict):
        super().__init__(reason)
        self.reason = reason
        self.details = details


class Fail(Exception):
    """The session gives up (FAILED with this reason) once its browser is closed."""

    def __init__(self, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details


class WorkerLoop:
    """The worker thread's side of a Session."""

    def _run(self) -> None:
        failures: deque[float] = deque()
        final: tuple | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if self.browser is None:
                        self._launch()
                    self._serve()
                    break
                except StorageUnavailable as e:
                    # The database, not the browser: keep the browser (its events stay queued
                    # in the page until committed) and try again with backoff.
                    if not self._wait_for_store(e):
                        break
                except Fail as fail:
                    final = (Status.FAILED, fail.reason, None, fail.details)
                    break
                except Restart as restart:
                    self._close_browser()
                    if restart.counts_as_failure:
                        if not self._note_failure(failures, restart.reason):
                            break
                    else:
                        self.restarts += 1
                        counters.BROWSER_RESTARTS.labels(restart.reason).inc()
                        self._set(Status.RECOVERING, restart.reason)
                except BrowserGone as gone:
                    reason, self._gone_reason = self._gone_reason or "browser_crashed", None
                    log.warning("session %s: browser gone (%s): %s", self.id, reason, gone)
                    self._close_browser()
                    if self._driver_fault():
                        # The shared chromedriver died: not this session's failure to count.
                        self.restarts += 1
                        counters.BROWSER_RESTARTS.labels("chromedriver_crashed").inc()
                        self._set(Status.RECOVERING, "chromedriver_crashed")
                        continue
                    if not self._note_failure(failures, reason):
                        break
                except Unreachable as down:
                    log.warning("session %s: page did not load (%s): %s", self.id, down.reason,
                                down.details)
                    self._close_browser()
                    if down.reason == "proxy_auth_failed":  # retrying a refused password: no
                        final = (Status.FAILED, down.reason, None, down.details)
                        break
                    # A network blip is retried like a crash; for good, it ends FAILED with it.
                    if not self._note_failure(failures, down.reason, down.details):
                        break
                except LaunchFailed:
                    log.exception("session %s: browser could not be started", self.id)
                    self._close_browser()
                    if not self._note_failure(failures, "browser_launch_failed"):
                        break
                except Exception:  # a bug, not the browser's fault; the session carries on
                    log.exception("session %s: unexpected error; relaunching", self.id)
                    self._close_browser()
                    if not self._note_failure(failures, "internal_error"):
                        break
        finally:
            # Close first: a client that sees FAILED or STOPPED finds no browser left.
            self._close_browser()
            self._drain_queue()
            if final:
                self._set(*final)
            elif self.status != Status.FAILED:
                self._set(Status.STOPPED, self._stop_reason)

    def _note_failure(self, failures: deque, reason: str = "browser_crashed",
                      details: dict | None = None) -> bool:
        """Count a failure; back off and return True to retry, or go FAILED and return False."""
        now = time.monotonic()
        failures.append(now)
        while failures and now - failures[0] > self._config["RESTART_WINDOW"]:
            failures.popleft()
        if len(failures) >= self._config["RESTART_MAX"]:
            self._set(Status.FAILED, reason, details=details)
            return False
        self.restarts += 1
        counters.BROWSER_RESTARTS.labels(reason).inc()
        self._set(Status.RECOVERING, reason, details=details)
        delay = backoff(len(failures), self._config["RESTART_BACKOFF"])
        log.info("session %s: relaunch in %.2fs (failure %d of %d allowed in %.0fs)", self.id,
                 delay, len(failures), self._config["RESTART_MAX"] - 1,
                 self._config["RESTART_WINDOW"])
        return not self._stopping.wait(delay)

    def _driver_fault(self) -> bool:
        """True when the chromedriver this browser was launched through is gone."""
        generation = getattr(self._factory, "driver_generation", None)
        return generation is not None and self._driver_gen is not None and (
            generation() != self._driver_gen)

    def _wait_for_store(self, error: StorageUnavailable) -> bool:
        """Back off after a store error (0.5 s doubling to 30 s); False when stopping."""
        now = time.monotonic()
        self._store_failures.append(now)
        while self._store_failures and now - self._store_failures[0] > 60:
            self._store_failures.popleft()
        delay = store_retry(len(self._store_failures))
        log.warning("session %s: %s; retrying in %.1fs", self.id, error.message, delay)
        return not self._stopping.wait(delay)

    def _launch(self) -> None:
        with self._slots:  # staggered: parallel launches on 2 cores are slower than serial ones
            if self._stopping.is_set():
                return
            with self._busy():
                try:
                    self.browser, self._bridge = self._open()
                    generation = getattr(self._factory, "driver_generation", None)
                    self._driver_gen = generation() if generation else None
                except (BrowserGone, StorageUnavailable):
                    raise
                except PageUnreachable as e:
                    raise Unreachable(e.reason, e.details) from e
                except Exception as e:
                    raise LaunchFailed(str(e)) from e
        self._ack = []
        self._poll_timeouts, self._doc, self._gone_reason = 0, None, None
        self._load_deadline = time.monotonic() + self._config["WA_LOAD_TIMEOUT"]
        self._on_change(self)

    def _open(self):
        """The factory's browser and bridge, through the session's proxy when it has one."""
        proxy = self.options.get("proxy")
        if proxy:
            return self._factory.open(self.id, proxy=proxy)
        return self._factory.open(self.id)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            pushed = self._ensure_channel()
            loading = self.status in (Status.STARTING, Status.RECOVERING)
            interval = self._config["SAFETY_POLL_INTERVAL" if pushed and not loading
                                     and not self._held else "PUMP_INTERVAL"]
            try:
                item = self._queue.get(timeout=interval)
            except queue.Empty:
                item = False
            if item is None:
                return
            if item is WAKE:
                self._wake_pending.clear()
            elif item:
                self._execute(*item)
                if pushed:
                    continue  # what the command changed, the page pushes
            self._pump()

    def _execute(self, fn: Callable, future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return  # the caller already gave up (504)
        try:
            with self._busy():
                result = fn(self._bridge)
            future.set_result(result)
        except (BrowserGone, Restart, Fail) as e:
            future.set_exception(BrowserUnavailable("The browser is restarting", retry_after=5))
            raise e
        except Exception as e:
            future.set_exception(e)

    @contextmanager
    def _busy(self):
        self.busy_since = time.monotonic()
        try:
            yield
        finally:
            self.busy_since = None

    def _close_browser(self) -> None:
        self._close_channel()
        if self.browser is not None:
            self.browser.quit()
        self.browser, self._bridge = None, None

    def _drain_queue(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple) and item[1].set_running_or_notify_cancel():
                item[1].set_exception(SessionNotReady("The session stopped"))


def raise_restart(reason: str):
    def fn(_bridge):
        raise Restart(reason)
    return fn


def raise_fail(reason: str):
    def fn(_bridge):
        raise Fail(reason)
    return fn
