"""The real server: gunicorn with gunicorn.conf.py, its hooks, and a restart that keeps sessions."""

from __future__ import annotations

from pathlib import Path

import requests

from ..conftest import phones, wait_for
from .conftest import browser_processes
from .servers import Gunicorn

number = phones(__name__)

ROOT = Path(__file__).resolve().parents[2]
ALICE, BUDI = number(1), number(2)


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
    sandbox.scan(lambda: first.get("/sessions/gsales/qr").json().get("qr"), ALICE)
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
