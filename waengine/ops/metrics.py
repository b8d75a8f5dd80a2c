"""Metrics: Prometheus counters and histograms, the moving response-time window, /metrics text.

Counters that code anywhere in the process bumps (cache, restarts, watchdog and reaper actions,
HTTP requests) live in prometheus-client's default registry, created once at import; those the
engine and the cache bump are defined in waengine/counters.py. What is
read from an engine at scrape time (sessions by status, browser memory, webhook totals) comes
from a collector in a registry of the app's own, so several apps in one process (tests) never
register the same series twice.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import deque

from flask import g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..counters import (  # noqa: F401  (the engine's counters, reported with the rest)
    BROWSER_RESTARTS,
    CACHE_REQUESTS,
    PAGE_RELOADS,
    SESSIONS_REFUSED,
)
from ..libc import libc
from ..vocabulary import STATUSES
from .collector import PAUSES

HTTP_REQUESTS = Counter("waengine_http_requests_total", "HTTP requests by route and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("waengine_http_request_duration_seconds",
                         "Time to build the HTTP response, by route and status",
                         ["method", "route", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
WATCHDOG_ACTIONS = Counter("waengine_watchdog_actions_total",
                           "Memory watchdog actions: gc, recycle, unstick", ["action"])
MEMORY_LADDER_STEPS = Counter("waengine_memory_ladder_steps_total",
                              "Memory ladder steps taken for sessions over their budget: "
                              "trim_moderate, trim_critical, reload, restart", ["step"])
MEMORY_LADDER_GAIN = Histogram("waengine_memory_ladder_gain_megabytes",
                               "Browser PSS a memory ladder step gave back, by step", ["step"],
                               buckets=(1, 5, 10, 25, 50, 100, 250, 500))
REAPER_ACTIONS = Counter("waengine_reaper_actions_total",
                         "Reaper actions: idle_stop, qr_expired, outbox_purged, history_expired, "
                         "lock_removed",
                         ["action"])

# The text format every Prometheus (2.x and 3.x) scrapes; newer clients default to 1.0.0 headers.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Monitoring calls would drown the average a client sees (a load balancer probes every second).
_UNTIMED = ("/health", "/metrics", "/performance")
_PROCESS_STARTED = time.time()  # this module is imported while the worker boots


def cache_hit_rate() -> float | None:
    """Hits / (hits + misses) over every cache kind since start; None before any lookup."""
    hits = misses = 0.0
    for family in CACHE_REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                if sample.labels.get("result") == "hit":
                    hits += sample.value
                elif sample.labels.get("result") == "miss":
                    misses += sample.value
    total = hits + misses
    return round(hits / total, 4) if total else None


class ResponseTimes:
    """The last `size` response times in ms, for /performance's averageResponseTime."""

    def __init__(self, size: int = 1000):
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def average(self) -> float | None:
        with self._lock:
            values = list(self._values)
        return round(sum(values) / len(values), 2) if values else None


class EngineCollector:
    """Series read from the app's engine at scrape time (never touches a browser)."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        engine = self.app.extensions.get("waengine")
        if engine is None:
            return
        by_status = GaugeMetricFamily("waengine_sessions", "Sessions by status", labels=["status"])
        counts = dict.fromkeys(STATUSES, 0)
        for session in engine.manager.list():
            counts[session.status.value] = counts.get(session.status.value, 0) + 1
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield by_status

        sender = engine.events.sender
        hooks = CounterMetricFamily("waengine_webhook_deliveries",
                                    "Webhook deliveries by result (failed: dead-lettered)",
                                    labels=["result"])
        hooks.add_metric(["delivered"], sender.delivered)
        hooks.add_metric(["failed"], sender.failed)
        yield hooks
        yield from sink_metrics(engine.sink_health())

        sample = engine.watchdog.last_sample
        if sample is None:
            return
        memory = GaugeMetricFamily("waengine_browser_memory_bytes",
                                   "Memory of a session's browser process tree (rss, pss, uss)",
                                   labels=["session", "kind"])
        procs = GaugeMetricFamily("waengine_browser_processes",
                                  "Processes in a session's browser tree", labels=["session"])
        for sid, mem in sample.browsers.items():
            for kind in ("rss", "pss", "uss"):
                memory.add_metric([sid, kind], mem[f"{kind}Mb"] * 2**20)
            procs.add_metric([sid], mem["processes"])
        yield memory
        yield procs
        budget = float(engine.config["SESSION_MEMORY_BUDGET_MB"])
        if budget:
            use = GaugeMetricFamily("waengine_session_memory_budget_ratio",
                                    "A session's browser PSS over SESSION_MEMORY_BUDGET_MB",
                                    labels=["session"])
            for sid, mem in sample.browsers.items():
                use.add_metric([sid], mem["pssMb"] / budget)
            yield use
        worker = GaugeMetricFamily("waengine_worker_memory_bytes",
                                   "Memory of the gateway process (rss, uss)", labels=["kind"])
        worker.add_metric(["rss"], sample.worker["rssMb"] * 2**20)
        worker.add_metric(["uss"], sample.worker["ussMb"] * 2**20)
        yield worker
        yield GaugeMetricFamily("waengine_memory_total_bytes",
                                "Gateway RSS plus every browser's and chromedriver's PSS",
                                value=sample.total_mb * 2**20)
        yield GaugeMetricFamily("waengine_watchdog_last_run_age_seconds",
                                "Seconds since the memory watchdog last ran",
                                value=max(0.0, time.monotonic() - sample.at))


def sink_metrics(report: list[dict]):
    """Per sink (masked URL): publishes by result, and whether its broker takes them now."""
    published = CounterMetricFamily("waengine_sink_deliveries",
                                    "Sink publishes by result (failed: dead-lettered)",
                                    labels=["sink", "result"])
    up = GaugeMetricFamily("waengine_sink_up",
                           "1 if the sink's last publish was acknowledged, 0 if it failed",
                           labels=["sink"])
    for sink in report:
        published.add_metric([sink["url"], "delivered"], sink["published"])
        published.add_metric([sink["url"], "failed"], sink["deadLettered"])
        up.add_metric([sink["url"]], 1 if sink["up"] else 0)
    yield published
    yield up


def init_app(app) -> None:
    """Time and count every request; give the app its registry for engine-read series."""
    times = ResponseTimes()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(app))
    # (method, route, status) -> its counter and histogram children: labels() takes a lock and
    # checks the values on every call; a request only needs the two children it counts into.
    children: dict[tuple[str, str, str], tuple] = {}

    def count(method: str, route: str, status: int, started: float | None,
              mimetype: str | None) -> None:
        """Count one answered request (started: its perf_counter() at the start, if timed)."""
        labels = (method, route, str(status))
        both = children.get(labels)
        if both is None:
            both = children.setdefault(labels, (HTTP_REQUESTS.labels(*labels),
                                                HTTP_LATENCY.labels(*labels)))
        both[0].inc()
        if started is not None:
            elapsed = time.perf_counter() - started
            both[1].observe(elapsed)
            # Streams (SSE, a WebSocket's 101) last as long as the client stays: not a latency.
            if route not in _UNTIMED and status != 101 and mimetype != "text/event-stream":
                times.add(elapsed * 1000)

    # count: also for the requests fastpath.py answers without Flask
    app.extensions["waengine_metrics"] = {"registry": registry, "times": times, "count": count}
    PAUSES.install()  # process-wide, once: every garbage collection timed

    @app.before_request
    def _start_timer():
        g.waengine_t0 = time.perf_counter()

    @app.after_request
    def _count(response):
        rule = request.url_rule
        count(request.method, rule.rule if rule is not None else "unmatched",
              response.status_code, g.pop("waengine_t0", None), response.mimetype)
        return response


def average_response_ms(app) -> float | None:
    return app.extensions["waengine_metrics"]["times"].average()


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def c_heap() -> tuple[float, float] | None:
    """(used, total) MB of glibc's malloc heap (mallinfo2); None where it does not exist."""
    c = libc()
    if c is None or not hasattr(c, "mallinfo2"):  # musl, or glibc before 2.33
        return None
    c.mallinfo2.restype = _MallInfo2
    info = c.mallinfo2()
    return ((info.uordblks + info.hblkhd) / 2**20, (info.arena + info.hblkhd) / 2**20)


def _mb_text(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value)} MB"


def performance_report(app, sample) -> dict:
    """GET /performance: the seed's shape (MB strings) plus numbers and per-session browsers.

    Node's fields mapped to a Python worker: rss = resident set; heapTotal = what glibc's malloc
    holds from the OS; heapUsed = its live allocations (CPython's small-object arenas are
    mmapped apart and counted in rss only); external = rss minus uss (shared library pages).
    """
    engine = app.extensions["waengine"]
    heap = c_heap()
    worker = sample.worker
    numbers = {"rss": worker["rssMb"], "heapUsed": heap and round(heap[0], 1),
               "heapTotal": heap and round(heap[1], 1),
               "external": round(max(0.0, worker["rssMb"] - worker["ussMb"]), 1),
               "browsers": sample.browsers_mb, "total": sample.total_mb}
    memory = {k: _mb_text(v) for k, v in numbers.items()}
    memory.update({f"{k}Mb": v for k, v in numbers.items()})
    sessions = []
    for session in engine.manager.list():
        mem = sample.browsers.get(session.id) or {}
        sessions.append({"id": session.id, "status": session.status.value,
                         "browserRssMb": mem.get("rssMb"), "browserPssMb": mem.get("pssMb"),
                         "browserUssMb": mem.get("ussMb"), "processes": mem.get("processes", 0),
                         "memoryBudget": engine.watchdog.ladder.usage(session.id,
                                                                      mem.get("pssMb"))})
    watchdog = engine.watchdog
    return {
        "memoryUsage": memory,
        "performance": {
            "activeSessions": sum(1 for s in engine.manager.list() if s.running),
            "cacheHitRate": cache_hit_rate(),
            "averageResponseTime": average_response_ms(app),
            "uptimeSeconds": round(time.time() - _PROCESS_STARTED, 1),
        },
        "sessions": sessions,
        "gc": PAUSES.report(),
        "watchdog": {"sampleAgeSeconds": round(time.monotonic() - sample.at, 1),
                     "intervalSeconds": watchdog.interval,
                     "limitsMb": {"worker": engine.config["WORKER_MEMORY_LIMIT_MB"],
                                  "browser": engine.config["BROWSER_MEMORY_LIMIT_MB"],
                                  "sessionBudget": engine.config["SESSION_MEMORY_BUDGET_MB"],
                                  "total": watchdog.total_limit_mb}},
    }


def render(app) -> tuple[bytes, str]:
    """The Prometheus text exposition of the process-wide and the app's own series."""
    own = app.extensions["waengine_metrics"]["registry"]
    return generate_latest(REGISTRY) + generate_latest(own), CONTENT_TYPE
