"""Event channels: the page calls into the gateway when it has something, instead of being polled.

Each browser gets one DevTools WebSocket (CDP): attached to its page, `Runtime.addBinding`
puts `window.__waengineNotify` into every document, bridge.js calls it with the events it
queued (or "state" when login state moved), and Chrome sends `Runtime.bindingCalled` here.
One I/O thread reads the sockets of all sessions (selectors), so 100 idle sessions cost no
round trips at all, where polling reads each page four times a second through chromedriver.

The address comes from the WebDriver session: `se:cdp` on a Selenium Grid 4 (a WebSocket
through its router), else chromedriver's `goog:chromeOptions.debuggerAddress`.
websocket-client is the client: selenium already depends on it, it is synchronous, and its
`sock` can be handed to a selector, so all channels share one thread and no event loop.
"""

from __future__ import annotations

import itertools
import json
import logging
import selectors
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable

import websocket

log = logging.getLogger(__name__)
BINDING = "__waengineNotify"
_CONNECT_TIMEOUT = 10.0
# A frame whose first bytes arrived is complete within this (Chrome writes whole frames).
_READ_TIMEOUT = 5.0


class ChannelError(Exception):
    """The DevTools endpoint could not be reached or refused a command."""


def devtools_url(capabilities: dict) -> str:
    """The browser-level DevTools WebSocket of a WebDriver session."""
    if capabilities.get("se:cdp"):
        return capabilities["se:cdp"]
    address = (capabilities.get("goog:chromeOptions") or {}).get("debuggerAddress")
    if not address:
        raise ChannelError("the WebDriver session names no DevTools address")
    try:
        with urllib.request.urlopen(f"http://{address}/json/version", timeout=5) as resp:
            return json.load(resp)["webSocketDebuggerUrl"]
    except (OSError, ValueError, KeyError) as e:
        raise ChannelError(f"DevTools at {address} did not answer: {e}") from e


class Channel:
    """One browser's DevTools connection, attached to its page, with the binding installed."""

    def __init__(self, name: str, url: str, on_notify: Callable[[str], None]):
        self.name = name
        self.on_notify = on_notify
        self.closed = False
        self.sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        try:
            self.ws = websocket.create_connection(url, timeout=_CONNECT_TIMEOUT,
                                                  suppress_origin=True, enable_multithread=True)
        except (OSError, websocket.WebSocketException) as e:
            raise ChannelError(f"cannot connect to {url}: {e}") from e
        try:
            self.session_id = self._attach()
        except BaseException:
            self.ws.close()
            raise
        self.ws.settimeout(_READ_TIMEOUT)

    def _command(self, method: str, params: dict | None = None,
                 session_id: str | None = None) -> dict:
        """Send and wait for the answer (only while setting up, before the I/O thread reads)."""
        ident = self.send(method, params, session_id)
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except (OSError, ValueError, websocket.WebSocketException) as e:
                raise ChannelError(f"{method}: {e}") from e
            if msg.get("id") == ident:
                if "error" in msg:
                    raise ChannelError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result") or {}

    def _attach(self) -> str:
        targets = self._command("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise ChannelError("the browser has no page")
        session = self._command("Target.attachToTarget",
                                {"targetId": pages[0]["targetId"], "flatten": True})["sessionId"]
        # Bindings are installed only in contexts Runtime inspects, so Runtime stays enabled.
        self._command("Runtime.enable", session_id=session)
        self._command("Runtime.addBinding", {"name": BINDING}, session_id=session)
        return session

    def send(self, method: str, params: dict | None = None,
             session_id: str | None = None) -> int:
        """Send a command without waiting for its answer; return its id."""
        ident = next(self._ids)
        msg = {"id": ident, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        with self._send_lock:
            self.ws.send(json.dumps(msg))
        return ident

    def evaluate(self, expression: str) -> None:
        """Run a line of JavaScript in the page (fire and forget: the page's answer is ignored)."""
        try:
            self.send("Runtime.evaluate", {"expression": expression}, self.session_id)
        except (OSError, websocket.WebSocketException) as e:
            log.debug("channel %s: evaluate failed: %s", self.name, e)

    def read(self) -> bool:
        """Read one message (the socket is readable); False when the connection is gone."""
        try:
            raw = self.ws.recv()
        except (OSError, websocket.WebSocketException) as e:
            log.debug("channel %s closed: %s", self.name, e)
            return False
        if not raw:
            return False
        # Most traffic is Runtime's own chatter (contexts, console): skip it without parsing.
        if "Runtime.bindingCalled" in raw:
            msg = json.loads(raw)
            params = msg.get("params") or {}
            if msg.get("method") == "Runtime.bindingCalled" and params.get("name") == BINDING:
                try:
                    self.on_notify(params.get("payload") or "")
                except Exception:
                    log.exception("channel %s: notification handler failed", self.name)
        return True

    def pending(self) -> bool:
        """True when TLS already holds decrypted bytes a selector cannot see (wss://)."""
        sock = self.ws.sock
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def close(self) -> None:
        self.closed = True
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass


class ChannelHub:
    """The one I/O thread reading every session's channel."""

    def __init__(self):
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self._changes: list[tuple[str, Channel]] = []
        self._thread = threading.Thread(target=self._loop, name="wa-event-channels", daemon=True)
        self._thread.start()

    def open(self, name: str, url: str, on_notify: Callable[[str], None]) -> Channel:
        """Connect and set up on the caller's thread, then hand the socket to the I/O thread."""
        channel = Channel(name, url, on_notify)
        self._change("add", channel)
        return channel

    def adopt(self, channel: Channel) -> Channel:
        """Have the I/O thread read a channel set up elsewhere (e.g. engine/proxy.py's)."""
        self._change("add", channel)
        return channel

    def close(self, channel: Channel) -> None:
        channel.closed = True
        self._change("remove", channel)

    def _change(self, op: str, channel: Channel) -> None:
        with self._lock:
            self._changes.append((op, channel))
        self._waker_w.send(b"x")

    def _apply_changes(self) -> None:
        try:
            while self._waker_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            changes, self._changes = self._changes, []
        for op, channel in changes:
            if op == "add" and not channel.closed:
                channel.sock = channel.ws.sock  # kept: close() drops ws.sock before unregister
                self._selector.register(channel.sock, selectors.EVENT_READ, channel)
            elif op == "remove":
                self._drop(channel)

    def _drop(self, channel: Channel) -> None:
        try:
            self._selector.unregister(channel.sock)
        except (KeyError, ValueError):
            pass
        lost = not channel.closed
        channel.close()
        if lost:  # the browser died or the link broke: its worker looks now, not at the next poll
            try:
                channel.on_notify("state")
            except Exception:
                log.exception("channel %s: close handler failed", channel.name)

    def _loop(self) -> None:
        while True:
            try:
                self._turn()
            except Exception:  # never let one bad socket end every session's notifications
                log.exception("event channel loop failed; continuing")

    def _turn(self) -> None:
        for key, _ in self._selector.select():
            channel = key.data
            if channel is None:
                self._apply_changes()
                continue
            alive = channel.read()
            while alive and channel.pending():
                alive = channel.read()
            if not alive:
                self._drop(channel)


_hub: ChannelHub | None = None
_hub_lock = threading.Lock()


def hub() -> ChannelHub:
    """The process's hub, started on first use (gunicorn forks workers: each starts its own)."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = ChannelHub()
        return _hub
