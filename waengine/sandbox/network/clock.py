"""Delayed work (acks, QR rotation) on a named thread; tests inject a fake clock instead."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class ThreadScheduler:
    """Runs callbacks after a delay on one daemon thread (started lazily)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            due = self._clock() + max(0.0, delay)
            heapq.heappush(self._heap, (due, next(self._counter), fn))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-scheduler", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                    not self._heap or self._heap[0][0] > self._clock()
                ):
                    wait = self._heap[0][0] - self._clock() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            fn()


