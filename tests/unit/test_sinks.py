"""Event sinks: URLs checked and masked, config, routes, and a failing sink that holds up
nothing but its own deliveries (the brokers themselves: tests/integration/test_sinks.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from waengine.config import ConfigError, load_config
from waengine.events.outbox import EventOutbox
from waengine.events.sinks import key, mask, parse_config, url_problem
from waengine.events.sinks.sender import SinkSender
from waengine.events.webhooks import WebhookSender

from ..conftest import BACKENDS, wait_for
from ..receiver import Receiver

CONFIG = {"WEBHOOK_TIMEOUT": 2.0, "WEBHOOK_RETRY_BASE": 0.01, "WEBHOOK_RETRY_MAX_DELAY": 0.05,
          "WEBHOOK_RETRY_HORIZON": 3600.0, "SINK_TIMEOUT": 1.0,
          "WEBHOOK_ALLOW_PRIVATE": True}  # the receivers and brokers listen on 127.0.0.1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, shown", [
    ("amqp://user:pa%40ss@h:5672/vh?exchange=x", "amqp://user:***@h:5672/vh?exchange=x"),
    ("redis://:pw@h:6379/0?stream=s", "redis://:***@h:6379/0?stream=s"),
    ("redis://token@h:6379/0", "redis://***@h:6379/0"),
    ("nats://h:4222?auth_token=abc&prefix=p", "nats://h:4222?auth_token=***&prefix=p"),
    ("sqs://AKIA:wJalr@sqs.eu-west-1.amazonaws.com/1/q.fifo",
     "sqs://AKIA:***@sqs.eu-west-1.amazonaws.com/1/q.fifo"),
    ("redis://h:6379/0", "redis://h:6379/0"),
])
def test_secrets_in_a_sink_url_are_masked(url, shown):
    assert mask(url) == key(url) == shown


def test_a_sink_url_needs_a_known_scheme_a_host_and_for_sqs_a_queue_path():
    assert url_problem("redis://h:6379/0") is None
    assert url_problem("sqs://h/123/q.fifo") is None
    assert "starts with" in url_problem("https://h/")
    assert "no host" in url_problem("amqp:///vhost")
    assert "Port out of range" in url_problem("nats://h:99999")
    assert "sqs://host/account/queue" in url_problem("sqs://h/q")


def test_gateway_wide_sinks_come_from_json_config(monkeypatch):
    monkeypatch.setenv("WAENGINE_SINKS", json.dumps([{"url": "nats://h:4222",
                                                      "events": ["message"]}, "redis://h/0"]))
    config = load_config({"ENV": "testing"})
    assert config["SINKS"] == [{"url": "nats://h:4222", "events": ["message"]},
                               {"url": "redis://h/0", "events": []}]
    monkeypatch.setenv("WAENGINE_SINKS", '[{"url": "ftp://h"}]')
    with pytest.raises(ConfigError, match="SINKS"):
        load_config({"ENV": "testing"})
    monkeypatch.setenv("WAENGINE_SINKS", "[not json")
    with pytest.raises(ConfigError, match="SINKS"):
        load_config({"ENV": "testing"})
    assert parse_config("") == []


def test_a_gateway_without_sinks_loads_no_broker_library():
    code = ("import sys; from waengine import create_app; "
            "create_app({'ENV': 'testing', 'DATA_DIR': sys.argv[1], 'API_KEYS': []}); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pika', 'nats', 'boto3', 'botocore', 'redis'}))")
    out = subprocess.run([sys.executable, "-c", code, "/tmp/waengine-no-sinks"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_a_broken_sink_holds_up_neither_the_webhook_nor_another_sinks_queue(store):
    outbox = EventOutbox(store)
    receiver = Receiver()
    down = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    removed = "redis://127.0.0.1:1/0"  # a sink the session no longer has
    targets = [{"url": receiver.url}, {"url": key(down)}, {"url": key(removed)}]
    events = [outbox.add("s1", "message", {"n": i}, None, targets) for i in range(10)]
    hooks, sinks = WebhookSender(outbox, CONFIG), SinkSender(outbox, CONFIG)
    sinks.url_for = lambda session, sink: down if sink == key(down) else None
    hooks.start()
    sinks.start()
    try:
        wait_for(lambda: len(receiver.delivered()) == 10, message="every webhook delivered")
        failing = wait_for(lambda: [d for d in outbox.deliveries("s1", "pending", 100)
                                    if d["url"] == key(down) and d["attempts"] >= 2],
                           message="the down sink retried")
        dead = wait_for(lambda: outbox.deliveries("s1", "failed", 100),
                        message="the removed sink's event dead-lettered")
    finally:
        hooks.stop()
        sinks.stop()
        receiver.close()
    assert [e["id"] for e in receiver.delivered()] == [e["id"] for e in events]
    # Only the head of the down sink's queue is tried: the rest waits behind it, in order.
    assert {d["eventId"] for d in failing} == {events[0]["id"]}
    assert "hunter2" not in failing[0]["lastError"] and failing[0]["target"] == "sink"
    assert dead[-1]["url"] == key(removed) and "no longer configured" in dead[-1]["lastError"]
    [report] = [r for r in sinks.report() if r["url"] == key(down)]
    assert report["up"] is False and report["failingSince"]
    assert "hunter2" not in json.dumps(sinks.report())


def test_sink_routes_mask_secrets_keep_them_on_a_masked_put_and_list_deliveries(make_app):
    app = make_app(SINKS=[{"url": "nats://u:natpw@127.0.0.1:1", "events": []}])
    client = app.test_client()
    assert client.get("/sessions/nobody/sinks").status_code == 404
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    assert client.get("/sessions/s1/sinks").json == {
        "sinks": [], "gatewaySinks": [{"url": "nats://u:***@127.0.0.1:1", "events": []}]}
    bad = client.put("/sessions/s1/sinks", json={"sinks": [{"url": "http://x/y"}]})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    twice = {"url": "redis://:pw@127.0.0.1:1/0"}
    assert client.put("/sessions/s1/sinks", json={"sinks": [twice, twice]}).status_code == 422
    assert client.put("/sessions/s1/sinks", json={"sinks": [{"url": "redis://h/0",
                                                             "events": ["nope"]}]}).status_code == 422
    put = client.put("/sessions/s1/sinks", json={"sinks": [
        {"url": "amqp://user:s3cret@127.0.0.1:1/v", "events": ["message"]}]})
    assert put.status_code == 200
    assert put.json["sinks"] == [{"url": "amqp://user:***@127.0.0.1:1/v", "events": ["message"]}]
    again = client.put("/sessions/s1/sinks", json={"sinks": put.json["sinks"]})
    assert again.json == put.json and "s3cret" not in json.dumps(again.json)
    from waengine import engine_of

    engine = engine_of(app)
    assert engine.manager.get("s1").options["sinks"][0]["url"] == "amqp://user:s3cret@127.0.0.1:1/v"
    # The session's status events go to the gateway-wide sink (all types) and are listed
    # beside webhooks; the broker is not there, so they wait, and the secret stays hidden.
    rows = wait_for(lambda: [d for d in client.get("/sessions/s1/webhook/deliveries").json["data"]
                             if d["target"] == "sink" and d["attempts"]], message="a sink delivery")
    assert rows[0]["url"] == "nats://u:***@127.0.0.1:1" and "natpw" not in json.dumps(rows)
    health = client.get("/health").json
    assert health["sinks"][0]["url"] == "nats://u:***@127.0.0.1:1"
    assert health["sinks"][0]["up"] is False
    assert client.put("/sessions/s1/sinks", json={"sinks": []}).json["sinks"] == []
    assert "sinks" not in engine.manager.get("s1").options
