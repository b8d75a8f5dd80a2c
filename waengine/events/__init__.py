"""Events: what the engine sees becomes API events in the outbox, for webhooks and SSE."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from ..shapes import ack_name, message, outgoing_view
from ..store import Store
from .outbox import EVENT_TYPES, EventOutbox
from .webhooks import WebhookSender

log = logging.getLogger(__name__)


class EventHub:
    def __init__(self, store: Store, config: dict):
        self.config = config
        self.outbox = EventOutbox(store)
        self.sender = WebhookSender(self.outbox, config)
        self.streams = threading.BoundedSemaphore(config["SSE_MAX_STREAMS"])
        # Set on shutdown: open streams end at once (with a final `shutdown` event) instead of
        # holding the worker until gunicorn's graceful_timeout kills it and its browsers leak.
        self.closing = threading.Event()

    def start(self) -> None:
        self.closing.clear()
        self.sender.start()

    def close_streams(self) -> None:
        """End every open event stream now (safe from a signal handler: sets and notifies)."""
        self.closing.set()
        self.outbox.wake()

    def stop(self) -> None:
        self.close_streams()
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

    def secret(self, session, url: str) -> str | None:
        """The secret of the hook (the session's own, else the global one) that has this URL."""
        for hook in ((session.options or {}).get("webhook") if session else None,
                     {"url": self.config["WEBHOOK_URL"], "secret": self.config["WEBHOOK_SECRET"]}):
            if hook and hook.get("url") == url:
                return hook.get("secret") or None
        return None

    def publish(self, session, kind: str, data: dict) -> None:
        """The engine's event callback: translate, dedupe, commit (before the page is acked)."""
        for type_, payload, dedupe in translate(kind, data):
            self.outbox.add(session.id, type_, payload, dedupe, self.webhooks_for(session, type_))


def translate(kind: str, data: dict) -> list[tuple[str, dict, str | None]]:
    """Engine/page events as (API event type, data, dedupe key) triples; [] for internal ones."""
    if kind == "message":
        msg = message(data)
        if data.get("catchUp"):
            msg["catchUp"] = True  # read from history after a reconnect (engine/catchup.py)
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
        expires = datetime.fromtimestamp(data["expiresAt"], timezone.utc)
        return [("qr", {"qr": data["qr"],
                        "expiresAt": expires.isoformat(timespec="seconds").replace("+00:00", "Z")},
                 None)]
    if kind == "message.status":  # a queued send ended, or its outcome became unknown
        return [("message.status", outgoing_view(data), f"status:{data['id']}:{data['status']}")]
    if kind == "session.status":
        return [("session.status", data, None)]
    if kind == "bridge.error":
        log.warning("in-page bridge error: %s", data.get("message"))
    return []  # message.sent (our own echo), conn.logout: covered by session.status


__all__ = ["EVENT_TYPES", "EventHub", "EventOutbox", "WebhookSender", "translate"]
