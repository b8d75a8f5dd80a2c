"""Cluster mode with real gunicorn nodes on one real PostgreSQL, real Chromium and the sandbox:
a node stopped (SIGSTOP) past its lease gives its session up for good once resumed (split
brain), and a node drained behind deploy/nginx-cluster.conf hands its linked session to another
while a client loop through nginx sees no failure beyond 503 session_moving with Retry-After; the
operator's dashboard shows the nodes and moves and drains from its buttons."""

from __future__ import annotations

import os
import signal

import pytest
import requests
from selenium.webdriver.support.ui import Select

from ..conftest import phones, wait_for
from .conftest import browser_processes
from .operator import Operator
from .servers import ClientLoop, Gunicorn, Nginx

number = phones(__name__)
ALICE, BUDI, CICI, DEDI = number(1), number(2), number(3), number(4)
SECRET = "cluster-secret-of-the-tests-0123456789"
TTL = 10.0


def nodes(servers, sandbox, tmp_path, postgres, count=2, **env):
    url = postgres.create_database()
    made = []
    for i in range(count):
        node = Gunicorn(tmp_path / f"node{i}", sandbox.url + "/", tmp_path / f"node{i}.log",
                        {"WAENGINE_DATABASE_URL": url, "WAENGINE_CLUSTER_SECRET": SECRET,
                         "WAENGINE_LEASE_TTL": str(TTL), **env},
                        start_new_session=True, node=f"node-{i}")
        servers.append(node)
        made.append(node)
    for node in made:
        node.wait_healthy()
    wait_for(lambda: len(made[0].get("/nodes").json()["data"]) == count, message="nodes listed")
    return url, made


def linked(node, sandbox, sid, phone):
    """Create the session through `node` (it lands on the node with most room) and link it;
    the node that runs it."""
    assert node.post("/sessions", json={"id": sid}).status_code == 201
    node.wait_status(sid, "SCAN_QR")
    sandbox.scan(lambda: node.get(f"/sessions/{sid}/qr").json().get("qr"), phone)
    return node.wait_status(sid, "CONNECTED")["node"]


def test_a_node_stopped_past_its_lease_neither_sends_nor_writes_nor_keeps_a_browser(
        servers, sandbox, tmp_path, postgres):
    sandbox.phone(BUDI, "Budi")
    url, (first, second) = nodes(servers, sandbox, tmp_path, postgres)
    owner_id = linked(first, sandbox, "brain", ALICE)
    owner, other = (first, second) if owner_id == "node-0" else (second, first)
    other_name = other_id(other)
    assert requests.put(owner.url + "/sessions/brain/pacing", headers={"X-API-Key": "k1"},
                        json={"minInterval": 30, "jitter": 0}, timeout=30).ok
    queued = owner.post("/sessions/brain/messages/bulk", json={"messages": [
        {"to": BUDI, "text": "first"}, {"to": BUDI, "text": "held by the pacer"}]})
    assert queued.status_code == 202, queued.text
    wait_for(lambda: any(m["text"] == "first" for m in sandbox.inbox(BUDI)),
             message="the first text on Budi's phone")
    group = os.getpgid(owner.proc.pid)
    os.killpg(group, signal.SIGSTOP)  # the whole node: gunicorn, chromedriver, Chromium
    try:
        wait_for(lambda: postgres.query(url, "SELECT 1 FROM leases WHERE session = 'brain'"
                                             " AND expires < extract(epoch from now())"),
                 timeout=3 * TTL, message="the stopped node's lease expired")
        started = other.post("/sessions/brain/start")  # the other node takes it over
        assert started.status_code == 202, started.text
        assert started.json()["node"] == other_name
    finally:
        os.killpg(group, signal.SIGCONT)
    wait_for(lambda: not browser_processes(owner_dir(owner)), timeout=30,
             message="the resumed node's browser of the session is gone")
    wait_for(lambda: "lease not renewed in time" in log_of(owner), message="the guard's log line")
    # nothing went out from the resumed node, and nothing it wrote was stored
    assert not any(m["text"] == "held by the pacer" for m in sandbox.inbox(BUDI))
    assert postgres.query(url, "SELECT status, wa_id FROM outgoing WHERE session = 'brain'"
                               " AND args::jsonb ->> 'text' = 'held by the pacer'") == [
        ("queued", None)]
    assert postgres.query(url, "SELECT node FROM leases WHERE session = 'brain'") == [
        (other_name,)]
    assert other.get("/sessions/brain").json()["node"] == other_name
    assert owner.get("/sessions/brain").json()["node"] == other_name  # forwarded


def other_id(node) -> str:
    return node.get("/performance").json()["node"]


def owner_dir(node):
    return node.log.name.rsplit(".", 1)[0]  # tmp_path/node<i>: the node's data folder


def log_of(node) -> str:
    with open(node.log.name, encoding="utf-8", errors="replace") as f:
        return f.read()


@pytest.mark.parametrize("loop_paths", [("/sessions/drained", "/sessions", "/nodes")])
def test_a_drain_behind_nginx_moves_a_linked_session_and_no_client_request_fails(
        servers, sandbox, tmp_path, postgres, loop_paths):
    """The operator's dashboard (real Chromium, through nginx) lists both nodes and the
    session's node, moves the session to the other node from its page, then drains that node
    with the Drain button while a client loop reads through nginx."""
    sandbox.phone(DEDI, "Dedi")
    _, (first, second) = nodes(servers, sandbox, tmp_path, postgres)
    proxy = Nginx(tmp_path / "nginx", [first.port, second.port])
    servers.append(proxy)
    linked_on = linked(first, sandbox, "drained", CICI)
    # the move sends it to the other node, the drain of that one brings it back
    owner_id = "node-1" if linked_on == "node-0" else "node-0"
    target = linked_on
    loop = ClientLoop(proxy.url, list(loop_paths))
    operator = Operator(proxy.url, tmp_path, shots=tmp_path / "shots")
    try:
        operator.sign_in("k1")
        operator.wait_text('#sessions-body tr[data-id="drained"] td.node', linked_on)
        operator.click('#nav a[data-view="nodes"]')
        for node in ("node-0", "node-1"):
            operator.wait_text(f'#nodes-body tr[data-node="{node}"]', "alive")
        operator.wait_text(f'#nodes-body tr[data-node="{linked_on}"] td.sessions', "1")
        operator.shot("nodes")

        operator.click('#nav a[data-view="sessions"]')
        operator.click('#sessions-body tr[data-id="drained"] a')
        operator.wait_text("#facts", f"Node\n{linked_on}")
        operator.wait_text("#move-node", owner_id)  # offered as a target
        Select(operator.find("#move-node")).select_by_value(owner_id)
        operator.click("#move-form button[type=submit]")
        operator.wait_text("#detail-notice", f"CONNECTED on {owner_id}", timeout=120)
        operator.wait_text("#detail-status", "CONNECTED")
        operator.wait_text("#facts", f"Node\n{owner_id}")
        operator.wait_text("#facts", "pid")  # its browser, as the node running it tells
        assert not operator.shown("#detail-error"), operator.text("#detail-error")
        operator.shot("session-moved")

        operator.click('#nav a[data-view="nodes"]')
        loop.start()
        operator.click(f'#nodes-body tr[data-node="{owner_id}"] button.drain')
        operator.wait_text("#drain-what", "Its one session moves")
        operator.shot("drain-confirm")
        operator.click("#drain-form button[type=submit]")
        operator.wait_text("#nodes-notice", f"Draining {owner_id}: moving drained.")
        moved = wait_for(lambda: (s := requests.get(
            f"{proxy.url}/sessions/drained", headers={"X-API-Key": "k1"}, timeout=60)).ok
            and s.json()["node"] == target and s.json()["status"] == "CONNECTED" and s.json(),
            timeout=120, message="the session CONNECTED on the other node, without a scan")
        assert moved["me"]["id"].startswith(CICI)
        # the page follows by itself: the node draining and empty, the session elsewhere
        operator.wait_text(f'#nodes-body tr[data-node="{owner_id}"] td.state', "draining")
        operator.wait_text(f'#nodes-body tr[data-node="{owner_id}"] td.sessions', "0")
        operator.wait_text(f'#nodes-body tr[data-node="{target}"] td.sessions', "1")
        assert not operator.shown("#nodes-error"), operator.text("#nodes-error")
        operator.shot("nodes-drained")
        operator.click('#nav a[data-view="sessions"]')
        operator.wait_text('#sessions-body tr[data-id="drained"] td.node', target)
        operator.wait_text('#sessions-body tr[data-id="drained"]', "CONNECTED")
        operator.shot("sessions-cluster")
    finally:
        loop.stop()
        operator.quit()
    assert loop.answers and not loop.failed(), loop.failed()
    nodes_now = {n["id"]: n for n in requests.get(f"{proxy.url}/nodes",
                                                  headers={"X-API-Key": "k1"}).json()["data"]}
    assert nodes_now[owner_id]["draining"] and nodes_now[owner_id]["sessions"] == 0
    sent = requests.post(f"{proxy.url}/sessions/drained/messages",
                         headers={"X-API-Key": "k1"}, json={"to": DEDI, "text": "after drain"},
                         timeout=90)
    assert sent.status_code == 201, sent.text
    wait_for(lambda: any(m["text"] == "after drain" for m in sandbox.inbox(DEDI)))
