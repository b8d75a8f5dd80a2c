"""Response schemas of the channel and status routes (api/channels.py, api/status.py)."""

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


class StatusViewer(Out):
    id = String(required=True)
    viewedAt = Integer(allow_none=True, metadata={"description": "unix seconds"})


class Status(Out):
    id = String(required=True, metadata={"example": "true_status@broadcast_3EB0…_628…@c.us"})
    type = String(required=True, metadata={"description": "chat (text), image or video"})
    text = String(allow_none=True)
    caption = String(allow_none=True)
    mimetype = String(allow_none=True)
    backgroundColor = String(allow_none=True)
    font = Integer(allow_none=True)
    timestamp = Integer(allow_none=True)
    expiresAt = Integer(allow_none=True, metadata={"description": "24 h after it was posted"})
    viewers = List(Nested(StatusViewer), required=True)


class StatusList(Out):
    data = List(Nested(Status), required=True)


class StatusDeleted(Out):
    id = String(required=True)
    deleted = Boolean(required=True)
