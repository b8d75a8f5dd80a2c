"""Push instead of polling: pages hand their events to the gateway over a DevTools channel."""

import threading

import pytest

from waengine.engine.bridge import Bridge

from ..conftest import phones, wait_for
from .conftest import hooked, messages_at

number = phones(__name__)
ALICE, BUDI = number(1), number(2)

# An idle session reads its page this rarely here: anything faster than this came by push.
SLOW = 600.0


@pytest.fixture
def polls(monkeypatch):
    """How many times the workers read their pages (Bridge.poll), in order."""
    calls = []
    original = Bridge.poll

    def counted(self, ack_ids):
        calls.append(ack_ids)
        return original(self, ack_ids)

    monkeypatch.setattr(Bridge, "poll", counted)
    return calls


def test_an_idle_session_gets_events_and_state_by_push_without_polling(make_gateway, sandbox,
                                                                       receiver, polls):
    gateway = make_gateway(SAFETY_POLL_INTERVAL=SLOW)
    hooked(gateway, sandbox, receiver, ALICE, BUDI)
    session = gateway.engine.manager.get("ev")
    assert session._channel is not None and not session._channel.closed
    before = len(polls)
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "didorong"})
    [event] = wait_for(lambda: messages_at(receiver), timeout=10, message="message webhook")
    assert event["data"]["body"] == "didorong"
    # Delivered without a single page read, and acknowledged over the channel: the page's
    # queue is empty, so the next poll brings nothing back.
    assert len(polls) == before
    queued = lambda: session.submit(lambda bridge: bridge.driver.execute_script(  # noqa: E731
        "return window.__waengine.queue.length"))
    wait_for(lambda: queued() == 0, timeout=5, message="the page's queue acknowledged")
    assert len(polls) == before
    # A state change (logout on the phone) is pushed too: the worker reads the page at once.
    sandbox.post(f"/_sandbox/phones/{ALICE}/unlink")
    gateway.wait_status("ev", "SCAN_QR", timeout=15)
    assert len(messages_at(receiver)) == 1


def test_an_event_during_a_long_command_is_not_held_up_by_it(make_gateway, sandbox, receiver):
    gateway = make_gateway(SAFETY_POLL_INTERVAL=SLOW, COMMAND_TIMEOUT=30.0, STUCK_TIMEOUT=60.0)
    hooked(gateway, sandbox, receiver, ALICE, BUDI, events=["message"])
    sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=20)
    result = {}
    client = gateway.app.test_client()
    sender = threading.Thread(target=lambda: result.update(resp=client.post(
        "/sessions/ev/messages", json={"to": BUDI, "text": "lama"})), name="test-sender")
    try:
        sender.start()
        session = gateway.engine.manager.get("ev")
        wait_for(lambda: session.busy_for() > 0.5, timeout=10, message="the send running")
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "sela"})
        [event] = wait_for(lambda: messages_at(receiver), timeout=10, message="message webhook")
        assert event["data"]["body"] == "sela"
        assert sender.is_alive() and session.busy_for() > 0  # the send is still in the page
    finally:
        sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=0)
        sender.join(40)
    assert result["resp"].status_code == 201


def test_a_lost_channel_wakes_the_worker_and_is_opened_again(make_gateway, sandbox, receiver,
                                                             polls):
    gateway = make_gateway(SAFETY_POLL_INTERVAL=1.0)
    hooked(gateway, sandbox, receiver, ALICE, BUDI, events=["message"])
    session = gateway.engine.manager.get("ev")
    first = session._channel
    first.ws.sock.shutdown(2)  # the link breaks under the gateway (not closed by it)
    wait_for(lambda: session._channel is not first and session._channel is not None
             and not session._channel.closed, timeout=10, message="a new channel")
    assert first.closed
    before = len(polls)
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "lagi"})
    [event] = wait_for(lambda: messages_at(receiver), timeout=10, message="message webhook")
    assert event["data"]["body"] == "lagi"
    assert gateway.session("ev")["status"] == "CONNECTED"
    assert len(polls) - before <= 12  # the safety poll only (1 s), never the 0.1 s poll


def test_poll_mode_still_delivers(make_gateway, sandbox, receiver):
    gateway = make_gateway(PUMP_MODE="poll")
    hooked(gateway, sandbox, receiver, ALICE, BUDI, events=["message"])
    assert gateway.engine.manager.get("ev")._channel is None
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "ditarik"})
    [event] = wait_for(lambda: messages_at(receiver), timeout=10, message="message webhook")
    assert event["data"]["body"] == "ditarik"
