"""Connected but dead: a session whose socket looks open while nothing flows (docs/sessions.md,
"Bad days").

WhatsApp Web can keep stream mode MAIN and report no error while its socket carries nothing:
sends wait with the clock icon (ack 0) and nothing arrives. Only a page reload or a new browser
brings it back. The `Ladder` reads the signs (a send of ours stuck at pending in the page, sends
that time out or that WhatsApp refuses one after another, a socket the page itself reports down)
and climbs one step at a time while they persist: reload the page (the login stays), relaunch the
browser, then alert and stay DEGRADED. Any traffic (an incoming message, a receipt, a send
WhatsApp took) ends it.

Pure logic: the session's worker thread asks it what to do after each poll (observe) and carries
the step out; the sender and the event delivery report what they see from their own threads.
"""

from __future__ import annotations

import threading
import time

# The steps, in order; each is taken only when the signs persist after the one before.
STEPS = ("reload", "relaunch", "alert")
# Why a session is DEGRADED (the `reason` of its details and of session.degraded).
ACKS_PENDING = "acks_pending"  # a send of ours has waited at ack 0 (clock icon) too long
SENDS_TIMED_OUT = "sends_timed_out"  # sends in a row got no answer within COMMAND_TIMEOUT
SENDS_REFUSED = "sends_refused"  # sends in a row WhatsApp refused (ERROR_NETWORK, ...)
SOCKET_DOWN = "socket_down"  # the page reports its socket down (StreamInfo OFFLINE, ...)


class Ladder:
    """The DEGRADED state of one session and the recovery step it is on."""

    def __init__(self, config: dict, clock=time.monotonic, wall=time.time):
        self.ack_timeout = float(config["DEGRADED_ACK_TIMEOUT"])
        self.send_failures = int(config["DEGRADED_SEND_FAILURES"])
        self.offline_after = float(config["DEGRADED_OFFLINE_AFTER"])
        self.step_after = float(config["DEGRADED_STEP_AFTER"])
        self.clock, self.wall = clock, wall
        self._lock = threading.Lock()
        self.reason: str | None = None  # set while DEGRADED
        self.step: str | None = None  # the last step taken
        self.since: float | None = None  # wall time it became DEGRADED
        self._step_at = 0.0
        self._timeouts = 0  # sends in a row that timed out
        self._refusals = 0  # sends in a row WhatsApp refused
        self._sign: str | None = None  # a sign of a dead socket since the last step
        self._flowed = False  # traffic since DEGRADED
        self._down_since: float | None = None

    @property
    def active(self) -> bool:
        return self.reason is not None

    # ---- reports from other threads ----
    def send_timed_out(self) -> None:
        with self._lock:
            self._timeouts += 1
            self._refusals = 0
            if self._timeouts >= self.send_failures:
                self._sign = self._sign or SENDS_TIMED_OUT

    def send_refused(self) -> None:
        with self._lock:
            self._refusals += 1
            self._timeouts = 0
            if self._refusals >= self.send_failures:
                self._sign = self._sign or SENDS_REFUSED

    def flowed(self) -> None:
        """Traffic crossed the socket: a send WhatsApp took, an incoming message, a receipt."""
        with self._lock:
            self._timeouts = self._refusals = 0
            if self.reason is not None:
                self._flowed = True
            elif self._sign in (SENDS_TIMED_OUT, SENDS_REFUSED):
                self._sign = None

    # ---- the worker's question after each poll ----
    def observe(self, state: dict, socket_down: bool) -> str | None:
        """What to do now: "degraded" (the first step is due with it), a step of STEPS,
        "recovered", or None. `state` is the page's poll (`stalledMs`: how long its oldest send
        in flight has waited); `socket_down`: the page reports its socket down."""
        now = self.clock()
        with self._lock:
            if socket_down:
                self._down_since = self._down_since if self._down_since is not None else now
            else:
                self._down_since = None
            stalled = (state.get("stalledMs") or 0) / 1000.0
            if stalled >= self.ack_timeout:
                self._sign = ACKS_PENDING
            elif self._down_since is not None and now - self._down_since >= self.offline_after:
                self._sign = self._sign or SOCKET_DOWN
            if self.reason is not None and (self._flowed or (
                    self.reason == SOCKET_DOWN and self._down_since is None and not self._sign)):
                return self._recover()
            if self.reason is None:
                if not self._sign:
                    return None
                self.reason, self.since = self._sign, self.wall()
                return self._climb(now, "degraded")
            if self.step == STEPS[-1] or not self._sign or now - self._step_at < self.step_after:
                return None
            return self._climb(now, STEPS[STEPS.index(self.step) + 1])

    def _climb(self, now: float, action: str) -> str:
        self.step = STEPS[0] if action == "degraded" else action
        self._step_at, self._sign = now, None
        self._timeouts = self._refusals = 0
        return action

    def _recover(self) -> str:
        self.reason = self.step = self.since = None
        self._sign, self._flowed = None, False
        self._timeouts = self._refusals = 0
        return "recovered"

    def reset(self) -> None:
        """Forget it all: the session was started anew or linked again."""
        with self._lock:
            self._recover()
            self._down_since = None

    def view(self) -> dict | None:
        """The session's DEGRADED details: reason, the last step taken, since when (epoch s)."""
        if self.reason is None:
            return None
        return {"reason": self.reason, "step": self.step, "since": self.since}
