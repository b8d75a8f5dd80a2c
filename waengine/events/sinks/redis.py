"""Redis Streams sink: XADD to `waengine.<session>` (or `?stream=`, `{session}` filled in),
trimmed to about `?maxlen=` entries (default 100000). Fields: the identity headers and `body`.
The client's sockets go to the address the publisher checked (base.Publisher.pin).

`redis://[:password@]host:port/db?stream=...&maxlen=...` (`rediss://` for TLS).
"""

from __future__ import annotations

import socket
import urllib.parse

from .base import Message, SinkError
from .base import Publisher as Base

OWN_PARAMS = ("stream", "maxlen")


class Publisher(Base):
    def __init__(self, url: str, timeout: float):
        super().__init__(url, timeout)
        self.stream = self.params.get("stream") or "waengine.{session}"
        try:
            self.maxlen = int(self.params.get("maxlen") or 100_000)
        except ValueError:
            raise ValueError(f"{self.name}: maxlen must be a number") from None
        query = urllib.parse.urlencode(
            [(k, v) for k, v in urllib.parse.parse_qsl(self.parts.query) if k not in OWN_PARAMS])
        self.client_url = urllib.parse.urlunsplit(self.parts._replace(query=query))
        self.client = None

    def connect(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside the client: the delivery's backoff retries, and says so.
        self.client = redis.Redis.from_url(
            self.client_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
            connection_class=pinned_class(self, self.parts.scheme == "rediss"))
        self.client.ping()

    def send(self, message: Message) -> None:
        fields = {**message.headers, "body": message.body}
        stream = self.stream.replace("{session}", message.session)
        entry = self.client.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
        if not entry:
            raise SinkError(f"XADD {stream} returned no entry id")

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def pinned_class(publisher: Publisher, tls: bool) -> type:
    """A redis-py connection class whose sockets go to the publisher's checked addresses.

    redis-py resolves `host` itself for every socket it opens; only the socket changes here:
    `host` stays the name, so rediss:// checks the certificate against it and sends it as the
    TLS server name."""
    from redis.connection import Connection, SSLConnection

    class Pinned(Connection):
        def _connect(self):
            def prepare(sock):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.socket_keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    for option, value in self.socket_keepalive_options.items():
                        sock.setsockopt(socket.IPPROTO_TCP, option, value)

            sock = publisher.open_socket(self.socket_connect_timeout, prepare)
            sock.settimeout(self.socket_timeout)
            return sock

    if tls:  # SSLConnection._connect wraps what the next class in line (Pinned) opens
        return type("PinnedSSL", (SSLConnection, Pinned), {})
    return Pinned
