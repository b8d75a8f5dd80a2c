"""WebSocket event streams: the outbox's events to one client, one text frame each.

simple-websocket takes the request's socket from the WSGI environ (werkzeug's dev server and
gunicorn's gthread worker both expose it), so a connection holds its worker thread the way an
SSE stream does and counts against the same cap (SSE_MAX_STREAMS). Close codes are listed in
docs/api.md; `CLOSE_*` below.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable

from simple_websocket import ConnectionClosed, Server
from werkzeug.wrappers import Response
from wsproto.events import Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from ..errors import Forbidden, ValidationError

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001  # the server is stopping: reconnect with lastEventId
CLOSE_PING_TIMEOUT = 1008  # a ping went unanswered for WS_PING_INTERVAL
CLOSE_BAD_FRAME = 4400  # the first frame is not {"lastEventId": ...}
CLOSE_SLOW_CONSUMER = 4008  # WS_SEND_BUFFER events waited SLOW_WAIT seconds, none taken
CLOSE_UNKNOWN_EVENT = 4422  # the first frame's lastEventId is not a stored event
# A client may send {"lastEventId": "evt_…"} (or {} to start now) as its first frame: events are
# held this long for it. Events stored meanwhile are not lost: they follow the resume point.
HELLO_WAIT = 2.0
# A connection whose WS_SEND_BUFFER is full and stays full this long (the client took no frame)
# is a slow consumer: closed with 4008. It resumes with the last event it got.
SLOW_WAIT = 5.0
# How long a closing connection may take to send what is queued and its close frame; past it
# the socket is shut (the client then sees 1006): a stuck client cannot hold a thread.
CLOSE_WAIT = 5.0
# The kernel's send buffer for the socket: small, so a client that stops reading is noticed
# after WS_SEND_BUFFER events plus this, not after megabytes of autotuned buffer.
SOCKET_SEND_BUFFER = 64 * 1024
# Frames sent in one write at most (a resume's backlog; live events come one or two at a time).
BATCH = 32
# Clients only send the resume frame (and pongs): anything large is a mistake.
MAX_CLIENT_FRAME = 4096
_numbers = itertools.count(1)


def serve(hub, environ: dict, read: Callable[[int], list[dict]], after: int,
          resume: Callable[[str], int], visible: Callable[[dict], bool] = lambda row: True,
          key=None) -> Response:
    """Upgrade the request and stream the visible rows read(after) gives until either side ends.

    Refuses before the upgrade, with a JSON error, when no stream place is left for `key` (429).
    `resume(last_event_id)` turns the client's first frame into a new starting point.
    """
    check_origin(environ, hub.config.get("WS_ORIGINS") or ())
    hub.open_stream(key)
    try:
        connection = EventSocket(hub, environ)
        connection.run(read, after, resume, visible)
    finally:
        hub.release(key)
    return _Upgraded(connection.ws.mode)


def check_origin(environ: dict, allowed) -> None:
    """403 for a browser page of another origin (its Origin header) than this gateway's.

    A WebSocket is not held to the same-origin policy: without this, any web page an operator
    visits could open the gateway's event stream with the browser's access to it. Clients
    that are not browsers send no Origin and are not affected."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return
    if origin.rstrip("/") in allowed or _same_host(origin, environ.get("HTTP_HOST") or ""):
        return
    raise Forbidden("A WebSocket from another origin: add it to WS_ORIGINS to allow it",
                    details={"origin": origin[:200]})


def _same_host(origin: str, host: str) -> bool:
    try:
        page, here = urllib.parse.urlsplit(origin), urllib.parse.urlsplit("//" + host)
        # nginx passes `Host: $host`, without the port: then the names decide.
        return bool(here.hostname) and page.hostname == here.hostname and (
            here.port is None or here.port == (page.port or {"http": 80, "https": 443}.get(
                page.scheme)))
    except ValueError:
        return False


class _Upgraded(Response):
    """What the view returns once the socket is the WebSocket's: the server must not answer."""

    def __init__(self, mode: str):
        super().__init__(status=101)
        self.mode = mode

    def __call__(self, environ, start_response):
        # As flask-sock does: gunicorn takes StopIteration as "close the connection", werkzeug
        # takes ConnectionError as a dropped client; neither writes on the upgraded socket.
        if self.mode == "gunicorn":
            raise StopIteration()
        if self.mode == "werkzeug":
            raise ConnectionError()
        return []


class EventSocket:
    """One client: this (request) thread reads the outbox; a writer thread owns the socket.

    The writer is the only thread that sends data frames, pings and the close frame, so frames
    never interleave; simple-websocket's reader thread answers the client's pings and close.
    """

    def __init__(self, hub, environ: dict):
        self.hub = hub
        self.limit = hub.config["WS_SEND_BUFFER"]
        self.ping_interval = hub.config["WS_PING_INTERVAL"]
        number = next(_numbers)
        reader = functools.partial(threading.Thread, name=f"wa-ws-read-{number}", daemon=True)
        self.ws = Server(environ, max_message_size=MAX_CLIENT_FRAME, thread_class=reader)
        self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER)
        self.pending: deque[str] = deque()
        self.ready = threading.Condition()
        self.close_with: tuple[int, str] | None = None  # sent once `pending` is empty
        self.quit = False  # the client is gone: stop without a close frame
        self.finished = threading.Event()
        self.writer = threading.Thread(target=self._write, daemon=True,
                                       name=f"wa-ws-send-{number}")

    def run(self, read, after: int, resume, visible) -> None:
        """Stream until the client leaves, falls behind, or the hub closes."""
        hub = self.hub
        hub.sockets.add(self)
        try:
            after = self._hello(after, resume)
            self.writer.start()
            if self.close_with is None and not self.quit:
                self._pump(read, after, visible)
            self._finish()
        finally:
            hub.sockets.discard(self)

    def _hello(self, after: int, resume) -> int:
        try:
            frame = self.ws.receive(timeout=HELLO_WAIT)
        except ConnectionClosed:
            self.quit = True
            return after
        if frame is None:
            return after
        try:
            hello = json.loads(frame)
        except ValueError:
            hello = None
        last_id = hello.get("lastEventId") if isinstance(hello, dict) else 0
        if not isinstance(last_id, (str, type(None))):
            self.close_with = (CLOSE_BAD_FRAME,
                               'The first frame must be {"lastEventId": "evt_…"} or {}')
            return after
        if not last_id:
            return after
        try:
            return resume(last_id)
        except ValidationError as e:
            self.close_with = (CLOSE_UNKNOWN_EVENT, e.message)
            return after

    def _pump(self, read, after: int, visible) -> None:
        def page(after: int) -> list[dict]:
            # Read no more than the buffer has room for: a resume of any length streams at the
            # client's pace, while the outbox (durable) holds the rest.
            room = self._room()
            return read(after)[:room] if room else []

        # `idle` bounds how late a client that left (or a failed writer) is noticed.
        for rows in self.hub.follow(page, after, visible, idle=1.0):
            if self.close_with is not None:
                return
            if self.finished.is_set() or not self.ws.connected:
                self.quit = True
                return
            self._drain_input()
            with self.ready:
                self.pending.extend(row["body"] for row in rows)
                self.ready.notify_all()
        self._close(CLOSE_GOING_AWAY, "The server is shutting down: reconnect with lastEventId")

    def _room(self) -> int:
        """Free places in the send buffer; 0 (and closing 4008) if it stayed full SLOW_WAIT."""
        with self.ready:
            if self.ready.wait_for(lambda: len(self.pending) < self.limit or self.quit, SLOW_WAIT):
                return self.limit - len(self.pending)
            if self.hub.closing.is_set():
                return 0  # stopping anyway: close 1001, not 4008
            log.warning("closing a WebSocket client that took no event in %.0f s with %d waiting",
                        SLOW_WAIT, len(self.pending))
            self.pending.clear()  # the client resumes from the last event it got
            self.close_with = (CLOSE_SLOW_CONSUMER,
                               f"Slow consumer: {self.limit} events unsent for {SLOW_WAIT:.0f} s")
            self.ready.notify_all()
            return 0

    def _close(self, code: int, reason: str) -> None:
        with self.ready:
            self.close_with = self.close_with or (code, reason)
            self.ready.notify_all()

    def _drain_input(self) -> None:
        # Frames after the first mean nothing; read them so they do not pile up.
        try:
            while self.ws.receive(timeout=0) is not None:
                pass
        except ConnectionClosed:
            self.quit = True

    def _finish(self) -> None:
        with self.ready:
            if self.quit:
                self.pending.clear()
            self.ready.notify_all()
        if not self.finished.wait(CLOSE_WAIT):
            # The writer is stuck in send() to a client that stopped reading: unblock it.
            log.warning("WebSocket client did not take its close frame in %.0f s", CLOSE_WAIT)
            self._shut()
            self.finished.wait(CLOSE_WAIT)
        # Wait for the client's answering close frame, so its unread data is not reset away.
        self.ws.thread.join(CLOSE_WAIT)
        if self.ws.thread.is_alive():
            self._shut()

    def _shut(self) -> None:
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the client or simple-websocket

    def _next(self, deadline: float) -> list[str] | tuple[int, str] | None:
        """The next frames to send, the close to send, or None when a ping is due."""
        with self.ready:
            while not self.pending and self.close_with is None and not self.quit:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.ready.wait(left)
            if self.pending:
                self.ready.notify_all()  # room for the pump
                return [self.pending.popleft() for _ in range(min(len(self.pending), BATCH))]
            return self.close_with if not self.quit else (0, "")

    def _write(self) -> None:
        ws = self.ws
        deadline = time.monotonic() + self.ping_interval
        try:
            while True:
                item = self._next(deadline)
                if isinstance(item, list):
                    # One write for a batch of frames: a resume is not a syscall per event.
                    ws.sock.sendall(b"".join(ws.ws.send(TextMessage(data=text)) for text in item))
                elif item is None:
                    if not ws.pong_received:
                        with self.ready:
                            self.pending.clear()
                            self.close_with = self.close_with or (CLOSE_PING_TIMEOUT,
                                                                  "Ping timeout")
                        continue
                    # simple-websocket's own pinger writes from its reader thread: pinging here
                    # keeps one writer, so a ping never lands inside a half-sent frame.
                    ws.pong_received = False
                    ws.sock.send(ws.ws.send(Ping()))
                    deadline = time.monotonic() + self.ping_interval
                else:
                    code, reason = item
                    if code and ws.connected:
                        # A close frame's reason is at most 123 bytes of UTF-8.
                        ws.close(code, reason.encode()[:123].decode(errors="ignore"))
                    return
        except (ConnectionClosed, LocalProtocolError, OSError):  # the client closed first
            self.quit = True
        finally:
            self.finished.set()
