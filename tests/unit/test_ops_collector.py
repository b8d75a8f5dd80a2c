"""The worker's garbage collector: collections timed for /performance and /metrics, and the
start-up heap frozen out of the collector's walks (gunicorn.conf.py does that once)."""

import gc
import weakref

from prometheus_client import CollectorRegistry, generate_latest

from waengine.ops import collector
from waengine.ops.collector import PauseMeter, freeze_startup_heap

from .test_ops_monitoring import connected  # noqa: F401 (a fixture)


def test_each_collection_is_timed_by_generation():
    meter = PauseMeter()
    gc.callbacks.append(meter)
    try:
        gc.collect()
        gc.collect(0)
    finally:
        gc.callbacks.remove(meter)
    # at least these two (another thread may cross a threshold meanwhile)
    assert meter.count[2] >= 1 and meter.count[0] >= 1
    assert 0 < meter.longest[2] <= meter.total[2]
    registry = CollectorRegistry()
    registry.register(meter)

    def sample(suffix, **labels):
        return registry.get_sample_value(f"waengine_gc_pause_seconds{suffix}",
                                         {"generation": "2", **labels})

    # the same pauses as a Prometheus histogram: count, sum, and cumulative buckets
    assert sample("_count") == meter.count[2] and sample("_sum") == meter.total[2]
    counts = [sample("_bucket", le=repr(le)) for le in collector.BUCKETS]
    assert counts == sorted(counts) and sample("_bucket", le="+Inf") == meter.count[2]
    longest_bucket = next((i for i, le in enumerate(collector.BUCKETS)
                           if meter.longest[2] <= le), None)
    if longest_bucket is not None:  # every pause is at most the longest one
        assert counts[longest_bucket] == meter.count[2]
    assert b"# TYPE waengine_gc_pause_seconds histogram" in generate_latest(registry)


class _Node:
    pass


def _cycle() -> _Node:
    node = _Node()
    node.self = node  # only the collector frees it once it is dropped
    return node


def test_the_start_up_heap_is_frozen_and_later_objects_are_not():
    kept = _cycle()  # alive when the heap is frozen, as the app is
    try:
        frozen = freeze_startup_heap()
        # this test process's modules, at least; other threads may free a frozen object since
        assert frozen > 1000 and 0 < gc.get_freeze_count() <= frozen
        frozen_ref = weakref.ref(kept)
        del kept
        later = _cycle()
        later_ref = weakref.ref(later)
        del later
        gc.collect()
        assert later_ref() is None  # made after the freeze: walked and collected
        assert frozen_ref() is not None  # frozen: not walked (the leak a late freeze risks)
    finally:
        gc.unfreeze()  # a test process keeps creating apps: never leave it frozen
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert frozen_ref() is None  # walked again once unfrozen


def test_performance_and_metrics_report_the_collector(connected):  # noqa: F811
    client = connected.test_client()
    headers = {"X-API-Key": "k1"}
    gc.collect()  # at least one full collection timed by the installed meter
    body = client.get("/performance", headers=headers).json["gc"]
    assert body["frozenObjects"] == 0  # only gunicorn's worker freezes
    full = body["generations"][2]
    assert full["collections"] >= 1 and full["pauseMaxMs"] > 0
    assert full["pauseTotalMs"] >= full["pauseMaxMs"]
    text = client.get("/metrics", headers=headers).get_data(as_text=True)
    assert 'waengine_gc_pause_seconds_count{generation="2"}' in text
    assert collector.PAUSES in gc.callbacks and gc.callbacks.count(collector.PAUSES) == 1
