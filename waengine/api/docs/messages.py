"""Response schemas of the message routes: sends, the send queue, message actions."""

from __future__ import annotations

from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import OneOf

from ...vocabulary import HELD, SEND_STATUSES
from .errors import ErrorDetail
from .out import ACKS, TIME, Out


class Location(Out):
    latitude = Float(allow_none=True)
    longitude = Float(allow_none=True)


class StoredMedia(Out):
    url = String(required=True, metadata={"description": "/media/… (local, same API key) or a "
                                                         "presigned S3 URL"})
    mimetype = String(required=True)
    size = Integer(required=True)
    sha256 = String(required=True, allow_none=True)


class Message(Out):
    id = String(required=True)
    chatId = String(required=True)
    to = String(required=True, allow_none=True)
    fromMe = Boolean(required=True)
    type = String(required=True, allow_none=True)
    body = String(required=True)
    timestamp = Integer(required=True, allow_none=True, metadata={"description": "unix seconds"})
    ack = String(required=True, validate=OneOf(ACKS))
    caption = String()
    mimetype = String()
    filename = String()
    quotedId = String()
    location = Nested(Location)
    from_ = String(required=True, allow_none=True, data_key="from")
    senderIds = Dict(metadata={"description": "the sender as {phone: …@c.us, lid: …@lid}, "
                                              "each where WhatsApp gave it"})
    chatIds = Dict(metadata={"description": "a 1:1 chat's person as {phone, lid}, each where "
                                            "known (learned pairs included)"})
    recipientIds = Dict(metadata={"description": "in the answer to a send to a person: the "
                                                 "recipient as {phone, lid}, each where known"})
    media = Nested(StoredMedia, metadata={"description": "message events with MEDIA_STORE"})
    mediaError = Nested(ErrorDetail, metadata={"description": "MEDIA_STORE could not keep it"})
    queueId = String(metadata={"description": "in the answer to a send: its id in the session's "
                                              "queue, for GET …/messages/{messageId}"})
    poll = Dict(metadata={"description": "a poll (type poll_creation): {name, options, "
                                         "selectableCount}"})
    contacts = List(Dict(), metadata={"description": "contact cards (type vcard or "
                                                     "multi_vcard): [{name, vcard}]"})


class Deleted(Out):
    id = String(required=True)
    revoked = Boolean(required=True, metadata={"description": "deleted for everyone"})
    deleted = Boolean(required=True)


class Forwarded(Out):
    id = String(required=True, metadata={"description": "the forwarded message"})
    to = String(required=True)
    forwarded = Boolean(required=True)


class Starred(Out):
    id = String(required=True)
    star = Boolean(required=True)


class Pinned(Out):
    id = String(required=True)
    pinned = Boolean(required=True)
    duration = String(required=True, allow_none=True)


class MessageList(Out):
    data = List(Nested(Message), required=True)


class StoredMessage(Message):
    cursor = String(required=True, metadata={"description": "its place in the history: "
                                                            "`before`/`after` take it"})
    editedAt = Integer(metadata={"description": "unix seconds of the last edit, if edited"})
    revokedAt = Integer(metadata={"description": "unix seconds it was deleted for everyone "
                                                 "(type `revoked`, its content dropped)"})


class StoredMessages(Out):
    data = List(Nested(StoredMessage), required=True, metadata={"description": "newest first"})
    next = String(required=True, allow_none=True, metadata={
        "description": "older messages match too: pass it as `before` (keep the other "
                       "filters); null on the last page"})


class Receipt(Out):
    participant = String(required=True, metadata={"example": "6281234567890@c.us"})
    ack = String(required=True, validate=OneOf(("delivered", "read")))
    at = String(required=True, metadata=TIME)


class Queued(Out):
    """A send in the session's paced queue (and, once sent, the message it became)."""

    id = String(required=True, metadata={"example": "out_0194c1f2a3b4c5d6e7f8a9"})
    status = String(required=True, validate=OneOf((*SEND_STATUSES, HELD)), metadata={
        "description": "held: queued, a send to a new contact that a reach-out limit holds"})
    heldReason = String(metadata={
        "description": "reachout_timelock (WhatsApp's timelock) or cold_contact_budget (the "
                       "session's own budget of new contacts)"})
    heldUntil = String(allow_none=True, metadata={**TIME, "description": "when it may go"})
    to = String(required=True, allow_none=True)
    attempts = Integer(required=True)
    createdAt = String(required=True, metadata=TIME)
    message = Nested(Message, allow_none=True)
    error = Dict(allow_none=True)
    reason = String(allow_none=True, metadata={
        "description": "Why it failed or is tried again: WhatsApp's send result (ERROR_NETWORK, "
                       "ERROR_UPLOAD, ERROR_EXPIRED, ERROR_CANCELLED, ERROR_UNKNOWN) or an "
                       "error code", "example": "ERROR_NETWORK"})
    ack = String(validate=OneOf(("failed", "pending", "sent", "delivered", "read")))
    receipts = List(Nested(Receipt), metadata={
        "description": "Group sends: each member's receipt, once it arrived"})


class QueuedList(Out):
    data = List(Nested(Queued), required=True)


class Reaction(Out):
    messageId = String(required=True)
    emoji = String(required=True)
    result = String(required=True, metadata={"example": "OK"})
