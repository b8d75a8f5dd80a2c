"""Events: what the engine sees becomes API events in the outbox, for webhooks and SSE."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from ..errors import TooManyRequests, ValidationError
from ..shapes import ack_name, message, outgoing_view
from ..store import Store, iso_utc
from .outbox import EVENT_TYPES, EventOutbox
from .webhooks import WebhookSender

log = logging.getLogger(__name__)


class EventHub:
    def __init__(self, store: Store, config: dict):
        self.config = config
        self.outbox = EventOutbox(store)
        self.sender = WebhookSender(self.outbox, config)
        self.streams = threading.BoundedSemaphore(config["SSE_MAX_STREAMS"])

    def start(self) -> None:
        self.sender.start()

    def stop(self) -> None:
        self.sender.stop()

    def webhooks_for(self, session, type_: str) -> list[dict]:
        """The session's own webhook, else the global default, if it wants this event type."""
        hook = (session.options or {}).get("webhook")
        if not hook and self.config["WEBHOOK_URL"]:
            hook = {"url": self.config["WEBHOOK_URL"], "secret": self.config["WEBHOOK_SECRET"],
                    "events": self.config["WEBHOOK_EVENTS"]}
        if not hook or (hook.get("events") and type_ not in hook["events"]):
            return []
        return [hook]

    def stream(self, session_id: str, last_event_id: str | None) -> Iterator[str]:
        """Server-Sent Events of a session, after last_event_id (or from now), as text chunks.

        Checks first (unknown id: 422; too many streams: 429), so the caller can still answer
        with an error; the stream then runs until the client goes away.
        """
        after = self.outbox.seq_of(last_event_id) if last_event_id else self.outbox.last_seq
        if after is None:
            raise ValidationError(f"Unknown Last-Event-ID {last_event_id!r}",
                                  details={"field": "Last-Event-ID"})
        # Each stream holds a gthread worker thread: cap them so API calls always find one.
        if not self.streams.acquire(blocking=False):
            raise TooManyRequests("Too many event streams are open", headers={"Retry-After": "5"})
        return self._stream(session_id, after)

    def _stream(self, session_id: str, after: int) -> Iterator[str]:
        outbox, keepalive = self.outbox, self.config["SSE_KEEPALIVE"]
        try:
            yield "retry: 2000\n\n"
            while True:
                seen = outbox.last_seq
                rows = outbox.since(session_id, after)
                for row in rows:
                    after = row["seq"]
                    yield f"id: {row['id']}\nevent: {row['type']}\ndata: {row['body']}\n\n"
                if not rows and not outbox.wait(seen, keepalive):
                    yield ": keepalive\n\n"  # also how a closed client is noticed
        finally:
            self.streams.release()

    def publish(self, session, kind: str, data: dict) -> None:
        """The engine's event callback: translate, dedupe, commit (before the page is acked)."""
        for type_, payload, dedupe in translate(kind, data):
            self.outbox.add(session.id, type_, payload, dedupe, self.webhooks_for(session, type_))


def translate(kind: str, data: dict) -> list[tuple[str, dict, str | None]]:
    """Engine/page events as (API event type, data, dedupe key) triples; [] for internal ones."""
    if kind == "message":
        msg = message(data)
        return [("message", msg, f"message:{msg['id']}")]
    if kind == "message.ack":
        ack = ack_name(data.get("ack"))
        return [("message.ack", {"id": mid, "chatId": data.get("chatId"), "ack": ack,
                                 "by": data.get("sender")}, f"ack:{mid}:{ack}")
                for mid in data.get("ids") or ()]
    if kind == "message.revoked":
        return [("message.revoked", data, f"revoked:{data.get('id')}")]
    if kind == "group.participants":
        return [("group.participants", data, None)]
    if kind == "qr":
        return [("qr", {"qr": data["qr"], "expiresAt": iso_utc(data["expiresAt"])}, None)]
    if kind == "message.status":  # a queued send ended (sent or failed for good)
        return [("message.status", outgoing_view(data), f"status:{data['id']}")]
    if kind == "session.status":
        return [("session.status", data, None)]
    if kind == "bridge.error":
        log.warning("in-page bridge error: %s", data.get("message"))
    return []  # message.sent (our own echo), conn.logout: covered by session.status


__all__ = ["EVENT_TYPES", "EventHub", "EventOutbox", "WebhookSender", "translate"]
