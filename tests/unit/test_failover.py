"""Snapshots and failover in the engine, with fake browsers: when a snapshot is taken, that a
purge deletes them, and a node that stops renewing its leases loses its sessions to another
node, which restores their snapshots before it starts them."""

from __future__ import annotations

import pytest

from waengine import engine_of, snapshots
from waengine.snapshots import FolderStore, Snapshots

from ..conftest import wait_for
from .fakes import connect, status_of

LOGIN = b"the login of s1"


def log_file(profiles, sid="s1"):
    return profiles / sid / "Default/IndexedDB/http_wa.indexeddb.leveldb/000003.log"


def linked(client, engine, sid):
    assert client.post("/sessions", json={"id": sid}).status_code == 201
    wait_for(lambda: status_of(client, sid) == "CONNECTED", message=f"{sid} CONNECTED")
    path = log_file(engine.profiles, sid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(LOGIN)  # what Chromium would have written at the link


def events(client, sid, kind):
    return [e["data"] for e in client.get(f"/sessions/{sid}/events/recent?limit=500").json["data"]
            if e["type"] == kind]


def test_a_session_is_snapshotted_once_linked_every_interval_and_at_its_stop(
        make_app, factory, tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots, "CHECK_INTERVAL", 3600.0)  # this test calls check() itself
    factory.on_open = connect
    app = make_app(SNAPSHOT_STORE=str(tmp_path / "snaps"), SNAPSHOT_INTERVAL=3600.0,
                   SNAPSHOT_KEEP=2)
    client, engine = app.test_client(), engine_of(app)
    linked(client, engine, "s1")
    store = Snapshots(FolderStore(tmp_path / "snaps"), None)
    engine.snapshotter.check()
    engine.snapshotter.check()  # inside the interval: nothing new
    assert store.list("s1") == [1]
    engine.snapshotter.interval = 0.0
    engine.snapshotter.check()
    assert store.list("s1") == [1, 2]
    assert client.delete("/sessions/s1").status_code == 200
    assert store.list("s1") == [2, 3]  # the graceful stop's; SNAPSHOT_KEEP versions stay
    assert [e["version"] for e in events(client, "s1", "session.snapshot")] == [1, 2, 3]
    assert client.delete("/sessions/s1?purge=true").status_code == 200
    assert store.list("s1") == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_that_stops_renewing_loses_its_sessions_to_one_that_restores_them(
        make_app, factory, tmp_path):
    factory.on_open = connect
    common = {"LEASE_TTL": 1.5, "SNAPSHOT_STORE": str(tmp_path / "snaps"), "SNAPSHOT_KEY": "k"}
    a = make_app(NODE_ID="node-a", DATA_DIR=str(tmp_path / "a"), **common)
    client_a, engine_a = a.test_client(), engine_of(a)
    for sid in ("s1", "s2"):
        linked(client_a, engine_a, sid)
    assert engine_a.snapshotter.take(engine_a.manager.get("s1")) is not None
    b = make_app(NODE_ID="node-b", DATA_DIR=str(tmp_path / "b"), **common)
    engine_b = engine_of(b)
    seen_in_restore = {}  # what a client reads of the session while node-b restores it
    restore = engine_b.snapshots.restore_latest

    def watched_restore(sid, folder):
        view = b.test_client().get(f"/sessions/{sid}").json
        seen_in_restore[sid] = (view["status"], view["statusReason"], view["browser"])
        return restore(sid, folder)
    engine_b.snapshots.restore_latest = watched_restore
    engine_a.node.stop()  # node-a hangs: no more heartbeats, no renewals
    wait_for(lambda: {engine_b.leases.owner(s)["node"] for s in ("s1", "s2")} == {"node-b"},
             timeout=15, message="node-b holds both leases")
    for sid in ("s1", "s2"):
        wait_for(lambda s=sid: engine_b.manager.get(s).running
                 and status_of(b.test_client(), s) == "CONNECTED", message=f"{sid} on node-b")
    assert log_file(engine_b.profiles).read_bytes() == LOGIN  # from node-a's snapshot
    moved = events(b.test_client(), "s1", "session.moved")
    assert moved == [{"from": "node-a", "to": "node-b", "reason": "failover"}]
    # never the CONNECTED node-a stored last, without a browser, while the snapshot comes back
    assert seen_in_restore == {s: ("STARTING", "failover", None) for s in ("s1", "s2")}
    statuses = [(e["previous"], e["status"], e["reason"])
                for e in events(b.test_client(), "s1", "session.status")]
    assert ("CONNECTED", "STARTING", "failover") in statuses, statuses
    # node-a's stale browser may not snapshot over node-b's
    assert engine_a.snapshotter.take(engine_a.manager.get("s1")) is None


def two_nodes(make_app, factory, tmp_path, ttl=60.0):
    """node-a with s1 and s2 linked, node-b beside it; leases far longer than any wait here,
    so only the presence lock can free node-a's sessions. (app, engine) of each."""
    factory.on_open = connect
    common = {"LEASE_TTL": ttl, "SNAPSHOT_STORE": str(tmp_path / "snaps"), "SNAPSHOT_KEY": "k"}
    a = make_app(NODE_ID="node-a", DATA_DIR=str(tmp_path / "a"), **common)
    client_a, engine_a = a.test_client(), engine_of(a)
    for sid in ("s1", "s2"):
        linked(client_a, engine_a, sid)
        wait_for(lambda s=sid: (engine_a.leases.owner(s) or {}).get("node") == "node-a",
                 message=f"node-a leases {sid}")
        assert engine_a.snapshotter.take(engine_a.manager.get(sid)) is not None
    b = make_app(NODE_ID="node-b", DATA_DIR=str(tmp_path / "b"), **common)
    return a, engine_a, b, engine_of(b)


def paused(engine) -> None:
    """The node beats and renews no more, and looks at nothing: its connections stay open."""
    engine.node.stop()
    engine.lease_guard.stop()


def taken_over_by(b, message: str) -> None:
    """node-b holds both leases (within 20 s, a third of the lease) and runs both sessions."""
    engine_b = engine_of(b)
    wait_for(lambda: {engine_b.leases.owner(s)["node"] for s in ("s1", "s2")} == {"node-b"},
             timeout=20, message=message)
    for sid in ("s1", "s2"):
        wait_for(lambda s=sid: engine_b.manager.get(s).running
                 and status_of(b.test_client(), s) == "CONNECTED", message=f"{sid} on node-b")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_whose_process_ended_loses_its_sessions_before_its_leases_expire(
        make_app, factory, tmp_path):
    a, engine_a, b, engine_b = two_nodes(make_app, factory, tmp_path)
    # node-a stops beating with its connection open (paused, or cut off): it keeps them
    paused(engine_a)
    assert engine_b.lease_guard.find_lost_nodes() == []
    # its process ends: the kernel closes its connections, the server drops its lock
    engine_a.store._presence.close()
    taken_over_by(b, "node-b holds both leases, long before they expire (60 s)")
    assert log_file(engine_b.profiles).read_bytes() == LOGIN  # from node-a's snapshot
    assert events(b.test_client(), "s1", "session.moved") == [
        {"from": "node-a", "to": "node-b", "reason": "failover"}]
    nodes = {n["id"]: n for n in b.test_client().get("/nodes").json["data"]}
    assert not nodes["node-a"]["alive"] and nodes["node-b"]["alive"]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_database_restart_since_a_nodes_last_beat_frees_none_of_its_sessions(
        make_app, factory, tmp_path):
    a, engine_a, b, engine_b = two_nodes(make_app, factory, tmp_path)
    paused(engine_a)
    # node-a's last beat came before the server started (as after a server restart, which
    # drops every lock): an unheld lock says nothing about its process
    engine_b.store.execute("UPDATE nodes SET heartbeat = 0 WHERE id = 'node-a'")
    engine_a.store._presence.close()
    assert engine_b.lease_guard.find_lost_nodes() == []
    assert {engine_b.leases.owner(s)["node"] for s in ("s1", "s2")} == {"node-a"}


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_whose_connection_the_server_ended_stops_its_browsers_at_once(
        make_app, factory, tmp_path):
    a, engine_a, b, engine_b = two_nodes(make_app, factory, tmp_path)
    browsers = [browser for _, browser, _ in factory.opened]
    # an operator ends node-a's presence connection; node-a's process lives on
    pid = engine_a.store._presence.info.backend_pid
    engine_b.store.execute("SELECT pg_terminate_backend(?)", (pid,))
    # node-a kills its browsers: node-b may start the same logins from now on
    wait_for(lambda: all(browser.quits for browser in browsers), timeout=20,
             message="node-a's browsers quit")
    taken_over_by(b, "node-b holds both leases")
    assert not engine_a.manager.get("s1").running
    # node-a beats again on a new connection, and holds its presence lock again
    engine_a.node.beat()
    row = engine_b.store.execute("SELECT presence, lost_at FROM nodes WHERE id = 'node-a'")[0]
    assert (row["presence"], row["lost_at"]) == (1, None)


def test_every_node_names_the_same_taker_of_an_orphan_by_free_capacity():
    from collections import Counter

    from waengine.failover import taker

    nodes = {"node-b": 30, "node-c": 10}
    takers = {f"s{i}": taker(f"s{i}", nodes) for i in range(400)}
    # the same answer whichever node works it out, in whatever order it lists the nodes
    assert all(taker(s, dict(reversed(nodes.items()))) == t for s, t in takers.items())
    share = Counter(takers.values())
    assert 250 < share["node-b"] < 350, share  # 3 to 1, as their free capacity
    # a node joining takes only sessions for itself; none moves between the others
    grown = {**nodes, "node-d": 10}
    assert all(taker(s, grown) in (t, "node-d") for s, t in takers.items())
    assert taker("s1", {}) is None
