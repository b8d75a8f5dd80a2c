"""A session is an actor: one SessionWorker thread owns its browser and runs its commands.

HTTP threads submit() a command and wait on a Future; between commands the worker reads the
page's state and events (one round trip) when the page says something changed (a push over
its DevTools channel, engine/channel.py) or every SAFETY_POLL_INTERVAL (every PUMP_INTERVAL
while the page loads, without a channel, or with PUMP_MODE=poll), and relaunches a dead
browser with backoff. Events a page pushes are committed and acknowledged on the channel's
I/O thread, so a long command does not hold them up.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Protocol

from .. import counters
from ..backoff import backoff, store_retry
from ..errors import (
    BrowserUnavailable,
    CommandTimeout,
    SessionNotReady,
    StorageUnavailable,
    WAEngineError,
)
from ..store import utcnow
from ..vocabulary import Status
from .bridge import BrowserGone, PageUnreachable
from .budget import Budget
from .page import Page, pairing_code_text

log = logging.getLogger(__name__)
# Polls in a row a failing catch-up is tried on before it is given up (and logged as an error).
CATCH_UP_TRIES = 20
# Put on a worker's queue by a "state" notification: read the page now.
_WAKE = object()
# Ids of delivered page events remembered to skip the copy a poll or a re-push brings back.
_DELIVERED_MEMORY = 4096


class Browser(Protocol):
    pid: int | None

    def quit(self) -> None: ...


class BrowserFactory(Protocol):
    def open(self, session_id: str) -> tuple[Browser, object]:
        """Launch a browser for the session and load the page; return it and its Bridge."""


# Stream modes that end the session (wa-js 4.6.0 whatsapp/enums/StreamMode.d.ts): FAILED with
# this reason. WhatsApp Web shows a blocking screen for each; no relaunch changes it.
FAILING_MODES = {"DEPRECATED_VERSION": "wa_update_required", "TOS_BLOCK": "banned",
                 "SMB_TOS_BLOCK": "banned", "PROXYBLOCK": "proxy_blocked"}


def derive_status(state: dict, current: Status) -> tuple[Status, str | None] | None:
    """The status a polled page state means, or None when it says nothing new (still loading)."""
    if not state.get("fullReady"):
        return None
    mode = state.get("mode")
    if state.get("needsUpdate"):  # conn.needsUpdate(): WhatsApp asks for a newer client
        return Status.FAILED, "wa_update_required"
    if mode in FAILING_MODES:
        return Status.FAILED, FAILING_MODES[mode]
    if state.get("auth"):
        if mode == "CONFLICT":
            return Status.CONFLICT, None
        if mode == "MAIN":
            return Status.CONNECTED, None
        # OFFLINE / SYNCING of a session that was up (stream_detail says which). Just after a
        # scan the page syncs the history first: the link is done when MAIN comes.
        if stream_detail(state) and current != Status.SCAN_QR:
            return Status.CONNECTED, None
        return None
    if state.get("idle"):
        return Status.FAILED, "qr_expired"
    if not state.get("qr"):
        return None  # logged out but no QR yet: a client in SCAN_QR can always fetch one
    reason = "logged_out" if current == Status.CONNECTED else None
    return Status.SCAN_QR, reason


def stream_detail(state: dict) -> str | None:
    """A CONNECTED session's `detail`: why its stream does not carry messages right now."""
    mode = state.get("mode")
    if mode == "OFFLINE":
        return "OFFLINE"
    if mode == "SYNCING":  # StreamInfo RESUMING: catching up after a reconnect
        return "RESUMING" if state.get("info") == "RESUMING" else "SYNCING"
    return None


class _Restart(Exception):
    """Asked to relaunch the browser on purpose (reconnect, or a page that never came back)."""

    def __init__(self, reason: str, counts_as_failure: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.counts_as_failure = counts_as_failure


class _LaunchFailed(Exception):
    """The browser could not be started (chromedriver refused, Chromium exited at once)."""


class _Unreachable(Exception):
    """The browser started but WhatsApp Web (or the proxy) did not answer: a network fault."""

    def __init__(self, reason: str, details: dict):
        super().__init__(reason)
        self.reason = reason
        self.details = details


class _Fail(Exception):
    """The session gives up (FAILED with this reason) once its browser is closed."""

    def __init__(self, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details


class Session:
    def __init__(self, record: dict, config: dict, factory: BrowserFactory,
                 launch_slots: threading.Semaphore,
                 on_change: Callable[[Session], None],
                 on_event: Callable[[Session, str, dict], None]):
        self.id = record["id"]
        self.created_at = record["created_at"]
        self.options = record.get("options") or {}
        self.status = Status(record.get("status") or Status.STOPPED)
        self.reason: str | None = record.get("status_reason")
        # CONNECTED only: OFFLINE | SYNCING | RESUMING while the stream is not up (vocabulary.py)
        self.detail: str | None = None
        # What the reason needs said (e.g. the versions of wa_update_required; for wa_unreachable
        # the network error and the URL)
        self.status_details: dict | None = None
        self._auto_takeover_at = 0.0
        self.status_since = time.monotonic()
        me_id = record.get("me_id")
        self.me = {"id": me_id, "name": record.get("me_name")} if me_id else None
        self.restarts = int(record.get("restarts") or 0)
        self.last_activity_at = record.get("last_activity_at") or self.created_at
        self.qr: str | None = None
        self.pairing_code: str | None = None  # the code in force (managed flow), ABCD-EFGH
        self.qr_expires_at: float | None = None
        self.browser: Browser | None = None
        self.wa: dict = {"version": None, "injected": False}
        self._qr_count = 0
        self._config = config
        self._budget = Budget.of(config)
        self._factory = factory
        self._slots = launch_slots
        self._on_change = on_change
        self._on_event = on_event
        self._queue: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._stop_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._bridge = None
        self._ack: list[str] = []
        self._lock = threading.RLock()
        # Monotonic start of the browser call the worker is in (None between calls): the
        # watchdog kills a browser whose call outlives every timeout (a frozen renderer).
        self.busy_since: float | None = None
        self._gone_reason: str | None = None
        self._poll_timeouts = 0
        self._doc: str | None = None
        # Set by the manager: reads the messages a dead browser never handed over (catchup.py),
        # run by the worker after every launch that reaches CONNECTED.
        self.on_connected: Callable[[Session, object], None] | None = None
        self._catch_up_due = False
        self._catch_up_tries = 0
        # Events the store refused (locked, full disk): committed by the worker once it can.
        self._unsaved: list[tuple[str, dict]] = []
        self._driver_gen: int | None = None
        self._store_failures: deque[float] = deque()
        self._channel = None
        self._channel_retry_at = 0.0
        self._wake_pending = threading.Event()
        self._deliver_lock = threading.Lock()
        self._delivered: deque[str] = deque()
        self._delivered_ids: set[str] = set()
        # The first page event not delivered (held until its media is stored, or the sink
        # failed): a push of a later event waits behind it, so the outbox keeps the page's order.
        self._blocked: str | None = None
        self._held = False  # ... because the sink held it: poll every PUMP_INTERVAL till it takes it
        self._skipped_push = False

    # ---- public, called from HTTP threads ----
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stopping.clear()
            self._stop_reason = None
            self._queue = queue.Queue()
            self._set(Status.STARTING, None)
            self._thread = threading.Thread(target=self._run, name=f"wa-session-{self.id}",
                                            daemon=True)
            self._thread.start()

    def stop(self, reason: str | None = None, timeout: float = 30.0) -> None:
        """Stop the worker and quit the browser; the login stays in the profile."""
        with self._lock:
            thread = self._thread
            self._stop_reason = reason
            self._stopping.set()
            self._queue.put(None)
        if thread and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.0fs", thread.name, timeout)
        if not self.running and self.status not in (Status.STOPPED, Status.FAILED):
            self._set(Status.STOPPED, reason)

    def restart(self, reason: str = "reconnect") -> None:
        """Relaunch the browser from its profile (a running worker does it between commands)."""
        if not self.running:
            self.start()
            return
        self._queue.put((_raise_restart(reason), Future()))

    def fail(self, reason: str) -> None:
        """End the session FAILED with this reason (the worker closes the browser first)."""
        if self.running:
            self._queue.put((_raise_fail(reason), Future()))
        elif self.status != Status.FAILED:
            self._set(Status.FAILED, reason)

    def kill_browser(self, reason: str) -> None:
        """SIGKILL the browser; the worker, blocked or not, sees it gone and relaunches it."""
        browser = self.browser
        kill = getattr(browser, "kill", None)
        if kill is not None:
            self._gone_reason = reason
            kill()

    def busy_for(self) -> float:
        """Seconds the worker has been inside its current browser call (0 when idle)."""
        since = self.busy_since
        return time.monotonic() - since if since is not None else 0.0

    def submit(self, fn: Callable, need_connected: bool = True, checked: bool = False):
        """Run fn(bridge) on the worker thread and return its result (504 on timeout).

        `checked`: the caller ran check_ready itself for this command (the paced sender checks
        once per attempt, not once per page call)."""
        if not checked:
            self.check_ready(need_connected)
        self.touch()
        future: Future = Future()
        self._queue.put((fn, future))
        try:
            return future.result(self._budget.queue)
        except FutureTimeout:
            future.cancel()
            raise CommandTimeout(details={"timeoutSeconds": self._budget.total}) from None

    def check_ready(self, need_connected: bool = True) -> None:
        status = self.status
        if need_connected and status == Status.CONFLICT:
            # Nothing would go out until a takeover: say so now rather than time out.
            raise SessionNotReady("WhatsApp is open for this account in another window; "
                                  "POST /sessions/{id}/takeover to use it here",
                                  details={"status": status.value})
        if status in (Status.STARTING, Status.RECOVERING):
            raise BrowserUnavailable(f"Session is {status.value}", retry_after=5)
        if self.busy_for() > self._budget.total:
            # Queueing behind a call that outlived its timeout would only end in a 504.
            raise BrowserUnavailable("The browser is not answering; it is being recovered",
                                     retry_after=10)
        if status in (Status.STOPPED, Status.FAILED) or not self.running:
            raise SessionNotReady(f"Session is {status.value}", details={"status": status.value})
        if need_connected and status != Status.CONNECTED:
            raise SessionNotReady(f"Session is {status.value}, not CONNECTED",
                                  details={"status": status.value})

    def touch(self) -> None:
        self.last_activity_at = utcnow()

    def snapshot(self) -> dict:
        browser = None
        if self.browser is not None:
            browser = {"pid": self.browser.pid}
        # A page stuck in one call longer than any command may take is not answering, whatever
        # the last status it reported (a frozen renderer: until the watchdog kills it).
        stuck = self.busy_for() > self._budget.total
        return {"id": self.id, "status": self.status.value, "statusReason": self.reason,
                "detail": self.detail, "statusDetails": self.status_details, "me": self.me,
                "createdAt": self.created_at,
                "lastActivityAt": self.last_activity_at, "restarts": self.restarts,
                "browser": browser, "wa": dict(self.wa), "responding": not stuck}

    # ---- the worker thread ----
    def _set(self, status: Status, reason: str | None, detail: str | None = None,
             details: dict | None = None) -> None:
        if (status == self.status and reason == self.reason and detail == self.detail
                and details == self.status_details):
            return
        previous, previous_detail = self.status, self.detail
        self.status, self.reason, self.detail = status, reason, detail
        self.status_details = details
        self.status_since = time.monotonic()
        if status != Status.SCAN_QR:
            self.qr, self.qr_expires_at, self._qr_count = None, None, 0
            self.pairing_code = None
        log.info("session %s: %s -> %s (%s%s)", self.id, previous.value, status.value, reason,
                 f", {detail}" if detail else "")
        self._on_change(self)
        data = {"status": status.value, "previous": previous.value, "reason": reason}
        if detail or previous_detail:
            data["detail"] = detail  # CONNECTED with the stream down, or back up (null)
        if details:
            data["details"] = details
        try:
            self._on_event(self, "session.status", data)
        except StorageUnavailable as e:  # never lost: the worker commits it when it can
            log.warning("session %s: status event kept for later: %s", self.id, e.message)
            self._unsaved.append(("session.status", data))

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
                except _Fail as fail:
                    final = (Status.FAILED, fail.reason, None, fail.details)
                    break
                except _Restart as restart:
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
                except _Unreachable as down:
                    log.warning("session %s: page did not load (%s): %s", self.id, down.reason,
                                down.details)
                    self._close_browser()
                    if down.reason == "proxy_auth_failed":  # retrying a refused password: no
                        final = (Status.FAILED, down.reason, None, down.details)
                        break
                    # A network blip is retried like a crash; for good, it ends FAILED with it.
                    if not self._note_failure(failures, down.reason, down.details):
                        break
                except _LaunchFailed:
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
                    raise _Unreachable(e.reason, e.details) from e
                except Exception as e:
                    raise _LaunchFailed(str(e)) from e
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
            if item is _WAKE:
                self._wake_pending.clear()
            elif item:
                self._execute(*item)
                if pushed:
                    continue  # what the command changed, the page pushes
            self._pump()

    # ---- the push channel (engine/channel.py) ----
    def _ensure_channel(self) -> bool:
        """True when the page can push; (re)opens the channel, at most once a safety interval."""
        if self._channel is not None and not self._channel.closed:
            return True
        opener = getattr(self._bridge, "open_channel", None)
        now = time.monotonic()
        if self._config["PUMP_MODE"] != "push" or opener is None or now < self._channel_retry_at:
            return False
        try:
            with self._busy():
                self._channel = opener(f"wa-session-{self.id}", self._notified)
        except Exception as e:
            log.warning("session %s: no event channel, polling instead: %s", self.id, e)
            self._channel = None
            self._channel_retry_at = now + self._config["SAFETY_POLL_INTERVAL"]
            return False
        self._wake_pending.clear()
        self._pump()  # what the page queued before the binding existed
        return True

    def _unblock(self) -> None:
        """A poll delivered all the page had: pushes go straight to the sink again."""
        with self._deliver_lock:
            self._blocked, self._held = None, False
            skipped, self._skipped_push = self._skipped_push, False
        if skipped:  # pushed after that poll's read
            self._wake()

    def _wake(self) -> None:
        """Have the worker read the page now (once, however many ask before it does)."""
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            self._queue.put(_WAKE)

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and self._bridge is not None:
            self._bridge.close_channel(channel)

    def _notified(self, payload: str) -> None:
        """On the channel's I/O thread: events are committed, then acked on the channel."""
        if payload == "state":
            self._wake()
            return
        done = []
        for event in json.loads(payload).get("events") or ():
            if self._deliver(event, in_order=False) is None:
                break  # keep the order: this one and the rest stay queued in the page
            done.append(event["id"])
        channel = self._channel
        if done and channel is not None:
            channel.evaluate(f"window.__waengine && window.__waengine.ack({json.dumps(done)})")

    def _deliver(self, event: dict, in_order: bool) -> bool | None:
        """Hand a page event to the sink (the outbox) once: True if now, False if already,
        None if not (the page keeps it for the next try): the sink failed, or held it (False:
        its media is being stored, MEDIA_STORE), or an earlier event is still undelivered.

        `in_order`: the events come from the front of the page's queue (a poll), so none
        can overtake an undelivered one; a push brings only the newest.
        """
        with self._deliver_lock:
            if event["id"] in self._delivered_ids:
                return False
            if not in_order and self._blocked not in (None, event["id"]):
                self._skipped_push = True  # the poll that takes the blocked one brings it
                return None
            try:
                taken = self._on_event(self, event["type"], event["data"]) is not False
            except StorageUnavailable as e:
                # Our database (locked, full disk), not the event: it stays queued in the page.
                # A poll raises it to the worker, which keeps the browser and backs off (_run);
                # a push wakes the worker so that it does.
                self._blocked, self._held = event["id"], False
                if in_order:
                    raise
                log.warning("session %s: event %s kept in the page: %s", self.id, event["id"],
                            e.message)
                self._wake()
                return None
            except Exception:
                log.exception("session %s: event %s not delivered", self.id, event["id"])
                taken = None
            if not taken:
                self._blocked, self._held = event["id"], taken is False
                if self._held and not in_order:
                    self._wake()  # a worker asleep for a safety interval: poll it back now
                return None
            if self._blocked == event["id"]:
                self._blocked, self._held = None, False
            self._delivered.append(event["id"])
            self._delivered_ids.add(event["id"])
            if len(self._delivered) > _DELIVERED_MEMORY:
                self._delivered_ids.discard(self._delivered.popleft())
        self.touch()
        return True

    def _execute(self, fn: Callable, future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return  # the caller already gave up (504)
        try:
            with self._busy():
                result = fn(self._bridge)
            future.set_result(result)
        except (BrowserGone, _Restart, _Fail) as e:
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

    def _pump(self) -> None:
        try:
            with self._busy():
                state = self._bridge.poll(self._ack)
        except CommandTimeout:
            # chromedriver waits out the script timeout for a poll a navigation swallowed, so
            # one timeout is a reload; several in a row are a page that stopped answering.
            self._poll_timeouts += 1
            log.warning("session %s: poll timed out (%d in a row)", self.id, self._poll_timeouts)
            if self._poll_timeouts >= self._config["STUCK_POLLS"]:
                raise _Restart("browser_stuck", counts_as_failure=True) from None
            return
        except BrowserUnavailable:
            return  # the document went away mid-call: poll the new one next time
        self._poll_timeouts = 0
        self._ack = []
        self._note_document(state.get("doc"))
        if state.get("version"):
            self.wa = {"version": state["version"], "injected": bool(state.get("injected"))}
        for event in state.get("events") or ():
            # Delivered to the sink (outbox) first; acknowledged to the page on the next poll.
            if self._deliver(event, in_order=True) is None:
                break  # held or failed: this one and the rest stay queued in the page, in order
            self._ack.append(event["id"])
        else:
            self._unblock()  # every event the page had is delivered
        self._apply(state)

    def _note_document(self, doc: str | None) -> None:
        """Count a new document (reload, navigation); the bridge re-registered itself in it."""
        if doc and self._doc and doc != self._doc:
            counters.PAGE_RELOADS.inc()
            self.wa = {"version": None, "injected": False}  # until the new document reports
            log.info("session %s: page reloaded; bridge re-installed in the new document",
                     self.id)
        if doc:
            self._doc = doc

    def _apply(self, state: dict) -> None:
        while self._unsaved:  # raises StorageUnavailable while the store is still down
            self._on_event(self, *self._unsaved[0])
            self._unsaved.pop(0)
        derived = derive_status(state, self.status)
        now = time.monotonic()
        if derived is None:
            if not state.get("fullReady") and now > self._load_deadline:
                if self.status in (Status.STARTING, Status.RECOVERING):
                    raise _Fail("wa_not_loaded")
                else:  # a page that went away after it was up: relaunch it
                    raise _Restart("page_lost", counts_as_failure=True)
            return
        self._load_deadline = now + self._config["WA_LOAD_TIMEOUT"]
        status, reason = derived
        if status == Status.FAILED:
            raise _Fail(reason, self._failure_details(reason, state))
        if status == Status.SCAN_QR and self.status == Status.SCAN_QR:
            reason = self.reason  # keep "logged_out" while the QR rotates
        if status == Status.CONNECTED and state.get("me"):
            self.me = state["me"]
        if status == Status.CONNECTED and self.status != Status.CONNECTED:
            self._catch_up_due = True
        detail = stream_detail(state) if status == Status.CONNECTED else None
        self._set(status, reason, detail)
        if self._catch_up_due and status == Status.CONNECTED and detail is None:
            self._catch_up()  # once messages flow: a page offline has nothing new to read
        if status == Status.CONFLICT and self._config.get("TAKEOVER_ON_CONFLICT"):
            self._auto_takeover()
        if status == Status.SCAN_QR:
            self._update_qr(state.get("qr"))
            self._update_pairing_code(state)

    def _failure_details(self, reason: str, state: dict) -> dict | None:
        if reason != "wa_update_required":
            return None
        # The versions an operator compares when updating the bundle (docs/sessions.md).
        return {"waJs": state.get("version"), "whatsapp": state.get("waVersion"),
                "mode": state.get("mode")}

    def _auto_takeover(self) -> None:
        """TAKEOVER_ON_CONFLICT: use WhatsApp here again, at most once per 30 s, so that two
        windows that both insist do not take the account from each other in a loop."""
        now = time.monotonic()
        if now - self._auto_takeover_at < 30.0:
            return
        self._auto_takeover_at = now
        log.info("session %s: WhatsApp was opened elsewhere; taking it over "
                 "(TAKEOVER_ON_CONFLICT)", self.id)
        try:
            with self._busy():
                Page.in_worker(self._bridge).takeover()
        except WAEngineError as e:
            log.warning("session %s: takeover failed: %s", self.id, e.message)

    def _catch_up(self) -> None:
        if self.on_connected is not None:
            try:
                with self._busy():
                    self.on_connected(self, self._bridge)
            except StorageUnavailable:
                raise  # the worker backs off; the catch-up stays due
            except WAEngineError as e:  # the page is still syncing, a timeout: next poll again
                self._catch_up_tries += 1
                if self._catch_up_tries < CATCH_UP_TRIES:
                    log.warning("session %s: catch-up failed, retried: %s", self.id, e.message)
                    return
                log.error("session %s: catch-up gave up after %d tries: %s", self.id,
                          self._catch_up_tries, e.message)
        self._catch_up_due, self._catch_up_tries = False, 0

    def _update_qr(self, qr: str | None) -> None:
        if not qr or qr == self.qr:
            return
        ttl = self._config["QR_FIRST_TTL"] if self._qr_count == 0 else self._config["QR_TTL"]
        self._qr_count += 1
        self.qr, self.qr_expires_at = qr, time.time() + ttl
        self._on_event(self, "qr", {"qr": qr, "expiresAt": self.qr_expires_at})

    def _update_pairing_code(self, state: dict) -> None:
        """A new pairing code (the managed flow refreshed it), or the flow gave up."""
        code = pairing_code_text(state.get("linkCode"))
        expired = bool(state.get("linkCodeExpired")) and not code
        if code == self.pairing_code and not (expired and self.pairing_code):
            return
        if not code and not expired:
            return  # no flow started, or between two codes
        self.pairing_code = code
        self._on_event(self, "pairing.code", {"code": code, "expired": expired})

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


def _raise_restart(reason: str):
    def fn(_bridge):
        raise _Restart(reason)
    return fn


def _raise_fail(reason: str):
    def fn(_bridge):
        raise _Fail(reason)
    return fn
