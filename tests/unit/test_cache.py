"""The list cache: TTLs on an injected clock, single-flight loads, invalidation by events,
hit/miss counting, and the cached list routes through HTTP with a fake browser."""

from __future__ import annotations

import threading

import pytest
from cachelib import NullCache

from waengine import engine_of
from waengine.cache import LockedCache, SessionCache, make_backend
from waengine.config import ConfigError, load_config
from waengine.ops.metrics import CACHE_REQUESTS

from ..conftest import wait_for

TTLS = {"contacts": 300.0, "groups": 300.0, "chats": 30.0}
ALICE = "6281234567890@c.us"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return SessionCache(make_backend("simple"), TTLS, clock)


def loader(value, calls):
    def load():
        calls.append(1)
        return value
    return load


def counted(kind: str, result: str) -> float:
    return CACHE_REQUESTS.labels(kind, result)._value.get()


# ---- SessionCache ----

def test_the_first_read_loads_and_the_second_is_served_from_the_cache(cache):
    calls = []
    value = [{"id": "a@c.us"}, {"id": "b@c.us"}]
    assert cache.fetch("s1", "contacts", loader(value, calls)) == (value, False)
    assert cache.fetch("s1", "contacts", loader([], calls)) == (value, True)
    assert len(calls) == 1


def test_each_kind_expires_after_its_own_ttl(cache, clock):
    for kind in ("contacts", "chats"):
        cache.fetch("s1", kind, lambda kind=kind: [{"id": kind}])
    clock.now += 29
    assert cache.fetch("s1", "chats", lambda: [])[1] is True
    clock.now += 2
    assert cache.fetch("s1", "chats", lambda: [{"id": "new"}]) == ([{"id": "new"}], False)
    clock.now += 268  # 299 s after the contacts were read
    assert cache.fetch("s1", "contacts", lambda: [])[1] is True
    clock.now += 1
    assert cache.fetch("s1", "contacts", lambda: [])[1] is False


def test_ttls_come_from_the_config_per_environment():
    assert load_config({"ENV": "development"})["CACHE_TTL_CONTACTS"] == 300
    assert load_config({"ENV": "production", "AUTH_DISABLED": True})["CACHE_TTL_GROUPS"] == 3600
    testing = load_config({"ENV": "testing"})
    assert testing["CACHE_TTL_CONTACTS"] == 1800 and testing["CACHE_TTL_CHATS"] < 1800
    cache = SessionCache.from_config(load_config({"ENV": "development"}))
    assert cache.ttls == {"contacts": 300, "groups": 300, "chats": 30}
    assert load_config({"ENV": "testing"}, environ={"WAENGINE_CACHE_TTL_CHATS": "5"})[
        "CACHE_TTL_CHATS"] == 5.0


def test_refresh_reads_again_and_stores_what_it_read(cache):
    cache.fetch("s1", "groups", lambda: [{"id": "old"}])
    assert cache.fetch("s1", "groups", lambda: [{"id": "new"}], refresh=True) == (
        [{"id": "new"}], False)
    assert cache.fetch("s1", "groups", lambda: [])[0] == [{"id": "new"}]


def test_clear_drops_one_sessions_live_entries_and_counts_them(cache, clock):
    for kind in ("contacts", "groups", "chats"):
        cache.fetch("s1", kind, lambda: [])
    cache.fetch("s2", "contacts", lambda: [])
    clock.now += 31  # chats expired: not counted as cleared
    assert cache.clear("s1") == 2
    assert cache.clear("s1") == 0
    assert cache.fetch("s2", "contacts", lambda: [{"id": "x"}])[1] is True


def test_concurrent_cold_reads_cost_one_load(cache):
    gate, calls, results = threading.Event(), [], []

    def slow():
        calls.append(1)
        gate.wait(5)
        return [{"id": "a@c.us"}]

    threads = [threading.Thread(target=lambda: results.append(cache.fetch("s1", "contacts", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: calls, message="the first load")
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1
    assert sorted(cached for _, cached in results) == [False] + [True] * 7
    assert all(value == [{"id": "a@c.us"}] for value, _ in results)


def test_a_load_that_an_invalidation_overtook_is_not_stored(cache):
    def load():
        cache.invalidate("s1", "chats")  # an event arrives while the browser is being read
        return [{"id": "stale"}]

    assert cache.fetch("s1", "chats", load) == ([{"id": "stale"}], False)
    assert cache.fetch("s1", "chats", lambda: [{"id": "fresh"}]) == ([{"id": "fresh"}], False)


def test_many_threads_reading_writing_and_clearing_at_once_never_fail(cache):
    errors = []

    def work(n):
        try:
            for i in range(200):
                sid = f"s{(n + i) % 5}"
                cache.fetch(sid, ("contacts", "groups", "chats")[i % 3],
                            lambda i=i: [{"id": str(i)}], refresh=i % 7 == 0)
                if i % 11 == 0:
                    cache.clear(sid)
                cache.on_event(sid, "message", {"chatId": f"{i}@c.us", "fromMe": False})
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_hits_and_misses_are_counted_per_kind(cache):
    before = {(k, r): counted(k, r) for k in ("groups", "chats") for r in ("hit", "miss")}
    cache.fetch("s1", "groups", lambda: [])
    cache.fetch("s1", "groups", lambda: [])
    cache.fetch("s1", "groups", lambda: [])
    cache.fetch("s1", "chats", lambda: [], refresh=True)  # a forced read is a miss
    assert counted("groups", "miss") - before["groups", "miss"] == 1
    assert counted("groups", "hit") - before["groups", "hit"] == 2
    assert counted("chats", "miss") - before["chats", "miss"] == 1
    assert counted("chats", "hit") == before["chats", "hit"]


# ---- invalidation by events ----

def fill(cache):
    cache.fetch("s1", "contacts", lambda: [{"id": "62811@c.us"}, {"id": ALICE}])
    cache.fetch("s1", "groups", lambda: [{"id": "1203@g.us"}])
    cache.fetch("s1", "chats", lambda: [{"id": "62811@c.us"}, {"id": "1203@g.us"}])


def still_cached(cache) -> set[str]:
    return {kind for kind in ("contacts", "groups", "chats")
            if cache.fetch("s1", kind, lambda: [])[1]}


def incoming(chat, sender, from_me=False):
    return {"id": "false_x_1", "chatId": chat, "fromMe": from_me, "sender": {"id": sender}}


@pytest.mark.parametrize("kind, data, left", [
    ("session.status", {"status": "STOPPED"}, set()),
    ("session.status", {"status": "FAILED"}, set()),
    ("session.status", {"status": "SCAN_QR", "reason": "logged_out"}, set()),
    ("session.status", {"status": "RECOVERING"}, {"contacts", "groups", "chats"}),
    ("session.status", {"status": "CONNECTED"}, {"contacts", "groups", "chats"}),
    ("conn.logout", {"reason": "user_initiated"}, set()),
    ("group.participants", {"groupId": "1203@g.us", "action": "add"}, {"contacts"}),
    ("message", incoming("62811@c.us", "62811@c.us"), {"contacts", "groups", "chats"}),
    ("message", incoming("62899@c.us", "62899@c.us"), {"groups"}),
    ("message", incoming("1203@g.us", "62899@c.us"), {"groups", "chats"}),
    ("message", incoming("9999@g.us", "62811@c.us"), {"contacts"}),
    ("message.sent", incoming("62877@c.us", ALICE, from_me=True), {"contacts", "groups"}),
    ("message.ack", {"ack": 3, "ids": ["x"]}, {"contacts", "groups", "chats"}),
])
def test_events_drop_exactly_the_lists_they_make_stale(cache, kind, data, left):
    fill(cache)
    cache.on_event("s1", kind, data)
    assert still_cached(cache) == left


def test_nothing_cached_means_nothing_to_invalidate_and_no_error(cache):
    cache.on_event("s1", "message", incoming("62899@c.us", "62899@c.us"))
    cache.on_event("s1", "message", {})
    cache.on_event("s1", "session.status", {})
    calls = []
    assert cache.fetch("s1", "chats", loader([{"id": "a@c.us"}], calls)) == ([{"id": "a@c.us"}], False)
    assert calls == [1] and cache.clear("s1") == 1  # the cache still works, and held only that


def test_a_failing_backend_costs_misses_and_never_breaks_events(clock):
    class Broken(LockedCache):
        def get(self, key):
            raise ConnectionError("redis down")

        set = delete = get

    cache = SessionCache(Broken(NullCache()), TTLS, clock)
    calls = []
    assert cache.fetch("s1", "contacts", loader([1], calls)) == ([1], False)
    assert cache.fetch("s1", "contacts", loader([1], calls)) == ([1], False)
    assert len(calls) == 2
    cache.on_event("s1", "session.status", {"status": "STOPPED"})
    assert cache.clear("s1") == 0


def test_trim_frees_what_this_process_holds(cache):
    fill(cache)
    cache.trim()
    assert still_cached(cache) == set()


def test_backends_by_config():
    assert isinstance(make_backend("simple"), LockedCache)
    assert isinstance(make_backend("none"), NullCache)
    assert type(make_backend("redis://127.0.0.1:1/0")).__name__ == "RedisCache"  # lazy connect
    with pytest.raises(ConfigError):
        make_backend("memcached://x")
    with pytest.raises(ConfigError, match="CACHE"):
        load_config({"ENV": "testing", "CACHE": "memcached://x"})
    with pytest.raises(ConfigError, match="CACHE_TTL_GROUPS"):
        load_config({"ENV": "testing", "CACHE_TTL_GROUPS": 0})
    none = SessionCache(make_backend("none"), TTLS)
    assert none.fetch("s1", "contacts", lambda: [1]) == ([1], False)
    assert none.fetch("s1", "contacts", lambda: [2]) == ([2], False)


# ---- through HTTP, with a fake browser ----

CONTACT = {"id": "62811@c.us", "phone": "62811", "name": "Budi", "shortName": "Budi",
           "pushname": "Budi S", "isMyContact": True, "isBusiness": False}


@pytest.fixture
def connected(client, factory):
    """A CONNECTED session s1 whose page answers listContacts/listChats and counts the calls."""
    calls = []

    def on_open(bridge):
        bridge.state.update(fullReady=True, auth=True, mode="MAIN",
                            me={"id": ALICE, "name": "Alice"})
        bridge.handlers["listContacts"] = lambda: calls.append("contacts") or [CONTACT]
        bridge.handlers["listChats"] = lambda: calls.append("chats") or [
            {"id": "62811@c.us", "name": "Budi", "isGroup": False, "unreadCount": 0,
             "timestamp": 1700000000, "archived": False, "pinned": False}]
        bridge.handlers["logout"] = lambda: True

    factory.on_open = on_open
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    wait_for(lambda: client.get("/sessions/s1").json["status"] == "CONNECTED")
    return calls


def test_the_contacts_route_says_whether_it_was_cached(client, connected):
    first = client.get("/sessions/s1/contacts")
    assert first.status_code == 200
    assert first.json == {"data": [{**{k: CONTACT[k] for k in ("id", "phone", "name", "pushname",
                                                                 "isMyContact", "isBusiness")},
                                    "lid": CONTACT.get("lid")}],
                          "cached": False}
    assert client.get("/sessions/s1/contacts").json == {**first.json, "cached": True}
    assert client.get("/sessions/s1/contacts?refresh=true").json["cached"] is False
    assert client.get("/sessions/s1/contacts?refresh=nope").status_code == 422
    assert connected == ["contacts", "contacts"]


def test_delete_cache_returns_how_many_lists_it_dropped(client, connected):
    client.get("/sessions/s1/contacts")
    client.get("/sessions/s1/chats")
    assert client.delete("/sessions/s1/cache").json == {"cleared": 2}
    assert client.delete("/sessions/s1/cache").json == {"cleared": 0}
    assert client.delete("/sessions/nobody/cache").status_code == 404
    assert client.get("/sessions/s1/contacts").json["cached"] is False


def test_a_message_from_a_new_chat_invalidates_the_cached_chats(client, connected, factory):
    assert client.get("/sessions/s1/chats").json["cached"] is False
    assert client.get("/sessions/s1/chats").json["cached"] is True
    factory.bridge().events.append({"id": "e1", "type": "message", "data": {
        "id": "false_62822@c.us_AAAA", "chatId": "62822@c.us", "from": "62822@c.us",
        "fromMe": False, "type": "chat", "body": "halo", "sender": {"id": "62822@c.us"}}})
    wait_for(lambda: factory.bridge().acked, message="the event drained")
    assert client.get("/sessions/s1/chats").json["cached"] is False


def test_stop_logout_and_purge_leave_nothing_cached(app, client, connected, factory):
    cache = engine_of(app).cache
    client.get("/sessions/s1/contacts")
    factory.bridge().events.append({"id": "e2", "type": "conn.logout", "data": {}})
    wait_for(lambda: not cache.backend.get(cache.key("s1", "contacts")), message="logout clear")
    client.get("/sessions/s1/contacts")
    assert cache.backend.get(cache.key("s1", "contacts"))
    assert client.delete("/sessions/s1").json["status"] == "STOPPED"
    assert cache.backend.get(cache.key("s1", "contacts")) is None
    assert client.get("/sessions/s1/contacts").status_code == 409
    assert client.delete("/sessions/s1?purge=true").status_code == 200
    assert not [ident for ident in cache._generation if ident[0] == "s1"]
