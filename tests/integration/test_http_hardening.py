"""The real server's edges: header and body limits under gunicorn, keys kept out of its log,
and /docs rendering in Chromium with nothing fetched from another host."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from waengine.config import load_config
from waengine.engine.flags import chrome_options

from ..conftest import wait_for
from .conftest import browser_processes
from .servers import Gunicorn

ADMIN = "admin-key-0123456789abcdefghij"
SCOPED = "sales-key-0123456789abcdefghij"


@pytest.fixture(scope="module")
def server(tmp_path_factory, sandbox_url):
    folder = tmp_path_factory.mktemp("hardening")
    server = Gunicorn(folder / "data", sandbox_url + "/", folder / "gunicorn.log",
                      extra_env={"WAENGINE_API_KEYS": f"{ADMIN},{SCOPED}:sales"})
    server.folder = folder
    server.wait_healthy()
    yield server
    server.stop()
    leftovers = browser_processes(folder)
    for proc in leftovers:
        proc.kill()
    assert not leftovers


def raw_request(server, head: bytes, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send bytes as they are (no client library fixing them up); return status, headers, body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + b"\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, content = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, content


def request_head(path: str, extra: list[str] = (), method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"X-API-Key: {ADMIN}",
             "Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def test_a_flood_of_headers_is_refused_by_gunicorn_before_flask(server):
    status, headers, body = raw_request(server, request_head(
        "/sessions", [f"X-Filler-{i}: {i}" for i in range(60)]))
    # gunicorn answers this itself, with its own small HTML page (docs/security.md).
    assert status == 431
    assert headers["content-type"].startswith("text/html")
    assert b"Traceback" not in body
    assert requests.get(server.url + "/health", timeout=5).status_code == 200


def test_a_huge_header_is_refused_and_a_normal_one_is_not(server):
    status, _, _ = raw_request(server, request_head("/sessions", ["X-Big: " + "a" * 9000]))
    assert status == 431
    status, _, body = raw_request(server, request_head("/sessions", ["X-Fine: " + "a" * 4000]))
    assert status == 200 and json.loads(body)["data"] == []


def test_an_overlong_request_line_is_414(server):
    status, _, _ = raw_request(server, request_head("/sessions/" + "a" * 5000))
    assert status == 414


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(server):
    head = request_head("/sessions", ["Content-Type: application/json",
                                      f"Content-Length: {30 * 2**20}"], method="POST")
    status, headers, body = raw_request(server, head, b'{"id": "x"')
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body, content_type, status, code", [
    (b'{"id": "caf\xe9"}', "application/json", 400, "invalid_json"),
    (b'{"id": ', "application/json", 400, "invalid_json"),
    (b"[" * 100_000, "application/json", 400, "invalid_json"),
    (b'{"id": "a"}', "text/plain", 415, "unsupported_media_type"),
    (b'{"id": "a", "x": 1}', "application/json", 422, "validation_error"),
])
def test_malformed_bodies_get_the_envelope_through_gunicorn(server, body, content_type, status,
                                                            code):
    head = request_head("/sessions", [f"Content-Type: {content_type}",
                                      f"Content-Length: {len(body)}"], method="POST")
    got, headers, content = raw_request(server, head, body)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert json.loads(content)["error"]["code"] == code


def test_auth_through_gunicorn_and_no_key_in_its_log(server):
    resp = requests.get(server.url + "/sessions", headers={"X-API-Key": ADMIN + "-wrong"},
                        timeout=5)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(server.url + "/sessions", headers={"Authorization": f"Bearer {ADMIN}"},
                        timeout=5).status_code == 200
    resp = requests.get(server.url + "/sessions/other", headers={"X-API-Key": SCOPED}, timeout=5)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert requests.get(server.url + "/performance", headers={"X-API-Key": SCOPED},
                        timeout=5).status_code == 403
    log = wait_for(lambda: (t := (server.folder / "gunicorn.log").read_text())
                   .count("GET /performance") >= 1 and t, message="access log lines")
    assert "/sessions/other" in log  # the access log is there...
    for key in (ADMIN, SCOPED):
        assert key not in log  # ...and no key is in it


@pytest.mark.browser
def test_the_docs_page_renders_in_chromium_from_local_files_only(server, tmp_path):
    config = load_config({"ENV": "testing"}, environ={})
    options = chrome_options(config, tmp_path / "docs-profile")
    driver = webdriver.Chrome(options=options, service=Service(config["CHROMEDRIVER"]))
    try:
        driver.get(server.url + "/docs")
        title = wait_for(lambda: driver.execute_script(
            "const t = document.querySelector('.swagger-ui .info .title');"
            "return t && t.textContent"), timeout=30, message="Swagger UI title")
        assert "waengine" in title
        wait_for(lambda: driver.execute_script(
            "return document.querySelectorAll('.opblock').length") >= 20,
            timeout=30, message="operations listed")
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href])")
        assert any(u.endswith("/openapi.json") for u in urls), urls
        assert any(u.endswith("/swagger-ui-bundle.js") for u in urls), urls
        for url in urls:
            assert url.startswith(server.url + "/"), url
    finally:
        driver.quit()
    assert not browser_processes(tmp_path)


def test_a_chunked_body_over_the_limit_is_refused_413_under_gunicorn(server):
    # Chunked bodies declare no Content-Length: one over 24 MiB was cut at the limit and the
    # truncated JSON processed. It is refused like a declared one.
    limit = 24 * 2**20
    payload = b'{"id": "chunky", "keepAlive": true}' + b" " * (limit + 100)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in
                      (payload[i:i + 2**20] for i in range(0, len(payload), 2**20)))
    head = (f"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {ADMIN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        # Keep-alive: gunicorn reads what the view left unread before the next request, so
        # the answer is not lost to a reset.
        sock.sendall(head + chunks + b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
                answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0]):
            answer += sock.recv(65536)
    status = int(answer.split(b" ", 2)[1])
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert status == 413 and body["error"]["details"] == {"limit": limit}
    assert requests.get(f"{server.url}/sessions/chunky", headers={"X-API-Key": ADMIN},
                        timeout=10).status_code == 404  # nothing was made of it


def test_the_server_keeps_its_files_private(server):
    # gunicorn.conf.py sets umask 077: the database, its WAL files and the folders are the
    # service user's alone (0600, 0700), whatever the shell's umask was.
    data = server.folder / "data"
    wait_for(lambda: (data / "waengine.db-wal").exists(), message="the WAL file")
    for name in ("waengine.db", "waengine.db-wal", "waengine.db-shm"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    for folder in (data, data / "profiles"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
