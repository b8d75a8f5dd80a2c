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

INVITE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


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


class GroupAdminOps:
    """Group subject, description, settings, admins, invite links, leaving. Part of Network.

    The server enforces WhatsApp's rules whatever the page checked first: with `restrict`
    only admins edit the subject and description, settings and admins are admins' only, the
    owner (superadmin) cannot be demoted, a revoked invite code joins nobody.
    """

    def _member_group(self, gid: str, phone: str) -> Group:
        group = self._require_group(gid)
        if phone not in group.participants:
            raise SandboxError(403, "not_a_participant", f"{phone} is not in {gid}")
        return group

    @staticmethod
    def _is_admin(group: Group, phone: str) -> bool:
        return group.participants.get(phone) in ("admin", "superadmin")

    def _require_admin(self, group: Group, phone: str) -> None:
        if not self._is_admin(group, phone):
            raise SandboxError(403, "group_you_are_not_admin", f"You are not admin in {group.id}")

    def _group_changed(self, group: Group, extra=()) -> dict:
        """Every member's (and `extra` phones') devices learn the group as it is now."""
        for phone in sorted(set(group.participants) | set(extra)):
            self._push_chat(phone, group.id)
        self._cond.notify_all()
        return self._group_view(group)

    def set_group_subject(self, gid: str, by, subject) -> dict:
        actor = normalize_phone(by)
        text = str(subject or "").strip()
        if not text or len(text) > 100:
            raise SandboxError(400, "invalid_subject", "A subject has 1 to 100 characters")
        with self._cond:
            group = self._member_group(gid, actor)
            if group.restrict:
                self._require_admin(group, actor)
            group.subject = text
            return self._group_changed(group)

    def set_group_description(self, gid: str, by, desc) -> dict:
        actor = normalize_phone(by)
        text = str(desc or "")
        if len(text) > 2048:
            raise SandboxError(400, "invalid_description", "A description has 2048 characters at most")
        with self._cond:
            group = self._member_group(gid, actor)
            if group.restrict:
                self._require_admin(group, actor)
            group.desc = text
            return self._group_changed(group)

    def set_group_property(self, gid: str, by, prop: str, value) -> dict:
        """prop: 'announcement' or 'restrict' (wa-js GroupProperty); admins only."""
        actor = normalize_phone(by)
        names = {"announcement": "announce", "restrict": "restrict"}
        if prop not in names:
            raise SandboxError(400, "invalid_property", f"Unsupported group property {prop!r}")
        with self._cond:
            group = self._member_group(gid, actor)
            self._require_admin(group, actor)
            setattr(group, names[prop], bool(value))
            return self._group_changed(group)

    def set_group_admins(self, gid: str, by, participants, promote: bool) -> dict:
        """Promote members to admin or demote admins; every member's devices see it."""
        actor = normalize_phone(by) if by else None
        phones = [normalize_phone(p) for p in participants or []]
        with self._cond:
            group = self._require_group(gid)
            if actor is not None:
                self._member_group(gid, actor)
                self._require_admin(group, actor)
            for phone in phones:
                if phone not in group.participants:
                    raise SandboxError(404, "group_participant_not_found",
                                       f"Group {gid}: Participant '{user_wid(phone)}' not found")
                if not promote and group.participants[phone] == "superadmin":
                    raise SandboxError(403, "not_authorized", "The group's creator stays admin")
            for phone in phones:
                if group.participants[phone] != "superadmin":
                    group.participants[phone] = "admin" if promote else "member"
            action = "promote" if promote else "demote"
            self._announce_participants(group, set(group.participants), action, phones,
                                        actor or group.owner)
            return self._group_changed(group)

    def group_invite_code(self, gid: str, by, revoke: bool = False) -> str:
        actor = normalize_phone(by)
        with self._cond:
            group = self._member_group(gid, actor)
            self._require_admin(group, actor)
            if revoke or not group.invite_code:
                group.invite_code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(22))
            return group.invite_code

    def _group_by_code(self, code: str) -> Group:
        text = str(code or "").strip()
        for group in self._groups.values():
            if group.invite_code and group.invite_code == text:
                return group
        raise SandboxError(404, "item-not-found", "No group has this invite code")

    def group_invite_info(self, code: str) -> dict:
        """What the invite shows before joining (getGroupInfoFromInviteCode)."""
        with self._cond:
            group = self._group_by_code(code)
            view = self._group_view(group)
            view["size"] = len(group.participants)
            return view

    def join_group(self, code: str, phone) -> dict:
        """Join by invite code; members' devices see the new participant."""
        digits = normalize_phone(phone)
        with self._cond:
            group = self._group_by_code(code)
            if digits in group.participants:
                raise SandboxError(409, "conflict", "Already a member of this group")
            audience = set(group.participants) | {digits}
            group.participants[digits] = "member"
            self._chat(self._phones[digits], group.id)
            self._announce_participants(group, audience, "join", [digits], digits)
            self._group_changed(group)
            return {"gid": group.id, "membershipApprovalMode": False}

    def leave_group(self, gid: str, phone) -> dict:
        """Leave a group: the leaver's chat stays, read-only (as on WhatsApp)."""
        digits = normalize_phone(phone)
        with self._cond:
            group = self._member_group(gid, digits)
            audience = set(group.participants)
            del group.participants[digits]
            if group.owner == digits and group.participants and not any(
                    self._is_admin(group, p) for p in group.participants):
                # WhatsApp hands the group to a member when its last admin leaves
                group.participants[next(iter(group.participants))] = "admin"
            self._announce_participants(group, audience, "leaver", [digits], digits)
            return self._group_changed(group, extra=[digits])
