"""Who is who: each session's map between a person's phone-number id (`…@c.us`) and their
`…@lid`, kept in the store (the `contact_ids` table).

WhatsApp addresses more and more people by an opaque `@lid` only, and learns their phone number
later, or never: a message of theirs, a receipt, a lookup or a group roster may name both. The
page knows what WhatsApp Web knows now; the gateway remembers every pair it ever saw, so events,
send responses and contact lookups carry both ids wherever one was once learned, and one person
stays one contact (not one under each id).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..store import StoreBase

SOURCES = ("message", "receipt", "lookup", "group", "contact", "send")


def bare(wid: str | None) -> str | None:
    """A person's id without its device part ("…:12@lid" -> "…@lid"); None if not a person."""
    if not isinstance(wid, str) or not wid.endswith(("@c.us", "@lid")):
        return None
    user, _, server = wid.partition("@")
    return f"{user.split(':')[0]}@{server}"


class ContactIds:
    """The phone <-> @lid pairs a session learned; a small memory in front of the store."""

    def __init__(self, store: StoreBase, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._pairs: dict[tuple[str, str], str] = {}  # (session, one id) -> the other id
        self._lock = threading.Lock()

    def learn(self, session_id: str, phone: str | None, lid: str | None, source: str) -> bool:
        """Keep a pair (both ids of one person); True when it is new or changed."""
        phone, lid = bare(phone), bare(lid)
        if not phone or not lid or not phone.endswith("@c.us") or not lid.endswith("@lid"):
            return False
        with self._lock:
            if self._pairs.get((session_id, lid)) == phone:
                return False
        self.store.fenced(
            "INSERT INTO contact_ids (session, lid, phone, source, learned_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session, lid) DO UPDATE SET"
            " phone = excluded.phone, source = excluded.source, learned_at = excluded.learned_at",
            (session_id, lid, phone, source, self.clock()), session_id=session_id)
        with self._lock:
            old = self._pairs.get((session_id, lid))
            if old:
                self._pairs.pop((session_id, old), None)
            self._pairs[(session_id, lid)] = phone
            self._pairs[(session_id, phone)] = lid
        return True

    def other(self, session_id: str, wid: str | None) -> str | None:
        """The other id of the person `wid` names, when learned."""
        wid = bare(wid)
        if not wid:
            return None
        with self._lock:
            hit = self._pairs.get((session_id, wid))
        if hit:
            return hit
        if wid.endswith("@lid"):
            rows = self.store.execute(
                "SELECT phone AS other FROM contact_ids WHERE session = ? AND lid = ?",
                (session_id, wid))
        else:
            rows = self.store.execute(
                "SELECT lid AS other FROM contact_ids WHERE session = ? AND phone = ?"
                " ORDER BY learned_at DESC LIMIT 1", (session_id, wid))
        if not rows:
            return None
        with self._lock:
            self._pairs[(session_id, wid)] = rows[0]["other"]
        return rows[0]["other"]

    def pair(self, session_id: str, *ids: str | None) -> dict:
        """{phone, lid} of the person these ids name (any of them, in order), filled in from
        what was learned."""
        phone = lid = None
        for wid in ids:
            wid = bare(wid)
            if wid and wid.endswith("@c.us"):
                phone = phone or wid
            elif wid and wid.endswith("@lid"):
                lid = lid or wid
        if phone and not lid:
            lid = self.other(session_id, phone)
        elif lid and not phone:
            phone = self.other(session_id, lid)
        return {"phone": phone, "lid": lid}

    def known(self, session_id: str) -> dict[str, str]:
        """Every learned id of the session -> the other id (one read, for whole lists)."""
        out: dict[str, str] = {}
        for r in self.store.execute("SELECT phone, lid FROM contact_ids WHERE session = ?",
                                    (session_id,)):
            out[r["lid"]] = r["phone"]
            out.setdefault(r["phone"], r["lid"])
        return out

    def forget(self, session_id: str) -> None:
        self.store.execute("DELETE FROM contact_ids WHERE session = ?", (session_id,))
        with self._lock:
            self._pairs = {k: v for k, v in self._pairs.items() if k[0] != session_id}

    # ---- learning from what the page reports ----
    def learn_from_message(self, session_id: str, m: dict) -> None:
        """A message names its sender by both ids (senderIds, its sender contact) at times."""
        ids = m.get("senderIds") or {}
        self.learn(session_id, ids.get("phone"), ids.get("lid"), "message")
        sender = m.get("sender") or {}
        self.learn(session_id, sender.get("id"), sender.get("lid"), "message")
        self.learn(session_id, sender.get("phone") and _phone_id(sender.get("phone")),
                   sender.get("lid"), "message")

    def learn_from_contacts(self, session_id: str, contacts: list[dict], source: str) -> None:
        """A contact list, a lookup's answer or a group roster's members: {id, phone?, lid?}."""
        for c in contacts:
            wid = bare(c.get("id"))
            phone = wid if wid and wid.endswith("@c.us") else _phone_id(c.get("phone"))
            self.learn(session_id, phone, c.get("lid") or (wid if wid and wid.endswith("@lid")
                                                           else None), source)


def _phone_id(phone: str | None) -> str | None:
    """"6281…" -> "6281…@c.us" (a contact's phone field is digits)."""
    if not isinstance(phone, str) or not phone.isdigit():
        return None
    return phone + "@c.us"


def merge_contacts(contacts: list[dict], pairs: dict[str, str]) -> list[dict]:
    """One entry per person: WhatsApp lists a LID-addressed person twice (under the phone id and
    under the @lid). An @lid entry whose phone id is listed too is folded into that entry;
    every entry gets the other id where a pair is known (`pairs`: id -> the other id)."""
    by_id = {c.get("id"): c for c in contacts}
    out, folded = [], set()
    for c in contacts:
        wid = c.get("id") or ""
        other = pairs.get(wid) or (c.get("lid") if wid.endswith("@c.us") else None) \
            or (_phone_id(c.get("phone")) if wid.endswith("@lid") else None)
        if wid.endswith("@lid") and other in by_id:
            folded.add(wid)
            continue  # the phone-id entry stands for the person
        entry = dict(c)
        if wid.endswith("@c.us") and other and not entry.get("lid"):
            entry["lid"] = other
        if wid.endswith("@lid") and other and not entry.get("phone"):
            entry["phone"] = other.split("@")[0]
        out.append(entry)
    for entry in out:  # what the folded @lid entry knew and the phone entry did not
        lid = entry.get("lid")
        if lid in folded:
            twin = by_id[lid]
            for key in ("name", "shortName", "pushname"):
                entry[key] = entry.get(key) or twin.get(key)
    return out
