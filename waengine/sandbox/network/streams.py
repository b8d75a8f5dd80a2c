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
    # WhatsApp keeps the mode MAIN through a short reconnect: only the StreamInfo (the socket's
    # state) says nothing flows.
    "CONNECTING": ("MAIN", "CONNECTING"),
    "OPENING": ("MAIN", "OPENING"),
}
# Modes in which the socket carries messages both ways, unless its info says it is down.
FLOWING = ("MAIN", "SYNCING")
# Seconds a send of a silent device is held before the server answers 503 (the page retries).
SILENT_SEND_WAIT = 20.0
SOCKET_DOWN = ("OFFLINE", "CONNECTING", "OPENING")


def flowing(device) -> bool:
    return device.mode in FLOWING and device.info not in SOCKET_DOWN


class StreamOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_mode(self, phone, mode, needs_update=None) -> dict:
        """Put every device linked to the phone in this stream mode (control API).
        `needs_update`: WhatsApp's own "update available" flag (conn.needsUpdate()), which it
        raises with any mode while the socket keeps working; DEPRECATED_VERSION raises it too."""
        name = str(mode or "").upper()
        if name not in STREAM_MODES:
            raise SandboxError(400, "invalid_mode",
                               f"mode must be one of {', '.join(STREAM_MODES)}")
        flag = bool(needs_update) or name == "DEPRECATED_VERSION"

        def apply(device) -> None:
            device.mode, device.info = STREAM_MODES[name]
            device.needs_update = flag
        return {"mode": name, "needsUpdate": flag, **self._each_linked_device(phone, apply)}

    def _each_linked_device(self, phone, change) -> dict:
        """Apply `change` to every device linked to the phone (control API); 409 without one."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            if not account.devices:
                raise SandboxError(409, "no_linked_device", f"Phone {digits} has no linked device")
            for device_id in account.devices:
                change(self._devices[device_id])
            self._cond.notify_all()
            return {"phone": digits, "devices": list(account.devices)}

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
        return {"mode": device.mode, "info": device.info, "needsUpdate": device.needs_update}

    def _check_can_send(self, device) -> None:
        if not flowing(device):
            raise SandboxError(409, "stream_not_main",
                               f"The device is in stream mode {device.mode} ({device.info});"
                               " nothing is sent")
        if device.silent:  # the server never answers: the page's send waits, then retries
            self._wait(lambda: not device.silent or device.id not in self._devices,
                       SILENT_SEND_WAIT)
            if device.silent:
                raise SandboxError(503, "no_server_ack", "The server did not answer the send")

    @staticmethod
    def _flowing(device) -> bool:
        """Whether events reach the device: its stream is up and its socket not silent."""
        return flowing(device) and not device.silent

    def set_silent(self, phone, silent) -> dict:
        """Control API: the phone's devices keep a socket that looks open (stream MAIN, no
        error) while nothing flows: incoming events wait on the server, sends get no server
        answer (a "connected but dead" session). False lets everything through again."""
        if not isinstance(silent, bool):
            raise SandboxError(400, "validation_error", "'silent' must be true or false")
        def apply(device) -> None:
            device.silent = silent
        return {"silent": silent, **self._each_linked_device(phone, apply)}
