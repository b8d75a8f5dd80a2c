"""The worker's garbage collector: collections timed for /performance and /metrics, and the
start-up heap frozen out of the collector's walks (gunicorn.conf.py does that once)."""

import gc

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
    assert meter.count[2] == 1 and meter.count[0] >= 1
    assert 0 < meter.longest[2] <= meter.total[2]
    registry = CollectorRegistry()
    registry.register(meter)
    # the same pause as a Prometheus histogram: one observation, in every bucket from its own
    assert registry.get_sample_value("waengine_gc_pause_seconds_count",
                                     {"generation": "2"}) == 1
    assert registry.get_sample_value("waengine_gc_pause_seconds_sum",
                                     {"generation": "2"}) == meter.total[2]
    for le in collector.BUCKETS:
        assert registry.get_sample_value("waengine_gc_pause_seconds_bucket",
                                         {"generation": "2", "le": repr(le)}) == (
            1 if meter.total[2] <= le else 0)
    assert registry.get_sample_value("waengine_gc_pause_seconds_bucket",
                                     {"generation": "2", "le": "+Inf"}) == 1
    assert b"# TYPE waengine_gc_pause_seconds histogram" in generate_latest(registry)
    report = meter.report()["generations"]
    assert [g["generation"] for g in report] == [0, 1, 2]
    assert report[2]["collections"] == 1 and report[2]["pauseMaxMs"] > 0


def test_the_start_up_heap_is_frozen_and_later_objects_are_not():
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 1000  # this test process's modules, at least
        later = [{"n": i} for i in range(10)]
        assert gc.is_tracked(later) and gc.get_freeze_count() == frozen
        gc.collect()  # walks only what came after: the frozen part stays as it was
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # a test process keeps creating apps: never leave it frozen
    assert gc.get_freeze_count() == 0


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
