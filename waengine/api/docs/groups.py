"""Response schemas of the group routes: the list, creation, participants, administration."""

from __future__ import annotations

from apiflask.fields import Boolean, List, Nested, String

from .out import Out


class Participant(Out):
    id = String(required=True)
    isAdmin = Boolean()


class GroupSettings(Out):
    announce = Boolean(metadata={"description": "only admins may send messages"})
    restrict = Boolean(metadata={"description": "only admins may edit subject, description "
                                                "and settings"})


class Group(Out):
    id = String(required=True)
    name = String(allow_none=True)
    participants = List(Nested(Participant), required=True)
    owner = String(allow_none=True)
    description = String(allow_none=True)
    settings = Nested(GroupSettings)


class GroupList(Out):
    data = List(Nested(Group), required=True)
    cached = Boolean(required=True)


class InviteLink(Out):
    groupId = String(required=True)
    code = String(required=True)
    link = String(required=True)


class JoinedGroup(Out):
    id = String(required=True)
    name = String(required=True, allow_none=True)
    pendingApproval = Boolean(required=True)


class LeftGroup(Out):
    id = String(required=True)
    left = Boolean(required=True)


class FailedGroup(Out):
    jid = String(required=True)
    error = String(required=True, metadata={"description": "403 not its admin, 404 unknown, "
                                                          "409 in another community"})


class Community(Out):
    id = String(required=True)
    name = String(allow_none=True)
    description = String(allow_none=True)
    announcementGroup = String(allow_none=True, metadata={
        "description": "the group only admins post in; every member reads it"})
    groups = List(String(), required=True)
    participants = List(Nested(Participant), required=True)
    failedGroups = List(Nested(FailedGroup))


class CommunityList(Out):
    data = List(Nested(Community), required=True)


class Deactivated(Out):
    id = String(required=True)
    deactivated = Boolean(required=True)
