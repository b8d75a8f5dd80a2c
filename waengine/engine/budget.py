"""The timeout budget of a browser command: COMMAND_TIMEOUT, shared by every layer that waits.

Three layers wait on one command, outermost first: the HTTP request (a send waits for its row),
the queue (a caller waits on the session worker's Future) and the page call (bridge.js races
the op). The request waits the whole budget; each layer inside gives up one `margin` before
the layer around it, so the outer layer hears the inner one's timeout and reports it as a
timeout (504 command_timeout) instead of running out itself (a 202 still queued, or a Future
nobody answered). A browser call running longer than the whole budget is stuck.
"""

from __future__ import annotations

from dataclasses import dataclass

# The margin between two layers: a tenth of the budget, at most a second (a reply crosses the
# worker's queue and a store write in milliseconds; a tenth keeps tests' short budgets ordered).
MARGIN_SHARE = 0.1
MARGIN_MAX = 1.0


@dataclass(frozen=True)
class Budget:
    total: float

    @classmethod
    def of(cls, config: dict) -> Budget:
        return cls(float(config["COMMAND_TIMEOUT"]))

    @property
    def margin(self) -> float:
        return min(MARGIN_MAX, self.total * MARGIN_SHARE)

    @property
    def http(self) -> float:
        """How long a request waits for its command (a send: for its row to end)."""
        return self.total

    @property
    def queue(self) -> float:
        """How long a caller waits on the worker's Future for the command's result."""
        return self.total - self.margin

    @property
    def page(self) -> float:
        """How long bridge.js lets the op run in the page before it answers a timeout."""
        return self.total - 2 * self.margin
