"""Crash and fault recovery on real Chromium and the sandbox.

A killed browser, a reloaded page, a stalled command, a frozen renderer, a killed gunicorn
worker, a stale profile lock, a restart of many sessions, and idle sessions: each comes back
(or ends) the way docs/operations.md says, and leaves no process behind.
"""

from __future__ import annotations

import http.server
import os
import signal
import threading

import psutil
import pytest
import requests

from waengine import create_app
from waengine.engine import processes
from waengine.engine.manager import ChromiumFactory
from waengine.ops import metrics

from ..conftest import phones, wait_for
from .conftest import Gateway, browser_processes
from .servers import Gunicorn

number = phones(__name__)

P = {name: number(i + 1) for i, name in enumerate(
    ("crash", "reload", "friend", "stall", "frozen", "lock", "other", "g1", "g2",
     "s0", "s1", "s2", "idle", "kept"))}


def gone(pids) -> bool:
    """True when none of these processes exists any more, not even as a zombie."""
    return not any(psutil.pid_exists(pid) for pid in pids)


def tree_pids(gw: Gateway, sid: str) -> list[int]:
    return [p.pid for p in processes.profile_processes(gw.engine.profiles / sid)]


def own_chromedrivers() -> list[int]:
    return [p.pid for p in psutil.Process().children() if p.name() == "chromedriver"]


def counter(metric, *labels) -> float:
    return (metric.labels(*labels) if labels else metric)._value.get()


def send(gw: Gateway, sid: str, text: str, to: str | None = None):
    return gw.client.post(f"/sessions/{sid}/messages", json={"to": to or P["friend"],
                                                            "text": text})


@pytest.fixture(autouse=True)
def friend(sandbox):
    sandbox.phone(P["friend"], "Friend")


def test_a_killed_chromium_comes_back_from_its_profile_then_fails_after_too_many(
        make_gateway, sandbox):
    # A second of backoff keeps RECOVERING long enough to be seen by a client.
    gw = make_gateway(RESTART_BACKOFF=1.0, RESTART_MAX=2)
    first = gw.link(sandbox, "crash", P["crash"])
    old = tree_pids(gw, "crash")
    # Counted from here: a launch that failed once while linking was retried already.
    linked = first["restarts"]
    os.kill(gw.engine.manager.get("crash").browser.pid, signal.SIGKILL)

    gw.wait_status("crash", "RECOVERING", timeout=10)
    meanwhile = send(gw, "crash", "while recovering")
    assert meanwhile.status_code == 503
    assert meanwhile.json["error"]["code"] == "browser_unavailable"
    assert int(meanwhile.headers["Retry-After"]) > 0

    back = gw.wait_status("crash", "CONNECTED", "SCAN_QR")
    assert back["status"] == "CONNECTED", back  # from the profile: no new scan
    assert back["me"] == first["me"] and back["restarts"] == linked + 1
    assert back["browser"]["pid"] not in old
    wait_for(lambda: gone(old), message="the killed tree reaped, no zombies")
    assert own_chromedrivers() == [gw.engine.service.pid]  # no orphaned chromedriver
    assert send(gw, "crash", "after the crash").status_code == 201

    # A second crash within RESTART_WINDOW is one too many (RESTART_MAX=2).
    old = tree_pids(gw, "crash")
    os.kill(gw.engine.manager.get("crash").browser.pid, signal.SIGKILL)
    failed = gw.wait_status("crash", "FAILED")
    assert failed["statusReason"] == "browser_crashed" and failed["browser"] is None
    wait_for(lambda: gone(old) and not tree_pids(gw, "crash"))


def test_page_reloads_lose_no_event_and_keep_the_session_connected(gateway, sandbox):
    gw = gateway
    linked = gw.link(sandbox, "reload", P["reload"])["restarts"]
    session = gw.engine.manager.get("reload")
    outbox = gw.engine.events.outbox
    reloads = counter(metrics.PAGE_RELOADS)
    texts = []
    for i in range(4):
        texts.append(f"before reload {i}")
        sandbox.post("/_sandbox/messages", **{"from": P["friend"], "to": P["reload"],
                                              "text": texts[-1]})
        session.submit(lambda bridge: bridge.driver.execute_script(
            "setTimeout(function () { location.reload(); }, 0)"))
        texts.append(f"during reload {i}")  # the page is going away or loading
        sandbox.post("/_sandbox/messages", **{"from": P["friend"], "to": P["reload"],
                                              "text": texts[-1]})
        wait_for(lambda i=i: counter(metrics.PAGE_RELOADS) >= reloads + i + 1,
                 message=f"reload {i} detected")
        gw.wait_status("reload", "CONNECTED")

    def bodies():
        return [row["body"] for row in outbox.since("reload", 0)
                if row["type"] == "message"]

    wait_for(lambda: len(bodies()) >= len(texts), message="every message as an event")
    received = [text for body in bodies() for text in texts if f'"body":"{text}"' in body]
    assert sorted(received) == sorted(texts)  # each exactly once
    after = gw.session("reload")
    assert after["status"] == "CONNECTED" and after["restarts"] == linked


class _ReloadingPage(http.server.BaseHTTPRequestHandler):
    """A page without WhatsApp that reloads itself once, as WhatsApp Web does after a scan."""

    hits = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path != "/":
            self.send_error(404)  # favicon.ico
            return
        type(self).hits += 1
        script = b"<script>setTimeout(function () { location.reload(); }, 3000)</script>"
        page = (b"<!doctype html><html><head><title>reloads</title></head><body>hi"
                + (script if type(self).hits == 1 else b"") + b"</body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


def test_wa_js_is_injected_again_into_the_reloaded_page(make_gateway):
    _ReloadingPage.hits = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ReloadingPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gw = make_gateway(WA_URL=f"http://127.0.0.1:{server.server_port}/", WA_LOAD_TIMEOUT=60.0)
        reloads = counter(metrics.PAGE_RELOADS)
        assert gw.client.post("/sessions", json={"id": "inject"}).status_code == 201
        wait_for(lambda: gw.session("inject")["wa"]["version"] == "4.6.0", timeout=20,
                 message="wa-js in the first document")
        launched = gw.session("inject")["restarts"]  # a failed first launch is retried
        wait_for(lambda: _ReloadingPage.hits == 2 and counter(metrics.PAGE_RELOADS) > reloads,
                 timeout=20, message="the reload seen by the worker")
        # The reload reset what the session knew; the new document reports wa-js again.
        wa = wait_for(lambda: (w := gw.session("inject")["wa"])["version"] and w, timeout=20,
                      message="wa-js in the new document")
        assert wa["version"] == "4.6.0" and wa["injected"] is True
        assert gw.session("inject")["restarts"] == launched
    finally:
        server.shutdown()


def test_a_stalled_send_is_unknown_then_found_sent_once(make_gateway, sandbox):
    # The page did not answer in time, but its call goes on and may still send: the send is
    # "unknown" (not failed), looked for by its id until the page's call settles, sent once.
    gw = make_gateway(COMMAND_TIMEOUT=3.0, STUCK_TIMEOUT=10.0)
    linked = gw.link(sandbox, "stall", P["stall"])["restarts"]
    sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=8)
    try:
        resp = send(gw, "stall", "this one hangs")
        assert resp.status_code == 202 and resp.json["status"] == "unknown", resp.json
    finally:
        sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=0)
    row = wait_for(lambda: (r := gw.client.get(f"/sessions/stall/messages/{resp.json['id']}").json)
                   ["status"] == "sent" and r, timeout=40, message="found sent")
    assert row["status"] == "sent"
    texts = [m["text"] for m in sandbox.inbox(P["friend"])]
    assert texts.count("this one hangs") == 1
    # The script timeout freed the worker: the next command runs on the same browser.
    assert send(gw, "stall", "this one goes").status_code == 201
    after = gw.session("stall")
    assert after["status"] == "CONNECTED" and after["restarts"] == linked


def test_a_frozen_renderer_is_killed_by_the_watchdog_and_the_session_recovers(
        make_gateway, sandbox):
    gw = make_gateway(COMMAND_TIMEOUT=2.0, POLL_TIMEOUT=2.0, STUCK_TIMEOUT=4.0,
                      WATCHDOG_INTERVAL=0.5)
    first = gw.link(sandbox, "frozen", P["frozen"])
    renderers = [p for p in processes.profile_processes(gw.engine.profiles / "frozen")
                 if "--type=renderer" in p.cmdline()]
    assert renderers
    unsticks = counter(metrics.WATCHDOG_ACTIONS, "unstick")
    stuck = counter(metrics.BROWSER_RESTARTS, "browser_stuck")
    for proc in renderers:
        proc.suspend()  # SIGSTOP: WebDriver's timeouts never fire for a renderer that is stopped
    try:
        resp = send(gw, "frozen", "into the void")
        # never a hang: refused, or accepted: its outcome looked for after the recovery
        # (unknown: the page may have sent it), or still queued (it never reached the page)
        assert resp.status_code in (503, 504) or (
            resp.status_code == 202 and resp.json["status"] in ("unknown", "queued")), resp.json
        back = wait_for(lambda: (s := gw.session("frozen"))["restarts"] == first["restarts"] + 1
                        and s["status"] == "CONNECTED" and s, timeout=30,
                        message="recovered from the profile")
    finally:
        for proc in renderers:
            try:
                proc.resume()
            except psutil.Error:
                pass  # killed, as it should be
    assert back["me"] == first["me"]
    assert counter(metrics.WATCHDOG_ACTIONS, "unstick") == unsticks + 1
    assert counter(metrics.BROWSER_RESTARTS, "browser_stuck") == stuck + 1
    wait_for(lambda: gone([p.pid for p in renderers]))
    assert send(gw, "frozen", "back again").status_code == 201
    if resp.status_code == 202:  # accepted while frozen: on the phone once, never twice
        wait_for(lambda: gw.client.get(f"/sessions/frozen/messages/{resp.json['id']}")
                 .json["status"] == "sent", timeout=60, message="the accepted send sent")
        inbox = [m["text"] for m in sandbox.inbox(P["friend"])]
        assert inbox.count("into the void") == 1, inbox


def test_a_stale_singleton_lock_does_not_block_the_next_start(make_gateway, sandbox):
    gw = make_gateway(REAPER_INTERVAL=3600.0)  # the launch itself must cope, not the reaper
    first = gw.link(sandbox, "lock", P["lock"])
    gw.link(sandbox, "other", P["other"])
    other_pid = gw.session("other")["browser"]["pid"]
    assert gw.client.delete("/sessions/lock").json["status"] == "STOPPED"
    profile = gw.engine.profiles / "lock"
    # A dead browser's leftovers, its pid since reused by another session's Chromium.
    host = os.uname().nodename
    os.symlink(f"{host}-{other_pid}", profile / "SingletonLock")
    os.symlink("/tmp/org.chromium.Chromium.gone/SingletonSocket", profile / "SingletonSocket")
    os.symlink("1234567890", profile / "SingletonCookie")
    assert gw.client.post("/sessions/lock/start").status_code == 202
    back = gw.wait_status("lock", "CONNECTED", "SCAN_QR", "FAILED")
    assert back["status"] == "CONNECTED" and back["me"] == first["me"], back
    other = gw.session("other")
    assert other["status"] == "CONNECTED" and other["browser"]["pid"] == other_pid


class CountingFactory:
    """The real Chromium factory, counting how many launches overlap."""

    def __init__(self):
        self.inner: ChromiumFactory | None = None
        self.lock = threading.Lock()
        self.now = self.most = self.opened = 0

    def open(self, session_id):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self.inner.open(session_id)
        finally:
            with self.lock:
                self.now -= 1
                self.opened += 1


def test_a_restart_with_many_sessions_launches_them_staggered(make_gateway, sandbox,
                                                              sandbox_url, tmp_path):
    sids = ["s0", "s1", "s2"]  # one more than LAUNCH_CONCURRENCY
    first = make_gateway()
    for sid in sids:
        first.link(sandbox, sid, P[sid])
    first.engine.close()

    factory = CountingFactory()
    config = {"ENV": "testing", "DATA_DIR": str(tmp_path / "data"), "WA_URL": sandbox_url + "/",
              "API_KEYS": [], "LAUNCH_CONCURRENCY": 2}
    second = Gateway(create_app(config, factory=factory))
    factory.inner = ChromiumFactory(second.engine.config, second.engine.service,
                                    second.engine.profiles)
    try:
        second.engine.start()
        assert second.client.get("/health").status_code == 200  # serving while launching
        for sid in sids:
            assert second.wait_status(sid, "CONNECTED", "SCAN_QR")["status"] == "CONNECTED"
        assert factory.opened == len(sids) and factory.most <= 2
    finally:
        second.engine.close()


def test_idle_sessions_stop_keeping_their_login_and_keep_alive_ones_stay(make_gateway,
                                                                         sandbox):
    gw = make_gateway(SESSION_IDLE_TIMEOUT=4.0, REAPER_INTERVAL=0.5, WATCHDOG_INTERVAL=0.5)
    assert gw.client.post("/sessions", json={"id": "kept", "keepAlive": True}).status_code == 201
    gw.link(sandbox, "kept", P["kept"])
    first = gw.link(sandbox, "idle", P["idle"])

    def measured():
        rows = {s["id"]: s for s in gw.client.get("/performance").json["sessions"]}
        return all((rows[sid]["browserPssMb"] or 0) > 0 and rows[sid]["processes"] > 0
                   for sid in ("idle", "kept")) and rows
    wait_for(measured, message="both browsers measured by the watchdog")
    text = gw.client.get("/metrics").get_data(as_text=True)
    assert 'waengine_browser_memory_bytes{kind="pss",session="kept"}' in text

    stopped = gw.wait_status("idle", "STOPPED", timeout=30)
    assert stopped["statusReason"] == "idle" and stopped["browser"] is None
    assert not tree_pids(gw, "idle")
    assert gw.session("kept")["status"] == "CONNECTED"
    assert gw.client.post("/sessions/idle/start").status_code == 202
    back = gw.wait_status("idle", "CONNECTED", "SCAN_QR")
    assert back["status"] == "CONNECTED" and back["me"] == first["me"]


def test_a_killed_gunicorn_worker_is_replaced_and_restores_every_session(servers, sandbox,
                                                                         tmp_path):
    server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                      extra_env={"WAENGINE_WATCHDOG_INTERVAL": "1"})
    servers.append(server)
    server.wait_healthy()
    for sid in ("g1", "g2"):
        assert server.post("/sessions", json={"id": sid}).status_code == 201
        server.wait_status(sid, "SCAN_QR")
        sandbox.scan(lambda sid=sid: server.get(f"/sessions/{sid}/qr").json().get("qr"), P[sid])
        server.wait_status(sid, "CONNECTED")
    master = psutil.Process(server.proc.pid)
    (worker,) = master.children()
    (driver,) = [p for p in worker.children() if p.name() == "chromedriver"]
    old = [p.pid for p in browser_processes(tmp_path)] + [driver.pid]

    os.kill(worker.pid, signal.SIGKILL)
    new_worker = wait_for(lambda: [p for p in master.children() if p.pid != worker.pid],
                          message="the arbiter's new worker")[0]

    def serving():
        try:
            return requests.get(server.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False  # the new worker is booting; the master's socket holds the request
    wait_for(serving, timeout=60, message="the new worker serving")
    for sid in ("g1", "g2"):
        back = server.wait_status(sid, "CONNECTED", "SCAN_QR")
        assert back["status"] == "CONNECTED", back  # from the profile: no new scan
    wait_for(lambda: gone(old), message="the dead worker's chromedriver and browsers reaped")
    drivers = [p for p in new_worker.children() if p.name() == "chromedriver"]
    assert len(drivers) == 1
    sent = server.post("/sessions/g1/messages", json={"to": P["friend"], "text": "new worker"})
    assert sent.status_code == 201, sent.text
    wait_for(lambda: any(m["text"] == "new worker" for m in sandbox.inbox(P["friend"])))
    health = requests.get(server.url + "/health", headers={"X-API-Key": "k1"}, timeout=5)
    assert health.json()["sessions"] == {"CONNECTED": 2}  # the detail is for keys
