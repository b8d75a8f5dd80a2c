"""/health latency through deploy/nginx.conf while nginx holds 200 slow clients and every event
stream is open; baseline: gunicorn alone, nothing else connected, measured in the same run.

tests/integration/test_nginx.py checks that every request is answered meanwhile; this measures
how fast. `python bench/nginx.py` (needs nginx: make install).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import pct  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.servers import (  # noqa: E402
    SLOW_BODIES,
    SLOW_HEADERS,
    Gunicorn,
    Nginx,
    SlowClients,
    open_stream,
)
from waengine import sandbox  # noqa: E402

MAX_STREAMS = 8
REQUESTS = 300


def latencies(url: str, count: int = REQUESTS) -> list[float]:
    """Seconds per GET /health, one connection each, as a client without keep-alive sees it."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        times.append(time.perf_counter() - start)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return times


def main() -> int:
    box = sandbox.make_server("127.0.0.1", 0)
    threading.Thread(target=box.serve_forever, name="sandbox", daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        folder = Path(tmp)
        gw = Gunicorn(folder / "data", f"http://127.0.0.1:{box.server_port}/", folder / "gw.log",
                      {"WAENGINE_THREADS": "16", "WAENGINE_SSE_MAX_STREAMS": str(MAX_STREAMS)})
        nginx = streams = slow = None
        try:
            gw.wait_healthy()
            baseline = latencies(gw.url)
            nginx = Nginx(folder / "nginx", gw.port)
            gw.post("/sessions", json={"id": "s1"})
            streams = [open_stream(nginx.url, "/sessions/s1/events") for _ in range(MAX_STREAMS)]
            slow = SlowClients(nginx.port)
            wait_for(lambda: slow.refused()["body"], timeout=30, message="nginx holding slow clients")
            loaded = latencies(nginx.url)
        finally:
            if slow:
                slow.close()
            for sock, _ in streams or ():
                sock.close()
            if nginx:
                nginx.stop()
            gw.stop()
            box.shutdown()
    print(f"| /health, {REQUESTS} requests | gunicorn alone (baseline) | via nginx, "
          f"{SLOW_HEADERS + SLOW_BODIES} slow clients + {MAX_STREAMS} streams | ratio |")
    print("|---|---|---|---|")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        base, load = pct(baseline, q) * 1000, pct(loaded, q) * 1000
        print(f"| {name} | {base:.1f} ms | {load:.1f} ms | {load / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
