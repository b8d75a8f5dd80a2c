"""GET /health, /performance and /metrics with a fake browser."""

import os
import re
import time

import pytest
from prometheus_client import Counter

from waengine import create_app, engine_of, wiring
from waengine.ops import metrics

from ..conftest import wait_for
from .conftest import FAST
from .fakes import connect, status_of

MB = re.compile(r"^\d+ MB$")


@pytest.fixture
def connected(make_app, factory):
    app = make_app(API_KEYS=["k1"])
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"}, headers={"X-API-Key": "k1"})
    wait_for(lambda: client.get("/sessions/s1", headers={"X-API-Key": "k1"}).json["status"]
             == "CONNECTED")
    wait_for(lambda: engine_of(app).watchdog.last_run is not None)
    return app


def test_health_needs_no_key_and_counts_sessions_by_status_for_a_key(connected):
    resp = connected.test_client().get("/health")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}  # nothing more to strangers
    keyed = connected.test_client().get("/health", headers={"X-API-Key": "k1"})
    assert keyed.json == {"status": "ok", "sessions": {"CONNECTED": 1}}


def test_health_is_503_before_the_engine_starts(tmp_path, factory):
    app = create_app({**FAST, "DATA_DIR": str(tmp_path / "d"), "API_KEYS": []}, factory=factory)
    try:
        resp = app.test_client().get("/health")
        assert resp.status_code == 503
        assert resp.json["status"] == "unhealthy" and resp.json["reason"] == "engine not started"
    finally:
        engine_of(app).close()


def test_health_is_503_when_the_watchdog_is_overdue_or_dead(make_app):
    app = make_app(WATCHDOG_INTERVAL=3600.0)
    engine = engine_of(app)
    client = app.test_client()
    wait_for(lambda: engine.watchdog.last_run is not None)
    assert client.get("/health").status_code == 200
    engine.watchdog.last_run = time.monotonic() - 3 * 3600.0 - 1
    resp = client.get("/health")
    assert resp.status_code == 503 and "watchdog has not run" in resp.json["reason"]
    engine.watchdog.stop()
    assert "watchdog thread is not running" in client.get("/health").json["reason"]


def test_health_is_503_when_the_data_folder_is_not_writable(app, monkeypatch):
    monkeypatch.setattr(wiring.os, "access", lambda path, mode: False)
    resp = app.test_client().get("/health")
    assert resp.status_code == 503 and "not writable" in resp.json["reason"]


def test_health_is_503_when_the_disk_is_full(app, monkeypatch):
    full = os.statvfs_result((4096, 4096, 100, 0, 0, 10, 0, 0, 0, 255))
    monkeypatch.setattr(wiring.os, "statvfs", lambda path: full)
    resp = app.test_client().get("/health")
    assert resp.status_code == 503 and "full" in resp.json["reason"]


def test_performance_has_the_seed_shape_with_numbers_and_browsers(connected):
    client = connected.test_client()
    headers = {"X-API-Key": "k1"}
    assert client.get("/performance").status_code == 401
    for _ in range(3):
        client.get("/sessions", headers=headers)
    body = client.get("/performance", headers=headers).json
    memory = body["memoryUsage"]
    for key in ("rss", "heapUsed", "heapTotal", "external", "browsers", "total"):
        assert MB.match(memory[key]), (key, memory[key])
        assert isinstance(memory[f"{key}Mb"], (int, float))
    assert memory["rssMb"] > 0 and memory["totalMb"] >= memory["rssMb"]
    perf = body["performance"]
    assert perf["activeSessions"] == 1
    assert perf["averageResponseTime"] > 0
    assert perf["cacheHitRate"] is None or 0 <= perf["cacheHitRate"] <= 1
    assert body["sessions"] == [{"id": "s1", "status": "CONNECTED", "browserRssMb": None,
                                 "browserPssMb": None, "browserUssMb": None, "processes": 0,
                                 "memoryBudget": {"budgetMb": 450.0, "usePercent": None,
                                                  "ladder": {"nextStep": "trim_moderate",
                                                             "taken": {"trim_moderate": 0,
                                                                       "trim_critical": 0,
                                                                       "reload": 0,
                                                                       "restart": 0},
                                                             "last": None}},
                                 "node": engine_of(connected).leases.node_id}]
    assert body["watchdog"]["limitsMb"]["total"] > 0


def test_cache_hit_rate_is_hits_over_lookups_of_every_kind(monkeypatch):
    fresh = Counter("waengine_cache_requests_total", "test copy", ["kind", "result"],
                    registry=None)
    monkeypatch.setattr(metrics, "CACHE_REQUESTS", fresh)
    assert metrics.cache_hit_rate() is None
    fresh.labels("contacts", "hit").inc(2)
    fresh.labels("groups", "hit").inc(1)
    fresh.labels("contacts", "miss").inc(1)
    assert metrics.cache_hit_rate() == 0.75


def test_metrics_speak_prometheus_and_count_routes_sessions_and_webhooks(connected):
    client = connected.test_client()
    headers = {"X-API-Key": "k1"}
    assert client.get("/metrics").status_code == 401
    client.get("/sessions/nope", headers=headers)
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "version=0.0.4" in resp.headers["Content-Type"]
    text = resp.get_data(as_text=True)
    assert ('waengine_http_requests_total{method="GET",route="/sessions/<session_id>",'
            'status="404"}') in text
    assert 'waengine_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert 'waengine_sessions{status="CONNECTED"} 1.0' in text
    assert 'waengine_sessions{status="FAILED"} 0.0' in text
    assert 'waengine_webhook_deliveries_total{result="delivered"} 0.0' in text
    assert "waengine_watchdog_last_run_age_seconds" in text
    assert "waengine_memory_total_bytes" in text
    for name in ("waengine_browser_restarts_total", "waengine_watchdog_actions_total",
                 "waengine_cache_requests_total", "waengine_reaper_actions_total"):
        assert f"# TYPE {name} counter" in text


def test_two_apps_in_one_process_do_not_clash_on_metrics(make_app):
    first, second = make_app(), make_app()
    assert first.test_client().get("/metrics").status_code == 200
    assert second.test_client().get("/metrics").status_code == 200


def test_a_session_that_failed_is_counted_by_status(make_app, factory):
    app = make_app()
    client = app.test_client()
    factory.on_open = lambda bridge: setattr(bridge, "dead", True)
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "FAILED")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'waengine_sessions{status="FAILED"} 1.0' in text
    assert 'waengine_browser_restarts_total{reason="browser_crashed"}' in text
