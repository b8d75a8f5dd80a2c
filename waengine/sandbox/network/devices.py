"""Linked devices (WhatsApp Web pages): their event queues, polls and logout."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable

from .model import (
    DEVICE_QUEUE_MAX,
    EVENTS_PER_POLL,
    TOMBSTONES_MAX,
    Device,
    Phone,
    SandboxError,
    normalize_phone,
    user_wid,
)


class DeviceOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def _new_device(self, account: Phone, name: str) -> Device:
        device = Device(
            id="d" + secrets.token_hex(6),
            phone=account.phone,
            token=secrets.token_urlsafe(24),
            name=name,
            linked_at=self._clock(),
        )
        self._devices[device.id] = device
        account.devices.append(device.id)
        return device

    def _auth(self, device_id: str, token: str) -> Device:
        device = self._devices.get(device_id)
        if device is None or not secrets.compare_digest(device.token, str(token or "")):
            reason = self._tombstones.get(device_id, "unknown_device")
            raise SandboxError(401, "device_unlinked", reason)
        return device

    def hello(self, device_id: str, token: str, client: str, keys=None) -> dict:
        """A page with a stored login connects; it becomes the device's active page. `keys`
        is the key index its profile holds (keystate.py: less than the device acknowledged
        means the profile is an older copy)."""
        with self._cond:
            try:
                device = self._auth(device_id, token)
            except SandboxError as err:
                return {"loggedIn": False, "reason": err.message}
            self._check_key_state(device, keys)
            device.client = str(client)
            self._cond.notify_all()  # an older page of this login sees the conflict
            return {"loggedIn": True, "me": self._me_view(device),
                    "update": self._phones[device.phone].wa_update}

    def _me_view(self, device: Device) -> dict:
        account = self._phones[device.phone]
        return {
            "phone": account.phone,
            "name": account.name,
            "id": user_wid(account.phone),
            "lid": account.lid + "@lid",
            "device": device.id,
            "deviceName": device.name,
            "isBusiness": account.business,
        }

    def sync(self, device_id: str, token: str) -> dict:
        """What a freshly loaded page gets first: contacts and the chat list. Messages come
        later, chat by chat, when the page reads one (history(): WhatsApp Web loads them lazily)."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chats = sorted(account.chats.values(), key=lambda c: c.t, reverse=True)
            return {
                "me": self._me_view(device),
                "contacts": [
                    self._contact_view(account, n) for n in self._contact_numbers(account)
                ],
                "chats": [self._chat_view(account, c) for c in chats],
            }

    def poll_events(
        self, device_id: str, token: str, client: str, ack: int, timeout: float,
        stream: str | None = None,
    ) -> dict:
        """Drop events up to `ack` (the page emitted them), then wait for newer ones or a
        change of the stream mode from `stream` ("MODE:INFO", what the page shows)."""
        with self._cond:
            device = self._auth(device_id, token)
            self._drop_acked(device, int(ack or 0))

            def shown():
                return stream is None or stream == f"{device.mode}:{device.info}:{int(device.needs_update)}"

            def ready():
                # Every event still queued is newer than `ack` (older ones were dropped);
                # a device whose stream is down (streams.py) gets none of them.
                return device.id not in self._devices or device.client != client or not shown() or (
                    bool(device.events) and self._flowing(device))

            self._wait(ready, timeout)
            if device.id not in self._devices:
                reason = self._tombstones.get(device.id, "user_initiated")
                return {"loggedOut": True, "reason": reason, "events": []}
            if device.client != client:
                return {"conflict": True, "events": [], "stream": self._stream_view(device)}
            events = []
            if self._flowing(device):
                events = [event for _, event in itertools.islice(device.events, EVENTS_PER_POLL)]
            return {"events": events, "stream": self._stream_view(device)}

    def _drop_acked(self, device: Device, ack: int) -> None:
        """The page has these events: never sent again (a page that dies after its ack keeps
        them only in its history), and their messages count as delivered to its phone."""
        taken = []
        while device.events and device.events[0][0] <= ack:
            taken.append(device.events.popleft()[1])
        self._acked_keys(device, taken)
        self._delivered_to_device(device, taken)

    def _push(self, device: Device, kind: str, data: dict) -> None:
        data = self._keyed(device, kind, data)  # keystate.py
        if data is None:
            return
        seq = device.next_seq
        device.next_seq += 1
        device.events.append((seq, {"seq": seq, "type": kind, **data}))
        if len(device.events) > DEVICE_QUEUE_MAX:
            device.events.popleft()

    def _push_phone(self, phone: str, kind: str, make: Callable[[Phone], dict], skip=None):
        """Queue an event for every linked device of a phone (built once per phone)."""
        account = self._phones.get(phone)
        if not account or not account.devices:
            return
        data = make(account)
        for device_id in account.devices:
            if device_id != skip:
                self._push(self._devices[device_id], kind, data)

    def logout_device(self, device_id: str, token: str, reason: str = "user_initiated") -> None:
        """The page logs itself out (WPP.conn.logout)."""
        with self._cond:
            device = self._auth(device_id, token)
            self._unlink(device, reason)
            self._cond.notify_all()

    def unlink_phone(self, phone, device_id: str | None = None, reason=None) -> dict:
        """The phone removes its linked device(s) (Settings > Linked devices > Log out)."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            targets = [d for d in account.devices if device_id in (None, d)]
            if device_id and not targets:
                raise SandboxError(404, "device_not_found", f"No linked device {device_id}")
            for target in targets:
                self._unlink(self._devices[target], str(reason or "user_initiated"))
            self._cond.notify_all()
            return {"phone": digits, "unlinked": targets}

    def _unlink(self, device: Device, reason: str) -> None:
        self._devices.pop(device.id, None)
        account = self._phones.get(device.phone)
        if account and device.id in account.devices:
            account.devices.remove(device.id)
        self._tombstones[device.id] = reason
        while len(self._tombstones) > TOMBSTONES_MAX:
            self._tombstones.pop(next(iter(self._tombstones)))


    def device_phone(self, device_id: str, token: str) -> str:
        with self._cond:
            return self._auth(device_id, token).phone
