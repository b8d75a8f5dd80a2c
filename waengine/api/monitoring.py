"""Monitoring: /health for load balancers (no auth, never touches a browser)."""

from __future__ import annotations

import os
from collections import Counter

from apiflask import APIBlueprint

from . import engine

bp = APIBlueprint("monitoring", __name__, tag="Monitoring")


@bp.get("/health")
def health():
    eng = engine()
    counts = Counter(s.status.value for s in eng.manager.list())
    reason = None
    if not eng.started:
        reason = "engine not started"
    elif not os.access(eng.data_dir, os.W_OK):
        reason = f"data folder {eng.data_dir} is not writable"
    if reason:
        return {"status": "unhealthy", "reason": reason, "sessions": dict(counts)}, 503
    return {"status": "ok", "sessions": dict(counts)}
