"""LID-only people: accounts that keep their phone number private, as WhatsApp's phone-number
privacy does. Others know such an account only by its `…@lid` (its chats, messages, receipts
and contact are `@lid`, and `contact.getPnLidEntry` has no phone for it) until they learn the
number: by looking the number up (queryExists answers the number with its lid), or when the
person shares it, after which their messages carry it (the contact of each message names both
ids, as WhatsApp's messages with a phone-number field do).
"""

from __future__ import annotations

from .model import Phone, SandboxError, normalize_phone


class IdentityOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_number_private(self, phone, private) -> dict:
        """`private`: others see this account only by its @lid until they learn its number."""
        digits = normalize_phone(phone)
        if not isinstance(private, bool):
            raise SandboxError(400, "validation_error", "'private' must be true or false")
        with self._cond:
            account = self._require_phone(digits)
            self._private_numbers.discard(digits)
            if private:
                self._private_numbers.add(digits)
                account.addressing = "lid"  # known by its @lid: LID-addressed as well
            return self._identity_view(account)

    def share_number(self, phone, with_) -> dict:
        """The account tells `with_` its number: its next messages to them carry it."""
        digits, viewer = normalize_phone(phone), normalize_phone(with_)
        with self._cond:
            account = self._require_phone(digits)
            self._require_phone(viewer)
            self._learned_numbers.setdefault(viewer, set()).add(digits)
            return self._identity_view(account)

    def _identity_view(self, account: Phone) -> dict:
        return {"phone": account.phone, "lid": account.lid + "@lid",
                "numberPrivate": account.phone in self._private_numbers,
                "knownTo": sorted(v for v, known in self._learned_numbers.items()
                                  if account.phone in known)}

    def _number_hidden(self, viewer: Phone, number: str) -> bool:
        """Lock held: whether `viewer` knows the private `number` only by its @lid."""
        return (number in self._private_numbers and number != viewer.phone
                and number not in self._learned_numbers.get(viewer.phone, ()))

    def _learn_number(self, viewer: str, number: str) -> None:
        """Lock held: a lookup of the number answered it with its lid."""
        if number in self._private_numbers:
            self._learned_numbers.setdefault(viewer, set()).add(number)
