"""A session is an actor: one SessionWorker thread owns its browser and runs its commands.

HTTP threads submit() a command and wait on a Future; between commands the worker reads the
page's state and events (one round trip) when the page says something changed (a push over
its DevTools channel, engine/channel.py) or every SAFETY_POLL_INTERVAL (every PUMP_INTERVAL
while the page loads, without a channel, or with PUMP_MODE=poll), and relaunches a dead
browser with backoff. Events a page pushes are committed and acknowledged on the channel's
I/O thread, so a long command does not hold them up.

The worker loop is in worker.py, push/poll delivery of page events in delivery.py, what a page
state means for the status in status.py; this module holds what callers use and how a
status is applied.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from ..errors import (
    BrowserUnavailable,
    CommandTimeout,
    LeaseLost,
    SessionNotReady,
    StorageUnavailable,
    WAEngineError,
)
from ..store import utcnow
from ..vocabulary import Status
from .budget import Budget
from .degraded import FlowWatch
from .delivery import EventDelivery
from .ladder import Ladder
from .page import Page, pairing_code_text
from .status import derive_status, failure_details, stream_detail
from .worker import Fail, Restart, WorkerLoop, raise_fail, raise_restart

log = logging.getLogger(__name__)
# Polls in a row a failing catch-up is tried on before it is given up (and logged as an error).
CATCH_UP_TRIES = 20
# Seconds a status read waits for a change in progress to write its event; a store that does
# not answer must not hang GET /sessions.
STATUS_WAIT = 2.0


class Browser(Protocol):
    pid: int | None

    def quit(self) -> None: ...


class BrowserFactory(Protocol):
    def open(self, session_id: str) -> tuple[Browser, object]:
        """Launch a browser for the session and load the page; return it and its Bridge."""


class Session(WorkerLoop, EventDelivery, FlowWatch):
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
        self.last_command_at = time.monotonic()  # a client's command (ops/memory_ladder.py)
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
        # Cluster mode (set by the manager): whether this node's lease of the session lapsed.
        self.lease_lapsed: Callable[[], bool] = lambda: False
        self._queue: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._stop_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._bridge = None
        self._ack: list[str] = []
        self._lock = threading.RLock()
        # Held while a status change is shown and its session.status event written: a client
        # that reads the new status finds its event (snapshot() waits for both).
        self._status_lock = threading.RLock()
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
        # Connected but dead (engine/ladder.py): kept across the page reloads and relaunches
        # it orders, so a relaunched page comes back DEGRADED until traffic flows.
        self.ladder = Ladder(config)
        self._recovery: dict = {}

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
            self.ladder.reset()  # a fresh start is not DEGRADED until it shows the signs again
            self._queue = queue.Queue()
            # a claim may have shown STARTING already, with its reason (claiming)
            self._set(Status.STARTING, self.reason if self.status == Status.STARTING else None)
            self._thread = threading.Thread(target=self._run, name=f"wa-session-{self.id}",
                                            daemon=True)
            self._thread.start()

    def claiming(self, reason: str) -> None:
        """STARTING before the worker exists: this node took the session over (`reason`
        failover or move) and restores its snapshot first. Without it the session would show
        the status its last node stored (CONNECTED) with no browser for the restore's time."""
        with self._lock:
            if not self.running:
                self._set(Status.STARTING, reason)

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
        self._queue.put((raise_restart(reason), Future()))

    def fail(self, reason: str) -> None:
        """End the session FAILED with this reason (the worker closes the browser first)."""
        if self.running:
            self._queue.put((raise_fail(reason), Future()))
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
        self.last_command_at = time.monotonic()
        return self._on_worker(fn)

    def trim_memory(self, level: str) -> None:
        """Give memory back without a reload (ops/memory_ladder.py): a full GC and a
        memory-pressure signal. Not a client's command: last_command_at stays."""
        self._maintenance(lambda bridge: bridge.trim_memory(level))

    def reload_page_when_drained(self) -> bool:
        """Reload the page if its event queue is empty; a catch-up follows once it is back."""
        reloaded = self._maintenance(lambda bridge: bridge.reload_if_drained())
        if reloaded:
            self._catch_up_due = True
        return reloaded

    def _maintenance(self, fn: Callable):
        self.check_ready(True)
        return self._on_worker(fn)

    def _on_worker(self, fn: Callable):
        """fn(bridge) queued to the worker thread; its result (504 past the queue budget)."""
        future: Future = Future()
        self._queue.put((fn, future))
        try:
            return future.result(self._budget.queue)
        except FutureTimeout:
            future.cancel()
            raise CommandTimeout(details={"timeoutSeconds": self._budget.total}) from None

    def check_ready(self, need_connected: bool = True) -> None:
        if self.lease_lapsed():  # cluster mode: another node may own it now (cluster.py)
            raise LeaseLost(details={"session": self.id})
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
        taken = self._status_lock.acquire(timeout=STATUS_WAIT)  # a store that hangs: read on
        try:
            status, reason, detail, details = (self.status, self.reason, self.detail,
                                               self.status_details)
        finally:
            if taken:
                self._status_lock.release()
        return {"id": self.id, "status": status.value, "statusReason": reason,
                "detail": detail, "statusDetails": details, "me": self.me,
                "createdAt": self.created_at,
                "lastActivityAt": self.last_activity_at, "restarts": self.restarts,
                "browser": browser, "wa": dict(self.wa), "responding": not stuck,
                "degraded": self.ladder.view()}

    # ---- the worker thread ----
    def _set(self, status: Status, reason: str | None, detail: str | None = None,
             details: dict | None = None) -> None:
        with self._status_lock:
            self._change(status, reason, detail, details)

    def _change(self, status: Status, reason: str | None, detail: str | None,
                details: dict | None) -> None:
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
        except LeaseLost:  # another node took the session over: its events are its own
            log.info("session %s: status event %s not written: another node owns the session",
                     self.id, status.value)

    def _apply(self, state: dict) -> None:
        while self._unsaved:  # raises StorageUnavailable while the store is still down
            self._on_event(self, *self._unsaved[0])
            self._unsaved.pop(0)
        derived = derive_status(state, self.status)
        now = time.monotonic()
        if derived is None:
            if not state.get("fullReady") and now > self._load_deadline:
                if self.status in (Status.STARTING, Status.RECOVERING):
                    raise Fail("wa_not_loaded")
                else:  # a page that went away after it was up: relaunch it
                    raise Restart("page_lost", counts_as_failure=True)
            return
        self._load_deadline = now + self._config["WA_LOAD_TIMEOUT"]
        status, reason = derived
        if status == Status.FAILED:
            raise Fail(reason, failure_details(reason, state))
        if status == Status.SCAN_QR and self.status == Status.SCAN_QR:
            reason = self.reason  # keep "logged_out" while the QR rotates
        if status == Status.CONNECTED and state.get("me"):
            self.me = state["me"]
        if status == Status.CONNECTED and self.status != Status.CONNECTED:
            self._catch_up_due = True
        detail = stream_detail(state) if status == Status.CONNECTED else None
        details, action = None, None
        if status == Status.CONNECTED:
            detail, details, action = self._watch_flow(state, detail)
        self._set(status, reason, detail, details)
        if self._catch_up_due and status == Status.CONNECTED and detail is None:
            self._catch_up()  # once messages flow: a page offline has nothing new to read
        if status == Status.CONFLICT and self._config.get("TAKEOVER_ON_CONFLICT"):
            self._auto_takeover()
        if status == Status.SCAN_QR:
            self.ladder.reset()  # logged out: a new link starts clean
            self._update_qr(state.get("qr"))
            self._update_pairing_code(state)
        self._take_step(action)  # last: a relaunch step raises Restart

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
