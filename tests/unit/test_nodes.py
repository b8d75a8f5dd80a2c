"""Two gateway nodes on one PostgreSQL: each lists both (GET /nodes), and a session runs only
on the node holding its lease."""

import pytest

from waengine import engine_of
from waengine.cluster import NodeKeeper

from ..conftest import wait_for
from .fakes import connect, status_of


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_second_node_lists_both_and_leaves_the_first_nodes_session_alone(make_app, factory,
                                                                           tmp_path):
    first = make_app(NODE_ID="node-a", NODE_URL="http://127.0.0.1:8081", LEASE_TTL=3.0)
    factory.on_open = connect
    client_a = first.test_client()
    assert client_a.post("/sessions", json={"id": "s1"}).status_code == 201
    wait_for(lambda: status_of(client_a, "s1") == "CONNECTED")
    leases = engine_of(first).leases
    wait_for(lambda: (leases.owner("s1") or {}).get("node") == "node-a",
             message="node-a leases s1")

    second = make_app(NODE_ID="node-b", DATA_DIR=str(tmp_path / "b"), LEASE_TTL=3.0)
    client_b = second.test_client()
    nodes = {n["id"]: n for n in client_b.get("/nodes").json["data"]}
    assert set(nodes) == {"node-a", "node-b"}
    assert nodes["node-a"]["url"] == "http://127.0.0.1:8081" and nodes["node-a"]["sessions"] == 1
    assert nodes["node-b"]["sessions"] == 0 and nodes["node-b"]["alive"]
    assert nodes["node-b"]["capacity"] == engine_of(second).config["MAX_SESSIONS"]
    assert 0 <= nodes["node-b"]["free"] <= nodes["node-b"]["capacity"]
    # the registry is shared: node-b knows s1 (with the status node-a stored) but does not
    # run it, node-a holds its lease
    assert status_of(client_b, "s1") == "CONNECTED"
    assert not engine_of(second).manager.get("s1").running
    assert [sid for sid, _, _ in factory.opened] == ["s1"]
    assert leases.owner("s1")["node"] == "node-a" and status_of(client_a, "s1") == "CONNECTED"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_that_could_not_renew_in_time_refuses_the_session_and_stops_its_browser(
        make_app, factory):
    app = make_app(NODE_ID="node-a", LEASE_TTL=3.0)
    factory.on_open = connect
    client = app.test_client()
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    wait_for(lambda: status_of(client, "s1") == "CONNECTED")
    engine = engine_of(app)
    engine.node.stop()  # no renewal from now on, as in a process stopped (SIGSTOP)
    engine.leases.renewed["s1"] -= 3.0  # its last renewal was sent a TTL ago
    sent = client.post("/sessions/s1/messages", json={"to": "6281111111111", "text": "late"})
    assert sent.status_code == 503 and sent.json["error"]["code"] == "session_moving"
    assert sent.headers["Retry-After"]
    browser = factory.opened[0][1]
    wait_for(lambda: browser.quits == 1, message="its browser quit")
    assert engine.store.execute("SELECT id FROM outgoing WHERE session = ?", ("s1",)) == []
    # no other node took the lease (a database outage, not a takeover): once the node beats
    # again, it runs here again, under a new epoch
    epoch = engine.leases.owner("s1")["epoch"]
    engine.node = NodeKeeper(engine, engine.leases)
    engine.node.start()
    wait_for(lambda: len(factory.opened) == 2 and status_of(client, "s1") == "CONNECTED",
             message="the session started again here")
    assert engine.leases.owner("s1")["epoch"] == epoch + 1
