"""Issue 23, sinks and DNS rebinding: each broker client connects to the address netguard
checked, never to a later answer for the same name (waengine/events/sinks/base.py, `pin`).

The resolver answers `rebind.test` with 127.0.0.1 on its first lookup and 127.0.0.2 on every
later one. The guard's allow-list opens 127.0.0.1 only, standing in for a public address;
127.0.0.2 is the inside address a rebinding answer points at. Both listen, on the same port,
so a client that looked the name up again would reach the inside one and be seen there.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from waengine.events.sinks import publisher
from waengine.events.sinks.base import Message, SinkError
from waengine.netguard import Guard

CHECKED, INSIDE = "127.0.0.1", "127.0.0.2"
NAME = "rebind.test"
# The allow-list opens the checked address only; allow_private opens both (the suite's own
# setting, tests/conftest.py): the connection is pinned all the same.
ALLOW_CHECKED = Guard.parse(False, f"{CHECKED}/32")
ALLOW_PRIVATE = Guard(allow_private=True)


class Listener:
    """A TCP listener that records each connection it takes and the TLS server name the
    client sends (if it starts TLS), then closes it: the client's publish fails, which is
    enough, the test is about where the client connected."""

    def __init__(self, address: str, port: int = 0, greeting: bytes = b""):
        self.sock = socket.create_server((address, port))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.connections = 0
        self.server_names: list[str] = []
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Called with the ClientHello's server name, before the (certificate-less) server
        # fails the handshake.
        self.tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    if self.greeting:
                        conn.sendall(self.greeting)
                    first = conn.recv(1, socket.MSG_PEEK)
                    if first == b"\x16":  # a TLS handshake record: read its server name
                        self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    pass

    def close(self):
        self.sock.close()


@pytest.fixture
def listeners():
    checked = Listener(CHECKED)
    inside = Listener(INSIDE, checked.port)
    yield checked, inside
    checked.close()
    inside.close()


@pytest.fixture
def rebinding(monkeypatch):
    """socket.getaddrinfo answering rebind.test: 127.0.0.1 first, 127.0.0.2 afterwards."""
    real, lookups = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):
        if host != NAME:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return real(CHECKED if len(lookups) == 1 else INSIDE, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return lookups


def sink_url(scheme: str, port: int) -> str:
    return {"redis": f"redis://:pw@{NAME}:{port}/0",
            "rediss": f"rediss://:pw@{NAME}:{port}/0",
            "amqp": f"amqp://u:pw@{NAME}:{port}/%2F",
            "amqps": f"amqps://u:pw@{NAME}:{port}/%2F",
            "nats": f"nats://{NAME}:{port}",
            "tls": f"tls://{NAME}:{port}",
            "sqs": f"sqs://key:pw@{NAME}:{port}/123456789012/q?tls=false",
            "sqs-tls": f"sqs://key:pw@{NAME}:{port}/123456789012/q"}[scheme]


def publish_once(url: str, guard: Guard):
    pub = publisher(url, 1.0)
    pub.guard = guard
    pub.COOLDOWN = 0  # each publish connects anew (no fast failure from the last one)
    message = Message("s1", "evt_1", "message", "1700000000", b"{}", {"webhook-id": "evt_1"})
    try:
        with pytest.raises(SinkError) as failed:  # the listener speaks no broker protocol
            pub.publish(message)
        return pub, failed.value
    except BaseException:
        pub.close()
        raise


SCHEMES = ["redis", "amqp", "nats", "sqs"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_sink_connects_to_the_address_checked_never_to_a_rebound_answer(
        scheme, listeners, rebinding):
    checked, inside = listeners
    pub, _ = publish_once(sink_url(scheme, checked.port), ALLOW_CHECKED)
    try:
        assert checked.connections >= 1 and inside.connections == 0
        assert len(rebinding) == 1  # the client library did not look the name up again
        # The next connection resolves again: the inside answer is checked and refused,
        # nothing connects to it.
        with pytest.raises(SinkError, match="loopback address is not allowed") as refused:
            pub.publish(Message("s1", "evt_2", "message", "1700000000", b"{}", {}))
        assert "pw" not in str(refused.value)
        assert inside.connections == 0
    finally:
        pub.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_with_every_address_allowed_the_sink_is_still_pinned(scheme, listeners, rebinding):
    checked, inside = listeners
    pub, _ = publish_once(sink_url(scheme, checked.port), ALLOW_PRIVATE)
    pub.close()
    assert checked.connections >= 1 and inside.connections == 0 and len(rebinding) == 1


@pytest.mark.parametrize("scheme", ["rediss", "amqps", "tls", "sqs-tls"])
def test_tls_keeps_the_host_name_for_the_server_name_and_certificate(
        scheme, listeners, rebinding):
    checked, inside = listeners
    if scheme == "tls":  # a NATS server greets in clear text, then the client starts TLS
        checked.greeting = b'INFO {"server_id":"x","version":"2.10.0","tls_required":true}\r\n'
    pub, error = publish_once(sink_url(scheme, checked.port), ALLOW_CHECKED)
    pub.close()
    assert checked.server_names and set(checked.server_names) == {NAME}, error
    assert inside.connections == 0 and len(rebinding) == 1
