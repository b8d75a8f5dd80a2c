"""deploy/nginx.conf with Debian's real nginx in front of a real gunicorn: slow clients are
nginx's problem, so /health stays fast with 200 of them and every event stream open; the event
stream is not buffered; nginx's own refusals use the gateway's error envelope."""

from __future__ import annotations

import json
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from ..conftest import wait_for
from .test_gunicorn import Gunicorn, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_HEADERS = SLOW_BODIES = 100
MAX_STREAMS = 8
PER_CLIENT = 64  # deploy/nginx.conf: limit_conn per_client 64 on the API

pytestmark = pytest.mark.skipif(not Path(NGINX).is_file(), reason="nginx not installed (make install)")


def render(listen: int, upstream: int, folder: Path) -> str:
    """deploy/nginx.conf with this test's ports and files; every other line as shipped."""
    text = (ROOT / "deploy/nginx.conf").read_text()
    assert f"limit_conn per_client {PER_CLIENT};" in text
    temp = " ".join(f"{kind}_temp_path {folder / kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    for old, new in [("user www-data;\n", ""),
                     ("pid /run/nginx.pid;", f"pid {folder / 'nginx.pid'};"),
                     ("error_log /var/log/nginx/error.log warn;", f"error_log {folder / 'error.log'} warn;"),
                     ("access_log /var/log/nginx/access.log masked;",
                      f"access_log {folder / 'access.log'} masked; {temp}"),
                     ("listen 80;", f"listen 127.0.0.1:{listen};"),
                     ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")]:
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    def __init__(self, folder: Path, upstream: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = folder / "nginx.conf"
        self.conf.write_text(render(self.port, upstream, folder))
        self.cmd = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(self.conf)]
        self.proc = subprocess.Popen(self.cmd + ["-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_for(self._up, timeout=30, message="nginx listening")

    def _up(self):
        assert self.proc.poll() is None, self.proc.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()  # SIGTERM: fast shutdown, workers exit with the master
        self.proc.wait(30)


def test_the_shipped_config_passes_nginx_t(tmp_path):
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "nginx.conf").write_text(render(free_port(), 8080, folder))
    out = subprocess.run([NGINX, "-t", "-p", str(folder), "-e", str(folder / "error.log"),
                          "-c", str(folder / "nginx.conf")], capture_output=True, text=True)
    assert out.returncode == 0 and "syntax is ok" in out.stderr, out.stderr


def test_the_access_log_masks_stream_tokens_in_any_spelling(tmp_path):
    # A token read from nginx's log could open a stream: the log shows the path, not the query.
    nginx = Nginx(tmp_path / "nginx", free_port())  # no upstream: a 502 is still logged
    try:
        for query in ("token=1.99.nonce.SECRETMAC1", "%74oken=1.99.nonce.SECRETMAC2",
                      "lastEventId=evt_1&ToKeN=1.99.nonce.SECRETMAC3", "tail=5"):
            requests.get(f"{nginx.url}/events?{query}", timeout=10)
        log = wait_for(lambda: (text := (tmp_path / "nginx" / "access.log").read_text())
                       .count("GET /events") == 4 and text, message="four access log lines")
    finally:
        nginx.stop()
    assert "SECRETMAC" not in log and log.count("GET /events?*** HTTP/1.1") == 3, log
    assert "GET /events?tail=5 HTTP/1.1" in log


def open_stream(url: str, path: str) -> tuple[socket.socket, bytes]:
    """A raw SSE client: returns the socket and what arrived first (headers and the first event)."""
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: gw\r\nX-API-Key: k1\r\nAccept: text/event-stream\r\n\r\n"
                 .encode())
    got = b""
    while b"\r\n\r\n" not in got or (b" 200 " in got.split(b"\r\n")[0] and b"retry:" not in got):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return sock, got


class SlowClients:
    """SLOW_HEADERS clients sending their headers a byte at a time, SLOW_BODIES sending a
    100 kB message body a few bytes at a time; one named thread trickles for all of them."""

    def __init__(self, port: int):
        self.socks: list[tuple[socket.socket, str]] = []
        for _ in range(SLOW_HEADERS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /sessions HTTP/1.1\r\nHost: gw\r\n")
            self.socks.append((sock, "header"))
        for _ in range(SLOW_BODIES):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /sessions/s1/messages HTTP/1.1\r\nHost: gw\r\nX-API-Key: k1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"to\":")
            self.socks.append((sock, "body"))
        self.answers: dict[int, bytes] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._trickle, name="test-slow-clients", daemon=True)
        self.thread.start()

    def _trickle(self):
        while not self.stopping.wait(0.5):
            for sock, kind in self.socks:
                try:
                    sock.send(b"X" if kind == "header" else b" ")
                except OSError:
                    pass  # refused or timed out by nginx: counted by refused()

    def refused(self) -> dict[str, list[bytes]]:
        """What nginx answered so far, per kind (a client under the limits gets nothing yet)."""
        for i, (sock, _) in enumerate(self.socks):
            sock.setblocking(False)
            try:
                self.answers[i] = self.answers.get(i, b"") + sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        answers: dict[str, list[bytes]] = {"header": [], "body": []}
        for i, data in self.answers.items():
            answers[self.socks[i][1]].append(data)
        return answers

    def close(self):
        self.stopping.set()
        self.thread.join()
        for sock, _ in self.socks:
            sock.close()


def health_latencies(url: str, count: int = 300) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        times.append(time.perf_counter() - start)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return times


def answers(url: str) -> bool:
    """Whether url answers 200 yet (a loaded box may take seconds while the engine starts)."""
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_health_stays_fast_with_200_slow_clients_and_every_stream_open(servers, sandbox, tmp_path):
    gw = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                  {"WAENGINE_THREADS": "16", "WAENGINE_SSE_MAX_STREAMS": str(MAX_STREAMS)})
    servers.append(gw)
    wait_for(lambda: answers(gw.url + "/health"), timeout=60, message="gunicorn /health")
    nginx = Nginx(tmp_path / "nginx", gw.port)
    servers.append(nginx)
    baseline = health_latencies(gw.url)  # gunicorn alone, nothing else connected, same run
    resp = requests.post(nginx.url + "/sessions", json={"id": "s1"},
                         headers={"X-API-Key": "k1"}, timeout=30)
    assert resp.status_code in (200, 201, 202), resp.text
    streams = [open_stream(nginx.url, "/sessions/s1/events") for _ in range(MAX_STREAMS)]
    slow = None
    try:
        for _, first in streams:
            # Unbuffered: the stream's first bytes arrive at once, not when a buffer fills.
            assert first.startswith(b"HTTP/1.1 200") and b"retry: 2000" in first, first[:300]
        _, extra = open_stream(nginx.url, "/sessions/s1/events")
        assert extra.startswith(b"HTTP/1.1 429"), extra[:300]  # the gateway's cap, through nginx
        slow = SlowClients(nginx.port)
        # One per-client zone: the open streams count against the API's 64 as well.
        over = SLOW_BODIES + MAX_STREAMS - PER_CLIENT
        wait_for(lambda: len(slow.refused()["body"]) >= over, timeout=30,
                 message="nginx refusing slow bodies over the per-client limit")
        times = health_latencies(nginx.url)
        refused = slow.refused()
        print(f"\n/health via nginx with {SLOW_HEADERS + SLOW_BODIES} slow clients and "
              f"{MAX_STREAMS} streams: p50 {statistics.median(times) * 1000:.1f} ms, "
              f"p99 {p99(times) * 1000:.1f} ms; gunicorn alone (baseline): "
              f"p50 {statistics.median(baseline) * 1000:.1f} ms, p99 {p99(baseline) * 1000:.1f} ms")
        assert p99(times) < 0.100
        # Slow headers are all still held by nginx, none answered; slow bodies over the
        # per-client limit got the envelope, the others are held by nginx, not by gunicorn.
        assert refused["header"] == []
        for answer in refused["body"]:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429")
            assert json.loads(body)["error"]["code"] == "too_many_connections"
        assert len(refused["body"]) == over
        assert requests.get(gw.url + "/health", timeout=5).status_code == 200
        access = (tmp_path / "gunicorn.log").read_text()
        assert not re.search(r'"POST /sessions/s1/messages', access), "a slow body reached gunicorn"
    finally:
        if slow:
            slow.close()
        for sock, _ in streams:
            sock.close()
