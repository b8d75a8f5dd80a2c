"""Sinks against the webhook path, in one run: events per second from the outbox into each
sink (RabbitMQ, NATS JetStream, Redis Streams, SQS on moto) and into a webhook receiver, and
the commit-to-consumer latency (p50, p99) of a steady stream.

Throughput: EVENTS events of SESSIONS sessions are committed first, then the sender starts;
events/s = EVENTS / the time until the last one is acknowledged (by the broker, or a webhook's
2xx). Latency: the sender runs while events are committed at RATE/s; each is timed from its
commit to its arrival at a consumer (a Redis XREAD, a NATS subscriber, an AMQP consumer, an
SQS long poll, the webhook's HTTP server). The brokers are the tests' (tests/integration/
brokers.py), started on free loopback ports and stopped at the end. `python bench/sinks.py`.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import pct  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.brokers import Nats, RabbitMQ, Redis, Sqs  # noqa: E402
from waengine.config import load_config  # noqa: E402
from waengine.events import EventOutbox, SinkSender, WebhookSender  # noqa: E402
from waengine.events.sinks import key  # noqa: E402
from waengine.store import Store  # noqa: E402

# RATE is below what the slowest target (SQS on moto) drains, so latency is not queueing.
EVENTS, SESSIONS, RATE, STREAMED = 1000, 4, 25, 250


def event_id(body: bytes | str) -> str:
    return json.loads(body)["id"]


class Arrivals:
    """When each event id reached its consumer (perf_counter)."""

    def __init__(self):
        self.at: dict[str, float] = {}
        self.stop = threading.Event()

    def note(self, body) -> None:
        self.at.setdefault(event_id(body), time.perf_counter())

    def thread(self, target, name):
        threading.Thread(target=target, name=f"bench-{name}", daemon=True).start()


def webhook_consumer(arrivals: Arrivals):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            arrivals.note(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    arrivals.thread(server.serve_forever, "webhook")
    return f"http://127.0.0.1:{server.server_port}/hook", lambda: (server.shutdown(),
                                                                    server.server_close())


def redis_consumer(broker: Redis, arrivals: Arrivals, prefix: str):
    import redis

    client = redis.Redis(port=broker.port)
    streams = {f"{prefix}.s{i}": "0-0" for i in range(SESSIONS)}  # new streams: from the start

    def run():
        while not arrivals.stop.is_set():
            for stream, entries in client.xread(streams, block=200) or ():
                for entry_id, fields in entries:
                    streams[stream.decode()] = entry_id
                    arrivals.note(fields[b"body"])

    arrivals.thread(run, "redis")
    return broker.url + f"?stream={prefix}.{{session}}", client.close


def nats_consumer(broker: Nats, arrivals: Arrivals, prefix: str):
    import nats

    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def run():
        nc = await nats.connect(broker.url)

        async def got(msg):
            arrivals.note(msg.data)

        await nc.subscribe(f"{prefix}.>", cb=got)  # a plain subscriber sees what is stored
        await nc.flush()
        ready.set()
        while not arrivals.stop.is_set():
            await asyncio.sleep(0.1)
        await nc.close()

    arrivals.thread(lambda: loop.run_until_complete(run()), "nats")
    ready.wait(10)
    return broker.url + f"?prefix={prefix}&stream={prefix.upper()}", lambda: None


def amqp_consumer(broker: RabbitMQ, arrivals: Arrivals, prefix: str):
    import pika

    broker.bind(prefix, exchange=prefix)

    def run():
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        for method, _props, body in ch.consume(prefix, inactivity_timeout=0.2):
            if arrivals.stop.is_set():
                break
            if method is not None:
                arrivals.note(body)
                ch.basic_ack(method.delivery_tag)
        ch.cancel()
        conn.close()

    arrivals.thread(run, "amqp")
    return broker.url + f"?exchange={prefix}", lambda: None


def sqs_consumer(broker: Sqs, arrivals: Arrivals, prefix: str):
    url = broker.queue(f"{prefix}.fifo")
    sqs = broker.client()
    queue_url = sqs.get_queue_url(QueueName=f"{prefix}.fifo")["QueueUrl"]

    def run():
        while not arrivals.stop.is_set():
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                arrivals.note(m["Body"])
            if got:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)])

    arrivals.thread(run, "sqs")
    return url, lambda: None


def measure(name: str, consumer, broker, tmp: Path, round_: int) -> dict:
    arrivals = Arrivals()
    prefix = f"bench{name}{round_}"
    url, close = consumer(arrivals) if broker is None else consumer(broker, arrivals, prefix)
    config = load_config({"ENV": "testing", "DATA_DIR": str(tmp), "WEBHOOK_RETRY_BASE": 0.2,
                          "WEBHOOK_RETRY_MAX_DELAY": 1.0})
    target = [{"url": url if name == "webhook" else key(url)}]
    results = {}
    try:
        # Throughput: a backlog of EVENTS, drained by a sender that starts after the commits.
        store = Store(tmp / f"{name}-drain.db")
        outbox = EventOutbox(store)
        for i in range(EVENTS):
            outbox.add(f"s{i % SESSIONS}", "message", {"n": i}, None, target)
        sender = make_sender(name, outbox, config, url)
        started = time.perf_counter()
        sender.start()
        wait_for(lambda: sender.delivered >= EVENTS, timeout=600, interval=0.01,
                 message=f"{name}: {EVENTS} delivered")
        results["eps"] = EVENTS / (time.perf_counter() - started)
        sender.stop()
        store.close()
        wait_for(lambda: len(arrivals.at) >= EVENTS, timeout=120, message=f"{name} consumed")
        # Latency: a steady stream, the sender running.
        arrivals.at.clear()
        store = Store(tmp / f"{name}-stream.db")
        outbox = EventOutbox(store)
        sender = make_sender(name, outbox, config, url)
        sender.start()
        committed = {}
        for i in range(STREAMED):
            event = outbox.add(f"s{i % SESSIONS}", "message", {"n": i}, None, target)
            committed[event["id"]] = time.perf_counter()
            time.sleep(1 / RATE)
        wait_for(lambda: len(arrivals.at) >= STREAMED, timeout=120, message=f"{name} streamed")
        sender.stop()
        store.close()
        lat = sorted((arrivals.at[i] - t) * 1000 for i, t in committed.items())
        results["p50"], results["p99"] = pct(lat, 0.5), pct(lat, 0.99)
    finally:
        arrivals.stop.set()
        close()
    return results


def make_sender(name, outbox, config, url):
    if name == "webhook":
        return WebhookSender(outbox, config)
    sender = SinkSender(outbox, config)
    sender.url_for = lambda session, sink: url
    return sender


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("rabbitmq", "nats", "redis"):
            (root / sub).mkdir()
        rabbit, nats_, redis_, sqs = (RabbitMQ(root / "rabbitmq"), Nats(root / "nats"),
                                      Redis(root / "redis"), Sqs())
        servers = [rabbit, nats_, redis_]
        try:
            for server in servers:
                server.launch()
            sqs.start()
            for server in servers:
                server.wait_ready()
            targets = [("webhook", webhook_consumer, None), ("redis", redis_consumer, redis_),
                       ("nats", nats_consumer, nats_), ("amqp", amqp_consumer, rabbit),
                       ("sqs", sqs_consumer, sqs)]
            rows = {}
            for name, consumer, broker in targets:
                rows[name] = measure(name, consumer, broker, root, 0)
                print(name, rows[name], file=sys.stderr, flush=True)
        finally:
            for server in servers:
                server.close()
            sqs.stop()
    base = rows["webhook"]["eps"]
    print(f"{EVENTS} events of {SESSIONS} sessions drained from the outbox; latency of "
          f"{STREAMED} events committed at {RATE}/s")
    print("| target | events/s (drain) | vs webhook | p50 commit→consumer | p99 |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['eps']:.0f} | {r['eps'] / base:.2f}x | {r['p50']:.1f} ms | "
              f"{r['p99']:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
