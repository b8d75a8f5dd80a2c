"""Request rate limits: per API key (RATE_LIMIT) and failed keys per client (AUTH_FAIL_LIMIT).

Counted by the `limits` library with its sliding-window counter: in this process, or in Redis
when CACHE is a redis:// URL, so every node of a deployment shares one count per key. A
refusal is 429 `too_many_requests` with Retry-After (the seconds until the window has room).
If Redis cannot be reached the request is let through and the failure logged: a cache outage
must not become an API outage.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import current_app, g, request
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from .errors import TooManyRequests

log = logging.getLogger(__name__)
# The WSGI environ key where fastpath.py leaves the answer of the count it made for a request
# it then passed on to Flask (the seconds to wait, or None): the request is counted once.
COUNTED = "waengine.rate_limit.counted"


def parse_limits(value) -> list:
    """`50/second;1800/minute` (or a list of such strings) as `limits` items; [] for none."""
    text = ";".join(value) if isinstance(value, (list, tuple)) else str(value or "")
    return parse_many(text) if text.strip() else []


def storage_url(cache: str) -> str:
    """Where the counts live: the Redis of CACHE, else this process's memory."""
    cache = str(cache or "")
    if cache.startswith(("redis://", "rediss://")):
        return cache
    if cache.startswith("unix://"):
        return "redis+unix://" + cache[len("unix://"):]
    return "memory://"


class Limiter:
    def __init__(self, config: dict):
        self.requests = parse_limits(config["RATE_LIMIT"])
        self.auth_failures = parse_limits(config["AUTH_FAIL_LIMIT"])
        self.trusted = set(config.get("TRUSTED_PROXIES") or ())
        self.url = storage_url(config.get("CACHE"))
        self._strategy: SlidingWindowCounterRateLimiter | None = None
        self._lock = threading.Lock()
        # The kinds ("auth-fail", "key", "client") this process ever counted. In its own memory
        # storage a kind never counted cannot be exhausted: until a key fails, a request with a
        # key skips the storage's failed-key lookup (Redis is asked always: other nodes count).
        self._counted: set[str] = set()

    @property
    def strategy(self) -> SlidingWindowCounterRateLimiter:
        # Made at the first request: limits' memory storage starts a timer thread, and
        # create_app starts none.
        with self._lock:
            if self._strategy is None:
                # Redis: fail fast; a refused count lets the request through (see above).
                options = ({"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
                           if self.url != "memory://" else {})
                self._strategy = SlidingWindowCounterRateLimiter(
                    storage_from_string(self.url, **options))
            return self._strategy

    def hit(self, items: list, *identity: str) -> int | None:
        """Count one request; the seconds to wait if it is over a limit, else None."""
        if identity and identity[0] not in self._counted:
            self._counted.add(identity[0])  # before the count: exhausted() asks from now on
        return self._ask(items, identity, count=True)

    def exhausted(self, items: list, *identity: str) -> int | None:
        """Like hit, counting nothing: whether identity is already over a limit."""
        if self.url == "memory://" and identity and identity[0] not in self._counted:
            return None
        return self._ask(items, identity, count=False)

    def _ask(self, items: list, identity: tuple, count: bool) -> int | None:
        try:
            for item in items:
                ok = (self.strategy.hit(item, *identity) if count
                      else self.strategy.test(item, *identity))
                if not ok:
                    reset = self.strategy.get_window_stats(item, *identity).reset_time
                    return max(1, math.ceil(reset - time.time()))
        except Exception as e:  # noqa: BLE001 - any storage failure: let it through
            log.warning("rate limit storage failed (%s): request not counted", type(e).__name__)
        return None

    def client(self) -> str:
        """The client's address: X-Forwarded-For's last hop behind a trusted proxy."""
        return self.client_of(request.remote_addr, request.headers.get("X-Forwarded-For"))

    def client_of(self, remote_addr: str | None, forwarded: str | None) -> str:
        address = remote_addr or "-"
        if forwarded and address in self.trusted:
            return forwarded.rsplit(",", 1)[-1].strip() or address
        return address


def limiter() -> Limiter:
    return current_app.extensions["waengine.limiter"]


def refuse(retry_after: int, what: str):
    raise TooManyRequests(f"Too many {what}: retry in {retry_after} s",
                          details={"retryAfter": retry_after},
                          headers={"Retry-After": str(retry_after)})


def init_app(app, exempt) -> None:
    """Count every request but the `exempt(path, config)` ones (after auth: g.api_key says
    whose it is)."""
    app.extensions["waengine.limiter"] = made = Limiter(app.config)
    if not made.requests:
        return

    @app.before_request
    def count_request():
        if exempt(request.path, app.config):
            return
        if COUNTED in request.environ:
            wait = request.environ[COUNTED]
        else:
            key = g.get("api_key")
            identity = ("key", str(key.number)) if key is not None else ("client", made.client())
            wait = made.hit(made.requests, *identity)
        if wait:
            refuse(wait, "requests for this API key")
