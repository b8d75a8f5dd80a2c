"""Every thread waengine starts has a name, and a stop that outwaits its join says so in the log."""

import logging
import threading

from waengine import engine_of
from waengine.ops.periodic import PeriodicThread

from ..conftest import wait_for


def test_every_engine_thread_is_named_while_a_session_sends(client, factory):
    before = set(threading.enumerate())
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    bridge = wait_for(lambda: factory.opened and factory.bridge(), message="a browser")
    bridge.state.update(fullReady=True, auth=True, mode="MAIN", qr=None,
                        me={"id": "6281234567890@c.us", "name": "Sales"})
    wait_for(lambda: client.get("/sessions/s1").json["status"] == "CONNECTED")
    bridge.handlers["sendText"] = lambda **a: {"id": "true_6281111111111@c.us_A1", "body": a["text"],
                                               "chatId": a["to"], "to": a["to"], "fromMe": True,
                                               "timestamp": 1}
    assert client.post("/sessions/s1/messages",
                       json={"to": "6281111111111", "text": "hi"}).status_code == 201
    started = {t.name for t in set(threading.enumerate()) - before}
    assert {"wa-session-s1", "wa-send-s1", "wa-watchdog", "wa-reaper"} <= started | {
        t.name for t in before}
    assert [name for name in started if name.startswith("Thread-")] == []


class Stubborn(PeriodicThread):
    thread_name = "wa-stubborn"
    join_timeout = 0.05
    interval = 60.0

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def run_once(self):
        self.release.wait(10)


def test_a_thread_that_outlives_its_join_timeout_is_logged(caplog):
    stubborn = Stubborn()
    stubborn.start()
    caplog.set_level(logging.WARNING, logger="waengine.ops.periodic")
    stubborn.stop()
    stubborn.release.set()
    assert "wa-stubborn did not stop within 0.05s" in caplog.text
    wait_for(lambda: not stubborn.alive)


def test_manager_shutdown_runs_named_stop_threads(app, client, factory, monkeypatch):
    assert client.post("/sessions", json={"id": "s2"}).status_code == 201
    wait_for(lambda: factory.opened, message="a browser")
    seen = []
    original = threading.Thread.start

    def spy(thread):
        seen.append(thread.name)
        return original(thread)

    monkeypatch.setattr(threading.Thread, "start", spy)
    engine_of(app).manager.shutdown()
    monkeypatch.undo()
    assert "wa-stop-s2" in seen
