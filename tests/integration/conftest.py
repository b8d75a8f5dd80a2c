"""Integration fixtures: real Chromium through real Selenium, the sandbox, the gateway."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import psutil
import pytest
import requests

from waengine import create_app, engine_of

from ..conftest import wait_for
from ..receiver import Receiver

# Fixtures that start Chromium (directly, through chromedriver or Grid, or through a gunicorn
# whose sessions do): a test using one is marked `browser`, so `-m "not browser"` runs exactly
# the integration tests that start none. A module whose every test starts a browser without one
# of these (its own driver, a subprocess) sets `pytestmark = pytest.mark.browser`.
BROWSER_FIXTURES = frozenset({
    "gateway", "make_gateway", "gw", "servers", "served", "stack", "fuzz_gateway", "live", "launch",
    "plain_page", "grid", "doctor_env",
})


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts and BROWSER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)


def _browsers_started(baseline: set[int]) -> list[str]:
    """chromedriver and browser (not renderer) processes under this one not in `baseline`."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in baseline:
            continue
        try:
            name, parent = proc.name(), proc.parent()
            if name == "chromedriver" or (name.startswith("chrom") and parent is not None
                                          and not parent.name().startswith("chrom")):
                found.append(f"{name} ({proc.pid})")
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def browser_mark_holds(request):
    """A test without the browser mark fails if it starts Chromium or chromedriver anyway, so
    `-m "not browser"` cannot quietly run browsers (a fixture missing from BROWSER_FIXTURES)."""
    if request.node.get_closest_marker("browser"):
        yield
        return
    baseline = {p.pid for p in psutil.Process().children(recursive=True)}
    seen: list[str] = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.05):
            seen.extend(_browsers_started(baseline))

    watcher = threading.Thread(target=watch, name="test-browser-watch", daemon=True)
    watcher.start()
    yield
    stop.set()
    watcher.join()
    assert not seen, f"started {sorted(set(seen))} without the browser mark (BROWSER_FIXTURES)"


def browser_processes(folder) -> list[psutil.Process]:
    """Chromium/chromedriver processes that name this folder (profile dirs) in a flag."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or ()
        if any(part.startswith("--") and str(folder) in part for part in cmd):
            found.append(proc)
    return found


@pytest.fixture(scope="session")
def sandbox_url():
    from waengine import sandbox

    # No automatic receipts: a test's phone delivers or reads (Sandbox.read / .deliver).
    server = sandbox.make_server("127.0.0.1", 0, qr_first_ttl=4.0, qr_ttl=2.0, qr_max=6)
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class Sandbox:
    def __init__(self, url: str):
        self.url = url

    def post(self, path: str, **body):
        resp = requests.post(self.url + path, json=body, timeout=10)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def phone(self, phone: str, name: str, **extra):
        return self.post("/_sandbox/phones", phone=phone, name=name, **extra)

    def read(self, phone: str, chat: str | None = None) -> dict:
        """The phone opens a chat (or all) and reads it: delivered, then read receipts."""
        return self.post(f"/_sandbox/phones/{phone}/read", **({"chat": chat} if chat else {}))

    def deliver(self, phone: str) -> dict:
        """The phone comes online and has every message sent to it: delivered receipts."""
        return self.post(f"/_sandbox/phones/{phone}/deliver")

    def scan(self, read_qr, phone: str, timeout: float = 60.0) -> dict:
        """The phone scans the QR the session shows, as a person does: `read_qr()` returns the
        current code (or None before there is one); a code the page rotated away (410
        qr_expired) is read and scanned again, since the page moves on while a test waits."""
        def attempt():
            qr = read_qr()
            if not qr:
                return None
            resp = requests.post(self.url + "/_sandbox/link", json={"qr": qr, "phone": phone},
                                 timeout=10)
            if resp.status_code == 410 and resp.json()["error"]["code"] == "qr_expired":
                return None
            assert resp.status_code < 300, resp.text
            return resp.json()
        return wait_for(attempt, timeout=timeout, message=f"{phone} scanned a current QR")

    def inbox(self, phone: str) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/messages", params={"to": phone},
                            timeout=10).json()["data"]


@pytest.fixture
def sandbox(sandbox_url):
    return Sandbox(sandbox_url)


class Gateway:
    """The gateway app with its engine started, plus helpers that act like a REST client."""

    def __init__(self, app, sid: str | None = None):
        self.app = app
        self.client = app.test_client()
        self.engine = engine_of(app)
        self.sid = sid  # the session get/post/call address (linked_gateway sets it)

    def call(self, method: str, path: str, sid: str | None = None, **kw):
        """`method` on /sessions/<sid><path> through the test client."""
        return getattr(self.client, method)(f"/sessions/{sid or self.sid}{path}", **kw)

    def get(self, path: str, **kw):
        return self.call("get", path, **kw)

    def post(self, path: str, **kw):
        return self.call("post", path, **kw)

    def session(self, sid: str) -> dict:
        return self.client.get(f"/sessions/{sid}").json

    def wait_status(self, sid: str, *statuses: str, timeout: float = 60.0) -> dict:
        return wait_for(lambda: (s := self.session(sid)).get("status") in statuses and s,
                        timeout=timeout, message=f"{sid} in {statuses}")

    def link(self, sandbox: Sandbox, sid: str, phone: str) -> dict:
        """Create (if needed) the session, scan its QR with the phone, wait until CONNECTED."""
        if self.client.get(f"/sessions/{sid}").status_code == 404:
            assert self.client.post("/sessions", json={"id": sid}).status_code == 201
        self.wait_status(sid, "SCAN_QR")
        # The status turns SCAN_QR a moment before the session holds its first QR.
        sandbox.scan(lambda: self.client.get(f"/sessions/{sid}/qr").json.get("qr"), phone)
        return self.wait_status(sid, "CONNECTED")


def assert_no_browsers(root) -> None:
    """Every browser a test started under `root` is gone (killed here if not, then failed)."""
    leftovers = browser_processes(root)
    for proc in leftovers:
        proc.kill()
    assert not leftovers, f"browsers left running: {[p.pid for p in leftovers]}"


@contextmanager
def linked_gateway(sandbox: Sandbox, root, sid: str, phone: str, **overrides):
    """A gateway whose session `sid` is CONNECTED as `phone`; closed and checked afterwards."""
    gateway = Gateway(create_app({"ENV": "testing", "DATA_DIR": str(root / "data"),
                                  "WA_URL": sandbox.url + "/", "API_KEYS": [], **overrides}), sid)
    gateway.engine.start()
    try:
        gateway.link(sandbox, sid, phone)
        yield gateway
    finally:
        gateway.engine.close()
        assert_no_browsers(root)


@pytest.fixture
def make_gateway(tmp_path, sandbox_url):
    made = []

    def make(data_dir=None, **overrides) -> Gateway:
        config = {"ENV": "testing", "DATA_DIR": str(data_dir or tmp_path / "data"),
                  "WA_URL": sandbox_url + "/", "API_KEYS": [], **overrides}
        gateway = Gateway(create_app(config))
        gateway.engine.start()
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.engine.close()
    assert_no_browsers(tmp_path)


@pytest.fixture
def gateway(make_gateway) -> Gateway:
    return make_gateway()


@pytest.fixture
def servers(tmp_path):
    """Servers a test starts (anything with .stop()): stopped after it, leaving no browser."""
    started = []
    yield started
    for server in started:
        server.stop()
    assert_no_browsers(tmp_path)


@pytest.fixture
def receiver():
    """A webhook receiver on loopback, closed after the test."""
    r = Receiver()
    yield r
    r.close()


def messages_at(receiver) -> list[dict]:
    return [e for e in receiver.delivered() if e["type"] == "message"]


def hooked(gateway: Gateway, sandbox: Sandbox, receiver, me: str, peer: str, sid: str = "ev",
           events=None) -> dict:
    """Session `sid` with a webhook to `receiver`, linked as `me`, with `peer` on WhatsApp."""
    body = {"id": sid, "webhook": {"url": receiver.url, "secret": "topsecret-of-24-bytes-or-more",
                                   **({"events": events} if events else {})}}
    assert gateway.client.post("/sessions", json=body).status_code == 201
    sandbox.phone(peer, "Budi")
    return gateway.link(sandbox, sid, me)
