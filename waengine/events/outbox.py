"""The durable event outbox: every event is committed here before the page's copy is released.

Each event gets one delivery row per webhook it must reach; the webhook sender works through
them in order per session; SSE streams read the same rows.
"""

from __future__ import annotations

import json
import os
import threading
import time

from ..store import GroupCommit, StoreBase, iso_utc, utcnow
from ..vocabulary import Status

EVENT_TYPES = ("session.status", "qr", "message", "message.ack", "message.revoked",
               "group.participants", "message.status", "message.edited",
               "poll.vote", "message.undecryptable", "status.posted", "group.notification",
               "call.received", "presence.update", "pairing.code", "session.snapshot",
               "session.moved", "session.degraded", "session.recovered", "message.unsupported",
               "session.restricted", "channel.message")


def new_event_id() -> str:
    """Time-ordered, unique: evt_ + 12 hex of milliseconds + 10 random hex."""
    return f"evt_{int(time.time() * 1000):012x}{os.urandom(5).hex()}"


class EventOutbox:
    def __init__(self, store: StoreBase):
        self.store = store  # its tables come from waengine/migrations.py
        self._group = GroupCommit(lambda group: _write_events(store, group))
        self.changed = threading.Condition()
        self._seq = self._max_seq()
        # Bumped by anything that may make a delivery due now (a new event, a manual retry).
        self.version = 0

    def _max_seq(self) -> int:
        rows = self.store.execute("SELECT COALESCE(MAX(seq), 0) AS m FROM events")
        return rows[0]["m"]

    max_seq = _max_seq

    def moved_to(self, seq: int) -> None:
        """Another node committed events up to `seq`: wake whoever waits for them."""
        with self.changed:
            if seq > self._seq:
                self._seq = seq
                self.version += 1
                self.changed.notify_all()

    @property
    def last_seq(self) -> int:
        return self._seq

    def add(self, session: str, type_: str, data: dict, dedupe: str | None,
            webhooks: list[dict]) -> dict | None:
        """Commit an event and its deliveries; None when it is a duplicate of a stored one."""
        event = {"id": new_event_id(), "session": session, "type": type_,
                 "timestamp": utcnow(), "data": data}
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        urls = list(dict.fromkeys(hook["url"] for hook in webhooks))
        if self.store.backend == "postgresql":
            seq = self._add_in_one_statement(event, body, dedupe, urls)
        else:
            seq = self._add_in_a_transaction(event, body, dedupe, urls)
        if seq is None:
            return None
        with self.changed:
            self._seq = max(self._seq, seq)
            self.version += 1
            self.changed.notify_all()
        event["seq"] = seq
        return event

    def _add_in_a_transaction(self, event: dict, body: str, dedupe: str | None,
                              urls: list[str]) -> int | None:
        """SQLite: its writers are serialized, so seq order is commit order."""
        session = event["session"]
        with self.store.transaction() as db:
            self.store.fence(db, session)
            row = db.execute(
                "INSERT INTO events (id, session, type, created_at, body, dedupe)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE 1 = 1 ON CONFLICT DO NOTHING RETURNING seq",
                (event["id"], session, event["type"], event["timestamp"], body,
                 dedupe)).fetchone()
            if row is None:
                return None
            if urls:
                db.execute("INSERT INTO deliveries (event_seq, session, url) VALUES"
                           + ", ".join(["(?, ?, ?)"] * len(urls)) + " ON CONFLICT DO NOTHING",
                           [v for url in urls for v in (row["seq"], session, url)])
            return row["seq"]

    def _add_in_one_statement(self, event: dict, body: str, dedupe: str | None,
                              urls: list[str]) -> int | None:
        """PostgreSQL: the event joins the appends other threads make at the same moment
        (group commit, store.GroupCommit); each is fenced, inserted with its deliveries and
        announced to other nodes' streams (NOTIFY, events/listen.py) in one autocommit
        statement, one round trip for the group. PostgreSQL hands out seqs before commit: the
        statement takes a lock on "events" before its seqs exist and holds it to its commit,
        so seq order is commit order and a reader that has seen seq n never misses a smaller
        one committed later."""
        outcome = self._group((event, body, dedupe, urls,
                                      self.store.held.get(event["session"])))
        if isinstance(outcome, dict):
            self.store.refused(outcome, event["session"])
        return outcome

    def has(self, session: str, dedupe: str) -> bool:
        """Whether the session's log holds the event with this dedupe key (e.g. message:<id>)."""
        rows = self.store.execute("SELECT 1 FROM events WHERE session = ? AND dedupe = ?",
                                  (session, dedupe))
        return bool(rows)

    def since(self, session: str, after_seq: int, limit: int = 500) -> list[dict]:
        """A session's events after a sequence number, oldest first: seq, id, type, body."""
        rows = self.store.execute(
            "SELECT seq, id, type, body FROM events WHERE session = ? AND seq > ?"
            " ORDER BY seq LIMIT ?", (session, after_seq, limit))
        return [dict(r) for r in rows]

    def recent(self, session: str, limit: int) -> list[dict]:
        """A session's newest `limit` events, oldest first, as they were published."""
        rows = self.store.execute(
            "SELECT body FROM (SELECT seq, body FROM events WHERE session = ?"
            " ORDER BY seq DESC LIMIT ?) AS newest ORDER BY seq", (session, limit))
        return [json.loads(r["body"]) for r in rows]

    def newest_message_time(self, session: str) -> float | None:
        """WhatsApp timestamp of the newest incoming message stored for the session."""
        rows = self.store.execute(
            f"SELECT MAX({self.store.json_number('body', 'data', 'timestamp')}) AS t"
            " FROM events WHERE session = ? AND type = 'message'", (session,))
        return rows[0]["t"]

    def first_connected_at(self, session: str) -> str | None:
        """When the session was first CONNECTED before the current connection, if ever."""
        rows = self.store.execute(
            "SELECT created_at FROM events WHERE session = ? AND type = 'session.status'"
            f" AND {self.store.json_text('body', 'data', 'status')} = ? ORDER BY seq LIMIT 2",
            (session, Status.CONNECTED.value))
        return rows[0]["created_at"] if len(rows) == 2 else None

    def since_any(self, sessions: list[str] | None, after_seq: int, limit: int = 500) -> list[dict]:
        """Events of these sessions (None: all) after a sequence number, oldest first."""
        where, args = _among(sessions)
        rows = self.store.execute(
            f"SELECT seq, id, session, type, body FROM events WHERE seq > ?{where}"
            " ORDER BY seq LIMIT ?", (after_seq, *args, limit))
        return [dict(r) for r in rows]

    def seq_before_last(self, sessions: list[str] | None, count: int) -> int:
        """The sequence number to stream after so the last `count` events come first."""
        where, args = _among(sessions)
        rows = self.store.execute(
            f"SELECT MIN(seq) AS s FROM (SELECT seq FROM events WHERE 1 = 1{where}"
            " ORDER BY seq DESC LIMIT ?) AS newest", (*args, count))
        first = rows[0]["s"]
        return first - 1 if first is not None else self.last_seq

    def seq_of(self, event_id: str, sessions: list[str] | None = None) -> int | None:
        """The sequence number of an event of these sessions (None: unknown, or another
        session's: a stream never resumes from an event it could not have sent)."""
        where, args = _among(sessions)
        rows = self.store.execute(f"SELECT seq FROM events WHERE id = ?{where}",
                                  (event_id, *args))
        return rows[0]["seq"] if rows else None

    def wake(self) -> None:
        """Wake every waiter (a stream's stop flag was set)."""
        if self.changed.acquire(timeout=1.0):  # never block a signal handler for long
            try:
                self.changed.notify_all()
            finally:
                self.changed.release()

    # ---- deliveries ----
    def due(self, now: float, limit: int = 50, sinks: bool = False) -> list[dict]:
        """The head of each session's pending queue per URL, if its next attempt is due:
        webhooks' (http, https) or sinks' (any other scheme)."""
        rows = self.store.execute(
            f"""SELECT d.*, e.body, e.id AS event_id, e.type, e.created_at FROM deliveries d
               JOIN events e ON e.seq = d.event_seq
               WHERE d.status = 'pending' AND {_kind(sinks)} AND d.event_seq = (
                   SELECT MIN(event_seq) FROM deliveries d2
                   WHERE d2.session = d.session AND d2.url = d.url AND d2.status = 'pending')
                 AND d.next_attempt_at <= ?{self._mine()}
               ORDER BY d.next_attempt_at, d.event_seq LIMIT ?""",
            (now, *self._mine_args(), limit))
        return [dict(r) for r in rows]

    def next_due_at(self, sinks: bool = False) -> float | None:
        rows = self.store.execute(
            "SELECT MIN(next_attempt_at) AS t FROM deliveries d WHERE status = 'pending'"
            f" AND {_kind(sinks)}{self._mine()}", self._mine_args())
        return rows[0]["t"]

    # Cluster mode: (this node's id, LEASE_TTL), set by the wiring. Each node delivers the
    # events of the sessions it holds a lease on, so a session's webhooks go out from one node,
    # in order; the alive node first by id delivers those of sessions no node holds.
    deliverer: tuple[str, float] | None = None

    def _mine(self) -> str:
        if self.deliverer is None:
            return ""
        return (" AND (EXISTS (SELECT 1 FROM leases l WHERE l.session = d.session"
                " AND l.node = ? AND l.expires >= ?) OR (NOT EXISTS (SELECT 1 FROM leases l"
                " WHERE l.session = d.session AND l.expires >= ?)"
                " AND ? = (SELECT MIN(id) FROM nodes WHERE heartbeat >= ?)))")

    def _mine_args(self) -> tuple:
        if self.deliverer is None:
            return ()
        node, ttl = self.deliverer
        now = self.store.clock()
        return (node, now, now, node, now - ttl)

    def mark_delivered(self, seq: int, url: str, status_code: int | None) -> None:
        self.store.execute(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1,"
            " last_status = ?, last_error = NULL, delivered_at = ? WHERE event_seq = ? AND url = ?",
            (status_code, utcnow(), seq, url))

    def mark_retry(self, seq: int, url: str, at: float, error: str, status_code: int | None,
                   dead: bool) -> None:
        self.store.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
            " last_error = ?, last_status = ? WHERE event_seq = ? AND url = ?",
            ("failed" if dead else "pending", at, error[:500], status_code, seq, url))

    def deliveries(self, session: str, status: str | None, limit: int) -> list[dict]:
        sql = ("SELECT d.status, d.url, d.attempts, d.next_attempt_at, d.last_error, d.last_status,"
               " d.delivered_at, e.id AS event_id, e.type, e.created_at FROM deliveries d"
               " JOIN events e ON e.seq = d.event_seq WHERE d.session = ?")
        args: list = [session]
        if status:
            sql += " AND d.status = ?"
            args.append(status)
        sql += " ORDER BY d.event_seq DESC LIMIT ?"
        args.append(limit)
        return [_delivery(dict(r)) for r in self.store.execute(sql, args)]

    def retry(self, session: str, event_id: str) -> int:
        """Put a session's failed (or pending) deliveries of one event back in the queue now."""
        with self.store.transaction() as db:
            cur = db.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = 0 WHERE session = ?"
                " AND status != 'delivered' AND event_seq = (SELECT seq FROM events WHERE id = ?)",
                (session, event_id))
            count = cur.rowcount
        with self.changed:
            self.version += 1
            self.changed.notify_all()
        return count

    def purge_delivered(self, older_than_seconds: float) -> int:
        """Drop events older than the retention whose deliveries are all done."""
        cutoff = iso_utc(time.time() - older_than_seconds, "milliseconds")
        with self.store.transaction() as db:
            db.execute("""DELETE FROM deliveries WHERE event_seq IN (
                SELECT seq FROM events WHERE created_at < ?) AND status = 'delivered'""", (cutoff,))
            cur = db.execute("""DELETE FROM events WHERE created_at < ? AND NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)""", (cutoff,))
            return cur.rowcount

    def forget_session(self, session: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM deliveries WHERE session = ?", (session,))
            db.execute("DELETE FROM events WHERE session = ?", (session,))


def _write_events(store: StoreBase, group: list[tuple]) -> list:
    """PostgreSQL: a group of appends (event, body, dedupe, urls, held epoch) as one
    statement; each one's seq, None for a duplicate, or its fence row when refused."""
    fence, fence_args = store.fence_each()
    rows = store.execute(
        # the group as one JSON text: json.dumps and the server's parser are C, where
        # psycopg's array adapters quote each element in Python
        "WITH input AS (SELECT * FROM json_to_recordset(CAST(? AS json)) AS i (n bigint,"
        " id text, session text, type text, created_at text, body text, dedupe text,"
        f" urls json, held bigint)){fence},"
        # seq order is commit order: the lock is taken before the seqs exist, after the
        # leases (a lock taken the other way round could deadlock with a takeover)
        " added AS (INSERT INTO events (id, session, type, created_at, body, dedupe)"
        " SELECT i.id, i.session, i.type, i.created_at, i.body, i.dedupe FROM"
        " (SELECT pg_advisory_xact_lock(hashtextextended('events', 0))"
        " FROM (SELECT COUNT(*) FROM fence) AS fenced OFFSET 0) AS locked,"
        " input i JOIN fence f ON f.n = i.n WHERE f.fence_ok ORDER BY i.n"
        " ON CONFLICT DO NOTHING RETURNING seq, id, session),"
        " hooks AS (INSERT INTO deliveries (event_seq, session, url)"
        " SELECT a.seq, a.session, url FROM added a JOIN input i ON i.id = a.id,"
        " json_array_elements_text(i.urls) AS url ON CONFLICT DO NOTHING)"
        " SELECT f.n, f.fence_ok, f.fence_node, f.fence_epoch, a.seq,"
        " (SELECT pg_notify('waengine_events', CAST(MAX(seq) AS text)) FROM added"
        " HAVING MAX(seq) IS NOT NULL) AS notified FROM fence f JOIN input i ON i.n = f.n"
        " LEFT JOIN added a ON a.id = i.id ORDER BY f.n",
        (json.dumps([{"n": n, "id": event["id"], "session": event["session"],
                      "type": event["type"], "created_at": event["timestamp"], "body": body,
                      "dedupe": dedupe, "urls": urls, "held": held}
                     for n, (event, body, dedupe, urls, held) in enumerate(group)],
                    ensure_ascii=False), *fence_args))
    return [row["seq"] if row["fence_ok"] else row for row in rows]


def _kind(sinks: bool) -> str:
    """SQL: the delivery row `d` is a sink's (its URL is not http or https) or a webhook's."""
    return f"substr(d.url, 1, 4) {'!=' if sinks else '='} 'http'"


def _among(sessions: list[str] | None) -> tuple[str, tuple]:
    if sessions is None:
        return "", ()
    if not sessions:
        return " AND 1 = 0", ()
    return f" AND session IN ({','.join('?' * len(sessions))})", tuple(sessions)


def _delivery(row: dict) -> dict:
    nxt = row.pop("next_attempt_at")
    row["nextAttemptAt"] = iso_utc(nxt) if row["status"] == "pending" and nxt else None
    return {"eventId": row["event_id"], "type": row["type"], "createdAt": row["created_at"],
            "status": row["status"], "url": row["url"],
            "target": "webhook" if row["url"].startswith("http") else "sink", "attempts": row["attempts"],
            "nextAttemptAt": row["nextAttemptAt"], "lastError": row["last_error"],
            "lastStatus": row["last_status"], "deliveredAt": row["delivered_at"]}
