"""The session's side of the dead-socket ladder (engine/ladder.py): a mixin of Session.

After each poll of a CONNECTED page the worker asks the ladder what to do, shows DEGRADED (the
session's `detail`, its `statusDetails` the reason and step), publishes `session.degraded` for
each step and `session.recovered` when traffic flows again, and carries the step out: a page
reload keeps the browser and the login; a relaunch goes through the worker loop's Restart.
"""

from __future__ import annotations

import logging
import time

from ..errors import WAEngineError
from .ladder import Ladder
from .status import SOCKET_DOWN
from .worker import Restart

log = logging.getLogger("waengine.engine.session")
DEGRADED = "DEGRADED"
# Page events that crossed the socket: WhatsApp delivered something, or answered a send.
TRAFFIC = ("message", "message.ack", "message.revoked", "message.edited", "call.received",
           "group.participants", "poll.vote")


class FlowWatch:
    """DEGRADED detection and recovery steps of a Session."""

    ladder: Ladder

    def _watch_flow(self, state: dict, detail: str | None) -> tuple[str | None, dict | None, str | None]:
        """(detail, details, action) of a CONNECTED page after this poll."""
        down = state.get("mode") == "OFFLINE" or (
            state.get("mode") == "MAIN" and state.get("info") in SOCKET_DOWN)
        action = self.ladder.observe(state, down)
        if self.ladder.active:
            return DEGRADED, self.ladder.view(), action
        return detail, None, action

    def _saw_traffic(self, kind: str, data: dict) -> None:
        """A page event was delivered: one that crossed the socket means it carries again."""
        if kind not in TRAFFIC:
            return
        if kind == "message.ack" and not (isinstance(data.get("ack"), int) and data["ack"] >= 1):
            return
        self.ladder.flowed()
        if self.ladder.active:
            self._wake()  # the worker publishes session.recovered at once

    def _take_step(self, action: str | None) -> None:
        """Publish and carry out what the ladder decided (on the worker thread)."""
        if action is None:
            return
        if action == "recovered":
            log.info("session %s: traffic flows again; no longer DEGRADED", self.id)
            since = self._recovery.get("since")
            self._on_event(self, "session.recovered", {
                **self._recovery, "seconds": round(time.time() - since, 1) if since else None})
            self._recovery = {}
            return
        view = self.ladder.view()
        data = {**view, "action": view["step"]}
        self._recovery = {"reason": view["reason"], "since": view["since"],
                          "steps": [*self._recovery.get("steps", ()), view["step"]]}
        log.warning("session %s: connected but nothing flows (%s): %s", self.id, view["reason"],
                    view["step"])
        self._on_event(self, "session.degraded", data)
        if view["step"] == "reload":
            self._reload_page()
        elif view["step"] == "relaunch":
            raise Restart("degraded")

    def _reload_page(self) -> None:
        """Load WhatsApp Web again in the same browser: the login stays in its profile."""
        try:
            with self._busy():
                self._bridge.reload()
        except WAEngineError as e:  # the next step (a relaunch) follows if it stays dead
            log.warning("session %s: reload failed: %s", self.id, e.message)
        self._load_deadline = time.monotonic() + self._config["WA_LOAD_TIMEOUT"]
