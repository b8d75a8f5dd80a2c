"""Reach-out limits as WhatsApp applies them: a rolling budget of new contacts per account, a
rate for number lookups, and the "reach-out timelock" that follows when either is overrun.

A new contact is a first message to a person the account has no chat with. Past the budget,
or while a timelock is on, the server refuses such a send with error 463
(NackCallerReachoutTimelocked): the page's send resolves with ERROR_UNKNOWN and ack -1, the shape
wa-js 4.6.0 gives a refused send. Replies to existing chats and group messages still go out, as
on WhatsApp. The refusal carries WhatsApp's own timelock notice (the MEX notification
`xwa2_notify_account_reachout_timelock`: enforcementType, isActive, timeEnforcementEnds). Lookups
past their rate are refused (429 rate-overlimit) and start the timelock too.

Limits are off until a test sets them (POST /_sandbox/phones/{phone}/reach-out). Times come
from the network's clock; a timelock's end may be set outright, so a test never waits a real
hour for one to end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .model import Phone, SandboxError, is_group_id, normalize_phone, user_wid

NACK_REACHOUT_TIMELOCKED = 463
ENFORCEMENT = "REACHOUT_TIMELOCK"
WINDOW_MAX = 7 * 86400


@dataclass
class ReachOut:
    new_contacts: int | None = None  # first messages allowed per window; None: no limit
    window: float = 3600.0
    lookups: int | None = None  # number lookups allowed per lookup_window; None: no limit
    lookup_window: float = 60.0
    timelock_seconds: float = 86400.0  # how long a timelock lasts once it starts
    until: float | None = None  # the timelock in force ends then (unix seconds)
    contacts: list = field(default_factory=list)  # when each new contact was messaged
    looked_up: list = field(default_factory=list)  # when each lookup was made
    refused: int = 0  # sends and lookups refused while restricted


def _limit(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SandboxError(400, "validation_error", f"'{name}' must be a non-negative integer")
    return value


def _seconds(value, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= WINDOW_MAX:
        raise SandboxError(400, "validation_error", f"'{name}' must be 0 < seconds <= {WINDOW_MAX}")
    return float(value)


class ReachOutOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_reach_out(self, phone, data: dict) -> dict:
        """Set a phone's budgets; `until` (unix seconds, or null) sets or lifts its timelock."""
        digits = normalize_phone(phone)
        with self._cond:
            self._require_phone(digits)
            state = self._reach_out.setdefault(digits, ReachOut())
            if "newContacts" in data:
                state.new_contacts = _limit(data["newContacts"], "newContacts")
            if "lookups" in data:
                state.lookups = _limit(data["lookups"], "lookups")
            state.window = _seconds(data.get("window"), "window", state.window)
            state.lookup_window = _seconds(data.get("lookupWindow"), "lookupWindow",
                                           state.lookup_window)
            state.timelock_seconds = _seconds(data.get("timelockSeconds"), "timelockSeconds",
                                              state.timelock_seconds)
            if "until" in data:
                until = data["until"]
                if until is not None and (isinstance(until, bool)
                                          or not isinstance(until, (int, float))):
                    raise SandboxError(400, "validation_error", "'until' must be unix seconds or null")
                state.until = None if until is None else float(until)
                if until is None:  # lifted: the budget starts afresh, as after a timelock
                    state.contacts.clear()
                    state.looked_up.clear()
            return self._reach_out_view(digits)

    def get_reach_out(self, phone) -> dict:
        digits = normalize_phone(phone)
        with self._cond:
            self._require_phone(digits)
            return self._reach_out_view(digits)

    def _reach_out_view(self, digits: str) -> dict:
        state = self._reach_out.get(digits) or ReachOut()
        now = self._clock()
        return {"phone": digits, "newContacts": state.new_contacts, "window": state.window,
                "used": len([t for t in state.contacts if t > now - state.window]),
                "lookups": state.lookups, "lookupWindow": state.lookup_window,
                "timelockSeconds": state.timelock_seconds, "refused": state.refused,
                "timelock": self._timelock_notice(state, now)}

    @staticmethod
    def _timelock_notice(state: ReachOut, now: float) -> dict:
        """WhatsApp's timelock notice (the fields of xwa2_notify_account_reachout_timelock)."""
        active = state.until is not None and state.until > now
        return {"enforcementType": ENFORCEMENT, "isActive": active,
                "timeEnforcementEnds": int(state.until) if active else None}

    def _has_chat(self, account: Phone, target: str) -> bool:
        """Lock held: the account already talks with that person (either side wrote first)."""
        peer = self._phones.get(target)
        ids = {user_wid(target)} | ({peer.lid + "@lid"} if peer else set())
        return any(account.chats.get(i) is not None and account.chats[i].msg_ids for i in ids)

    def _check_reach_out(self, sender: str, target: str) -> None:
        """Lock held: refuse a first message to a new contact past the budget (error 463)."""
        state = self._reach_out.get(sender)
        if state is None or is_group_id(target) or target == sender:
            return
        account = self._phones[sender]
        if target in self._phones and self._has_chat(account, target):
            return  # a reply or a follow-up: never counted
        now = self._clock()
        if state.until is not None and state.until <= now:
            state.until = None  # the timelock is over: the budget starts afresh
            state.contacts.clear()
        state.contacts = [t for t in state.contacts if t > now - state.window]
        if state.until is None and state.new_contacts is not None \
                and len(state.contacts) >= state.new_contacts:
            state.until = math.ceil(now + state.timelock_seconds)  # WhatsApp names whole seconds
        if state.until is not None:
            state.refused += 1
            raise ReachOutRefused(state, now)
        state.contacts.append(now)

    def _check_lookup(self, sender: str) -> None:
        """Lock held: with a lookup rate set, refuse a lookup past it (overrunning it starts
        the timelock) or during a timelock."""
        state = self._reach_out.get(sender)
        if state is None or state.lookups is None:
            return
        now = self._clock()
        if state.until is not None and state.until <= now:
            state.until = None
            state.looked_up.clear()
        state.looked_up = [t for t in state.looked_up if t > now - state.lookup_window]
        if state.until is None and state.lookups is not None \
                and len(state.looked_up) >= state.lookups:
            state.until = math.ceil(now + state.timelock_seconds)
        if state.until is not None:
            state.refused += 1
            raise SandboxError(429, "rate-overlimit", "Number lookups refused: reach-out timelock")
        state.looked_up.append(now)


class ReachOutRefused(SandboxError):
    """The server's nack of a send to a new contact: 463, with the timelock notice."""

    def __init__(self, state: ReachOut, now: float):
        super().__init__(409, "ERROR_UNKNOWN", "Reach-out timelocked (error 463)")
        self.extra = {"nack": NACK_REACHOUT_TIMELOCKED,
                      "reachoutTimelock": ReachOutOps._timelock_notice(state, now)}
