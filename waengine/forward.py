"""Any node answers any request (cluster mode): a command for a session another node owns is
forwarded to that node's NODE_URL, and its answer is the answer.

Between nodes a request is authenticated by CLUSTER_SECRET, never by the client's key (the
node the client reached checked that key and the key's scope): the header X-WAEngine-Cluster
carries a timestamp, a nonce and an HMAC-SHA256 over them, the method, the path with its query
and the body. A node refuses (401) a signature that is wrong, older than SIGNATURE_MAX_AGE
seconds, or whose nonce it has seen. Without CLUSTER_SECRET nothing is forwarded.

Event reads (`/events`, the SSE and WebSocket streams, webhook deliveries) are not forwarded:
every node serves them from the shared outbox. A session between owners (its lease moving, its
owner not answering) is 503 session_moving with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time

import requests
from flask import Response, g, request

from .errors import Forbidden, ForwardTimeout, LeaseLost, Unauthorized

log = logging.getLogger(__name__)

HEADER = "X-WAEngine-Cluster"
# A signed request may ask the node for its own part only (GET /sessions, /performance).
LOCAL_HEADER = "X-WAEngine-Local"
SIGNATURE_MAX_AGE = 30.0
CONNECT_TIMEOUT = 2.0
# Served from the shared outbox on any node: never forwarded.
EVENT_READS = re.compile(
    r"^/sessions/[^/]+/(events(/recent)?|ws|webhook/deliveries(/[^/]+/retry)?)$")
# Commands that may act on a session no node runs (start it here, look at it, delete it).
LIFECYCLE = re.compile(r"^/sessions/[^/]+(/start|/move)?$")
# Headers a forward carries (the client's key never leaves the node it reached).
PASSED = ("Content-Type", "Accept", "Accept-Encoding", "Idempotency-Key", "X-Request-Id",
          "If-None-Match", "Cache-Control")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "content-length",
              "date", "server"}  # the last two: the answering server writes its own


def sign(secret: str, method: str, path: str, body: bytes, ts: float | None = None,
         nonce: str | None = None) -> str:
    """The X-WAEngine-Cluster header value of a request."""
    ts = f"{time.time() if ts is None else ts:.3f}"
    nonce = nonce or os.urandom(12).hex()
    return f"t={ts},n={nonce},s={_mac(secret, ts, nonce, method, path, body)}"


def _mac(secret: str, ts: str, nonce: str, method: str, path: str, body: bytes) -> str:
    head = f"{ts}\n{nonce}\n{method.upper()}\n{path}\n".encode()
    return hmac.new(secret.encode(), head + body, hashlib.sha256).hexdigest()


class Verifier:
    """Checks signed requests; remembers the nonces of the last SIGNATURE_MAX_AGE seconds."""

    def __init__(self, secret: str, clock=time.time):
        self.secret = secret
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, header: str, method: str, path: str, body: bytes) -> str | None:
        """None when the signature holds; otherwise why it is refused."""
        try:
            parts = dict(p.split("=", 1) for p in header.split(","))
            ts, nonce, mac = parts["t"], parts["n"], parts["s"]
            age = self.clock() - float(ts)
        except (KeyError, ValueError):
            return "malformed"
        if abs(age) > SIGNATURE_MAX_AGE:
            return "stale"
        if not hmac.compare_digest(mac, _mac(self.secret, ts, nonce, method, path, body)):
            return "bad_signature"
        now = self.clock()
        with self._lock:
            if nonce in self._seen:
                return "replayed"
            if len(self._seen) > 10000:
                self._seen = {n: t for n, t in self._seen.items()
                              if t > now - 2 * SIGNATURE_MAX_AGE}
            self._seen[nonce] = now
        return None


def signed_path() -> str:
    """The path and query a signature covers, as the request line carries them."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def verified() -> bool:
    """Whether this request came from another node of the cluster (signature checked once;
    401 for a header that does not hold)."""
    if "waengine_forwarded" in g:
        return g.waengine_forwarded
    header = request.headers.get(HEADER)
    verifier = _verifier()
    if header is None or verifier is None:
        g.waengine_forwarded = False
        return False
    why = verifier.check(header, request.method, signed_path(), request.get_data(cache=True))
    if why:
        raise Unauthorized("The cluster signature of this request does not hold",
                           details={"reason": f"cluster_{why}"})
    g.waengine_forwarded = True
    return True


def local_only() -> bool:
    """A signed request for this node's own part of a cluster-wide list."""
    return verified() and request.headers.get(LOCAL_HEADER) == "1"


def _verifier() -> Verifier | None:
    from flask import current_app

    return current_app.extensions.get("waengine.cluster_verifier")


class Forwarder:
    """Sends a request to another node, signed; one pooled HTTP client per thread."""

    def __init__(self, secret: str, read_timeout: float):
        self.secret = secret
        self.read_timeout = read_timeout
        self._local = threading.local()

    def _client(self) -> requests.Session:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = requests.Session()
            client.trust_env = False  # a node's URL is reached directly, never via a proxy
        return client

    def request(self, base_url: str, method: str, path: str, body: bytes = b"",
             headers: dict | None = None, read_timeout: float | None = None) -> requests.Response:
        """The owner's answer (body not decoded); LeaseLost (503 session_moving) when it
        cannot be reached, ForwardTimeout when it took the request and did not answer."""
        sent = {**(headers or {}), HEADER: sign(self.secret, method, path, body)}
        try:
            return self._client().request(
                method, base_url.rstrip("/") + path, data=body, headers=sent, stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, read_timeout or self.read_timeout))
        except requests.ConnectTimeout as e:
            raise LeaseLost("The node that owns the session does not answer",
                            details={"node": base_url, "error": type(e).__name__}) from None
        except requests.ReadTimeout:
            raise ForwardTimeout(details={"node": base_url}) from None
        except requests.ConnectionError as e:
            raise LeaseLost("The node that owns the session does not answer",
                            details={"node": base_url, "error": type(e).__name__}) from None

    def relay(self, base_url: str) -> Response:
        """Forward the current request as it came (minus the client's credentials)."""
        headers = {k: v for k, v in request.headers.items() if k in PASSED}
        headers.setdefault("Accept-Encoding", "identity")  # what the client takes, no more
        if g.get("request_id"):  # both nodes' log lines of the request carry one id
            headers["X-Request-Id"] = g.request_id
        headers["X-Forwarded-For"] = request.remote_addr or ""
        answer = self.request(base_url, request.method, signed_path(),
                           request.get_data(cache=True), headers)
        body = answer.raw.read(decode_content=False)
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
        response = Response(body, status=answer.status_code, headers=kept)
        response.direct_passthrough = True  # already encoded by the owner: not compressed again
        return response


def init_app(app) -> None:
    """The one place a request is forwarded: a hook before every view, after auth and the
    request checks (the node the client reached answers 401/403/422 itself)."""
    secret = app.config.get("CLUSTER_SECRET") or ""
    if not secret:
        return
    app.extensions["waengine.cluster_verifier"] = Verifier(secret)

    @app.before_request
    def forward_to_owner():
        engine = app.extensions["waengine"]
        if request.method == "POST" and request.path == "/sessions" and not verified():
            url = engine.create_target()  # a new session goes where there is most room
            if url is None:
                return None
            body = request.get_json(silent=True)
            new_id = body.get("id") if isinstance(body, dict) else None
            key = g.get("api_key")  # the key's scope, checked where the key is known
            if isinstance(new_id, str) and key is not None and not key.allows(new_id):
                raise Forbidden(details={"session": new_id})
            return engine.forwarder.relay(url)
        session_id = (request.view_args or {}).get("session_id")
        if session_id is None or EVENT_READS.match(request.path):
            return None
        url = engine.owner_url(session_id, forwarded=verified(),
                               lifecycle=bool(LIFECYCLE.match(request.path)))
        if url is None:
            return None
        return engine.forwarder.relay(url)
