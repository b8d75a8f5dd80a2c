"""The worker's Python garbage collector: the start-up heap kept out of its walks, its pauses
measured.

A collection holds the GIL for as long as it walks, in whichever thread crossed the allocation
threshold, so under load it lands inside a request. A full collection walks every container
object the worker holds: at 100 sessions they took 27-95 ms (docs/performance.md). Much of
what they walk was there before the first request: modules, the app, its routes and schemas
(73,041 under gunicorn), which live as long as the worker.

`freeze_startup_heap()` moves those into the collector's permanent generation (gc.freeze):
later collections skip them, and they are freed by reference counting as before. The gunicorn
worker calls it once, after loading the app and before starting the engine (gunicorn.conf.py).
Something frozen that later becomes cyclic garbage is never collected, so it is done once, at
start-up, and never in a process that keeps creating apps (the test suite).

`PAUSES` records every collection: waengine_gc_pause_seconds{generation} on /metrics, and
count, total and longest pause per generation on /performance.
"""

from __future__ import annotations

import bisect
import gc
import logging
import threading
import time
from itertools import accumulate

from prometheus_client import REGISTRY
from prometheus_client.core import HistogramMetricFamily

log = logging.getLogger(__name__)

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_LES = [repr(bound) for bound in BUCKETS] + ["+Inf"]  # Prometheus's `le` labels


class PauseMeter:
    """gc.callbacks entry timing each collection (collections never nest, so one start).

    The callback runs wherever a collection starts, even inside code holding a lock, so it
    takes none: it only adds to lists of numbers, which /metrics reads as a histogram.
    """

    def __init__(self) -> None:
        self._started = 0.0
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self.buckets = [[0] * (len(BUCKETS) + 1) for _ in range(3)]  # the last one: +Inf
        self._lock = threading.Lock()

    @property
    def count(self) -> list[int]:
        """Collections by generation: every one is in exactly one bucket."""
        return [sum(buckets) for buckets in self.buckets]

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        g = info["generation"]
        self.total[g] += took
        if took > self.longest[g]:
            self.longest[g] = took
        self.buckets[g][bisect.bisect_left(BUCKETS, took)] += 1  # le: took <= bound

    def install(self) -> None:
        """Start timing collections (once per process)."""
        with self._lock:
            if self not in gc.callbacks:
                gc.callbacks.append(self)

    def collect(self):
        """waengine_gc_pause_seconds{generation} for Prometheus (a registry's collector)."""
        family = HistogramMetricFamily(
            "waengine_gc_pause_seconds", "Python garbage collections in this process by "
            "generation (0, 1, 2 = full), timed from start to stop: the GIL is held throughout",
            labels=["generation"])
        for g in range(3):
            family.add_metric([str(g)], list(zip(_LES, accumulate(list(self.buckets[g])))),
                              sum_value=self.total[g])
        yield family

    def report(self) -> dict:
        """/performance's `gc`: objects frozen, and per generation the collections timed."""
        count = self.count
        return {
            "frozenObjects": gc.get_freeze_count(),
            "generations": [{"generation": g, "collections": count[g],
                             "pauseTotalMs": round(self.total[g] * 1000, 2),
                             "pauseMaxMs": round(self.longest[g] * 1000, 2)}
                            for g in range(3)],
        }


PAUSES = PauseMeter()
REGISTRY.register(PAUSES)


def freeze_startup_heap() -> int:
    """Collect, then freeze what is alive (the app as loaded); returns the objects frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("garbage collector: %d start-up objects frozen out of its walks (%.0f ms)",
             frozen, (time.perf_counter() - started) * 1000)
    return frozen
