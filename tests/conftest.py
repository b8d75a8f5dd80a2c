"""Helpers every test may use: waiting on a condition, error codes, phone numbers, ports."""

from __future__ import annotations

import errno
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def loopback_receivers():
    """Opt the suite in to outgoing connections to loopback and private addresses.

    Its webhook receivers, proxies and sinks listen on 127.0.0.1, which the gateway refuses by
    default (waengine/netguard.py, docs/security.md). The setting goes to the environment so
    gateways started as subprocesses (gunicorn) get it too; a test of the refusal overrides it
    with WEBHOOK_ALLOW_PRIVATE=False in its config.
    """
    before = os.environ.get("WAENGINE_WEBHOOK_ALLOW_PRIVATE")
    os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"] = "1"
    yield
    if before is None:
        del os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"]
    else:
        os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"] = before


def wait_for(predicate, timeout=30.0, interval=0.05, message="condition"):
    """Poll until predicate() is truthy; return its value (tests wait on conditions, not sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def waiter():
    return wait_for


# The store's two backends: store-level tests run on each (`database` parametrized).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the whole run (each test gets its own database)."""
    from .pg import PostgresServer

    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def database(request):
    """The DATABASE_URL of this test's backend: "" (SQLite under DATA_DIR) or a fresh
    PostgreSQL database, dropped afterwards. SQLite unless parametrized with BACKENDS."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield ""
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def make_store(database, tmp_path):
    """Open a store on this test's backend (again: the same database); closed afterwards."""
    from waengine.backends import open_store

    opened = []

    def make(**config):
        store = open_store({"DATABASE_URL": database, "STORE_BUSY_TIMEOUT": 2.0, **config},
                           tmp_path / "store")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()


def error_code(resp) -> str:
    """The `error.code` of the JSON envelope, from a Flask test response or a requests one."""
    body = resp.json() if callable(resp.json) else resp.json
    return body["error"]["code"]


# ---- phone numbers ----

# One block per integration test module, by its place among the module files: the same module
# gets the same block whatever the order modules are imported in (or however often).
_MODULES = sorted(p.stem for p in (Path(__file__).parent / "integration").glob("test_*.py"))


def phones(module: str):
    """A function n -> a phone number no other test module is given.

    The integration tests share one sandbox (one network of phones) for the whole run, so two
    modules using the same number would see each other's chats and contacts, and the result
    would depend on the order the tests run in. Each module gets its own block of numbers:
    `number = phones(__name__)`, then `ALICE = number(1)`.
    """
    block = _MODULES.index(module.rsplit(".", 1)[-1]) + 1
    assert block < 1000, "more than 999 test modules"

    def phone(n: int) -> str:
        assert 0 < n < 10_000_000, n
        return f"629{block:03d}{n:07d}"  # 13 digits, as an Indonesian mobile number has
    return phone


def typed(phone: str, style: str = "+{cc} {a}-{b}-{c}") -> str:
    """A 13-digit number as a person types it: "+62 912-3400-0001", or in `style` (its country
    code, then groups of 3, 4 and 4 digits: "{cc} ({a}) {b}.{c}")."""
    return style.format(cc=phone[:2], a=phone[2:5], b=phone[5:9], c=phone[9:])


# ---- ports ----
# Asking the kernel for a free port, closing the socket and handing the number to a server
# races with every other process on the box: the port may be taken before the server binds it.

def listening_socket() -> socket.socket:
    """A loopback TCP socket on a port the kernel picked, already listening: give it to a server
    that accepts an inherited socket (gunicorn's `--bind fd://N`) and no one can take the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


class PortTaken(Exception):
    """The server could not bind the port it was given (raised by a `start(port)` callback)."""


def on_free_port(start, attempts: int = 5):
    """Return start(port) for a port the kernel picked, trying a new one when it was taken.

    For servers that only take a port number (redis, nginx, Java): `start` raises PortTaken
    (or OSError EADDRINUSE) when the server says the address is in use.
    """
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = port_of(probe)
        try:
            return start(port)
        except PortTaken:
            pass
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise AssertionError(f"no free port after {attempts} attempts")


@contextmanager
def closed_port():
    """A loopback port that refuses connections for as long as the block runs: bound, never
    listening, so no other process can start listening on it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield port_of(sock)


@pytest.fixture
def refused_port() -> int:
    """A loopback port that refuses connections for the whole test (see closed_port)."""
    with closed_port() as port:
        yield port


@contextmanager
def moto_s3(monkeypatch, bucket: str):
    """A real S3 API on a free loopback port (moto's server) holding `bucket`, with test
    credentials in the environment (gateways started meanwhile inherit them): its endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"),
                            ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(name, value)
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint)
        # moto keeps buckets in this process from one server to the next
        if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
            client.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()
