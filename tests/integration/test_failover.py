"""Failover between three gunicorn nodes sharing a real PostgreSQL and S3 (moto's server),
behind nginx with deploy/nginx-cluster.conf: node A, running five sessions, has its whole
process group (browsers included) SIGKILLed during traffic; nodes B and C find A's process
ended (its presence lock free) and claim its sessions by free capacity at once, long before
their leases would expire, restore their newest snapshots and bring them up CONNECTED without a
scan.
Messages sent to them during the gap reach the webhook once; a send caught by the kill goes
out once; a send whose outcome was unknown is looked up by its WhatsApp id, not sent again.
A client reading the sessions through nginx from before the kill until the takeover ends gets
an answer to every request: 200, or 503 session_moving with Retry-After while a session's
owner is dead and not yet found so."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter

import psutil
import pytest

from ..conftest import moto_s3, phones, wait_for
from .conftest import browser_processes
from .servers import ClientLoop, Gunicorn, Nginx

number = phones(__name__)
FRIEND = number(1)
OWNERS = {f"fo{i}": number(1 + i) for i in range(1, 6)}  # five sessions, all on node A
# Seconds of a lease: B and C must hold A's leases in half that, which only the presence lock
# (not an expiry) can give them.
TTL = 30
SECRET = "failover-test-cluster-secret-0123456789"  # signs the forwards between the nodes


@pytest.fixture
def s3(monkeypatch):
    """A real S3 API on a free loopback port (moto's server) with a bucket; the nodes get its
    credentials through the environment."""
    bucket = f"wa-{uuid.uuid4().hex[:12]}"
    with moto_s3(monkeypatch, bucket) as endpoint:
        yield {"WAENGINE_SNAPSHOT_STORE": f"s3://{bucket}/cluster",
               "WAENGINE_SNAPSHOT_S3_ENDPOINT": endpoint}


def node(tmp_path, name: str, url: str, sandbox, receiver, store: dict) -> Gunicorn:
    server = Gunicorn(tmp_path / name, sandbox.url + "/", tmp_path / f"{name}.log", extra_env={
        "WAENGINE_DATABASE_URL": url, "WAENGINE_CLUSTER_SECRET": SECRET,
        "WAENGINE_LEASE_TTL": str(TTL), **store,
        "WAENGINE_SNAPSHOT_KEY": "failover test passphrase",
        "WAENGINE_WEBHOOK_URL": receiver.url,
        "WAENGINE_WEBHOOK_EVENTS": "message,session.moved",
        "WAENGINE_SEND_MIN_INTERVAL": "0", "WAENGINE_SEND_JITTER": "0"},
        start_new_session=True,  # its own process group: the test SIGKILLs it whole
        node=f"node-{name}")
    server.wait_healthy()
    return server


def inbox_texts(sandbox, phone: str) -> Counter:
    return Counter(m["text"] for m in sandbox.inbox(phone))


def nodes_seen(answers, sid: str) -> list:
    """The node the client loop's 2xx answers named for the session (its own view and its row
    in the list), in the order they came, repeats dropped."""
    seen: list = []
    for answer in answers:
        if answer.body is None:
            continue
        views = answer.body["data"] if answer.path == "/sessions" else [answer.body]
        for view in views:
            if view["id"] == sid and (not seen or seen[-1] != view["node"]):
                seen.append(view["node"])
    return seen


def test_a_killed_node_s_sessions_come_up_on_another_without_a_scan(
        sandbox, tmp_path, postgres, receiver, servers, s3):
    sandbox.phone(FRIEND, "Friend")
    for sid, phone in OWNERS.items():
        sandbox.phone(phone, f"Owner {sid}")
    url = postgres.create_database()
    store = s3
    loop = None
    try:
        a = node(tmp_path, "a", url, sandbox, receiver, store)
        servers.append(a)
        for sid in OWNERS:  # on A: the only node yet, so every session goes there
            assert a.post("/sessions", json={"id": sid}).status_code == 201
        b = node(tmp_path, "b", url, sandbox, receiver, store)
        servers.append(b)
        c = node(tmp_path, "c", url, sandbox, receiver, store)
        servers.append(c)
        survivors = {"node-b", "node-c"}
        # From here every request of the client goes through nginx, round-robin over the nodes.
        proxy = Nginx(tmp_path / "nginx", [a.port, b.port, c.port])
        servers.append(proxy)
        for sid, phone in OWNERS.items():
            proxy.wait_status(sid, "SCAN_QR")
            sandbox.scan(lambda s=sid: proxy.get(f"/sessions/{s}/qr").json().get("qr"), phone)
        for sid in OWNERS:
            assert proxy.wait_status(sid, "CONNECTED")["node"] == "node-a"
        wait_for(lambda: len(postgres.query(
            url, "SELECT DISTINCT session FROM events WHERE type = 'session.snapshot'"))
            == len(OWNERS), message="the snapshot each session takes once linked")
        sent = proxy.post("/sessions/fo1/messages", json={"to": FRIEND, "text": "before the kill"})
        assert sent.status_code in (201, 202), sent.text
        wait_for(lambda: postgres.query(url, "SELECT 1 FROM outgoing WHERE status = 'sent'"),
                 message="the first send is sent")
        # A client reading each session and the list through nginx, from before the kill until
        # it has seen every session CONNECTED on its new node.
        loop = ClientLoop(proxy.url, [f"/sessions/{sid}" for sid in OWNERS] + ["/sessions"],
                          pace=0.1)
        loop.start()
        wait_for(lambda: loop.rounds >= 1, message="the client loop's first round")
        caught = proxy.post("/sessions/fo2/messages", json={"to": FRIEND,
                                                            "text": "caught by the kill"})
        assert caught.status_code in (201, 202), caught.text

        a_pids = [p.pid for p in psutil.Process(a.proc.pid).children(recursive=True)]
        os.killpg(a.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.proc.wait(10)
        # A died after its page sent "before the kill" but before it recorded the outcome.
        postgres.query(url, "UPDATE outgoing SET status = 'unknown' WHERE session = 'fo1'"
                            " AND status = 'sent' RETURNING id")
        gap = [(sid, f"gap {sid} {i}") for sid in OWNERS for i in range(2)]
        for sid, text in gap:
            sandbox.post("/_sandbox/messages", **{"from": FRIEND, "to": OWNERS[sid], "text": text})
        wait_for(lambda: not [p for p in a_pids if psutil.pid_exists(p)
                              and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
                 and not browser_processes(tmp_path / "a"), timeout=15,
                 message="no process of node A left, Chromium included")

        owners = wait_for(lambda: (rows := dict(postgres.query(
            url, "SELECT session, node FROM leases"))) and set(rows) == set(OWNERS)
            and set(rows.values()) <= survivors and rows, timeout=TTL / 2,
            message="B and C hold every lease, half a lease time after the kill")
        for sid, owner in owners.items():  # a browser on its new node: not what A last stored
            up = wait_for(lambda s=sid: (view := proxy.get(f"/sessions/{s}").json())
                          .get("browser") and view["status"] in ("CONNECTED", "SCAN_QR") and view,
                          timeout=90, message=f"{sid} up on {owner}")
            assert up["status"] == "CONNECTED" and up["node"] == owner, up
        print("taken over:", Counter(owners.values()))  # dealt by free capacity (failover.py)
        print(f"takeover of {len(OWNERS)} sessions: {time.monotonic() - killed_at:.1f}s "
              f"after the SIGKILL (lease {TTL}s)")
        rounds = loop.rounds
        wait_for(lambda: loop.rounds >= rounds + 2, message="a whole round of the client loop"
                 " after every session came up")
        loop.stop()
        answers = loop.answers
        moving = Counter(answer.path for answer in answers if answer.status == 503)
        print(f"client loop through nginx: {len(answers)} requests, "
              f"{sum(moving.values())} answered 503 session_moving ({dict(moving)})")
        assert answers and not loop.failed(killed_at), loop.failed(killed_at)
        cut = [answer for answer in answers if answer.status is None]  # in flight on A
        print(f"requests cut by the SIGKILL: {len(cut)}")
        answers = [answer for answer in answers if answer.status is not None]
        assert {answer.retry_after for answer in answers if answer.status == 503} <= {"2"}, moving
        for answer in answers:  # the list answers, and shows every session, whichever node answers
            if answer.path == "/sessions":
                assert answer.status == 200 and {v["id"] for v in answer.body["data"]} == set(
                    OWNERS), answer
        for sid, owner in owners.items():
            # its node: A until A was found ended, none until a survivor claimed it, then that
            # survivor; never back
            seen = nodes_seen(answers, sid)
            print(f"{sid}'s node as the client saw it:", " → ".join(map(str, seen)))
            assert seen[0] == "node-a" and seen[-1] == owner, (sid, seen)
            assert seen == [n for n in ("node-a", None, owner) if n in seen], (sid, seen)
            last = next(x for x in reversed(answers) if x.path == f"/sessions/{sid}")
            assert last.status == 200 and last.body["status"] == "CONNECTED", last
        wait_for(lambda: not {n["id"]: n for n in proxy.get("/nodes").json()["data"]}
                 ["node-a"]["alive"], message="GET /nodes shows node A dead")

        def delivered():
            return [e for e in receiver.delivered() if e["type"] == "message"
                    and e["data"]["body"].startswith("gap ")]
        wait_for(lambda: len({e["data"]["body"] for e in delivered()}) == len(gap), timeout=60,
                 message="every message of the gap at the webhook")
        moved = [e for e in receiver.delivered() if e["type"] == "session.moved"]
        assert sorted((e["session"], e["data"]["from"], e["data"]["to"], e["data"]["reason"])
                      for e in moved) == sorted((sid, "node-a", owners[sid], "failover")
                                                for sid in OWNERS)
        wait_for(lambda: postgres.query(
            url, "SELECT 1 FROM outgoing WHERE status IN ('queued', 'unknown')") == [],
            timeout=60, message="the sends A left behind ended on B")
        assert sorted(postgres.query(url, "SELECT session, status FROM outgoing")) == [
            ("fo1", "sent"), ("fo2", "sent")]
        wait_for(lambda: inbox_texts(sandbox, FRIEND)["caught by the kill"] == 1,
                 message="the send caught by the kill on Friend's phone")
        after = proxy.post("/sessions/fo1/messages", json={"to": FRIEND, "text": "after"})
        assert after.status_code in (201, 202), after.text
        wait_for(lambda: inbox_texts(sandbox, FRIEND)["after"] == 1,
                 message="a send from fo1's new node")
        texts = inbox_texts(sandbox, FRIEND)
        assert texts["before the kill"] == 1 and texts["caught by the kill"] == 1, texts
        assert Counter(e["data"]["body"] for e in delivered()) == Counter(t for _, t in gap)
    finally:
        if loop is not None:
            loop.stop()
        for server in servers:
            server.stop()
        servers.clear()
        postgres.drop_database(url)
