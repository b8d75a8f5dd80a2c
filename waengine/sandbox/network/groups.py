"""Creating groups and changing their participants."""

from __future__ import annotations

import secrets

from .contacts import check_addressing
from .model import (
    Group,
    Phone,
    SandboxError,
    normalize_phone,
    user_wid,
)


class GroupOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def create_group(self, name: str, owner, participants: list, create_missing=False,
                     addressing: str | None = None) -> dict:
        """Create a group owned by `owner`; members' devices learn it (a 'chat' event).

        Unknown participants fail with participant_not_exists (as wa-js does), unless
        `create_missing` (the control API, for convenience) puts them on the network.
        """
        owner_digits = normalize_phone(owner)
        subject = str(name or "").strip()
        if not subject:
            raise SandboxError(400, "invalid_name", "A group needs a name")
        with self._cond:
            members = [self._person(p) for p in participants or []]
            self._ensure_phone(owner_digits)
            missing = [p for p in members if p not in self._phones]
            if create_missing:
                for phone in missing:
                    self._ensure_phone(phone)
            elif missing:
                raise SandboxError(404, "participant_not_exists",
                                   f"Participant not exists: {missing[0]}")
            gid = self._new_group_id()
            roles = {p: "member" for p in members if p != owner_digits}
            roles = {owner_digits: "superadmin", **roles}
            group = Group(gid, subject, owner_digits, int(self._clock()), roles,
                          addressing=check_addressing(addressing or "pn"))
            self._groups[gid] = group
            for phone in roles:
                self._chat(self._phones[phone], gid)
                self._push_chat(phone, gid)
            self._cond.notify_all()
            result = self._group_view(group)
            result["participantResults"] = {
                self._member_id(group, p): {"wid": self._member_id(group, p), "code": 200,
                                            "invite_code": None, "invite_code_exp": None}
                for p in members if p != owner_digits
            }
            return result

    def _new_group_id(self) -> str:
        while True:
            gid = f"1203630{secrets.randbelow(10**11):011d}@g.us"
            if gid not in self._groups:
                return gid

    def _push_chat(self, phone: str, chat_id: str) -> None:
        def make(account: Phone) -> dict:
            return {"chat": self._chat_view(account, self._chat(account, chat_id))}

        self._push_phone(phone, "chat", make)

    def get_group(self, gid: str) -> dict:
        with self._cond:
            return self._group_view(self._require_group(gid))

    def _require_group(self, gid: str) -> Group:
        group = self._groups.get(str(gid))
        if group is None:
            raise SandboxError(404, "group_not_found", f"No group {gid}")
        return group

    def change_participants(self, gid: str, add=(), remove=(), by=None, as_admin=False,
                            create_missing=False) -> dict:
        """Add/remove members; every member's devices get group.participant_changed.

        Returns {"group": view, "results": {wid: code}, "removed": [...]}. `as_admin`
        enforces that `by` is an admin (calls from a page); the control API acts with the
        owner's rights and may put unknown phones on the network (`create_missing`).
        """
        with self._cond:
            adds = [self._person(p) for p in add or []]
            removes = [self._person(p) for p in remove or []]
            group = self._require_group(gid)
            actor = normalize_phone(by) if by else group.owner
            if as_admin and group.participants.get(actor) not in ("admin", "superadmin"):
                raise SandboxError(403, "group_you_are_not_admin", f"You are not admin in {gid}")
            results = {}
            added = []
            for phone in adds:
                if create_missing:
                    self._ensure_phone(phone)
                if phone not in self._phones:
                    results[user_wid(phone)] = 404
                elif phone in group.participants:
                    results[user_wid(phone)] = 409
                else:
                    group.participants[phone] = "member"
                    self._chat(self._phones[phone], gid)
                    added.append(phone)
                    results[user_wid(phone)] = 200
            removed = [p for p in removes if p in group.participants and p != group.owner]
            audience = set(group.participants)
            for phone in removed:
                del group.participants[phone]
            for action, phones in (("add", added), ("remove", removed)):
                if phones:
                    self._announce_participants(group, audience, action, phones, actor)
                    self._group_notice(group, audience, action, phones, actor)  # notices.py
            self._cond.notify_all()
            return {"group": self._group_view(group), "results": results, "removed": removed}

    def _announce_participants(self, group, audience, action, phones, actor) -> None:
        author = self._phones.get(actor)
        event = {
            "groupId": group.id,
            "action": action,
            "operation": action,
            "participants": [self._member_id(group, p) for p in phones],
            "author": self._member_id(group, actor),
            "authorPushName": author.name if author else None,
        }
        for phone in sorted(audience):
            self._push_phone(phone, "participants", lambda a: {
                "event": event, "chat": self._chat_view(a, self._chat(a, group.id))})
