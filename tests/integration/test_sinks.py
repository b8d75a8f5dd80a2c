"""Event sinks against real brokers: RabbitMQ, NATS JetStream, Redis Streams, SQS (moto).

End to end, a linked sandbox session's incoming messages and acks reach every sink and the
webhook in the outbox's order with their event ids, and a stopped broker holds up only its own
sink; a gateway SIGKILLed mid-stream (gunicorn's whole process group) and started again on its
data folder publishes every event of its outbox at least once. Against each broker directly,
its restart mid-stream loses nothing and repeats only event ids (which NATS and SQS FIFO drop),
and events committed while no sender ran go out when one starts.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from types import SimpleNamespace

import pytest

from waengine.config import load_config
from waengine.events.outbox import EventOutbox
from waengine.events.sinks import key
from waengine.events.sinks.sender import SinkSender
from waengine.store import Store

from ..conftest import phones, wait_for
from ..receiver import Receiver
from .brokers import Nats, RabbitMQ, Redis, Sqs
from .servers import Gunicorn

number = phones(__name__)

SID = "sk"
ALICE, BUDI = number(1), number(2)
KILLED, CITRA = number(3), number(4)  # the SIGKILL test's session number and its friend
TYPES = ["message", "message.ack"]


@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    rabbit = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    nats = Nats(tmp_path_factory.mktemp("nats"))
    redis = Redis(tmp_path_factory.mktemp("redis"))
    sqs = Sqs()
    started = []
    try:
        for server in (rabbit, nats, redis):  # RabbitMQ boots slowly: the others meanwhile
            server.launch()
            started.append(server)
        sqs.start()
        started.append(sqs)
        for server in (rabbit, nats, redis):
            server.wait_ready()
        yield SimpleNamespace(amqp=rabbit, nats=nats, redis=redis, sqs=sqs)
    finally:
        for server in started:
            server.close()


def ids(rows, field=lambda row: json.loads(row["body"])["id"]):
    return [field(row) for row in rows]


def first_seen(seq):
    return list(dict.fromkeys(seq))


# ---- end to end: a linked session, every sink and a webhook ----

def test_a_linked_sessions_events_reach_every_sink_in_order_and_a_stopped_broker_holds_up_only_its_own(  # noqa: E501
        make_gateway, sandbox, brokers):
    brokers.amqp.bind("e2e")
    queue = "e2e.fifo"
    sqs_url = brokers.sqs.queue(queue)
    receiver = Receiver()
    try:
        gw = make_gateway(SINKS=json.dumps([{"url": brokers.redis.url, "events": TYPES}]),
                          WEBHOOK_RETRY_BASE=0.2, WEBHOOK_RETRY_MAX_DELAY=1.0, SINK_TIMEOUT=2.0)
        client = gw.client
        assert client.post("/sessions", json={"id": SID, "webhook": {
            "url": receiver.url, "events": TYPES}}).status_code == 201
        put = client.put(f"/sessions/{SID}/sinks", json={"sinks": [
            {"url": brokers.amqp.url, "events": TYPES}, {"url": brokers.nats.url,
                                                         "events": TYPES},
            {"url": sqs_url, "events": TYPES}]})
        assert put.status_code == 200, put.json
        shown = json.dumps(put.json)
        assert "guest:***@" in shown and "testing:***@" in shown and ":guest@" not in shown
        assert put.json["gatewaySinks"] == [{"url": brokers.redis.url, "events": TYPES}]
        assert client.get(f"/sessions/{SID}/sinks").json == put.json
        sandbox.phone(BUDI, "Budi")
        gw.link(sandbox, SID, ALICE)

        def outbox():
            return [e["id"] for e in client.get(f"/sessions/{SID}/events/recent?limit=500").json[
                "data"] if e["type"] in TYPES]

        amqp_seen, sqs_seen = [], []

        def nats_seen():
            return [m for m in brokers.nats.read() if m["subject"].startswith(f"waengine.{SID}.")]

        readers = {"webhook": lambda: [e["id"] for e in receiver.delivered()],
                   "redis": lambda: ids(brokers.redis.read(f"waengine.{SID}")),
                   "amqp": lambda: ids(amqp_seen), "nats": lambda: ids(nats_seen()),
                   "sqs": lambda: ids(sqs_seen)}
        last = {}

        def caught_up(names=tuple(readers)):
            # Queues hand each message out once: keep what was taken.
            amqp_seen.extend(brokers.amqp.read("e2e"))
            sqs_seen.extend(brokers.sqs.read(queue))
            # The outbox may still grow (a read receipt after the delivery receipt): compare
            # with what it holds now.
            last.update({name: readers[name]() for name in names}, expected=outbox())
            return all(last[k] == last["expected"] for k in names) and dict(last)

        for i in range(3):
            sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": f"in {i}"})
        sent = client.post(f"/sessions/{SID}/messages", json={"to": BUDI, "text": "out"})
        assert sent.status_code in (200, 201, 202), sent.json
        wait_for(lambda: sum(1 for e in receiver.delivered() if e["type"] == "message.ack"),
                 timeout=30, message="an ack of the sent message")
        try:
            got = wait_for(caught_up, timeout=30, message="every sink has the outbox's events")
        except AssertionError:
            raise AssertionError(f"got {last}") from None
        expected = got["expected"]
        assert len(expected) >= 4
        assert got["redis"] == expected  # same order, no gaps, no repeats on a healthy path
        for row in amqp_seen:
            body = json.loads(row["body"])
            assert row["id"] == body["id"] == row["headers"]["webhook-id"] and row["persistent"]
            assert row["key"] == f"{SID}.{body['type']}" == f"{SID}.{row['type']}"
            assert row["headers"]["X-WAEngine-Event"] == body["type"]
        for row in nats_seen():
            body = json.loads(row["body"])
            assert row["headers"]["Nats-Msg-Id"] == body["id"] == row["headers"]["webhook-id"]
            assert row["subject"] == f"waengine.{SID}.{body['type']}"
        for row in sqs_seen:
            assert row["group"] == SID
            assert row["headers"]["webhook-id"] == json.loads(row["body"])["id"]
        redis_row = brokers.redis.read(f"waengine.{SID}")[0]
        assert redis_row["webhook-timestamp"].isdigit() and redis_row["X-WAEngine-Event"]

        # NATS goes down: the webhook and the other sinks still get every new event.
        brokers.nats.stop()
        for i in range(3):
            sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": f"late {i}"})
        wait_for(lambda: len(outbox()) >= len(expected) + 3, message="3 more events")
        expected = wait_for(lambda: caught_up(("webhook", "redis", "amqp", "sqs")), timeout=30,
                            message="the webhook and the other sinks, with NATS down")["expected"]
        nats_key = key(brokers.nats.url)
        health = client.get("/health")
        assert health.status_code == 200
        down = {s["url"]: s for s in health.json["sinks"]}
        assert down[nats_key]["up"] is False and down[nats_key]["failingSince"]
        assert down[key(brokers.redis.url)]["up"] is True
        metrics = client.get("/metrics").get_data(as_text=True)
        assert f'waengine_sink_up{{sink="{nats_key}"}} 0.0' in metrics
        pending = client.get(f"/sessions/{SID}/webhook/deliveries?status=pending").json["data"]
        assert pending and {d["url"] for d in pending} == {nats_key}
        assert all(d["target"] == "sink" for d in pending)
        assert pending[-1]["lastError"]  # the head of its queue (newest first): the rest wait

        brokers.nats.start()  # the same port and store: the backlog goes out, in order
        wait_for(caught_up, timeout=30, message="NATS catches up, in order")
        wait_for(lambda: client.get("/health").json["sinks"] and all(
            s["up"] for s in client.get("/health").json["sinks"]), message="every sink up")
    finally:
        receiver.close()


# ---- each broker directly: restarts, and a sender that was not running ----

def direct_url(brokers, name: str) -> str:
    if name == "amqp":
        brokers.amqp.bind("direct", exchange="direct")
        return brokers.amqp.url + "?exchange=direct"
    if name == "nats":
        return brokers.nats.url + "?prefix=direct&stream=DIRECT"
    if name == "redis":
        return brokers.redis.url + "?stream=direct.{session}&maxlen=1000"
    return brokers.sqs.queue("direct.fifo")


def consumed_by_session(brokers, name: str, seen: list) -> dict[str, list[str]]:
    if name == "amqp":
        seen.extend((r["key"].split(".")[0], r["id"]) for r in brokers.amqp.read("direct"))
    elif name == "sqs":
        seen.extend((r["group"], json.loads(r["body"])["id"]) for r in brokers.sqs.read(
            "direct.fifo"))
    out: dict[str, list[str]] = {"a": [], "b": []}
    if name == "redis":
        for session in out:
            out[session] = [r["webhook-id"] for r in brokers.redis.read(f"direct.{session}")]
        return out
    if name == "nats":
        seen = [(m["subject"].split(".")[1], m["headers"]["Nats-Msg-Id"])
                for m in brokers.nats.read("DIRECT")]
    for session, event_id in seen:
        out[session].append(event_id)
    return out


@pytest.mark.parametrize("name", ["amqp", "nats", "redis", "sqs"])
def test_a_broker_restart_mid_stream_loses_nothing_and_repeats_only_event_ids(
        brokers, tmp_path, name):
    broker = getattr(brokers, name)
    url = direct_url(brokers, name)
    config = load_config({"ENV": "testing", "DATA_DIR": str(tmp_path), "SINK_TIMEOUT": 2.0,
                          "WEBHOOK_RETRY_BASE": 0.1, "WEBHOOK_RETRY_MAX_DELAY": 0.5})
    store = Store(tmp_path / "events.db", 5.0)
    committed: dict[str, list[str]] = {"a": [], "b": []}

    def commit(outbox, count):
        for i in range(count):
            session = "ab"[i % 2]
            event = outbox.add(session, TYPES[i % 3 == 0], {"n": i}, None, [{"url": key(url)}])
            committed[session].append(event["id"])

    def sender_on(outbox):
        sender = SinkSender(outbox, config)
        sender.url_for = lambda session, sink: url if sink == key(url) else None
        sender.start()
        return sender

    def delivered(outbox):
        return sum(1 for s in "ab" for d in outbox.deliveries(s, "delivered", 1000))

    seen: list = []
    outbox = EventOutbox(store)
    sender = sender_on(outbox)
    try:
        commit(outbox, 40)
        wait_for(lambda: delivered(outbox) >= 10, message="the first events published")
        broker.stop()
        commit(outbox, 40)
        wait_for(lambda: any(h.failing_since for h in sender.health.values()),
                 message="the sink noticed its broker is down")
        broker.start()
        wait_for(lambda: delivered(outbox) == 80, timeout=60, message="all 80 published")
    finally:
        sender.stop()
    # Committed while no sender ran (a gateway that died before publishing them): the next
    # gateway's sender publishes them from the outbox.
    outbox = EventOutbox(store)
    commit(outbox, 20)
    sender = sender_on(outbox)
    try:
        wait_for(lambda: delivered(outbox) == 100, timeout=30, message="all 100 published")
    finally:
        sender.stop()
        store.close()
    got = wait_for(lambda: (c := consumed_by_session(brokers, name, seen)) and all(
        first_seen(c[s]) == committed[s] for s in "ab") and c, timeout=20,
        message=f"{name}: every committed event, in order per session")
    for session in "ab":
        if name in ("nats", "sqs"):  # the broker drops a republished event id
            assert got[session] == committed[session]
        else:  # a publish cut by the restart may come twice, with its id: nothing else
            assert set(got[session]) == set(committed[session])


# ---- the gateway SIGKILLed mid-stream ----

def test_a_gateway_sigkilled_mid_stream_publishes_every_outbox_event_after_its_restart(
        brokers, sandbox, servers, tmp_path):
    """Events committed but not yet published when the whole gunicorn group dies (Redis is
    down then, so some surely are), and events arriving around the kill, all reach the
    broker once the gateway is started again on the same data folder: every event of the
    outbox at least once, and a consumer that drops repeated event ids has each exactly once.
    """
    sid, stream = "kill9", "waengine.kill9"
    env = {"WAENGINE_SINKS": json.dumps([{"url": brokers.redis.url, "events": ["message"]}]),
           "WAENGINE_SINK_TIMEOUT": "2", "WAENGINE_WEBHOOK_RETRY_BASE": "0.2",
           "WAENGINE_WEBHOOK_RETRY_MAX_DELAY": "1"}

    def gateway() -> Gunicorn:
        server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                          extra_env=env, start_new_session=True)  # its own group: killed whole
        servers.append(server)
        server.wait_healthy()
        return server

    def outbox(server) -> list[str]:
        return [e["id"] for e in server.get(f"/sessions/{sid}/events/recent?limit=500").json()[
            "data"] if e["type"] == "message"]

    def published() -> list[dict]:
        return brokers.redis.read(stream)

    def send(first: int, last: int) -> None:
        for i in range(first, last):
            sandbox.post("/_sandbox/messages", **{"from": CITRA, "to": KILLED, "text": f"k{i}"})

    sandbox.phone(CITRA, "Citra")
    first = gateway()
    assert first.post("/sessions", json={"id": sid}).status_code == 201
    first.wait_status(sid, "SCAN_QR")
    sandbox.scan(lambda: first.get(f"/sessions/{sid}/qr").json().get("qr"), KILLED)
    first.wait_status(sid, "CONNECTED")

    send(0, 10)
    wait_for(lambda: len(published()) >= 10, timeout=60, message="the first 10 published")
    brokers.redis.stop()  # from here events are committed to the outbox and wait there
    send(10, 20)
    wait_for(lambda: len(outbox(first)) >= 20, timeout=60, message="20 events committed")
    waiting = wait_for(lambda: [d["eventId"] for d in first.get(
        f"/sessions/{sid}/webhook/deliveries?status=pending&limit=100").json()["data"]],
        message="events waiting for the broker")
    # More messages flow while the gateway dies: the group is SIGKILLed between two of them.
    flow = threading.Thread(target=send, args=(20, 30), name="test-friend", daemon=True)
    flow.start()
    wait_for(lambda: len(outbox(first)) >= 22, timeout=30, message="the flow reaching the outbox")
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    flow.join(60)
    assert not flow.is_alive()

    brokers.redis.start()
    second = gateway()  # the same data folder: its session, its outbox, its deliveries
    second.wait_status(sid, "CONNECTED")

    def caught_up():
        committed, got = outbox(second), published()
        return set(committed) == {row["webhook-id"] for row in got} and (committed, got)

    committed, got = wait_for(caught_up, timeout=90,
                              message="every outbox event published after the restart")
    distinct = {row["webhook-id"] for row in got}
    assert len(distinct) == len(committed) == len(set(committed)) >= 22
    assert set(waiting) <= distinct  # what was waiting at the kill went out after it
    for row in got:  # the id a consumer deduplicates by is the event's own
        assert json.loads(row["body"])["id"] == row["webhook-id"]
    texts = {json.loads(row["body"])["data"]["body"] for row in got}
    assert {f"k{i}" for i in range(22)} <= texts
