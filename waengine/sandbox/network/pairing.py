"""Linking a device: the QR (refs rotating on the clock) or a pairing code."""

from __future__ import annotations

import re
import secrets
import time

from .model import (
    PAIRING_STALE_AFTER,
    POLL_TIMEOUT_MAX,
    AuthRef,
    Pairing,
    SandboxError,
    b64_token,
    normalize_phone,
)


class PairingOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def start_pairing(self, device_name: str | None = None) -> dict:
        """A logged-out page starts showing QR codes; return its pairing state."""
        with self._cond:
            self._prune_pairings()
            pairing = Pairing(
                id=secrets.token_hex(8),
                device_name=str(device_name or "Chrome (Linux)"),
                last_seen=self._clock(),
            )
            self._pairings[pairing.id] = pairing
            self._issue_ref(pairing, self.options.qr_first_ttl)
            return self._pairing_view(pairing)

    def poll_pairing(self, pairing_id: str, known_ref: str | None, timeout: float,
                     known_code: str | None = None) -> dict:
        """Wait until the QR ref differs from known_ref, the QR goes idle, a link, or the live
        pairing code differs from known_code (a new one, or it expired)."""
        with self._cond:
            pairing = self._require_pairing(pairing_id)

            def changed():
                self._advance(pairing)
                current = pairing.current
                return (
                    pairing.linked is not None
                    or pairing.closed
                    or (current.ref if current else None) != known_ref
                    or self._live_code(pairing) != (known_code or None)
                )

            deadline = time.monotonic() + max(0.0, min(timeout, POLL_TIMEOUT_MAX))
            while not self._closed and not changed():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Also wake when the current ref expires, so rotation is on time.
                expiry = pairing.current.expires_at - self._clock() if pairing.current else None
                if self._live_code(pairing):
                    code_left = pairing.code_expires_at - self._clock()
                    expiry = code_left if expiry is None else min(expiry, code_left)
                self._cond.wait(min(remaining, expiry + 0.01) if expiry is not None else remaining)
            pairing.last_seen = self._clock()
            return self._pairing_view(pairing)

    def refresh_pairing(self, pairing_id: str) -> dict:
        """conn.refreshQR(): start a new series of refs (also leaves the idle state)."""
        with self._cond:
            pairing = self._require_pairing(pairing_id)
            if pairing.linked is None:
                pairing.idle = False
                pairing.issued = 0
                self._issue_ref(pairing, self.options.qr_first_ttl)
                self._cond.notify_all()
            return self._pairing_view(pairing)

    def close_pairing(self, pairing_id: str) -> None:
        """The page showing this QR went away (pagehide)."""
        with self._cond:
            pairing = self._pairings.get(pairing_id)
            if pairing:
                pairing.closed = True
                self._cond.notify_all()

    def pairing_code(self, pairing_id: str, phone) -> str:
        """conn.genLinkDeviceCodeForPhoneNumber(): an 8-char code the phone can enter."""
        digits = normalize_phone(phone)
        with self._cond:
            pairing = self._require_pairing(pairing_id)
            if pairing.linked:
                raise SandboxError(
                    409, "cannot_get_code_for_already_authenticated", "Already authenticated"
                )
            if pairing.code:
                self._codes.pop(pairing.code, None)
            alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"
            pairing.code = "".join(secrets.choice(alphabet) for _ in range(8))
            pairing.code_phone = digits
            pairing.code_expires_at = self._clock() + self.options.link_code_ttl
            self._cond.notify_all()
            self._codes[pairing.code] = pairing.id
            return pairing.code

    def link(self, qr: str | None = None, code: str | None = None, phone=None) -> dict:
        """A phone scans a QR (or enters a pairing code): link the device showing it."""
        digits = normalize_phone(phone) if phone not in (None, "") else None
        with self._cond:
            pairing = self._pairing_for_code(code) if code else self._pairing_for_qr(qr)
            if code:
                if digits and digits != pairing.code_phone:
                    raise SandboxError(
                        409, "phone_mismatch", "The pairing code was requested for another phone"
                    )
                digits = pairing.code_phone
            if not digits:
                raise SandboxError(400, "invalid_phone", "Missing 'phone'")
            created = digits not in self._phones
            account = self._ensure_phone(digits)
            self._seed_once(account, None, None)
            device = self._new_device(account, pairing.device_name)
            pairing.linked = {
                "device": device.id,
                "token": device.token,
                "phone": digits,
                "name": account.name,
            }
            self._cond.notify_all()
            return {
                "phone": digits,
                "device": device.id,
                "deviceName": device.name,
                "phoneCreated": created,
            }

    def _pairing_for_qr(self, qr) -> Pairing:
        text = str(qr or "").strip()
        ref = text.split(",")[0].strip()
        pairing = self._live_pairing(self._refs.get(ref))
        if pairing is None:
            raise SandboxError(404, "qr_not_found", "No page is showing this QR code")
        self._advance(pairing)
        current = pairing.current
        if current is None or current.ref != ref:
            raise SandboxError(410, "qr_expired", "This QR code expired (the page rotated it)")
        if "," in text and text != current.auth_code()["fullCode"]:
            raise SandboxError(404, "qr_not_found", "QR code does not match the page's keys")
        return pairing

    def _pairing_for_code(self, code) -> Pairing:
        key = re.sub(r"[\s-]", "", str(code)).upper()
        pairing = self._live_pairing(self._codes.get(key))
        if pairing is None or pairing.code != key:
            raise SandboxError(404, "code_not_found", "No page is showing this pairing code")
        if self._live_code(pairing) is None:
            raise SandboxError(410, "code_expired", "This pairing code expired; the page asks "
                                                   "for a new one")
        return pairing

    def _live_code(self, pairing: Pairing) -> str | None:
        """The pairing code a phone may still enter (None once it expired)."""
        if pairing.code and pairing.code_expires_at and pairing.code_expires_at > self._clock():
            return pairing.code
        return None

    def _live_pairing(self, pairing_id: str | None) -> Pairing | None:
        pairing = self._pairings.get(pairing_id) if pairing_id else None
        if pairing is None or pairing.closed or pairing.linked:
            return None
        if self._clock() - pairing.last_seen > PAIRING_STALE_AFTER:
            return None
        return pairing

    def _require_pairing(self, pairing_id: str) -> Pairing:
        pairing = self._pairings.get(pairing_id)
        if pairing is None:
            raise SandboxError(404, "pairing_not_found", "Unknown pairing (page must reload)")
        pairing.last_seen = self._clock()
        return pairing

    def _issue_ref(self, pairing: Pairing, ttl: float, start: float | None = None) -> None:
        ref = AuthRef(
            ref="2@" + b64_token(60),
            static_key=b64_token(32),
            identity_key=b64_token(32),
            secret_key=b64_token(32),
            expires_at=(self._clock() if start is None else start) + ttl,
        )
        pairing.refs.append(ref)
        pairing.issued += 1
        self._refs[ref.ref] = pairing.id

    def _advance(self, pairing: Pairing) -> None:
        """Rotate refs that expired on the clock; stop after qr_max refs (idle).

        Rotation follows the timeline (each ref starts when the previous expired), so
        the state only depends on the clock, not on when somebody looked.
        """
        now = self._clock()
        while pairing.current is not None and pairing.current.expires_at <= now:
            if pairing.issued >= self.options.qr_max:
                pairing.idle = True
                self._cond.notify_all()
                break
            self._issue_ref(pairing, self.options.qr_ttl, start=pairing.current.expires_at)

    def _pairing_view(self, pairing: Pairing) -> dict:
        current = pairing.current
        return {
            "pairing": pairing.id,
            "authCode": current.auth_code() if current else None,
            "expiresIn": max(0.0, current.expires_at - self._clock()) if current else None,
            "idle": pairing.idle,
            "linkCode": self._live_code(pairing),
            "linked": pairing.linked,
            "closed": pairing.closed,
        }

    def _prune_pairings(self) -> None:
        now = self._clock()
        for pid, pairing in list(self._pairings.items()):
            if pairing.closed or pairing.linked or now - pairing.last_seen > PAIRING_STALE_AFTER:
                if now - pairing.last_seen > 5:  # let a just-linked page read its result
                    del self._pairings[pid]
                    for ref in pairing.refs:
                        self._refs.pop(ref.ref, None)
                    if pairing.code:
                        self._codes.pop(pairing.code, None)
