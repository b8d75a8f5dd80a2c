"""The store: the session registry, and the tables of the outbox, the outgoing queue and the
leases (waengine/migrations.py). SQLite under the data folder by default; PostgreSQL when
DATABASE_URL is set (waengine/store_pg.py); waengine/backends.py chooses."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import ConfigError, LeaseLost, StorageUnavailable
from .migrations import migrate
from .sealing import Sealer, open_options, seal_options

log = logging.getLogger(__name__)


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


# SQLite errors of a store that comes back by itself: a lock, a full disk, an I/O error.
TRANSIENT = ("locked", "busy", "full", "disk i/o", "readonly", "unable to open")


class DatabaseDamaged(ConfigError):
    """waengine.db is damaged or missing while logins are on disk: refuse to start."""


REBUILD_HINT = ("stop the gateway and run `waengine doctor --rebuild-registry` to re-register "
                "the sessions from their profile folders (the damaged file is kept aside)")


def profile_folders(data_dir: Path) -> list[str]:
    profiles = data_dir / "profiles"
    return sorted(p.name for p in profiles.iterdir() if p.is_dir()) if profiles.is_dir() else []


def check_database(data_dir: Path) -> None:
    """Raise DatabaseDamaged (one line, with the way out) when the registry cannot be trusted.

    A truncated or deleted waengine.db would otherwise start with zero sessions while their
    logins (profile folders) are still on disk, and nobody would notice until a client does.
    """
    path = data_dir / "waengine.db"
    folders = profile_folders(data_dir)
    if not path.exists() or path.stat().st_size == 0:
        if folders:
            raise DatabaseDamaged(f"{path} is missing or empty but {len(folders)} session "
                                  f"profile(s) exist under {data_dir / 'profiles'}: {REBUILD_HINT}")
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            count = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] if (
                "sessions" in tables) else 0
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        raise DatabaseDamaged(f"{path} is damaged ({e}): {REBUILD_HINT}") from None
    if result != "ok":
        raise DatabaseDamaged(f"{path} failed its integrity check ({result}): {REBUILD_HINT}")
    if count == 0 and folders:
        raise DatabaseDamaged(f"{path} has no sessions but {len(folders)} session profile(s) "
                              f"exist under {data_dir / 'profiles'}: {REBUILD_HINT}")


def rebuild_registry(data_dir: Path) -> tuple[str | None, list[str]]:
    """Set a damaged waengine.db aside and register every profile folder that has no row.

    Returns where the damaged file went (None if it was sound) and the sessions registered.
    They come back STOPPED with desired 'running': the next start restores them from their
    logins. Their events, webhooks and send queues were in the damaged file.
    """
    path = data_dir / "waengine.db"
    moved = None
    try:
        check_database(data_dir)
    except DatabaseDamaged:
        if path.exists() and path.stat().st_size:
            try:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                sound = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                db.close()
            except sqlite3.DatabaseError:
                sound = False
            if not sound:
                moved = str(path.with_name(f"waengine.db.damaged-{int(datetime.now().timestamp())}"))
                path.rename(moved)
                for suffix in ("-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
    store = Store(path)
    try:
        known = {s["id"] for s in store.list_sessions()}
        added = []
        for name in profile_folders(data_dir):
            if name not in known:
                store.insert_session(name, "STOPPED", {})
                added.append(name)
    finally:
        store.close()
    return moved, added


class StoreBase:
    """What every backend offers: statements written once, with `?` placeholders, in the SQL
    both SQLite and PostgreSQL understand (ON CONFLICT, RETURNING, CASE); the few spellings
    that differ (JSON, the autoincrement key, row locks) come from the backend's methods.

    A database that cannot be written for now (held lock, full disk, lost server) raises
    StorageUnavailable (503 with Retry-After); `failing` says why until a write succeeds again.
    """

    backend = ""
    # Appended to a SELECT that reads the lease a write depends on (PostgreSQL: FOR SHARE, so a
    # takeover waits for the write to commit; SQLite serializes writers anyway).
    share_lock = ""
    failing: str | None = None
    # Fencing (waengine/cluster.py): this process's node id and the epoch of each lease it holds.
    node_id: str | None = None
    clock = staticmethod(time.time)  # the lease times' clock (cluster.Leases sets its own)

    def __init__(self, sealer: Sealer | None = None):
        self.held: dict[str, int] = {}
        # Seals the secret fields of session options (sealing.py); None: stored as given.
        self.sealer = sealer

    # ---- what a backend implements ----
    def execute(self, sql: str, args=()) -> list:
        raise NotImplementedError

    def transaction(self):
        """A context that yields an object with execute(sql, args) -> cursor; it commits
        together at the end (or not at all)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def json_text(self, column: str, *path: str) -> str:
        """SQL for the text at a path of a JSON text column (None when absent)."""
        raise NotImplementedError

    # ---- a node's presence (cluster.py): PostgreSQL overrides; one file has no other node ----
    def presence_execute(self, statement) -> list:
        """The node's heartbeat on its own long-lived connection: statement(held) gives the
        (sql, args) to run, held telling whether that connection holds the presence lock."""
        return self.execute(*statement(False))

    def presence_lost(self) -> bool:
        """Whether the node's own connection ended since the last call (once per end)."""
        return False

    def restarted_since(self, when: float) -> bool:
        """Whether the database server started after Unix time `when`."""
        return False

    def expire_lost_nodes(self, node_id: str, now: float) -> list[dict]:
        """Expire at once the leases of every other node whose process has ended; the
        leases expired ({session, node})."""
        return []

    def json_number(self, column: str, *path: str) -> str:
        raise NotImplementedError

    def json_without(self, column: str, key: str) -> str:
        """SQL for a JSON object column with one top-level key removed."""
        raise NotImplementedError

    def text_search(self, words: list[tuple[str, bool]],
                    chat: str | None = None) -> tuple[str, str, str, str]:
        """How the message history finds words (events/history.py), each a (word, prefix)
        pair, all of them in a message (of `chat`, when given; the caller also filters on
        it): (the FROM source, naming the messages `m`; the condition; the sort-key column to
        bound and order by; the condition's argument)."""
        raise NotImplementedError

    def serialize(self, tx, name: str) -> None:
        """Hold a lock on `name` until the transaction ends (writers that must not interleave:
        migrations)."""

    # ---- migrations ----
    def migrate(self) -> None:
        migrate(self)

    # ---- fencing ----
    def fence(self, tx, session_id: str) -> None:
        """Refuse a write for a session whose lease this node does not hold at its epoch.

        Without a node id (single box) nothing is checked. A node that held a lease and lost it
        (taken over: a higher epoch, or another node) is refused from then on, until it claims
        the session again; a session with no live lease is written freely.
        """
        if self.node_id is None:
            return
        held = self.held.get(session_id)
        row = tx.execute(f"SELECT node, epoch, expires FROM leases WHERE session = ?"
                         f"{self.share_lock}", (session_id,)).fetchone()
        if held is None:
            if row is None or row["expires"] < self.clock():
                return
        elif row is not None and row["node"] == self.node_id and row["epoch"] == held:
            return
        raise LeaseLost(details={"session": session_id, "epoch": held,
                                 "owner": row["node"] if row else None,
                                 "ownerEpoch": row["epoch"] if row else None})

    def fenced(self, sql: str, args, session_id: str | None = None,
               row_of: tuple[str, str] | None = None) -> list:
        """One write under the session's lease, its RETURNING rows; `row_of` = (table, id)
        finds the session of a row when the caller only knows the row."""
        if self.node_id is None:
            return self.execute(sql, args)
        with self.transaction() as tx:
            if session_id is None and row_of is not None:
                found = tx.execute(f"SELECT session FROM {row_of[0]} WHERE id = ?",
                                   (row_of[1],)).fetchone()
                session_id = found["session"] if found else None
            if session_id is not None:
                self.fence(tx, session_id)
            cur = tx.execute(sql, args)
            return cur.fetchall() if cur.description else []

    # ---- the session registry ----
    def insert_session(self, session_id: str, status: str, options: dict) -> dict:
        now = utcnow()
        rows = self.execute(
            "INSERT INTO sessions (id, created_at, status, last_activity_at, options)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
            (session_id, now, status, now,
             json.dumps(seal_options(options, self.sealer, session_id))))
        if not rows:
            raise KeyError(session_id)
        return self.get_session(session_id)

    def get_session(self, session_id: str) -> dict | None:
        rows = self.execute("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return self._session(rows[0]) if rows else None

    def list_sessions(self) -> list[dict]:
        return [self._session(r)
                for r in self.execute("SELECT * FROM sessions ORDER BY created_at, id")]

    def _session(self, row) -> dict:
        d = _row(row)
        d["options"] = open_options(d["options"], self.sealer, d["id"])
        return d

    _UPDATABLE = {"desired", "status", "status_reason", "me_id", "me_name", "restarts",
                  "last_activity_at", "options"}

    def update_session(self, session_id: str, **fields) -> None:
        unknown = set(fields) - self._UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "options" in fields:
            fields["options"] = json.dumps(seal_options(fields["options"], self.sealer,
                                                        session_id))
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.fenced(f"UPDATE sessions SET {cols} WHERE id = ?",
                           (*fields.values(), session_id), session_id=session_id)

    def delete_session(self, session_id: str) -> None:
        self.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


class GroupCommit:
    """Group commit of writes a backend makes as one statement (PostgreSQL: event appends,
    new sends). A thread whose write finds none under way writes it, with every write queued
    by then (up to MAX), through `write(values of each) -> outcome of each`; writes that
    arrive meanwhile wait, and the first of them writes the next group. A thread has one
    write at a time, so its writes keep their order; a group commits at once."""

    MAX = 64

    def __init__(self, write):
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Grouped] = []
        self._busy = False

    def __call__(self, values):
        """This write's outcome, written with the others queued at the same moment."""
        mine = _Grouped(values)
        with self._lock:
            self._queue.append(mine)
            lead, self._busy = not self._busy, True
        if not lead:
            mine.done.wait()
            if not mine.lead:
                return mine.outcome()
        with self._lock:
            group, self._queue = self._queue[:self.MAX], self._queue[self.MAX:]
        try:
            outcomes = self._write([each.values for each in group])
        except BaseException as e:  # every write of the group failed with it
            outcomes = [e] * len(group)
        for each, outcome in zip(group, outcomes):
            each.result = outcome
        with self._lock:
            if self._queue:  # the next group's writer
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._busy = False
        for each in group:
            each.done.set()
        return mine.outcome()


class _Grouped:
    __slots__ = ("values", "done", "lead", "result")

    def __init__(self, values):
        self.values, self.done, self.lead, self.result = values, threading.Event(), False, None

    def outcome(self):
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


class _SQLiteTx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, sql: str, args=()):
        return self.db.execute(sql, args)


class Store(StoreBase):
    """SQLite under the data folder: one connection in WAL mode, serialized by a lock (writes
    are small and rare)."""

    backend = "sqlite"
    serial_key = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path, busy_timeout: float = 5.0, sealer: Sealer | None = None):
        super().__init__(sealer)
        private_folder(path.parent)
        private_file(path)  # SQLite gives -wal and -shm the database file's mode
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=busy_timeout)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _guard(self, writes: bool):
        try:
            yield
        except sqlite3.OperationalError as e:
            if not any(s in str(e).lower() for s in TRANSIENT):
                raise  # a bug (no such column...), not a store that will come back
            self.failing = str(e)
            raise StorageUnavailable(f"The gateway's database is unavailable: {e}") from e
        if writes:
            self.failing = None

    def execute(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock, self._guard(not sql.lstrip().upper().startswith("SELECT")):
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def transaction(self):
        """Hold the lock for several statements that commit together (or not at all)."""
        with self._lock, self._guard(True):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self._db)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError:
                if self._db.in_transaction:  # a failed COMMIT (full disk) leaves it open
                    self._db.execute("ROLLBACK")
                raise

    def json_text(self, column: str, *path: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    json_number = json_text

    def text_search(self, words: list[tuple[str, bool]],
                    chat: str | None = None) -> tuple[str, str, str, str]:
        # FTS5 walks its rowid (the sort key) newest first and stops at the page's end; the
        # chat's token narrows that walk inside the index (migrations.py)
        expr = "terms : (" + " ".join(f'"{word}"' + ("*" if prefix else "")
                                      for word, prefix in words) + ")"
        if chat is not None:
            expr += f' AND chat_token : "{chat.encode().hex().upper()}"'
        return ("messages_fts JOIN messages m ON m.k = messages_fts.rowid",
                "messages_fts MATCH ?", "messages_fts.rowid", expr)

    def json_without(self, column: str, key: str) -> str:
        return f"json_remove({column}, '$.{key}')"


def private_folder(path: Path) -> Path:
    """Make a folder only the service user may enter (0700), tightening an existing one.

    The data folder holds WhatsApp logins (profiles), media and the database."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Create a file 0600 if missing; tighten an existing one (and its SQLite companions)."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _tighten(each, 0o600)


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except FileNotFoundError:
        pass
    except OSError as e:  # another owner (a mounted volume): say so, do not stop
        log.warning("cannot make %s private (%s): keep it %o", path, e, mode)


def _row(row) -> dict:
    d = dict(row)
    d["options"] = json.loads(d["options"] or "{}")
    return d
