"""Nodes and leases: every gateway process is a node with a heartbeat in the store, and each
session it runs is held by a lease whose epoch is the fencing token of the store's writes.

A claim succeeds when the session has no lease, its lease has expired, or this node held it
(a restart). The epoch then grows, and writes made under any earlier epoch are refused by the
store (StoreBase.fence); a lease row is never deleted, so no epoch repeats. The owner renews
its leases every LEASE_TTL / 3 seconds. Times are Unix seconds of the nodes' clocks, which are
assumed to agree to well under LEASE_TTL (NTP).

Split brain: a node that could not renew a lease for RENEW_DEADLINE of LEASE_TTL (counted on its
monotonic clock from the moment it sent the last renewal that succeeded, so a process stopped
and resumed, or a store it cannot reach, counts as not renewed) refuses every command of that
session and kills its browser (LeaseGuard) before the lease can expire and be claimed by
another node. Its late writes are refused by the store's fence anyway.

A node whose process ended (a crash, an OOM kill, SIGKILL) is found sooner than its leases'
expiry on PostgreSQL: the process holds an advisory lock on a connection of its own, which its
kernel closes as the process dies, and the server then drops the lock (PostgresStore's
presence). The other nodes look for such nodes every PRESENCE_CHECK seconds (LeaseGuard) and
expire their leases at once, so the failover starts within about a second. A node paused or cut
off keeps its connection on the server: its leases run out as above. A node whose connection
the server ended while its process lives (pg_terminate_backend) kills its browsers as soon as it
sees that (LeaseGuard, several times a second), since the others may take its sessions now.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import StorageUnavailable
from .ops.periodic import PeriodicThread
from .store import StoreBase, iso_utc, utcnow

log = logging.getLogger(__name__)
# The share of LEASE_TTL after the last renewal sent at which the owner gives a session up:
# the rest of the TTL is the time its browser has to be gone before the lease expires.
RENEW_DEADLINE = 0.6
# Seconds between two looks for nodes whose process ended (PostgreSQL's presence locks).
PRESENCE_CHECK = 1.0


def node_id_for(config: dict) -> str:
    """NODE_ID, else the host name and a hash of the data folder (two nodes of one host differ)."""
    if config.get("NODE_ID"):
        return str(config["NODE_ID"])
    folder = str(Path(config.get("DATA_DIR") or ".").resolve())
    return f"{socket.gethostname()}-{hashlib.sha1(folder.encode()).hexdigest()[:6]}"


class Leases:
    """The store's nodes and leases tables, as one node sees them."""

    def __init__(self, store: StoreBase, node_id: str, ttl: float,
                 clock: Callable[[], float] = time.time, fence: bool = True):
        self.store = store
        self.node_id = node_id
        self.ttl = ttl
        self.clock = clock
        self.fencing = fence
        # Monotonic time each lease held here was last claimed or renewed (sent, not answered).
        self.renewed: dict[str, float] = {}
        self.beat_clock = 0.0  # clock time of this node's last heartbeat that was stored
        store.clock = clock
        if fence:
            store.node_id = node_id  # from now on the store fences this node's writes

    # ---- this node ----
    def beat(self, url: str | None, capacity: int, free: int, draining: bool = False) -> None:
        now = self.clock()
        self.store.presence_execute(lambda held: (
            "INSERT INTO nodes (id, url, capacity, free, heartbeat, started_at, draining,"
            " presence) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " url = excluded.url, capacity = excluded.capacity, free = excluded.free,"
            " heartbeat = excluded.heartbeat, draining = excluded.draining,"
            " presence = excluded.presence, lost_at = NULL",
            (self.node_id, url, capacity, free, now, utcnow(), int(draining), int(held))))
        self.beat_clock = now

    def expire_lost(self) -> list[dict]:
        """Expire the leases of every other node whose process ended (PostgreSQL): its
        sessions are orphans from now on; the leases expired ({session, node})."""
        if not self.fencing:
            return []
        return self.store.expire_lost_nodes(self.node_id, self.clock())

    def lost_since(self, since: float) -> set[tuple[str, float]]:
        """The nodes found ended (by any node) since clock time `since`: (id, when)."""
        rows = self.store.execute("SELECT id, lost_at FROM nodes WHERE lost_at >= ?", (since,))
        return {(r["id"], r["lost_at"]) for r in rows}

    def presence_ended(self) -> bool:
        """Whether this node's presence connection was ended while the database server kept
        running (pg_terminate_backend): the other nodes may take its sessions at once, so it
        must act for none of them. A server that restarted dropped every node's presence: no
        node takes another's sessions before their leases expire."""
        if not self.fencing or not self.store.presence_lost():
            return False
        try:
            return not self.store.restarted_since(self.beat_clock)
        except StorageUnavailable:
            return False  # the server is away: nobody takes anything before the leases expire

    def lapse_all(self) -> None:
        """Count every lease held here as not renewed (Leases.lapsed)."""
        self.renewed.clear()

    def nodes(self) -> list[dict]:
        """Every node the store knows, with its lease count and whether it beats in time."""
        now = self.clock()
        rows = self.store.execute(
            "SELECT n.*, (SELECT COUNT(*) FROM leases l WHERE l.node = n.id AND l.expires >= ?)"
            " AS sessions FROM nodes n ORDER BY n.id", (now,))
        return [{"id": r["id"], "url": r["url"], "capacity": r["capacity"], "free": r["free"],
                 "heartbeat": iso_utc(r["heartbeat"], "milliseconds"),
                 "alive": r["heartbeat"] + self.ttl >= now and r["lost_at"] is None,
                 "sessions": r["sessions"],
                 "draining": bool(r["draining"]), "startedAt": r["started_at"]} for r in rows]

    # ---- leases ----
    def claim(self, session_id: str) -> int | None:
        """Take the session's lease (free, expired, or ours before a restart); its new epoch,
        or None while another node holds it."""
        now, sent = self.clock(), time.monotonic()
        rows = self.store.execute(
            "INSERT INTO leases (session, node, epoch, expires, acquired_at)"
            " VALUES (?, ?, 1, ?, ?) ON CONFLICT (session) DO UPDATE SET node = excluded.node,"
            " epoch = leases.epoch + 1, expires = excluded.expires,"
            " acquired_at = excluded.acquired_at WHERE leases.expires < ? OR leases.node = ?"
            " RETURNING epoch",
            (session_id, self.node_id, now + self.ttl, utcnow(), now, self.node_id))
        if not rows:
            return None
        epoch = rows[0]["epoch"]
        self.store.held[session_id] = epoch
        self.renewed[session_id] = sent
        return epoch

    def renew(self, session_id: str) -> bool:
        """Extend a lease this node holds; False when it was taken over (or is not held)."""
        epoch = self.store.held.get(session_id)
        if epoch is None:
            return False
        sent = time.monotonic()
        rows = self.store.execute(
            "UPDATE leases SET expires = ? WHERE session = ? AND node = ? AND epoch = ?"
            " RETURNING epoch", (self.clock() + self.ttl, session_id, self.node_id, epoch))
        if rows:
            self.renewed[session_id] = sent
        else:
            self.renewed.pop(session_id, None)  # taken over: lapsed from now on
        return bool(rows)

    def lapsed(self, session_id: str) -> bool:
        """Whether this node may no longer act for a session whose lease it held: its last
        renewal is older than RENEW_DEADLINE of the TTL, or it was taken over. False for a
        session this node never held (single box, or not claimed here)."""
        if not self.fencing or session_id not in self.store.held:
            return False
        sent = self.renewed.get(session_id)
        return sent is None or time.monotonic() > sent + self.ttl * RENEW_DEADLINE

    def release(self, session_id: str) -> None:
        """Give up a lease this node still holds (the session stopped here): it expires now,
        and keeps its epoch so no later claim repeats one. A lease taken over stays in `held`:
        this node's writes for that session stay refused."""
        epoch = self.store.held.get(session_id)
        if epoch is not None and self.store.execute(
                "UPDATE leases SET expires = 0 WHERE session = ? AND node = ? AND epoch = ?"
                " RETURNING epoch", (session_id, self.node_id, epoch)):
            self.store.held.pop(session_id, None)
            self.renewed.pop(session_id, None)

    def hand_to(self, session_id: str, node: str) -> int | None:
        """Give a lease this node holds straight to `node` (a move): a new epoch, so this
        node's writes are refused from now on and no third node can claim it meanwhile; the
        new epoch, or None when this node no longer held it."""
        epoch = self.store.held.get(session_id)
        if epoch is None:
            return None
        rows = self.store.execute(
            "UPDATE leases SET node = ?, epoch = epoch + 1, expires = ?, acquired_at = ?"
            " WHERE session = ? AND node = ? AND epoch = ? RETURNING epoch",
            (node, self.clock() + self.ttl, utcnow(), session_id, self.node_id, epoch))
        self.renewed.pop(session_id, None)
        return rows[0]["epoch"] if rows else None

    def take_back(self, session_id: str, node: str, epoch: int) -> int | None:
        """Claim again a lease handed to `node` that it never took (its epoch unchanged)."""
        sent = time.monotonic()
        rows = self.store.execute(
            "UPDATE leases SET node = ?, epoch = epoch + 1, expires = ?, acquired_at = ?"
            " WHERE session = ? AND node = ? AND epoch = ? RETURNING epoch",
            (self.node_id, self.clock() + self.ttl, utcnow(), session_id, node, epoch))
        if not rows:
            return None
        self.store.held[session_id] = rows[0]["epoch"]
        self.renewed[session_id] = sent
        return rows[0]["epoch"]

    def placement(self, session_id: str) -> dict | None:
        """Where a session is: its desired state, the lease's node (None when no lease is
        live) and that node's URL; None for an unknown session."""
        rows = self.store.execute(
            "SELECT s.desired, l.node, l.expires, n.url FROM sessions s"
            " LEFT JOIN leases l ON l.session = s.id LEFT JOIN nodes n ON n.id = l.node"
            " WHERE s.id = ?", (session_id,))
        if not rows:
            return None
        row = dict(rows[0])
        if row["node"] is not None and row["expires"] < self.clock():
            row["node"] = row["url"] = None
        return row

    def owners(self) -> dict[str, str]:
        """Each session with a live lease: the node holding it."""
        rows = self.store.execute("SELECT session, node FROM leases WHERE expires >= ?",
                                  (self.clock(),))
        return {r["session"]: r["node"] for r in rows}

    def owner(self, session_id: str) -> dict | None:
        rows = self.store.execute("SELECT node, epoch, expires FROM leases WHERE session = ?",
                                  (session_id,))
        return dict(rows[0]) if rows else None


class NodeKeeper(PeriodicThread):
    """The node's heartbeat and lease renewal, every LEASE_TTL / 3 seconds (the first beat in
    start(), so the node is in the store before it serves; a failed beat is tried again)."""

    thread_name = "wa-node"
    join_timeout = 10.0
    run_at_start = False

    def __init__(self, engine, leases: Leases):
        super().__init__()
        self.engine = engine
        self.leases = leases
        self.interval = leases.ttl / 3

    def starting(self) -> None:
        self.beat()

    def run_once(self) -> None:
        self.beat()

    def beat(self) -> None:
        """Heartbeat with this node's measured free capacity; claim or renew the leases of
        the sessions running here, release those that stopped."""
        from .ops.history import capacity
        from .ops.watchdog import measure

        engine = self.engine
        sample = engine.watchdog.last_sample or measure(engine)
        mover = getattr(engine, "mover", None)
        self.leases.beat(engine.config.get("NODE_URL") or None,
                         int(engine.config["MAX_SESSIONS"]),
                         capacity(engine, sample)["sessionsThatFit"],
                         draining=bool(mover and mover.draining))
        self.beaten_at = time.monotonic()  # this node reaches the store (LeaseGuard.take_back)
        if not self.leases.fencing:
            return  # one box (SQLite): nothing else writes its file, no lease to hold
        running = {s.id for s in engine.manager.list() if s.running}
        held = self.leases.store.held
        for session_id in sorted(running):
            if session_id in held:
                if not self.leases.renew(session_id):
                    log.warning("lease of %s was taken over by another node", session_id)
            elif self.leases.claim(session_id) is None:
                log.warning("session %s is leased by another node", session_id)
        for session_id in sorted(set(held) - running):
            self.leases.release(session_id)
        self.adopt()

    def adopt(self) -> None:
        """Failover: take a share of the sessions whose node stopped renewing their leases
        (only with a snapshot store, which brings their logins along)."""
        if self.engine.snapshots is None:
            return
        from .failover import adopt_orphans

        for session_id in adopt_orphans(self.engine):
            log.warning("session %s taken over by this node (failover)", session_id)


class LeaseGuard(PeriodicThread):
    """Kills the browser of every session whose lease this node failed to renew in time
    (Leases.lapsed), checked several times a second, so it is gone before the lease expires."""

    thread_name = "wa-lease-guard"
    join_timeout = 10.0
    run_at_start = False

    def __init__(self, engine, leases: Leases):
        super().__init__()
        self.engine = engine
        self.leases = leases
        self.interval = min(0.5, leases.ttl / 10)
        self.looked_at = 0.0  # monotonic time of the last look for nodes whose process ended
        self.seen_lost: set[tuple[str, float]] = set()  # the ended nodes the last look saw
        # Sessions given up here: monotonic time of the last attempt to run them again.
        self.given_up: dict[str, float] = {}

    def start(self) -> None:
        if self.leases.fencing:
            super().start()

    def run_once(self) -> None:
        if self.leases.presence_ended():
            log.warning("this node's presence connection was ended by the database server: "
                        "other nodes may take its sessions now, so their browsers are killed")
            self.leases.lapse_all()
        self.check()
        self.take_back()
        if time.monotonic() - self.looked_at >= PRESENCE_CHECK:
            self.looked_at = time.monotonic()
            self.find_lost_nodes()

    def find_lost_nodes(self) -> list[dict]:
        """Expire the leases of nodes whose process ended; once any node found one, have this
        node's keeper take its share of their sessions now (NodeKeeper.adopt). The leases this
        look expired."""
        try:
            expired = self.leases.expire_lost()
            lost = self.leases.lost_since(self.leases.clock() - 10 * PRESENCE_CHECK)
        except StorageUnavailable:
            return []  # the server is away: the next look
        if expired:
            log.warning("node(s) %s ended: their %d lease(s) expire now",
                        ", ".join(sorted({e["node"] for e in expired})), len(expired))
        if lost - self.seen_lost:
            self.engine.node.wake()
        self.seen_lost = lost
        return expired

    def check(self) -> list[str]:
        """Give up every running session whose lease lapsed; their ids."""
        lapsed = [s for s in self.engine.manager.list()
                  if s.running and self.leases.lapsed(s.id)]
        for session in lapsed:
            self.give_up(session)
        return [s.id for s in lapsed]

    def take_back(self) -> list[str]:
        """Run again here a session given up while no other node took it (the database was
        out of reach, not a takeover): its lease still names this node, and this node beats
        again. One try per session every LEASE_TTL / 3; the ids started."""
        from .errors import WAEngineError

        if time.monotonic() - getattr(self.engine.node, "beaten_at", 0.0) > self.leases.ttl / 2:
            return []  # this node does not beat (a hang, the store away): not yet
        started = []
        for session_id, tried in list(self.given_up.items()):
            if time.monotonic() - tried < self.leases.ttl / 3:
                continue
            self.given_up[session_id] = time.monotonic()
            session = self.engine.manager.find(session_id)
            if session is None or session.running:
                continue  # still stopping: the next round
            try:
                lease = self.leases.owner(session_id)
                if lease is not None and lease["node"] != self.leases.node_id:
                    log.info("session %s runs on node %s now", session_id, lease["node"])
                    self.given_up.pop(session_id, None)
                    continue
                self.engine.manager.start(session_id)  # claims the lease again first
            except StorageUnavailable:
                continue  # the database is still away: the next round
            except WAEngineError as e:  # another node holds it, no capacity: not here
                log.info("session %s is not started here again: %s", session_id, e.message)
            else:
                started.append(session_id)
                log.info("session %s: lease taken again, started here", session_id)
            self.given_up.pop(session_id, None)
        return started

    def give_up(self, session) -> None:
        log.warning("session %s: lease not renewed in time (or taken over): its browser is "
                    "killed here, another node may own it", session.id)
        self.given_up[session.id] = time.monotonic()
        self.engine.senders.drop(session.id)
        # SIGKILL first: a graceful quit may take longer than what is left of the lease.
        self.engine.reap_browser(session.id)
        threading.Thread(target=session.stop, args=("lease_lost",), daemon=True,
                         name=f"wa-lease-lost-{session.id}").start()
