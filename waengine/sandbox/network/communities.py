"""Communities: a parent group that links groups, with an announcement group of its own.

WhatsApp's model (wa-js 4.6.0 GroupMetadataModel `groupType`): the community is a parent
group (`COMMUNITY`), its announcement group (`LINKED_ANNOUNCEMENT_GROUP`) holds every member
of the community and only admins post in it, and the linked groups (`LINKED_SUBGROUP`) keep
their own members. Only an admin of a group links it; only the community's admins change it;
nobody posts in the parent group itself; deactivating unlinks the groups (they stay) and
removes the community and its announcement group.
"""

from __future__ import annotations

from .model import Group, SandboxError, normalize_phone

COMMUNITY, ANNOUNCEMENT, SUBGROUP = "COMMUNITY", "LINKED_ANNOUNCEMENT_GROUP", "LINKED_SUBGROUP"


class CommunityOps:
    """Part of Network (core.py), which holds the state and the one lock. Listed first, so
    its _group_view and _check_group_sender see communities before GroupOps/MessageOps."""

    def create_community(self, owner, name, description, subgroups) -> dict:
        digits = normalize_phone(owner)
        with self._cond:
            self._ensure_phone(digits)
            parent = self._new_community_group(name, digits, COMMUNITY)
            parent.desc = str(description or "")
            parent.subgroups = []
            announce = self._new_community_group(name, digits, ANNOUNCEMENT)
            announce.announce, announce.parent = True, parent.id
            parent.announcement = announce.id
            result = self._link_subgroups(parent, digits, subgroups or [])
            self._cond.notify_all()
            return {"id": parent.id, "announcementGroup": announce.id, "subGroups": result}

    def _new_community_group(self, name, owner: str, kind: str) -> Group:
        view = self.create_group(name, owner, [])  # the owner's devices learn it (a chat event)
        group = self._groups[view["id"]]
        group.kind = kind
        return group

    def _require_community(self, cid, by: str | None = None) -> Group:
        group = self._groups.get(str(cid))
        if group is None or group.kind != COMMUNITY:
            raise SandboxError(404, "community_not_found", f"No community {cid}")
        if by is not None and group.participants.get(by) not in ("admin", "superadmin"):
            raise SandboxError(403, "not_community_admin", f"You are not admin of {cid}")
        return group

    def link_subgroups(self, cid, by, subgroups, link: bool = True) -> dict:
        digits = normalize_phone(by)
        with self._cond:
            parent = self._require_community(cid, digits)
            result = self._link_subgroups(parent, digits, subgroups or []) if link \
                else self._unlink_subgroups(parent, subgroups or [])
            self._cond.notify_all()
            return result

    def _link_subgroups(self, parent: Group, actor: str, subgroups) -> dict:
        failed, linked = [], []
        announce = self._groups[parent.announcement]
        for gid in [str(g) for g in subgroups]:
            group = self._groups.get(gid)
            if group is None or group.kind not in ("group", SUBGROUP):
                failed.append({"error": "404", "jid": gid})
            elif group.participants.get(actor) not in ("admin", "superadmin"):
                failed.append({"error": "403", "jid": gid})  # only a group's admin links it
            elif group.parent not in (None, parent.id):
                failed.append({"error": "409", "jid": gid})  # in another community
            else:
                group.kind, group.parent = SUBGROUP, parent.id
                if gid not in parent.subgroups:
                    parent.subgroups.append(gid)
                for phone in group.participants:  # its members join the community
                    for whole in (parent, announce):
                        if phone not in whole.participants:
                            whole.participants[phone] = "member"
                            self._chat(self._phones[phone], whole.id)
                linked.append(gid)
        for group in (parent, announce, *(self._groups[g] for g in linked)):
            self._group_changed(group)
        return {"failedGroups": failed, "linkedGroupJids": linked}

    def _unlink_subgroups(self, parent: Group, subgroups) -> dict:
        failed, unlinked = [], []
        for gid in [str(g) for g in subgroups]:
            group = self._groups.get(gid)
            if group is None or gid not in parent.subgroups:
                failed.append({"error": "404", "jid": gid})
                continue
            parent.subgroups.remove(gid)
            group.kind, group.parent = "group", None
            unlinked.append(gid)
            self._group_changed(group)
        self._group_changed(parent)
        return {"failedGroups": failed, "linkedGroupJids": unlinked}

    def deactivate_community(self, cid, by) -> dict:
        digits = normalize_phone(by)
        with self._cond:
            parent = self._require_community(cid, digits)
            if parent.participants.get(digits) != "superadmin":
                raise SandboxError(403, "not_community_owner", f"Only the creator deactivates {cid}")
            self._unlink_subgroups(parent, list(parent.subgroups))
            for gid in (parent.announcement, parent.id):
                group = self._groups.pop(gid)
                for phone in group.participants:
                    self._phones[phone].chats.pop(gid, None)
                    self._push_phone(phone, "chat_gone", lambda a, gid=gid: {"id": gid})
            self._cond.notify_all()
            return {"id": cid, "deactivated": True}

    def set_group_admins(self, gid: str, by, participants, promote: bool) -> dict:
        """A community's admins are its announcement group's admins too."""
        view = super().set_group_admins(gid, by, participants, promote)
        with self._cond:
            group = self._groups.get(str(gid))
            if group is not None and group.kind == COMMUNITY:
                announce = self._groups[group.announcement]
                for phone in [normalize_phone(p) for p in participants or []]:
                    if announce.participants.get(phone) not in (None, "superadmin"):
                        announce.participants[phone] = "admin" if promote else "member"
                self._group_changed(announce)
        return view

    def _check_group_sender(self, target: str, sender: str, kind: str = "chat") -> None:
        group = self._groups.get(target)
        if group is not None and group.kind == COMMUNITY:
            raise SandboxError(403, "community_parent",
                               "Nobody posts in a community itself: use its announcement group")
        super()._check_group_sender(target, sender, kind)

    def _group_view(self, group: Group) -> dict:
        view = super()._group_view(group)
        kind = group.kind
        if kind == COMMUNITY:
            view.update(groupType=COMMUNITY, isParentGroup=True,
                        joinedSubgroups=[group.announcement, *group.subgroups])
        elif kind in (ANNOUNCEMENT, SUBGROUP):
            view.update(groupType=kind, parentGroup=group.parent,
                        defaultSubgroup=kind == ANNOUNCEMENT)
        return view

    def community_view(self, cid, viewer=None) -> dict:
        """Control API: the community, its announcement group and linked groups."""
        with self._cond:
            parent = self._require_community(cid)
            return {**self._group_view(parent), "announcementGroup": parent.announcement,
                    "subgroups": list(parent.subgroups)}
