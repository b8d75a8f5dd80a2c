"""The real server: gunicorn with gunicorn.conf.py, its hooks, and a restart that keeps sessions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from ..conftest import wait_for
from .conftest import browser_processes

ROOT = Path(__file__).resolve().parents[2]
ALICE, BUDI = "6281200000001", "6281200000002"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, data_dir: Path, wa_url: str, log: Path, extra_env: dict | None = None,
                 start_new_session: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WAENGINE_ENV": "testing", "WAENGINE_DATA_DIR": str(data_dir),
               "WAENGINE_WA_URL": wa_url, "WAENGINE_API_KEYS": "k1,k2", **(extra_env or {})}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=start_new_session)  # its own group: a test may SIGKILL it whole

    def get(self, path, **kw):
        return requests.get(self.url + path, headers={"X-API-Key": "k1"}, timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, headers={"Authorization": "Bearer k2"},
                             timeout=30, **kw)

    def wait_healthy(self):
        def healthy():
            assert self.proc.poll() is None, "gunicorn exited"
            try:
                return requests.get(self.url + "/health", timeout=2).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                # Timeout: the master accepted the connection while the worker still boots
                # (seconds on a loaded machine); ask again.
                return False
        wait_for(healthy, timeout=30, message="gunicorn /health")

    def wait_status(self, sid, *statuses, timeout=60):
        return wait_for(lambda: (s := self.get(f"/sessions/{sid}").json()).get("status")
                        in statuses and s, timeout=timeout, message=f"{sid} in {statuses}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()




def test_gunicorn_serves_and_a_restart_keeps_the_login(servers, sandbox, tmp_path):
    data = tmp_path / "data"
    sandbox.phone(BUDI, "Budi")
    first = Gunicorn(data, sandbox.url + "/", tmp_path / "gunicorn.log")
    servers.append(first)
    first.wait_healthy()
    assert requests.get(first.url + "/sessions", timeout=5).status_code == 401
    # post_worker_init froze the app as loaded out of the garbage collector's walks
    assert first.get("/performance").json()["gc"]["frozenObjects"] > 10000
    assert first.post("/sessions", json={"id": "gsales"}).status_code == 201
    first.wait_status("gsales", "SCAN_QR")
    qr = first.get("/sessions/gsales/qr").json()["qr"]
    sandbox.post("/_sandbox/link", qr=qr, phone=ALICE)
    first.wait_status("gsales", "CONNECTED")
    first.stop()
    assert first.proc.returncode == 0
    assert not browser_processes(tmp_path), "gunicorn's shutdown left browsers"

    second = Gunicorn(data, sandbox.url + "/", tmp_path / "gunicorn.log")
    servers.append(second)
    second.wait_healthy()
    back = second.wait_status("gsales", "CONNECTED", "SCAN_QR")
    assert back["status"] == "CONNECTED", back
    sent = second.post("/sessions/gsales/messages", json={"to": BUDI, "text": "after restart"})
    assert sent.status_code == 201, sent.text
    wait_for(lambda: any(m["text"] == "after restart" for m in sandbox.inbox(BUDI)))


def test_bad_configuration_stops_gunicorn_with_one_line(tmp_path, sandbox):
    server = Gunicorn(tmp_path / "data", "ftp://nowhere", tmp_path / "bad.log")
    assert server.proc.wait(30) != 0
    server.log.close()
    text = (tmp_path / "bad.log").read_text()
    assert "waengine: WA_URL must be an http(s) URL" in text
