"""The base of response schemas and the values they share."""

from __future__ import annotations

from apiflask import Schema
from marshmallow import INCLUDE

STATUSES = ("STARTING", "SCAN_QR", "CONNECTED", "RECOVERING", "STOPPED", "FAILED")
ACKS = ("pending", "sent", "delivered", "read", "failed")
TIME = {"format": "date-time", "description": "ISO 8601 UTC"}


class Out(Schema):
    """A response body: the listed fields are the contract; more may come (API.md)."""

    class Meta:
        unknown = INCLUDE
