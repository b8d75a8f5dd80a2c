"""Fault injection: real faults on real Chromium, chromedriver and SQLite.

Each test kills, stops or blocks something for real, then shows that nothing was lost, nothing
was sent twice, no process was left behind, and the API still answers.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import psutil
import pytest
import requests

from waengine import create_app
from waengine.config import load_config
from waengine.events import EventOutbox, WebhookSender
from waengine.store import DatabaseDamaged, Store

from ..conftest import phones, wait_for
from ..receiver import Receiver
from .conftest import Gateway, Sandbox, browser_processes
from .servers import ROOT, Gunicorn

number = phones(__name__)

P = {name: number(i + 1) for i, name in enumerate(
    ("in", "friend", "dup", "drv", "race", "purge", "store", "term", "kill9", "wkill", "reg",
     "small", "streams", "frozen", "disk"))}


@pytest.fixture(autouse=True)
def friend(sandbox):
    sandbox.phone(P["friend"], "Friend")


def incoming(receiver) -> list[dict]:
    return [e for e in receiver.delivered() if e["type"] == "message"]


def send_in_background(sandbox, to: str, texts: list[str], interval: float,
                       at: dict[int, callable]) -> threading.Thread:
    """The friend sends the texts `interval` apart; at[i]() runs just before text i."""
    def run():
        stop = threading.Event()
        for i, text in enumerate(texts):
            if i in at:
                at[i]()
            sandbox.post("/_sandbox/messages", **{"from": P["friend"], "to": to, "text": text})
            stop.wait(interval)
    thread = threading.Thread(target=run, name="test-sender", daemon=True)
    thread.start()
    return thread


def test_incoming_messages_survive_chromium_and_chromedriver_kills_once_each(
        make_gateway, sandbox, receiver, caplog):
    caplog.set_level(logging.INFO, logger="waengine.engine.catchup")
    gw = make_gateway(WEBHOOK_URL=receiver.url, WEBHOOK_EVENTS=["message"],
                      WEBHOOK_RETRY_BASE=0.1, WEBHOOK_RETRY_MAX_DELAY=1.0)
    gw.link(sandbox, "in", P["in"])
    session = gw.engine.manager.get("in")
    texts = [f"in-{i}" for i in range(30)]

    def kill_chromium():
        os.kill(session.browser.pid, signal.SIGKILL)

    def kill_chromedriver():
        wait_for(lambda: session.status.value == "CONNECTED", timeout=60, message="back")
        os.kill(gw.engine.service.pid, signal.SIGKILL)

    sender = send_in_background(sandbox, P["in"], texts, 0.2,
                                at={10: kill_chromium, 20: kill_chromedriver})
    sender.join(120)
    wait_for(lambda: len({e["data"]["body"] for e in incoming(receiver)}) == 30, timeout=90,
             message="30 distinct message webhooks")
    # Pages push events over their own DevTools connection, which a chromedriver kill leaves
    # up: the worker sees that kill at its next read of the page (SAFETY_POLL_INTERVAL).
    wait_for(lambda: gw.session("in")["restarts"] >= 2, timeout=60, message="both kills seen")
    gw.wait_status("in", "CONNECTED")
    # Catch-up read the history after a relaunch. It waits until the stream flows (MAIN, not
    # SYNCING), so one still due when the next kill comes runs after the next relaunch instead,
    # from the same starting point. Whether it found anything new depends on timing: pages push
    # each event as it arrives (engine/channel.py), so a killed page rarely holds one the
    # outbox lacks, and what catch-up reads again is dropped as a copy.
    wait_for(lambda: any("caught up" in r.getMessage() for r in caplog.records),
             timeout=60, message="a catch-up after the relaunches")
    counts = Counter(e["data"]["body"] for e in incoming(receiver))
    assert counts == Counter(texts), counts  # every message, each delivered once
    assert gw.client.get("/health").status_code == 200


@pytest.mark.parametrize("victim", ["chromium", "chromedriver"])
def test_a_send_whose_browser_dies_after_whatsapp_took_it_is_found_not_sent_twice(
        make_gateway, sandbox, receiver, victim):
    gw = make_gateway(WEBHOOK_URL=receiver.url, WEBHOOK_EVENTS=["message.status"])
    gw.link(sandbox, "dup", P["dup"])
    session = gw.engine.manager.get("dup")
    text = f"exactly once after a {victim} kill"
    # The page reads the message back after WhatsApp acknowledged it: hold it there, so the
    # kill lands after the phone got the message and before the gateway recorded it.
    sandbox.post("/_sandbox/stall", fn="chat.getMessageById", seconds=30)
    answers = []
    post = threading.Thread(target=lambda: answers.append(gw.client.post(
        "/sessions/dup/messages", json={"to": P["friend"], "text": text},
        headers={"Idempotency-Key": f"once-{victim}"})))
    try:
        post.start()
        wait_for(lambda: any(m["text"] == text for m in sandbox.inbox(P["friend"])),
                 timeout=20, message="the phone got it")
        pid = session.browser.pid if victim == "chromium" else gw.engine.service.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: session.status.value == "RECOVERING", timeout=20, message="RECOVERING")
    finally:
        sandbox.post("/_sandbox/stall", fn="chat.getMessageById", seconds=0)
    post.join(60)
    assert answers and answers[0].status_code in (201, 202), answers and answers[0].json
    queue_id = answers[0].json.get("queueId") or answers[0].json["id"]
    row = wait_for(lambda: (r := gw.client.get(f"/sessions/dup/messages/{queue_id}").json)
                   ["status"] == "sent" and r, timeout=60, message="resolved as sent")
    assert [m["text"] for m in sandbox.inbox(P["friend"])].count(text) == 1
    wait_for(lambda: "sent" in [e["data"]["status"] for e in receiver.delivered()
                                if e["data"].get("id") == queue_id], timeout=20)
    statuses = [e["data"]["status"] for e in receiver.delivered()
                if e["type"] == "message.status" and e["data"]["id"] == queue_id]
    assert statuses == ["unknown", "sent"], statuses
    again = gw.client.post("/sessions/dup/messages", json={"to": P["friend"], "text": text},
                           headers={"Idempotency-Key": f"once-{victim}"})
    assert again.status_code == 201 and again.json["id"] == row["message"]["id"]
    assert [m["text"] for m in sandbox.inbox(P["friend"])].count(text) == 1


def test_racing_creates_and_purging_deletes_leave_no_orphan(make_gateway, tmp_path):
    gw = make_gateway()
    # Flask's test client is not thread-safe: one per thread, all on the same app.

    def cycle():
        client = gw.app.test_client()
        for _ in range(3):
            client.post("/sessions", json={"id": "cyc"})
            client.delete("/sessions/cyc?purge=true")

    threads = [threading.Thread(target=cycle, name=f"test-cycle-{i}") for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    if gw.client.get("/sessions/cyc").status_code == 200:
        assert gw.client.delete("/sessions/cyc?purge=true").status_code == 200
    assert gw.client.get("/sessions/cyc").status_code == 404
    profile = gw.engine.profiles / "cyc"
    # A worker that outlived its delete would relaunch within its backoff: give it the time.
    wait_for(lambda: not any(t.name == "wa-session-cyc" and t.is_alive()
                             for t in threading.enumerate()), timeout=60, message="workers end")
    assert not browser_processes(profile), "a deleted session's browser is alive"
    assert not profile.exists(), "a purged session's profile came back"
    db = sqlite3.connect(gw.engine.data_dir / "waengine.db")
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE id = 'cyc'").fetchone()[0] == 0


def test_purge_leaves_nothing_of_the_session_in_the_database(make_gateway, sandbox, receiver):
    gw = make_gateway(WEBHOOK_URL=receiver.url, WEBHOOK_RETRY_BASE=30.0)
    gw.link(sandbox, "purge", P["purge"])
    receiver.stop()  # its deliveries stay pending
    sandbox.post("/_sandbox/messages", **{"from": P["friend"], "to": P["purge"], "text": "hi"})
    assert gw.client.post("/sessions/purge/messages",
                          json={"to": P["friend"], "text": "out"}).status_code == 201
    pending = lambda: gw.client.get(  # noqa: E731
        "/sessions/purge/webhook/deliveries?status=pending").json["data"]
    wait_for(lambda: any(d["type"] == "message" for d in pending()), timeout=20,
             message="a pending message delivery")
    assert gw.client.delete("/sessions/purge?purge=true").status_code == 200
    db = sqlite3.connect(gw.engine.data_dir / "waengine.db")
    for table, column in (("sessions", "id"), ("events", "session"),
                          ("deliveries", "session"), ("outgoing", "session")):
        left = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = 'purge'").fetchone()[0]
        assert left == 0, f"{left} row(s) of the purged session left in {table}"


def test_a_held_database_lock_is_a_503_and_a_wait_not_a_browser_crash(make_gateway, sandbox,
                                                                      receiver):
    gw = make_gateway(WEBHOOK_URL=receiver.url, WEBHOOK_EVENTS=["message"],
                      STORE_BUSY_TIMEOUT=0.3)
    gw.link(sandbox, "store", P["store"])
    before = gw.session("store")
    texts = [f"locked-{i}" for i in range(5)]
    holder = sqlite3.connect(gw.engine.data_dir / "waengine.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        for text in texts:
            sandbox.post("/_sandbox/messages", **{"from": P["friend"], "to": P["store"],
                                                  "text": text})
        health = wait_for(lambda: (h := gw.client.get("/health")).status_code == 503 and h,
                          timeout=20, message="/health unhealthy")
        assert "database" in health.json["reason"]
        refused = gw.client.post("/sessions/store/messages",
                                 json={"to": P["friend"], "text": "while locked"})
        assert refused.status_code == 503, refused.json
        assert refused.json["error"]["code"] == "storage_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        assert gw.session("store")["status"] == "CONNECTED"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: len(incoming(receiver)) >= 5, timeout=60, message="5 message webhooks")
    assert Counter(e["data"]["body"] for e in incoming(receiver)) == Counter(texts)
    after = wait_for(lambda: (s := gw.session("store"))["status"] == "CONNECTED" and s)
    assert after["restarts"] == before["restarts"], "a store error relaunched the browser"
    assert after["browser"]["pid"] == before["browser"]["pid"]
    wait_for(lambda: gw.client.get("/health").status_code == 200, timeout=20, message="healthy")
    assert gw.client.post("/sessions/store/messages",
                          json={"to": P["friend"], "text": "after"}).status_code == 201


class TricklingReceiver:
    """Takes a request, then answers one byte every `every` seconds (a very slow receiver)."""

    def __init__(self, every: float = 2.0):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/slow"
        self.every = every
        self.accepted = 0
        self.closed = threading.Event()
        threading.Thread(target=self._serve, name="test-trickler", daemon=True).start()

    def _serve(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if self.closed.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the gateway gave up on us: its deadline

    def close(self):
        self.closed.set()
        self.sock.close()


def test_a_trickling_webhook_receiver_does_not_hold_other_sessions_events(tmp_path, receiver):
    store = Store(tmp_path / "hooks.db")
    outbox = EventOutbox(store)
    config = load_config({"ENV": "testing", "DATA_DIR": str(tmp_path), "WEBHOOK_TIMEOUT": 3.0,
                          "WEBHOOK_RETRY_BASE": 60.0})
    trickler = TricklingReceiver(every=2.0)
    sender = WebhookSender(outbox, config)
    sender.start()
    try:
        outbox.add("slow", "message", {"n": 0}, None, [{"url": trickler.url}])
        wait_for(lambda: trickler.accepted == 1, timeout=10, message="the slow attempt began")
        for i in range(30):
            outbox.add("fast", "message", {"n": i}, None, [{"url": receiver.url}])
        # All 30 arrive while the slow receiver is still trickling its first answer.
        wait_for(lambda: len(receiver.delivered()) == 30, timeout=10, message="30 deliveries")
        assert [e["data"]["n"] for e in receiver.delivered()] == list(range(30))
        slow = wait_for(lambda: (d := outbox.deliveries("slow", None, 1)) and d[0]["attempts"]
                        and d[0], timeout=10, message="the slow attempt cut off")
        # Cut at the 3 s deadline, long before its answer (76 bytes at 2 s each) would end.
        assert slow["status"] == "pending" and "within 3s" in slow["lastError"], slow
    finally:
        sender.stop()
        trickler.close()
        store.close()


def gateway_processes(tmp_path, driver_pids) -> list:
    """Browsers under the test folder, plus the chromedrivers and guards that served them."""
    alive = [p for p in driver_pids if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    return browser_processes(tmp_path) + alive


def started_gunicorn(tmp_path, sandbox, sid, phone, **kw) -> tuple[Gunicorn, list[int]]:
    server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log", **kw)
    server.wait_healthy()
    assert server.post("/sessions", json={"id": sid}).status_code == 201
    server.wait_status(sid, "SCAN_QR")
    sandbox.scan(lambda: server.get(f"/sessions/{sid}/qr").json().get("qr"), phone)
    server.wait_status(sid, "CONNECTED")
    worker = psutil.Process(server.proc.pid).children()[0]
    helpers = [p.pid for p in worker.children()]  # chromedriver and its guard
    assert any(psutil.Process(p).name() == "chromedriver" for p in helpers)
    return server, helpers


def test_sigterm_with_an_event_stream_open_exits_at_once_and_leaves_nothing(
        tmp_path, sandbox, servers):
    server, helpers = started_gunicorn(tmp_path, sandbox, "term", P["term"])
    servers.append(server)
    lines = []
    stream = requests.get(server.url + "/sessions/term/events", stream=True, timeout=30,
                          headers={"X-API-Key": "k1"})
    reader = threading.Thread(target=lambda: lines.extend(
        stream.iter_lines(decode_unicode=True)), name="test-sse", daemon=True)
    reader.start()
    wait_for(lambda: lines, timeout=10, message="the stream is open")
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(15)  # far inside graceful_timeout (60 s) and `docker stop`'s 10 s
    reader.join(5)
    assert "event: shutdown" in lines, lines[-5:]
    wait_for(lambda: not gateway_processes(tmp_path, helpers), timeout=10,
             message="no browser, chromedriver or guard left")


def test_sigkill_of_the_whole_gunicorn_group_leaves_no_browser(tmp_path, sandbox, servers):
    server, helpers = started_gunicorn(tmp_path, sandbox, "kill9", P["kill9"],
                                       start_new_session=True)
    servers.append(server)
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    wait_for(lambda: not gateway_processes(tmp_path, helpers), timeout=10,
             message="chromedriver and every Chromium died with the gateway")


def test_incoming_messages_survive_a_sigkilled_gunicorn_worker_once_each(
        tmp_path, sandbox, servers, receiver):
    server, _ = started_gunicorn(tmp_path, sandbox, "wkill", P["wkill"], extra_env={
        "WAENGINE_WEBHOOK_URL": receiver.url, "WAENGINE_WEBHOOK_EVENTS": "message"})
    servers.append(server)
    texts = [f"worker-{i}" for i in range(30)]

    def kill_worker():
        os.kill(psutil.Process(server.proc.pid).children()[0].pid, signal.SIGKILL)

    send_in_background(sandbox, P["wkill"], texts, 0.2, at={15: kill_worker}).join(120)
    wait_for(lambda: len({e["data"]["body"] for e in incoming(receiver)}) == 30, timeout=120,
             message="30 distinct message webhooks")
    assert Counter(e["data"]["body"] for e in incoming(receiver)) == Counter(texts)
    assert server.get("/health").status_code == 200


def test_a_flapping_chromedriver_does_not_fail_the_sessions_and_shows_on_health(
        make_gateway, sandbox):
    gw = make_gateway(RESTART_MAX=2)  # two counted browser failures would end it FAILED
    gw.link(sandbox, "drv", P["drv"])
    for crash in range(3):
        os.kill(gw.engine.service.pid, signal.SIGKILL)
        wait_for(lambda n=crash + 1: gw.session("drv")["restarts"] == n, timeout=30,
                 message=f"relaunch {crash + 1}")
        back = gw.wait_status("drv", "CONNECTED", "FAILED")
        assert back["status"] == "CONNECTED", back
    health = gw.client.get("/health")
    assert health.status_code == 503 and "chromedriver crashed 3 times" in health.json["reason"]
    assert gw.client.post("/sessions/drv/messages",
                          json={"to": P["friend"], "text": "still here"}).status_code == 201


def test_a_truncated_database_refuses_to_start_and_doctor_rebuilds_the_registry(
        make_gateway, sandbox, tmp_path):
    data = tmp_path / "data"
    first = make_gateway(data_dir=data)
    first.link(sandbox, "reg", P["reg"])
    first.engine.close()
    db = data / "waengine.db"
    with db.open("r+b") as f:  # a crash mid-copy, a full disk during a backup restore
        f.truncate(db.stat().st_size // 2)

    with pytest.raises(DatabaseDamaged, match="doctor --rebuild-registry"):
        create_app({"ENV": "testing", "DATA_DIR": str(data), "API_KEYS": []})
    log = tmp_path / "refused.log"
    refused = Gunicorn(data, sandbox.url + "/", log)
    assert refused.proc.wait(30) == 2
    refused.log.close()
    [line] = [ln for ln in log.read_text().splitlines() if ln.startswith("waengine:")]
    assert "rebuild-registry" in line

    env = {**os.environ, "WAENGINE_ENV": "testing", "WAENGINE_DATA_DIR": str(data)}
    done = subprocess.run([sys.executable, "-m", "waengine", "doctor", "--rebuild-registry"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "registered 1 session(s)" in done.stdout and "reg" in done.stdout
    assert list(data.glob("waengine.db.damaged-*")), "the damaged file is kept aside"

    second = make_gateway(data_dir=data)
    back = second.wait_status("reg", "CONNECTED", "SCAN_QR")
    assert back["status"] == "CONNECTED", back  # the login came back from the profile


def test_smaller_leaks_and_lies(make_gateway, sandbox, refused_port):
    gw = make_gateway(API_KEYS=["admin-key-0123456789abcdef", "tenant-key-0123456789abcdef:small"])
    admin = {"X-API-Key": "admin-key-0123456789abcdef"}
    tenant = {"X-API-Key": "tenant-key-0123456789abcdef"}
    closed = f"http://127.0.0.1:{refused_port}/hook"  # "connection refused"
    assert gw.client.post("/sessions", headers=admin, json={"id": "small", "webhook": {
        "url": closed, "secret": "s3cret-value-of-24-bytes-or-more"}}).status_code == 201
    assert gw.client.post("/sessions", headers=admin, json={"id": "other"}).status_code == 201
    gw.client.delete("/sessions/other", headers=admin)  # one event of another session
    def status():
        return gw.client.get("/sessions/small", headers=admin).json["status"]
    wait_for(lambda: status() == "SCAN_QR", timeout=60, message="SCAN_QR")
    # The status turns SCAN_QR a moment before the session holds its first QR.
    sandbox.scan(lambda: gw.client.get("/sessions/small/qr", headers=admin).json.get("qr"),
                 P["small"])
    wait_for(lambda: status() == "CONNECTED", timeout=60, message="CONNECTED")

    # An Idempotency-Key reused for another request is refused, not answered with the first.
    first = gw.client.post("/sessions/small/messages", headers={**admin, "Idempotency-Key": "k1"},
                           json={"to": P["friend"], "text": "one"})
    assert first.status_code == 201
    other = gw.client.post("/sessions/small/messages", headers={**admin, "Idempotency-Key": "k1"},
                           json={"to": P["friend"], "text": "two"})
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    same = gw.client.post("/sessions/small/messages", headers={**admin, "Idempotency-Key": "k1"},
                          json={"to": P["friend"], "text": "one"})
    assert same.status_code == 201 and same.json["id"] == first.json["id"]

    # Another session's event id is as unknown as a made-up one.
    outbox = gw.engine.events.outbox
    foreign = outbox.since("other", 0)[0]["id"]
    resp = gw.client.get("/sessions/small/events", headers={**admin, "Last-Event-ID": foreign})
    assert resp.status_code == 422

    # The secret is kept once, with the hook; deliveries hold none.
    wait_for(lambda: any(d["attempts"] for d in gw.client.get(
        "/sessions/small/webhook/deliveries", headers=admin).json["data"]), timeout=20,
        message="a failed delivery attempt")
    db = sqlite3.connect(gw.engine.data_dir / "waengine.db")
    assert db.execute("SELECT COUNT(*) FROM deliveries WHERE secret IS NOT NULL").fetchone()[0] == 0
    dump = "\n".join(db.iterdump())
    assert dump.count("s3cret-value-of-24-bytes-or-more") == 1, "the secret is stored more than once"

    # A tenant's key learns "connection failed", not which ports are open on the host.
    mine = gw.client.get("/sessions/small/webhook/deliveries", headers=tenant).json["data"]
    theirs = gw.client.get("/sessions/small/webhook/deliveries", headers=admin).json["data"]
    assert {d["lastError"] for d in mine if d["attempts"]} == {"connection failed"}
    assert any("refused" in (d["lastError"] or "").lower() for d in theirs)


def test_health_answers_with_every_stream_open_and_ten_slow_clients(tmp_path, sandbox, servers):
    # production's thread count; SSE_MAX_STREAMS is its default, a quarter of it
    server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                      extra_env={"WAENGINE_THREADS": "16"})
    servers.append(server)
    server.wait_healthy()
    assert server.post("/sessions", json={"id": "streams"}).status_code == 201
    streams = []
    for _ in range(4):
        resp = requests.get(server.url + "/sessions/streams/events", stream=True, timeout=30,
                            headers={"X-API-Key": "k1"})
        assert resp.status_code == 200
        streams.append(resp)
    refused = requests.get(server.url + "/sessions/streams/events", timeout=10,
                           headers={"X-API-Key": "k1"})
    assert refused.status_code == 429  # the cap, not a thread taken from the API
    stop = threading.Event()
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]

    def trickle(sock):  # headers at 1 byte a second: each holds a request thread meanwhile
        sock.sendall(b"GET /sessions HTTP/1.1\r\nHost: x\r\n")
        while not stop.wait(1.0):
            try:
                sock.sendall(b"X")
            except OSError:
                return

    for sock in slow:
        threading.Thread(target=trickle, args=(sock,), name="test-slowloris", daemon=True).start()
    try:
        for _ in range(5):
            assert requests.get(server.url + "/health", timeout=5).status_code == 200
            assert server.get("/sessions/streams").status_code == 200
    finally:
        stop.set()
        for sock in slow:
            sock.close()
        for resp in streams:
            resp.close()


def test_a_frozen_renderer_shows_as_not_responding(make_gateway, sandbox):
    # STUCK_TIMEOUT long enough to see the state before the watchdog relaunches the browser
    gw = make_gateway(COMMAND_TIMEOUT=2.0, POLL_TIMEOUT=2.0, STUCK_TIMEOUT=30.0)
    assert gw.link(sandbox, "frozen", P["frozen"])["responding"] is True
    renderers = [p for p in browser_processes(gw.engine.profiles / "frozen")
                 if "--type=renderer" in p.cmdline()]
    assert renderers
    for proc in renderers:
        proc.suspend()  # SIGSTOP: the page stops answering, WebDriver's timeouts never fire
    try:
        frozen = wait_for(lambda: (s := gw.session("frozen"))["responding"] is False and s,
                          timeout=20, message="responding: false")
        assert frozen["status"] == "CONNECTED"  # the last thing the page said; now qualified
    finally:
        for proc in renderers:
            proc.resume()
    wait_for(lambda: gw.session("frozen")["responding"] is True, timeout=30, message="back")


def fill(path) -> None:
    with path.open("wb") as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass  # ENOSPC: the disk is full


def full_disk(root: str, sandbox_url: str, me: str, friend: str) -> None:
    """The full-disk scenario, run by the test below inside a user and mount namespace of its own
    (as its root): a 256 MB tmpfs is the data folder, so the disk really fills up."""
    disk = Path(root) / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk)], check=True)
    receiver, sandbox = Receiver(), Sandbox(sandbox_url)
    gw = Gateway(create_app({"ENV": "testing", "DATA_DIR": str(disk / "data"),
                             "WA_URL": sandbox_url + "/", "API_KEYS": [],
                             "WEBHOOK_URL": receiver.url, "WEBHOOK_EVENTS": ["message"]}))
    gw.engine.start()
    try:
        gw.link(sandbox, "disk", me)
        filler = disk / "filler"
        fill(filler)
        texts = [f"full-{i}" for i in range(3)]
        try:
            for text in texts:
                sandbox.post("/_sandbox/messages", **{"from": friend, "to": me, "text": text})
            health = wait_for(lambda: (h := gw.client.get("/health")).status_code == 503 and h,
                              timeout=30, message="/health unhealthy")
            assert "full" in health.json["reason"] or "database" in health.json["reason"]
            refused = gw.client.post("/sessions/disk/messages", json={"to": friend, "text": "no room"})
            assert refused.status_code == 503, refused.json
        finally:
            filler.unlink()
        wait_for(lambda: len(incoming(receiver)) >= 3, timeout=60, message="3 message webhooks")
        assert Counter(e["data"]["body"] for e in incoming(receiver)) == Counter(texts)
        gw.wait_status("disk", "CONNECTED")
        wait_for(lambda: gw.client.get("/health").status_code == 200, timeout=30, message="healthy")
        assert gw.client.post("/sessions/disk/messages",
                              json={"to": friend, "text": "room again"}).status_code == 201
    finally:
        gw.engine.close()
        receiver.close()
        leftovers = browser_processes(disk)
        for proc in leftovers:  # before unmounting: a browser holds files there
            proc.kill()
        subprocess.run(["umount", "-l", str(disk)], check=False)
        assert not leftovers, f"browsers left running: {[p.pid for p in leftovers]}"


@pytest.mark.browser  # its gateway runs in a subprocess, not from a fixture
def test_a_full_disk_is_a_503_and_everything_carries_on_once_space_is_freed(sandbox, friend, tmp_path):
    # A user namespace maps this user to root there, and its mount namespace may mount a tmpfs:
    # the test needs neither root nor CAP_SYS_ADMIN outside.
    code = ("import sys; from tests.integration.test_faults import full_disk; "
            "full_disk(*sys.argv[1:])")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c",
                           code, str(tmp_path), sandbox.url, P["disk"], P["friend"]],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert not browser_processes(tmp_path)


@pytest.mark.browser
def test_chromedriver_starts_on_another_port_when_its_port_was_taken(monkeypatch, caplog):
    from waengine.engine import driver

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    real = driver._free_port
    monkeypatch.setattr(driver, "_free_port", lambda: next(ports, None) or real())
    service = driver.ChromeDriverService(load_config({"ENV": "testing"}))
    try:
        url = service.ensure_running()
        assert url != f"http://127.0.0.1:{taken}"
        assert requests.get(url + "/status", timeout=5).json()["value"]["ready"]
        assert "trying another port" in caplog.text  # the taken port was tried and left
    finally:
        service.stop()
        squatter.close()
    assert service.pid is None
