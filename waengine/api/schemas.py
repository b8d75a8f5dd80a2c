"""Request schemas: they validate input and describe it in the OpenAPI document."""

from __future__ import annotations

import re

from apiflask import Schema
from apiflask.fields import URL, Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp

from ..errors import ValidationError
from ..events.outbox import EVENT_TYPES

SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"
_WA_ID = re.compile(r"^[0-9A-Za-z._:-]{1,64}@(c\.us|g\.us|lid|broadcast|newsletter)$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-]{5,32}$")


def chat_id(value: str) -> str:
    """Normalize a recipient: WhatsApp ids pass through, phone numbers become <digits>@c.us."""
    value = (value or "").strip()
    if "@" in value:
        if _WA_ID.fullmatch(value):
            return value
        raise ValidationError(f"{value!r} is not a WhatsApp id", details={"field": "to"})
    if _PHONE_CHARS.fullmatch(value):
        digits = re.sub(r"\D", "", value)
        if 5 <= len(digits) <= 20 and not digits.startswith("0"):
            return f"{digits}@c.us"
    raise ValidationError(f"{value!r} is not a phone number with country code or a WhatsApp id",
                          details={"field": "to"})


class WebhookIn(Schema):
    url = URL(required=True, schemes={"http", "https"}, require_tld=False,
              validate=Length(max=2048))
    events = List(String(validate=OneOf(EVENT_TYPES)), validate=Length(max=len(EVENT_TYPES)))
    secret = String(validate=Length(max=256))


class SessionCreateIn(Schema):
    id = String(required=True, validate=Regexp(SESSION_ID))
    webhook = Nested(WebhookIn)
    keepAlive = Boolean()


class DeleteQuery(Schema):
    purge = Boolean(load_default=False)


class TextMessageIn(Schema):
    to = String(required=True, validate=Length(1, 128))
    text = String(required=True, validate=Length(1, 65536))
    replyTo = String(validate=Length(1, 256))
    mentions = List(String(validate=Length(1, 128)), validate=Length(max=256))


class DeliveriesQuery(Schema):
    status = String(validate=OneOf(("pending", "delivered", "failed")))
    limit = Integer(load_default=100, validate=Range(1, 1000))
