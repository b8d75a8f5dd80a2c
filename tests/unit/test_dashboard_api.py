"""What the dashboard needs from the public API: the all-sessions stream and its token, the live
session fields, the memory history and capacity, and the page itself (fake browsers)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from waengine import auth, create_app, engine_of
from waengine.config import ConfigError, load_config
from waengine.events.webhooks import WebhookSender

from .conftest import FAST

ADMIN, SCOPED = "admin-0123456789abcdefghijklmn", "acme-0123456789abcdefghijklmno"
KEYS = [ADMIN, f"{SCOPED}:acme-*"]
SECRET = "s3cret-of-24-bytes-or-more"


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=KEYS, SSE_KEEPALIVE=0.2)


def as_key(key):
    return {"X-API-Key": key}


def read_stream(resp, until: str) -> list[dict]:
    """The events of an SSE response up to (and with) the event whose id is `until`."""
    text = ""
    for chunk in resp.response:
        text += chunk.decode()
        if until in text:
            break
    resp.close()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_the_all_sessions_stream_shows_only_what_the_key_may_see(keyed):
    client = keyed.test_client()
    outbox = engine_of(keyed).events.outbox
    for sid in ("acme-1", "other"):
        assert client.post("/sessions", json={"id": sid}, headers=as_key(ADMIN)).status_code == 201
    first = outbox.add("other", "qr", {"qr": "o"}, None, [])
    mine = outbox.add("acme-1", "qr", {"qr": "a"}, None, [])
    token = client.post("/auth/stream-token", headers=as_key(SCOPED)).json["token"]
    scoped = client.get(f"/events?token={token}&lastEventId={first['id']}", buffered=False)
    assert scoped.mimetype == "text/event-stream"
    last = outbox.add("acme-1", "message", {"body": "hi"}, None, [])
    events = read_stream(scoped, last["id"])
    assert [e["id"] for e in events] == [mine["id"], last["id"]]

    admin = client.get("/events?tail=3&sessions=other,acme-1", headers=as_key(ADMIN),
                       buffered=False)
    assert [e["id"] for e in read_stream(admin, last["id"])] == [first["id"], mine["id"],
                                                                 last["id"]]
    only = client.get("/events?tail=500&sessions=acme-1", headers=as_key(ADMIN), buffered=False)
    assert {e["session"] for e in read_stream(only, last["id"])} == {"acme-1"}


def test_recent_events_are_one_page_oldest_first_within_the_key_scope(keyed):
    client = keyed.test_client()
    outbox = engine_of(keyed).events.outbox
    for sid in ("acme-1", "other"):
        assert client.post("/sessions", json={"id": sid}, headers=as_key(ADMIN)).status_code == 201
    before = len(client.get("/sessions/acme-1/events/recent?limit=500",
                            headers=as_key(SCOPED)).json["data"])
    added = [outbox.add("acme-1", "message", {"body": str(i)}, None, []) for i in range(5)]
    outbox.add("other", "message", {"body": "not yours"}, None, [])
    page = client.get("/sessions/acme-1/events/recent?limit=3", headers=as_key(SCOPED))
    assert page.status_code == 200
    assert [e["id"] for e in page.json["data"]] == [e["id"] for e in added[-3:]]
    assert page.json["data"][-1]["data"] == {"body": "4"}
    everything = client.get("/sessions/acme-1/events/recent?limit=500", headers=as_key(SCOPED))
    assert len(everything.json["data"]) == before + 5
    assert client.get("/sessions/other/events/recent", headers=as_key(SCOPED)).status_code == 403
    assert client.get("/sessions/acme-1/events/recent?limit=0",
                      headers=as_key(SCOPED)).status_code == 422
    assert client.get("/sessions/nope/events/recent", headers=as_key(ADMIN)).status_code == 404


def test_the_all_sessions_stream_refuses_what_it_cannot_serve(keyed):
    client = keyed.test_client()
    other = client.get("/events?sessions=other", headers=as_key(SCOPED))
    assert other.status_code == 403 and other.json["error"]["code"] == "forbidden"
    bad = client.get("/events?sessions=a,b!", headers=as_key(ADMIN))
    assert bad.status_code == 422 and "sessions" in bad.json["error"]["details"]["query"]
    assert client.get("/events?tail=0", headers=as_key(ADMIN)).status_code == 422
    unknown = client.get("/events?lastEventId=evt_nope", headers=as_key(ADMIN))
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "validation_error"
    assert client.get("/events").status_code == 401


def test_a_stream_token_opens_event_streams_only_for_a_minute(keyed):
    client = keyed.test_client()
    made = client.post("/auth/stream-token", headers=as_key(SCOPED)).json
    assert made["ttlSeconds"] == 60 and made["expiresAt"].endswith("Z")
    token = made["token"]
    assert ADMIN not in token and SCOPED not in token
    # Not a key: any other route, or a write, still needs the key itself.
    assert client.get(f"/sessions?token={token}").status_code == 401
    assert client.post(f"/events?token={token}").status_code == 401
    keys = auth.parse_api_keys(KEYS)
    assert auth.match_token(token, keys).scope == ("acme-*",)
    assert auth.match_token(token, keys, now=time.time() + 61) is None
    number, expires, nonce, mac = token.split(".")
    assert auth.match_token(f"1.{expires}.{nonce}.{mac}", keys) is None  # not the admin's token
    assert auth.match_token(f"{number}.{int(expires) + 3600}.{nonce}.{mac}", keys) is None
    assert client.get("/events?token=2.99999999999.nonce.forged").status_code == 401
    client.post("/sessions", json={"id": "acme-1"}, headers=as_key(ADMIN))
    client.post("/sessions", json={"id": "other"}, headers=as_key(ADMIN))
    own = client.get(f"/sessions/acme-1/events?token={token}", buffered=False)
    assert own.status_code == 200 and own.mimetype == "text/event-stream"
    own.close()
    # Single use: the same token again (a replay from a log) is refused, even where it
    # would otherwise be allowed.
    again = client.get(f"/sessions/acme-1/events?token={token}")
    assert again.status_code == 401 and again.json["error"]["details"]["reason"] == "token_used"
    fresh = client.post("/auth/stream-token", headers=as_key(SCOPED)).json["token"]
    assert client.get(f"/sessions/other/events?token={fresh}").status_code == 403


def test_sessions_carry_the_live_fields_the_table_shows(keyed):
    client = keyed.test_client()
    eng = engine_of(keyed)
    client.post("/sessions", json={"id": "acme-1", "keepAlive": True}, headers=as_key(ADMIN))
    eng.events.outbox.add("acme-1", "message", {"body": "hi"}, "m1", [])
    eng.events.outbox.add("acme-1", "message", {"body": "again"}, "m2", [])
    eng.store.execute("INSERT INTO outgoing (id, session, seq, op, args, status, created_at,"
                      " sent_at) VALUES ('o1', 'acme-1', 1, 'sendText', '{}', 'sent', ?, ?)",
                      ("2026-01-01T00:00:00Z", time.time()))
    eng.store.execute("INSERT INTO outgoing (id, session, seq, op, args, status, created_at)"
                      " VALUES ('o2', 'acme-1', 2, 'sendText', '{}', 'queued', ?)",
                      ("2026-01-01T00:00:00Z",))
    session = client.get("/sessions/acme-1", headers=as_key(SCOPED)).json
    assert session["activity"]["sentToday"] == 1 and session["activity"]["receivedToday"] == 2
    assert session["activity"]["queued"] == 1 and session["activity"]["lastEventAt"]
    assert session["keepAlive"] is True and session["pacing"]["minInterval"] >= 0
    assert session["webhook"] == {"url": None, "events": [], "hasSecret": False}
    assert session["statusSince"].endswith("Z")
    listed = client.get("/sessions", headers=as_key(SCOPED)).json["data"]
    assert [s["activity"] for s in listed] == [session["activity"]]


def test_keep_alive_can_be_switched_and_takes_only_a_boolean(keyed):
    client = keyed.test_client()
    client.post("/sessions", json={"id": "acme-1"}, headers=as_key(ADMIN))
    put = client.put("/sessions/acme-1/keep-alive", json={"keepAlive": True},
                     headers=as_key(SCOPED))
    assert put.status_code == 200 and put.json["keepAlive"] is True
    bad = client.put("/sessions/acme-1/keep-alive", json={"keepAlive": "yes"},
                     headers=as_key(SCOPED))
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    off = client.put("/sessions/acme-1/keep-alive", json={"keepAlive": False},
                     headers=as_key(ADMIN))
    assert off.json["keepAlive"] is False
    assert "keepAlive" not in engine_of(keyed).manager.get("acme-1").options


def test_performance_has_capacity_and_an_hour_of_history(keyed):
    client = keyed.test_client()
    eng = engine_of(keyed)
    eng.watchdog.run_once()
    eng.watchdog.run_once()
    history = client.get("/performance/history", headers=as_key(ADMIN)).json
    assert len(history["data"]) >= 2 and history["intervalSeconds"] > 0
    point = history["data"][-1]
    assert point["workerMb"] > 0 and point["totalMb"] >= point["workerMb"]
    capacity = client.get("/performance", headers=as_key(ADMIN)).json["capacity"]
    assert 0 <= capacity["sessionsThatFit"] <= capacity["maxSessions"]
    assert client.get("/performance/history", headers=as_key(SCOPED)).status_code == 403


def test_a_single_box_lists_one_node_without_a_url_and_refuses_drain_and_move(keyed):
    """What the page decides its cluster view from: a single box is one node that advertises
    no URL (the page then shows no node); drain and move answer an error the page shows."""
    client = keyed.test_client()
    client.post("/sessions", json={"id": "acme-1"}, headers=as_key(ADMIN))
    nodes = client.get("/nodes", headers=as_key(ADMIN)).json["data"]
    assert len(nodes) == 1 and nodes[0]["url"] is None
    node = nodes[0]
    assert node["id"] == engine_of(keyed).leases.node_id and node["alive"]
    assert not node["draining"] and 0 <= node["free"] <= node["capacity"]
    assert node["heartbeat"].endswith("Z") and node["startedAt"]
    session = client.get("/sessions/acme-1", headers=as_key(ADMIN)).json
    assert session["node"] == node["id"]
    # a key scoped to sessions may not list nodes: the page shows it no node
    assert client.get("/nodes", headers=as_key(SCOPED)).status_code == 403
    drained = client.post(f"/nodes/{node['id']}/drain", headers=as_key(ADMIN))
    assert drained.status_code == 409 and drained.json["error"]["code"] == "session_not_ready"
    assert "cluster mode" in drained.json["error"]["message"]
    moved = client.post("/sessions/acme-1/move", json={"node": "elsewhere"},
                        headers=as_key(ADMIN))
    assert moved.status_code == 409 and "cluster mode" in moved.json["error"]["message"]
    unknown = client.post("/nodes/nowhere/drain", headers=as_key(ADMIN))
    assert unknown.status_code == 404 and unknown.json["error"]["details"] == {"node": "nowhere"}


def test_a_node_that_advertises_its_url_is_listed_with_it(make_app):
    """NODE_URL set: the page treats it as a cluster (Nodes view, Node column, Move)."""
    app = make_app(NODE_ID="gw-1", NODE_URL="http://10.0.0.5:8080")
    nodes = app.test_client().get("/nodes").json["data"]
    assert [(n["id"], n["url"]) for n in nodes] == [("gw-1", "http://10.0.0.5:8080")]


def test_history_keeps_one_hour():
    from waengine.ops.history import MemoryHistory
    from waengine.ops.watchdog import MemorySample

    now = [1000.0]
    history = MemoryHistory(span=3600, clock=lambda: now[0])
    sample = MemorySample(at=0, worker={"rssMb": 50.0, "ussMb": 40.0}, available_mb=900.0)
    for _ in range(5):
        history.add(sample, [])
        now[0] += 1000
    assert [p["at"] for p in history.points()] == [2000.0, 3000.0, 4000.0, 5000.0]


def test_the_page_is_served_without_a_key_and_may_not_be_framed(keyed):
    client = keyed.test_client()
    for path in ("/dashboard", "/dashboard/"):
        page = client.get(path)
        assert page.status_code == 200 and b"dashboard.js" in page.data
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert b'id="view-nodes"' in page.data and b'id="drain-dialog"' in page.data
    asset = client.get("/dashboard/assets/dashboard.js")
    assert asset.status_code == 200 and b"X-API-Key" in asset.data
    assert client.get("/dashboard/assets/nope.js").status_code == 404
    assert "/dashboard" not in json.dumps(client.get("/openapi.json").json["paths"])


def test_the_dashboard_can_move_or_be_turned_off(tmp_path):
    base = {**FAST, "DATA_DIR": str(tmp_path / "d"), "API_KEYS": KEYS}
    moved = create_app({**base, "DASHBOARD_PATH": "/ops/panel"}).test_client()
    assert moved.get("/ops/panel").status_code == 200
    off = create_app({**base, "DASHBOARD": False}).test_client()
    page = off.get("/dashboard")
    assert page.status_code == 401  # no page: an API path like any other
    with pytest.raises(ConfigError, match="DASHBOARD_PATH"):
        load_config({"DASHBOARD_PATH": "dashboard"})


def test_a_failed_webhook_keeps_the_start_of_the_answer(outbox_receiver):
    url, outbox = outbox_receiver
    outbox.add("s1", "message", {"body": "x"}, None, [{"url": url}])
    sender = WebhookSender(outbox, load_config({"ENV": "testing"}))
    sender.run_once()
    [row] = outbox.deliveries("s1", "failed", 10)
    assert row["lastStatus"] == 422 and row["lastError"] == 'HTTP 422: {"error": "bad field x"}'


@pytest.fixture
def outbox_receiver(tmp_path):
    from waengine.events.outbox import EventOutbox
    from waengine.store import Store

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"error": "bad field x"}'
            self.send_response(422)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store = Store(tmp_path / "o.db")
    yield f"http://127.0.0.1:{server.server_port}/hook", EventOutbox(store)
    server.shutdown()
    store.close()


def test_patching_the_webhook_keeps_its_secret(keyed):
    client = keyed.test_client()
    client.post("/sessions", json={"id": "acme-1"}, headers=as_key(ADMIN))
    first = client.patch("/sessions/acme-1/webhook", json={"events": ["message"]},
                         headers=as_key(SCOPED))
    assert first.status_code == 422 and first.json["error"]["details"]["field"] == "url"
    client.put("/sessions/acme-1/webhook", json={"url": "http://h.lan/a", "secret": SECRET},
               headers=as_key(SCOPED))
    patched = client.patch("/sessions/acme-1/webhook",
                           json={"url": "http://h.lan/b", "events": ["message"]},
                           headers=as_key(SCOPED))
    assert patched.json == {"url": "http://h.lan/b", "events": ["message"], "hasSecret": True}
    hook = engine_of(keyed).manager.get("acme-1").options["webhook"]
    assert hook["secret"] == SECRET
    bad = client.patch("/sessions/acme-1/webhook", json={"url": "ftp://x"}, headers=as_key(SCOPED))
    assert bad.status_code == 422
