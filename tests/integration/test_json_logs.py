"""LOG_FORMAT=json under real gunicorn: every line of a full run (start, link, send, webhook,
errors, stop) is one JSON object; request ids are echoed and on the request's lines; no API
key, webhook secret or URL password appears anywhere in the log."""

from __future__ import annotations

import base64
import json

import requests

from waengine.events.signing import generate_secret

from ..conftest import phones, wait_for
from .servers import Gunicorn

number = phones(__name__)

ALICE, BUDI = number(31), number(32)
KEY = "json-logs-key-0123456789abcdef"
HOOK_SECRET = "plain-hook-secret-42424242"
PROXY_PASSWORD = "proxy-pass-9876"
FIELDS = {"ts", "level", "logger", "thread", "session", "event", "requestId", "message"}


def test_json_logs_of_a_full_run_parse_and_leak_no_secret(servers, sandbox, receiver, tmp_path):
    global_secret = generate_secret()
    server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                      extra_env={"WAENGINE_LOG_FORMAT": "json", "WAENGINE_API_KEYS": KEY,
                                 "WAENGINE_WEBHOOK_URL": receiver.url,
                                 "WAENGINE_WEBHOOK_SECRET": global_secret})
    servers.append(server)
    server.wait_healthy()
    auth = {"X-API-Key": KEY}

    def call(method, path, rid=None, **kw):
        headers = {**auth, **({"X-Request-ID": rid} if rid else {})}
        return requests.request(method, server.url + path, headers=headers, timeout=30, **kw)

    created = call("POST", "/sessions", "create-lg-1", json={"id": "lg"})
    assert created.status_code == 201 and created.headers["X-Request-ID"] == "create-lg-1"
    sandbox.phone(BUDI, "Budi")
    status = lambda: call("GET", "/sessions/lg").json()["status"]  # noqa: E731
    wait_for(lambda: status() == "SCAN_QR", timeout=60, message="SCAN_QR")
    sandbox.scan(lambda: call("GET", "/sessions/lg/qr").json().get("qr"), ALICE)
    wait_for(lambda: status() == "CONNECTED", timeout=60, message="CONNECTED")
    assert call("POST", "/sessions/lg/messages", json={"to": BUDI, "text": "json"}).ok
    # A list read that loads (Flask), a hit and a 304 (waengine/fastpath.py, before Flask):
    # each has its access line and request id.
    assert call("GET", "/sessions/lg/contacts", "contacts-miss-1").json()["cached"] is False
    hit = call("GET", "/sessions/lg/contacts", "contacts-hit-1")
    assert hit.json()["cached"] is True and hit.headers["X-Request-ID"] == "contacts-hit-1"
    assert requests.get(f"{server.url}/sessions/lg/contacts", timeout=30, headers={
        **auth, "X-Request-ID": "contacts-304-1", "If-None-Match": hit.headers["ETag"]}
    ).status_code == 304
    wait_for(lambda: any(e["type"] == "session.status" for e in receiver.delivered()),
             timeout=30, message="a signed webhook delivered")
    # Secrets travel in bodies, URLs and headers; none may reach the log.
    proxy_url = f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9/hook"  # refused: 422
    assert call("PUT", "/sessions/lg/webhook", json={"url": proxy_url}).status_code == 422
    assert call("PUT", "/sessions/lg/webhook", json={"url": receiver.url,
                                                     "secret": HOOK_SECRET}).ok
    assert call("PUT", "/sessions/lg/webhook", json={"url": receiver.url, "secret": "whsec_x",
                                                     "events": ["nope"]}).status_code == 422
    assert requests.get(f"{server.url}/sessions?token={KEY}", timeout=10).status_code == 401
    assert requests.get(f"{server.url}/sessions", timeout=10,
                        headers={"Authorization": f"Bearer {KEY}x"}).status_code == 401
    made = call("GET", "/sessions/lg").headers["X-Request-ID"]
    assert len(made) == 32
    server.stop()
    assert server.proc.returncode == 0

    text = (tmp_path / "gunicorn.log").read_text()
    for secret in (KEY, HOOK_SECRET, PROXY_PASSWORD, global_secret,
                   global_secret.removeprefix("whsec_"),
                   base64.b64encode(HOOK_SECRET.encode()).decode()):
        assert secret not in text, f"a secret reached the log: {secret[:6]}…"
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one object
    assert len(lines) > 20 and all(FIELDS <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert all({"method", "path", "status", "durationMs"} <= set(line) for line in access)
    create = [line for line in lines if line["requestId"] == "create-lg-1"]
    assert {line["logger"] for line in create} >= {"gunicorn.access", "waengine.engine.session"}
    assert all(line["session"] == "lg" for line in create if line["logger"] != "gunicorn.access")
    [create_access] = [line for line in create if line["logger"] == "gunicorn.access"]
    assert (create_access["method"], create_access["path"], create_access["status"]) == (
        "POST", "/sessions", 201)
    assert any(line["requestId"] == made and line["path"] == "/sessions/lg" for line in access)
    for rid, code in (("contacts-miss-1", 200), ("contacts-hit-1", 200), ("contacts-304-1", 304)):
        [line] = [line for line in access if line["requestId"] == rid]
        assert (line["method"], line["path"], line["status"], line["session"]) == (
            "GET", "/sessions/lg/contacts", code, "lg")
    assert any(line["session"] == "lg" and line["thread"] == "wa-session-lg" for line in lines)
