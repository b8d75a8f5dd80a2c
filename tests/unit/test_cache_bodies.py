"""Cached list responses are stored serialized and compressed: bytes out, ETag, 304."""

from __future__ import annotations

import gzip
import json

import brotli

from waengine.cache import Body, SessionCache, make_backend

from .test_cache import TTLS, connected  # noqa: F401  (the fixture)


def test_a_body_holds_the_json_and_its_encodings_made_once():
    value = [{"id": "62811@c.us", "name": "Budi ☕"}]
    body = Body.of(value)
    assert json.loads(body.identity) == {"data": value, "cached": True}
    assert json.loads(body.uncached()) == {"data": value, "cached": False}
    assert gzip.decompress(body.gzip) == body.identity
    assert brotli.decompress(body.br) == body.identity
    assert body.encoded("br") == body.br and body.encoded(None) == body.identity
    assert body.value() == value
    assert Body.of(list(value)).etag == body.etag != Body.of([]).etag


def test_the_cache_keeps_bytes_not_the_list():
    backend = make_backend("simple")
    cache = SessionCache(backend, TTLS)
    value = [{"id": f"{i}@c.us"} for i in range(3)]
    assert cache.fetch("s1", "contacts", lambda: value) == (value, False)
    entry = backend.get(SessionCache.key("s1", "contacts"))
    assert "value" not in entry and isinstance(entry["body"], Body)
    assert cache.fetch("s1", "contacts", lambda: []) == (value, True)
    assert cache.known_ids("s1", "contacts") == {"0@c.us", "1@c.us", "2@c.us"}


def test_a_hit_is_served_in_the_encoding_asked_with_an_etag(client, connected):  # noqa: F811
    miss = client.get("/sessions/s1/contacts")
    assert miss.json["cached"] is False and miss.headers["ETag"]
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress),
                             ("identity", bytes)):
        hit = client.get("/sessions/s1/contacts", headers={"Accept-Encoding": encoding})
        assert hit.status_code == 200 and hit.headers["ETag"] == miss.headers["ETag"]
        assert hit.headers.get("Content-Encoding", "identity") == encoding
        assert "Accept-Encoding" in hit.headers["Vary"]
        assert json.loads(decode(hit.get_data())) == {"data": miss.json["data"], "cached": True}
    assert connected == ["contacts"]


def test_if_none_match_gets_304_until_the_list_changes(client, connected, factory):  # noqa: F811
    etag = client.get("/sessions/s1/contacts").headers["ETag"]
    again = client.get("/sessions/s1/contacts", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    other = client.get("/sessions/s1/contacts", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.json["cached"] is True
    factory.bridge().handlers["listContacts"] = lambda: []
    changed = client.get("/sessions/s1/contacts?refresh=true", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json == {"data": [], "cached": False}
    assert changed.headers["ETag"] != etag


def test_the_app_asks_once_per_function_whether_it_is_a_coroutine(app, monkeypatch):
    """ensure_sync runs for every hook and view of every request; the answer is kept."""
    import flask.app

    def view():
        return "ok"

    asked = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda f: asked.append(f) or real(f))
    assert app.ensure_sync(view) is view and app.ensure_sync(view) is view
    assert asked.count(view) == 1

    async def coroutine_view():
        return "ok"

    # Flask's own answer for a coroutine function, every time: wrapped with asgiref, or a
    # RuntimeError asking for flask[async] when asgiref is not installed.
    for _ in range(2):
        try:
            made = app.ensure_sync(coroutine_view)
        except RuntimeError as e:
            assert "async" in str(e)
        else:
            assert made is not coroutine_view
