"""Outgoing sends: durable queue, pacing, daily cap, idempotency, never dropped."""

import time

import pytest

from waengine import engine_of
from waengine.engine.outgoing import pacing_for, typing_ms
from waengine.errors import TooManyRequests

from ..conftest import BACKENDS, wait_for
from .fakes import connect, status_of

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)


def connected(client, factory, sid="s1", handlers=None):
    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(handlers or {}))
    client.post("/sessions", json={"id": sid})
    wait_for(lambda: status_of(client, sid) == "CONNECTED")


def recorder():
    sent = []

    def send(to, text, **_):
        sent.append((time.monotonic(), to, text))
        return {"id": f"true_{to}_{len(sent):04d}", "chatId": to, "fromMe": True, "to": to,
                "type": "chat", "body": text, "timestamp": 1, "ack": 1}
    return sent, send


def test_pacing_defaults_and_per_session_override():
    config = {"SEND_MIN_INTERVAL": 2.0, "SEND_JITTER": 1.0, "SEND_DAILY_CAP": 0,
              "SEND_TYPING": False}
    assert pacing_for(config, {}) == {"minInterval": 2.0, "jitter": 1.0, "dailyCap": 0,
                                      "typing": False, "coldPerHour": 0, "coldPerDay": 0}
    assert pacing_for(config, {"pacing": {"dailyCap": 5}})["dailyCap"] == 5
    assert typing_ms("x" * 50, 25.0) == 2000 and typing_ms("x" * 5000, 25.0) == 5000
    assert typing_ms("", 25.0) == 0


@BOTH
def test_sends_are_spaced_by_the_minimum_interval_and_all_arrive_in_order(make_app, factory):
    app = make_app(SEND_MIN_INTERVAL=0.3, SEND_JITTER=0.0)
    engine = engine_of(app)
    sent, send = recorder()
    connected(app.test_client(), factory, handlers={"sendText": send})
    session = engine.manager.get("s1")
    rows = [engine.outgoing.submit(session, "sendText", {"to": "62811@c.us", "text": f"m{i}"},
                                   None) for i in range(4)]
    engine.senders.ensure(session)
    wait_for(lambda: len(sent) == 4, timeout=10)
    assert [text for _, _, text in sent] == ["m0", "m1", "m2", "m3"]
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 0.3
    # The page has answered a moment before the queue records it.
    wait_for(lambda: all(engine.outgoing.get("s1", r["id"])["status"] == "sent" for r in rows),
             message="every send recorded as sent")


@BOTH
def test_the_daily_cap_answers_429_with_retry_after(make_app, factory):
    app = make_app()
    engine = engine_of(app)
    sent, send = recorder()
    connected(app.test_client(), factory, handlers={"sendText": send})
    session = engine.manager.get("s1")
    session.options["pacing"] = {"dailyCap": 2}
    for i in range(2):
        assert engine.send(session.id, "sendText", {"to": "62811@c.us", "text": str(i)})["status"] == "sent"
    with pytest.raises(TooManyRequests) as caught:
        engine.send(session.id, "sendText", {"to": "62811@c.us", "text": "3"})
    error = caught.value
    assert error.status == 429 and 0 < int(error.headers["Retry-After"]) <= 86401
    assert len(sent) == 2


@BOTH
def test_an_idempotency_key_sends_once(make_app, factory):
    app = make_app()
    engine = engine_of(app)
    sent, send = recorder()
    connected(app.test_client(), factory, handlers={"sendText": send})
    session = engine.manager.get("s1")
    first = engine.send(session.id, "sendText", {"to": "62811@c.us", "text": "once"}, "key-1")
    again = engine.send(session.id, "sendText", {"to": "62811@c.us", "text": "once"}, "key-1")
    assert first["id"] == again["id"] and len(sent) == 1


@BOTH
def test_queued_sends_wait_for_the_session_and_survive_a_restart(make_app, factory):
    sent, send = recorder()
    first = make_app()
    connected(first.test_client(), factory, handlers={"sendText": send})
    engine = engine_of(first)
    session = engine.manager.get("s1")
    factory.bridge().state.update(auth=False, qr="q")  # logged out: sends must wait
    wait_for(lambda: status_of(first.test_client()) == "SCAN_QR")
    rows = [engine.outgoing.submit(session, "sendText", {"to": "62811@c.us", "text": f"r{i}"},
                                   None) for i in range(3)]
    engine.senders.ensure(session)
    engine.close()
    assert sent == []
    second = make_app()
    wait_for(lambda: len(sent) == 3, timeout=10, message="queued sends after restart")
    assert [t for _, _, t in sent] == ["r0", "r1", "r2"]
    done = engine_of(second).outgoing.get("s1", rows[2]["id"])
    assert done["status"] == "sent" and done["message"]["body"] == "r2"
