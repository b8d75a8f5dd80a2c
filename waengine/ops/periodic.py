"""A named daemon thread that runs a pass every interval until it is stopped."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PeriodicThread:
    """Subclasses set `thread_name`, `join_timeout` and `interval`, and define run_once()."""

    thread_name = "wa-periodic"
    join_timeout = 30.0
    run_at_start = True  # False: the first pass waits an interval
    interval: float

    def __init__(self):
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and wake(): the pause ends now
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.alive:
            return
        self._stop.clear()
        self._wake.clear()
        self.starting()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def starting(self) -> None:
        """Called in start() before the thread runs."""

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(self.join_timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %gs", self.thread_name, self.join_timeout)

    def wake(self) -> None:
        """Run the next pass now rather than at the end of the interval."""
        self._wake.set()

    def _pause(self) -> bool:
        """Wait an interval, or until wake() or stop(); whether the thread is stopping."""
        self._wake.wait(self.interval)
        self._wake.clear()
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        if not self.run_at_start and self._pause():
            return
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # one bad pass must not end the thread
                log.exception("%s pass failed", self.thread_name)
            self._pause()

    def run_once(self):
        raise NotImplementedError
