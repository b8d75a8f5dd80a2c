"""Webhook delivery latency of a healthy receiver, alone and beside a trickling one.

One receiver that answers a byte every 2 s must not hold any other session's webhooks.
Baseline: the healthy receiver alone, measured in the same run. Latency is
from the event's commit to its arrival at the receiver. `python bench/webhooks.py`.
"""

from __future__ import annotations

import http.server
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import pct as p  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from waengine.config import load_config  # noqa: E402
from waengine.events import EventOutbox, WebhookSender  # noqa: E402
from waengine.store import Store  # noqa: E402

EVENTS = 200


def trickler(stop: threading.Event) -> str:
    """A receiver that reads a request and answers one byte every 2 s."""
    server = socket.create_server(("127.0.0.1", 0))

    def trickle(conn):
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if stop.wait(2.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def serve():
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()
        server.close()

    threading.Thread(target=serve, name="bench-trickler", daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/slow"


class Receiver:
    """A healthy receiver: answers 200 at once and notes when each event arrived."""

    def __init__(self):
        self.arrived: dict[int, float] = {}
        arrived = self.arrived

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived[json.loads(body)["data"]["n"]] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, name="bench-receiver",
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run(slow: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "b.db")
        outbox = EventOutbox(store)
        config = load_config({"ENV": "testing", "DATA_DIR": tmp, "WEBHOOK_RETRY_BASE": 60.0})
        receiver, stop = Receiver(), threading.Event()
        sender = WebhookSender(outbox, config)
        sender.start()
        sent: dict[int, float] = {}
        try:
            if slow:  # ten sessions whose receiver trickles, each with an event in flight
                url = trickler(stop)
                for i in range(10):
                    outbox.add(f"slow{i}", "message", {"n": -1}, None, [{"url": url}])
            for i in range(EVENTS):
                sent[i] = time.perf_counter()
                outbox.add(f"fast{i % 10}", "message", {"n": i}, None, [{"url": receiver.url}])
                time.sleep(0.005)  # a steady stream, not one burst
            wait_for(lambda: len(receiver.arrived) >= EVENTS, timeout=120, message="deliveries")
        finally:
            stop.set()
            sender.stop()
            receiver.close()
            store.close()
        return sorted((receiver.arrived[i] - sent[i]) * 1000 for i in range(EVENTS))


def main() -> int:
    base, slow = run(False), run(True)

    print("| healthy receiver latency | alone (baseline) | beside 10 trickling receivers | ratio |")
    print("|---|---|---|---|")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        print(f"| {name} | {p(base, q):.1f} ms | {p(slow, q):.1f} ms | "
              f"{p(slow, q) / p(base, q):.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
