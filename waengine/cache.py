"""The list cache (contacts, groups, chats): per session, with TTLs, invalidated by events.

cachelib does the storing: `SimpleCache` (in this process, behind a lock of ours: only
recent cachelib releases lock it themselves) or `RedisCache` (shared by several gateway
processes or nodes).
Entries carry their own expiry, read with an injectable clock, so tests can move time; the
backend also gets the TTL, so Redis expires them by itself.

Entries hold the serialized response, not Python objects: the JSON body of a hit and its
gzip and brotli encodings, made once when the list is loaded, plus an ETag. A hit is then
bytes to the socket (no JSON encoding, no compression per request; 304 on If-None-Match),
and 2,000 contacts weigh ~60 KB compressed instead of ~3 MB of dicts.

A load (the browser call) is single-flight per session and kind: ten clients asking for a
cold contact list cost one browser call, not ten. A generation per session and kind keeps a
load that started before an invalidation from storing what it read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import brotli
from cachelib import BaseCache, NullCache, SimpleCache

from .config import ConfigError
from .counters import CACHE_REQUESTS
from .vocabulary import Status

log = logging.getLogger(__name__)

# kind -> config key of its TTL (seconds)
KINDS = {"contacts": "CACHE_TTL_CONTACTS", "groups": "CACHE_TTL_GROUPS", "chats": "CACHE_TTL_CHATS"}
KEY_PREFIX = "waengine:cache:"
# A chat or a contact appearing, or the login changing, makes these lists stale.
_CLEAR_ON_STATUS = (Status.STOPPED, Status.FAILED, Status.SCAN_QR)


# (kind, result) -> its counter child: labels() takes a lock and checks its values on every
# call, a noticeable part of a hit served by fastpath.py.
_CHILDREN: dict[tuple[str, str], object] = {}


def _counted(kind: str, result: str) -> None:
    child = _CHILDREN.get((kind, result))
    if child is None:
        child = _CHILDREN.setdefault((kind, result), CACHE_REQUESTS.labels(kind, result))
    child.inc()


@dataclass(frozen=True)
class Body:
    """A list response, serialized: `{"data": [...], "cached": true}` and its encodings."""

    etag: str
    identity: bytes
    gzip: bytes
    br: bytes

    @classmethod
    def of(cls, value: list) -> Body:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        identity = b'{"data":' + data + b',"cached":true}'
        # The levels the app compresses with (docs/performance.md "Compression levels"): a
        # load pays them once; br 11 would cost ~1 s on 2,000 contacts.
        return cls(etag=hashlib.blake2b(data, digest_size=12).hexdigest(), identity=identity,
                   gzip=gzip.compress(identity, 6, mtime=0),
                   br=brotli.compress(identity, quality=6))

    def uncached(self) -> bytes:
        """The body of the response that loaded it (`"cached": false`)."""
        return self.identity[:-len(b"true}")] + b"false}"

    def encoded(self, encoding: str | None) -> bytes:
        return {"br": self.br, "gzip": self.gzip}.get(encoding or "", self.identity)

    def value(self) -> list:
        return json.loads(self.identity)["data"]


class LockedCache(BaseCache):
    """A cachelib cache whose every call holds one lock (gthread: SimpleCache prunes a dict)."""

    def __init__(self, inner: BaseCache):
        super().__init__(default_timeout=0)
        self.inner = inner
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self.inner.get(key)

    def set(self, key, value, timeout=None):
        with self._lock:
            return self.inner.set(key, value, timeout)

    def delete(self, key):
        with self._lock:
            return self.inner.delete(key)

    def clear(self):
        with self._lock:
            return self.inner.clear()


class _Kept:
    """SimpleCache's serializer, minus the pickling: entries are immutable (bytes in a frozen
    Body), so keeping the object itself is safe, and a hit copies no 100s of KB."""

    @staticmethod
    def dumps(value, protocol=None):
        return value

    @staticmethod
    def loads(value):
        return value


def make_backend(url: str) -> BaseCache:
    """The cachelib backend for CACHE: "simple", "none", or a redis:// (rediss://, unix://) URL."""
    if url == "simple":
        simple = SimpleCache(threshold=2000, default_timeout=0)
        simple.serializer = _Kept()
        return LockedCache(simple)
    if url == "none":
        return NullCache()
    if urlsplit(url).scheme in ("redis", "rediss", "unix"):
        try:
            import redis
            from cachelib import RedisCache
        except ImportError:
            raise ConfigError("CACHE is a Redis URL but the redis package is not installed "
                              "(pip install 'waengine[redis]')") from None
        # Connects lazily; a Redis that is down later only costs cache misses (see _safe).
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return RedisCache(host=client, key_prefix=KEY_PREFIX, default_timeout=0)
    raise ConfigError(f"CACHE must be simple, none or a redis:// URL, got {url!r}")


class SessionCache:
    """Cached list reads per (session, kind); thread-safe; counts hits and misses per kind."""

    def __init__(self, backend: BaseCache, ttls: dict[str, float],
                 clock: Callable[[], float] = time.time):
        self.backend = backend
        self.ttls = dict(ttls)
        self.clock = clock
        self._guard = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._generation: dict[tuple[str, str], int] = {}
        # Ids in the lists this process stored, to tell a new chat/contact from a known one.
        self._ids: dict[tuple[str, str], frozenset] = {}

    @classmethod
    def from_config(cls, config: dict, clock: Callable[[], float] = time.time) -> SessionCache:
        ttls = {kind: float(config[key]) for kind, key in KINDS.items()}
        return cls(make_backend(str(config["CACHE"])), ttls, clock)

    @staticmethod
    def key(session_id: str, kind: str) -> str:
        return f"{session_id}/{kind}"

    # ---- reads ----
    def fetch(self, session_id: str, kind: str, load: Callable[[], list],
              refresh: bool = False) -> tuple[list, bool]:
        """Return (value, cached): the cached list, or load() it and store it for its TTL."""
        body, cached, value = self._fetch(session_id, kind, load, refresh)
        return (body.value() if value is None else value), cached

    def fetch_body(self, session_id: str, kind: str, load: Callable[[], list],
                   refresh: bool = False) -> tuple[Body, bool]:
        """Return (body, cached): the serialized list, from the cache or load()ed and stored."""
        body, cached, _ = self._fetch(session_id, kind, load, refresh)
        return body, cached

    def hit(self, session_id: str, kind: str) -> Body | None:
        """The cached body, counted as a hit; None (nothing counted) when it is not cached."""
        body = self._read((session_id, kind))
        if body is not None:
            _counted(kind, "hit")
        return body

    def _fetch(self, session_id: str, kind: str, load: Callable[[], list],
               refresh: bool) -> tuple[Body, bool, list | None]:
        ident = (session_id, kind)
        if not refresh:
            body = self._read(ident)
            if body is not None:
                _counted(kind, "hit")
                return body, True, None
        with self._load_lock(ident):
            if not refresh:  # another thread may have loaded it while this one waited
                body = self._read(ident)
                if body is not None:
                    _counted(kind, "hit")
                    return body, True, None
            _counted(kind, "miss")
            generation = self._generation.get(ident, 0)
            value = load()
            body = Body.of(value)
            if self._generation.get(ident, 0) == generation:
                self._write(ident, body, value)
                if self._generation.get(ident, 0) != generation:  # invalidated while writing
                    self._safe("delete", self.key(*ident))
                    with self._guard:
                        self._ids.pop(ident, None)
            return body, False, value

    def _entry(self, ident: tuple[str, str]) -> dict | None:
        entry = self._safe("get", self.key(*ident))
        if not isinstance(entry, dict) or entry.get("expires", 0) <= self.clock():
            return None
        return entry

    def _read(self, ident: tuple[str, str]) -> Body | None:
        entry = self._entry(ident)
        if entry is None or not isinstance(entry.get("body"), Body):
            return None  # expired, or written by an older release (a miss, then rewritten)
        return entry["body"]

    def _write(self, ident: tuple[str, str], body: Body, value: list) -> None:
        ttl = self.ttls[ident[1]]
        ids = frozenset(item.get("id") for item in value if isinstance(item, dict))
        entry = {"expires": self.clock() + ttl, "body": body, "ids": sorted(ids, key=str)}
        # The backend TTL is only for eviction; expiry is decided by `expires` and the clock.
        self._safe("set", self.key(*ident), entry, max(1, int(ttl) + 1))
        with self._guard:
            self._ids[ident] = ids

    def _load_lock(self, ident: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._loading.setdefault(ident, threading.Lock())

    def _safe(self, method: str, *args):
        """Call the backend; a backend that fails (Redis down) is a miss, never an error."""
        try:
            return getattr(self.backend, method)(*args)
        except Exception as e:  # noqa: BLE001 - the cache must not take the API down with it
            log.warning("cache %s failed: %s", method, e)
            return None

    # ---- invalidation ----
    def invalidate(self, session_id: str, *kinds: str) -> int:
        """Drop these kinds (all when none are named) of a session; return how many were live."""
        cleared = 0
        for kind in kinds or tuple(self.ttls):
            ident = (session_id, kind)
            with self._guard:
                self._generation[ident] = self._generation.get(ident, 0) + 1
                self._ids.pop(ident, None)
            live = self._read(ident) is not None
            if self._safe("delete", self.key(session_id, kind)) and live:
                cleared += 1
        return cleared

    def clear(self, session_id: str) -> int:
        """Drop every entry of a session (DELETE …/cache, stop, purge); return how many."""
        return self.invalidate(session_id)

    def forget(self, session_id: str) -> None:
        """Clear a session and drop this process's bookkeeping of it (purged sessions)."""
        self.clear(session_id)
        with self._guard:
            for table in (self._loading, self._generation, self._ids):
                for ident in [i for i in table if i[0] == session_id]:
                    table.pop(ident, None)

    def trim(self) -> None:
        """Free memory (the watchdog calls it): drop what this process holds (not Redis)."""
        with self._guard:
            for ident in list(self._generation) + list(self._ids):
                self._generation[ident] = self._generation.get(ident, 0) + 1
            self._ids.clear()
            self._loading = {k: v for k, v in self._loading.items() if v.locked()}
        if isinstance(self.backend, LockedCache):
            self._safe("clear")

    def known_ids(self, session_id: str, kind: str) -> frozenset | None:
        """Ids in the cached list of this kind (None when nothing is cached)."""
        ident = (session_id, kind)
        with self._guard:
            ids = self._ids.get(ident)
        if ids is not None:
            return ids
        entry = self._entry(ident)  # stored by another process (shared Redis)
        if entry is None or "ids" not in entry:
            return None
        ids = frozenset(entry["ids"])
        with self._guard:
            self._ids[ident] = ids
        return ids

    def on_event(self, session_id: str, kind: str, data: dict) -> None:
        """Drop the lists an engine event makes stale; never raises (events must flow)."""
        try:
            stale = self.stale_kinds(session_id, kind, data or {})
            if stale == "all":
                self.clear(session_id)
            elif stale:
                self.invalidate(session_id, *stale)
        except Exception:  # noqa: BLE001
            log.exception("cache invalidation failed for %s event of %s", kind, session_id)

    def stale_kinds(self, session_id: str, kind: str, data: dict):
        """Which cached kinds this event changes: "all", or a tuple of kinds."""
        if kind == "session.status":
            return "all" if data.get("status") in _CLEAR_ON_STATUS else ()
        if kind == "conn.logout":
            return "all"
        if kind == "group.participants":
            return ("groups", "chats")
        if kind in ("message", "message.sent"):
            stale = []
            chat = data.get("chatId") or ""
            # A message in a chat the list lacks (a group we did not know we are in, too).
            for listed in ("chats", "groups") if chat.endswith("@g.us") else ("chats",):
                ids = self.known_ids(session_id, listed)
                if chat and ids is not None and chat not in ids:
                    stale.append(listed)
            contacts = self.known_ids(session_id, "contacts")
            sender = (data.get("sender") or {}).get("id") or data.get("author")
            if not data.get("fromMe") and sender and contacts is not None \
                    and sender not in contacts:
                stale.append("contacts")
            return tuple(stale)
        return ()
