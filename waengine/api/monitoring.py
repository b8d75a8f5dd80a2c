"""Monitoring: /health for load balancers, /performance for people, /metrics for Prometheus.

None of them touches a browser: they read the engine's state and the watchdog's last sample.
"""

from __future__ import annotations

import os
from collections import Counter

from apiflask import APIBlueprint
from flask import Response, current_app

from ..ops import metrics
from ..ops.history import capacity
from ..ops.watchdog import measure
from . import docs
from .context import engine

bp = APIBlueprint("monitoring", __name__, tag="Monitoring")
MIN_FREE_BYTES = 1 << 20  # SQLite cannot commit an event on a full disk


def unhealthy_reason(eng) -> str | None:
    """Why the engine cannot serve, from cheap checks only (a load balancer asks every second)."""
    if not eng.started:
        return "engine not started"
    for name, thread in (("watchdog", eng.watchdog), ("reaper", eng.reaper)):
        if not thread.alive:
            return f"the {name} thread is not running"
    if eng.watchdog.overdue():
        return f"the watchdog has not run for 3 intervals ({eng.watchdog.interval:.0f}s each)"
    flapping = eng.service.flapping()
    if flapping:
        return flapping
    if eng.store.failing:
        return f"the database cannot be written: {eng.store.failing}"
    if not os.access(eng.data_dir, os.W_OK):
        return f"data folder {eng.data_dir} is not writable"
    disk = os.statvfs(eng.data_dir)
    if disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
        return f"the disk of data folder {eng.data_dir} is full"
    return None


@bp.get("/health")
@bp.doc(operation_id="getHealth",
        summary="Whether the engine can serve (no auth; for load balancers)",
        responses={**docs.responses(docs.Health, description="The engine serves"),
                   **docs.responses(docs.Health, 503, description="It cannot; `reason` says why")})
def health():
    eng = engine()
    counts = dict(Counter(s.status.value for s in eng.manager.list()))
    # A sink's broker that is down is reported here, never as unhealthy: the gateway serves.
    report = eng.sink_health()
    sinks = {"sinks": report} if report else {}
    reason = unhealthy_reason(eng)
    if reason:
        return {"status": "unhealthy", "reason": reason, "sessions": counts, **sinks}, 503
    return {"status": "ok", "sessions": counts, **sinks}


@bp.get("/performance")
@bp.doc(operation_id="getPerformance",
        summary="Memory of the worker and of every browser, response times",
        responses=docs.responses(docs.Performance))
def performance():
    eng = engine()
    sample = eng.watchdog.last_sample or measure(eng)  # before the first pass: measure now
    return {**metrics.performance_report(current_app, sample), "capacity": capacity(eng, sample)}


@bp.get("/performance/history")
@bp.doc(operation_id="getPerformanceHistory",
        summary="Memory and sessions over the last hour, one point per watchdog pass",
        responses=docs.responses(docs.PerformanceHistory))
def performance_history():
    eng = engine()
    return {"intervalSeconds": eng.watchdog.interval, "data": eng.watchdog.history.points()}


@bp.get("/metrics")
@bp.doc(operation_id="getMetrics",
        summary="Prometheus metrics",
        responses=docs.responses({"type": "string"}, content_type="text/plain",
                                 description="Prometheus text exposition format 0.0.4"))
def prometheus_metrics():
    body, content_type = metrics.render(current_app)
    return Response(body, content_type=content_type)
