"""Accounts on the network: create, rename, and what a phone looks like to others."""

from __future__ import annotations

from .contacts import check_addressing
from .model import (
    Device,
    Phone,
    SandboxError,
    lid_for,
    normalize_phone,
    user_wid,
)


class PhoneOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def upsert_phone(
        self,
        phone,
        name: str | None = None,
        contacts: list | None = None,
        seed_contacts: int | None = None,
        seed_groups: int | None = None,
        addressing: str | None = None,
        business: bool | None = None,
    ) -> tuple[dict, bool]:
        """Create or update a phone account; return (phone view, created).

        `addressing="lid"`: others see this account as `<lid>@lid` (1:1 chats, receipts), as
        WhatsApp does for accounts it has moved to LIDs."""
        digits = normalize_phone(phone)
        if addressing is not None:
            check_addressing(addressing)
        book = [(normalize_phone(c.get("phone")), c.get("name")) for c in contacts or []]
        with self._cond:
            created = digits not in self._phones
            account = self._ensure_phone(digits, name)
            if name:
                account.name = str(name)
            if addressing is not None:
                account.addressing = addressing
            if business is not None:
                account.business = bool(business)  # a WhatsApp Business account (labels)
            for number, contact_name in book:
                if number != digits:
                    account.book[number] = str(contact_name or "+" + number)
                    account.known.discard(number)
            self._seed_once(account, seed_contacts, seed_groups)
            self._cond.notify_all()
            return self._phone_view(account), created

    def get_phone(self, phone) -> dict:
        digits = normalize_phone(phone)
        with self._cond:
            return self._phone_view(self._require_phone(digits))

    def query_exists(self, phone) -> dict | None:
        """Return {wid, biz, lid} for a phone on the network, else None."""
        try:
            digits = normalize_phone(phone)
        except SandboxError:
            return None
        with self._cond:
            account = self._phones.get(digits)
            if not account:
                return None
            return {"wid": user_wid(digits), "biz": account.business, "lid": account.lid + "@lid"}

    def _ensure_phone(self, digits: str, name: str | None = None) -> Phone:
        account = self._phones.get(digits)
        if account is None:
            account = Phone(phone=digits, name=str(name or "+" + digits), lid=lid_for(digits))
            self._phones[digits] = account
        return account

    def _require_phone(self, digits: str) -> Phone:
        account = self._phones.get(digits)
        if account is None:
            raise SandboxError(404, "phone_not_found", f"No phone {digits} on the network")
        return account

    def _phone_view(self, account: Phone) -> dict:
        groups = [g.id for g in self._groups.values() if account.phone in g.participants]
        return {
            "phone": account.phone,
            "name": account.name,
            "id": user_wid(account.phone),
            "lid": account.lid + "@lid",
            "addressing": account.addressing,
            "isBusiness": account.business,
            "contacts": len(self._contact_numbers(account)),
            "savedContacts": len(account.book),
            "groups": groups,
            "chats": len(account.chats),
            "devices": [self._device_view(self._devices[d]) for d in account.devices],
            "about": account.about,
            "picture": self._picture_path(account),
            "blocked": self._blocklist(account),
        }

    def _device_view(self, device: Device) -> dict:
        return {
            "id": device.id,
            "name": device.name,
            "phone": device.phone,
            "linkedAt": device.linked_at,
            "pendingEvents": len(device.events),
            "silent": device.silent,
            "keyState": self._key_state_view(device),
        }
