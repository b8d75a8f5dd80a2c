"""The base of response schemas and the values they share."""

from __future__ import annotations

from apiflask import Schema
from marshmallow import INCLUDE

from ...vocabulary import STATUSES  # noqa: F401  (re-exported for the schema modules)

ACKS = ("pending", "sent", "delivered", "read", "failed")
TIME = {"format": "date-time", "description": "ISO 8601 UTC"}


class Out(Schema):
    """A response body: the listed fields are the contract; more may come (docs/api.md)."""

    class Meta:
        unknown = INCLUDE
