"""Push delivery (session._notified) with a fake page and channel: once, in order, acked
after the sink, the slow safety poll, and a state notification waking the worker."""

from __future__ import annotations

import json
import threading

import pytest

from waengine import engine_of

from ..conftest import wait_for
from .fakes import FakeBridge, FakeFactory


class FakeChannel:
    def __init__(self, on_notify, bridge):
        self.on_notify = on_notify
        self.bridge = bridge
        self.closed = False
        self.lose_acks = False
        self.evaluated: list[str] = []

    def evaluate(self, expression: str) -> None:
        """The page runs the ack: it drops those events (unless the test loses the ack)."""
        self.evaluated.append(expression)
        if not self.lose_acks:
            ids = set(json.loads(expression[expression.index("(") + 1:-1]))
            self.bridge.events = [e for e in self.bridge.events if e["id"] not in ids]


class PushBridge(FakeBridge):
    """A page with a push channel (the real one is engine/channel.py)."""

    def __init__(self):
        super().__init__()
        self.channels: list[FakeChannel] = []

    def open_channel(self, name, on_notify):
        self.channels.append(FakeChannel(on_notify, self))
        return self.channels[-1]

    def close_channel(self, channel):
        channel.closed = True

    def notify(self, payload):
        self.channels[-1].on_notify(payload)


class PushFactory(FakeFactory):
    def open(self, session_id):
        browser, _ = super().open(session_id)
        bridge = PushBridge()
        bridge.state.update(fullReady=True, auth=True, mode="MAIN", me={"id": "1@c.us"})
        browser.bridge = bridge
        self.opened[-1] = (session_id, browser, bridge)
        return browser, bridge


@pytest.fixture
def factory():
    return PushFactory()


@pytest.fixture
def pushed(make_app, factory):
    app = make_app(SAFETY_POLL_INTERVAL=600.0)
    engine = engine_of(app)
    seen = []
    engine.events.publish = lambda session, kind, data: seen.append((kind, data))
    engine.manager.create("s1")
    session = engine.manager.get("s1")
    wait_for(lambda: session.status.value == "CONNECTED")
    return session, factory.bridge(), seen


def event(n: int) -> dict:
    return {"id": f"doc:{n}", "type": "message", "data": {"id": f"m{n}", "chatId": "2@c.us"}}


def test_a_pushed_event_is_committed_once_then_acked_without_a_page_read(pushed):
    session, bridge, seen = pushed
    polls = bridge.polls
    bridge.events.append(event(1))  # queued in the page when the push arrives
    bridge.notify(json.dumps({"events": [event(1)]}))
    assert [data["id"] for kind, data in seen if kind == "message"] == ["m1"]
    assert bridge.channels[-1].evaluated == ['window.__waengine && window.__waengine.ack(["doc:1"])']
    assert bridge.events == [] and bridge.polls == polls


def test_a_copy_a_poll_brings_back_is_not_committed_again_but_acked(pushed):
    session, bridge, seen = pushed
    bridge.channels[-1].lose_acks = True  # the channel broke before the page got the ack
    bridge.events.append(event(1))
    bridge.notify(json.dumps({"events": [event(1)]}))
    polls = bridge.polls
    bridge.notify("state")  # the worker reads the page: event 1 is still queued there
    wait_for(lambda: bridge.polls > polls and session._ack == ["doc:1"])
    assert [data["id"] for kind, data in seen if kind == "message"] == ["m1"]


def test_a_sink_failure_keeps_the_event_and_the_rest_for_the_next_try(pushed):
    session, bridge, seen = pushed
    failures = [RuntimeError("outbox down")]

    def flaky(session, kind, data):
        if failures:
            raise failures.pop()
        seen.append((kind, data))
    session._on_event = flaky  # the sink: the engine's callback the session holds
    bridge.events += [event(2), event(3)]
    bridge.notify(json.dumps({"events": [event(2), event(3)]}))
    assert bridge.channels[-1].evaluated == [] and len(bridge.events) == 2
    bridge.notify(json.dumps({"events": [event(2), event(3)]}))  # the next try: in order
    assert [data["id"] for kind, data in seen if kind == "message"] == ["m2", "m3"]
    assert bridge.events == []


def test_an_idle_pushed_session_reads_its_page_only_when_told(pushed):
    session, bridge, seen = pushed
    polls = bridge.polls
    bridge.state.update(auth=False, qr="ref2,a,b,c")  # logged out on the phone
    bridge.notify("state")
    wait_for(lambda: session.status.value == "SCAN_QR")
    assert bridge.polls == polls + 1


def test_a_lost_channel_is_reopened(pushed):
    session, bridge, seen = pushed
    first = bridge.channels[-1]
    first.closed = True
    bridge.notify("state")  # what the I/O thread does when a channel drops
    wait_for(lambda: len(bridge.channels) == 2 and session._channel is bridge.channels[-1])


def test_a_held_event_keeps_later_pushes_behind_it_until_the_sink_takes_it(pushed):
    """MEDIA_STORE's hold (the sink answers False): the event and every later one stay in the
    page, unacknowledged, and reach the sink in the page's order once it takes the first."""
    session, bridge, _ = pushed
    stored, seen = threading.Event(), []

    def sink(session, kind, data):
        if kind != "message":
            return True
        if data["id"] == "m1" and not stored.is_set():
            return False  # its media is still being stored
        seen.append((kind, data))
        return True
    session._on_event = sink
    with bridge.lock:
        bridge.events += [event(1), event(2)]
    bridge.notify(json.dumps({"events": [event(1)]}))
    bridge.notify(json.dumps({"events": [event(2)]}))  # pushed behind the held one
    assert seen == [] and bridge.channels[-1].evaluated == []
    polls = bridge.polls
    wait_for(lambda: bridge.polls > polls + 2, message="polls while it is held")
    assert seen == [] and len(bridge.events) == 2
    stored.set()
    wait_for(lambda: [data["id"] for kind, data in seen] == ["m1", "m2"])
    wait_for(lambda: bridge.events == [])
    bridge.events.append(event(3))  # unblocked: a push goes straight to the sink again
    bridge.notify(json.dumps({"events": [event(3)]}))
    assert [data["id"] for kind, data in seen] == ["m1", "m2", "m3"]
