"""The message history the gateway keeps: every message a session sees or sends, with its ack,
its edits and its revoke, paged and searched by GET /sessions/{id}/messages (docs/api.md).

EventHub.publish feeds it every engine event; it keeps what these say about a message:
`message` (incoming, live or caught up), `message.sent` (this account's own, sent by the gateway
or on the phone), `message.status` (a queued send that went out), `message.ack` (the ack only
rises), `message.edited` (the new text) and `message.revoked` (the content is dropped, as
WhatsApp shows "This message was deleted"). Media is kept by reference (the event's `media`,
`mimetype`, `filename`, `size`), never its bytes.

A session keeps HISTORY_DAYS of it (its own `historyDays` when created with one; 0: none); the
reaper deletes older messages, and a purged session's history goes with it.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
import zlib

from ..engine.receipts import key_id
from ..shapes import ack_name, message
from ..store import StoreBase

# The sort key `k`: the WhatsApp timestamp (seconds) above KEY_BITS bits of a hash of the
# message id, so messages of one second still have distinct, stable keys.
KEY_BITS = 30
KEY_MAX = 2**63 - 1
TIMESTAMP_MAX = 2**32 - 1
# A word: letters and digits, case and accents folded. Longer runs (a pasted hash, base64)
# are not words anyone searches, and PostgreSQL limits a lexeme's length.
WORD = re.compile(r"[^\W_]+")
WORD_MAX = 64
QUERY_WORDS = 16
# The fields of a revoked message that are content: dropped with its text.
CONTENT = ("caption", "mimetype", "filename", "size", "media", "mediaError", "poll", "contacts",
           "location", "mentions")
DELETE_BATCH = 2000


def words(text: str) -> list[str]:
    """The searchable words of a text: case-folded, accents removed ("Café" -> "cafe")."""
    folded = text.casefold()
    if not folded.isascii():  # most texts are: no accents to remove
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded)
                         if not unicodedata.combining(c))
    return [w for w in WORD.findall(folded) if len(w) <= WORD_MAX]


def terms(text: str) -> str:
    """A text's distinct words, space-separated: what both backends' full-text indexes hold."""
    return " ".join(dict.fromkeys(words(text)))


def parse_query(q: str) -> list[tuple[str, bool]]:
    """`q` as (word, prefix) pairs, every one required; `word*` matches words it begins."""
    found: list[tuple[str, bool]] = []
    for part in q.split():
        each = words(part)
        found += [(w, part.endswith("*") and i == len(each) - 1) for i, w in enumerate(each)]
    return found[:QUERY_WORDS]


def sort_key(session_id: str, message_id: str, timestamp: int) -> int:
    low = zlib.crc32(f"{session_id}/{message_id}".encode()) & ((1 << KEY_BITS) - 1)
    return (min(max(timestamp, 0), TIMESTAMP_MAX) << KEY_BITS) | low


def upper_bound(before: str) -> int:
    """`before` (a cursor `c…`, or unix seconds) as the sort key every result is below."""
    if before.startswith("c"):
        return min(int(before[1:]), KEY_MAX)
    return min(int(before), TIMESTAMP_MAX + 1) << KEY_BITS


def lower_bound(after: str) -> int:
    """`after` (a cursor, or unix seconds) as the sort key every result is above."""
    if after.startswith("c"):
        return min(int(after[1:]), KEY_MAX)
    return ((min(int(after), TIMESTAMP_MAX) + 1) << KEY_BITS) - 1


class MessageHistory:
    def __init__(self, store: StoreBase, config: dict, clock=time.time):
        self.store = store  # its table comes from waengine/migrations.py (3, message history)
        self.default_days = float(config.get("HISTORY_DAYS", 0))
        self.clock = clock

    def days(self, options: dict | None) -> float:
        """How many days of history a session with these options keeps (0: none)."""
        own = (options or {}).get("historyDays")
        return float(self.default_days if own is None else own)

    # ---- what the events say ----
    def record(self, session, kind: str, data: dict) -> None:
        """Keep what an engine event says about a message; other events change nothing."""
        days = self.days(session.options)
        if days <= 0:
            return
        if kind in ("message", "message.sent"):
            self.keep(session.id, data, days)
        elif kind == "message.status" and data.get("status") == "sent" and data.get("message"):
            self.keep(session.id, data["message"], days)
        elif kind == "message.edited":
            self.keep(session.id, data, days, edited_at=int(data.get("editedAt") or self.clock()))
        elif kind == "message.revoked" and data.get("id"):
            self.revoke(session.id, data["id"])
        elif kind == "message.ack" and isinstance(data.get("ack"), int) and data["ack"] >= 1:
            for message_id in data.get("ids") or ():
                self.ack(session.id, message_id, data["ack"])

    def keep(self, session_id: str, raw: dict, days: float, edited_at: int | None = None) -> None:
        """Store a message (the page's JSON), or update the stored one: its ack, and its text
        when this is an edit (never a revoked one's)."""
        msg = message(raw)
        now = self.clock()
        stamp = msg.get("timestamp")
        stamp = int(stamp) if isinstance(stamp, (int, float)) and stamp > 0 else int(now)
        if stamp < now - days * 86400:
            return  # caught up from before the retention: the reaper would delete it next
        ack = raw.get("ack") if isinstance(raw.get("ack"), int) else 0
        body = msg.get("body") or ""
        data = json.dumps({k: v for k, v in msg.items() if k not in ("ack", "body")},
                          separators=(",", ":"), ensure_ascii=False)
        key = sort_key(session_id, msg["id"], stamp)
        for _ in range(8):  # another message with this key (a hash collision): the next one
            inserted = self.store.execute(
                "INSERT INTO messages (k, session, id, key_id, chat, sender, recipient, from_me,"
                " type, body, ack, timestamp, edited_at, terms, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING k",
                (key, session_id, msg["id"], key_id(msg["id"]), msg["chatId"], msg.get("from"),
                 msg.get("to"), int(bool(msg.get("fromMe"))), msg.get("type") or "chat", body,
                 ack, stamp, edited_at, terms(body), data))
            if inserted:
                return
            if self.store.execute("SELECT 1 FROM messages WHERE session = ? AND id = ?",
                                  (session_id, msg["id"])):
                break
            key += 1
        else:
            raise RuntimeError(f"no free history key for message {msg['id']}")
        if edited_at is not None:
            self.store.execute(
                "UPDATE messages SET body = ?, terms = ?, data = ?, edited_at = ?"
                " WHERE session = ? AND id = ? AND revoked_at IS NULL",
                (body, terms(body), data, edited_at, session_id, msg["id"]))
        self._raise_ack("id", session_id, msg["id"], ack)

    def ack(self, session_id: str, message_id: str, ack: int) -> None:
        """A receipt: the message's ack rises to `ack` (never falls). Matched by the key's
        random id, as receipts may name the chat by another id (engine/receipts.py)."""
        kid = key_id(message_id)
        if kid:
            self._raise_ack("key_id", session_id, kid, ack)

    def _raise_ack(self, column: str, session_id: str, value: str, ack: int) -> None:
        self.store.execute(f"UPDATE messages SET ack = ? WHERE session = ? AND {column} = ?"
                           " AND ack < ?", (ack, session_id, value, ack))

    def revoke(self, session_id: str, message_id: str) -> None:
        """Deleted for everyone: the row stays (type `revoked`, revokedAt), its content goes."""
        kid = key_id(message_id)
        rows = self.store.execute("SELECT k, data FROM messages WHERE session = ? AND key_id = ?",
                                  (session_id, kid)) if kid else []
        for row in rows:
            data = {k: v for k, v in json.loads(row["data"]).items() if k not in CONTENT}
            self.store.execute(
                "UPDATE messages SET type = 'revoked', body = '', terms = '', revoked_at = ?,"
                " data = ? WHERE k = ?",
                (int(self.clock()), json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                 row["k"]))

    # ---- reading ----
    def page(self, session_id: str, chat: str | None = None, before: str | None = None,
             after: str | None = None, q: str | None = None, type_: str | None = None,
             limit: int = 50) -> dict:
        """`{data, next}`: the newest messages first that match every filter given; `next`
        (a cursor for `before`) when there are older ones."""
        if q is not None:
            found = parse_query(q)
            if not found:
                return {"data": [], "next": None}  # no word: nothing can match
            source, condition, key, arg = self.store.text_search(found, chat)
            where, args = [condition, "m.session = ?"], [arg, session_id]
        else:
            source, key, where, args = "messages m", "m.k", ["m.session = ?"], [session_id]
        for sql, value in (("m.chat = ?", chat), ("m.type = ?", type_),
                           (f"{key} < ?", upper_bound(before) if before else None),
                           (f"{key} > ?", lower_bound(after) if after else None)):
            if value is not None:
                where.append(sql)
                args.append(value)
        rows = self.store.execute(f"SELECT m.* FROM {source} WHERE {' AND '.join(where)}"
                                  f" ORDER BY {key} DESC LIMIT ?", (*args, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": [view(row) for row in rows],
                "next": f"c{rows[-1]['k']}" if more else None}

    # ---- retention ----
    def expire(self, session_id: str, days: float) -> int:
        """Delete the session's messages older than `days` (all of them for 0); how many."""
        cutoff = max(int(self.clock() - days * 86400), 0) if days > 0 else TIMESTAMP_MAX + 1
        return self._delete(session_id, min(cutoff, TIMESTAMP_MAX + 1) << KEY_BITS)

    def forget_session(self, session_id: str) -> int:
        return self._delete(session_id, KEY_MAX)

    def _delete(self, session_id: str, below: int) -> int:
        # In batches: each is a short write (the full-text index's triggers run per row), so
        # events keep committing while a large history expires
        total = 0
        while True:
            with self.store.transaction() as tx:
                count = tx.execute(
                    "DELETE FROM messages WHERE k IN (SELECT k FROM messages WHERE session = ?"
                    " AND k < ? LIMIT ?)", (session_id, below, DELETE_BATCH)).rowcount
            total += count
            if count < DELETE_BATCH:
                return total


def view(row) -> dict:
    """A stored message as the API shows it: the message event's fields, its ack now, and
    editedAt / revokedAt (unix seconds) when it was edited or deleted for everyone."""
    out = json.loads(row["data"])
    out.update(body=row["body"], type=row["type"], ack=ack_name(row["ack"]),
               timestamp=row["timestamp"], cursor=f"c{row['k']}")
    if row["edited_at"] is not None:
        out["editedAt"] = row["edited_at"]
    if row["revoked_at"] is not None:
        out["revokedAt"] = row["revoked_at"]
    return out
