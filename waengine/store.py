"""SQLite store under the data folder: the session registry; the event outbox adds its tables."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    -- running: the gateway keeps a browser for it (restored after a restart); stopped: it does not
    desired TEXT NOT NULL DEFAULT 'running',
    status TEXT NOT NULL,
    status_reason TEXT,
    me_id TEXT,
    me_name TEXT,
    restarts INTEGER NOT NULL DEFAULT 0,
    last_activity_at TEXT,
    options TEXT NOT NULL DEFAULT '{}'
);
"""


def iso_utc(seconds: float | None = None, timespec: str = "seconds") -> str:
    """Unix seconds (default: now) as ISO 8601 UTC ending in Z, how every time is written."""
    when = datetime.now(timezone.utc) if seconds is None else \
        datetime.fromtimestamp(seconds, timezone.utc)
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def utcnow() -> str:
    """Now, to the millisecond: the store's timestamps (they sort as text)."""
    return iso_utc(timespec="milliseconds")


def epoch(iso: str | None) -> float | None:
    """Unix time of the store's ISO 8601 UTC strings ('2026-11-28T10:58:56.790Z')."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Store:
    """One SQLite connection in WAL mode, serialized by a lock (writes are small and rare)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    execute = _exec

    def script(self, sql: str) -> None:
        with self._lock:
            self._db.executescript(sql)

    @contextmanager
    def transaction(self):
        """Hold the lock for several statements that commit together (or not at all)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert_session(self, session_id: str, status: str, options: dict) -> dict:
        now = utcnow()
        try:
            self._exec(
                "INSERT INTO sessions (id, created_at, status, last_activity_at, options)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, now, status, now, json.dumps(options)),
            )
        except sqlite3.IntegrityError:
            raise KeyError(session_id) from None
        return self.get_session(session_id)

    def get_session(self, session_id: str) -> dict | None:
        rows = self._exec("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _row(rows[0]) if rows else None

    def list_sessions(self) -> list[dict]:
        return [_row(r) for r in self._exec("SELECT * FROM sessions ORDER BY created_at, id")]

    _UPDATABLE = {"desired", "status", "status_reason", "me_id", "me_name", "restarts",
                  "last_activity_at", "options"}

    def update_session(self, session_id: str, **fields) -> None:
        unknown = set(fields) - self._UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE sessions SET {cols} WHERE id = ?", (*fields.values(), session_id))

    def delete_session(self, session_id: str) -> None:
        self._exec("DELETE FROM sessions WHERE id = ?", (session_id,))


def _row(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["options"] = json.loads(d["options"] or "{}")
    return d
