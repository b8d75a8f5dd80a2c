"""Response schemas of the profile and blocklist routes."""

from __future__ import annotations

from apiflask.fields import Boolean, List, String

from .out import Out


class Profile(Out):
    id = String(required=True, allow_none=True)
    name = String(required=True, allow_none=True)
    about = String(required=True, allow_none=True)
    pictureUrl = String(required=True, allow_none=True,
                        metadata={"description": "WhatsApp's URL of the photo, or null"})


class Blocked(Out):
    id = String(required=True)
    blocked = Boolean(required=True)


class Blocklist(Out):
    data = List(String(), required=True)


class ProfilePicture(Out):
    id = String(required=True)
    url = String(required=True, allow_none=True,
                 metadata={"description": "null when the contact shows no photo"})


class About(Out):
    id = String(required=True)
    about = String(required=True, allow_none=True,
                   metadata={"description": "null when empty or hidden by privacy settings"})
