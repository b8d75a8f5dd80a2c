"""The memory watchdog: measures the worker and every browser, and acts before the box swaps.

Every WATCHDOG_INTERVAL, on the thread "wa-watchdog":
1. a browser call that outlived every timeout (a frozen renderer ignores WebDriver's) gets its
   browser killed, so the blocked worker sees it gone and relaunches it from the profile;
2. freed C-heap pages go back to the OS (malloc_trim); the worker over WORKER_MEMORY_LIMIT_MB:
   gc.collect(), caches trimmed, malloc_trim again;
3. a browser over BROWSER_MEMORY_LIMIT_MB (PSS) is recycled: relaunched from its profile,
   the login kept, no new QR;
4. a browser over its SESSION_MEMORY_BUDGET_MB climbs the memory ladder, one step a pass
   (memory_ladder.py: trim, trim harder, a soft reload between commands, a restart);
5. everything together over the total limit: the fattest browser is recycled;
and between passes, new sessions are refused (503 capacity_exceeded) when the last sample
says one more would not fit. Each action is logged and counted (waengine_watchdog_actions_total).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from ..libc import libc
from ..vocabulary import Status
from . import memory, metrics
from .history import MemoryHistory
from .memory_ladder import MemoryLadder
from .periodic import PeriodicThread

log = logging.getLogger(__name__)
AUTO_TOTAL_SHARE = 0.8  # TOTAL_MEMORY_LIMIT_MB = 0: this share of the machine's RAM
ADHOC_TTL = 2.0  # seconds one walk of the process table serves browsers not sampled yet


@dataclass
class MemorySample:
    """One measurement, in MB. Browsers by session id: rssMb, pssMb, ussMb, processes."""

    at: float
    worker: dict
    browsers: dict[str, dict] = field(default_factory=dict)
    driver: dict | None = None
    available_mb: float = 0.0

    @property
    def browsers_mb(self) -> float:
        return round(sum(b["pssMb"] for b in self.browsers.values()), 1)

    @property
    def total_mb(self) -> float:
        """Worker RSS plus the PSS of every browser and chromedriver (PSS: no double counts)."""
        driver = self.driver["pssMb"] if self.driver else 0.0
        return round(self.worker["rssMb"] + self.browsers_mb + driver, 1)


def worker_memory() -> dict:
    return memory.process_memory(os.getpid())


def measure(engine, meter: memory.PssMeter | None = None) -> MemorySample:
    """Sample the worker, every browser under the profiles folder, chromedriver, free RAM."""
    return MemorySample(at=time.monotonic(), worker=worker_memory(),
                        browsers=memory.browsers_memory(engine.profiles, meter=meter),
                        driver=memory.process_memory(engine.service.pid),
                        available_mb=round(psutil.virtual_memory().available / 2**20, 1))


_sample = measure  # MemoryWatchdog's default (its parameter `measure` hides the name)


def malloc_trim() -> bool:
    """Hand freed C-heap pages back to the OS (glibc); gc.collect alone rarely lowers RSS."""
    c = libc()
    return bool(c is not None and hasattr(c, "malloc_trim") and c.malloc_trim(0))


class MemoryWatchdog(PeriodicThread):
    thread_name = "wa-watchdog"

    def __init__(self, engine, measure: Callable | None = None, clock=time.monotonic):
        super().__init__()
        self.engine = engine
        self.config = engine.config
        self.interval = float(self.config["WATCHDOG_INTERVAL"])
        # Each browser process's PSS read every 4th pass, or at once when its RSS moves.
        self.meter = memory.PssMeter()
        self._measure = measure or functools.partial(_sample, meter=self.meter)
        self._clock = clock
        # Callables that drop cached data when the worker is over its limit (caches add theirs).
        self.trimmers: list[Callable[[], object]] = []
        self.last_sample: MemorySample | None = None
        self.history = MemoryHistory()  # the dashboard's chart: GET /performance/history
        self.last_run: float | None = None
        self.started_at: float | None = None
        self._recycled: dict[str, float] = {}
        self._killed: dict[str, float] = {}
        self._adhoc: tuple[float, dict] = (float("-inf"), {})
        self._adhoc_lock = threading.Lock()
        self.ladder = MemoryLadder(engine, self._recycle, clock)

    # ---- thread ----
    def starting(self) -> None:
        self.started_at = self._clock()

    def overdue(self) -> bool:
        """True when the last pass is older than 3 intervals (the thread hangs or died)."""
        last = self.last_run if self.last_run is not None else self.started_at
        return last is None or self._clock() - last > 3 * self.interval

    # ---- one pass ----
    @property
    def total_limit_mb(self) -> float:
        limit = float(self.config["TOTAL_MEMORY_LIMIT_MB"])
        if limit > 0:
            return limit
        return float(round(psutil.virtual_memory().total / 2**20 * AUTO_TOTAL_SHARE))

    def browser_memory(self, session_id: str) -> dict | None:
        """The session's browser in the last sample (what /performance shows), else measured now."""
        sample = self.last_sample
        if sample is not None and session_id in sample.browsers:
            return sample.browsers[session_id]
        # Not sampled yet (a browser that just started, or no browser at all): one walk of the
        # process table serves every such session for a moment. A walk per session made
        # GET /sessions cost sessions x processes (a second at 100 sessions on a busy box).
        with self._adhoc_lock:
            at, found = self._adhoc
            if self._clock() - at > ADHOC_TTL:
                found = memory.browsers_memory(self.engine.profiles)
                self._adhoc = (self._clock(), found)
        return found.get(session_id)

    def run_once(self) -> list[str]:
        """Measure and act once; return the actions taken (gc, recycle, unstick...)."""
        actions: list[str] = []
        sessions = {s.id: s for s in self.engine.manager.list()}
        self._unstick(sessions, actions)
        # Every pass, not only over the limit: what the worker frees (a contact list's bodies
        # replaced, a batch of events delivered) stays in malloc's heap until trimmed, and
        # an hour of traffic grew the RSS that way (docs/performance.md "The worker's heap").
        malloc_trim()
        sample = self._measure(self.engine)
        self._collect_garbage(sample, actions)
        recycled = self._recycle_over_limit(sample, sessions, actions)
        recycled |= self.ladder.run(sample, {sid: s for sid, s in sessions.items()
                                             if sid not in recycled}, actions)
        self._recycle_fattest(sample, sessions, recycled, actions)
        self.last_sample = sample
        self.history.add(sample, sessions.values())
        self.last_run = self._clock()
        return actions

    def _act(self, action: str, actions: list[str]) -> None:
        metrics.WATCHDOG_ACTIONS.labels(action).inc()
        actions.append(action)

    def _unstick(self, sessions: dict, actions: list[str]) -> None:
        limit = float(self.config["STUCK_TIMEOUT"])
        for sid, session in sessions.items():
            busy = session.busy_for()
            if busy <= limit:
                self._killed.pop(sid, None)
                continue
            since = session.busy_since
            if self._killed.get(sid) == since and self.engine.service.pid:
                # Killing the browser did not end the call: chromedriver itself hangs.
                log.warning("watchdog: session %s still blocked %.0fs after its browser was "
                            "killed; restarting chromedriver", sid, busy)
                self.engine.service.stop()
                self._act("restart_chromedriver", actions)
                continue
            log.warning("watchdog: session %s: a browser call has run %.0fs (STUCK_TIMEOUT "
                        "%.0fs); killing its browser to recover it", sid, busy, limit)
            if session.browser is not None:
                session.kill_browser("browser_stuck")
            else:  # stuck while launching: no BrowserProcess yet, its processes name the profile
                self.engine.reap_browser(sid)
            self._killed[sid] = since
            self._act("unstick", actions)

    def _collect_garbage(self, sample: MemorySample, actions: list[str]) -> None:
        limit = float(self.config["WORKER_MEMORY_LIMIT_MB"])
        before = sample.worker["rssMb"]
        if not limit or before <= limit:
            return
        collected = gc.collect()
        trimmed = 0
        for trim in self._trimmers():
            try:
                trim()
                trimmed += 1
            except Exception:
                log.exception("watchdog: cache trim failed")
        malloc_trim()
        sample.worker = worker_memory()
        log.warning("watchdog: worker RSS %.0f MB over WORKER_MEMORY_LIMIT_MB %.0f: gc collected "
                    "%d objects, %d cache(s) trimmed; RSS now %.0f MB", before, limit, collected,
                    trimmed, sample.worker["rssMb"])
        self._act("gc", actions)

    def _trimmers(self) -> list[Callable[[], object]]:
        found = list(self.trimmers)
        cache = getattr(self.engine, "cache", None)
        for name in ("trim", "clear"):
            if callable(getattr(cache, name, None)):
                found.append(getattr(cache, name))
                break
        return found

    def _may_recycle(self, session, now: float) -> bool:
        # CONNECTED only: recycling a browser that is still loading or showing a QR gains nothing.
        cooldown = float(self.config["RECYCLE_COOLDOWN"])
        return (session is not None and session.status == Status.CONNECTED
                and now - self._recycled.get(session.id, float("-inf")) > cooldown)

    def _recycle(self, session, reason: str, detail: str, actions: list[str]) -> None:
        log.warning("watchdog: recycling session %s (%s): %s", session.id, reason, detail)
        self._recycled[session.id] = self._clock()
        session.restart(reason)
        self._act("recycle", actions)

    def _recycle_over_limit(self, sample, sessions, actions) -> set[str]:
        limit = float(self.config["BROWSER_MEMORY_LIMIT_MB"])
        recycled: set[str] = set()
        if not limit:
            return recycled
        now = self._clock()
        for sid, mem in sample.browsers.items():
            session = sessions.get(sid)
            if mem["pssMb"] > limit and self._may_recycle(session, now):
                self._recycle(session, "memory_limit",
                              f"browser PSS {mem['pssMb']:.0f} MB over BROWSER_MEMORY_LIMIT_MB "
                              f"{limit:.0f}", actions)
                recycled.add(sid)
        return recycled

    def _recycle_fattest(self, sample, sessions, recycled, actions) -> None:
        limit = self.total_limit_mb
        if sample.total_mb <= limit:
            return
        now = self._clock()
        fattest = sorted(((mem["pssMb"], sid) for sid, mem in sample.browsers.items()
                          if sid not in recycled and self._may_recycle(sessions.get(sid), now)),
                         reverse=True)
        if not fattest:
            log.warning("watchdog: total %.0f MB over the limit %.0f MB and nothing to recycle; "
                        "new sessions are refused", sample.total_mb, limit)
            return
        pss, sid = fattest[0]
        self._recycle(sessions[sid], "memory_total",
                      f"total {sample.total_mb:.0f} MB over {limit:.0f} MB; its browser is the "
                      f"fattest ({pss:.0f} MB)", actions)

    # ---- admission (called by the session manager on create/start) ----
    def admission_refusal(self) -> str | None:
        """Why one more session would not fit in memory, or None when it would."""
        sample = self.last_sample
        if sample is None:
            return None
        sizes = [b["pssMb"] for b in sample.browsers.values()]
        estimate = (sum(sizes) / len(sizes) if sizes
                    else float(self.config["BROWSER_MEMORY_ESTIMATE_MB"]))
        if self.config["SELENIUM_REMOTE_URL"]:
            estimate = 0.0  # browsers run on the grid's machines, not in this one's memory
        # Sessions started since the sample are not in it yet: count them at the estimate.
        pending = sum(1 for s in self.engine.manager.list()
                      if s.running and s.id not in sample.browsers)
        projected = sample.total_mb + (pending + 1) * estimate
        reserve = float(self.config["MEMORY_RESERVE_MB"])
        reason = None
        if projected > self.total_limit_mb:
            reason = (f"one more session (~{estimate:.0f} MB) would take memory to "
                      f"{projected:.0f} MB, over the limit of {self.total_limit_mb:.0f} MB")
        elif reserve and sample.available_mb - (pending + 1) * estimate < reserve:
            reason = (f"the machine has {sample.available_mb:.0f} MB available; one more "
                      f"session (~{estimate:.0f} MB) would leave less than {reserve:.0f} MB")
        if reason:
            log.warning("watchdog: refusing a new session: %s", reason)
            metrics.WATCHDOG_ACTIONS.labels("refuse").inc()
        return reason
