"""Catch-up after a (re)connect: incoming messages the gateway never drained, read from history.

Events the page received but the gateway had not yet committed die with the browser (its
queue lives in the page), and messages that arrived while no browser ran were never events at
all. Both are in the chats' history, so after every launch that reaches CONNECTED the worker
reads the messages of every chat active since the newest message the outbox holds, and hands
them to the event sink marked `catchUp`; the outbox's dedupe (one event per message id) drops
the ones it already has.

resync() does the same for one chat on demand (POST /sessions/{id}/chats/{chat}/resync): it
reads the chat's history through the page, compares it with the event log and publishes the
incoming messages the log lacks.
"""

from __future__ import annotations

import logging
import time

from ..store import epoch
from .page import Page

log = logging.getLogger(__name__)

# Seconds before the newest stored message to read again: messages of other chats that were
# still in the dead page's queue are older than the last one committed, by a few seconds.
MARGIN = 120
# Newest messages read per active chat; a chat busier than this during one outage loses the rest.
PER_CHAT = 100
# Newest messages of one chat a resync reads (older ones than these are not compared).
RESYNC_MAX = 500
# What the page's history holds that is not a customer message (bridge.js NOTICE, gp2): those
# have events of their own or none (docs/webhooks.md).
NOT_MESSAGES = frozenset(("e2e_notification", "notification_template", "notification", "call_log",
                          "protocol", "broadcast_notification", "group_notification", "revoked",
                          "gp2", "ciphertext"))
STATUS_CHAT = "status@broadcast"


def since(outbox, session_id: str, created_at: str | None = None) -> float | None:
    """WhatsApp time to catch up from, or None for a first link (no history is owed then).

    Never before the session was created (created_at): older messages are the history a new
    link syncs (of the phone's chats, from before this session existed), not missed events."""
    newest = outbox.newest_message_time(session_id)
    if newest is not None:
        start = newest - MARGIN
    else:
        first = outbox.first_connected_at(session_id)
        if not first:
            return None
        start = epoch(first) - MARGIN
    created = epoch(created_at)
    return max(start, created) if created is not None else start


def run(session, bridge, outbox, on_event, undecryptable_after: float | None = None) -> int:
    """Read missed incoming messages and hand them to on_event; return how many were read."""
    start = since(outbox, session.id, getattr(session, "created_at", None))
    if start is None:
        return 0
    # Still ciphertext this long after it arrived: it will not decrypt (bridge.js reports those
    # of a live page; these are the ones a dead page never reported).
    before = int(time.time() - undecryptable_after) if undecryptable_after else None
    found = Page.in_worker(bridge).catch_up(int(start), PER_CHAT, before)
    for msg in found:
        kind = "message.undecryptable" if msg.get("undecryptable") else "message"
        on_event(session, kind, {**msg, "catchUp": True})
    log.info("session %s: caught up %d message(s) since %d", session.id, len(found), start)
    return len(found)


def resync(session, page: Page, outbox, on_event, chat_id: str, start: float) -> int:
    """Publish the chat's incoming messages since `start` (unix seconds) that the event log
    lacks, marked `catchUp`; return how many. Once: a second call finds them in the log."""
    found = page.get_messages(chat_id, RESYNC_MAX)
    missing = [m for m in found if not m.get("fromMe") and m.get("type") not in NOT_MESSAGES
               and m.get("chatId") != STATUS_CHAT and (m.get("timestamp") or 0) >= start
               and not outbox.has(session.id, f"message:{m['id']}")]
    for msg in missing:
        on_event(session, "message", {**msg, "catchUp": True})
    log.info("session %s: resync of %s since %d published %d message(s)", session.id, chat_id,
             start, len(missing))
    return len(missing)
