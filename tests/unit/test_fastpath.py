"""Cached list hits answered before Flask (waengine/fastpath.py): the same answer as Flask's,
the same checks, counts and touches; everything else answered by Flask."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from waengine import engine_of, fastpath
from waengine.cache import Body
from waengine.ops.metrics import CACHE_REQUESTS, HTTP_REQUESTS

from ..conftest import wait_for
from .test_forward import KEY as FORWARD_KEY
from .test_forward import node, served  # noqa: F401  (the fixture)

ADMIN = "fastpath-admin-0123456789abcdef"
SCOPED = "fastpath-scoped-0123456789abcde"
READER = "fastpath-reader-0123456789abcde"  # its own request count (RATE_LIMIT is per key)
KEYS = [ADMIN, f"{SCOPED}:other-*", READER]
ME = "6281234567890@c.us"
KINDS = ("contacts", "groups", "chats")
# Headers whose values differ between any two answers
VARYING = {"Date", "X-Request-ID"}


def lists(calls: list):
    """Page handlers for the three lists, counting each browser read."""
    contacts = [{"id": f"62811{i:04d}@c.us", "name": f"Budi {i} ☕", "isMyContact": True}
                for i in range(300)]  # big enough that flask-compress would compress it
    groups = [{"id": "120363000000000001@g.us", "name": "Team",
               "participants": [{"id": ME, "isAdmin": True}], "owner": ME}]
    chats = [{"id": "62811@c.us", "name": "Budi", "isGroup": False, "unreadCount": 0,
              "timestamp": 1700000000, "archived": False, "pinned": False}]
    return {"listContacts": lambda: calls.append("contacts") or contacts,
            "groups": lambda: calls.append("groups") or groups,
            "listChats": lambda: calls.append("chats") or chats}


@pytest.fixture
def gateway(make_app, factory, request):
    """(app, calls): a CONNECTED session s1 on an app with the given config overrides."""
    calls: list = []

    def on_open(bridge):
        bridge.state.update(fullReady=True, auth=True, mode="MAIN", me={"id": ME, "name": "A"})
        bridge.handlers.update(lists(calls))

    factory.on_open = on_open
    app = make_app(**getattr(request, "param", {"API_KEYS": KEYS}))
    client = app.test_client()
    assert client.post("/sessions", json={"id": "s1"}, headers=h(ADMIN)).status_code == 201
    wait_for(lambda: client.get("/sessions/s1", headers=h(ADMIN)).json["status"] == "CONNECTED")
    return app, calls


def h(key: str | None = None, **more) -> dict:
    return {**({"X-API-Key": key} if key else {}), **more}


@contextmanager
def flask_only(app):
    """The app without its fast path: every request through Flask (its own wsgi_app)."""
    fast = app.wsgi_app
    del app.wsgi_app  # the instance's attribute: Flask.wsgi_app again
    try:
        yield
    finally:
        app.wsgi_app = fast


@pytest.fixture
def through(gateway):
    """The paths Flask answered (the fast path passed them on), in order."""
    app, _ = gateway
    fast = app.wsgi_app
    assert isinstance(fast, fastpath.FastPath)
    seen: list[str] = []
    inner = fast.inner

    def spy(environ, start_response):
        seen.append(environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"]
                                            if environ.get("QUERY_STRING") else ""))
        return inner(environ, start_response)

    fast.inner = spy
    return seen


def same(fast, slow) -> None:
    """Two answers that differ only in the values of Date and X-Request-ID."""
    assert fast.status == slow.status
    assert fast.get_data() == slow.get_data()
    shown = lambda r: [(k, v) for k, v in r.headers.items() if k not in VARYING]  # noqa: E731
    assert shown(fast) == shown(slow)
    assert [k for k, _ in fast.headers.items()] == [k for k, _ in slow.headers.items()]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gateway", [{"API_KEYS": KEYS}, {"API_KEYS": []}],
                         ids=["keys", "open"], indirect=True)
def test_a_hit_is_answered_before_flask_as_flask_answers_it(gateway, through, kind):
    app, calls = gateway
    client = app.test_client()
    url = f"/sessions/s1/{kind}"
    miss = client.get(url, headers=h(ADMIN))
    assert miss.status_code == 200 and miss.json["cached"] is False
    assert through == [url] and calls == [kind]  # a miss loads through Flask
    for encoding in (None, "gzip", "br", "gzip, deflate, br", "identity"):
        headers = h(ADMIN, **({"Accept-Encoding": encoding} if encoding else {}))
        fast = client.get(url, headers=headers)
        with flask_only(app):
            slow = client.get(url, headers=headers)
        same(fast, slow)
        assert fast.status_code == 200 and fast.headers["ETag"] == miss.headers["ETag"]
        assert fast.headers.get("Content-Encoding") == (
            None if encoding in (None, "identity") else encoding.split(", ")[-1])
    assert through == [url] and calls == [kind]  # every hit: no Flask, no browser
    plain = client.get(url, headers=h(ADMIN))
    assert json.loads(plain.get_data()) == {"data": miss.json["data"], "cached": True}


def test_if_none_match_gets_the_same_304(gateway, through):
    app, _ = gateway
    client = app.test_client()
    etag = client.get("/sessions/s1/contacts", headers=h(ADMIN)).headers["ETag"]
    for sent, status in ((etag, 304), (f'"other", {etag}', 304), ("*", 304),
                         (f"W/{etag}", 200), ('"stale"', 200)):
        headers = h(ADMIN, **{"If-None-Match": sent, "Accept-Encoding": "br"})
        fast = client.get("/sessions/s1/contacts", headers=headers)
        with flask_only(app):
            slow = client.get("/sessions/s1/contacts", headers=headers)
        same(fast, slow)
        assert fast.status_code == status, sent
    assert through == ["/sessions/s1/contacts"]


def test_refused_keys_get_flasks_envelopes(gateway, through):
    app, _ = gateway
    client = app.test_client()
    client.get("/sessions/s1/contacts", headers=h(ADMIN))
    del through[:]
    for headers, status, code in ((h(SCOPED), 403, "forbidden"), ({}, 401, "unauthorized"),
                                  (h("not-a-key-0123456789abcdef"), 401, "unauthorized"),
                                  ({"Authorization": "Basic abc"}, 401, "unauthorized")):
        fast = client.get("/sessions/s1/contacts", headers=headers)
        with flask_only(app):
            slow = client.get("/sessions/s1/contacts", headers=headers)
        same(fast, slow)
        assert (fast.status_code, fast.json["error"]["code"]) == (status, code)
    assert through == ["/sessions/s1/contacts"] * 4  # each answered by Flask
    # A Bearer key is as good as X-API-Key
    assert client.get("/sessions/s1/contacts",
                      headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert len(through) == 4


def test_an_address_that_guessed_keys_is_refused_even_with_the_right_key(gateway, through):
    app, _ = gateway
    client = app.test_client()
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    client.get("/sessions/s1/contacts", headers=h(ADMIN))
    for n in range(10):  # AUTH_FAIL_LIMIT's default: 10/minute
        assert client.get("/sessions/s1/contacts", headers=h(f"guess-{n}-0123456789abcdef"),
                          environ_base=guesser).status_code == 401
    refused = client.get("/sessions/s1/contacts", headers=h(ADMIN), environ_base=guesser)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_requests"
    assert through[-1] == "/sessions/s1/contacts" and len(through) == 12
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN),
                      environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 200
    assert len(through) == 12  # another address: the fast path


@pytest.mark.parametrize("gateway", [{"API_KEYS": KEYS, "RATE_LIMIT": "4/minute"}],
                         indirect=True)
def test_the_rate_limit_counts_each_request_once_whichever_path_answers(gateway, through):
    app, _ = gateway
    client = app.test_client()
    url = "/sessions/s1/contacts"
    assert client.get(url, headers=h(READER)).status_code == 200  # 1, a miss: Flask
    assert client.get(url, headers=h(READER)).status_code == 200  # 2, a hit: fast
    engine_of(app).invalidate("s1", "contacts")
    # 3: counted by the fast path, then a miss answered by Flask, which does not count it again
    assert client.get(url, headers=h(READER)).json["cached"] is False
    assert client.get(url, headers=h(READER)).status_code == 200  # 4, fast
    assert through == [url, url]
    fast = client.get(url, headers=h(READER))  # 5: over the limit, Flask's 429
    with flask_only(app):
        slow = client.get(url, headers=h(READER))
    assert through == [url, url, url]
    for answer in (fast, slow):
        assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60
        assert answer.json["error"]["code"] == "too_many_requests"
    assert fast.json["error"]["message"] == slow.json["error"]["message"]
    assert list(fast.headers.keys()) == list(slow.headers.keys())


def test_a_fast_hit_is_counted_touched_and_carries_its_request_id(gateway, through):
    app, _ = gateway
    client = app.test_client()
    url = "/sessions/s1/chats"
    client.get(url, headers=h(ADMIN))
    session = engine_of(app).manager.get("s1")
    session.last_activity_at = "2000-01-01T00:00:00Z"
    route = ("GET", "/sessions/<session_id>/chats", "200")
    requests, hits = (HTTP_REQUESTS.labels(*route)._value.get(),
                      CACHE_REQUESTS.labels("chats", "hit")._value.get())
    times = app.extensions["waengine_metrics"]["times"]
    timed = len(times._values)
    answer = client.get(url, headers=h(ADMIN, **{"X-Request-ID": "mine-1"}))
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "mine-1"
    assert through == [url]
    assert HTTP_REQUESTS.labels(*route)._value.get() == requests + 1
    assert CACHE_REQUESTS.labels("chats", "hit")._value.get() == hits + 1
    assert len(times._values) == min(timed + 1, times._values.maxlen)
    assert session.last_activity_at > "2000-01-01T00:00:00Z"  # the reaper sees the read
    made = client.get(url, headers=h(ADMIN, **{"X-Request-ID": "bad id with spaces"}))
    assert len(made.headers["X-Request-ID"]) == 32
    metrics = client.get("/metrics", headers=h(ADMIN)).get_data(as_text=True)
    assert ('waengine_http_requests_total{method="GET",route="/sessions/<session_id>/chats",'
            'status="200"}') in metrics


def test_the_access_line_of_a_fast_hit_names_its_request_id(gateway):
    """gunicorn writes the access line from the answer: the lean atoms (logs.AccessLogger)
    and the JSON fields read the fast path's headers as they read Flask's."""
    import datetime
    import logging
    from types import SimpleNamespace

    from waengine import logs

    app, _ = gateway
    client = app.test_client()
    client.get("/sessions/s1/contacts", headers=h(ADMIN))
    answer = client.get("/sessions/s1/contacts",
                        headers=h(ADMIN, **{"X-Request-ID": "line-1", "Accept-Encoding": "br"}))
    resp = SimpleNamespace(status=answer.status, sent=len(answer.get_data()),
                           headers=list(answer.headers.items()))
    environ = {"REMOTE_ADDR": "10.0.0.7", "REQUEST_METHOD": "GET",
               "RAW_URI": "/sessions/s1/contacts", "PATH_INFO": "/sessions/s1/contacts",
               "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": "wrk"}
    writer = logs.AccessLogger.__new__(logs.AccessLogger)
    writer.cfg = SimpleNamespace(access_log_format='%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"')
    atoms = writer.atoms(resp, SimpleNamespace(headers=[]), environ,
                         datetime.timedelta(microseconds=900))
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                               writer.cfg.access_log_format, (), None)
    record.args = atoms
    assert logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert (line["requestId"], line["session"], line["method"], line["path"],
            line["status"]) == ("line-1", "s1", "GET", "/sessions/s1/contacts", 200)
    assert f'"GET /sessions/s1/contacts HTTP/1.1" 200 {resp.sent} 0ms' in line["message"]


def test_what_the_fast_path_does_not_answer_goes_to_flask(gateway, factory, through,
                                                          monkeypatch):
    app, calls = gateway
    client = app.test_client()
    url = "/sessions/s1/contacts"
    client.get(url, headers=h(ADMIN))
    assert client.get(url + "?refresh=true", headers=h(ADMIN)).json["cached"] is False
    assert calls == ["contacts", "contacts"]  # refresh=true reads the browser
    assert client.get(url + "?refresh=nope", headers=h(ADMIN)).status_code == 422
    assert client.head(url, headers=h(ADMIN)).status_code == 200
    assert client.get(url + "/", headers=h(ADMIN)).status_code == 404
    assert client.get(url, headers=h(ADMIN, **{"Accept-Encoding": "deflate"})).status_code == 200
    assert client.get("/sessions/nope/contacts", headers=h(ADMIN)).status_code == 404
    assert client.get("/sessions/a%20b/contacts", headers=h(ADMIN)).status_code == 422
    # a request that says it comes from another node: Flask decides (without CLUSTER_SECRET,
    # as here, it is an ordinary request)
    assert client.get(url, headers=h(ADMIN, **{"X-WAEngine-Cluster": "t=1,n=2,s=3"})
                      ).status_code == 200
    assert through == [url, url + "?refresh=true", url + "?refresh=nope", url, url + "/", url,
                       "/sessions/nope/contacts", "/sessions/a b/contacts", url]
    del through[:]
    # a session that is not CONNECTED (its list stays cached: Flask serves it)
    status = lambda: client.get("/sessions/s1", headers=h(ADMIN)).json["status"]  # noqa: E731
    factory.bridge().state["mode"] = "CONFLICT"
    wait_for(lambda: status() == "CONFLICT")
    del through[:]
    assert client.get(url, headers=h(ADMIN)).json["cached"] is True
    assert through == [url]
    factory.bridge().state["mode"] = "MAIN"
    wait_for(lambda: status() == "CONNECTED")
    del through[:]
    # an error in the fast path: Flask answers
    monkeypatch.setattr(engine_of(app), "cached_hit", lambda *a: 1 / 0)
    assert client.get(url, headers=h(ADMIN)).json["cached"] is True
    assert through == [url]
    monkeypatch.undo()
    assert client.get(url, headers=h(ADMIN)).status_code == 200
    assert through == [url]


def test_a_stale_or_other_sessions_list_is_never_served(gateway, factory, through):
    app, calls = gateway
    client = app.test_client()
    assert client.post("/sessions", json={"id": "s2"}, headers=h(ADMIN)).status_code == 201
    wait_for(lambda: client.get("/sessions/s2", headers=h(ADMIN)).json["status"] == "CONNECTED")
    factory.bridge(-1).handlers["listContacts"] = lambda: [{"id": "62899@c.us", "name": "Other"}]
    one = client.get("/sessions/s1/contacts", headers=h(ADMIN)).json["data"]
    two = client.get("/sessions/s2/contacts", headers=h(ADMIN)).json["data"]
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN)).json["data"] == one
    assert client.get("/sessions/s2/contacts", headers=h(ADMIN)).json["data"] == two != one
    engine_of(app).invalidate("s1", "contacts")
    factory.bridge(0).handlers["listContacts"] = lambda: []
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN)).json == {
        "data": [], "cached": False}
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN)).json == {
        "data": [], "cached": True}


def test_the_failed_key_check_asks_the_storage_only_once_a_key_failed(gateway, monkeypatch):
    app, _ = gateway
    limits = app.extensions["waengine.limiter"]
    asked = []
    real = limits._ask
    monkeypatch.setattr(limits, "_ask", lambda *a, **kw: asked.append(a[1]) or real(*a, **kw))
    client = app.test_client()
    client.get("/sessions/s1/contacts", headers=h(ADMIN))
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN)).status_code == 200
    assert asked == []  # in this process's memory no key ever failed: nothing to look up
    assert client.get("/sessions/s1/contacts", headers=h("wrong-0123456789abcdef")
                      ).status_code == 401
    assert client.get("/sessions/s1/contacts", headers=h(ADMIN)).status_code == 200
    assert asked == [("auth-fail", "127.0.0.1")] * 2  # the failure counted, then looked up


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_list_of_a_session_another_node_runs_is_read_from_that_node(make_app, factory,
                                                                       served, tmp_path):  # noqa: F811
    """Cluster mode: a node answers from its cache only for a session it holds; another
    node's session goes to Flask, which forwards the read to its owner (forward.py)."""
    calls: list = []

    def on_open(bridge):
        bridge.state.update(fullReady=True, auth=True, mode="MAIN", me={"id": ME, "name": "A"})
        bridge.handlers.update(lists(calls))

    factory.on_open = on_open
    first = node(make_app, served, "node-a", tmp_path / "a")
    second = node(make_app, served, "node-b", tmp_path / "b")
    a, b = first.test_client(), second.test_client()
    assert b.post("/sessions", json={"id": "s1"}, headers=FORWARD_KEY).status_code == 201
    wait_for(lambda: b.get("/sessions/s1", headers=FORWARD_KEY).json.get("status") == "CONNECTED")
    owner = b.get("/sessions/s1/contacts", headers=FORWARD_KEY).json
    assert b.get("/sessions/s1/contacts", headers=FORWARD_KEY).json == {**owner, "cached": True}
    # node-a's own cache holds a list for s1 (as a shared Redis would): never served by it
    stale = [{"id": "62899@c.us", "name": "Stale"}]
    engine_of(first).cache._write(("s1", "contacts"), Body.of(stale), stale)
    seen = wait_for(lambda: (r := a.get("/sessions/s1/contacts", headers=FORWARD_KEY)
                             ).status_code == 200 and r, message="node-a answers for s1")
    assert seen.json == {**owner, "cached": True}  # node-b's hit, forwarded
    # node-a lists the sessions: it knows s1 now, from the registry (CONNECTED, runs on b)
    assert "s1" in [s["id"] for s in a.get("/sessions", headers=FORWARD_KEY).json["data"]]
    assert engine_of(first).manager.find("s1").status == "CONNECTED"
    assert a.get("/sessions/s1/contacts", headers=FORWARD_KEY).json == {**owner, "cached": True}
    assert calls == ["contacts"]


def test_the_fast_path_knows_every_hook_flask_runs_for_a_list_read(make_app):
    """fastpath.py does what these hooks do for a cached list read: a hook added to the app
    (or to the list routes' blueprints) must be added there too, or the read passed on.
    forward.py's hook (cluster mode only) is Engine.cached_hit's check that the session is
    held here (test above)."""
    app = make_app(API_KEYS=KEYS, RATE_LIMIT="100/second")
    names = lambda hooks: sorted(  # noqa: E731
        f"{f.__module__}.{f.__name__}" for bp in (None, "contacts", "chats", "groups")
        for f in hooks.get(bp, ()))
    assert names(app.before_request_funcs) == [
        "waengine.auth.require_key", "waengine.logs._request_id",
        "waengine.ops.metrics._start_timer", "waengine.ratelimit.count_request",
        "waengine.request_checks.guard_request"]
    assert names(app.after_request_funcs) == [
        "flask_compress.flask_compress.after_request", "waengine.logs._echo_request_id",
        "waengine.ops.metrics._count", "waengine.request_checks.security_headers"]
    assert not any(names(table) for table in (
        app.teardown_request_funcs, app.url_value_preprocessors, app.url_default_functions))
