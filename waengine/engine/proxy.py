"""A session's proxy: parsing and redacting its URL, answering its authentication, and telling
a page that did not load (a network error) from a browser that did not start.

Chromium takes the proxy's address on its command line (`--proxy-server`, flags.py) but never
its password: that is answered over the DevTools protocol. `Fetch.enable` with
`handleAuthRequests` makes Chromium ask (`Fetch.authRequired`) instead of failing; it refuses
an empty `patterns` list ("Can't specify empty patterns with handleAuth set", measured on
Chromium 156), and a Response-stage pattern never sees the proxy's 407, so every request is
paused at the Request stage and continued at once from the channel I/O thread (one round trip
per request; WhatsApp Web makes few once loaded: it talks over one WebSocket).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from . import channel as channels

log = logging.getLogger(__name__)
SCHEMES = ("http", "https", "socks5")
# Chromium's net errors that mean the proxy, not WhatsApp Web, could not be reached.
_PROXY_DOWN = {"ERR_PROXY_CONNECTION_FAILED", "ERR_TUNNEL_CONNECTION_FAILED",
               "ERR_SOCKS_CONNECTION_FAILED", "ERR_SOCKS_CONNECTION_HOST_UNREACHABLE",
               "ERR_PROXY_CERTIFICATE_INVALID", "ERR_MANDATORY_PROXY_CONFIGURATION_FAILED"}
_PROXY_AUTH = {"ERR_PROXY_AUTH_REQUESTED", "ERR_PROXY_AUTH_UNSUPPORTED",
               "ERR_PROXY_AUTH_REQUESTED_WITH_NO_CONNECTION"}
NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")


class ProxyError(ValueError):
    """The proxy URL cannot be used; the message says why (for a 422)."""


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def server(self) -> str:
        """What Chromium's --proxy-server gets: no credentials, ever."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def redacted(self) -> str:
        if self.username is None:
            return self.server
        return self.server.replace("://", f"://{self.username}:***@", 1)


def parse_proxy(url: str) -> Proxy:
    """Parse `scheme://[user:password@]host:port`; ProxyError says what is wrong."""
    if not isinstance(url, str) or len(url) > 2048 or any(c.isspace() for c in url):
        raise ProxyError("Not a proxy URL (scheme://[user:password@]host:port).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ProxyError("Not a proxy URL (scheme://[user:password@]host:port).") from None
    if parts.scheme not in SCHEMES:
        raise ProxyError(f"Proxy scheme must be one of {', '.join(SCHEMES)}.")
    if not parts.hostname or port is None or port == 0:
        raise ProxyError("A proxy URL needs a host and a port (scheme://host:port).")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyError("A proxy URL has no path, query or fragment.")
    if not re.fullmatch(r"[A-Za-z0-9.\-:]+", parts.hostname):
        raise ProxyError("Not a proxy host name or address.")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and (not username or password is None):
        raise ProxyError("Give proxy credentials as user:password@.")
    if username is not None and parts.scheme == "socks5":
        # Chromium's SOCKS5 client has no username/password authentication.
        raise ProxyError("Chromium cannot authenticate to a SOCKS5 proxy: use an http:// or "
                         "https:// proxy for user:password, or a SOCKS5 proxy without it.")
    return Proxy(parts.scheme, parts.hostname, port, username, password)


def redact_proxy(url: str | None) -> str | None:
    """The proxy URL as responses and logs show it: `http://user:***@host:port`."""
    if not url:
        return None
    try:
        return parse_proxy(url).redacted
    except ProxyError:
        return "***"


def failure_reason(error: str, proxied: bool) -> str:
    """The session status reason a page-load network error means."""
    if error in _PROXY_AUTH:
        return "proxy_auth_failed"
    if proxied and error in _PROXY_DOWN:
        return "proxy_unreachable"
    return "wa_unreachable"


class ProxyAuthChannel(channels.Channel):
    """A DevTools connection to the browser's page that answers its proxy's 407 challenges.

    The first challenge of a request gets the credentials; a second one for the same request
    means the proxy refused them: it is cancelled (Chromium would ask for ever) and
    `rejected` is set, so the page load is reported as `proxy_auth_failed`. Without
    credentials the first challenge is refused so: Chromium alone would show a blank error
    page with no error code, which reads as WhatsApp Web being unreachable.
    """

    def __init__(self, name: str, url: str, proxy: Proxy):
        self.proxy = proxy
        self.rejected = False
        self._answered: set[str] = set()
        super().__init__(name, url, lambda _payload: None)

    def _attach(self) -> str:
        targets = self._command("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise channels.ChannelError("the browser has no page")
        session = self._command("Target.attachToTarget",
                                {"targetId": pages[0]["targetId"], "flatten": True})["sessionId"]
        self._command("Fetch.enable", {"handleAuthRequests": True,
                                       "patterns": [{"urlPattern": "*",
                                                     "requestStage": "Request"}]},
                      session_id=session)
        return session

    def read(self) -> bool:
        try:
            raw = self.ws.recv()
        except (OSError, channels.websocket.WebSocketException) as e:
            log.debug("channel %s closed: %s", self.name, e)
            return False
        if not raw:
            return False
        if '"Fetch.' in raw:
            msg = json.loads(raw)
            method, params = msg.get("method"), msg.get("params") or {}
            if method == "Fetch.requestPaused":
                self.send("Fetch.continueRequest", {"requestId": params["requestId"]},
                          self.session_id)
            elif method == "Fetch.authRequired":
                self._answer(params)
        return True

    def _answer(self, params: dict) -> None:
        request_id = params["requestId"]
        challenge = params.get("authChallenge") or {}
        if challenge.get("source") != "Proxy":
            response = {"response": "Default"}  # a site's own login: not ours to answer
        elif request_id in self._answered or self.proxy.username is None:
            self.rejected = True
            log.warning("channel %s: proxy %s refused the credentials", self.name,
                        self.proxy.redacted)
            response = {"response": "CancelAuth"}
        else:
            self._answered.add(request_id)
            response = {"response": "ProvideCredentials", "username": self.proxy.username,
                        "password": self.proxy.password}
        self.send("Fetch.continueWithAuth",
                  {"requestId": request_id, "authChallengeResponse": response}, self.session_id)
