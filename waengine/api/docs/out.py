"""The base of response schemas and the values they share."""

from __future__ import annotations

from apiflask import Schema
from marshmallow import INCLUDE

from ...vocabulary import ACKS, STATUSES  # noqa: F401  (the words the schema modules use)

TIME = {"format": "date-time", "description": "ISO 8601 UTC"}


class Out(Schema):
    """A response body: the listed fields are the contract; more may come (docs/api.md)."""

    class Meta:
        unknown = INCLUDE
