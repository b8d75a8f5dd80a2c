"""The Redis cache backend (CACHE=redis://…) against a real redis-server this module starts:
two gateway nodes share cached lists and their clearing; TTLs hold; a Redis that is down
costs cache misses, never errors.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from waengine import create_app
from waengine.cache import KEY_PREFIX, SessionCache

from ..conftest import PortTaken, closed_port, on_free_port, phones, wait_for
from .conftest import Gateway, Sandbox, browser_processes

number = phones(__name__)

SID = "red"
RINA = number(1)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (make install)"
    folder = tmp_path_factory.mktemp("redis")

    def start(port: int):
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(folder), "--daemonize", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        client = redis.Redis(port=port)

        def up():
            if proc.poll() is not None:
                out = proc.stdout.read()
                if "Address already in use" in out:
                    raise PortTaken(port)
                raise AssertionError(f"redis-server exited: {out[-2000:]}")
            try:
                return client.ping()
            except redis.ConnectionError:
                return False
        try:
            wait_for(up, timeout=10, message="redis-server answering")
        except BaseException:
            client.close()
            proc.kill()
            proc.wait()
            raise
        return proc, client, port

    proc, client, port = on_free_port(start)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def node(url: str, clock=None) -> SessionCache:
    config = {"CACHE": url, "CACHE_TTL_CONTACTS": 300.0, "CACHE_TTL_GROUPS": 300.0,
              "CACHE_TTL_CHATS": 30.0}
    return SessionCache.from_config(config, clock=clock or Clock())


def test_two_nodes_share_entries_and_their_clearing(redis_url, redis_client):
    a, b = node(redis_url), node(redis_url)
    loads = []

    def load():
        loads.append(1)
        return [{"id": "62811@c.us", "name": "Budi"}]

    assert a.fetch("s1", "contacts", load) == (load(), False)
    assert b.fetch("s1", "contacts", load) == ([{"id": "62811@c.us", "name": "Budi"}], True)
    assert len(loads) == 2  # the direct call above plus node a's miss; node b did not load
    assert redis_client.exists(f"{KEY_PREFIX}s1/contacts")
    assert 300 <= redis_client.ttl(f"{KEY_PREFIX}s1/contacts") <= 301  # Redis expires it too
    assert b.fetch("s2", "contacts", load)[1] is False  # sessions do not share entries
    assert b.clear("s1") == 1
    assert a.fetch("s1", "contacts", load)[1] is False
    assert b.known_ids("s1", "contacts") == frozenset({"62811@c.us"})


def test_entries_expire_on_the_clock_of_the_reader(redis_url, redis_client):
    clock = Clock()
    cache = node(redis_url, clock)
    cache.fetch("s1", "chats", lambda: [{"id": "a@c.us"}])
    clock.now += 29
    assert cache.fetch("s1", "chats", lambda: [])[1] is True
    clock.now += 2
    assert cache.fetch("s1", "chats", lambda: [{"id": "b@c.us"}]) == ([{"id": "b@c.us"}], False)


def test_a_redis_that_is_down_costs_misses_not_errors():
    with closed_port() as port:
        cache = node(f"redis://127.0.0.1:{port}/0")
        groups = [{"id": "g@g.us"}]
        for _ in range(2):
            assert cache.fetch("s1", "groups", lambda: groups) == (groups, False)
        assert cache.clear("s1") == 0


@pytest.mark.browser
def test_two_gateway_nodes_serve_one_sessions_contacts_from_redis(
        redis_url, redis_client, sandbox_url, tmp_path):
    box = Sandbox(sandbox_url)
    box.phone(RINA, "Rina", seedContacts=300, seedGroups=5)
    config = {"ENV": "testing", "DATA_DIR": str(tmp_path / "data"), "WA_URL": sandbox_url + "/",
              "API_KEYS": [], "CACHE": redis_url}
    first = Gateway(create_app(config))
    first.engine.start()
    second = None
    try:
        first.link(box, SID, RINA)
        cold = first.client.get(f"/sessions/{SID}/contacts").json
        assert cold["cached"] is False and len(cold["data"]) >= 300
        assert redis_client.exists(f"{KEY_PREFIX}{SID}/contacts")

        # Another node (same registry, its own process memory, no browser) reads the same entry.
        second = Gateway(create_app(config))
        warm = second.client.get(f"/sessions/{SID}/contacts").json
        assert warm == {"data": cold["data"], "cached": True}
        assert second.client.delete(f"/sessions/{SID}/cache").json == {"cleared": 1}
        assert first.client.get(f"/sessions/{SID}/contacts").json["cached"] is False

        first.client.get(f"/sessions/{SID}/groups")
        assert first.client.delete(f"/sessions/{SID}").json["status"] == "STOPPED"
        assert not redis_client.keys(f"{KEY_PREFIX}{SID}/*")
    finally:
        if second is not None:
            second.engine.close()
        first.engine.close()
        leftovers = browser_processes(tmp_path)
        for proc in leftovers:
            proc.kill()
        assert not leftovers, f"browsers left running: {[p.pid for p in leftovers]}"


def test_two_nodes_share_one_request_count_per_key_in_redis(redis_url, redis_client, tmp_path):
    # RATE_LIMIT counts a key's requests in the cache's Redis: a tenant spreading its
    # requests over two gateway nodes gets no more than one node would give it.
    from waengine import engine_of

    keys = ["admin-0123456789abcdefghijkl", "tenant-0123456789abcdefghijk:t-*"]
    apps = [create_app({"ENV": "testing", "DATA_DIR": str(tmp_path / name), "API_KEYS": keys,
                        "CACHE": redis_url, "RATE_LIMIT": "4/minute"}) for name in "ab"]
    try:
        tenant = {"X-API-Key": keys[1].split(":")[0]}
        answers = [apps[n % 2].test_client().get("/sessions", headers=tenant).status_code
                   for n in range(5)]
        assert answers == [200, 200, 200, 200, 429]
        assert any(b"LIMITER" in key for key in redis_client.keys("*"))
        # The failed-key throttle and the stream tokens' single use live there too.
        admin = {"X-API-Key": keys[0]}
        token = apps[0].test_client().post("/auth/stream-token", headers=admin).json["token"]
        first = apps[0].test_client().get(f"/events?token={token}", buffered=False)
        assert first.status_code == 200
        first.close()
        replay = apps[1].test_client().get(f"/events?token={token}")  # on the other node
        assert replay.status_code == 401
    finally:
        for app in apps:
            engine_of(app).close()
