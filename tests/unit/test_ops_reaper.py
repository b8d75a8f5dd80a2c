"""The session reaper: idle sessions, QR never scanned, old outbox rows, orphaned locks."""

import os
import time

from waengine import engine_of
from waengine.ops import metrics
from waengine.ops.reaper import SessionReaper
from waengine.store import epoch

from ..conftest import wait_for
from .fakes import connect, scan_qr, status_of

DAY = 86400.0
QUIET = {"REAPER_INTERVAL": 3600.0}  # the engine's own reaper never passes during a test


class Clock:
    """Wall and monotonic time that a test moves forward."""

    def __init__(self):
        self.offset = 0.0

    def wall(self):
        return time.time() + self.offset

    def mono(self):
        return time.monotonic() + self.offset


def reaper_for(app, clock):
    return SessionReaper(engine_of(app), clock=clock.wall, monotonic=clock.mono)


def test_epoch_reads_the_stores_timestamps():
    assert epoch("1970-01-01T00:00:01.000Z") == 1.0
    assert epoch(None) is None and epoch("yesterday") is None


def test_an_idle_session_is_stopped_keeping_its_login_and_stays_stopped(make_app, factory):
    app = make_app(SESSION_IDLE_TIMEOUT=DAY, **QUIET)
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    clock = Clock()
    reaper = reaper_for(app, clock)
    assert reaper.run_once() == []
    clock.offset = DAY + 60
    before = metrics.REAPER_ACTIONS.labels("idle_stop")._value.get()
    assert reaper.run_once() == ["idle_stop"]
    body = client.get("/sessions/s1").json
    assert body["status"] == "STOPPED" and body["statusReason"] == "idle"
    assert factory.opened[0][1].quits == 1
    assert metrics.REAPER_ACTIONS.labels("idle_stop")._value.get() == before + 1
    # Not restored by a restart; a client starts it again, from its profile (no QR).
    engine_of(app).close()
    again = make_app(**QUIET)
    assert status_of(again.test_client()) == "STOPPED" and len(factory.opened) == 1
    assert again.test_client().post("/sessions/s1/start").status_code == 202
    wait_for(lambda: status_of(again.test_client()) == "CONNECTED")


def test_keep_alive_sessions_and_used_sessions_are_not_idle(make_app, factory):
    app = make_app(SESSION_IDLE_TIMEOUT=DAY, **QUIET)
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": "kept", "keepAlive": True})
    client.post("/sessions", json={"id": "used"})
    wait_for(lambda: status_of(client, "kept") == status_of(client, "used") == "CONNECTED")
    clock = Clock()
    reaper = reaper_for(app, clock)
    clock.offset = DAY + 60
    engine_of(app).manager.get("used").last_activity_at = (
        time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock.wall() - 10)))
    assert reaper.run_once() == []
    assert status_of(client, "kept") == status_of(client, "used") == "CONNECTED"


def test_a_session_restored_after_downtime_is_not_idle_at_once(make_app, factory):
    app = make_app(SESSION_IDLE_TIMEOUT=DAY, **QUIET)
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    # Its last use was two days ago (gateway down), but it got CONNECTED just now.
    engine_of(app).manager.get("s1").last_activity_at = "2000-01-01T00:00:00.000Z"
    assert reaper_for(app, Clock()).run_once() == []


def test_a_session_left_in_scan_qr_fails_qr_expired(make_app, factory):
    app = make_app(QR_SCAN_TIMEOUT=300.0, **QUIET)
    client = app.test_client()
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: factory.opened)
    scan_qr(factory.bridge())
    wait_for(lambda: status_of(client) == "SCAN_QR")
    clock = Clock()
    reaper = reaper_for(app, clock)
    assert reaper.run_once() == []
    clock.offset = 301
    assert reaper.run_once() == ["qr_expired"]
    wait_for(lambda: status_of(client) == "FAILED")
    body = client.get("/sessions/s1").json
    assert body["statusReason"] == "qr_expired" and body["browser"] is None
    assert factory.opened[0][1].quits == 1


def test_delivered_events_past_retention_are_purged(make_app):
    app = make_app(EVENT_RETENTION=3600.0, **QUIET)
    outbox = engine_of(app).events.outbox
    old = outbox.add("s1", "message", {"id": "m1"}, "message:m1", [])
    new = outbox.add("s1", "message", {"id": "m2"}, "message:m2", [])
    outbox.store.execute("UPDATE events SET created_at = ? WHERE id = ?",
                         ("2000-01-01T00:00:00.000Z", old["id"]))
    assert reaper_for(app, Clock()).run_once() == ["outbox_purged"]
    assert [row["id"] for row in outbox.since("s1", 0)] == [new["id"]]


def test_stale_singleton_locks_are_removed_only_where_no_browser_runs(make_app, factory):
    app = make_app(**QUIET)
    engine = engine_of(app)
    factory.on_open = connect
    app.test_client().post("/sessions", json={"id": "live"})
    wait_for(lambda: status_of(app.test_client(), "live") == "CONNECTED")
    for name in ("ghost", "live"):
        profile = engine.profiles / name
        profile.mkdir(parents=True, exist_ok=True)
        # What a killed Chromium leaves: a symlink naming host and pid.
        os.symlink(f"{os.uname().nodename}-{os.getpid()}", profile / "SingletonLock")
    assert reaper_for(app, Clock()).run_once() == ["lock_removed"]
    assert not os.path.lexists(engine.profiles / "ghost" / "SingletonLock")
    assert os.path.lexists(engine.profiles / "live" / "SingletonLock")


def test_the_reaper_thread_keeps_going_after_a_failing_pass(make_app, caplog):
    app = make_app(REAPER_INTERVAL=0.05)
    reaper = engine_of(app).reaper
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("disk on fire")

    reaper.run_once = broken
    wait_for(lambda: len(calls) >= 2, message="two passes")
    assert reaper.alive and "reaper pass failed" in caplog.text


def test_stored_messages_past_their_session_history_retention_are_deleted(make_app, factory):
    app = make_app(HISTORY_DAYS=30, **QUIET)
    client = app.test_client()
    client.post("/sessions", json={"id": "s1"})
    client.post("/sessions", json={"id": "s2", "historyDays": 365})
    wait_for(lambda: len(factory.opened) == 2, message="two browsers")
    engine, clock = engine_of(app), Clock()
    engine.events.history.clock = clock.wall
    for sid in ("s1", "s2"):
        engine._on_event(engine.manager.get(sid), "message", {
            "id": "false_6281100000001@c.us_3EB0AAAAAAAAAAAAAAAA", "chatId": "6281100000001@c.us",
            "type": "chat", "body": "halo", "timestamp": int(time.time())})
    reaper = reaper_for(app, clock)
    assert "history_expired" not in reaper.run_once()
    clock.offset = 31 * DAY
    assert reaper.run_once().count("history_expired") == 1
    assert client.get("/sessions/s1/messages").json["data"] == []
    assert [m["body"] for m in client.get("/sessions/s2/messages").json["data"]] == ["halo"]
