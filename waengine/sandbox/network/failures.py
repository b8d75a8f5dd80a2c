"""Injected failures WhatsApp has in real life: sends that the server does not take, and
number lookups (queryExists) that error out. Set through the control API (docs/sandbox.md)."""

from __future__ import annotations

from .model import Device, SandboxError, normalize_phone

# wa-js 4.6.0 whatsapp/enums/SendMsgResult.d.ts: what a failed send resolves with.
SEND_RESULTS = ("ERROR_NETWORK", "ERROR_EXPIRED", "ERROR_CANCELLED", "ERROR_UPLOAD",
                "ERROR_UNKNOWN")
FAILURES_MAX = 1000


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= FAILURES_MAX:
        raise SandboxError(400, "validation_error", f"'count' must be an integer 0..{FAILURES_MAX}")
    return value


class FailureOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_send_failures(self, phone, count, result) -> dict:
        """The next `count` sends of the devices linked to `phone` fail with `result`."""
        digits = normalize_phone(phone)
        count = _count(count)
        result = result or "ERROR_NETWORK"
        if result not in SEND_RESULTS:
            raise SandboxError(400, "validation_error",
                               f"'result' must be one of {', '.join(SEND_RESULTS)}")
        with self._cond:
            self._require_phone(digits)
            self._send_failures[digits] = [result] * count
            return {"phone": digits, "sendFailures": list(self._send_failures[digits])}

    def set_query_failures(self, phone, count) -> dict:
        """The next `count` number lookups of the devices linked to `phone` error out."""
        digits = normalize_phone(phone)
        count = _count(count)
        with self._cond:
            self._require_phone(digits)
            self._query_failures[digits] = count
            return {"phone": digits, "queryFailures": count}

    def _take_send_failure(self, device: Device) -> str | None:
        """Lock held: the result this send fails with, if one is due (it reaches nobody)."""
        pending = self._send_failures.get(device.phone)
        return pending.pop(0) if pending else None

    def query_exists_for_device(self, device_id: str, token: str, phone) -> dict | None:
        """A linked page looks a number up; an injected failure is a server error (503)."""
        with self._cond:
            device = self._auth(device_id, token)
            left = self._query_failures.get(device.phone, 0)
            if left > 0:
                self._query_failures[device.phone] = left - 1
                raise SandboxError(503, "query_failed", "usync query failed (injected)")
            self._check_lookup(device.phone)
            found = self.query_exists(phone)
            if found:  # the answer names the number with its lid (identities.py)
                self._learn_number(device.phone, found["wid"].split("@")[0])
        return found
