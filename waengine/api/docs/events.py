"""Response schemas of the webhook and event routes, and the event itself."""

from __future__ import annotations

from apiflask.fields import Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import OneOf

from ...events.outbox import EVENT_TYPES
from ...vocabulary import DELIVERY_STATUSES
from .out import TIME, Out


class Webhook(Out):
    url = String(required=True, allow_none=True)
    events = List(String(validate=OneOf(EVENT_TYPES)), required=True)
    hasSecret = Boolean(required=True)
    secret = String(metadata={"description": "only in the answer to `generateSecret`: the new "
                                              "whsec_ secret, shown this once"})


class Sink(Out):
    url = String(required=True, metadata={"description": "secrets masked as ***"})
    events = List(String(validate=OneOf(EVENT_TYPES)), required=True)


class Sinks(Out):
    sinks = List(Nested(Sink), required=True, metadata={"description": "the session's own"})
    gatewaySinks = List(Nested(Sink), required=True, metadata={
        "description": "the gateway-wide sinks (SINKS setting): they get this session's events too"})


class Delivery(Out):
    eventId = String(required=True)
    type = String(required=True)
    createdAt = String(required=True, metadata=TIME)
    status = String(required=True, validate=OneOf(DELIVERY_STATUSES))
    url = String(required=True, metadata={"description": "the webhook's URL or the sink's "
                                                          "(secrets masked)"})
    target = String(required=True, validate=OneOf(("webhook", "sink")))
    attempts = Integer(required=True)
    nextAttemptAt = String(allow_none=True, metadata=TIME)
    lastError = String(allow_none=True)
    lastStatus = Integer(allow_none=True)
    deliveredAt = String(allow_none=True, metadata=TIME)


class DeliveryList(Out):
    data = List(Nested(Delivery), required=True)


class StreamToken(Out):
    token = String(required=True, metadata={"description": "pass as ?token= to an event stream"})
    expiresAt = String(required=True, metadata=TIME)
    ttlSeconds = Integer(required=True)


class Retried(Out):
    retried = Integer(required=True)


class Event(Out):
    """A webhook body, and the `data:` of an SSE event."""

    id = String(required=True, metadata={"example": "evt_018f2a3b4c5d1a2b3c4d5e"})
    session = String(required=True)
    type = String(required=True, validate=OneOf(EVENT_TYPES))
    timestamp = String(required=True, metadata=TIME)
    data = Dict(required=True)


class EventList(Out):
    data = List(Nested(Event), required=True, metadata={"description": "oldest first"})
