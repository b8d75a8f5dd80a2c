"""Events end to end: sandbox phones -> real Chromium -> outbox -> webhooks and SSE."""

import json
import threading

import requests

from waengine.events.webhooks import sign

from ..conftest import phones, wait_for
from .conftest import hooked, messages_at

number = phones(__name__)

ALICE, BUDI = number(1), number(2)


def test_an_incoming_message_becomes_a_signed_webhook(gateway, sandbox, receiver):
    hooked(gateway, sandbox, receiver, ALICE, BUDI)
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "pesan masuk"})
    [event] = wait_for(lambda: messages_at(receiver), timeout=10, message="message webhook")
    assert event["session"] == "ev" and event["id"].startswith("evt_")
    assert event["data"]["body"] == "pesan masuk" and event["data"]["from"] == f"{BUDI}@c.us"
    assert event["data"]["fromMe"] is False
    request = next(r for r in receiver.requests if json.loads(r["body"])["type"] == "message")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-waengine-event"] == "message"
    expected = sign("topsecret-of-24-bytes-or-more", headers["x-waengine-timestamp"], request["body"])
    assert headers["x-waengine-signature"] == expected
    statuses = [e["data"]["status"] for e in receiver.delivered() if e["type"] == "session.status"]
    assert statuses[:1] == ["STARTING"] and "CONNECTED" in statuses


def test_fifty_messages_survive_a_receiver_outage_in_order_once_each(make_gateway, sandbox,
                                                                     receiver):
    gateway = make_gateway(WEBHOOK_RETRY_BASE=0.1, WEBHOOK_RETRY_MAX_DELAY=1.0)
    hooked(gateway, sandbox, receiver, ALICE, BUDI, events=["message"])
    receiver.stop()  # connection refused
    for i in range(50):
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": f"n{i}"})
    pending = lambda: gateway.client.get("/sessions/ev/webhook/deliveries?status=pending").json["data"]  # noqa: E731
    wait_for(lambda: len(pending()) == 50, timeout=30, message="50 events in the outbox")
    receiver.statuses = [500, 500, 503]
    receiver.start()
    wait_for(lambda: len(messages_at(receiver)) == 50, timeout=60, message="50 deliveries")
    got = messages_at(receiver)
    assert [e["data"]["body"] for e in got] == [f"n{i}" for i in range(50)]
    assert len({e["id"] for e in got}) == 50


def test_events_pending_at_shutdown_are_delivered_after_restart(make_gateway, sandbox, receiver):
    first = make_gateway()
    hooked(first, sandbox, receiver, ALICE, BUDI, events=["message"])
    receiver.stop()
    for i in range(5):
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": f"r{i}"})
    wait_for(lambda: len(first.client.get("/sessions/ev/webhook/deliveries?status=pending")
                         .json["data"]) == 5, timeout=30, message="5 pending")
    first.engine.close()
    receiver.start()
    second = make_gateway()
    wait_for(lambda: len(messages_at(receiver)) >= 5, timeout=30, message="redelivery")
    second.wait_status("ev", "CONNECTED")
    bodies = [e["data"]["body"] for e in messages_at(receiver)]
    assert bodies == [f"r{i}" for i in range(5)]


def test_a_sent_message_reports_acks_sent_delivered_read(gateway, sandbox, receiver):
    hooked(gateway, sandbox, receiver, ALICE, BUDI, events=["message.ack"])
    sent = gateway.client.post("/sessions/ev/messages", json={"to": BUDI, "text": "ack me"}).json
    sandbox.deliver(BUDI)
    sandbox.read(BUDI)
    acks = lambda: [e["data"]["ack"] for e in receiver.delivered()  # noqa: E731
                    if e["data"]["id"] == sent["id"]]
    wait_for(lambda: "read" in acks(), timeout=20, message="read receipt")
    assert acks() == ["sent", "delivered", "read"]


def test_sse_delivers_live_events_and_resumes_without_gaps(make_gateway, sandbox, tmp_path):
    from werkzeug.serving import make_server

    gateway = make_gateway()
    server = make_server("127.0.0.1", 0, gateway.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        sandbox.phone(BUDI, "Budi")
        gateway.link(sandbox, "sse", ALICE)

        def read_events(headers, count):
            got = []
            with requests.get(f"{base}/sessions/sse/events", headers=headers, stream=True,
                              timeout=30) as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                event = {}
                for line in resp.iter_lines(decode_unicode=True):
                    if line.startswith("id: "):
                        event["id"] = line[4:]
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "" and "data" in event:
                        if event["data"]["type"] == "message":
                            got.append(event)
                        event = {}
                        if len(got) == count:
                            return got
            return got

        result = {}
        reader = threading.Thread(target=lambda: result.update(live=read_events({}, 2)))
        reader.start()
        wait_for(lambda: gateway.engine.events.streams._value < gateway.engine.config["SSE_MAX_STREAMS"],
                 message="stream open")
        for text in ("s1", "s2"):
            sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": text})
        reader.join(30)
        live = result["live"]
        assert [e["data"]["data"]["body"] for e in live] == ["s1", "s2"]
        # Disconnected after s2; two more arrive; resuming from s1 must give s2, s3, s4.
        for text in ("s3", "s4"):
            sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": text})
        outbox = gateway.engine.events.outbox
        wait_for(lambda: sum(r["type"] == "message" for r in outbox.since("sse", 0)) == 4)
        resumed = read_events({"Last-Event-ID": live[0]["id"]}, 3)
        assert [e["data"]["data"]["body"] for e in resumed] == ["s2", "s3", "s4"]
    finally:
        server.shutdown()
