"""Events: what the engine sees becomes API events in the outbox, for webhooks, sinks and SSE."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator

from ..errors import ServiceUnavailable, TooManyRequests, ValidationError
from ..shapes import ack_name, message, outgoing_view
from ..store import Store, iso_utc
from . import sinks
from .history import MessageHistory
from .listen import OutboxListener
from .outbox import EVENT_TYPES, EventOutbox
from .sinks.sender import SinkSender
from .webhooks import WebhookSender

log = logging.getLogger(__name__)


class EventHub:
    def __init__(self, store: Store, config: dict):
        self.config = config
        self.outbox = EventOutbox(store)
        self.history = MessageHistory(store, config)
        self.sender = WebhookSender(self.outbox, config)
        self.sink_sender = SinkSender(self.outbox, config)
        self.sink_sender.url_for = self.sink_url
        # session id -> the Session (its options hold its sinks); the wiring sets it.
        self.session_of: Callable[[str], object | None] = lambda session_id: None
        # SSE streams and WebSockets together: each holds a gthread worker thread.
        self.streams = threading.BoundedSemaphore(config["SSE_MAX_STREAMS"])
        # Streams of scoped keys (tenants): per key, and all together, so that no tenant can
        # take every place and SSE_ADMIN_STREAMS stay for admin keys (docs/security.md).
        total = int(config["SSE_MAX_STREAMS"])
        self.tenant_places = total - int(config.get("SSE_ADMIN_STREAMS", 0) or 0)
        self.per_key = int(config.get("SSE_STREAMS_PER_KEY", total) or total)
        self.tenant_streams: Counter = Counter()
        self._places = threading.Lock()
        # Set when the engine stops (or gunicorn's SIGTERM arrives): open streams end now, so
        # a graceful stop does not wait graceful_timeout for clients that never leave.
        self.closing = threading.Event()
        self.sockets: set = set()  # open WebSocket connections (events/websocket.py)
        # PostgreSQL: other nodes' commits wake this node's streams (events/listen.py).
        self.listener = OutboxListener(self.outbox, store.url) \
            if getattr(store, "backend", "") == "postgresql" else None

    def start(self) -> None:
        self.closing.clear()
        if self.listener is not None:
            self.listener.start()
        self.sender.start()
        self.sink_sender.start()

    def close_streams(self) -> None:
        """End every open event stream (SSE, WebSocket) now; new ones are refused (503).

        Safe from a signal handler: it sets a flag and notifies, never blocks for long."""
        self.closing.set()
        self.outbox.wake()

    def stop(self) -> None:
        self.close_streams()
        if self.listener is not None:
            self.listener.stop()
        self.sender.stop()
        self.sink_sender.stop()

    def webhooks_for(self, session, type_: str) -> list[dict]:
        """The session's own webhook, else the global default, if it wants this event type."""
        hook = (session.options or {}).get("webhook")
        if not hook and self.config["WEBHOOK_URL"]:
            hook = {"url": self.config["WEBHOOK_URL"], "secret": self.config["WEBHOOK_SECRET"],
                    "events": self.config["WEBHOOK_EVENTS"]}
        if not hook or (hook.get("events") and type_ not in hook["events"]):
            return []
        return [hook]

    def sinks_of(self, session) -> list[dict]:
        """The gateway-wide sinks (SINKS) and the session's own: every one gets its events."""
        own = (session.options or {}).get("sinks") if session is not None else None
        return [*(self.config.get("SINKS") or ()), *(own or ())]

    def sinks_for(self, session, type_: str) -> list[dict]:
        """The sinks that want this event type, as deliveries name them (secrets masked)."""
        return [{"url": sinks.key(sink["url"])} for sink in self.sinks_of(session)
                if not sink.get("events") or type_ in sink["events"]]

    def sink_url(self, session_id: str, key: str) -> str | None:
        """The URL (with its secrets) of the session's sink whose deliveries are named `key`."""
        for sink in self.sinks_of(self.session_of(session_id)):
            if sinks.key(sink["url"]) == key:
                return sink["url"]
        return None

    def secret(self, session, url: str) -> str | None:
        """The secret of the hook (the session's own, else the global one) that has this URL."""
        for hook in ((session.options or {}).get("webhook") if session else None,
                     {"url": self.config["WEBHOOK_URL"], "secret": self.config["WEBHOOK_SECRET"]}):
            if hook and hook.get("url") == url:
                return hook.get("secret") or None
        return None

    def resume_point(self, last_event_id: str | None, tail: int | None = None,
                     among: list[str] | None = None, session: str | None = None) -> int:
        """The outbox sequence a stream starts after: Last-Event-ID, the last `tail`, or now.

        session: a one-session stream, where another session's event id is unknown (it could
        not have sent it); the all-sessions stream resumes from any event id."""
        if not last_event_id:
            return self.outbox.seq_before_last(among, tail) if tail else self.outbox.last_seq
        after = self.outbox.seq_of(last_event_id, [session] if session else None)
        if after is None:
            raise ValidationError(f"Unknown Last-Event-ID {last_event_id!r}",
                                  details={"field": "Last-Event-ID"})
        return after

    def stream(self, read: Callable[[int], list[dict]], after: int,
               visible: Callable[[dict], bool] = lambda row: True, key=None) -> Iterator[str]:
        """Server-Sent Events of the visible rows read(after_seq) returns, as text chunks.

        Checks shutdown (503) and the stream cap (429) first, so the caller can still answer
        with an error; the stream then runs until the client goes away or the gateway shuts
        down (a final `shutdown` event).
        """
        self.open_stream(key)
        return self._stream(read, after, visible, key)

    def open_stream(self, key=None) -> None:
        """Take a place among the SSE_MAX_STREAMS open streams (429 if none); release() it.

        key: the request's ApiKey (None: auth is off). A scoped key is also held to
        SSE_STREAMS_PER_KEY and kept out of the SSE_ADMIN_STREAMS reserved places."""
        if self.closing.is_set():
            raise ServiceUnavailable("The gateway is shutting down", headers={"Retry-After": "2"})
        tenant = key.number if key is not None and key.scope is not None else None
        with self._places:
            if tenant is not None:
                if self.tenant_streams[tenant] >= self.per_key:
                    raise TooManyRequests(f"This API key has {self.per_key} event stream(s) open, "
                                          "its most", details={"limit": self.per_key},
                                          headers={"Retry-After": "5"})
                if sum(self.tenant_streams.values()) >= self.tenant_places:
                    raise TooManyRequests("Every event stream place open to scoped keys is taken",
                                          headers={"Retry-After": "5"})
            # Each stream holds a gthread worker thread: cap them so API calls always find one.
            if not self.streams.acquire(blocking=False):
                raise TooManyRequests("Too many event streams are open",
                                      headers={"Retry-After": "5"})
            if tenant is not None:
                self.tenant_streams[tenant] += 1

    def release(self, key=None) -> None:
        with self._places:
            self.streams.release()
            if key is not None and key.scope is not None:
                self.tenant_streams[key.number] -= 1
                if self.tenant_streams[key.number] <= 0:
                    del self.tenant_streams[key.number]

    def _stream(self, read, after: int, visible, key=None) -> Iterator[str]:
        try:
            yield "retry: 2000\n\n"
            for rows in self.follow(read, after, visible, self.config["SSE_KEEPALIVE"]):
                for row in rows:
                    yield f"id: {row['id']}\nevent: {row['type']}\ndata: {row['body']}\n\n"
                if not rows:
                    yield ": keepalive\n\n"  # also how a closed client is noticed
            # Shutting down: say so, so the client reconnects (Last-Event-ID) elsewhere or later.
            yield 'event: shutdown\ndata: {"reason":"shutdown","retryAfter":2}\n\n'
        finally:
            self.release(key)

    def follow(self, read: Callable[[int], list[dict]], after: int,
               visible: Callable[[dict], bool], idle: float) -> Iterator[list[dict]]:
        """The visible rows read(after_seq) returns, batch by batch as they are stored.

        Yields [] after `idle` quiet seconds (time for a keepalive, or to check the client),
        and ends when the hub closes. Shared by the SSE and WebSocket streams.
        """
        outbox = self.outbox
        while not self.closing.is_set():
            seen = outbox.last_seq
            rows = read(after)
            if rows:
                after = rows[-1]["seq"]
                shown = [row for row in rows if visible(row)]
                if shown:
                    yield shown
            elif not self._wait(seen, idle):
                yield []

    def _wait(self, seen: int, timeout: float) -> bool:
        """Block until an event newer than `seen` is stored or the hub closes (True), or timeout."""
        with self.outbox.changed:
            return self.outbox.changed.wait_for(
                lambda: self.outbox.last_seq > seen or self.closing.is_set(), timeout)

    def publish(self, session, kind: str, data: dict) -> None:
        """The engine's event callback: translate, dedupe, commit (before the page is acked),
        then keep what it says about a message in the history (idempotent: a redelivered
        event finds its row)."""
        for type_, payload, dedupe in translate(kind, data):
            self.outbox.add(session.id, type_, payload, dedupe,
                            self.webhooks_for(session, type_) + self.sinks_for(session, type_))
        self.history.record(session, kind, data)


def translate(kind: str, data: dict) -> list[tuple[str, dict, str | None]]:
    """Engine/page events as (API event type, data, dedupe key) triples; [] for internal ones."""
    if kind == "message":
        msg = message(data)
        if data.get("catchUp"):
            msg["catchUp"] = True  # read from history after a reconnect (engine/catchup.py)
        return [("message", msg, f"message:{msg['id']}")]
    if kind == "message.ack":
        if not isinstance(data.get("ack"), int) or data["ack"] < 1:
            return []  # a failed send is a message.status event, never an ack
        ack, by = ack_name(data.get("ack")), data.get("sender")
        # A group's receipts come one per member: each is an event (`by` says whose).
        # `byIds`: the receipt's person by phone id and @lid, where known (engine/identities.py)
        extra = {"byIds": data["byIds"]} if data.get("byIds") else {}
        return [("message.ack", {"id": mid, "chatId": data.get("chatId"), "ack": ack, "by": by,
                                 **extra},
                 f"ack:{mid}:{ack}" + (f":{by}" if by else ""))
                for mid in data.get("ids") or ()]
    if kind == "message.revoked":
        return [("message.revoked", data, f"revoked:{data.get('id')}")]
    if kind == "message.edited":  # the new text: an edit by this account or by the sender
        msg = {**message(data), "editedAt": data.get("editedAt")}
        return [("message.edited", msg, f"edited:{msg['id']}:{msg['editedAt']}:{msg['body']}")]
    if kind == "poll.vote":  # a vote replaces the voter's previous one: each is an event
        key = f"vote:{data.get('messageId')}:{data.get('voter')}:{data.get('timestamp')}"
        return [("poll.vote", data, key)]
    if kind == "status.posted":  # someone's status (story): never a `message`
        post = message(data)
        return [("status.posted", post, f"status:{post['id']}")]
    if kind == "channel.message":  # a post in a channel the account follows: never a `message`
        post = message(data)
        return [("channel.message", post, f"channel:{post['id']}")]
    if kind == "group.notification":  # gp2: members added/removed, subject changed...
        note = {**message(data), "subtype": data.get("subtype"),
                "participants": list(data.get("recipients") or ())}
        return [("group.notification", note, f"gp2:{note['id']}")]
    if kind == "message.undecryptable":  # still "waiting for this message": once per id
        keys = ("id", "chatId", "from", "author", "timestamp")
        body = {k: data.get(k) for k in keys}
        if data.get("catchUp"):
            body["catchUp"] = True
        return [("message.undecryptable", body, f"undecryptable:{body['id']}")]
    if kind == "message.unsupported":  # not customer content (docs/webhooks.md): named only
        keys = ("id", "chatId", "from", "author", "type", "subtype", "timestamp")
        return [("message.unsupported", {k: data.get(k) for k in keys},
                 f"unsupported:{data.get('id')}")]
    if kind == "call.received":
        call = {k: data.get(k) for k in ("id", "from", "isVideo", "isGroup", "offerTime")}
        if data.get("senderIds"):
            call["senderIds"] = data["senderIds"]  # the caller's phone and @lid, when known
        return [("call.received", call, f"call:{call['id']}")]
    if kind == "group.participants":
        return [("group.participants", data, None)]
    if kind == "presence.update":  # a contact types, records, comes online or leaves
        return [("presence.update", presence(data), None)]
    if kind == "qr":
        return [("qr", {"qr": data["qr"], "expiresAt": iso_utc(data["expiresAt"])}, None)]
    if kind == "pairing.code":  # a new code to type on the phone, or null once it expired
        return [("pairing.code", data, None)]
    if kind == "message.status":  # a queued send ended, or its outcome became unknown
        view = outgoing_view(data)
        return [("message.status", view, f"status:{data['id']}:{view['status']}")]
    if kind == "session.restricted":  # a reach-out timelock: {until, reason, since}
        return [("session.restricted", data, f"restricted:{data['until']}")]
    if kind in ("session.status", "session.degraded", "session.recovered",
                "session.snapshot", "session.moved"):  # the last two: cluster mode (docs/cluster.md)
        return [(kind, data, None)]
    if kind == "bridge.error":
        log.warning("in-page bridge error: %s", data.get("message"))
    return []  # message.sent (our own echo), conn.logout: covered by session.status


# wa-js chat.presence_change states (WhatsApp's chatstate types) in the API's words
PRESENCE_STATES = {"composing": "typing", "recording": "recording", "available": "available",
                   "unavailable": "unavailable"}


def presence(data: dict) -> dict:
    """presence.update: {chatId, contactId, state, isOnline, timestamp, participants?}."""
    t = data.get("t")
    if isinstance(t, (int, float)) and t > 10**11:
        t = int(t // 1000)  # wa-js stamps it with Date.now(): milliseconds
    out = {"chatId": data.get("id"), "contactId": data.get("id") if not data.get("isGroup")
           else None, "state": PRESENCE_STATES.get(data.get("state"), data.get("state")),
           "isOnline": bool(data.get("isOnline")), "timestamp": t}
    if data.get("isGroup"):
        out["participants"] = [{"id": p.get("id"), "state": PRESENCE_STATES.get(
            p.get("state"), p.get("state"))} for p in data.get("participants") or ()]
    return out


__all__ = ["EVENT_TYPES", "EventHub", "EventOutbox", "MessageHistory", "SinkSender",
           "WebhookSender", "translate"]
