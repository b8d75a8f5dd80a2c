"""Any node answers any request: a command for a session another node owns is forwarded to
it over HTTP, signed with CLUSTER_SECRET (never the client's key); cluster-wide lists show
each session's node."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug.serving import make_server

from waengine import engine_of
from waengine.forward import HEADER, sign

from ..conftest import wait_for
from .fakes import connect

SECRET = "s" * 40
KEY = {"X-API-Key": "k1-abcdefghijklmnopqrstuvwxyz012345"}
SCOPED = {"X-API-Key": "k2-abcdefghijklmnopqrstuvwxyz012345"}


@pytest.fixture
def served():
    """Serve apps on loopback HTTP (a node's NODE_URL); shut down afterwards."""
    servers = []

    def serve(app, port_holder):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        port_holder["url"] = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()


def node(make_app, served, name: str, data_dir, **config):
    """A node served on loopback HTTP, advertising that URL."""
    app = make_app(NODE_ID=name, DATA_DIR=str(data_dir), LEASE_TTL=3.0, CLUSTER_SECRET=SECRET,
                   API_KEYS=[KEY["X-API-Key"], f"{SCOPED['X-API-Key']}:own-*"], **config)
    address: dict = {}
    served(app, address)
    engine_of(app).config["NODE_URL"] = address["url"]
    engine_of(app).node.beat()
    return app


def two_nodes(make_app, factory, served, tmp_path):
    factory.on_open = connect
    return (node(make_app, served, "node-a", tmp_path / "a"),
            node(make_app, served, "node-b", tmp_path / "b"), None)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_command_for_another_nodes_session_is_answered_by_its_owner(make_app, factory,
                                                                      served, tmp_path):
    first, second, _ = two_nodes(make_app, factory, served, tmp_path)
    a, b = first.test_client(), second.test_client()
    assert b.post("/sessions", json={"id": "s1"}, headers=KEY).status_code == 201
    wait_for(lambda: b.get("/sessions/s1", headers=KEY).json.get("status") == "CONNECTED")
    # created on b: a knows it from the shared registry, and forwards to b
    seen = wait_for(lambda: (r := a.get("/sessions/s1", headers=KEY)).status_code == 200 and r,
                    message="node-a answers for s1")
    assert seen.json["node"] == "node-b"
    # no forward without the client's key: node-a checks it itself
    assert a.get("/sessions/s1").status_code == 401
    changed = a.put("/sessions/s1/keep-alive", json={"keepAlive": True}, headers=KEY)
    assert changed.status_code == 200, changed.json
    assert engine_of(second).manager.get("s1").options.get("keepAlive") is True
    assert not engine_of(first).manager.get("s1").running
    listed = {s["id"]: s for s in a.get("/sessions", headers=KEY).json["data"]}
    assert listed["s1"]["node"] == "node-b" and listed["s1"]["status"] == "CONNECTED"
    perf = a.get("/performance", headers=KEY).json
    assert [(s["id"], s["node"]) for s in perf["sessions"]] == [("s1", "node-b")]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_refuses_an_unsigned_stale_forged_or_replayed_forward(make_app, factory,
                                                                    served, tmp_path):
    first, _second, _ = two_nodes(make_app, factory, served, tmp_path)
    a = first.test_client()

    def code(header):
        resp = a.get("/sessions", headers={HEADER: header})
        return resp.status_code, resp.json["error"]["details"].get("reason")

    assert a.get("/sessions").status_code == 401  # unsigned, no key
    assert code(sign(SECRET, "GET", "/sessions", b"", ts=time.time() - 120)) == (
        401, "cluster_stale")
    assert code(sign("x" * 40, "GET", "/sessions", b"")) == (401, "cluster_bad_signature")
    assert code(sign(SECRET, "POST", "/sessions", b"")) == (401, "cluster_bad_signature")
    good = sign(SECRET, "GET", "/sessions", b"")
    assert a.get("/sessions", headers={HEADER: good}).status_code == 200
    assert code(good) == (401, "cluster_replayed")
    assert code("t=1") == (401, "cluster_malformed")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_session_whose_owner_does_not_answer_is_moving(make_app, factory, served, tmp_path):
    first, second, _ = two_nodes(make_app, factory, served, tmp_path)
    a, b = first.test_client(), second.test_client()
    assert a.post("/sessions", json={"id": "s2"}, headers=KEY).status_code == 201
    wait_for(lambda: a.get("/sessions/s2", headers=KEY).json["status"] == "CONNECTED")
    engine_of(first).config["NODE_URL"] = "http://127.0.0.1:9/"  # nothing listens there
    engine_of(first).node.beat()
    moving = b.get("/sessions/s2", headers=KEY)
    assert moving.status_code == 503 and moving.json["error"]["code"] == "session_moving"
    assert moving.headers["Retry-After"]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_stream_on_any_node_is_woken_by_another_nodes_event(make_app, factory, served,
                                                              tmp_path):
    factory.on_open = connect
    first = make_app(NODE_ID="node-a", LEASE_TTL=3.0, SSE_KEEPALIVE=120.0)
    second = make_app(NODE_ID="node-b", DATA_DIR=str(tmp_path / "b"), LEASE_TTL=3.0,
                      SSE_KEEPALIVE=120.0)
    a, b = first.test_client(), second.test_client()
    assert a.post("/sessions", json={"id": "s3"}).status_code == 201
    wait_for(lambda: a.get("/sessions/s3").json["status"] == "CONNECTED")
    outbox = engine_of(second).events.outbox
    wait_for(lambda: outbox.last_seq == outbox.max_seq(), message="node-b caught up")
    waiting = len(outbox.changed._waiters)  # the senders that wait on it already
    stream = b.get("/sessions/s3/events", buffered=False)
    chunks = stream.response  # node-b serves it from the shared outbox
    assert next(chunks).startswith(b"retry:")
    got: list[bytes] = []

    def read():
        for chunk in chunks:
            got.append(chunk)
            if b"STOPPED" in chunk:
                return

    threading.Thread(target=read, daemon=True).start()
    wait_for(lambda: len(outbox.changed._waiters) > waiting, message="the stream waits")
    assert a.delete("/sessions/s3").status_code == 200  # node-a commits session.status STOPPED
    # nothing is committed on node-b: its waiting stream is woken by LISTEN/NOTIFY alone
    wait_for(lambda: any(b'"status":"STOPPED"' in c for c in got), message="STOPPED streamed")
    stream.close()


def events_of(app, sid: str, kind: str) -> list[dict]:
    import json

    rows = engine_of(app).store.execute(
        "SELECT body FROM events WHERE session = ? AND type = ? ORDER BY seq", (sid, kind))
    return [json.loads(r["body"])["data"] for r in rows]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_session_moves_to_a_named_node_with_its_profile_and_its_lease(make_app, factory,
                                                                        served, tmp_path):
    from waengine.errors import LeaseLost

    first, second, _ = two_nodes(make_app, factory, served, tmp_path)
    a, b = first.test_client(), second.test_client()
    assert a.post("/sessions", json={"id": "m1"}, headers=KEY).status_code == 201
    wait_for(lambda: a.get("/sessions/m1", headers=KEY).json["status"] == "CONNECTED")
    owner = engine_of(first) if engine_of(first).manager.get("m1").running else engine_of(second)
    other = "node-b" if owner is engine_of(first) else "node-a"
    marker = owner.profiles / "m1" / "Default" / "Local Storage" / "login"
    marker.parent.mkdir(parents=True)
    marker.write_text("linked")
    (owner.profiles / "m1" / "Default" / "Cache").mkdir()
    moved = b.post("/sessions/m1/move", json={"node": other}, headers=KEY)  # any node takes it
    assert moved.status_code == 200, moved.json
    assert moved.json["node"] == other
    target = engine_of(second) if other == "node-b" else engine_of(first)
    assert (target.profiles / "m1" / "Default" / "Local Storage" / "login").read_text() == "linked"
    assert not (target.profiles / "m1" / "Default" / "Cache").exists()
    assert target.manager.get("m1").running and not owner.manager.get("m1").running
    wait_for(lambda: a.get("/sessions/m1", headers=KEY).json["status"] == "CONNECTED")
    assert events_of(first, "m1", "session.moved") == [
        {"from": owner.leases.node_id, "to": other, "reason": "move"}]
    with pytest.raises(LeaseLost):  # the node it left is fenced
        owner.store.update_session("m1", status="CONNECTED")
    unknown = a.post("/sessions/m1/move", json={"node": "node-z"}, headers=KEY)
    assert unknown.status_code == 404


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_drained_node_hands_every_session_to_the_others_and_takes_no_new_one(
        make_app, factory, served, tmp_path):
    first, second, _ = two_nodes(make_app, factory, served, tmp_path)
    a, b = first.test_client(), second.test_client()
    for sid in ("d1", "d2"):
        assert a.post("/sessions", json={"id": sid}, headers=KEY).status_code == 201
    wait_for(lambda: all(a.get(f"/sessions/{sid}", headers=KEY).json["status"] == "CONNECTED"
                         for sid in ("d1", "d2")))
    # waengine node drain asks node-b over HTTP (POST /nodes/node-a/drain), node-a does it
    from waengine import cli

    url_b = engine_of(second).config["NODE_URL"]
    assert cli.main(["node", "drain", "node-a", "--url", url_b, "--key", KEY["X-API-Key"],
                     "--timeout", "60"]) == 0

    def placed():
        listed = {s["id"]: s for s in b.get("/sessions", headers=KEY).json["data"]}
        return all(listed[sid]["node"] == "node-b" and listed[sid]["status"] == "CONNECTED"
                   for sid in ("d1", "d2"))
    wait_for(placed, message="both sessions on node-b")
    nodes = {n["id"]: n for n in a.get("/nodes", headers=KEY).json["data"]}
    assert nodes["node-a"]["draining"] and nodes["node-a"]["sessions"] == 0
    assert a.post("/sessions", json={"id": "d3"}, headers=KEY).status_code == 201
    assert a.get("/sessions/d3", headers=KEY).json["node"] == "node-b"
    moved = events_of(first, "d1", "session.moved") + events_of(first, "d2", "session.moved")
    assert [m["reason"] for m in moved] == ["drain"] * (len(moved)) and moved


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_sessions_webhooks_go_out_from_the_node_holding_its_lease_only(make_app, factory,
                                                                         tmp_path):
    factory.on_open = connect
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "x" * 32}
    first = make_app(NODE_ID="node-a", LEASE_TTL=3.0, WEBHOOK_RETRY_BASE=3600.0)
    second = make_app(NODE_ID="node-b", DATA_DIR=str(tmp_path / "b"), LEASE_TTL=3.0,
                      WEBHOOK_RETRY_BASE=3600.0)
    a = first.test_client()
    assert a.post("/sessions", json={"id": "w1", "webhook": hook}).status_code == 201
    wait_for(lambda: a.get("/sessions/w1").json["status"] == "CONNECTED")
    mine, theirs = engine_of(first).events.outbox, engine_of(second).events.outbox
    pending = engine_of(first).store.execute(
        "SELECT COUNT(*) AS n FROM deliveries WHERE session = 'w1'")[0]["n"]
    assert pending  # its status events wait for the (refusing) receiver
    far = time.time() + 7200  # every retry of them is due by then
    assert {r["session"] for r in mine.due(far, sinks=False)} == {"w1"}
    assert theirs.due(far, sinks=False) == [] and theirs.next_due_at() is None


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_scoped_key_keeps_its_scope_through_forwarded_creates_and_cluster_lists(
        make_app, factory, served, tmp_path):
    factory.on_open = connect
    full = node(make_app, served, "node-a", tmp_path / "a", MAX_SESSIONS=1)
    node(make_app, served, "node-b", tmp_path / "b")  # room for more
    a = full.test_client()
    nodes = {n["id"]: n["free"] for n in a.get("/nodes", headers=KEY).json["data"]}
    assert nodes["node-b"] > nodes["node-a"]  # node-a has room for 1, node-b for more
    refused = a.post("/sessions", json={"id": "other-2"}, headers=SCOPED)
    assert refused.status_code == 403, refused.json  # refused on node-a, never forwarded
    made = a.post("/sessions", json={"id": "own-1"}, headers=SCOPED)
    assert made.status_code == 201 and made.json["node"] == "node-b", made.json
    assert a.post("/sessions", json={"id": "other-1"}, headers=KEY).status_code == 201
    listed = [s["id"] for s in a.get("/sessions", headers=SCOPED).json["data"]]
    assert listed == ["own-1"]
