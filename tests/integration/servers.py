"""Real servers the integration tests (and bench/nginx.py) start: gunicorn with the project's
gunicorn.conf.py, and Debian's nginx with deploy/nginx.conf; a client loop reading through
nginx; raw clients that hold nginx's connections open (event streams, slow clients)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import requests

from ..conftest import PortTaken, listening_socket, on_free_port, port_of, wait_for

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_HEADERS = SLOW_BODIES = 100
PER_CLIENT = 64  # deploy/nginx.conf: limit_conn per_client 64 on the API


class Client:
    """A client of the gateway at `self.url` (a node, or nginx in front of nodes), with the
    API keys Gunicorn starts it with."""

    url: str

    def get(self, path, **kw):
        return requests.get(self.url + path, headers={"X-API-Key": "k1"}, timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, headers={"Authorization": "Bearer k2"},
                             timeout=30, **kw)

    def wait_status(self, sid, *statuses, timeout=60):
        return wait_for(lambda: (s := self.get(f"/sessions/{sid}").json()).get("status")
                        in statuses and s, timeout=timeout, message=f"{sid} in {statuses}")


class Gunicorn(Client):
    def __init__(self, data_dir: Path, wa_url: str, log: Path, extra_env: dict | None = None,
                 start_new_session: bool = False, node: str | None = None):
        # gunicorn takes the listening socket itself (fd://): no other process can take the port
        # between choosing it and gunicorn binding it.
        sock = listening_socket()
        self.port = port_of(sock)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WAENGINE_ENV": "testing", "WAENGINE_DATA_DIR": str(data_dir),
               "WAENGINE_WA_URL": wa_url, "WAENGINE_API_KEYS": "k1,k2", **(extra_env or {})}
        if node:  # a cluster node: its id, and the URL the other nodes forward to
            env.update(WAENGINE_NODE_ID=node, WAENGINE_NODE_URL=self.url)
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "-b", f"fd://{sock.fileno()}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, pass_fds=[sock.fileno()],
            start_new_session=start_new_session)  # its own group: a test may SIGKILL it whole
        sock.close()  # gunicorn holds it now: once gunicorn is gone, the port refuses

    def wait_healthy(self):
        def healthy():
            assert self.proc.poll() is None, "gunicorn exited"
            try:
                return requests.get(self.url + "/health", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or busy starting
                return False
        wait_for(healthy, timeout=30, message="gunicorn /health")

    def stop(self):
        stop_process(self.proc, 90)
        self.log.close()


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM (a clean stop), then SIGKILL after `grace` seconds; a stopped one is left."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def render(listen: int, upstream: int | list[int], folder: Path) -> str:
    """deploy/nginx.conf with this test's ports and files; every other line as shipped. A list
    of upstream ports: deploy/nginx-cluster.conf, one server line per node."""
    cluster = isinstance(upstream, list)
    text = (ROOT / ("deploy/nginx-cluster.conf" if cluster else "deploy/nginx.conf")).read_text()
    assert f"limit_conn per_client {PER_CLIENT};" in text
    temp = " ".join(f"{kind}_temp_path {folder / kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if cluster:
        line = "server 127.0.0.1:{} max_fails=1 fail_timeout=5s;"
        shipped = "\n        ".join(line.format(port) for port in (8081, 8082, 8083))
        upstreams = (shipped, "\n        ".join(line.format(port) for port in upstream))
    else:
        upstreams = ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
    for old, new in [("user www-data;\n", ""),
                     ("pid /run/nginx.pid;", f"pid {folder / 'nginx.pid'};"),
                     ("error_log /var/log/nginx/error.log warn;", f"error_log {folder / 'error.log'} warn;"),
                     ("access_log /var/log/nginx/access.log masked;",
                      f"access_log {folder / 'access.log'} masked; {temp}"),
                     ("listen 80;", f"listen 127.0.0.1:{listen};"),
                     upstreams]:
        assert text.count(old) == 1, f"deploy/nginx.conf lacks {old!r}"
        text = text.replace(old, new)
    return text


class Nginx(Client):
    """nginx with deploy/nginx.conf on a free loopback port, proxying to `upstream` (a list of
    ports: deploy/nginx-cluster.conf over those nodes)."""

    def __init__(self, folder: Path, upstream: int | list[int]):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.upstream = folder, upstream
        self.conf = folder / "nginx.conf"
        self.proc = on_free_port(self._start)  # nginx takes a port number, not a socket
        self.url = f"http://127.0.0.1:{self.port}"

    def _start(self, port: int) -> subprocess.Popen:
        self.port = port
        self.conf.write_text(render(port, self.upstream, self.folder))
        cmd = [NGINX, "-p", str(self.folder), "-e", str(self.folder / "error.log"),
               "-c", str(self.conf), "-g", "daemon off;"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)

        def up():
            if proc.poll() is not None:
                err = proc.stderr.read().decode()
                if "Address already in use" in err:
                    raise PortTaken(port)
                raise AssertionError(f"nginx exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(up, timeout=30, message="nginx listening")
        return proc

    def stop(self):
        self.proc.terminate()  # SIGTERM: fast shutdown, workers exit with the master
        self.proc.wait(30)
        self.proc.stderr.close()


class Answer(NamedTuple):
    path: str
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    code: str | None  # the error envelope's code, or the exception's name
    retry_after: str | None
    body: object  # the JSON of a 2xx answer
    sent: float = 0.0  # time.monotonic() when the request went out
    done: float = 0.0  # and when its answer (or error) came back


class ClientLoop:
    """A client reading `paths` through `url` (nginx in front of the nodes) in turn, at a
    client's pace, from start() to stop(), keeping every answer."""

    def __init__(self, url: str, paths: list[str], pace: float = 0.05):
        self.url, self.paths, self.pace = url, paths, pace
        self.answers: list[Answer] = []
        self.rounds = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-client-loop", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(120)

    def _run(self) -> None:
        client = requests.Session()
        while not self._stop.is_set():
            for path in self.paths:
                self.answers.append(self._get(client, path))
            self.rounds += 1
            self._stop.wait(self.pace)  # a client's pace, not a wait for a condition

    def _get(self, client: requests.Session, path: str) -> Answer:
        sent = time.monotonic()
        try:
            resp = client.get(self.url + path, headers={"X-API-Key": "k1"}, timeout=120)
        except requests.RequestException as e:
            return Answer(path, None, type(e).__name__, None, None, sent, time.monotonic())
        try:
            body = resp.json()
        except ValueError:  # not the gateway's JSON (an nginx error page)
            body = None
        ok = 200 <= resp.status_code < 300
        code = None if ok or not isinstance(body, dict) else body.get("error", {}).get("code")
        return Answer(path, resp.status_code, code, resp.headers.get("Retry-After"),
                      body if ok else None, sent, time.monotonic())

    def failed(self, killed_at: float | None = None) -> list[Answer]:
        """The answers a client must not see: anything but a 2xx, or a 503 session_moving
        with Retry-After while a session is between owners (docs/cluster.md). With
        `killed_at` (a node SIGKILLed then), a request that node was answering at that instant
        may end without an answer: its response was cut, and no proxy can take it over."""
        return [a for a in self.answers if not (
            (a.status is not None and 200 <= a.status < 300)
            or (a.status == 503 and a.code == "session_moving" and a.retry_after)
            or (a.status is None and killed_at is not None and a.sent <= killed_at <= a.done))]


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
