"""deploy/nginx.conf with Debian's real nginx in front of a real gunicorn: slow clients are
nginx's problem, so /health answers every request with 200 of them and every event stream open;
the event stream is not buffered; nginx's own refusals use the gateway's error envelope.
How fast it answers meanwhile is measured by bench/nginx.py."""

from __future__ import annotations

import json
import re
import socket
import subprocess

import requests

from ..conftest import closed_port, wait_for
from .servers import (
    NGINX,
    PER_CLIENT,
    SLOW_BODIES,
    Gunicorn,
    Nginx,
    SlowClients,
    open_stream,
    render,
)

MAX_STREAMS = 8


def read_to_end(sock: socket.socket, got: bytes) -> bytes:
    """The rest of a response whose head is in `got` (its body by Content-Length)."""
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_the_shipped_config_passes_nginx_t(tmp_path):
    folder = tmp_path / "nginx"
    folder.mkdir()
    with closed_port() as port:
        (folder / "nginx.conf").write_text(render(port, 8080, folder))
    out = subprocess.run([NGINX, "-t", "-p", str(folder), "-e", str(folder / "error.log"),
                          "-c", str(folder / "nginx.conf")], capture_output=True, text=True)
    assert out.returncode == 0 and "syntax is ok" in out.stderr, out.stderr


def test_the_access_log_masks_stream_tokens_in_any_spelling(tmp_path):
    # A token read from nginx's log could open a stream: the log shows the path, not the query.
    with closed_port() as upstream:  # no upstream: a 502 is still logged
        nginx = Nginx(tmp_path / "nginx", upstream)
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


def health_answers(url: str, count: int = 300) -> list[bytes]:
    """GET /health `count` times, one connection each: the status line of every answer (a
    refused or reset connection fails the test where it happens)."""
    lines = []
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        lines.append(reply.split(b"\r\n", 1)[0])
    return lines


def answers(url: str) -> bool:
    """Whether url answers 200 yet (a loaded box may take seconds while the engine starts)."""
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_health_answers_every_call_with_200_slow_clients_and_every_stream_open(servers, sandbox, tmp_path):
    gw = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log",
                  {"WAENGINE_THREADS": "16", "WAENGINE_SSE_MAX_STREAMS": str(MAX_STREAMS)})
    servers.append(gw)
    wait_for(lambda: answers(gw.url + "/health"), timeout=60, message="gunicorn /health")
    nginx = Nginx(tmp_path / "nginx", gw.port)
    servers.append(nginx)
    resp = requests.post(nginx.url + "/sessions", json={"id": "s1"},
                         headers={"X-API-Key": "k1"}, timeout=30)
    assert resp.status_code in (200, 201, 202), resp.text
    streams = [open_stream(nginx.url, "/sessions/s1/events") for _ in range(MAX_STREAMS)]
    slow = None
    try:
        for _, first in streams:
            # Unbuffered: the stream's first bytes arrive at once, not when a buffer fills.
            assert first.startswith(b"HTTP/1.1 200") and b"retry: 2000" in first, first[:300]
        sock, extra = open_stream(nginx.url, "/sessions/s1/events")
        assert extra.startswith(b"HTTP/1.1 429"), extra[:300]  # the gateway's cap, through nginx
        # Read the refusal to its end and hang up: nginx has finished that request, so its
        # connection no longer counts against the per-client limit the slow bodies meet.
        read_to_end(sock, extra)
        sock.close()
        slow = SlowClients(nginx.port)
        # One per-client zone: the open streams count against the API's 64 as well.
        over = SLOW_BODIES + MAX_STREAMS - PER_CLIENT
        wait_for(lambda: len(slow.refused()["body"]) >= over, timeout=30,
                 message="nginx refusing slow bodies over the per-client limit")
        statuses = health_answers(nginx.url)
        refused = slow.refused()
        assert statuses == [b"HTTP/1.1 200 OK"] * len(statuses), set(statuses)
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
