"""Response schemas of the channel routes (api/channels.py)."""

from __future__ import annotations

from apiflask.fields import Boolean, Integer, List, Nested, String

from .out import Out


class Channel(Out):
    id = String(required=True, metadata={"example": "120363012345678901@newsletter"})
    name = String(allow_none=True)
    description = String(allow_none=True)
    role = String(allow_none=True, metadata={
        "description": "the account's membership: owner, admin, subscriber or guest"})
    followers = Integer(allow_none=True)
    inviteCode = String(allow_none=True)
    inviteLink = String(allow_none=True)
    createdAt = Integer(allow_none=True, metadata={"description": "unix seconds"})
    mutedUntil = Integer(allow_none=True)


class ChannelList(Out):
    data = List(Nested(Channel), required=True)


class ChannelDeleted(Out):
    id = String(required=True)
    deleted = Boolean(required=True)


class ChannelFollow(Out):
    id = String(required=True)
    following = Boolean(required=True)
    channel = Nested(Channel, allow_none=True)


class ChannelFollower(Out):
    id = String(required=True)
    name = String(allow_none=True)
    role = String(allow_none=True)
    followedAt = Integer(allow_none=True)


class ChannelFollowers(Out):
    data = List(Nested(ChannelFollower), required=True)
