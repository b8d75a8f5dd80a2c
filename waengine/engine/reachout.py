"""Reach-out limits: first messages to new contacts ("cold" sends) kept within a budget, and
WhatsApp's reach-out timelock (error 463) obeyed instead of fought.

WhatsApp restricts an account that messages many people it has no chat with (or looks up many
numbers): sends to new contacts are refused with error 463 until the timelock ends, while
replies to existing chats still go out. wa-js 4.6.0 reports such a refusal as any refused send
(sendMsgResult ERROR_UNKNOWN, ack -1); bridge.js adds the server's nack code and the timelock's
end when the page gives them (the sandbox does). A refusal whose nack is 463 is taken as the
timelock, ending when WhatsApp said, or COLD_TIMELOCK_HOLD seconds on; with
COLD_UNKNOWN_IS_TIMELOCK, so is any cold send refused with ERROR_UNKNOWN (what a 463 looks like
where the nack is not visible, at the price of holding other refusals of cold sends too).

While a session is restricted, or has used its cold budget (COLD_CONTACTS_PER_HOUR / _PER_DAY,
or the session's pacing coldPerHour / coldPerDay), its cold sends stay queued and show
`status: "held"` with `heldReason`; the sender goes on with replies, and takes the held ones
once the restriction or the window ends. A send is classified once, before its first attempt,
by whether the page has a chat with that person (Page.chat_known).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import TooManyRequests, WAEngineError
from ..store import StoreBase, iso_utc

log = logging.getLogger(__name__)

TIMELOCK = "reachout_timelock"  # WhatsApp refused a cold send: its timelock is on
BUDGET = "cold_contact_budget"  # the session's own budget of new contacts is used up
NACK_REACHOUT_TIMELOCKED = 463
HOUR, DAY = 3600.0, 86400.0


def budget_end(sent_at: list[float], per_hour: int, per_day: int, now: float) -> float | None:
    """When the next cold send may go, if the budget is used up now, else None.

    `sent_at`: when each cold send of the last day went out. A window is full when it holds
    its limit (0 = no limit); it frees up when its oldest send leaves it."""
    ends = []
    for limit, window in ((per_hour, HOUR), (per_day, DAY)):
        inside = sorted(t for t in sent_at if t > now - window)
        if limit and len(inside) >= limit:
            ends.append(inside[len(inside) - limit] + window)
    return max(ends) if ends else None


def is_person(chat_id: str | None) -> bool:
    """A 1:1 recipient (groups, channels and broadcasts are never reach-outs)."""
    return bool(chat_id) and chat_id.endswith(("@c.us", "@lid"))


def timelock_refusal(error: WAEngineError, cold: bool, unknown_is_timelock: bool) -> bool:
    """Whether a send's failure is WhatsApp's reach-out timelock: its nack says 463, or (with
    COLD_UNKNOWN_IS_TIMELOCK) a cold send was refused without a reason: ERROR_UNKNOWN is all
    wa-js 4.6.0 shows of a 463, and of other refusals too."""
    details = error.details or {}
    if details.get("nack") == NACK_REACHOUT_TIMELOCKED:
        return True
    return unknown_is_timelock and cold and details.get("waCode") == "send_error_unknown"


class ReachOut:
    """Restrictions in force per session (the `restrictions` table) and the cold budget."""

    def __init__(self, store: StoreBase, config: dict, clock: Callable[[], float] = time.time,
                 on_restricted: Callable[[str, dict], None] | None = None):
        self.store = store
        self.config = config
        self.clock = clock
        self.on_restricted = on_restricted
        self._known: dict[str, dict | None] = {}  # session -> its restriction (None: none)
        self._lock = threading.Lock()

    # ---- the timelock ----
    def restriction(self, session_id: str) -> dict | None:
        """{until, reason, since} while the session is restricted, else None."""
        with self._lock:
            if session_id not in self._known:
                rows = self.store.execute("SELECT * FROM restrictions WHERE session = ?",
                                          (session_id,))
                self._known[session_id] = dict(rows[0]) if rows else None
            found = self._known[session_id]
        if found is not None and found["until"] <= self.clock():
            return None
        return found

    def restrict(self, session_id: str, until: float, reason: str = TIMELOCK) -> dict:
        """Record a timelock (a later end extends it); tell on_restricted when it is new or
        longer."""
        now = self.clock()
        current = self.restriction(session_id)
        if current is not None and current["until"] >= until:
            return current
        since = current["since"] if current else now
        self.store.fenced(
            "INSERT INTO restrictions (session, until, reason, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (session) DO UPDATE SET until = excluded.until,"
            " reason = excluded.reason, since = excluded.since",
            (session_id, until, reason, since), session_id=session_id)
        record = {"session": session_id, "until": until, "reason": reason, "since": since}
        with self._lock:
            self._known[session_id] = record
        log.warning("session %s restricted by WhatsApp (%s) until %s", session_id, reason,
                    iso_utc(until))
        if self.on_restricted is not None:
            self.on_restricted(session_id, record)
        return record

    def until_of(self, error: WAEngineError) -> float:
        """When a timelock ends: as WhatsApp said, else COLD_TIMELOCK_HOLD from now."""
        ends = (error.details or {}).get("timelockEnds")
        now = self.clock()
        if isinstance(ends, (int, float)) and not isinstance(ends, bool):
            # an end just past (whole seconds, clocks apart): look again in a moment
            return max(float(ends), now + 1.0)
        return now + float(self.config.get("COLD_TIMELOCK_HOLD", 3600.0))

    def forget(self, session_id: str) -> None:
        self.store.execute("DELETE FROM restrictions WHERE session = ?", (session_id,))
        with self._lock:
            self._known.pop(session_id, None)

    # ---- what holds a cold send ----
    def hold(self, session_id: str, pacing: dict) -> dict | None:
        """{reason, until} while the session's cold sends must wait, else None."""
        restricted = self.restriction(session_id)
        if restricted is not None:
            return {"reason": restricted["reason"], "until": restricted["until"]}
        per_hour, per_day = int(pacing.get("coldPerHour") or 0), int(pacing.get("coldPerDay") or 0)
        if not per_hour and not per_day:
            return None
        now = self.clock()
        rows = self.store.execute(
            "SELECT sent_at FROM outgoing WHERE session = ? AND cold = 1 AND status = 'sent'"
            " AND sent_at > ?", (session_id, now - DAY))
        end = budget_end([r["sent_at"] for r in rows], per_hour, per_day, now)
        return {"reason": BUDGET, "until": end} if end is not None else None

    @staticmethod
    def held(row: dict, hold: dict | None) -> dict | None:
        """What a queued row shows while it waits: {reason, until} when it is a held cold send."""
        if hold is None or row.get("cold") != 1 or row.get("status") != "queued":
            return None
        return hold


def event_of(record: dict) -> dict:
    """The session.restricted event's data."""
    return {"until": iso_utc(record["until"]), "reason": record["reason"],
            "since": iso_utc(record["since"])}


class Lookups:
    """Number lookups (…/exists) per session: answers cached for EXISTS_CACHE_TTL seconds, at
    most EXISTS_PER_MINUTE asked of WhatsApp per rolling minute (bulk lookups bring a
    timelock, as bulk first messages do). Past the rate: 429 with Retry-After."""

    def __init__(self, config: dict, clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock
        self._asked: dict[str, list[float]] = {}
        self._answers: dict[tuple[str, str], tuple[float, dict | None]] = {}
        self._lock = threading.Lock()

    def cached(self, session_id: str, number_id: str) -> tuple[bool, dict | None]:
        """(True, answer) when a fresh answer is kept, else (False, None)."""
        with self._lock:
            kept = self._answers.get((session_id, number_id))
        if kept is not None and kept[0] > self.clock():
            return True, kept[1]
        return False, None

    def admit(self, session_id: str) -> None:
        """Count a lookup about to be asked of WhatsApp; TooManyRequests past the rate."""
        limit = int(self.config.get("EXISTS_PER_MINUTE", 0) or 0)
        now = self.clock()
        with self._lock:
            asked = [t for t in self._asked.get(session_id, ()) if t > now - 60.0]
            if limit and len(asked) >= limit:
                self._asked[session_id] = asked
                retry = max(1, int(asked[0] + 60.0 - now) + 1)
                raise TooManyRequests(
                    f"At most {limit} number lookups a minute for this session",
                    details={"existsPerMinute": limit}, headers={"Retry-After": str(retry)})
            asked.append(now)
            self._asked[session_id] = asked

    def keep(self, session_id: str, number_id: str, answer: dict | None) -> None:
        ttl = float(self.config.get("EXISTS_CACHE_TTL", 0) or 0)
        if ttl <= 0:
            return
        with self._lock:
            if len(self._answers) > 50_000:  # bounded: expired answers go first
                now = self.clock()
                self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            self._answers[(session_id, number_id)] = (self.clock() + ttl, answer)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._asked.pop(session_id, None)
            self._answers = {k: v for k, v in self._answers.items() if k[0] != session_id}
