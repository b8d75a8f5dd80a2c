"""Stale key state: a linked device whose profile was restored from a snapshot older than its
last messages, as WhatsApp's end-to-end encryption treats it.

WhatsApp Web keeps its Signal sessions in the profile (IndexedDB). A copy of the profile taken
before the device received more messages holds sessions the senders have moved past: what they
send it next does not decrypt. WhatsApp Web shows those as "Waiting for this message" (a
`ciphertext` model), sends the sender a retry receipt, and the sender encrypts the message again
on a fresh session; the model then takes its real type (wa-js re-emits it on "change:type").

The sandbox models the sessions with one counter per device:
- every incoming message event the server queues for a device carries `key`, the device's next
  key index (the sender's ratchet advances when it encrypts, not when the device reads);
- the page keeps the highest index it applied in its stored login (IndexedDB, which snapshots
  keep), written before it acknowledges the events (pump.js), and presents it in /hello;
- the server remembers the highest index the device acknowledged. A page that presents less
  runs on a profile older than what the device already received: its key state is stale.

A stale device gets every incoming message still queued for it and every new one as a
`ciphertext` placeholder until the sender answers a retry receipt; from then on that sender's
messages decrypt again (the retry set up a fresh session with it). Messages the device
acknowledged after the copy was taken are not sent again and are missing from the device's
history: WhatsApp's server drops a message once a device has it, and the restored profile's
store never held them (the gateway that ran the device then delivered them).
`POST /_sandbox/phones/{phone}/retry-receipts` makes the senders leave the retry receipts of
the phone's devices unanswered: those messages stay ciphertext (docs/sandbox.md).
"""

from __future__ import annotations

from .model import DEVICE_QUEUE_MAX, MESSAGE_TYPES, Device, Message, SandboxError, normalize_phone

STATUS_CHAT = "status@broadcast"
# Fields of a message view a placeholder does not have (wa-js 4.6.0 shows a ciphertext model
# with its key, sender and time only).
CONTENT_FIELDS = ("caption", "filename", "mimetype", "size", "lat", "lng", "loc", "quotedKey",
                  "vcardFormattedName", "vcardList", "pollName", "pollOptions",
                  "pollSelectableOptionsCount", "editedAt")
RETRY_IDS_MAX = 500


class KeyStateOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    # ----------------------------------------------------------------- control API

    def set_retry_receipts(self, phone, refuse) -> dict:
        """Control API: senders answer (refuse false) or ignore (true) the retry receipts of
        this phone's devices."""
        digits = normalize_phone(phone)
        if not isinstance(refuse, bool):
            raise SandboxError(400, "validation_error", "'refuse' must be true or false")
        with self._cond:
            self._require_phone(digits)
            (self._refused_retries.add if refuse else self._refused_retries.discard)(digits)
            return {"phone": digits, "refuseRetries": refuse}

    def _key_state_view(self, device: Device) -> dict:
        return {"keys": device.keys, "ackedKeys": device.acked_keys, "stale": device.stale,
                "undecrypted": sorted(device.undecrypted)}

    # ----------------------------------------------------------------- page transport

    def retry_from_device(self, device_id: str, token: str, ids) -> dict:
        """The page could not decrypt these messages and sends retry receipts: each sender that
        answers encrypts its message again (a `decrypt` event to this device) and has a fresh
        session with the device from then on."""
        if not isinstance(ids, list) or len(ids) > RETRY_IDS_MAX:
            raise SandboxError(400, "validation_error",
                               f"'ids' must be a list of at most {RETRY_IDS_MAX} message ids")
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            answered, unanswered = [], []
            for msg_id in (str(i) for i in ids):
                sender = device.undecrypted.get(msg_id)
                if sender is None:  # not ours to answer (a ciphertext that decrypts on its own)
                    continue
                if device.phone in self._refused_retries:
                    unanswered.append(msg_id)
                    continue
                del device.undecrypted[msg_id]
                device.rekeyed.add(sender)
                msg = self._messages[msg_id]
                self._push(device, "decrypt", {"msg": self._msg_view(msg, account)})
                answered.append(msg_id)
            self._cond.notify_all()
            return {"answered": answered, "unanswered": unanswered}

    # ----------------------------------------------------------------- inside the network

    def _check_key_state(self, device: Device, keys) -> None:
        """/hello (lock held): a page presenting less than the device acknowledged runs on an
        older copy of the profile; what is still queued for it turns into placeholders."""
        if keys is None:
            return
        try:
            presented = int(keys)
        except (TypeError, ValueError):
            raise SandboxError(400, "validation_error", "'keys' must be an integer") from None
        if presented >= device.acked_keys:
            return
        device.stale = True
        device.rekeyed = set()  # every sender's session with the old copy is behind
        device.lost |= {m for m, k in device.key_ids.items() if presented < k <= device.acked_keys}
        queued = [(seq, self._sealed(device, e) if e.get("type") == "message" else e)
                  for seq, e in device.events]
        device.events.clear()
        device.events.extend((seq, e) for seq, e in queued if not (
            e.get("type") in ("edit", "vote")
            and str(((e.get("msg") or {}).get("key") or {}).get("id")) in device.undecrypted))

    def _keyed(self, device: Device, kind: str, data: dict) -> dict | None:
        """_push (lock held): an incoming encrypted message gets the device's next key index,
        and a stale device gets a placeholder instead of it. An edit or a vote of a message the
        device could not decrypt does not reach it (None): the message, once decrypted, comes
        with its latest text."""
        if kind in ("edit", "vote") and \
                str(((data.get("msg") or {}).get("key") or {}).get("id")) in device.undecrypted:
            return None
        msg = self._encrypted_for(device, kind, data)
        if msg is None:
            return data
        device.keys += 1
        device.key_ids.pop(msg.id, None)
        device.key_ids[msg.id] = device.keys
        if len(device.key_ids) > DEVICE_QUEUE_MAX:
            device.key_ids.pop(next(iter(device.key_ids)))
        data = {**data, "key": device.keys}
        return self._sealed(device, data) if kind == "message" else data

    def _encrypted_for(self, device: Device, kind: str, data: dict) -> Message | None:
        """The message of an event if it is one a sender encrypted for this device."""
        if kind not in ("message", "decrypt"):
            return None
        key = (data.get("msg") or {}).get("key") or {}
        msg = self._messages.get(str(key.get("id")))
        if msg is None or msg.sender == device.phone or msg.type not in MESSAGE_TYPES \
                or msg.to == STATUS_CHAT or msg.to.endswith("@newsletter"):
            return None
        return msg

    def _sealed(self, device: Device, event: dict) -> dict:
        """The event as a stale device gets it: the message a placeholder it must retry."""
        if not device.stale:
            return event
        msg = self._encrypted_for(device, "message", event)
        if msg is None or msg.ciphertext or msg.revoked or msg.sender in device.rekeyed:
            return event
        device.undecrypted[msg.id] = msg.sender
        return {**event, "msg": placeholder(event["msg"])}

    def _acked_keys(self, device: Device, events: list[dict]) -> None:
        """The page applied these events (and stored their key indexes first)."""
        for event in events:
            if isinstance(event.get("key"), int):
                device.acked_keys = max(device.acked_keys, event["key"])

    def _device_has(self, device: Device, msg_id: str) -> bool:
        """Whether the device's own store holds the message (not one its profile lost)."""
        return msg_id not in device.lost

    def _device_msg_view(self, device: Device, view: dict) -> dict:
        """History and lookups as the device sees them: what it could not decrypt yet stays a
        placeholder there too."""
        if view["key"]["id"] in device.undecrypted and view["type"] != "revoked":
            return placeholder(view)
        return view


def placeholder(view: dict) -> dict:
    """A message view as a `ciphertext` model: key, sender and time, no content."""
    out = {k: v for k, v in view.items() if k not in CONTENT_FIELDS}
    out.update(type="ciphertext", body="")
    return out
