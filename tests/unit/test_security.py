"""Issue 23's findings, each attack performed against the gateway and seen to fail
(docs/security.md, "Threat model")."""

from __future__ import annotations

import http.server
import io
import json
import os
import socket
import sqlite3
import stat
import threading

import pytest
from standardwebhooks import Webhook

from waengine import auth, engine_of
from waengine.config import ConfigError, load_config
from waengine.engine.manager import pinned_server
from waengine.engine.proxy import parse_proxy
from waengine.events.outbox import EventOutbox
from waengine.events.webhooks import WebhookSender, post
from waengine.logs import redact
from waengine.media import MediaFile, served_mimetype
from waengine.netguard import AddressRefused, Guard
from waengine.store import Store

from ..conftest import wait_for
from ..receiver import Receiver

ADMIN = "admin-0123456789abcdefghijkl"
TENANT = "tenant-0123456789abcdefghijk"
OTHER = "other-0123456789abcdefghijkl"
KEYS = [ADMIN, f"{TENANT}:t-*", f"{OTHER}:o-*"]
SECRET = "a-webhook-secret-of-24-bytes"
# The production default: the suite opts in to loopback receivers (tests/conftest.py), these
# tests opt out again to attack the default.
PRODUCTION_DEFAULT = {"WEBHOOK_ALLOW_PRIVATE": False}
SENDER = {"WEBHOOK_TIMEOUT": 2.0, "WEBHOOK_RETRY_BASE": 0.01, "WEBHOOK_RETRY_MAX_DELAY": 0.05,
          "WEBHOOK_RETRY_HORIZON": 3600.0}


def h(key):
    return {"X-API-Key": key}


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=KEYS, **PRODUCTION_DEFAULT)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---- 1. outgoing URLs (SSRF) ----
def test_the_production_default_refuses_inside_addresses_and_development_allows_them():
    assert load_config({"ENV": "production", "API_KEYS": [ADMIN]},
                       environ={})["WEBHOOK_ALLOW_PRIVATE"] is False
    assert load_config({"ENV": "testing"}, environ={})["WEBHOOK_ALLOW_PRIVATE"] is False
    assert load_config({"ENV": "development"}, environ={})["WEBHOOK_ALLOW_PRIVATE"] is True


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1:2375/containers/json", "http://localhost:6379/",
    "http://2130706433:8080/", "http://0x7f.1:8080/", "http://0177.0.0.1/", "http://127.1/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/", "http://0.0.0.0:8080/",
    "http://224.0.0.1/", "http://api.localhost/",
])
def test_a_scoped_key_cannot_point_a_webhook_inside(keyed, url):
    client = keyed.test_client()
    assert client.post("/sessions", json={"id": "t-1"}, headers=h(TENANT)).status_code == 201
    put = client.put("/sessions/t-1/webhook", json={"url": url}, headers=h(TENANT))
    assert put.status_code == 422, put.json
    assert "not allowed" in json.dumps(put.json["error"]["details"])
    created = client.post("/sessions", json={"id": "t-2", "webhook": {"url": url}},
                          headers=h(TENANT))
    assert created.status_code == 422
    # The admin key's own setting counts too: the same refusal.
    assert client.put("/sessions/t-1/webhook", json={"url": url},
                      headers=h(ADMIN)).status_code == 422


@pytest.mark.parametrize("host, reason", [
    ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("fd00::1", "unique-local"),
    ("fe80::1", "link-local"), ("ff02::1", "multicast"), ("2002:a00:1::", "private"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
])
def test_ipv6_spellings_of_inside_addresses_are_refused(host, reason):
    with pytest.raises(AddressRefused) as refused:
        Guard().check_host(host)
    assert refused.value.reason == reason


def test_an_allowed_url_is_taken(keyed):
    client = keyed.test_client()
    client.post("/sessions", json={"id": "t-1"}, headers=h(TENANT))
    ok = client.put("/sessions/t-1/webhook", json={"url": "https://hooks.example.com/wa"},
                    headers=h(TENANT))
    assert ok.status_code == 200


def deliver(tmp_path, url: str, config: dict, answer: list[int] | None = None):
    """One event to url through a WebhookSender with config; its delivery row."""
    store = Store(tmp_path / "hooks.db")
    outbox = EventOutbox(store)
    outbox.add("t-1", "message", {"body": "x"}, None, [{"url": url}])
    WebhookSender(outbox, {**SENDER, **config}).run_once()
    [row] = outbox.deliveries("t-1", None, 10)
    store.close()
    return row


@pytest.mark.parametrize("host", ["localhost", "2130706433", "127.1", "0x7f000001"])
def test_connect_time_refuses_a_name_or_spelling_that_reaches_loopback(tmp_path, receiver, host):
    # Set as the global WEBHOOK_URL (no schema check) or stored before: the connect refuses.
    url = f"http://{host}:{receiver.port}/hook"
    row = deliver(tmp_path, url, PRODUCTION_DEFAULT)
    assert row["status"] == "failed" and row["lastError"].startswith("AddressRefused")
    assert "loopback" in row["lastError"] and receiver.requests == []
    # The same receiver, opened by the operator: delivered, so the refusal above was the guard.
    assert deliver(tmp_path / "b", url, {"WEBHOOK_ALLOW_PRIVATE": True})["status"] == "delivered"


def test_the_allow_list_opens_networks_and_names(tmp_path, receiver):
    url = f"http://127.0.0.1:{receiver.port}/hook"
    assert deliver(tmp_path / "a", url, {"WEBHOOK_ALLOW": ["127.0.0.0/8"]})["status"] == "delivered"
    assert deliver(tmp_path / "b", f"http://localhost:{receiver.port}/hook",
                   {"WEBHOOK_ALLOW": "localhost"})["status"] == "delivered"
    assert deliver(tmp_path / "c", url, {"WEBHOOK_ALLOW": ["10.1.2.0/24"]})["status"] == "failed"
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW entry"):
        load_config({"ENV": "testing", "WEBHOOK_ALLOW": ["10.0.0.0/8", "not a name!"]})


def test_an_inside_global_webhook_url_stops_the_start_unless_allowed():
    with pytest.raises(ConfigError, match="WEBHOOK_URL: .* loopback address is not allowed"):
        load_config({"ENV": "testing", "WEBHOOK_URL": "http://2130706433:9/h"}, environ={})
    assert load_config({"ENV": "testing", "WEBHOOK_URL": "http://127.0.0.1:9/h",
                        "WEBHOOK_ALLOW": ["127.0.0.1"]}, environ={})


def test_dns_rebinding_cannot_steer_a_checked_connection_inside(monkeypatch, receiver):
    # The first answer is the address the check allows (here the receiver, allowed by the
    # list); every later answer is the metadata service. The connection goes to the first.
    real, answers = socket.getaddrinfo, []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append(host)
        address = "127.0.0.1" if len(answers) == 1 else "169.254.169.254"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    guard = Guard.parse(False, "127.0.0.1/32")
    status, _ = post(f"http://rebind.test:{receiver.port}/hook", b"{}", {}, 5.0, guard=guard)
    assert status == 200 and len(answers) == 1
    assert receiver.requests[0]["headers"]["Host"] == f"rebind.test:{receiver.port}"
    # A name with one public and one inside answer is refused whatever the order.
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: real(
        "8.8.8.8", port, *a, **k) + real("10.0.0.1", port, *a, **k))
    with pytest.raises(AddressRefused):
        Guard().connect("mixed.test", 80, 1.0)


def test_a_scoped_key_sees_only_the_status_of_a_failed_delivery(make_app):
    # An inside service (here allowed, as a LAN operator may) answers 403 with its secrets.
    class Inside(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"internal": "answer"}'
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Inside)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(API_KEYS=KEYS, WEBHOOK_ALLOW_PRIVATE=True)
        client = app.test_client()
        url = f"http://127.0.0.1:{server.server_port}/hook"
        client.post("/sessions", json={"id": "t-1"}, headers=h(TENANT))
        outbox = engine_of(app).events.outbox
        outbox.add("t-1", "message", {"body": "x"}, None, [{"url": url}])
        wait_for(lambda: outbox.deliveries("t-1", "failed", 10), message="the 403 recorded")
    finally:
        server.shutdown()
        server.server_close()
    seen = client.get("/sessions/t-1/webhook/deliveries", headers=h(TENANT)).json["data"][0]
    assert seen["lastError"] == "HTTP 403" and seen["lastStatus"] == 403
    full = client.get("/sessions/t-1/webhook/deliveries", headers=h(ADMIN)).json["data"][0]
    assert full["lastError"] == 'HTTP 403: {"internal": "answer"}'  # the operator's view
    engine_of(app).store.execute("UPDATE deliveries SET last_error = ?",
                                 ("AddressRefused: 10.0.0.1: a private address …",))
    seen = client.get("/sessions/t-1/webhook/deliveries", headers=h(TENANT)).json["data"][0]
    assert seen["lastError"] == "address not allowed"


def test_a_tenants_proxy_may_not_point_inside(keyed):
    client = keyed.test_client()
    client.post("/sessions", json={"id": "t-1"}, headers=h(TENANT))
    for proxy in ("http://127.0.0.1:3128", "socks5://169.254.169.254:1080",
                  "http://u:p@10.0.0.5:3128", "http://localhost:8080", "http://2130706433:3128"):
        put = client.put("/sessions/t-1/proxy", json={"proxy": proxy}, headers=h(TENANT))
        assert put.status_code == 422, proxy
    # At launch the name is resolved, checked, and Chromium is given the address itself.
    with pytest.raises(Exception) as refused:
        pinned_server(parse_proxy("http://localhost:3128"), Guard())
    assert refused.value.reason == "proxy_unreachable"
    assert "loopback" in refused.value.details["error"]
    allowed = Guard(allow_private=True)
    assert pinned_server(parse_proxy("http://localhost:3128"), allowed) in (
        "http://127.0.0.1:3128", "http://[::1]:3128")
    # https keeps its name: TLS checks the proxy's certificate against it.
    assert pinned_server(parse_proxy("https://localhost:3128"), allowed) == "https://localhost:3128"


def test_a_tenants_sink_may_not_point_inside(keyed, monkeypatch):
    from waengine.events.sinks import address_problem

    client = keyed.test_client()
    client.post("/sessions", json={"id": "t-1"}, headers=h(TENANT))
    for url in ("redis://:pw@127.0.0.1:6379/0", "amqp://u:p@10.0.0.1:5672/",
                "nats://169.254.169.254:4222", "redis://localhost:6379/0"):
        put = client.put("/sessions/t-1/sinks", json={"sinks": [{"url": url}]},
                         headers=h(TENANT))
        assert put.status_code == 422, url
        assert "pw" not in json.dumps(put.json)
    assert "loopback" in address_problem("redis://:pw@localhost:6379/0", Guard())
    assert address_problem("redis://localhost:6379/0", Guard(allow_private=True)) is None
    # Before each new connection to a broker, its name is resolved, every address checked,
    # and the client connects to those (tests/unit/test_sink_pinning.py).
    from waengine.events.sinks import publisher
    from waengine.events.sinks.base import SinkError

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host == "cache.test" else host, *a, **k))
    sink = publisher("redis://:pw@cache.test:6379/0", 1.0)
    sink.guard = Guard()
    with pytest.raises(SinkError) as refused:
        sink.pin()
    assert "loopback" in str(refused.value) and "pw" not in str(refused.value)
    with pytest.raises(ConfigError, match="SINKS: .*private address is not allowed"):
        load_config({"ENV": "testing", "SINKS": [{"url": "nats://10.0.0.1:4222"}]}, environ={})


# ---- 2. one tenant and the streams and the request rate ----
def test_a_tenant_cannot_take_every_event_stream(make_app):
    # THREADS 8: SSE_MAX_STREAMS 2, one reserved for admin keys, one per scoped key.
    app = make_app(API_KEYS=KEYS, THREADS=8)
    assert (app.config["SSE_MAX_STREAMS"], app.config["SSE_ADMIN_STREAMS"],
            app.config["SSE_STREAMS_PER_KEY"]) == (2, 1, 1)
    client = app.test_client()
    first = client.get("/events", headers=h(TENANT), buffered=False)
    assert first.status_code == 200
    second = client.get("/events", headers=h(TENANT))
    assert second.status_code == 429 and second.headers["Retry-After"]
    other = client.get("/events", headers=h(OTHER))  # the tenants' places are taken
    assert other.status_code == 429
    admin = client.get("/events", headers=h(ADMIN), buffered=False)
    assert admin.status_code == 200  # the reserved place
    admin.close()  # the test client's streams close in the reverse order of opening
    first.close()
    hub = engine_of(app).events
    wait_for(lambda: not hub.tenant_streams, message="the tenant's place given back")
    again = client.get("/events", headers=h(OTHER), buffered=False)
    assert again.status_code == 200
    again.close()


def test_a_key_over_its_request_rate_gets_429_with_retry_after(make_app):
    app = make_app(API_KEYS=KEYS, RATE_LIMIT="5/minute")
    client = app.test_client()
    answers = [client.get("/sessions", headers=h(TENANT)).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    refused = client.get("/sessions", headers=h(TENANT))
    assert refused.json["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/sessions", headers=h(ADMIN)).status_code == 200  # its own count
    assert client.get("/health").status_code == 200  # never counted


# ---- 3. stream tokens ----
def test_a_stream_token_opens_only_the_stream_endpoints(keyed):
    client = keyed.test_client()
    client.post("/sessions", json={"id": "events"}, headers=h(ADMIN))

    def token():
        return client.post("/auth/stream-token", headers=h(ADMIN)).json["token"]

    # A path ending in /events is not a stream: this is the session named "events".
    assert client.get(f"/sessions/events?token={token()}").status_code == 401
    assert client.get(f"/sessions/events/webhook?token={token()}").status_code == 401
    stream = client.get(f"/sessions/events/events?token={token()}", buffered=False)
    assert stream.status_code == 200
    stream.close()


def test_a_percent_encoded_token_parameter_is_no_token_and_is_masked_in_logs(keyed):
    client = keyed.test_client()
    token = client.post("/auth/stream-token", headers=h(ADMIN)).json["token"]
    assert client.get(f"/events?%74oken={token}").status_code == 401
    line = redact(f'"GET /events?%74oken={token}&tail=5 HTTP/1.1" 401')
    assert token not in line and "%74oken=***" in line


# ---- 4. bodies over the limit ----
def test_a_chunked_body_over_the_limit_is_413_not_truncated(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    client = app.test_client()
    big = json.dumps({"id": "big", "keepAlive": True}).encode() + b" " * 2000
    answer = client.post("/sessions", input_stream=io.BytesIO(big),
                         headers={"Content-Type": "application/json",
                                  "Transfer-Encoding": "chunked"},
                         environ_overrides={"wsgi.input_terminated": True})
    assert answer.status_code == 413 and answer.json["error"]["details"] == {"limit": 1000}
    assert client.get("/sessions/big").status_code == 404  # not processed
    small = json.dumps({"id": "small"}).encode()
    fits = client.post("/sessions", input_stream=io.BytesIO(small),
                       headers={"Content-Type": "application/json",
                                "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
    assert fits.status_code == 201


# ---- 5. auth settings ----
def test_production_refuses_short_keys_and_auth_disabled_with_keys():
    with pytest.raises(ConfigError, match="entry 2 is shorter than 24 bytes"):
        load_config({"ENV": "production", "API_KEYS": [ADMIN, "short"]}, environ={})
    with pytest.raises(ConfigError, match="both set"):
        load_config({"ENV": "production", "API_KEYS": [ADMIN], "AUTH_DISABLED": True},
                    environ={})
    assert load_config({"ENV": "testing", "API_KEYS": ["k1"]}, environ={})  # tests may


def test_repeated_failed_keys_from_one_address_are_throttled(make_app):
    app = make_app(API_KEYS=KEYS, AUTH_FAIL_LIMIT="10/minute")
    client = app.test_client()
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(10):
        assert client.get("/sessions", headers=h(f"guess-{n}"),
                          environ_base=guesser).status_code == 401
    refused = client.get("/sessions", headers=h("guess-10"), environ_base=guesser)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    # Even the right key: a 200 now would tell the guesser it found one.
    assert client.get("/sessions", headers=h(ADMIN), environ_base=guesser).status_code == 429
    assert client.get("/sessions", headers=h(ADMIN),
                      environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 200
    # Behind nginx (a trusted proxy), the address is X-Forwarded-For's last hop.
    via = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/sessions", headers={**h(ADMIN), "X-Forwarded-For": "203.0.113.7"},
                      environ_base=via).status_code == 429
    assert client.get("/sessions", headers={**h(ADMIN), "X-Forwarded-For": "203.0.113.9"},
                      environ_base=via).status_code == 200


# ---- 6. browser-facing defaults ----
def test_with_auth_off_a_cross_site_page_cannot_make_the_browser_write(make_app):
    client = make_app().test_client()
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    page = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for how in ({}, {"data": "id=s2", "content_type": "application/x-www-form-urlencoded"},
                {"data": "x", "content_type": "text/plain"}):
        refused = client.post("/sessions/s1/logout", headers=page, **how)
        assert refused.status_code == 403, how
        assert refused.json["error"]["details"] == {"header": "X-Requested-With"}
    assert client.delete("/sessions/s1", headers=page).status_code == 403
    # A JSON body or the custom header makes a cross-site request ask first (preflight).
    assert client.post("/sessions", json={"id": "s3"}, headers=page).status_code == 201
    assert client.post("/sessions/s1/reconnect",
                       headers={**page, "X-Requested-With": "x"}).status_code != 403
    # Programs (no Origin, no Sec-Fetch-*) are not browsers: unchanged.
    assert client.post("/sessions/s3/reconnect").status_code != 403


def test_nosniff_everywhere_and_docs_may_not_be_framed(keyed):
    client = keyed.test_client()
    for path in ("/health", "/sessions", "/nope", "/openapi.json"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff", path
    docs = client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("mimetype, served", [
    ("text/html", "application/octet-stream"), ("image/svg+xml", "application/octet-stream"),
    ("application/xhtml+xml", "application/octet-stream"), ("text/xml", "application/octet-stream"),
    ("application/javascript", "application/octet-stream"), ("image/png", "image/png"),
    ("application/pdf", "application/pdf"),
])
def test_stored_media_of_an_active_type_is_served_as_bytes(make_app, mimetype, served):
    app = make_app(MEDIA_STORE="local")
    store = engine_of(app).media_store
    payload = b"<html><script>alert(document.domain)</script></html>"
    view = store.put("s1", "true_1@c.us_AB", MediaFile(
        size=len(payload), mimetype=mimetype, filename="x", type="document",
        chunks=iter([payload])))
    got = app.test_client().get(view["url"])
    assert got.status_code == 200 and got.mimetype == served
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert served_mimetype(None) == "application/octet-stream"


def test_a_websocket_from_another_origin_is_refused():
    from waengine.errors import Forbidden
    from waengine.events.websocket import check_origin

    check_origin({"HTTP_HOST": "wa.example.com"}, ())  # not a browser: no Origin
    check_origin({"HTTP_HOST": "wa.example.com", "HTTP_ORIGIN": "https://wa.example.com"}, ())
    check_origin({"HTTP_HOST": "127.0.0.1:8080", "HTTP_ORIGIN": "http://127.0.0.1:8080"}, ())
    check_origin({"HTTP_HOST": "wa.example.com", "HTTP_ORIGIN": "https://app.example.com"},
                 ("https://app.example.com",))
    for origin, host in (("https://evil.example", "wa.example.com"),
                         ("http://127.0.0.1:9999", "127.0.0.1:8080"), ("null", "wa.example.com")):
        with pytest.raises(Forbidden):
            check_origin({"HTTP_HOST": host, "HTTP_ORIGIN": origin}, ())


# ---- 7. secrets at rest ----
def test_database_and_folders_are_private_whatever_the_umask(make_app, tmp_path):
    old = os.umask(0o022)
    try:
        app = make_app(MEDIA_STORE="local")
        eng = engine_of(app)
        eng.store.execute("INSERT INTO sessions (id, created_at, status) VALUES ('x', '', 'S')")
        eng.media_store.put("s1", "true_1@c.us_AB", MediaFile(
            size=1, mimetype="image/png", filename="x", type="image", chunks=iter([b"x"])))
    finally:
        os.umask(old)
    data = tmp_path / "data"

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    for name in ("waengine.db", "waengine.db-wal", "waengine.db-shm"):
        assert mode(data / name) == 0o600, name
    for folder in (data, data / "profiles", data / "media", data / "media" / "s1"):
        assert mode(folder) == 0o700, folder


def test_an_existing_open_folder_and_database_are_tightened(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    (folder / "w.db").touch(mode=0o644)
    Store(folder / "w.db").close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "w.db").stat().st_mode) == 0o600


def test_stored_secrets_are_encrypted_with_the_secret_key(make_app, tmp_path, receiver):
    key = "k" * 40
    app = make_app(SECRET_KEY=key)
    client = app.test_client()
    assert client.post("/sessions", json={"id": "s1", "webhook": {
        "url": receiver.url, "secret": SECRET, "events": ["message"]}}).status_code == 201
    assert client.put("/sessions/s1/proxy", json={
        "proxy": "http://user:pr0xy-passw0rd@127.0.0.1:3128"}).status_code == 202
    assert client.put("/sessions/s1/sinks", json={"sinks": [
        {"url": "redis://:s1nk-passw0rd@127.0.0.1:9/0"}]}).status_code == 200
    raw = sqlite3.connect(tmp_path / "data" / "waengine.db").execute(
        "SELECT options FROM sessions").fetchone()[0]
    assert SECRET not in raw and "pr0xy-passw0rd" not in raw and "s1nk-passw0rd" not in raw
    assert "enc:v1:" in raw
    # The gateway still signs with the secret it opened.
    eng = engine_of(app)
    eng.events.outbox.add("s1", "message", {"body": "x"}, None, eng.events.webhooks_for(
        eng.manager.get("s1"), "message"))
    wait_for(lambda: receiver.delivered(), message="the signed delivery")
    req = receiver.requests[0]
    headers = {k.lower(): v for k, v in req["headers"].items()}
    Webhook("whsec_" + __import__("base64").b64encode(SECRET.encode()).decode()).verify(
        req["body"], headers)
    eng.close()
    with pytest.raises(ConfigError, match="set WAENGINE_SECRET_KEY"):
        make_app()
    with pytest.raises(ConfigError, match="does not decrypt"):
        make_app(SECRET_KEY="another-key-of-at-least-32-characters")
    reopened = make_app(SECRET_KEY=key)
    options = engine_of(reopened).manager.get("s1").options
    assert options["webhook"]["secret"] == SECRET
    assert options["sinks"][0]["url"] == "redis://:s1nk-passw0rd@127.0.0.1:9/0"


def test_a_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 32"):
        load_config({"ENV": "testing", "SECRET_KEY": "short"}, environ={})


# ---- 8. exposure ----
def test_health_without_a_key_shows_only_the_state_and_its_class(keyed):
    client = keyed.test_client()
    assert client.get("/health").json == {"status": "ok"}
    assert "sessions" in client.get("/health", headers=h(TENANT)).json
    assert client.get("/health", headers=h("wrong-key")).json == {"status": "ok"}
    engine_of(keyed).store.failing = "disk I/O error at /srv/wa/data/waengine.db"
    bare = client.get("/health")
    assert bare.status_code == 503
    assert bare.json == {"status": "unhealthy", "reasonClass": "database"}
    detail = client.get("/health", headers=h(ADMIN)).json
    assert "/srv/wa/data" in detail["reason"] and detail["reasonClass"] == "database"


def test_stream_token_replay_is_refused(keyed):
    client = keyed.test_client()
    token = client.post("/auth/stream-token", headers=h(ADMIN)).json["token"]
    first = client.get(f"/events?token={token}", buffered=False)
    assert first.status_code == 200
    first.close()
    replay = client.get(f"/events?token={token}")
    assert replay.status_code == 401 and replay.json["error"]["details"]["reason"] == "token_used"
    assert auth.match_token(token, auth.parse_api_keys(KEYS)) is not None  # valid, but spent
