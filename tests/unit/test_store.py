"""The store on both backends (SQLite, a real PostgreSQL): migrations, the registry, the
outbox's order, the outgoing queue's uniqueness, JSON reads, leases and fencing."""

import json
import threading
import time
from types import SimpleNamespace

import pytest

from waengine.cluster import Leases
from waengine.engine.outgoing import OutgoingQueue
from waengine.engine.receipts import Receipts
from waengine.errors import IdempotencyKeyReused, LeaseLost, StorageUnavailable
from waengine.events.outbox import EventOutbox
from waengine.migrations import MIGRATIONS, migrate
from waengine.ops.activity import session_activity
from waengine.store import iso_utc

from ..conftest import BACKENDS, wait_for

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)

CONFIG = {"SEND_MIN_INTERVAL": 0, "SEND_JITTER": 0, "SEND_DAILY_CAP": 0, "SEND_TYPING": False}


def session(sid="s1"):
    return SimpleNamespace(id=sid, options={})


@BOTH
def test_migrations_run_once_in_order_and_a_reopened_store_applies_none(make_store):
    store = make_store()
    rows = store.execute("SELECT version FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == [v for v, _, _ in MIGRATIONS]
    assert migrate(store) == []
    again = make_store()
    assert len(again.execute("SELECT version FROM schema_version")) == len(MIGRATIONS)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # nodes share it
def test_stores_opening_together_each_migration_applies_once(make_store):
    opened, errors = [], []

    def open_one():
        try:
            opened.append(make_store())
        except Exception as e:  # noqa: BLE001 - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(opened) == 4
    assert len(opened[0].execute("SELECT version FROM schema_version")) == len(MIGRATIONS)


@BOTH
def test_the_registry_inserts_updates_lists_and_deletes(store):
    made = store.insert_session("s1", "STOPPED", {"webhook": {"url": "http://h/"}})
    assert made["options"] == {"webhook": {"url": "http://h/"}} and made["desired"] == "running"
    with pytest.raises(KeyError):
        store.insert_session("s1", "STOPPED", {})
    store.update_session("s1", status="CONNECTED", restarts=2, options={"a": 1})
    got = store.get_session("s1")
    assert (got["status"], got["restarts"], got["options"]) == ("CONNECTED", 2, {"a": 1})
    with pytest.raises(ValueError):
        store.update_session("s1", id="x")
    store.insert_session("s2", "STOPPED", {})
    assert [s["id"] for s in store.list_sessions()] == ["s1", "s2"]
    store.delete_session("s1")
    assert store.get_session("s1") is None


@BOTH
def test_a_rolled_back_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("INSERT INTO sessions (id, created_at, status) VALUES (?, ?, ?)",
                   ("s1", "t", "STOPPED"))
        raise RuntimeError("abort")
    assert store.get_session("s1") is None


@BOTH
def test_two_writers_append_events_and_a_reader_never_skips_one(make_store):
    """Two stores (two nodes) append at once, from three threads each; a reader following seq
    sees every event once, each session's in the order it was added. PostgreSQL hands out
    seqs before commit: a seq committed after a higher one would be skipped by the reader."""
    stores = [make_store(), make_store()]
    reader = EventOutbox(make_store())
    per_writer = 100
    seen, done = [], threading.Event()

    def follow():
        after = 0
        while True:
            last_pass = done.is_set()
            rows = reader.since_any(None, after, 1000)
            seen.extend(rows)
            after = rows[-1]["seq"] if rows else after
            if last_pass and not rows:
                return

    def write(outbox, sid):
        for i in range(per_writer):
            outbox.add(sid, "message", {"n": i}, f"message:{sid}:{i}", [{"url": "http://h/"}])

    follower = threading.Thread(target=follow)
    follower.start()
    sessions = [f"s{k}" for k in range(6)]
    threads = [threading.Thread(target=write, args=(EventOutbox(stores[k % 2]), sid))
               for k, sid in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    follower.join(30)
    assert len(seen) == len(sessions) * per_writer == len({r["id"] for r in seen})
    for sid in sessions:
        numbers = [json.loads(r["body"])["data"]["n"] for r in seen if r["session"] == sid]
        assert numbers == list(range(per_writer))
    assert len(reader.due(time.time(), limit=100)) == len(sessions)  # one head per session


@BOTH
def test_the_outbox_dedupes_reads_json_and_forgets(store):
    outbox = EventOutbox(store)
    hook = [{"url": "http://h/"}]
    first = outbox.add("s1", "message", {"timestamp": 1700000000}, "message:a", hook)
    assert outbox.add("s1", "message", {"timestamp": 1700000000}, "message:a", hook) is None
    outbox.add("s1", "message", {"timestamp": 1700000500}, "message:b", hook)
    for status in ("CONNECTED", "SYNCING", "CONNECTED"):
        outbox.add("s1", "session.status", {"status": status}, None, [])
    assert outbox.newest_message_time("s1") == 1700000500
    assert outbox.first_connected_at("s1") is not None
    assert outbox.first_connected_at("s2") is None
    assert [e["type"] for e in outbox.recent("s1", 2)] == ["session.status"] * 2
    assert outbox.seq_of(first["id"], ["s1"]) == first["seq"]
    assert outbox.seq_of(first["id"], ["s2"]) is None and outbox.since_any([], 0) == []
    assert outbox.seq_before_last(["s1"], 5) == first["seq"] - 1
    assert [d["eventId"] for d in outbox.deliveries("s1", "pending", 10)][-1] == first["id"]
    assert outbox.due(now=1e12)[0]["event_id"] == first["id"]  # the head of the queue
    outbox.mark_delivered(first["seq"], "http://h/", 200)
    assert outbox.purge_delivered(-60) == 4  # delivered and hookless events go; one pending
    outbox.forget_session("s1")
    assert outbox.since("s1", 0) == []


@BOTH
def test_one_idempotency_key_makes_one_send_across_two_stores(make_store):
    queues = [OutgoingQueue(make_store(), CONFIG), OutgoingQueue(make_store(), CONFIG)]
    args = {"to": "62811@c.us", "text": "once"}
    rows, start = [], threading.Barrier(8)

    def submit(queue):
        start.wait()
        rows.append(queue.submit(session(), "sendText", args, "key-1"))

    threads = [threading.Thread(target=submit, args=(queues[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["id"] for r in rows}) == 1
    assert queues[0].store.execute("SELECT COUNT(*) AS n FROM outgoing")[0]["n"] == 1
    with pytest.raises(IdempotencyKeyReused):
        queues[1].submit(session(), "sendText", {**args, "text": "other"}, "key-1")


@BOTH
def test_sends_from_two_stores_get_distinct_seqs_in_submit_order(make_store):
    """Three threads on each of two stores (PostgreSQL writes a store's sends made at once
    as one statement) queue sends of one session: every seq once, each thread's in order."""
    queues = [OutgoingQueue(make_store(), CONFIG), OutgoingQueue(make_store(), CONFIG)]
    made = {k: [] for k in range(6)}

    def submit(k):
        for i in range(20):
            made[k].append(queues[k % 2].submit(session(), "sendText",
                                                {"to": "x", "text": f"{k} {i}"}, None))

    threads = [threading.Thread(target=submit, args=(k,)) for k in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r["seq"] for rows in made.values() for r in rows]
    assert sorted(seqs) == list(range(1, 121))
    assert all(a["seq"] < b["seq"] for rows in made.values() for a, b in zip(rows, rows[1:]))


@BOTH
def test_a_send_is_found_by_its_message_id_and_sheds_its_file_when_sent(store):
    queue = OutgoingQueue(store, CONFIG)
    row = queue.submit(session(), "sendFile", {"to": "x", "data": "QUJD", "filename": "a"}, None)
    queue.assign_id(row["id"], "true_x_KEY1")
    queue.finish(row["id"], {"id": "true_x_KEY1", "chatId": "x"}, None)
    done = queue.get("s1", "true_x_KEY1")
    assert done["id"] == row["id"] and done["status"] == "sent"
    assert done["args"] == {"to": "x", "filename": "a"} and done["key_id"] == "KEY1"
    assert queue.by_key_id("s1", "KEY1")["id"] == row["id"]
    assert queue.last_sent_at("s1") == done["sent_at"]


@BOTH
def test_receipts_never_lower_and_activity_counts_today(store):
    receipts = Receipts(store, clock=lambda: 1_800_000_000.0)
    receipts.record("s1", "m1", "a@c.us", 3)
    receipts.record("s1", "m1", "a@c.us", 2)
    assert receipts.of("s1", "m1") == [{"participant": "a@c.us", "ack": "read",
                                        "at": iso_utc(1_800_000_000.0)}]
    queue = OutgoingQueue(store, CONFIG)
    sent = queue.submit(session(), "sendText", {"to": "x", "text": "a"}, None)
    queue.finish(sent["id"], {"id": "true_x_A"}, None)
    queue.submit(session(), "sendText", {"to": "x", "text": "b"}, None)
    EventOutbox(store).add("s1", "message", {"timestamp": 1}, None, [])
    EventOutbox(store).add("s1", "message.undecryptable", {"id": "false_x_B"}, None, [])
    got = session_activity(store, ["s1", "s2"])
    assert got["s1"] == {"sentToday": 1, "receivedToday": 1, "undecryptableToday": 1,
                         "failedToday": 0, "queued": 1, "lastEventAt": got["s1"]["lastEventAt"]}
    assert got["s1"]["lastEventAt"] and got["s2"]["queued"] == 0


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


@BOTH
def test_a_lease_is_renewed_by_its_owner_and_claimed_only_after_it_expires(make_store):
    clock = Clock()
    a = Leases(make_store(), "node-a", ttl=15, clock=clock)
    b = Leases(make_store(), "node-b", ttl=15, clock=clock)
    assert a.claim("s1") == 1
    assert b.claim("s1") is None  # held and live
    clock.now += 10
    assert a.renew("s1")
    clock.now += 10
    assert b.claim("s1") is None  # renewed: still live
    clock.now += 6
    assert b.claim("s1") == 2 and b.owner("s1")["node"] == "node-b"
    assert not a.renew("s1")  # taken over: the old owner cannot extend it
    a.release("s1")  # not its lease any more: nothing is deleted
    assert b.owner("s1")["epoch"] == 2
    b.release("s1")
    assert b.owner("s1")["expires"] == 0 and a.claim("s1") == 3  # an epoch never repeats


@BOTH
def test_writes_under_an_old_epoch_are_refused(make_store):
    """Node A owns s1; its lease lapses and node B takes it over. Every write A then makes
    for s1 (events, the session's status, a send's state) is refused; B's go through."""
    clock = Clock()
    store_a, store_b = make_store(), make_store()
    a = Leases(store_a, "node-a", ttl=15, clock=clock)
    b = Leases(store_b, "node-b", ttl=15, clock=clock)
    store_a.insert_session("s1", "CONNECTED", {})
    outbox_a, outbox_b = EventOutbox(store_a), EventOutbox(store_b)
    queue_a, queue_b = OutgoingQueue(store_a, CONFIG), OutgoingQueue(store_b, CONFIG)
    assert a.claim("s1") == 1
    assert outbox_a.add("s1", "message", {"n": 1}, None, [])
    row = queue_a.submit(session(), "sendText", {"to": "x", "text": "hi"}, None)
    store_a.update_session("s1", status="CONNECTED")
    with pytest.raises(LeaseLost):  # B holds no lease while A does
        outbox_b.add("s1", "message", {"n": 2}, None, [])

    clock.now += 20  # A stopped renewing (paused, cut off)
    assert b.claim("s1") == 2
    with pytest.raises(LeaseLost) as refused:
        outbox_a.add("s1", "message", {"n": 3}, None, [])
    assert refused.value.status == 503 and refused.value.details["ownerEpoch"] == 2
    with pytest.raises(LeaseLost):
        store_a.update_session("s1", status="STOPPED")
    with pytest.raises(LeaseLost):
        queue_a.finish(row["id"], {"id": "true_x_1"}, None)
    with pytest.raises(LeaseLost):
        queue_a.assign_id(row["id"], "true_x_1")
    with pytest.raises(LeaseLost):
        queue_a.submit(session(), "sendText", {"to": "x", "text": "again"}, None)
    a.release("s1")
    clock.now += 20  # B's lease lapses too: A stays refused, it no longer holds s1's lease
    with pytest.raises(LeaseLost):  # still fenced: releasing a lost lease changes nothing
        outbox_a.add("s1", "message", {"n": 4}, None, [])

    assert outbox_b.add("s1", "message", {"n": 5}, None, [])
    queue_b.finish(row["id"], {"id": "true_x_1"}, None)
    store_b.update_session("s1", status="CONNECTED")
    bodies = [r["body"] for r in outbox_b.since("s1", 0)]
    assert len(bodies) == 2 and '"n":5' in bodies[1]
    assert queue_b.get("s1", row["id"])["status"] == "sent"
    assert store_b.get_session("s1")["status"] == "CONNECTED"
    # other sessions, unleased, are written freely
    assert outbox_a.add("s2", "message", {"n": 6}, None, [])


@BOTH
def test_appends_made_at_once_are_each_fenced_and_deduped_on_their_own(make_store):
    """Threads of one node append together (PostgreSQL writes them as groups): each append
    gets its own answer (stored with its delivery, a duplicate, refused under another node's
    lease) whatever else was written with it."""
    clock = Clock()
    store_a, store_b = make_store(), make_store()
    a = Leases(store_a, "node-a", ttl=15, clock=clock)
    b = Leases(store_b, "node-b", ttl=15, clock=clock)
    assert a.claim("mine") == 1 and b.claim("theirs") == 1
    outbox = EventOutbox(store_a)
    rounds, answers = 40, {}

    def append(kind, sid, dedupe):
        got = []
        for i in range(rounds):
            try:
                event = outbox.add(sid, "message", {"n": i}, f"{dedupe}:{i}", [{"url": "http://h/"}])
                got.append(event["seq"] if event else None)
            except LeaseLost:
                got.append("refused")
        answers[kind] = got

    work = [("mine", "mine", "m"), ("again", "mine", "m"), ("theirs", "theirs", "t"),
            ("free", "free", "f"), ("free2", "free", "f2")]
    threads = [threading.Thread(target=append, args=w) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers["theirs"] == ["refused"] * rounds
    queue = OutgoingQueue(store_a, CONFIG)
    sent = {}

    def send(sid, key):
        try:
            sent[key] = queue.submit(session(sid), "sendText", {"to": "x", "text": key}, key)
        except LeaseLost:
            sent[key] = "refused"

    threads = [threading.Thread(target=send, args=(sid, f"{sid}-{k % 3}"))
               for k in range(9) for sid in ("mine", "theirs")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(sent[f"theirs-{k}"] == "refused" for k in range(3))
    assert len({sent[f"mine-{k}"]["seq"] for k in range(3)}) == 3  # one send per key
    assert store_a.execute("SELECT COUNT(*) AS n FROM outgoing")[0]["n"] == 3
    for i in range(rounds):  # one of the two appends of each "mine" event stored it
        assert [answers["mine"][i], answers["again"][i]].count(None) == 1
    stored = {sid: outbox.since(sid, 0, 1000) for sid in ("mine", "theirs", "free")}
    assert [len(stored[sid]) for sid in ("mine", "theirs", "free")] == [rounds, 0, 2 * rounds]
    seqs = {r["seq"] for rows in stored.values() for r in rows}
    answered = {x for got in answers.values() for x in got if isinstance(x, int)}
    assert answered == seqs
    hooks = store_a.execute("SELECT event_seq FROM deliveries")
    assert sorted(r["event_seq"] for r in hooks) == sorted(seqs)


@BOTH
def test_nodes_beat_and_are_listed_with_their_leases(make_store):
    clock = Clock()
    a = Leases(make_store(), "node-a", ttl=15, clock=clock)
    b = Leases(make_store(), "node-b", ttl=15, clock=clock, fence=False)
    a.beat("http://10.0.0.1:8080", 50, 48)
    b.beat(None, 20, 20, draining=True)
    a.claim("s1")
    a.claim("s2")
    clock.now += 16
    b.beat(None, 20, 19, draining=True)
    nodes = {n["id"]: n for n in b.nodes()}
    assert nodes["node-a"]["url"] == "http://10.0.0.1:8080" and nodes["node-a"]["free"] == 48
    assert not nodes["node-a"]["alive"] and nodes["node-a"]["sessions"] == 0  # both expired
    assert nodes["node-b"]["alive"] and nodes["node-b"]["draining"]
    assert nodes["node-b"]["heartbeat"] == iso_utc(clock.now, "milliseconds")


@BOTH
def test_a_store_that_cannot_answer_raises_storage_unavailable(store, database, tmp_path):
    """SQLite: a lock held past the busy timeout; PostgreSQL: the connection refused."""
    if database:
        from waengine.store_pg import PostgresStore

        with pytest.raises(StorageUnavailable):
            PostgresStore(database.rsplit(":", 1)[0] + ":1/x", timeout=1.0)
        return
    import sqlite3

    holder = sqlite3.connect(tmp_path / "store" / "waengine.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store._db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StorageUnavailable):
            store.insert_session("s1", "STOPPED", {})
        assert store.failing
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: store.insert_session("s1", "STOPPED", {}))
    assert store.failing is None


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_paused_inside_a_transaction_cannot_stall_a_takeover(make_store):
    """Node A is frozen (SIGSTOP, a paused VM) in the middle of a fenced write: its
    transaction holds the lease row FOR SHARE. Node B's claim must not wait for A to wake:
    the server ends A's transaction once it is idle past LEASE_TTL / 3, and B's claim goes
    through; A, woken, finds its transaction gone."""
    import threading

    clock = Clock()
    store_a, store_b = make_store(LEASE_TTL=3.0), make_store(LEASE_TTL=3.0)
    a = Leases(store_a, "node-a", ttl=15, clock=clock)
    b = Leases(store_b, "node-b", ttl=15, clock=clock)
    store_a.insert_session("s1", "CONNECTED", {})
    assert a.claim("s1") == 1
    clock.now += 20  # A's lease lapsed while it was frozen
    claimed: list = []
    # A, woken, finds its transaction ended: a 503 storage_unavailable, retried, not a 500
    with pytest.raises(StorageUnavailable), store_a.transaction() as tx:
        tx.execute("SELECT node FROM leases WHERE session = ? FOR SHARE", ("s1",)).fetchone()
        taker = threading.Thread(target=lambda: claimed.append(b.claim("s1")))
        taker.start()
        taker.join(30)  # A stays "frozen" in its transaction meanwhile
        assert claimed == [2], "B's claim waited for the paused node"
        tx.execute("SELECT 1").fetchone()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_database_urls_own_options_are_kept(database, tmp_path):
    """`?options=-c …` in DATABASE_URL (synchronous_commit=off, say) reaches the server
    alongside the store's own idle-in-transaction timeout."""
    from waengine.backends import open_store

    store = open_store({"DATABASE_URL": database + "?options=-c%20work_mem%3D5MB",
                        "LEASE_TTL": 15}, tmp_path)
    try:
        assert store.execute("SHOW work_mem")[0]["work_mem"] == "5MB"
        timeout = store.execute("SHOW idle_in_transaction_session_timeout")[0]
        assert timeout["idle_in_transaction_session_timeout"] == "5s"
    finally:
        store.close()
