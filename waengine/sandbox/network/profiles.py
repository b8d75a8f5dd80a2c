"""Profiles and the blocklist: a phone's name, About text and photo; whom it blocked."""

from __future__ import annotations

import base64
import binascii

from .model import SandboxError, normalize_phone, user_wid

ABOUT_MAX = 139  # WhatsApp's limit for the About text
NAME_MAX = 25  # WhatsApp's limit for the profile (push) name
PICTURE_MAX = 5 * 2**20
PICTURE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def picture_bytes(value) -> bytes:
    """A photo given as base64 or a data: URL: JPEG or PNG bytes (400 otherwise)."""
    text = str(value or "")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SandboxError(400, "invalid_picture", "The picture is not valid base64") from err
    if not data or len(data) > PICTURE_MAX or picture_type(data) is None:
        raise SandboxError(400, "invalid_picture", "The picture must be a JPEG or PNG image")
    return data


def picture_type(data: bytes) -> str | None:
    return next((mime for magic, mime in PICTURE_TYPES.items() if data.startswith(magic)), None)


class ProfileOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    # ---- a phone's own profile (control API for phones, transport for linked devices)

    def set_profile(self, phone, name=None, about=None, picture=None) -> dict:
        """Change what others see of `phone`; None leaves a field as it is."""
        digits = normalize_phone(phone)
        data = picture_bytes(picture) if picture not in (None, "") else None
        with self._cond:
            account = self._require_phone(digits)
            if name is not None:
                text = str(name).strip()
                if not text or len(text) > NAME_MAX:
                    raise SandboxError(400, "invalid_name",
                                       f"A profile name has 1 to {NAME_MAX} characters")
                account.name = text
            if about is not None:
                if len(str(about)) > ABOUT_MAX:
                    raise SandboxError(400, "invalid_status",
                                       f"The About text has {ABOUT_MAX} characters at most")
                account.about = str(about)
            if data is not None:
                account.picture = data
                account.picture_version += 1
            if picture == "":
                account.picture = None
            self._cond.notify_all()
            return self._profile_view(account)

    def _profile_view(self, account) -> dict:
        return {"id": user_wid(account.phone), "name": account.name, "about": account.about,
                "picture": self._picture_path(account)}

    @staticmethod
    def _picture_path(account) -> str | None:
        """The photo's URL path (a new one per photo, as WhatsApp's CDN URLs are)."""
        if account.picture is None:
            return None
        return f"/_sandbox/pictures/{account.phone}/{account.picture_version}.jpg"

    def profile_of(self, phone) -> dict:
        """What anyone may read of a phone: name, About, photo URL path (404: not on WhatsApp)."""
        digits = normalize_phone(phone)
        with self._cond:
            return self._profile_view(self._require_phone(digits))

    def picture_of(self, phone, version) -> tuple[bytes, str]:
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            if account.picture is None or str(account.picture_version) != str(version):
                raise SandboxError(404, "picture_not_found", "No such profile picture")
            return account.picture, picture_type(account.picture)

    # ---- blocklist

    def set_blocked(self, phone, other, blocked: bool) -> list[str]:
        """Block or unblock `other` for `phone`; the account's devices learn the new list."""
        digits, target = normalize_phone(phone), normalize_phone(other)
        with self._cond:
            account = self._require_phone(digits)
            if target == digits:
                raise SandboxError(400, "cannot_block_self", "An account cannot block itself")
            if blocked:
                account.blocked.add(target)
            else:
                account.blocked.discard(target)
            listing = self._blocklist(account)
            self._push_phone(digits, "blocklist", lambda a: {"blocked": self._blocklist(a)})
            self._cond.notify_all()
            return listing

    def blocklist_of(self, phone) -> list[str]:
        with self._cond:
            return self._blocklist(self._require_phone(normalize_phone(phone)))

    @staticmethod
    def _blocklist(account) -> list[str]:
        return [user_wid(p) for p in sorted(account.blocked)]

    def _blocked_between(self, sender: str, recipient: str) -> bool:
        """Whether `recipient` blocked `sender` (then WhatsApp never delivers 1:1 messages)."""
        account = self._phones.get(recipient)
        return bool(account and sender in account.blocked)
