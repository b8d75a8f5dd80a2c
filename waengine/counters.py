"""The counters the engine and the cache bump, in prometheus-client's default registry.

A leaf module (prometheus-client only): the engine counts into it without importing ops, and
ops/metrics.py reports the same series (the packages `engine` and `ops` import each other in
neither direction).
"""

from __future__ import annotations

from prometheus_client import Counter

CACHE_REQUESTS = Counter("waengine_cache_requests_total",
                         "Cache lookups by kind (contacts, groups, chats...) and result (hit|miss)",
                         ["kind", "result"])
BROWSER_RESTARTS = Counter("waengine_browser_restarts_total",
                           "Browser relaunches by reason (browser_crashed, memory_limit, ...)",
                           ["reason"])
PAGE_RELOADS = Counter("waengine_page_reloads_total",
                       "New documents seen in a running browser (navigations, reloads)")
SESSIONS_REFUSED = Counter("waengine_sessions_refused_total",
                           "New or started sessions refused with 503 capacity_exceeded",
                           ["reason"])
