"""Stream modes of linked devices: what WhatsApp Web's `conn.getStreamData()` reports.

A device is in `MAIN` while its socket is up. The control API puts the devices of a phone in
another mode (wa-js 4.6.0 `whatsapp/enums/StreamMode.d.ts`), as WhatsApp does when the account
is opened in another window (`CONFLICT`), the client is too old (`DEPRECATED_VERSION`), the
account is banned (`TOS_BLOCK`), the network blocks WhatsApp (`PROXYBLOCK`) or the connection
drops (`OFFLINE`). While not in `MAIN`/`SYNCING` a device receives nothing and cannot send; a
device in `CONFLICT` comes back with `WPP.whatsapp.Socket.takeover()`.
"""

from __future__ import annotations

from .model import SandboxError, normalize_phone

# Control name -> (StreamMode, StreamInfo). RESUMING is a StreamInfo (enums/StreamInfo.d.ts):
# the stream is SYNCING while WhatsApp resumes after a reconnect.
STREAM_MODES = {
    "MAIN": ("MAIN", "NORMAL"),
    "CONFLICT": ("CONFLICT", "NORMAL"),
    "DEPRECATED_VERSION": ("DEPRECATED_VERSION", "NORMAL"),
    "TOS_BLOCK": ("TOS_BLOCK", "NORMAL"),
    "SMB_TOS_BLOCK": ("SMB_TOS_BLOCK", "NORMAL"),
    "PROXYBLOCK": ("PROXYBLOCK", "NORMAL"),
    "OFFLINE": ("OFFLINE", "OFFLINE"),
    "SYNCING": ("SYNCING", "SYNCING"),
    "RESUMING": ("SYNCING", "RESUMING"),
}
# Modes in which the socket carries messages both ways.
FLOWING = ("MAIN", "SYNCING")
# Seconds a send of a silent device is held before the server answers 503 (the page retries).
SILENT_SEND_WAIT = 20.0


class StreamOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_mode(self, phone, mode) -> dict:
        """Put every device linked to the phone in this stream mode (control API)."""
        name = str(mode or "").upper()
        if name not in STREAM_MODES:
            raise SandboxError(400, "invalid_mode",
                               f"mode must be one of {', '.join(STREAM_MODES)}")
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            if not account.devices:
                raise SandboxError(409, "no_linked_device", f"Phone {digits} has no linked device")
            for device_id in account.devices:
                device = self._devices[device_id]
                device.mode, device.info = STREAM_MODES[name]
            self._cond.notify_all()
            return {"phone": digits, "mode": name, "devices": list(account.devices)}

    def takeover(self, device_id: str, token: str, client: str) -> dict:
        """`Socket.takeover()`: this page becomes the login's active one, back in MAIN."""
        with self._cond:
            device = self._auth(device_id, token)
            if client:
                device.client = str(client)
            if device.mode == "CONFLICT":
                device.mode, device.info = STREAM_MODES["MAIN"]
            self._cond.notify_all()
            return {"stream": self._stream_view(device)}

    @staticmethod
    def _stream_view(device) -> dict:
        return {"mode": device.mode, "info": device.info}

    def _check_can_send(self, device) -> None:
        if device.mode not in FLOWING:
            raise SandboxError(409, "stream_not_main",
                               f"The device is in stream mode {device.mode}; nothing is sent")
        if device.silent:  # the server never answers: the page's send waits, then retries
            self._wait(lambda: not device.silent or device.id not in self._devices,
                       SILENT_SEND_WAIT)
            if device.silent:
                raise SandboxError(503, "no_server_ack", "The server did not answer the send")

    @staticmethod
    def _flowing(device) -> bool:
        """Whether events reach the device: its stream is up and its socket not silent."""
        return device.mode in FLOWING and not device.silent

    def set_silent(self, phone, silent) -> dict:
        """Control API: the phone's devices keep a socket that looks open (stream MAIN, no
        error) while nothing flows: incoming events wait on the server, sends get no server
        answer (a "connected but dead" session). False lets everything through again."""
        if not isinstance(silent, bool):
            raise SandboxError(400, "validation_error", "'silent' must be true or false")
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            if not account.devices:
                raise SandboxError(409, "no_linked_device", f"Phone {digits} has no linked device")
            for device_id in account.devices:
                self._devices[device_id].silent = silent
            self._cond.notify_all()
            return {"phone": digits, "silent": silent, "devices": list(account.devices)}
