"""Monitoring: /health for load balancers, /performance for people, /metrics for Prometheus.

None of them touches a browser: they read the engine's state and the watchdog's last sample.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app

from .. import auth, forward
from ..ops import metrics
from . import docs
from .context import engine

bp = APIBlueprint("monitoring", __name__, tag="Monitoring")


@bp.get("/health")
@bp.doc(operation_id="getHealth",
        summary="Whether the engine can serve (no auth; for load balancers)",
        responses={**docs.responses(docs.Health, description="The engine serves"),
                   **docs.responses(docs.Health, 503, description="It cannot; `reason` says why")})
def health():
    eng = engine()
    found = eng.unhealthy_reason()
    body = {"status": "unhealthy", "reasonClass": found[0]} if found else {"status": "ok"}
    if auth.may_see_detail():  # counts, paths, errors and brokers: for key holders only
        body["sessions"] = eng.session_counts()
        if found:
            body["reason"] = found[1]
        degraded = eng.degraded_sessions()  # connected but dead: the gateway still serves
        if degraded:
            body["degraded"] = degraded
        versions = eng.wa_versions()  # what to compare when WhatsApp Web updates
        if versions:
            body["versions"] = versions
        restricted = eng.restrictions()  # WhatsApp's reach-out timelocks: the gateway serves
        if restricted:
            body["restricted"] = restricted
        # A sink's broker that is down is reported here, never as unhealthy: the gateway serves.
        report = eng.sink_health()
        if report:
            body["sinks"] = report
    return (body, 503) if found else body


@bp.get("/performance")
@bp.doc(operation_id="getPerformance",
        summary="Memory of the worker and of every browser, response times",
        responses=docs.responses(docs.Performance))
def performance():
    sample, capacity = engine().memory()
    report = {**metrics.performance_report(current_app, sample), "capacity": capacity}
    return engine().cluster_performance(report, local=forward.local_only())


@bp.get("/nodes")
@bp.doc(operation_id="listNodes",
        summary="The gateway processes sharing this store, with their free capacity",
        responses=docs.responses(docs.NodeList, errors=(503,)))
def list_nodes():
    return {"data": engine().nodes()}


@bp.post("/nodes/<node_id>/drain")
@bp.doc(operation_id="drainNode",
        summary="Move every session off a node (rolling upgrade); it takes no new session",
        responses=docs.responses(docs.Drain, 202, errors=(404, 409, 503)))
def drain_node(node_id):
    return engine().drain_node(node_id), 202


@bp.get("/performance/history")
@bp.doc(operation_id="getPerformanceHistory",
        summary="Memory and sessions over the last hour, one point per watchdog pass",
        responses=docs.responses(docs.PerformanceHistory))
def performance_history():
    return engine().memory_history()


@bp.get("/metrics")
@bp.doc(operation_id="getMetrics",
        summary="Prometheus metrics",
        responses=docs.responses({"type": "string"}, content_type="text/plain",
                                 description="Prometheus text exposition format 0.0.4"))
def prometheus_metrics():
    body, content_type = metrics.render(current_app)
    return Response(body, content_type=content_type)
