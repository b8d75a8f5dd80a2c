"""The production code path with the real wa-js bundle, against a page that is not WhatsApp."""

import http.server
import threading

import pytest

from .conftest import browser_processes

PAGE = b"<!doctype html><html><head><title>not whatsapp</title></head><body>hello</body></html>"


class _Plain(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def plain_page():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_wa_js_is_injected_and_a_page_without_whatsapp_fails_wa_not_loaded(
        make_gateway, plain_page, tmp_path):
    gw = make_gateway(WA_URL=plain_page, WA_LOAD_TIMEOUT=8.0)
    assert gw.client.post("/sessions", json={"id": "prod"}).status_code == 201
    injected = gw.wait_status("prod", "STARTING", "FAILED", timeout=20)
    from ..conftest import wait_for

    injected = wait_for(lambda: gw.session("prod")["wa"]["version"], timeout=20,
                        message="wa-js injected")
    assert injected == "4.6.0"
    assert gw.session("prod")["wa"]["injected"] is True
    failed = gw.wait_status("prod", "FAILED", timeout=30)
    assert failed["statusReason"] == "wa_not_loaded"
    assert failed["browser"] is None
    assert not browser_processes(tmp_path)
