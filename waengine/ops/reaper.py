"""The session reaper: ends what nobody uses, on the thread "wa-reaper" every REAPER_INTERVAL.

- a CONNECTED session idle (no API command, no page event) for SESSION_IDLE_TIMEOUT is
  stopped; its login stays in the profile and `POST /sessions/{id}/start` brings it back
  without a QR. A session created with `"keepAlive": true` is never stopped for idleness.
- a session still in SCAN_QR QR_SCAN_TIMEOUT after it got there (the QR attempts are over;
  the page normally says so itself) ends FAILED with reason `qr_expired`.
- outbox events older than EVENT_RETENTION whose webhooks are all delivered are purged.
- stored messages older than the session's history retention (HISTORY_DAYS, or its own
  `historyDays`) are deleted.
- Singleton* locks in the profile of a session that is not running, left by a dead browser,
  are removed (Chromium refuses a profile whose lock names a live pid, which pid reuse makes
  likely in containers).
Each action is logged and counted (waengine_reaper_actions_total).
"""

from __future__ import annotations

import logging
import time

from ..store import epoch
from ..vocabulary import Status
from . import metrics
from .periodic import PeriodicThread

log = logging.getLogger(__name__)


class SessionReaper(PeriodicThread):
    thread_name = "wa-reaper"
    join_timeout = 60.0  # it may be stopping a session (a browser quit)
    run_at_start = False  # at start-up, restored sessions are still launching

    def __init__(self, engine, clock=time.time, monotonic=time.monotonic):
        super().__init__()
        self.engine = engine
        self.config = engine.config
        self.interval = float(self.config["REAPER_INTERVAL"])
        self._clock = clock
        self._monotonic = monotonic

    def run_once(self) -> list[str]:
        """One pass; return the actions taken (idle_stop, qr_expired, ...)."""
        actions: list[str] = []
        for session in self.engine.manager.list():
            if self._stop.is_set():
                break
            if session.status == Status.CONNECTED and session.running:
                self._stop_if_idle(session, actions)
            elif session.status == Status.SCAN_QR and session.running:
                self._fail_if_qr_over(session, actions)
        self._purge_outbox(actions)
        self._expire_history(actions)
        self._remove_orphaned_locks(actions)
        return actions

    def _act(self, action: str, actions: list[str]) -> None:
        metrics.REAPER_ACTIONS.labels(action).inc()
        actions.append(action)

    def _stop_if_idle(self, session, actions: list[str]) -> None:
        if (session.options or {}).get("keepAlive"):
            return
        limit = float(self.config["SESSION_IDLE_TIMEOUT"])
        last = epoch(session.last_activity_at) or 0.0
        # Idle since the last use, and CONNECTED for that long too: a session restored after
        # a day of downtime has an old lastActivityAt but has not been idle in this run.
        idle = min(self._clock() - last, self._monotonic() - session.status_since)
        if idle <= limit:
            return
        log.info("reaper: stopping session %s: idle %.0fs (SESSION_IDLE_TIMEOUT %.0fs); "
                 "its login is kept", session.id, idle, limit)
        self.engine.manager.stop(session.id, "idle")
        self._act("idle_stop", actions)

    def _fail_if_qr_over(self, session, actions: list[str]) -> None:
        limit = float(self.config["QR_SCAN_TIMEOUT"])
        waited = self._monotonic() - session.status_since
        if waited <= limit:
            return
        log.info("reaper: session %s in SCAN_QR for %.0fs (QR_SCAN_TIMEOUT %.0fs): qr_expired",
                 session.id, waited, limit)
        session.fail("qr_expired")
        self._act("qr_expired", actions)

    def _purge_outbox(self, actions: list[str]) -> None:
        purged = self.engine.events.outbox.purge_delivered(float(self.config["EVENT_RETENTION"]))
        if purged:
            log.info("reaper: purged %d delivered event(s) older than EVENT_RETENTION", purged)
            self._act("outbox_purged", actions)

    def _expire_history(self, actions: list[str]) -> None:
        history = self.engine.events.history
        for session in self.engine.manager.list():
            if self._stop.is_set():
                break
            expired = history.expire(session.id, history.days(session.options))
            if expired:
                log.info("reaper: deleted %d stored message(s) of session %s older than its "
                         "history retention", expired, session.id)
                self._act("history_expired", actions)

    def _remove_orphaned_locks(self, actions: list[str]) -> None:
        profiles = self.engine.profiles
        if not profiles.is_dir():
            return
        sessions = {s.id: s for s in self.engine.manager.list()}
        for profile in profiles.iterdir():
            session = sessions.get(profile.name)
            if not profile.is_dir() or (session is not None and session.running):
                continue  # a running session's browser owns its lock (or is creating it)
            if self.engine.clear_orphaned_locks(profile):
                log.info("reaper: removed stale Singleton locks of a dead browser in %s", profile)
                self._act("lock_removed", actions)
