"""Session recovery logic with a fake browser, and reaping what a dead gateway left behind."""

import logging
import os
import shutil
import subprocess
import threading
import time

import psutil

from waengine import engine_of
from waengine.engine import processes
from waengine.errors import CommandTimeout
from waengine.ops import metrics

from ..conftest import wait_for
from .fakes import FakeFactory, connect, status_of


def connected(app, factory, sid="s1"):
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": sid})
    wait_for(lambda: status_of(client, sid) == "CONNECTED")
    return client


def test_one_poll_timeout_is_a_reload_not_a_failure(make_app, factory):
    app = make_app(STUCK_POLLS=3)
    client = connected(app, factory)
    bridge = factory.bridge()
    bridge.poll_errors = [CommandTimeout, CommandTimeout]
    wait_for(lambda: not bridge.poll_errors and bridge.polls > 0)
    polls = bridge.polls
    wait_for(lambda: bridge.polls > polls + 2, message="polling again")
    assert len(factory.opened) == 1 and status_of(client) == "CONNECTED"


def test_polls_that_keep_timing_out_relaunch_the_browser_as_stuck(make_app, factory):
    app = make_app(STUCK_POLLS=3)
    client = connected(app, factory)
    seen = []
    engine_of(app).manager.on_event = lambda s, t, d: seen.append((t, d))
    before = metrics.BROWSER_RESTARTS.labels("browser_stuck")._value.get()
    factory.bridge().poll_errors = [CommandTimeout] * 3
    wait_for(lambda: len(factory.opened) == 2, message="relaunch")
    wait_for(lambda: status_of(client) == "CONNECTED")
    assert ("session.status", {"status": "RECOVERING", "previous": "CONNECTED",
                               "reason": "browser_stuck"}) in seen
    assert metrics.BROWSER_RESTARTS.labels("browser_stuck")._value.get() == before + 1
    assert factory.opened[0][1].quits == 1


def test_a_new_document_is_counted_as_a_reload_and_the_session_stays_connected(
        make_app, factory):
    app = make_app()
    client = connected(app, factory)
    bridge = factory.bridge()
    before = metrics.PAGE_RELOADS._value.get()
    bridge.state["doc"] = "first"
    polls = bridge.polls
    wait_for(lambda: bridge.polls > polls + 1)
    bridge.state["doc"] = "second"
    wait_for(lambda: metrics.PAGE_RELOADS._value.get() == before + 1, message="reload seen")
    assert status_of(client) == "CONNECTED" and len(factory.opened) == 1


def test_a_killed_browser_recovers_with_the_reason_the_killer_gave(make_app, factory):
    app = make_app()
    client = connected(app, factory)
    seen = []
    engine_of(app).manager.on_event = lambda s, t, d: seen.append(d.get("reason"))
    engine_of(app).manager.get("s1").kill_browser("browser_stuck")
    wait_for(lambda: len(factory.opened) == 2 and status_of(client) == "CONNECTED")
    assert "browser_stuck" in seen and factory.opened[0][1].kills == 1


def test_relaunches_back_off_exponentially_then_fail_browser_crashed(make_app, factory, caplog):
    caplog.set_level(logging.INFO, logger="waengine.engine.session")
    app = make_app(RESTART_BACKOFF=0.01, RESTART_MAX=4)
    factory.on_open = lambda bridge: setattr(bridge, "dead", True)
    client = app.test_client()
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "FAILED")
    delays = [r.args[1] for r in caplog.records if r.msg.startswith("session %s: relaunch in")]
    assert delays == [0.01, 0.02, 0.04]
    assert client.get("/sessions/s1").json["statusReason"] == "browser_crashed"


class CountingFactory(FakeFactory):
    """Records how many browsers are being opened at the same time."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.on_open = connect

    def open(self, session_id):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.02)  # long enough for overlapping launches to show
            return super().open(session_id)
        finally:
            with self.lock:
                self.now -= 1


def test_a_restart_with_twenty_sessions_launches_them_staggered(make_app, tmp_path):
    from waengine import create_app

    from .conftest import FAST

    # Fake browsers use no memory the watchdog could see: admission by memory stays out of it.
    config = {**FAST, "DATA_DIR": str(tmp_path / "data"), "API_KEYS": [], "MAX_SESSIONS": 25,
              "LAUNCH_CONCURRENCY": 2, "MEMORY_RESERVE_MB": 0.0, "TOTAL_MEMORY_LIMIT_MB": 1e9}
    factory = CountingFactory()
    first = create_app(config, factory=factory)
    engine_of(first).start()
    for i in range(20):
        assert first.test_client().post("/sessions", json={"id": f"s{i}"}).status_code == 201
    wait_for(lambda: len(factory.opened) == 20)
    engine_of(first).close()

    factory = CountingFactory()
    second = create_app(config, factory=factory)
    try:
        engine_of(second).start()
        client = second.test_client()
        wait_for(lambda: all(s["status"] == "CONNECTED"
                             for s in client.get("/sessions").json["data"]),
                 message="all 20 restored")
        assert len(factory.opened) == 20 and factory.most <= 2
    finally:
        engine_of(second).close()


def fake_chromedriver(tmp_path):
    """A process named chromedriver leading its own process group, with a child in the group."""
    binary = tmp_path / "chromedriver"
    shutil.copy(shutil.which("sh"), binary)
    leader = subprocess.Popen([str(binary), "-c", "sleep 300 & wait"], start_new_session=True)
    child = wait_for(lambda: psutil.Process(leader.pid).children(), message="its child")[0]
    return leader, child


def test_a_dead_gateways_chromedriver_group_is_reaped_from_its_pidfile(tmp_path):
    leader, child = fake_chromedriver(tmp_path)
    pidfile = tmp_path / "chromedriver.pid"
    try:
        processes.record_pid(pidfile, leader.pid)
        assert processes.sweep(tmp_path / "profiles", pidfile=pidfile) == 2
        leader.wait(5)  # killed (or ended by its child's death a moment before)
        wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
        assert not pidfile.exists()
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


def test_a_recorded_pid_now_used_by_another_program_is_left_alone(tmp_path):
    other = subprocess.Popen([shutil.which("sleep"), "300"], start_new_session=True)
    pidfile = tmp_path / "chromedriver.pid"
    try:
        pidfile.write_text(f"{other.pid} {psutil.Process(other.pid).create_time()}\n")
        assert processes.reap_recorded(pidfile) == 0  # its name is not chromedriver
        pidfile.write_text(f"{os.getpid()} 12345.0\n")
        assert processes.reap_recorded(pidfile) == 0  # started at another time: a reused pid
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
