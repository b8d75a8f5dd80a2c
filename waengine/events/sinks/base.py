"""What every sink publisher shares: one connection per sink, made lazily and remade after
a failure, to an address resolved and checked for it (pinned); one publish at a time (broker
clients are not thread-safe); secrets masked."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from ...netguard import AddressRefused, Guard, connect_to

# Query parameters whose values are credentials (SQS keys, tokens): masked like a password.
_SECRET_PARAM = re.compile(r"(?i)(password|passwd|secret|token|credential|signature|auth)")


def mask(url: str) -> str:
    """The URL with its password and credential-like query values replaced by ***."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = "&".join(
        f"{name}=***" if _SECRET_PARAM.search(name) else (f"{name}={value}" if sep else name)
        for name, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# Where a sink's broker listens when its URL names no port (to resolve and check its host).
DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "nats": 4222, "tls": 4222, "redis": 6379,
                 "rediss": 6379, "sqs": 443}


def address_problem(url: str, guard: Guard | None = None) -> str | None:
    """Why the gateway must not connect to this sink's host as its URL spells it (a literal
    inside address, a localhost name), or None. Without a guard nothing is checked (a caller
    without the configuration; the API's schema and config.py check with theirs). Names are
    resolved and checked at connect time (`Publisher.pin`)."""
    if guard is None:
        return None
    try:
        guard.check_url(url)
    except AddressRefused as e:
        return refused(url, e)
    return None


def refused(url: str, error: AddressRefused) -> str:
    return f"{mask(url)}: a {error.reason} address is not allowed (WEBHOOK_ALLOW_PRIVATE, " \
           "WEBHOOK_ALLOW)"


class SinkError(Exception):
    """A publish that did not reach the broker (or was not confirmed): retried later."""


@dataclass
class Message:
    """One event as a sink publishes it: the webhook body and its identity headers."""

    session: str
    event_id: str
    type: str
    timestamp: str  # unix seconds, as webhook-timestamp
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Publisher:
    """A connection to one sink's broker. Subclasses define connect(), send(), disconnect()."""

    # After a failed connect, attempts fail at once for this long (no pool thread waits on a
    # broker known to be down); each delivery's own backoff decides when it is tried again.
    COOLDOWN = 1.0

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.name = mask(url)
        self.parts = urllib.parse.urlsplit(url)
        self.params = dict(urllib.parse.parse_qsl(self.parts.query))
        self.timeout = timeout
        # The outgoing address check (netguard); the sink sender sets it from the config.
        self.guard: Guard | None = None
        self.connected = False
        # getaddrinfo answers checked for the current connection (pin()).
        self.addresses: list[tuple] = []
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_error = ""

    def publish(self, message: Message) -> None:
        """Publish and wait for the broker's acknowledgement; SinkError if it did not come."""
        with self._lock:
            if not self.connected and time.monotonic() < self._down_until:
                raise SinkError(self._down_error)
            connecting = not self.connected
            try:
                if connecting:
                    self.addresses = self.pin()
                    self.connect()
                    self.connected = True
                self.send(message)
            except Exception as e:
                self._drop()
                reason = self.describe(e)
                if connecting:  # the broker did not even take a connection
                    self._down_until = time.monotonic() + self.COOLDOWN
                    self._down_error = reason
                raise SinkError(reason) from e

    def pin(self) -> list[tuple]:
        """The broker's addresses for this connection: resolved once and every one checked
        (netguard). connect() connects only to these, never to a new lookup of the name, so
        a DNS answer that changes after the check (rebinding) cannot steer it inside. With
        WEBHOOK_ALLOW_PRIVATE nothing is refused, and the connection is pinned all the same."""
        guard = self.guard or Guard(allow_private=True)
        host = self.parts.hostname or ""
        problem = address_problem(self.url, guard)
        if problem:
            raise SinkError(problem)
        try:
            return guard.resolve(host, self.parts.port or DEFAULT_PORTS.get(self.parts.scheme, 0))
        except AddressRefused as e:
            raise SinkError(refused(self.url, e)) from None
        except OSError as e:
            raise SinkError(f"cannot resolve {host}: {e}") from None

    def pinned_host(self) -> str:
        """The first checked address, as a client library takes a host (IPv6 unbracketed)."""
        return self.addresses[0][4][0]

    def open_socket(self, timeout: float | None, prepare=None) -> socket.socket:
        """A TCP connection to a checked address (for clients that take a socket factory)."""
        return connect_to(self.addresses, timeout, prepare)

    def describe(self, error: Exception) -> str:
        """A one-line reason without the URL's secrets (some clients echo the URL)."""
        text = str(error) if isinstance(error, SinkError) else f"{type(error).__name__}: {error}"
        text = text.replace(self.url, self.name)
        password = self.parts.password
        return text.replace(password, "***") if password else text

    def _drop(self) -> None:
        self.connected = False
        try:
            self.disconnect()
        except Exception:  # noqa: BLE001 - the connection is being thrown away
            pass

    def close(self) -> None:
        with self._lock:
            self._drop()

    def connect(self) -> None:
        raise NotImplementedError

    def send(self, message: Message) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError
