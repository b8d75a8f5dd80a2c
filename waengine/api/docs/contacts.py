"""Response schemas of the contact routes."""

from __future__ import annotations

from apiflask.fields import Boolean, List, Nested, String

from .out import Out


class Contact(Out):
    id = String(required=True)
    phone = String(allow_none=True)
    lid = String(allow_none=True, metadata={
        "description": "the same person's …@lid id, where WhatsApp knows it"})
    name = String(allow_none=True)
    pushname = String(allow_none=True)
    isMyContact = Boolean(allow_none=True)
    isBusiness = Boolean(allow_none=True)


class ContactList(Out):
    data = List(Nested(Contact), required=True)
    cached = Boolean(required=True)


class Exists(Out):
    exists = Boolean(required=True)
    id = String(required=True, allow_none=True)
    lid = String(required=True, allow_none=True, metadata={
        "description": "the number's …@lid id (WhatsApp addresses many people by it); null "
                       "when WhatsApp does not say"})
    isBusiness = Boolean()
