"""Per-session memory budgets: steps that give memory back while the session stays alive.

A browser whose PSS is over SESSION_MEMORY_BUDGET_MB climbs one step per watchdog pass, the
next pass measuring what the step gave back, and takes no step while it is under budget:

1. trim_moderate: a full JS garbage collection (HeapProfiler.collectGarbage) and a
   moderate memory-pressure signal (Memory.simulatePressureNotification), which makes
   Chromium drop its own caches;
2. trim_critical: the same with a critical signal;
3. reload: a soft page reload that keeps the login (the profile holds it), with the page's
   event queue empty, checked in the same script that reloads so no event can slip in
   between; a catch-up follows, as after any gap. It waits up to QUIET_WAIT passes for a quiet
   moment (no command running on the session, none in the last QUIET seconds). A session
   with steady traffic never has one: after those passes it reloads between two commands
   (none running; the reload is itself a command on the session's worker, so none starts
   during it), since the restart that would follow interrupts its clients longer;
4. restart: the browser relaunched from its profile (the watchdog's recycle), when the page
   is still over budget after its reload, or when no reload could be taken in RELOAD_WAIT
   passes (a page whose event queue never drains).

A reload or a restart gives a new page, and loading one leaves garbage a trim takes back (on
the field-weight page ~400 MB just loaded, ~260 MB after a trim): after either, the climb
takes the trims again before the next step, and each of the two is taken once per climb (a
restarted browser is not reloaded too). A climb ends when the browser is under END_BELOW of
its budget; between that and the budget it keeps its place, so a page that hovers at its
budget, each trim giving back a few MB, goes on to the reload on its next pass over instead
of being trimmed on every other pass.

BROWSER_MEMORY_LIMIT_MB stays the hard ceiling: a browser over it is recycled at once.
Every step is counted (waengine_memory_ladder_steps_total) and its gain kept, and /performance
and the dashboard show each session's budget use and the steps taken.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from ..errors import WAEngineError
from ..vocabulary import Status
from . import metrics

log = logging.getLogger(__name__)

STEPS = ("trim_moderate", "trim_critical", "reload", "restart")
QUIET = 60.0  # seconds without a command before a reload ("a quiet minute")
END_BELOW = 0.9  # a climb ends under this share of the budget
QUIET_WAIT = 2  # passes a reload waits for a quiet moment before it is taken between commands
RELOAD_WAIT = 10  # passes without a reload taken before the restart is taken instead


@dataclass
class Climb:
    """Where one session is on the ladder."""

    step: int = 0  # the next step to take
    # reload and restart taken in this climb: each gives a new page, whose load leaves garbage
    # the trims take back, so the trims come again after either; neither is taken twice
    replaced: set = field(default_factory=set)
    waited: int = 0  # passes the reload has waited (for a quiet moment, a drained queue)
    pending: tuple[str, float] | None = None  # the step taken last pass and the PSS before it
    taken: Counter = field(default_factory=Counter)
    last: dict | None = None  # {step, beforeMb, afterMb, gaveBackMb, at}

    def next_step(self) -> str | None:
        """The step this climb takes next; None: every step is taken."""
        while self.step < len(STEPS) and not self._open(STEPS[self.step]):
            self.step += 1
        return STEPS[self.step] if self.step < len(STEPS) else None

    def _open(self, step: str) -> bool:
        if step == "reload":  # a restarted browser has a new page already
            return not self.replaced
        return step != "restart" or "restart" not in self.replaced

    def view(self) -> dict:
        return {"nextStep": self.next_step(), "taken": {s: self.taken[s] for s in STEPS},
                "last": self.last}


class MemoryLadder:
    def __init__(self, engine, recycle, clock=time.monotonic, quiet: float = QUIET):
        self.engine = engine
        self.config = engine.config
        self._recycle = recycle  # the watchdog's recycle: (session, reason, detail, actions)
        self._clock = clock
        self.quiet = quiet
        self.climbs: dict[str, Climb] = {}

    @property
    def budget_mb(self) -> float:
        return float(self.config["SESSION_MEMORY_BUDGET_MB"])

    def usage(self, session_id: str, pss_mb: float | None) -> dict:
        """The session's budget use and ladder, as /performance and the dashboard show it."""
        budget = self.budget_mb
        climb = self.climbs.get(session_id) or Climb()
        return {"budgetMb": budget or None,
                "usePercent": round(100 * pss_mb / budget, 1) if budget and pss_mb else None,
                "ladder": climb.view()}

    def run(self, sample, sessions: dict, actions: list[str]) -> set[str]:
        """One pass: a step for every session over budget; the sessions restarted."""
        budget = self.budget_mb
        restarted: set[str] = set()
        for sid in list(self.climbs):
            if sid not in sessions:
                del self.climbs[sid]
        if not budget:
            return restarted
        for sid, mem in sample.browsers.items():
            session = sessions.get(sid)
            if session is None or session.status != Status.CONNECTED:
                continue
            climb = self.climbs.setdefault(sid, Climb())
            pss = mem["pssMb"]
            self._measured(sid, climb, pss)
            if pss <= budget:
                if pss <= budget * END_BELOW:
                    climb.step, climb.waited = 0, 0
                    climb.replaced.clear()
                continue
            step = climb.next_step()
            if step is None:
                continue  # every step taken and still over: the hard limit and the total act
            taken = self._take(session, climb, step, pss, actions)
            if taken in ("reload", "restart"):
                climb.replaced.add(taken)
                climb.step, climb.waited = 0, 0  # a new page: the trims first again
                if taken == "restart":
                    restarted.add(sid)
            elif taken is not None:
                climb.step += 1
        return restarted

    def _measured(self, sid: str, climb: Climb, pss: float) -> None:
        if climb.pending is None:
            return
        step, before = climb.pending
        climb.pending = None
        gave_back = round(before - pss, 1)
        climb.last = {"step": step, "beforeMb": round(before, 1), "afterMb": round(pss, 1),
                      "gaveBackMb": gave_back}
        metrics.MEMORY_LADDER_GAIN.labels(step).observe(max(0.0, gave_back))
        log.info("memory ladder: session %s %s gave back %.0f MB (%.0f → %.0f MB)", sid, step,
                 gave_back, before, pss)

    def _take(self, session, climb: Climb, step: str, pss: float,
              actions: list[str]) -> str | None:
        """The step taken (the restart when a reload never could be); None: none this pass."""
        detail = f"browser PSS {pss:.0f} MB over SESSION_MEMORY_BUDGET_MB {self.budget_mb:.0f}"
        try:
            if step == "restart":
                self._recycle(session, "memory_budget", detail, actions)
            elif step == "reload":
                if not self._may_reload(session, climb) or not session.reload_page_when_drained():
                    climb.waited += 1
                    if climb.waited < RELOAD_WAIT:
                        return None
                    log.warning("memory ladder: session %s could not reload in %d passes (its "
                                "page's events never drained); its browser is restarted "
                                "instead", session.id, climb.waited)
                    return self._take(session, climb, "restart", pss, actions)
            else:
                session.trim_memory("moderate" if step == "trim_moderate" else "critical")
        except WAEngineError as e:
            log.warning("memory ladder: session %s %s failed: %s", session.id, step, e.message)
            return None
        log.warning("memory ladder: session %s: %s (%s)", session.id, step, detail)
        climb.taken[step] += 1
        climb.pending = (step, pss)
        metrics.MEMORY_LADDER_STEPS.labels(step).inc()
        actions.append(f"ladder_{step}")
        return step

    def _may_reload(self, session, climb: Climb) -> bool:
        """No command running, and a quiet moment or QUIET_WAIT passes spent waiting for one."""
        if session.busy_for() > 0:
            return False
        return (climb.waited >= QUIET_WAIT
                or self._clock() - session.last_command_at >= self.quiet)
