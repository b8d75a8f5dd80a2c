"""Malformed requests get a 4xx JSON envelope: never a 500, never an HTML page."""

import pytest

from waengine.request_checks import parse_strict_json

from ..conftest import wait_for


def assert_envelope(resp, status, code=None):
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/json"
    error = resp.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and isinstance(error["details"], dict)
    if code:
        assert error["code"] == code
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    return error


@pytest.fixture
def session(client, factory):
    """A session that exists (its fake browser never logs in)."""
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    wait_for(lambda: factory.opened, message="browser launch")
    return "s1"


# ---- the body ----
@pytest.mark.parametrize("body, says", [
    (b'{"id": ', "not valid JSON"),
    (b'{"id": "a",}', "not valid JSON"),
    (b"{'id': 'a'}", "not valid JSON"),
    (b'{"id": "caf\xe9"}', "not valid UTF-8"),
    (b'\xef\xbb\xbf{"id": "a"}', "not valid JSON"),
    (b'{"id": "a", "keepAlive": NaN}', "NaN"),
    (b'{"n": Infinity}', "Infinity"),
    (b'{"id": "\\ud800"}', "surrogate"),
    (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
])
def test_a_body_that_is_not_strict_json_is_400_invalid_json(client, body, says):
    error = assert_envelope(client.post("/sessions", data=body, content_type="application/json"),
                            400, "invalid_json")
    assert says in error["message"]


def test_a_json_syntax_error_says_where(client):
    error = assert_envelope(client.post("/sessions", data=b'{\n  "id": x\n}',
                                        content_type="application/json"), 400)
    assert error["details"] == {"line": 2, "column": 9}


def test_a_paired_surrogate_escape_is_fine(client):
    resp = client.post("/sessions", data=b'{"id": "\\ud83d\\ude00"}',
                       content_type="application/json")
    assert_envelope(resp, 422, "validation_error")  # valid JSON; not a valid session id


def test_strict_json_parses_what_json_allows():
    assert parse_strict_json(b'{"a": [1, 2.5, true, null, "\\u00e9\\ud83d\\ude00"]}') == {
        "a": [1, 2.5, True, None, "é😀"]}


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", None,
])
def test_a_body_of_the_wrong_media_type_is_415(client, content_type):
    resp = client.post("/sessions", data=b'{"id": "a"}', content_type=content_type)
    error = assert_envelope(resp, 415, "unsupported_media_type")
    assert error["details"] == {"accepted": ["application/json"]}


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(client):
    resp = client.post("/sessions", data=b'{"id": "cs"}',
                       content_type="application/json; charset=utf-8")
    assert resp.status_code == 201
    resp = client.post("/sessions", data=b'{"id": "vnd"}', content_type="application/vnd.api+json")
    assert resp.status_code == 201


def test_a_body_over_max_content_length_is_413(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit >= 16 * 2**20 * 4 // 3 + 2**20  # a 16 MB upload as base64 JSON still fits
    body = b'{"id": "' + b"a" * limit + b'"}'
    error = assert_envelope(client.post("/sessions", data=body, content_type="application/json"),
                            413, "payload_too_large")
    assert error["details"] == {"limit": limit}


def test_a_small_max_content_length_applies_to_every_body(make_app):
    client = make_app(MAX_CONTENT_LENGTH=64).test_client()
    resp = client.post("/sessions", json={"id": "x" * 100})
    assert_envelope(resp, 413, "payload_too_large")


def test_an_empty_json_body_is_a_validation_error_not_a_crash(client):
    assert_envelope(client.post("/sessions", data=b"", content_type="application/json"), 422)
    assert_envelope(client.post("/sessions"), 422)


@pytest.mark.parametrize("body", [[], [{"id": "a"}], "a", 1, None, True])
def test_a_json_body_that_is_not_an_object_is_422(client, body):
    import json

    resp = client.post("/sessions", data=json.dumps(body), content_type="application/json")
    assert_envelope(resp, 422, "validation_error")


def test_unknown_body_fields_are_rejected_everywhere(client, session):
    error = assert_envelope(client.post("/sessions", json={"id": "a", "bogus": 1}), 422)
    assert error["details"] == {"json": {"bogus": ["Unknown field."]}}
    resp = client.put(f"/sessions/{session}/webhook", json={"url": "http://h.test/", "x": 1})
    assert_envelope(resp, 422)
    resp = client.post("/sessions", json={"id": "a", "webhook": {"url": "http://h.test/", "y": 2}})
    assert_envelope(resp, 422)


def test_unknown_query_parameters_are_ignored(client, session):
    assert client.get("/sessions?cacheBust=1").status_code == 200
    assert client.get(f"/sessions/{session}/webhook/deliveries?nope=1").status_code == 200


@pytest.mark.parametrize("bad", [
    {"id": ""}, {"id": "a" * 65}, {"id": "a b"}, {"id": "a\n"}, {"id": 5}, {"id": None},
    {"id": ["a"]}, {"id": "a", "keepAlive": "maybe"}, {"id": "a", "webhook": {"url": "ftp://x"}},
    {"id": "a", "webhook": {"url": "http://h.test/", "events": ["nope"]}},
    {"id": "a", "webhook": {"url": "http://h.test/", "secret": "s" * 257}},
    {"id": "a", "webhook": "http://h.test/"},
    # JSON types only: a query string may say purge=1 or yes, a JSON body says true.
    {"id": "a", "keepAlive": 1}, {"id": "a", "keepAlive": "true"}, {"id": "a", "keepAlive": 0},
    {"id": "a", "pacing": {"dailyCap": "5"}}, {"id": "a", "pacing": {"minInterval": "1.5"}},
    {"id": "a", "pacing": {"dailyCap": 1.5}}, {"id": "a", "pacing": {"typing": "yes"}},
])
def test_bad_fields_are_422_validation_error(client, bad):
    assert_envelope(client.post("/sessions", json=bad), 422, "validation_error")
    assert client.get("/sessions").json["data"] == []


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=1001", "limit=-1", "limit=1.5",
                                   "status=nope", "limit=" + "9" * 400])
def test_bad_query_parameters_are_422(client, session, query):
    error = assert_envelope(client.get(f"/sessions/{session}/webhook/deliveries?{query}"), 422)
    assert "query" in error["details"]


@pytest.mark.parametrize("purge", ["maybe", "2", "", "yes please"])
def test_a_bad_boolean_query_is_422(client, session, purge):
    assert_envelope(client.delete(f"/sessions/{session}?purge={purge}"), 422)


def test_an_invalid_utf8_query_or_path_is_a_4xx_envelope(client, session):
    assert_envelope(client.get(f"/sessions/{session}/webhook/deliveries?limit=%ff"), 422)
    assert_envelope(client.get("/sessions/%ff%fe"), 422)


def test_unknown_routes_and_methods_are_envelopes(client):
    assert_envelope(client.get("/nope"), 404, "not_found")
    assert_envelope(client.get("/sessions/a/nope"), 404, "not_found")
    resp = client.patch("/sessions")
    assert_envelope(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def test_a_missing_session_is_404_session_not_found(client):
    assert_envelope(client.get("/sessions/ghost"), 404, "session_not_found")
    assert_envelope(client.post("/sessions/ghost/start"), 404, "session_not_found")


def test_an_unexpected_error_is_a_500_envelope_without_internals(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    error = assert_envelope(app.test_client().get("/boom"), 500, "internal_error")
    assert "secret" not in error["message"]


def test_a_body_on_a_route_that_takes_none_is_ignored(client, session):
    for body, content_type in ((b"hello", "text/plain"), (b"{", "application/json")):
        resp = client.post(f"/sessions/{session}/reconnect", data=body, content_type=content_type)
        assert resp.status_code == 202


@pytest.mark.parametrize("body", [b"{", b'{"a": NaN}', b"[" * 50_000, b'"\\udc00"', b"\xff"])
def test_a_view_reading_json_itself_gets_the_same_strictness(make_app, body):
    app = make_app()

    @app.post("/echo")
    def echo():
        from flask import request

        return {"got": request.get_json(silent=True)}

    resp = app.test_client().post("/echo", data=body, content_type="application/json")
    assert_envelope(resp, 400, "invalid_json")
    assert app.test_client().post("/echo", json={"a": 1}).json == {"got": {"a": 1}}
