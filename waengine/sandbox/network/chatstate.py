"""Chat state and presence: archive, pin, mute, clear, delete; typing and online; labels.

As on WhatsApp:
- archive, pin, mute, clear, delete and labels belong to the account (its phone and every
  linked device follow) and are never seen by the other party;
- at most 3 chats are pinned; archiving a chat unpins it;
- "typing…"/"recording audio…" (a chatstate) and online/offline (presence) are seen only by
  a device that subscribed to that contact's presence (WhatsApp Web subscribes the chats it
  has at start, and any contact it asks for); nothing is queued for later;
- labels exist on WhatsApp Business accounts only.
"""

from __future__ import annotations

from .model import ChatState, Device, Phone, SandboxError, normalize_phone, user_wid

PINNED_CHATS_MAX = 3
CHATSTATES = ("composing", "recording", "paused")
PRESENCES = ("available", "unavailable")
LABELS_MAX = 20  # WhatsApp Business allows 20 labels
LABEL_COLORS = 20  # the palette's size (colorIndex 0..19)


class ChatStateOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    # ------------------------------------------------------------- account's chat actions

    def chat_action_from_device(self, device_id: str, token: str, chat_id: str, action: str,
                                value=None) -> dict:
        """A page archives, pins, mutes, clears or deletes one of its account's chats."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chat = account.chats.get(str(chat_id))
            if chat is None:
                raise SandboxError(404, "chat_not_found", f"Chat not found for {chat_id}")
            if action == "archive":
                chat.archive = bool(value)
                if chat.archive:
                    chat.pin = 0
            elif action == "pin":
                self._pin(account, chat, bool(value))
            elif action == "mute":
                chat.mute = int(value or 0)
            elif action == "clear":
                keep = account.starred if value else set()
                chat.msg_ids = [m for m in chat.msg_ids if m in keep]
                chat.unread = 0
            elif action == "delete":
                del account.chats[chat.id]
            else:
                raise SandboxError(400, "invalid_action", f"Unknown chat action {action!r}")
            self._sync_chat(account, chat, action, skip=device.id)
            self._cond.notify_all()
            return self._chat_view(account, chat)

    def _pin(self, account: Phone, chat: ChatState, pin: bool) -> None:
        if not pin:
            chat.pin = 0
            return
        pinned = [c for c in account.chats.values() if c.pin and c is not chat]
        if len(pinned) >= PINNED_CHATS_MAX:
            raise SandboxError(409, "pin_limit",
                               f"You can only pin up to {PINNED_CHATS_MAX} chats")
        chat.pin = int(self._clock())

    def _sync_chat(self, account: Phone, chat: ChatState, action: str, skip=None) -> None:
        """The account's other devices follow a change of one of its chats."""
        if action in ("clear", "delete"):
            self._push_phone(account.phone, "chat_" + action,
                             lambda a: {"chat": chat.id, "keep": list(chat.msg_ids)}, skip=skip)
        else:
            self._push_phone(account.phone, "chat", lambda a: {"chat": self._chat_view(a, chat)},
                             skip=skip)

    def phone_chats(self, phone) -> list[dict]:
        """Control API: the chats of a phone's account as it sees them (archive, pin, mute...)."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            return [{**self._chat_view(account, c), "messages": len(c.msg_ids)}
                    for c in sorted(account.chats.values(), key=lambda c: c.t, reverse=True)]

    # ------------------------------------------------------------- presence and chatstates

    def subscribe_presence(self, device_id: str, token: str, client: str, ids) -> list[str]:
        """A page subscribes to contacts' presence (for this page only: a reload starts over)."""
        with self._cond:
            device = self._auth(device_id, token)
            subs = self._presence_subs.get(device.id)
            if subs is None or subs["client"] != str(client):
                subs = self._presence_subs[device.id] = {"client": str(client), "ids": set()}
            added = []
            for wid in ids or ():
                try:
                    digits = normalize_phone(wid)
                except SandboxError:
                    continue  # groups and lids: their participants' chatstates are not simulated
                subs["ids"].add(digits)
                added.append(user_wid(digits))
            return added

    def chatstate_from_device(self, device_id: str, token: str, chat_id: str, state: str) -> dict:
        """A page shows "typing…"/"recording audio…" in a chat, or stops (paused)."""
        if state not in CHATSTATES:
            raise SandboxError(400, "invalid_chatstate", f"Unknown chatstate {state!r}")
        with self._cond:
            device = self._auth(device_id, token)
            peer = normalize_phone(chat_id) if str(chat_id).endswith("@c.us") else None
            if peer is not None:
                self._chatstates[(device.phone, peer)] = {"state": state, "t": int(self._clock())}
                self._tell_subscribers(device.phone, peer, state)
            self._cond.notify_all()
            return {"chat": str(chat_id), "state": state}

    def presence_from_device(self, device_id: str, token: str, available: bool) -> dict:
        """A page marks its account online or offline (WPP.conn.markAvailable)."""
        with self._cond:
            device = self._auth(device_id, token)
            return self._set_online(device.phone, bool(available), skip_device=device.id)

    def phone_presence(self, phone, to, state: str) -> dict:
        """Control API: phone `phone` types/records/pauses in its chat with `to`, or goes
        online/offline (`to` then optional: every subscriber sees it)."""
        digits = normalize_phone(phone)
        if state not in CHATSTATES + PRESENCES:
            raise SandboxError(400, "validation_error",
                               f"'state' must be one of {', '.join(CHATSTATES + PRESENCES)}")
        with self._cond:
            self._require_phone(digits)
            if state in PRESENCES:
                return self._set_online(digits, state == "available")
            if not to:
                raise SandboxError(400, "validation_error", "'to' (a phone) is required")
            peer = normalize_phone(to)
            self._require_phone(peer)
            self._chatstates[(digits, peer)] = {"state": state, "t": int(self._clock())}
            self._online[digits] = True  # typing is done online
            told = self._tell_subscribers(digits, peer, state)
            self._cond.notify_all()
            return {"phone": digits, "to": peer, "state": state, "devicesTold": told}

    def phone_presence_view(self, phone) -> dict:
        """Control API: what a phone sees of others: who is online, who types to it."""
        digits = normalize_phone(phone)
        with self._cond:
            self._require_phone(digits)
            chatstates = [{"from": sender, **seen} for (sender, to), seen in
                          self._chatstates.items() if to == digits]
            return {"phone": digits, "online": sorted(p for p, on in self._online.items() if on),
                    "chatstates": sorted(chatstates, key=lambda s: s["t"])}

    def _set_online(self, digits: str, online: bool, skip_device: str | None = None) -> dict:
        self._online[digits] = online
        state = "available" if online else "unavailable"
        told = 0
        for device in self._subscribers_of(digits):
            if device.phone != digits and device.id != skip_device:
                self._push(device, "presence", self._presence_event(device, digits, state))
                told += 1
        self._cond.notify_all()
        return {"phone": digits, "available": online, "devicesTold": told}

    def _tell_subscribers(self, sender: str, peer: str, state: str) -> int:
        """Push a chatstate of `sender` to the subscribed devices of `peer` (a live signal:
        a device that did not subscribe, or a page that reloaded since, never sees it)."""
        told = 0
        for device in self._subscribers_of(sender):
            if device.phone == peer:
                self._push(device, "presence", self._presence_event(device, sender, state))
                told += 1
        return told

    def _subscribers_of(self, digits: str) -> list[Device]:
        out = []
        for device_id, subs in self._presence_subs.items():
            device = self._devices.get(device_id)
            if device and device.client == subs["client"] and digits in subs["ids"]:
                out.append(device)
        return out

    def _presence_event(self, device: Device, sender: str, state: str) -> dict:
        viewer = self._phones[device.phone]
        return {"contact": self._contact_view(viewer, sender), "state": state,
                "isOnline": self._online.get(sender, False) or state in CHATSTATES,
                "t": int(self._clock() * 1000)}

    # ------------------------------------------------------------- labels (business only)

    def _business(self, device: Device) -> Phone:
        account = self._phones[device.phone]
        if not account.business:
            raise SandboxError(403, "is_not_business", "This account is not a business version")
        return account

    def labels_for_device(self, device_id: str, token: str) -> list[dict]:
        with self._cond:
            device = self._auth(device_id, token)
            return self._label_views(self._phones[device.phone])

    def add_label_from_device(self, device_id: str, token: str, name, color) -> dict:
        """A business page creates a label; the account's other devices follow."""
        text = str(name or "").strip()
        if not text or len(text) > 100:
            raise SandboxError(400, "invalid_label_name", "A label name is 1-100 characters")
        with self._cond:
            account = self._business(self._auth(device_id, token))
            labels = self._labels.setdefault(account.phone, {})
            if len(labels) >= LABELS_MAX:
                raise SandboxError(409, "label_limit", f"At most {LABELS_MAX} labels")
            next_id = str(max((int(i) for i in labels), default=0) + 1)
            index = int(color) if color is not None else (int(next_id) - 1) % LABEL_COLORS
            if not 0 <= index < LABEL_COLORS:
                raise SandboxError(400, "color_not_in_pallet", "Color not in pallet")
            labels[next_id] = {"id": next_id, "name": text, "colorIndex": index}
            self._push_phone(account.phone, "labels",
                             lambda a: {"labels": self._label_views(a)}, skip=device_id)
            self._cond.notify_all()
            return next(v for v in self._label_views(account) if v["id"] == next_id)

    def apply_labels_from_device(self, device_id: str, token: str, chat_ids, ops) -> dict:
        """Add labels to or remove them from chats of a business account."""
        with self._cond:
            account = self._business(self._auth(device_id, token))
            labels = self._labels.get(account.phone, {})
            chats = []
            for chat_id in chat_ids or ():
                chat = account.chats.get(str(chat_id))
                if chat is None:
                    raise SandboxError(404, "chat_not_found", f"Chat not found for {chat_id}")
                chats.append(chat)
            for op in ops or ():
                if str(op.get("id")) not in labels:
                    raise SandboxError(404, "label_not_found", f"No label {op.get('id')}")
            for chat in chats:
                for op in ops or ():
                    label_id = str(op["id"])
                    if op.get("type") == "add" and label_id not in chat.labels:
                        chat.labels.append(label_id)
                    elif op.get("type") == "remove" and label_id in chat.labels:
                        chat.labels.remove(label_id)
                self._sync_chat(account, chat, "labels", skip=device_id)
            self._push_phone(account.phone, "labels",
                             lambda a: {"labels": self._label_views(a)}, skip=device_id)
            self._cond.notify_all()
            return {"chats": [self._chat_view(account, c) for c in chats],
                    "labels": self._label_views(account)}

    def phone_labels(self, phone) -> list[dict]:
        """Control API: a phone's labels, each with its chats."""
        digits = normalize_phone(phone)
        with self._cond:
            return self._label_views(self._require_phone(digits), with_chats=True)

    def _label_views(self, account: Phone, with_chats: bool = False) -> list[dict]:
        out = []
        for label in sorted(self._labels.get(account.phone, {}).values(),
                            key=lambda x: int(x["id"])):
            chats = [c.id for c in account.chats.values() if label["id"] in c.labels]
            view = {**label, "count": len(chats)}
            if with_chats:
                view["chats"] = chats
            out.append(view)
        return out
