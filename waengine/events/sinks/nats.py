"""NATS JetStream sink: subject `waengine.<session>.<event type>` (prefix: `?prefix=`), with
`Nats-Msg-Id` = the event id, so the stream drops a republished event within its duplicate
window. A stream that takes the subjects must exist; if none does, `WAENGINE` (`?stream=`) is
made with subjects `waengine.>`.

`nats://[user:password@]host:4222?stream=...&prefix=...` (`tls://` for TLS), connected to the
address the publisher checked (base.Publisher.pin). nats-py is asyncio: each publisher runs its
own event loop on a named daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.parse

from .base import Message, SinkError
from .base import Publisher as Base


class Publisher(Base):
    def __init__(self, url: str, timeout: float):
        super().__init__(url, timeout)
        self.prefix = self.params.get("prefix") or "waengine"
        self.stream = self.params.get("stream") or "WAENGINE"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.nc = self.js = None

    def _run(self, coro):
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                           name=f"wa-sink-nats-{id(self):x}")
            self.thread.start()
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.timeout + 1)
        except TimeoutError:
            future.cancel()
            raise SinkError(f"no answer from {self.name} within {self.timeout:g}s") from None

    def connect(self) -> None:
        self._run(self._connect())

    async def _connect(self):
        import nats
        from nats.errors import NoServersError
        from nats.js.errors import NotFoundError

        errors: list[Exception] = []

        async def note(error):  # the client's own error log would print every traceback
            errors.append(error)

        # No reconnect loop inside the client: a lost connection fails the publish now and the
        # delivery's backoff retries it (on a new connection). One attempt (1 is the least
        # the client takes; 0 means forever), no wait between them.
        try:
            self.nc = await nats.connect(self.servers(), connect_timeout=self.timeout,
                                         allow_reconnect=False, max_reconnect_attempts=1,
                                         reconnect_time_wait=0, error_cb=note,
                                         dont_randomize=True, tls_hostname=self.parts.hostname)
        except NoServersError:
            cause = errors[-1] if errors else None
            raise SinkError(f"cannot connect: {type(cause).__name__}: {cause}") from None
        self.js = self.nc.jetstream(timeout=self.timeout)
        subject = f"{self.prefix}.>"
        try:
            await self.js.find_stream_name_by_subject(subject)
        except NotFoundError:
            await self.js.add_stream(name=self.stream, subjects=[subject])

    def servers(self) -> list[str]:
        """The server URL once per checked address, in the resolver's order: the client
        connects to the address, not to a new lookup of the name. tls:// (and a server that
        asks for TLS) verifies the certificate against the name (tls_hostname)."""
        netloc = self.parts.netloc.rsplit("@", 1)
        userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
        port = self.parts.port or 4222
        out = []
        for address in self.addresses:
            ip = address[4][0]
            host = f"[{ip}]" if ":" in ip else ip
            out.append(urllib.parse.urlunsplit(
                (self.parts.scheme, f"{userinfo}{host}:{port}", "", "", "")))
        return out

    def send(self, message: Message) -> None:
        self._run(self._send(message))

    async def _send(self, message: Message):
        subject = f"{self.prefix}.{message.session}.{message.type}"
        headers = {**message.headers, "Nats-Msg-Id": message.event_id}
        # Returns the stream's PubAck once stored (a duplicate within the window is acked too).
        await self.js.publish(subject, message.body, timeout=self.timeout, headers=headers)

    def disconnect(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None and self.loop is not None:
            try:
                self._run(nc.close())
            except Exception:  # noqa: BLE001 - closing a connection that is gone
                pass

    def close(self) -> None:
        super().close()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
            self.loop = None
