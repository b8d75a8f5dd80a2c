"""Failover (cluster mode): sessions whose node stopped renewing their leases are claimed by
the other nodes, by free capacity, and started here from their newest profile snapshot.

A claim of a session that another node held last restores that snapshot into this node's
profile folder before the browser starts (the local copy, if any, is older: the other node ran
the session since). A lease that expired (its node stopped beating, e.g. SIGKILLed) rather
than one that was released (a drain or a move hands the session over itself) makes the claim
a failover: a `session.moved` event {from, to, reason: "failover"}.
"""

from __future__ import annotations

import hashlib
import logging
import math

from .errors import WAEngineError
from .vocabulary import Status

log = logging.getLogger(__name__)


def claim(engine, session_id: str) -> bool:
    """Take the session's lease for this node (SessionManager.may_run); restore its newest
    snapshot when another node held it last. False while another node holds it."""
    leases = engine.leases
    before = leases.owner(session_id)
    if leases.claim(session_id) is None:
        return False
    if before is None or before["node"] == leases.node_id:
        return True
    session = next((s for s in engine.manager.list() if s.id == session_id), None)
    if session is not None and session.running:
        return True  # not reached: a running session's lease is renewed, never lost and won
    expired = before["expires"] > 0  # not released by its node (a drain or a move)
    if session is not None:
        session.claiming("failover" if expired else "move")
    if engine.snapshots is not None:
        try:
            restored = engine.snapshots.restore_latest(session_id, engine.profiles / session_id)
        except Exception as e:  # the store is down or the snapshot does not open
            log.error("session %s: its snapshot could not be restored (%s); it starts from "
                      "this node's profile folder, which may need a new QR scan", session_id, e)
        else:
            if restored is None:
                log.warning("session %s: no snapshot to restore; it starts from this node's "
                            "profile folder, which may need a new QR scan", session_id)
    if expired and session is not None:
        log.warning("session %s: taken over from node %s, which stopped renewing its lease",
                    session_id, before["node"])
        engine._publish(session, "session.moved",
                        {"from": before["node"], "to": leases.node_id, "reason": "failover"})
    return True


def orphans(leases) -> list[dict]:
    """Sessions that should run and whose lease expired (or was released): {session, node,
    expires}, oldest expiry first."""
    rows = leases.store.execute(
        "SELECT l.session, l.node, l.expires FROM leases l JOIN sessions s ON s.id = l.session"
        " WHERE s.desired = 'running' AND s.status <> ? AND l.expires < ?"
        " ORDER BY l.expires, l.session", (Status.FAILED.value, leases.clock()))
    return [dict(r) for r in rows]


def taker(session_id: str, nodes: dict[str, int]) -> str | None:
    """The node that takes an orphan: weighted rendezvous hashing over {node: free capacity},
    so every node works out the same taker whatever the others claimed already, and each
    takes a share in proportion to its free capacity."""
    def score(node: str) -> float:
        digest = hashlib.sha256(f"{session_id}\0{node}".encode()).digest()
        u = (int.from_bytes(digest[:8], "big") + 1) / (2 ** 64 + 2)  # in (0, 1)
        return max(nodes[node], 0.01) / -math.log(u)
    return max(sorted(nodes), key=score) if nodes else None


def adopt_orphans(engine) -> list[str]:
    """Claim and start the orphans this node is the taker of (taker(): by free capacity); one
    still unclaimed a lease time after its expiry is taken by any node with room. The ids
    started here."""
    leases = engine.leases
    found = orphans(leases)
    if not found:
        return []
    # A node whose leases expired is not renewing them, whatever its last beat says.
    lapsed = {o["node"] for o in found}
    alive = {n["id"]: n["free"] for n in leases.nodes()
             if n["alive"] and not n["draining"] and (n["id"] not in lapsed or
                                                      n["id"] == leases.node_id)}
    now = leases.clock()
    started = []
    for orphan in found:
        mine = taker(orphan["session"], alive) in (leases.node_id, None)
        if not mine and now - orphan["expires"] < leases.ttl:
            continue
        engine.manager.load()  # a session another node created is in the registry only
        try:
            session = engine.manager.start(orphan["session"])
        except WAEngineError as e:  # no room here (capacity_exceeded), or just taken: 503
            log.info("session %s not taken over here: %s", orphan["session"], e.message)
            continue
        if not session.running:
            continue
        engine.senders.resume([session])  # queued and unknown sends continue here
        started.append(session.id)
    return started
