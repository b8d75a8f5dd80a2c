"""The last hour of memory and sessions, sampled by the watchdog, and how many more sessions fit.

Kept in memory (a deque per worker process): the chart it feeds is about the last hour of this
process, which a restart ends anyway.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ..vocabulary import Status

HISTORY_SECONDS = 3600.0


class MemoryHistory:
    def __init__(self, span: float = HISTORY_SECONDS, clock=time.time):
        self.span = span
        self._clock = clock
        self._points: deque[dict] = deque()
        self._lock = threading.Lock()

    def add(self, sample, sessions) -> None:
        """Record one watchdog sample and the session counts at the same moment."""
        now = self._clock()
        point = {"at": round(now, 1), "workerMb": sample.worker["rssMb"],
                 "browsersMb": sample.browsers_mb, "totalMb": sample.total_mb,
                 "availableMb": sample.available_mb,
                 "activeSessions": sum(1 for s in sessions if s.running),
                 "connectedSessions": sum(1 for s in sessions if s.status == Status.CONNECTED)}
        with self._lock:
            self._points.append(point)
            while self._points and self._points[0]["at"] < now - self.span:
                self._points.popleft()

    def points(self) -> list[dict]:
        with self._lock:
            return list(self._points)


def capacity(engine, sample) -> dict:
    """How many more sessions fit in memory now, by the watchdog's admission rule."""
    config = engine.config
    sizes = [b["pssMb"] for b in sample.browsers.values()]
    estimate = sum(sizes) / len(sizes) if sizes else float(config["BROWSER_MEMORY_ESTIMATE_MB"])
    sessions = engine.manager.list()
    pending = sum(1 for s in sessions if s.running and s.id not in sample.browsers)
    by_count = max(0, int(config["MAX_SESSIONS"]) - len(sessions))
    if config["SELENIUM_REMOTE_URL"] or estimate <= 0:
        fit = by_count  # browsers run on the grid's machines, not in this one's memory
    else:
        under_limit = (engine.watchdog.total_limit_mb - sample.total_mb) / estimate
        reserve = float(config["MEMORY_RESERVE_MB"])
        above_reserve = (sample.available_mb - reserve) / estimate if reserve else under_limit
        fit = max(0, min(by_count, int(min(under_limit, above_reserve)) - pending))
    return {"sessionsThatFit": fit, "perSessionMb": round(estimate, 1),
            "availableMb": sample.available_mb, "maxSessions": int(config["MAX_SESSIONS"])}
