"""Per-session proxy through a real proxy server (proxy.py), and pages that do not load.

Each test starts its own proxy.py on a free port and stops it; a dead proxy is a closed port.
The sandbox runs on 127.0.0.1, which Chromium would send around a proxy by default: the
proxy's own access log showing the sandbox's host:port proves the page went through it.
"""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import subprocess
import sys
import threading

import psutil
import pytest

from ..conftest import phones, wait_for
from .conftest import browser_processes

number = phones(__name__)

ALICE, BUDI, CITRA = number(1), number(2), number(3)
USER, PASSWORD = "wauser", "s3cret-proxy-pw"


class ProxyServer:
    """proxy.py in its own process, logging every request it forwards to a file."""

    count = 0

    def __init__(self, folder, basic_auth: str | None = None):
        ProxyServer.count += 1
        name = f"proxy-{ProxyServer.count}"
        self.log, port_file = folder / f"{name}.log", folder / f"{name}.port"
        # --port 0: proxy.py binds a port the kernel picks and writes it to the port file.
        cmd = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
               "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
               "--threaded", "--log-file", str(self.log), "--data-dir", str(folder)]
        if basic_auth:
            cmd += ["--basic-auth", basic_auth]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening() -> int | None:
            assert self.proc.poll() is None, "proxy.py exited"
            text = port_file.read_text().strip() if port_file.exists() else ""
            if not text.isdigit():
                return None
            with socket.socket() as s:
                return int(text) if s.connect_ex(("127.0.0.1", int(text))) == 0 else None
        self.port = wait_for(listening, timeout=30, message="proxy.py listening")

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials}127.0.0.1:{self.port}"

    def forwarded(self, host: str) -> int:
        """Requests to host:port in the access log."""
        text = self.log.read_text() if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if "access_log" in line and host in line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def proxies(tmp_path):
    started = []

    def start(basic_auth: str | None = None) -> ProxyServer:
        server = ProxyServer(tmp_path, basic_auth)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def sandbox_host(sandbox) -> str:
    return sandbox.url.split("://", 1)[1]


def chromium_cmdlines(root) -> list[str]:
    lines = []
    for proc in browser_processes(root):
        try:
            lines.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    return lines


def link(gateway, sandbox, sid: str, phone: str) -> None:
    """Scan the session's QR with the phone (conftest's link, waiting for the QR itself: the
    status turns SCAN_QR a moment before the session holds its QR)."""
    sandbox.scan(lambda: (r := gateway.client.get(f"/sessions/{sid}/qr")).status_code == 200
                 and r.json["qr"], phone)
    gateway.wait_status(sid, "CONNECTED")


def relaunched(gateway, sid: str, restarts: int) -> dict:
    """The session once its browser was relaunched (a PUT only queues it) and is linked again."""
    return wait_for(lambda: (s := gateway.session(sid))["restarts"] > restarts
                    and s["status"] == "CONNECTED" and s, timeout=60,
                    message=f"{sid} relaunched and CONNECTED")


def send(gateway, sid: str, to: str, text: str) -> None:
    resp = gateway.client.post(f"/sessions/{sid}/messages", json={"to": to, "text": text})
    assert resp.status_code == 201, resp.json


def test_a_session_loads_and_sends_through_its_proxy(make_gateway, sandbox, proxies, tmp_path):
    proxy = proxies()
    gateway = make_gateway()
    sandbox.phone(BUDI, "Budi")
    created = gateway.client.post("/sessions", json={"id": "lewat", "proxy": proxy.url()})
    assert created.status_code == 201, created.json
    assert created.json["proxy"] == proxy.url()
    link(gateway, sandbox, "lewat", ALICE)
    send(gateway, "lewat", BUDI, "lewat proxy")
    wait_for(lambda: any(m["text"] == "lewat proxy" for m in sandbox.inbox(BUDI)),
             message="the message delivered")
    assert proxy.forwarded(sandbox_host(sandbox)) > 0
    cmdline = next(c for c in chromium_cmdlines(tmp_path) if "--user-data-dir" in c
                   and "--type=" not in c)
    assert f"--proxy-server={proxy.url()}" in cmdline


def test_a_proxy_password_is_answered_and_never_shown(make_gateway, sandbox, proxies, tmp_path,
                                                      caplog):
    caplog.set_level(logging.DEBUG)
    proxy = proxies(f"{USER}:{PASSWORD}")
    gateway = make_gateway()
    created = gateway.client.post("/sessions", json={"id": "rahasia",
                                                    "proxy": proxy.url(f"{USER}:{PASSWORD}@")})
    assert created.status_code == 201, created.json
    link(gateway, sandbox, "rahasia", CITRA)
    assert proxy.forwarded(sandbox_host(sandbox)) > 0

    shown = gateway.client.get("/sessions/rahasia")
    assert shown.json["proxy"] == proxy.url(f"{USER}:***@")
    listed = gateway.client.get("/sessions").get_data(as_text=True)
    assert PASSWORD not in shown.get_data(as_text=True) and PASSWORD not in listed
    assert PASSWORD not in created.get_data(as_text=True)
    cmdlines = chromium_cmdlines(tmp_path)
    assert cmdlines and not any(PASSWORD in c for c in cmdlines)
    assert any(f"--proxy-server={proxy.url()}" in c for c in cmdlines)
    assert PASSWORD not in caplog.text


def test_a_refused_password_fails_the_session_until_a_right_one_is_put(make_gateway, sandbox,
                                                                         proxies):
    proxy = proxies(f"{USER}:{PASSWORD}")
    gateway = make_gateway()
    created = gateway.client.post("/sessions", json={"id": "salah",
                                                    "proxy": proxy.url(f"{USER}:wrong-pw@")})
    assert created.status_code == 201, created.json
    failed = gateway.wait_status("salah", "FAILED")
    assert failed["statusReason"] == "proxy_auth_failed"
    assert failed["statusDetails"]["proxy"] == proxy.url(f"{USER}:***@")
    assert failed["restarts"] == 0  # a refused password is not retried

    fixed = gateway.client.put("/sessions/salah/proxy",
                               json={"proxy": proxy.url(f"{USER}:{PASSWORD}@")})
    assert fixed.status_code == 202, fixed.json
    ready = gateway.wait_status("salah", "SCAN_QR")
    assert ready["statusDetails"] is None


def test_a_proxy_asking_for_a_password_none_was_given_for_is_proxy_auth_failed(make_gateway,
                                                                               proxies):
    proxy = proxies(f"{USER}:{PASSWORD}")
    gateway = make_gateway()
    created = gateway.client.post("/sessions", json={"id": "tanpa", "proxy": proxy.url()})
    assert created.status_code == 201, created.json
    failed = gateway.wait_status("tanpa", "FAILED")
    assert failed["statusReason"] == "proxy_auth_failed"
    assert failed["statusDetails"]["error"] == "407 Proxy Authentication Required"


def test_a_dead_proxy_fails_the_session_proxy_unreachable(make_gateway, refused_port):
    gateway = make_gateway(RESTART_MAX=3, RESTART_BACKOFF=0.1)
    dead = f"http://127.0.0.1:{refused_port}"
    assert gateway.client.post("/sessions", json={"id": "mati", "proxy": dead}).status_code == 201
    failed = gateway.wait_status("mati", "FAILED")
    assert failed["statusReason"] == "proxy_unreachable"
    assert failed["statusDetails"]["error"] == "ERR_PROXY_CONNECTION_FAILED"
    assert failed["restarts"] == 2  # retried with backoff first, as a network blip


def test_put_proxy_moves_a_linked_session_and_null_removes_it(make_gateway, sandbox, proxies,
                                                               tmp_path):
    first, second = proxies(), proxies()
    host = sandbox_host(sandbox)
    gateway = make_gateway()
    sandbox.phone(BUDI, "Budi")
    created = gateway.client.post("/sessions", json={"id": "pindah", "proxy": first.url()})
    assert created.status_code == 201
    link(gateway, sandbox, "pindah", number(4))

    restarts = gateway.session("pindah")["restarts"]
    moved = gateway.client.put("/sessions/pindah/proxy", json={"proxy": second.url()})
    assert moved.status_code == 202 and moved.json["proxy"] == second.url()
    restarts = relaunched(gateway, "pindah", restarts)["restarts"]  # linked still: no new QR
    assert second.forwarded(host) > 0
    send(gateway, "pindah", BUDI, "lewat proxy kedua")

    direct = gateway.client.put("/sessions/pindah/proxy", json={"proxy": None})
    assert direct.status_code == 202 and direct.json["proxy"] is None
    relaunched(gateway, "pindah", restarts)
    wait_for(lambda: (c := chromium_cmdlines(tmp_path)) and not any("--proxy-server" in x
                                                                   for x in c),
             message="a browser without a proxy")
    before = second.forwarded(host)
    send(gateway, "pindah", BUDI, "langsung")
    wait_for(lambda: any(m["text"] == "langsung" for m in sandbox.inbox(BUDI)),
             message="the direct message delivered")
    assert second.forwarded(host) == before


@pytest.mark.parametrize("url, error", [
    ("http://127.0.0.1:{port}/", "ERR_CONNECTION_REFUSED"),
    ("http://nonexistent.invalid/", "ERR_NAME_NOT_RESOLVED"),
])
def test_an_unreachable_whatsapp_web_fails_wa_unreachable_after_retries(make_gateway, caplog,
                                                                         refused_port, url, error):
    caplog.set_level(logging.INFO, logger="waengine.engine.session")
    url = url.format(port=refused_port)
    gateway = make_gateway(WA_URL=url, RESTART_MAX=3, RESTART_BACKOFF=0.1)
    assert gateway.client.post("/sessions", json={"id": "putus"}).status_code == 201
    failed = gateway.wait_status("putus", "FAILED")
    assert failed["statusReason"] == "wa_unreachable"
    assert failed["statusDetails"] == {"error": error, "url": url}
    assert failed["restarts"] == 2
    assert "-> RECOVERING (wa_unreachable)" in caplog.text
    assert "browser_launch_failed" not in caplog.text


@pytest.mark.parametrize("proxy", ["socks5://user:pass@127.0.0.1:1080", "ftp://127.0.0.1:21",
                                   "http://127.0.0.1", "http://u:p@127.0.0.1:3128/path"])
def test_an_unusable_proxy_is_refused_with_422(gateway, proxy):
    resp = gateway.client.post("/sessions", json={"id": "tolak", "proxy": proxy})
    assert resp.status_code == 422, resp.json
    assert "proxy" in str(resp.json["error"]["details"])
    assert gateway.client.get("/sessions/tolak").status_code == 404


@pytest.fixture
def self_signed_https(tmp_path):
    """An HTTPS server whose certificate no one signed: Chromium's TLS error, not a page."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="tls-server", daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_a_tls_error_is_wa_unreachable_too(make_gateway, self_signed_https):
    gateway = make_gateway(WA_URL=self_signed_https, RESTART_MAX=2, RESTART_BACKOFF=0.1)
    assert gateway.client.post("/sessions", json={"id": "sertifikat"}).status_code == 201
    failed = gateway.wait_status("sertifikat", "FAILED")
    assert failed["statusReason"] == "wa_unreachable"
    assert failed["statusDetails"] == {"error": "ERR_CERT_AUTHORITY_INVALID",
                                       "url": self_signed_https}


def test_the_proxy_survives_a_gateway_restart(make_gateway, sandbox, proxies, tmp_path):
    proxy = proxies(f"{USER}:{PASSWORD}")
    host = sandbox_host(sandbox)
    first = make_gateway(data_dir=tmp_path / "kept")
    created = first.client.post("/sessions", json={"id": "tetap",
                                                  "proxy": proxy.url(f"{USER}:{PASSWORD}@")})
    assert created.status_code == 201
    link(first, sandbox, "tetap", number(5))
    first.engine.close()

    before = proxy.forwarded(host)
    second = make_gateway(data_dir=tmp_path / "kept")
    restored = second.wait_status("tetap", "CONNECTED")  # restored from its profile: no QR
    assert restored["proxy"] == proxy.url(f"{USER}:***@")
    assert proxy.forwarded(host) > before
    assert any(f"--proxy-server={proxy.url()}" in c for c in chromium_cmdlines(tmp_path))
