"""What each session did today, for the session representation (and the dashboard's table).

Read from the tables that already record it (the outbox and the outgoing queue), so nothing is
counted twice and the numbers survive a restart. "Today" is the UTC day.
"""

from __future__ import annotations

import time

from ..store import iso_utc


def day_start(now: float | None = None) -> float:
    """Unix time of this UTC day's midnight."""
    now = time.time() if now is None else now
    return now - now % 86400  # Unix time has no leap seconds: every UTC day is 86,400 s


def session_activity(store, ids: list[str], now: float | None = None) -> dict[str, dict]:
    """{id: {sentToday, receivedToday, undecryptableToday, failedToday, queued, lastEventAt}}
    for these sessions."""
    if not ids:
        return {}
    midnight = day_start(now)
    midnight_iso = iso_utc(midnight)
    marks = ",".join("?" * len(ids))
    out = {sid: {"sentToday": 0, "receivedToday": 0, "undecryptableToday": 0, "failedToday": 0,
                 "queued": 0, "lastEventAt": None} for sid in ids}
    # A failed send has no sent_at: its creation day stands for it.
    sends = store.execute(
        "SELECT session, SUM(CASE WHEN status = 'sent' AND sent_at >= ? THEN 1 ELSE 0 END)"
        " AS sent, SUM(CASE WHEN status = 'failed' AND created_at >= ? THEN 1 ELSE 0 END)"
        " AS failed, SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END) AS queued"
        f" FROM outgoing WHERE session IN ({marks})"
        " GROUP BY session", (midnight, midnight_iso, *ids))
    for row in sends:
        out[row["session"]].update(sentToday=row["sent"] or 0, failedToday=row["failed"] or 0,
                                   queued=row["queued"] or 0)
    events = store.execute(
        "SELECT session,"
        " SUM(CASE WHEN type = 'message' AND created_at >= ? THEN 1 ELSE 0 END) AS received,"
        # messages that stayed "waiting for this message": a profile restored from a stale
        # snapshot, or senders that never answer (docs/cluster.md)
        " SUM(CASE WHEN type = 'message.undecryptable' AND created_at >= ? THEN 1 ELSE 0 END)"
        " AS undecryptable,"
        f" MAX(created_at) AS last FROM events WHERE session IN ({marks}) GROUP BY session",
        (midnight_iso, midnight_iso, *ids))
    for row in events:
        out[row["session"]].update(receivedToday=row["received"] or 0,
                                   undecryptableToday=row["undecryptable"] or 0,
                                   lastEventAt=row["last"])
    return out
