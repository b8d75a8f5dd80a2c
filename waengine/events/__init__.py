"""Events: what the engine sees becomes API events in the outbox, for webhooks and SSE."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

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

    def resume_point(self, last_event_id: str | None, tail: int | None = None,
                     among: list[str] | None = None) -> int:
        """The outbox sequence a stream starts after: Last-Event-ID, the last `tail`, or now."""
        if not last_event_id:
            return self.outbox.seq_before_last(among, tail) if tail else self.outbox.last_seq
        after = self.outbox.seq_of(last_event_id)
        if after is None:
            raise ValidationError(f"Unknown Last-Event-ID {last_event_id!r}",
                                  details={"field": "Last-Event-ID"})
        return after

    def stream(self, read: Callable[[int], list[dict]], after: int,
               visible: Callable[[dict], bool] = lambda row: True) -> Iterator[str]:
        """Server-Sent Events of the visible rows read(after_seq) returns, as text chunks.

        Checks the stream cap first (429), so the caller can still answer with an error;
        the stream then runs until the client goes away.
        """
        # Each stream holds a gthread worker thread: cap them so API calls always find one.
        if not self.streams.acquire(blocking=False):
            raise TooManyRequests("Too many event streams are open", headers={"Retry-After": "5"})
        return self._stream(read, after, visible)

    def _stream(self, read, after: int, visible) -> Iterator[str]:
        outbox, keepalive = self.outbox, self.config["SSE_KEEPALIVE"]
        try:
            yield "retry: 2000\n\n"
            while True:
                seen = outbox.last_seq
                rows = read(after)
                for row in rows:
                    after = row["seq"]
                    if visible(row):
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
