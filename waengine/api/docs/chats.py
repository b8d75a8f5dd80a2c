"""Response schemas of the chat routes: the chat list and history, mark read, chat state
(presence, archive/pin/mute, clear, delete) and labels."""

from __future__ import annotations

from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import OneOf

from .out import Out


class Chat(Out):
    id = String(required=True)
    name = String(allow_none=True)


class ChatList(Out):
    data = List(Nested(Chat), required=True)
    cached = Boolean(required=True)


class ReadReceipt(Out):
    chatId = String(required=True)
    unreadCount = Integer(required=True, metadata={"description": "unread before"})


class ChatState(Out):
    """A chat as GET …/chats lists it, with its mute and labels."""

    id = String(required=True)
    name = String(allow_none=True)
    isGroup = Boolean(required=True)
    unreadCount = Integer(required=True)
    timestamp = Integer(allow_none=True, metadata={"description": "last activity, unix seconds"})
    archived = Boolean(required=True)
    pinned = Boolean(required=True)
    muted = Boolean(required=True)
    mutedUntil = Integer(allow_none=True, metadata={"description": "unix seconds; null: not muted"})
    labels = List(String(), required=True, metadata={"description": "label ids (business)"})


class ChatPresence(Out):
    chatId = String(required=True)
    state = String(required=True, validate=OneOf(("typing", "recording", "paused")))


class Presence(Out):
    available = Boolean(required=True)


class ChatCleared(Out):
    chatId = String(required=True)
    cleared = Boolean(required=True)
    keepStarred = Boolean(required=True)


class ChatDeleted(Out):
    chatId = String(required=True)
    deleted = Boolean(required=True)


class Label(Out):
    id = String(required=True)
    name = String(required=True)
    color = String(required=True, metadata={"description": "#rrggbb"})
    colorIndex = Integer(required=True)
    count = Integer(required=True, metadata={"description": "chats with this label"})


class Resynced(Out):
    published = Integer(required=True, metadata={
        "description": "messages of the chat the event log lacked, published now as `message` "
                       "events with `catchUp: true` (0 when nothing was missing)"})


class LabelList(Out):
    data = List(Nested(Label), required=True)
