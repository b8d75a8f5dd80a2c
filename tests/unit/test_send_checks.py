"""A send is checked once: one readiness check, one idempotency and one pacing lookup per
request, one session-id check, the JSON body parsed once (engine/outgoing.py, wiring.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from waengine import engine_of, request_checks, vocabulary
from waengine.engine import outgoing, session
from waengine.engine.budget import Budget

from ..conftest import wait_for
from .fakes import connect, status_of


def counted(monkeypatch, calls: Counter, owner, name: str):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls[name] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, name, wrapper)


def test_one_text_send_runs_each_check_once(make_app, factory, monkeypatch):
    client = make_app(SEND_MIN_INTERVAL=0, SEND_JITTER=0, SEND_TYPING=True).test_client()
    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(
        sendText=lambda **a: {"id": a["messageId"], "chatId": a["to"], "ack": 1},
        typing=lambda to, ms: None))
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    calls: Counter = Counter()
    counted(monkeypatch, calls, session.Session, "check_ready")
    counted(monkeypatch, calls, outgoing, "pacing_for")
    # The sender looks its session's pacing up again only when the options change: once.
    assert client.post("/sessions/s1/messages", json={"to": "628111", "text": "first"}
                       ).status_code == 201
    calls.clear()
    counted(monkeypatch, calls, outgoing.OutgoingQueue, "by_key")
    counted(monkeypatch, calls, request_checks, "check_session_id")
    counted(monkeypatch, calls, vocabulary, "check_session_id")
    counted(monkeypatch, calls, request_checks, "parse_strict_json")
    resp = client.post("/sessions/s1/messages", headers={"Idempotency-Key": "k1"},
                       json={"to": "628111", "text": "once"})
    assert resp.status_code == 201, resp.json
    # The request checks the session once; the sender's attempt and its page calls (new id,
    # typing, send) go through its dispatch gate (Sender._ready), not through check_ready.
    assert calls["check_ready"] == 1
    # A new key is met by nothing: the insert is the only look (a retried POST looks it up).
    assert calls["by_key"] == 0 and calls["pacing_for"] == 1
    assert calls["check_session_id"] == 1 and calls["parse_strict_json"] == 1
    again = client.post("/sessions/s1/messages", headers={"Idempotency-Key": "k1"},
                        json={"to": "628111", "text": "once"})
    assert again.status_code in (200, 201) and again.json["id"] == resp.json["id"]
    assert calls["by_key"] == 1


def test_the_request_checks_readiness_once(make_app, factory, monkeypatch):
    client = make_app(SEND_MIN_INTERVAL=3600).test_client()  # a send waits: no attempt runs
    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(
        sendText=lambda **a: {"id": a["messageId"], "chatId": a["to"], "ack": 1}))
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    calls: Counter = Counter()
    counted(monkeypatch, calls, session.Session, "check_ready")
    client.post("/sessions/s1/messages", json={"to": "628111", "text": "first"})  # sets the pace
    calls.clear()
    resp = client.post("/sessions/s1/messages", json={"to": "628111", "text": "paced"})
    assert resp.status_code == 202, resp.json
    assert calls["check_ready"] == 1


def test_a_send_accepted_before_its_session_stopped_stays_queued_until_it_is_back(
        make_app, factory, monkeypatch):
    sent = []
    app = make_app(SEND_MIN_INTERVAL=0, SEND_JITTER=0)
    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(
        sendText=lambda **a: sent.append(a["text"]) or {"id": a["messageId"], "chatId": a["to"],
                                                       "ack": 1}))
    client = app.test_client()
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    engine = engine_of(app)
    session = engine.manager.get("s1")
    gate: list[bool] = []
    real = outgoing.Sender._ready
    monkeypatch.setattr(outgoing.Sender, "_ready", lambda self: gate.append(real(self)) or gate[-1])
    # Accepted while CONNECTED (the request's check), then the session stops before the
    # sender dispatches it.
    row = engine.outgoing.submit(session, "sendText", {"to": "628111@c.us", "text": "held"}, None,
                                 session.check_ready)
    session.stop("test")
    engine.senders.ensure(session)
    wait_for(lambda: False in gate, message="the sender looked at the stopped session")
    assert sent == [] and engine.outgoing.get("s1", row["id"])["status"] == vocabulary.SendStatus.QUEUED
    assert client.post("/sessions/s1/start").status_code in (200, 202)
    done = wait_for(lambda: (r := engine.outgoing.get("s1", row["id"]))["status"] == "sent" and r,
                    message="sent once the session is back")
    assert sent == ["held"] and done["message"]["id"]


def test_the_timeout_budget_nests_each_layer_inside_the_one_around_it():
    for total in (0.3, 2.0, 60.0):
        budget = Budget(total)
        assert budget.page < budget.queue < budget.http == total
        assert budget.queue - budget.page == pytest.approx(budget.http - budget.queue)
        assert budget.http - budget.queue == pytest.approx(budget.margin) and budget.margin <= 1
