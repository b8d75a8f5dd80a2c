"""The store's schema as ordered migrations, run at start on SQLite and PostgreSQL alike.

`schema_version` records each migration applied. They run in one transaction under a lock
(PostgreSQL: an advisory lock), so nodes starting together apply each migration once. A
migration is a list of statements; `{serial}` is the backend's autoincrement key. Columns hold
the same types on both: TEXT, BIGINT, DOUBLE PRECISION (SQLite reads them as TEXT, INTEGER,
REAL), JSON as TEXT.
"""

from __future__ import annotations

from datetime import datetime, timezone

SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    -- running: the gateway keeps a browser for it (restored after a restart); stopped: it does not
    desired TEXT NOT NULL DEFAULT 'running',
    status TEXT NOT NULL,
    status_reason TEXT,
    me_id TEXT,
    me_name TEXT,
    restarts BIGINT NOT NULL DEFAULT 0,
    last_activity_at TEXT,
    options TEXT NOT NULL DEFAULT '{}'
)"""

EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    seq {serial},
    id TEXT NOT NULL UNIQUE,
    session TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    -- the same WhatsApp fact seen twice (redelivered after a reload) is one event
    dedupe TEXT,
    UNIQUE (session, dedupe)
)"""

DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    event_seq BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    session TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed (dead letter)
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_error TEXT,
    last_status BIGINT,
    delivered_at TEXT,
    PRIMARY KEY (event_seq, url)
)"""

OUTGOING = """
CREATE TABLE IF NOT EXISTS outgoing (
    id TEXT PRIMARY KEY,
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    idempotency_key TEXT,
    status TEXT NOT NULL DEFAULT 'queued',  -- queued | unknown | sent | failed
    attempts BIGINT NOT NULL DEFAULT 0,
    message TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    sent_at DOUBLE PRECISION,
    -- the WhatsApp message id chosen before the first attempt, to look for after a crash
    wa_id TEXT,
    -- sha256 of op and args: an Idempotency-Key reused for another request is refused
    fingerprint TEXT,
    -- a send WhatsApp refused for a passing reason waits until then before its next attempt
    retry_at DOUBLE PRECISION,
    -- the random id part of wa_id: receipts name the message by it (engine/receipts.py)
    key_id TEXT,
    UNIQUE (session, idempotency_key)
)"""

RECEIPTS = """
CREATE TABLE IF NOT EXISTS receipts (
    session TEXT NOT NULL,
    message_id TEXT NOT NULL,   -- the id the send answered with
    participant TEXT NOT NULL,  -- the group member whose device sent the receipt
    ack BIGINT NOT NULL,        -- 2 delivered, 3 read (a receipt never lowers it)
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (session, message_id, participant)
)"""

NODES = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    url TEXT,
    capacity BIGINT NOT NULL,
    free BIGINT NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,  -- Unix time of the node's last beat
    started_at TEXT NOT NULL,
    draining BIGINT NOT NULL DEFAULT 0
)"""

# One owner per session; `epoch` grows at every claim: the fencing token every write checks.
LEASES = """
CREATE TABLE IF NOT EXISTS leases (
    session TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,  -- Unix time; the owner renews before then
    acquired_at TEXT NOT NULL
)"""


def _baseline(store, tx) -> None:
    """The tables of a single box. A SQLite file from an earlier release already has some of
    them, perhaps without the columns added since."""
    for sql in (SESSIONS, EVENTS, DELIVERIES, OUTGOING, RECEIPTS):
        tx.execute(sql.replace("{serial}", store.serial_key))
    if store.backend == "sqlite":
        columns = {r["name"] for r in tx.execute("PRAGMA table_info(outgoing)").fetchall()}
        for column, kind in (("wa_id", "TEXT"), ("fingerprint", "TEXT"),
                             ("retry_at", "REAL"), ("key_id", "TEXT")):
            if column not in columns:
                tx.execute(f"ALTER TABLE outgoing ADD COLUMN {column} {kind}")
        # Secrets are kept once, with the hook (session options, config), looked up at
        # delivery time; early releases copied them into every delivery row.
        tx.execute("UPDATE deliveries SET secret = NULL WHERE secret IS NOT NULL")
    for sql in ("CREATE INDEX IF NOT EXISTS events_session ON events (session, seq)",
                "CREATE INDEX IF NOT EXISTS deliveries_pending"
                " ON deliveries (status, session, event_seq)",
                "CREATE INDEX IF NOT EXISTS outgoing_queue ON outgoing (session, status, seq)",
                "CREATE INDEX IF NOT EXISTS outgoing_key ON outgoing (session, key_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS outgoing_seq ON outgoing (session, seq)"):
        tx.execute(sql)


def _nodes_and_leases(store, tx) -> None:
    tx.execute(NODES)
    tx.execute(LEASES)
    tx.execute("CREATE INDEX IF NOT EXISTS leases_node ON leases (node)")


# The message history (events/history.py). `k` orders a session's messages: the WhatsApp
# timestamp in its high bits, a hash of the id below (HISTORY_KEY_BITS), so a page is a range
# of one index and the full-text index walks it newest first. `terms` is the searchable text
# as history.py normalizes it, the same words for both backends' full-text indexes.
MESSAGES = """
CREATE TABLE IF NOT EXISTS messages (
    k {key},
    session TEXT NOT NULL,
    id TEXT NOT NULL,
    key_id TEXT,            -- the random id part of `id`: receipts name a message by it
    chat TEXT NOT NULL,
    sender TEXT,
    recipient TEXT,
    from_me BIGINT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,     -- the text, a media caption, a poll's name
    ack BIGINT NOT NULL,    -- WhatsApp's code (vocabulary.ACK_BY_CODE); it only rises
    timestamp BIGINT NOT NULL,
    edited_at BIGINT,
    revoked_at BIGINT,
    terms TEXT NOT NULL,
    data TEXT NOT NULL,     -- the message as events show it (media by reference)
    UNIQUE (session, id)
)"""


def _message_history(store, tx) -> None:
    key = "INTEGER PRIMARY KEY" if store.backend == "sqlite" else "BIGINT PRIMARY KEY"
    tx.execute(MESSAGES.replace("{key}", key))
    for sql in ("CREATE INDEX IF NOT EXISTS messages_session ON messages (session, k)",
                "CREATE INDEX IF NOT EXISTS messages_chat ON messages (session, chat, k)",
                "CREATE INDEX IF NOT EXISTS messages_type ON messages (session, type, k)",
                "CREATE INDEX IF NOT EXISTS messages_key ON messages (session, key_id)"):
        tx.execute(sql)
    if store.backend == "sqlite":
        # FTS5 over the table's own `terms` (external content), triggers keeping it in step;
        # and the chat as one token (its hex), so a search within a chat is one index walk
        tx.execute("ALTER TABLE messages ADD COLUMN chat_token TEXT"
                   " GENERATED ALWAYS AS (hex(chat)) VIRTUAL")
        tx.execute("CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
                   "terms, chat_token, content='messages', content_rowid='k')")
        tx.execute("CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages"
                   " BEGIN INSERT INTO messages_fts (rowid, terms, chat_token)"
                   " VALUES (new.k, new.terms, new.chat_token); END")
        tx.execute("CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages"
                   " BEGIN INSERT INTO messages_fts (messages_fts, rowid, terms, chat_token)"
                   " VALUES ('delete', old.k, old.terms, old.chat_token); END")
        tx.execute("CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF terms"
                   " ON messages BEGIN INSERT INTO messages_fts (messages_fts, rowid, terms,"
                   " chat_token) VALUES ('delete', old.k, old.terms, old.chat_token);"
                   " INSERT INTO messages_fts (rowid, terms, chat_token)"
                   " VALUES (new.k, new.terms, new.chat_token); END")
    else:
        # The terms as they are (no parser, no stemming): the same words FTS5 indexes
        tx.execute("CREATE INDEX IF NOT EXISTS messages_terms ON messages"
                   " USING GIN (array_to_tsvector(string_to_array(terms, ' ')))")
# A session's reach-out timelock (engine/reachout.py): cold sends wait until `until`.
RESTRICTIONS = """
CREATE TABLE IF NOT EXISTS restrictions (
    session TEXT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL,  -- Unix time the timelock ends
    reason TEXT NOT NULL,
    since DOUBLE PRECISION NOT NULL
)"""

# What each session learned of who is who: a person's phone-number id and @lid
# (engine/identities.py), from messages, receipts, lookups and group rosters.
CONTACT_IDS = """
CREATE TABLE IF NOT EXISTS contact_ids (
    session TEXT NOT NULL,
    lid TEXT NOT NULL,     -- …@lid
    phone TEXT NOT NULL,   -- …@c.us
    source TEXT NOT NULL,  -- message | receipt | lookup | group | contact
    learned_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (session, lid)
)"""


def _reach_out_and_identities(store, tx) -> None:
    tx.execute(RESTRICTIONS)
    tx.execute(CONTACT_IDS)
    tx.execute("CREATE INDEX IF NOT EXISTS contact_ids_phone ON contact_ids (session, phone)")
    # a send to a person with no chat yet (1), a reply (0), not looked at yet (NULL)
    tx.execute("ALTER TABLE outgoing ADD COLUMN cold BIGINT")


def _node_presence(store, tx) -> None:
    # presence: 1 while the node's process holds its presence lock (PostgreSQL, cluster.py);
    # lost_at: Unix time another node found that process ended (its lock free).
    tx.execute("ALTER TABLE nodes ADD COLUMN presence BIGINT NOT NULL DEFAULT 0")
    tx.execute("ALTER TABLE nodes ADD COLUMN lost_at DOUBLE PRECISION")


# (version, name, apply(store, tx)): append only; a released migration never changes.
MIGRATIONS = [
    (1, "baseline: sessions, events, deliveries, outgoing, receipts", _baseline),
    (2, "nodes and leases", _nodes_and_leases),
    (3, "message history", _message_history),
    (6, "reach-out restrictions, cold sends, phone <-> @lid map", _reach_out_and_identities),
    (7, "a node's presence: a process that ended is found at once", _node_presence),
]


def migrate(store) -> list[int]:
    """Apply the migrations this database lacks, in order; return their versions."""
    with store.transaction() as tx:
        store.serialize(tx, "migrations")
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY,"
                   " name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        done = {r["version"] for r in tx.execute("SELECT version FROM schema_version").fetchall()}
        applied = []
        for version, name, apply in MIGRATIONS:
            if version in done:
                continue
            apply(store, tx)
            tx.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                       (version, name, datetime.now(timezone.utc).isoformat(timespec="milliseconds")))
            applied.append(version)
    return applied
