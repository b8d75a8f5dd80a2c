"""Session ids are checked before any file-system use: no id reaches outside the data folder."""

import os
from urllib.parse import quote

import pytest

from waengine import engine_of
from waengine.errors import ValidationError
from waengine.vocabulary import check_session_id

from .fakes import FakeFactory

EVIL_IDS = [
    "..", ".", "../x", "../../etc/passwd", "..\\..\\x", "/etc/passwd", "/tmp", "C:\\Windows",
    "%2e%2e%2f", "..%2f..%2fx", "%00", "a\x00b", "\x00", "a\nb", "sales\n", " sales", "a b",
    "ｓａｌｅｓ", "ѕаlеѕ", "sales\u200b", "e\u0301", "\u212a", "ı", "١٢٣", "a" * 65, "a" * 5000,
    "~root", "$HOME", "file:///etc", "sales;rm -rf", "a/b", "*", "",
]
# The same attacks written straight into the URL, as a client (or a proxy) might send them.
RAW_PATHS = [
    "/sessions/..", "/sessions/../x", "/sessions/%2e%2e", "/sessions/%2e%2e%2f%2e%2e%2fetc",
    "/sessions/%2E%2E%2Fx/qr", "/sessions/..%2F..%2Fetc%2Fpasswd", "/sessions/..%5c..%5cx",
    "/sessions/%252e%252e%252f", "/sessions/a%00b", "/sessions/%c0%ae%c0%ae", "/sessions//etc",
    "/sessions/%EF%BC%8E%EF%BC%8E", "/sessions/" + "a" * 65, "/sessions/%ff",
]


class ProfileMakingFactory(FakeFactory):
    """Creates the profile folder a real browser would (profiles/<id>) before opening."""

    def __init__(self, profiles):
        super().__init__()
        self.profiles = profiles

    def open(self, session_id):
        (self.profiles / session_id).mkdir(parents=True, exist_ok=True)
        return super().open(session_id)


@pytest.fixture
def factory(tmp_path):
    return ProfileMakingFactory(tmp_path / "data" / "profiles")


def snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def session_routes(app):
    """(method, rule) for every route that takes a session id."""
    for rule in app.url_map.iter_rules():
        if "session_id" in rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule


def url_for_rule(rule, session_part):
    url = rule.replace("<session_id>", session_part)
    while "<" in url:
        start, end = url.index("<"), url.index(">")
        url = url[:start] + "x" + url[end + 1:]
    return url


def assert_refused(resp, what):
    assert 400 <= resp.status_code < 500, (what, resp.status_code, resp.get_data()[:200])
    assert resp.mimetype == "application/json", what
    assert set(resp.json["error"]) == {"code", "message", "details"}, what


@pytest.mark.parametrize("bad", EVIL_IDS)
def test_check_session_id_refuses_anything_but_the_plain_alphabet(bad):
    with pytest.raises(ValidationError):
        check_session_id(bad)


def test_check_session_id_refuses_non_strings():
    for bad in (None, 5, b"sales", ["sales"]):
        with pytest.raises(ValidationError):
            check_session_id(bad)
    assert check_session_id("Sales_2-x") == "Sales_2-x"
    assert check_session_id("a" * 64)


def test_no_session_route_accepts_an_evil_id_and_nothing_escapes(tmp_path, make_app, factory):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    app = make_app()
    client = app.test_client()
    before = snapshot(tmp_path)
    routes = list(session_routes(app))
    assert len(routes) >= 10, routes
    tried = 0
    for method, rule in routes:
        for bad in EVIL_IDS:
            url = url_for_rule(rule, quote(bad, safe=""))
            resp = client.open(url, method=method, json={"url": "http://h.test/", "to": "1",
                                                         "text": "x"})
            assert_refused(resp, (method, url))
            tried += 1
        for raw in RAW_PATHS:
            url = raw + rule.split("<session_id>", 1)[1]
            url = url_for_rule(url, "x")
            assert_refused(client.open(url, method=method), (method, url))
    assert tried >= len(routes) * len(EVIL_IDS)
    assert factory.opened == []
    assert snapshot(tmp_path) == before
    assert engine_of(app).manager.list() == []


@pytest.mark.parametrize("bad", EVIL_IDS)
def test_creating_a_session_with_an_evil_id_is_422_and_creates_nothing(tmp_path, client, factory,
                                                                        bad):
    before = snapshot(tmp_path)
    resp = client.post("/sessions", json={"id": bad})
    assert_refused(resp, bad)
    assert resp.status_code == 422
    assert client.get("/sessions").json["data"] == []
    assert factory.opened == []
    assert snapshot(tmp_path) == before


def test_purge_cannot_delete_a_folder_outside_the_data_folder(tmp_path, client):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    data_victim = tmp_path / "data" / "victim"
    data_victim.mkdir(parents=True)
    for path in ("../victim", "../../victim", str(victim), "..", "."):
        resp = client.delete(f"/sessions/{quote(path, safe='')}?purge=true")
        assert_refused(resp, path)
    for raw in ("/sessions/..%2Fvictim?purge=true", "/sessions/..?purge=true",
                "/sessions/%2e%2e?purge=true"):
        assert_refused(client.delete(raw), raw)
    assert (victim / "precious").exists() and data_victim.exists()


def test_the_engine_refuses_evil_ids_without_http(app):
    manager = engine_of(app).manager
    for bad in ("../x", "/abs", "a\x00", "ｓ"):
        for call in (manager.create, manager.get, manager.start, manager.delete, manager.reconnect):
            with pytest.raises(ValidationError):
                call(bad)


def test_a_good_id_gets_its_profile_inside_the_data_folder(tmp_path, client, factory):
    from ..conftest import wait_for

    assert client.post("/sessions", json={"id": "Good_id-1"}).status_code == 201
    wait_for(lambda: factory.opened, message="browser launch")
    profile = (tmp_path / "data" / "profiles" / "Good_id-1").resolve()
    assert profile.is_dir()
    assert os.path.commonpath([profile, (tmp_path / "data").resolve()]) == str(
        (tmp_path / "data").resolve())
