"""Events: translation, the durable outbox, signed webhooks with retries, SSE."""

import hashlib
import hmac
import json
import threading

import pytest

from waengine import engine_of
from waengine.events import translate
from waengine.events.outbox import EventOutbox
from waengine.events.webhooks import WebhookSender, backoff, retryable, sign

from ..conftest import BACKENDS, wait_for
from ..receiver import Receiver

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)

CONFIG = {"WEBHOOK_TIMEOUT": 2.0, "WEBHOOK_RETRY_BASE": 0.01, "WEBHOOK_RETRY_MAX_DELAY": 0.05,
          "WEBHOOK_RETRY_HORIZON": 3600.0,
          "WEBHOOK_ALLOW_PRIVATE": True}  # the receivers listen on 127.0.0.1


@pytest.fixture
def outbox(store):
    return EventOutbox(store)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def msg(mid, body="hi"):
    return {"id": mid, "chatId": "62811@c.us", "from": "62811@c.us", "to": "62800@c.us",
            "fromMe": False, "type": "chat", "body": body, "timestamp": 1, "ack": 1}


def test_translate_keeps_incoming_messages_and_splits_acks_per_message():
    [(kind, data, key)] = translate("message", msg("false_62811@c.us_AA"))
    assert kind == "message" and data["ack"] == "sent" and key == "message:false_62811@c.us_AA"
    acks = translate("message.ack", {"ack": 3, "chatId": "c", "ids": ["a", "b"]})
    assert [(t, d["id"], d["ack"]) for t, d, _ in acks] == [("message.ack", "a", "read"),
                                                             ("message.ack", "b", "read")]
    assert translate("message.sent", msg("true_x_1")) == []
    assert translate("conn.logout", {}) == []


@BOTH
def test_the_outbox_stores_a_fact_once(outbox):
    first = outbox.add("s1", "message", msg("m1"), "message:m1", [])
    again = outbox.add("s1", "message", msg("m1"), "message:m1", [])
    assert first and first["id"].startswith("evt_") and again is None
    assert [r["id"] for r in outbox.since("s1", 0)] == [first["id"]]


def test_signature_follows_the_documented_recipe():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", body) == "sha256=" + expected


def test_retry_rules_and_backoff_growth():
    assert retryable(None) and retryable(500) and retryable(429) and retryable(408)
    assert not retryable(400) and not retryable(404) and not retryable(410)
    assert backoff(1, 1.0, 600, rand=lambda: 0.5) == 1.0
    assert backoff(4, 1.0, 600, rand=lambda: 0.5) == 8.0
    assert backoff(30, 1.0, 600, rand=lambda: 0.5) == 600


@BOTH
def test_webhooks_arrive_signed_in_order_after_the_receiver_recovers(outbox, receiver):
    hook = {"url": receiver.url, "secret": "k"}
    receiver.statuses = [500, 503, 500]
    events = [outbox.add("s1", "message", msg(f"m{i}"), f"message:m{i}", [hook]) for i in range(20)]
    sender = WebhookSender(outbox, CONFIG)
    sender.secret_for = lambda session, url: hook["secret"]  # kept with the hook, not per row
    sender.start()
    try:
        wait_for(lambda: len(receiver.delivered()) == 20, timeout=20, message="20 deliveries")
    finally:
        sender.stop()
    got = receiver.delivered()
    assert [e["id"] for e in got] == [e["id"] for e in events]
    req = next(r for r in receiver.requests if r["status"] == 200)
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["x-waengine-event"] == "message"
    assert headers["x-waengine-signature"] == sign("k", headers["x-waengine-timestamp"], req["body"])
    assert not outbox.deliveries("s1", "pending", 100)


@BOTH
def test_a_refused_connection_is_retried_and_a_4xx_is_dead_lettered(outbox, receiver,
                                                                    refused_port):
    closed_url = f"http://127.0.0.1:{refused_port}/"
    outbox.add("s1", "qr", {"qr": "x"}, None, [{"url": closed_url}])
    receiver.statuses = [404]
    dead = outbox.add("s2", "qr", {"qr": "y"}, None, [{"url": receiver.url}])
    sender = WebhookSender(outbox, CONFIG)
    sender.run_once()
    assert outbox.deliveries("s1", "pending", 10)[0]["attempts"] == 1
    assert outbox.deliveries("s2", "failed", 10)[0]["lastStatus"] == 404
    assert outbox.retry("s2", dead["id"]) == 1
    sender.run_once()
    assert outbox.deliveries("s2", "delivered", 10)


@BOTH
def test_webhook_routes_and_delivery_status(client, factory, receiver, app):
    resp = client.post("/sessions", json={"id": "s1", "webhook": {"url": receiver.url,
                                                                    "secret": "k" * 24,
                                                                    "events": ["session.status"]}})
    assert resp.status_code == 201
    assert client.get("/sessions/s1/webhook").json == {"url": receiver.url,
                                                       "events": ["session.status"],
                                                       "hasSecret": True}
    wait_for(lambda: receiver.delivered(), message="a session.status webhook")
    assert receiver.delivered()[0]["type"] == "session.status"
    # The receiver has answered; the sender records that right after.
    deliveries = wait_for(lambda: client.get("/sessions/s1/webhook/deliveries?status=delivered")
                          .json["data"], message="the delivery recorded")
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["lastStatus"] == 200
    assert client.get("/sessions/s1/webhook/deliveries?status=nope").status_code == 422
    assert client.post("/sessions/s1/webhook/deliveries/evt_x/retry").status_code == 404
    put = client.put("/sessions/s1/webhook", json={"url": "ftp://x"})
    assert put.status_code == 422


@BOTH
def test_sse_streams_events_and_resumes_after_last_event_id(client, factory, app):
    client.post("/sessions", json={"id": "s1"})
    outbox = engine_of(app).events.outbox
    wait_for(lambda: outbox.since("s1", 0), message="first status event")
    first = outbox.since("s1", 0)[0]
    resp = client.get("/sessions/s1/events", headers={"Last-Event-ID": first["id"]},
                      buffered=False)
    assert resp.mimetype == "text/event-stream"
    later = outbox.add("s1", "qr", {"qr": "q"}, None, [])
    text = ""
    for chunk in resp.response:
        text += chunk.decode()
        if later["id"] in text:
            break
    resp.close()
    ids = [line[4:] for line in text.splitlines() if line.startswith("id: ")]
    assert ids[-1] == later["id"] and first["id"] not in ids
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert data[-1]["type"] == "qr" and data[-1]["session"] == "s1"


def test_sse_streams_are_capped(make_app, factory):
    app = make_app(SSE_MAX_STREAMS=1)
    client = app.test_client()
    client.post("/sessions", json={"id": "s1"})
    first = client.get("/sessions/s1/events", buffered=False)
    next(first.response)
    second = client.get("/sessions/s1/events")
    assert second.status_code == 429 and second.headers["Retry-After"] == "5"
    first.close()
    third = client.get("/sessions/s1/events", buffered=False)
    assert third.status_code == 200
    third.close()


@BOTH
def test_event_hub_stream_refuses_past_the_cap_and_frees_its_slot_when_closed(store):
    from waengine.errors import TooManyRequests, ValidationError
    from waengine.events import EventHub

    hub = EventHub(store, {"SSE_MAX_STREAMS": 1, "SSE_KEEPALIVE": 0.05, "WEBHOOK_URL": None,
                           **CONFIG})
    def read(after):
        return hub.outbox.since("s1", after)

    with pytest.raises(ValidationError):
        hub.resume_point("evt_unknown")
    stream = hub.stream(read, hub.resume_point(None))  # the one slot
    assert next(stream) == "retry: 2000\n\n"
    with pytest.raises(TooManyRequests):
        hub.stream(read, hub.resume_point(None))
    added = hub.outbox.add("s1", "qr", {"qr": "q"}, None, [])
    assert next(stream).startswith(f"id: {added['id']}\nevent: qr\n")
    assert next(stream) == ": keepalive\n\n"
    stream.close()
    next(hub.stream(read, hub.resume_point(added["id"])))  # the slot is free again


def test_an_edit_is_a_message_edited_event_once_per_new_text():
    edited = {**msg("true_62811@c.us_AA"), "body": "new text", "editedAt": 1_800_000_000}
    [(kind, data, key)] = translate("message.edited", edited)
    assert kind == "message.edited" and data["body"] == "new text"
    assert data["editedAt"] == 1_800_000_000 and data["id"] == "true_62811@c.us_AA"
    [(_, _, again)] = translate("message.edited", dict(edited))
    [(_, _, other)] = translate("message.edited", {**edited, "body": "newer", "editedAt": 1_800_000_060})
    assert again == key and other != key


@BOTH
def test_closing_the_hub_ends_open_streams_at_once_and_frees_their_slots(store):
    from waengine.events import EventHub

    # A keep-alive far away: only close_streams() can end the stream's wait.
    hub = EventHub(store, {"SSE_MAX_STREAMS": 1, "SSE_KEEPALIVE": 3600.0, "WEBHOOK_URL": None,
                           **CONFIG})
    stream = hub.stream(lambda after: hub.outbox.since("s1", after), hub.resume_point(None))
    assert next(stream) == "retry: 2000\n\n"
    ended = threading.Event()
    reader = threading.Thread(target=lambda: (list(stream), ended.set()), name="test-reader")
    reader.start()
    hub.close_streams()
    reader.join(10)
    assert ended.is_set() and hub.streams.acquire(blocking=False)
