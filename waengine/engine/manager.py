"""SessionManager: the registry of sessions (SQLite), admission, lifecycle, restore after restart."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .. import counters
from ..errors import (
    CapacityExceeded,
    LeaseLost,
    SessionExists,
    SessionNotFound,
    StorageUnavailable,
)
from ..logs import SECRETS
from ..netguard import AddressRefused, Guard
from ..store import Store
from ..vocabulary import Status, check_session_id
from . import channel as channels
from .bridge import Bridge, PageUnreachable
from .browser import launch
from .driver import ChromeDriverService
from .processes import delete_profile, reap_profile
from .proxy import Proxy, ProxyAuthChannel, failure_reason, parse_proxy
from .session import Session
from .warm import WarmPool

log = logging.getLogger(__name__)
# Seconds a delete waits for the session's worker (a launch in progress ends within
# COMMAND_TIMEOUT + 30 s in the worst case; it checks for the stop between steps).
DELETE_WAIT = 120.0


def pinned_server(route: Proxy, guard: Guard) -> str:
    """--proxy-server for a session's proxy, its host resolved and checked now (netguard).

    An http:// or socks5:// proxy is given to Chromium as the address that was checked, so
    Chromium cannot resolve the name to another (DNS rebinding); an https:// proxy keeps its
    name, which TLS checks the proxy's certificate against. A refused address or a name that
    does not resolve is a page that did not load, reason proxy_unreachable."""
    try:
        infos = guard.resolve(route.host, route.port)
    except AddressRefused as e:
        raise _unreachable(route, f"address not allowed ({e.reason})") from None
    except OSError as e:
        raise _unreachable(route, f"the proxy's name did not resolve ({e})") from None
    if route.scheme == "https" or not infos:
        return route.server
    return Proxy(route.scheme, infos[0][4][0], route.port).server


def _unreachable(route: Proxy, why: str) -> PageUnreachable:
    error = PageUnreachable("ERR_PROXY_CONNECTION_FAILED", route.redacted)
    error.reason = "proxy_unreachable"
    error.details = {"error": why, "proxy": route.redacted}
    return error


class ChromiumFactory:
    """Opens a real browser for a session: Chromium on its profile, the bridge, the page."""

    def __init__(self, config: dict, service: ChromeDriverService, profiles: Path):
        self.config = config
        self.service = service
        self.profiles = profiles
        self.warm = WarmPool(config, service, profiles) if config["WARM_BROWSERS"] else None
        self.guard = Guard.from_config(config)  # a tenant's proxy may not point inside

    def start(self) -> None:
        if self.warm is not None:
            self.warm.start()

    def stop(self) -> None:
        if self.warm is not None:
            self.warm.stop()

    def open(self, session_id: str, proxy: str | None = None):
        """Launch (or take a warm) browser and load WhatsApp Web; PageUnreachable if it does
        not load (its `reason` says whether the proxy or the network is to blame)."""
        # A warm browser was launched without this session's proxy.
        taken = self.warm.take(session_id) if self.warm is not None and not proxy else None
        if taken is not None:
            return taken
        route = parse_proxy(proxy) if proxy else None
        browser = launch(self.config, self.service, self.profiles / session_id,
                         pinned_server(route, self.guard) if route else None)
        try:
            if route is not None and route.scheme != "socks5":  # SOCKS5 in Chromium: no auth
                if route.password:
                    SECRETS.add(route.password)  # masked wherever a log line might quote it
                # Up before the navigation: the first request already meets the proxy's 407.
                browser.proxy_auth = channels.hub().adopt(ProxyAuthChannel(
                    f"wa-proxy-{session_id}", channels.devtools_url(browser.driver.capabilities),
                    route))
            bridge = Bridge(browser.driver, self.config)
            try:
                bridge.open(self.config["WA_URL"])
            except PageUnreachable as e:
                if getattr(browser.proxy_auth, "rejected", False):
                    e.reason = "proxy_auth_failed"
                    e.details["error"] = "407 Proxy Authentication Required"
                else:
                    e.reason = failure_reason(e.error, route is not None)
                if route is not None:
                    e.details["proxy"] = route.redacted
                raise
        except BaseException:
            browser.quit()
            raise
        return browser, bridge

    def driver_generation(self) -> int | None:
        """Which chromedriver is running (None: it died); see Session._driver_fault."""
        return self.service.live_generation()


class SessionManager:
    def __init__(self, config: dict, store: Store, factory, profiles: Path,
                 on_event: Callable[[Session, str, dict], bool | None] | None = None):
        self.config = config
        self.store = store
        self.factory = factory
        self.profiles = profiles
        self.on_event = on_event or (lambda session, type_, data: None)
        self._sessions: dict[str, Session] = {}
        # Called as hook(session_id, purged) after DELETE: caches, send queues let go of it.
        self.on_delete: list[Callable[[str, bool], None]] = []
        self._lock = threading.RLock()
        # One lock per session id: create, start, stop, reconnect and delete of one session
        # run one at a time, so a delete never races a create into an orphaned browser.
        self._lifecycle: dict[str, threading.RLock] = {}
        self._slots = threading.Semaphore(config["LAUNCH_CONCURRENCY"])
        # Set by the engine to the watchdog's check: why one more browser would not fit, or None.
        self.memory_guard: Callable[[], str | None] | None = None
        # Cluster mode: whether this node may run a session it restores (it took its lease).
        self.may_run: Callable[[str], bool] | None = None
        # Cluster mode: whether this node's lease of a session lapsed (cluster.Leases.lapsed).
        self.lease_lapsed: Callable[[str], bool] | None = None
        # Set by the engine: the catch-up a worker runs after each (re)connect (catchup.py).
        self.on_connected: Callable[[Session, object], None] | None = None
        # Set by the engine with SNAPSHOT_STORE: called after a graceful stop (browser quit).
        self.after_stop: Callable[[Session], None] | None = None

    def lifecycle(self, session_id: str) -> threading.RLock:
        """The lock that serializes lifecycle operations on this session id."""
        with self._lock:
            return self._lifecycle.setdefault(session_id, threading.RLock())

    def _build(self, record: dict) -> Session:
        session = Session(record, self.config, self.factory, self._slots,
                          on_change=self._persist, on_event=self._emit)
        session.on_connected = self._connected
        session.lease_lapsed = lambda: (self.lease_lapsed is not None
                                        and self.lease_lapsed(session.id))
        return session

    def _connected(self, session: Session, bridge) -> None:
        if self.on_connected is not None:
            self.on_connected(session, bridge)

    def _persist(self, session: Session) -> None:
        me = session.me or {}
        try:
            self.store.update_session(
                session.id, status=session.status.value, status_reason=session.reason,
                me_id=me.get("id"), me_name=me.get("name"), restarts=session.restarts,
                last_activity_at=session.last_activity_at)
        except StorageUnavailable as e:
            # The live status is in memory; the next change writes it. A failed write must not
            # fail the caller (a worker's failure handler, a stop).
            log.warning("session %s: status not persisted: %s", session.id, e.message)
        except LeaseLost:
            # Another node took the session over: its status is that node's to write.
            log.info("session %s: status %s not persisted: another node owns the session",
                     session.id, session.status.value)

    def _emit(self, session: Session, type_: str, data: dict) -> bool | None:
        return self.on_event(session, type_, data)  # False holds a page event (media store)

    def load(self) -> None:
        """Read the registry; sessions that should run are started by restore()."""
        with self._lock:
            for record in self.store.list_sessions():
                if record["id"] not in self._sessions:
                    self._sessions[record["id"]] = self._build(record)

    def restore(self) -> int:
        """Start every session that was running when the gateway stopped (no new QR needed)."""
        self.load()
        started = 0
        for session in self.list():
            record = self.store.get_session(session.id)
            if record and record["desired"] == "running" and session.status != Status.FAILED:
                if self.may_run is not None and not self.may_run(session.id):
                    log.info("session %s is leased by another node: not started here",
                             session.id)
                    continue
                session.start()
                started += 1
        return started

    def list(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def get(self, session_id: str, checked: bool = False) -> Session:
        """The session (404 when unknown); 422 for an id that could not be one, unless the
        caller `checked` it already (an HTTP path's id: request_checks.py)."""
        if not checked:
            check_session_id(session_id)
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None and self.may_run is not None:
            session = self._load_one(session_id)  # cluster mode: another node created it
        if session is None:
            raise SessionNotFound(f"No session {session_id!r}")
        return session

    def find(self, session_id: str) -> Session | None:
        """The session if this node knows it (no store read)."""
        with self._lock:
            return self._sessions.get(session_id)

    def _load_one(self, session_id: str) -> Session | None:
        record = self.store.get_session(session_id)
        if record is None:
            return None
        with self._lock:
            return self._sessions.setdefault(session_id, self._build(record))

    def refresh(self, session: Session) -> None:
        """A session not running here takes the status its owner stored (cluster mode)."""
        if session.running or self.may_run is None:
            return
        record = self.store.get_session(session.id)
        if record is not None:
            session.status = Status(record.get("status") or Status.STOPPED)
            session.reason = record.get("status_reason")
            me_id = record.get("me_id")
            session.me = {"id": me_id, "name": record.get("me_name")} if me_id else None

    def _admit(self) -> None:
        running = sum(1 for s in self.list() if s.running)
        if running >= self.config["MAX_SESSIONS"]:
            counters.SESSIONS_REFUSED.labels("max_sessions").inc()
            log.warning("refusing a session: MAX_SESSIONS (%s) are running",
                        self.config["MAX_SESSIONS"])
            raise CapacityExceeded(f"MAX_SESSIONS ({self.config['MAX_SESSIONS']}) are running")
        refusal = self.memory_guard() if self.memory_guard else None
        if refusal:
            counters.SESSIONS_REFUSED.labels("memory").inc()
            raise CapacityExceeded(f"Not enough memory: {refusal}")

    def create(self, session_id: str, options: dict | None = None) -> Session:
        check_session_id(session_id)
        with self.lifecycle(session_id):
            return self._create(session_id, options)

    def _create(self, session_id: str, options: dict | None) -> Session:
        with self._lock:
            if session_id in self._sessions:
                raise SessionExists(f"Session {session_id!r} exists")
            self._admit()
            try:
                record = self.store.insert_session(session_id, Status.STOPPED.value,
                                                   options or {})
            except KeyError:
                raise SessionExists(f"Session {session_id!r} exists") from None
            session = self._sessions[session_id] = self._build(record)
        self._lease(session_id)
        session.start()
        return session

    def _lease(self, session_id: str) -> None:
        """Cluster mode: take the session's lease before its browser starts, so its first
        writes are fenced (a session another node holds is that node's: 503)."""
        if self.may_run is not None and not self.may_run(session_id):
            raise LeaseLost(details={"session": session_id})

    def start(self, session_id: str) -> Session:
        with self.lifecycle(session_id):
            return self._start(session_id)

    def _start(self, session_id: str) -> Session:
        session = self.get(session_id)
        if not session.running:
            self._admit()
            self._lease(session_id)
            self.store.update_session(session_id, desired="running")
            session.start()
        return session

    def reconnect(self, session_id: str) -> Session:
        with self.lifecycle(session_id):
            return self._reconnect(session_id)

    def _reconnect(self, session_id: str) -> Session:
        session = self.get(session_id)
        self.store.update_session(session_id, desired="running")
        session.restart("reconnect")
        return session

    def update_options(self, session_id: str, **changes) -> Session:
        """Change a session's stored options (webhook, keepAlive); None removes a key."""
        session = self.get(session_id)
        options = {**session.options, **changes}
        session.options = {k: v for k, v in options.items() if v is not None}
        self.store.update_session(session_id, options=session.options)
        return session

    def set_proxy(self, session_id: str, proxy: str | None) -> Session:
        """Route the session's browser through `proxy` (None: directly) from now on.

        A running session relaunches its browser on the same profile (it stays linked); one
        that FAILED (e.g. proxy_auth_failed) is started again with the new setting."""
        with self.lifecycle(session_id):
            session = self.update_options(session_id, proxy=proxy)
            if session.running:
                session.restart("proxy_changed")
            elif session.status == Status.FAILED:
                self._start(session_id)
            return session

    def stop(self, session_id: str, reason: str) -> Session:
        """Stop a session and keep it stopped across restarts; the login stays in the profile."""
        with self.lifecycle(session_id):
            session = self.get(session_id)
            self.store.update_session(session_id, desired="stopped")
            session.stop(reason)
            self._stopped(session)
            return session

    def _stopped(self, session: Session) -> None:
        if self.after_stop is not None:
            try:
                self.after_stop(session)
            except Exception:  # the stop itself succeeded; the hook logs its own failures
                log.exception("session %s: after-stop hook failed", session.id)

    def _shut(self, session: Session) -> None:
        session.stop("shutdown")
        self._stopped(session)

    def delete(self, session_id: str, purge: bool = False) -> dict:
        """Stop the session and wait for its worker to end; purge removes every trace of it."""
        with self.lifecycle(session_id):
            session = self.get(session_id)
            self.store.update_session(session_id, desired="stopped")
            session.stop("deleted", timeout=DELETE_WAIT)
            if session.running:  # a launch that outlived every timeout: its browser goes now
                log.error("session %s: worker still running after %ss; killing its browser",
                          session_id, DELETE_WAIT)
                reap_profile(self.profiles / session_id)
                session.stop("deleted", timeout=DELETE_WAIT)
            snapshot = session.snapshot()
            if not purge:
                self._stopped(session)
            if purge:
                delete_profile(self.profiles / session_id)
                with self._lock:
                    if self._sessions.get(session_id) is session:
                        self._sessions.pop(session_id)
                self.store.delete_session(session_id)
            for hook in self.on_delete:
                hook(session_id, purge)
            return snapshot

    def shutdown(self) -> None:
        """Stop every worker in parallel (browsers quit, profiles flushed); keep them 'running'."""
        threads = [threading.Thread(target=self._shut, args=(s,), name=f"wa-stop-{s.id}",
                                    daemon=True)
                   for s in self.list() if s.running]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
            if t.is_alive():
                log.warning("%s did not finish within 40s", t.name)
