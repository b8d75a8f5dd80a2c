"""Sending, acks, reactions, revokes, history."""

from __future__ import annotations

import base64
import binascii
import re

from .model import (
    EDIT_WINDOW,
    MEDIA_TYPES,
    MESSAGE_TYPES,
    PIN_SECONDS,
    POLL_OPTIONS_MAX,
    Device,
    Message,
    Phone,
    SandboxError,
    is_group_id,
    key_string,
    new_message_id,
    normalize_phone,
    user_wid,
)


class MessageOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def send_from_phone(self, sender, to, text, quoted_id=None, mentions=None, caption=None,
                        media=None, ciphertext=False) -> dict:
        """The control API: a (simulated) phone sends a text, or a file when `media` is given."""
        sender_digits = normalize_phone(sender)
        target = self._target(to)
        file = media_file(media) if media is not None else None
        with self._cond:
            self._ensure_phone(sender_digits)
            self._check_group_sender(target, sender_digits)
            group = self._groups.get(target)
            # a phone mentions members as its group shows them (@lid in LID-addressed groups)
            mention_ids = [self._member_id(group, self._person(m)) for m in mentions or []]
            msg = Message(
                id=new_message_id("3A"),
                sender=sender_digits,
                to=target,
                type="chat",
                t=int(self._clock()),
                body=str(text or ""),
                quoted_id=quoted_id or None,
                mention_ids=mention_ids,
                addressed=None if is_group_id(target) else self._peer_id(target),
            )
            msg.mentions = self._mentioned_phones(msg)
            if file is not None:
                msg.type, msg.data, msg.filename, msg.mimetype = file
                msg.size, msg.body = len(msg.data), ""
                msg.caption = str(caption or text or "") or None  # a file's text is its caption
            msg.ciphertext = ciphertext  # notices.py: recipients cannot decrypt it (yet)
            self._deliver(msg)
            return self._control_view(msg)

    def media_for_device(self, device_id: str, token: str, msg_id: str) -> Message:
        """The page downloads a media message's file (404 media_not_found once expired)."""
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._messages.get(msg_id)
            if msg is None or device.phone not in (msg.sender, *msg.recipients):
                raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
            if msg.type not in MEDIA_TYPES:
                raise SandboxError(400, "message_not_contains_media", "Message has no media")
            if msg.data is None or msg.expired:
                raise SandboxError(404, "media_not_found", "Media not found")
            return msg

    def expire_media(self, msg_id: str) -> dict:
        """Control API: the media server drops the file (WhatsApp keeps media for a while only)."""
        with self._cond:
            msg = self._require_message(msg_id)
            if msg.type not in MEDIA_TYPES:
                raise SandboxError(409, "not_media", f"Message {msg_id} has no media")
            msg.expired = True
            return self._control_view(msg)

    def send_from_device(self, device_id: str, token: str, payload: dict) -> dict:
        """A page sends a message; idempotent on the message id (safe to retry)."""
        with self._cond:
            device = self._auth(device_id, token)
            self._check_can_send(device)
            msg_id = str(payload.get("id") or "")
            if not re.fullmatch(r"[0-9A-F]{16,32}", msg_id):
                raise SandboxError(400, "invalid_message_id", "Message ids are uppercase hex")
            existing = self._messages.get(msg_id)
            if existing is not None:
                if existing.sender != device.phone:
                    raise SandboxError(409, "message_id_taken", "Message id already used")
                return self._send_result(existing, self._phones[device.phone])
            failure = self._take_send_failure(device)
            if failure:  # the server did not take it: nobody receives it (the page's result)
                raise SandboxError(409, failure, f"Send failed (injected): {failure}")
            self._check_reach_out(device.phone, self._target(payload.get("to")))
            msg = self._message_from_payload(device, msg_id, payload)
            self._deliver(msg)
            return self._send_result(msg, self._phones[device.phone])

    def _message_from_payload(self, device: Device, msg_id: str, payload: dict) -> Message:
        kind = str(payload.get("type") or "chat")
        if kind not in MESSAGE_TYPES:
            raise SandboxError(400, "invalid_type", f"Unsupported message type {kind!r}")
        target = self._target(payload.get("to"))
        self._check_group_sender(target, device.phone, kind)
        if target in self._phones[device.phone].blocked:
            raise SandboxError(403, "contact_blocked", "Unblock this contact to message it")
        msg = Message(id=msg_id, sender=device.phone, to=target, type=kind,
                      t=int(self._clock()), origin_device=device.id)
        msg.body = str(payload.get("body") or "")
        for name in ("caption", "filename", "mimetype", "loc"):
            value = payload.get(name)
            setattr(msg, name, None if value is None else str(value))
        msg.size = int(payload["size"]) if payload.get("size") is not None else None
        msg.lat = float(payload["lat"]) if payload.get("lat") is not None else None
        msg.lng = float(payload["lng"]) if payload.get("lng") is not None else None
        msg.quoted_id = payload.get("quotedId") or None
        if not is_group_id(target) and not target.endswith("@newsletter"):
            to = str(payload.get("to") or "").strip()
            msg.addressed = to if to.endswith("@lid") else user_wid(target)
        msg.mention_ids = [str(m) for m in payload.get("mentions") or []]
        msg.mentions = self._mentioned_phones(msg)
        if kind in MEDIA_TYPES and payload.get("data") is not None:
            msg.data = decode_base64(payload["data"])  # the upload a sending page made
        if kind == "poll_creation":
            self._poll_from_payload(msg, payload)
        if kind in ("vcard", "multi_vcard"):
            msg.vcards = vcards_from_payload(kind, payload)
        if payload.get("forwardOf"):
            self._forward_from(device, msg, str(payload["forwardOf"]))
        return msg

    @staticmethod
    def _poll_from_payload(msg: Message, payload: dict) -> None:
        options = [str((o or {}).get("name") or "") if isinstance(o, dict) else str(o or "")
                   for o in payload.get("pollOptions") or ()]
        name = str(payload.get("pollName") or "").strip()
        if not name or not 2 <= len(options) <= POLL_OPTIONS_MAX or not all(options) \
                or len(set(options)) != len(options):
            raise SandboxError(400, "invalid_poll",
                               f"A poll needs a name and 2 to {POLL_OPTIONS_MAX} distinct options")
        msg.poll_name, msg.poll_options = name, options
        msg.poll_selectable = int(payload.get("pollSelectableOptionsCount") or 0)

    def vote(self, msg_id: str, voter, options) -> dict:
        """Control API: a phone in the poll's chat votes (its new vote replaces the old one)."""
        digits = normalize_phone(voter)
        with self._cond:
            msg = self._require_message(msg_id)
            if msg.type != "poll_creation" or msg.revoked:
                raise SandboxError(409, "not_a_poll", f"Message {msg_id} is not a poll")
            if digits not in (msg.sender, *msg.recipients):
                raise SandboxError(409, "not_a_recipient", f"{digits} did not receive {msg_id}")
            names = [str(o) for o in options or ()]
            unknown = [n for n in names if n not in msg.poll_options]
            if unknown or len(set(names)) != len(names):
                raise SandboxError(400, "invalid_vote", f"Not options of this poll: {unknown}")
            if msg.poll_selectable and len(names) > msg.poll_selectable:
                raise SandboxError(400, "invalid_vote",
                                   f"At most {msg.poll_selectable} option(s) may be chosen")
            msg.votes[digits] = sorted(msg.poll_options.index(n) for n in names)
            at_ms = int(self._clock() * 1000)
            for phone in {msg.sender, *msg.recipients}:
                self._push_phone(phone, "vote", lambda a: {
                    "msg": self._msg_view(msg, a), "sender": self._sender_id(msg, digits),
                    "selectedOptionLocalIds": msg.votes[digits], "senderTimestampMs": at_ms})
            self._cond.notify_all()
            return self._control_view(msg)

    def _forward_from(self, device: Device, msg: Message, original_id: str) -> None:
        """A forward re-sends what the account sees; the media server reuses the file."""
        original = self._messages.get(original_id)
        if original is None or device.phone not in (original.sender, *original.recipients):
            raise SandboxError(404, "msg_not_found", f"Message {original_id} not found")
        msg.forwarded = True
        if original.type in MEDIA_TYPES and msg.data is None:
            msg.data, msg.expired = original.data, original.expired

    def _mentioned_phones(self, msg: Message) -> list[str]:
        """Who a message really mentions: an id the chat does not use for that person is no
        mention (WhatsApp passes mentionedList through unchanged; in a LID-addressed group
        only `@lid` ids match members)."""
        group = self._groups.get(msg.to) if is_group_id(msg.to) else None
        phones = []
        for wid in msg.mention_ids:
            if not wid.endswith(("@c.us", "@lid")):
                wid = wid + "@c.us"  # a page sends full ids; a bare number is a phone
            try:
                phone = self._person(wid)
            except SandboxError:
                continue
            if group is not None and self._member_id(group, phone) != wid:
                continue
            if phone not in phones:
                phones.append(phone)
        return phones

    def _check_group_sender(self, target: str, sender: str, kind: str = "chat") -> None:
        if target.endswith("@newsletter"):  # channels.py: owners and admins post
            self._check_channel_post(target, sender, kind)
            return
        if not is_group_id(target):
            return
        group = self._groups.get(target)
        if group is None:
            raise SandboxError(404, "group_not_found", f"No group {target}")
        if sender not in group.participants:
            raise SandboxError(403, "not_a_participant", f"{sender} is not in {target}")
        if group.announce and group.participants[sender] not in ("admin", "superadmin"):
            raise SandboxError(403, "announcement_group", f"Only admins may send to {target}")

    def _target(self, to) -> str:
        text = str(to or "").strip()
        if text.endswith("@newsletter"):
            if not re.fullmatch(r"\d+@newsletter", text):
                raise SandboxError(400, "invalid_wid", f"Invalid channel id {to!r}")
            return text
        if is_group_id(text):
            if not re.fullmatch(r"[\d-]+@g\.us", text):
                raise SandboxError(400, "invalid_wid", f"Invalid group id {to!r}")
            return text
        if text.endswith("@lid"):
            lid = text[:-4]
            for account in self._phones.values():
                if account.lid == lid:
                    return account.phone
            raise SandboxError(404, "lid_not_found", f"Unknown LID {to!r}")
        return normalize_phone(text)

    def _deliver(self, msg: Message) -> None:
        """Store a message, update every party's chats, queue device events, plan acks."""
        sender = self._phones[msg.sender]
        self._messages[msg.id] = msg
        self._message_order.append(msg.id)
        msg.recipients = self._recipients(msg)
        reaction = msg.type == "reaction"
        kind = "reaction" if reaction else "message"
        if not reaction:
            self._file_message(sender, msg, incoming=False)
        for phone in msg.recipients:
            account = self._phones[phone]
            if msg.sender not in account.book and not msg.to.endswith("@newsletter"):
                account.known.add(msg.sender)  # a channel's followers never learn who posted
            if not reaction:
                self._file_message(account, msg, incoming=True)
            self._push_phone(phone, kind, lambda a: self._message_event(msg, a))
        self._push_phone(msg.sender, kind, lambda a: self._message_event(msg, a),
                         skip=msg.origin_device)
        self._cond.notify_all()
        if msg.recipients and not reaction:
            self._plan_acks(msg)

    def _recipients(self, msg: Message) -> list[str]:
        if is_group_id(msg.to):
            group = self._groups.get(msg.to)
            members = group.participants if group else {}
            return [p for p in members if p != msg.sender]
        if msg.to not in self._phones or msg.to == msg.sender:
            return []
        # WhatsApp never delivers a blocked contact's messages (the sender sees one tick)
        return [] if self._blocked_between(msg.sender, msg.to) else [msg.to]

    def _file_message(self, account: Phone, msg: Message, incoming: bool) -> None:
        chat = self._chat(account, self._chat_id_for(msg, account.phone))
        chat.msg_ids.append(msg.id)
        chat.t = msg.t
        if incoming:
            chat.unread += 1

    def _chat_id_for(self, msg: Message, viewer: str) -> str:
        """The chat a message is in for one party: exact ids, as WhatsApp keeps them (a phone
        id and an @lid id of one person are two different chats)."""
        if is_group_id(msg.to):
            return msg.to
        if msg.sender == viewer:
            return msg.addressed or user_wid(msg.to)
        return self._peer_id(msg.sender)

    def _message_event(self, msg: Message, viewer: Phone) -> dict:
        data = {
            "msg": self._msg_view(msg, viewer),
            "contact": self._contact_view(viewer, msg.sender),
        }
        chat = viewer.chats.get(self._chat_id_for(msg, viewer.phone))
        if chat is not None:
            data["chat"] = self._chat_view(viewer, chat)
        return data

    def _plan_acks(self, msg: Message) -> None:
        delivered, read = self.options.ack_delivered_delay, self.options.ack_read_delay
        # In a group every member's device sends its own receipt (one event each, `sender`).
        readers = list(msg.recipients) if is_group_id(msg.to) else [None]
        if delivered is not None and delivered >= 0:
            for by in readers:
                self._later(delivered, lambda by=by: self._set_ack(msg.id, 2, by=by))
        if read is not None and read >= 0:
            for by in readers:
                self._later(max(read, delivered or 0),
                            lambda by=by: self._set_ack(msg.id, 3, by=by))

    def _set_ack(self, msg_id: str, ack: int, by: str | None = None) -> bool:
        """Raise a message's ack and tell the sender's devices (chat.msg_ack_change)."""
        msg = self._messages.get(msg_id)
        if msg is None or msg.revoked:
            return False
        group = is_group_id(msg.to)
        if by is not None and group:
            done = msg.read_by if ack >= 3 else msg.delivered_to
            if by in done:
                return False
            done.add(by)
            if ack < 3:
                msg.delivered_to.add(by)
            # In groups each member's receipt is an event; the message is DELIVERED / READ
            # when all members are.
            members = set(msg.recipients)
            if msg.ack < 3 and not members - msg.read_by:
                msg.ack = 3
            elif msg.ack < 2 and not members - msg.delivered_to - msg.read_by:
                msg.ack = 2
        elif msg.ack >= ack:
            return False
        else:
            msg.ack = ack

        def make(account: Phone) -> dict:
            # Like WhatsApp, the key is rebuilt from the receipt: remote = who sent the
            # receipt (a 1:1 recipient by its LID), participant = the reader in a group.
            if group:
                key = {"fromMe": True, "remote": msg.to, "id": msg.id,
                       "participant": user_wid(by) if by else None}
            else:
                reader = self._phones.get(msg.to)
                remote = f"{reader.lid}@lid" if reader else user_wid(msg.to)
                key = {"fromMe": True, "remote": remote, "id": msg.id, "participant": None}
            event = {"ack": ack, "chat": key["remote"], "ids": [key_string(key)]}
            if group and by:
                event["sender"] = self._sender_id(msg, by)
            return event

        self._push_phone(msg.sender, "ack", make)
        return True

    def mark_read(self, device_id: str, token: str, chat_id: str) -> int:
        """The page reads a chat: reset unread and send read receipts; return unread before."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chat = account.chats.get(chat_id)
            if chat is None:
                return 0
            before = chat.unread
            if before > 0:
                incoming = [m for m in chat.msg_ids if self._messages[m].sender != account.phone]
                for mid in incoming[-before:]:
                    self._set_ack(mid, 3, by=account.phone)
            chat.unread = 0
            self._push_phone(account.phone, "chat", lambda a: {"chat": self._chat_view(a, chat)},
                             skip=device.id)
            self._cond.notify_all()
            return before

    def read_receipt(self, msg_id: str, by) -> dict:
        """Control API: phone `by` reads a message (blue ticks for the sender)."""
        digits = normalize_phone(by)
        with self._cond:
            msg = self._require_message(msg_id)
            if digits not in msg.recipients:
                raise SandboxError(409, "not_a_recipient", f"{digits} did not receive {msg_id}")
            self._deliver_receipt(msg, digits)  # a phone that reads has it (receipts.py)
            self._read_receipt(msg, digits)
            chat = self._phones[digits].chats.get(self._chat_id_for(msg, digits))
            if chat is not None and chat.unread:
                chat.unread = max(0, chat.unread - 1)
            self._cond.notify_all()
            return self._control_view(msg)

    def revoke(self, msg_id: str) -> dict:
        """Control API: the sender deletes a message for everyone."""
        with self._cond:
            msg = self._require_message(msg_id)
            if msg.revoked:
                raise SandboxError(409, "already_revoked", "Message already revoked")
            self._revoke(msg, skip=None)
            return self._control_view(msg)

    def revoke_from_device(self, device_id: str, token: str, msg_id: str) -> dict:
        """A page deletes its own message for everyone; returns the revoke's id for that page
        (which applies the revoke itself, so its own device gets no event)."""
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._require_message(msg_id)
            if device.phone not in (msg.sender, *msg.recipients):
                raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
            if msg.sender != device.phone:
                raise SandboxError(403, "not_sender", "Only the sender can delete for everyone")
            if msg.revoked:
                raise SandboxError(409, "already_revoked", "Message already revoked")
            revoke_id = self._revoke(msg, skip=device.id)
            return {"revokeId": revoke_id}

    def _revoke(self, msg: Message, skip: str | None) -> str:
        msg.revoked = True
        revoke_id = new_message_id("3A")
        for phone in [*msg.recipients, msg.sender]:
            kind = "sender_revoke" if phone == msg.sender else "revoke"
            self._push_phone(phone, "revoke",
                             lambda a, k=kind: self._revoke_event(msg, a, revoke_id, k),
                             skip=skip if phone == msg.sender else None)
        self._cond.notify_all()
        return revoke_id

    def edit(self, msg_id: str, text) -> dict:
        """Control API: the (simulated) phone that sent a text edits it."""
        with self._cond:
            msg = self._require_message(msg_id)
            self._edit(msg, msg.sender, text, skip=None)
            return self._control_view(msg)

    def edit_from_device(self, device_id: str, token: str, msg_id: str, text) -> dict:
        """A page edits its own text; the message as that page sees it afterwards."""
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._require_message(msg_id)
            if device.phone not in (msg.sender, *msg.recipients):
                raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
            return self._edit(msg, device.phone, text, skip=device.id)

    def _edit(self, msg: Message, editor: str, text, skip: str | None) -> dict:
        # WhatsApp's canEditMsg: own, not revoked, a text, within the edit window.
        if msg.sender != editor:
            raise SandboxError(403, "edit_message_error", "Only the sender can edit a message")
        if msg.revoked or msg.type != "chat" or self._clock() - msg.t > EDIT_WINDOW:
            raise SandboxError(422, "edit_message_error", "Cannot edit this message")
        body = str(text or "").strip()
        if not body:
            raise SandboxError(400, "validation_error", "The new text is empty")
        msg.body, msg.edited_at = body, int(self._clock())
        for phone in msg.recipients:
            self._push_phone(phone, "edit", lambda a: {"msg": self._msg_view(msg, a)})
        self._push_phone(msg.sender, "edit", lambda a: {"msg": self._msg_view(msg, a)}, skip=skip)
        self._cond.notify_all()
        return self._msg_view(msg, self._phones[editor])

    def _revoke_event(self, msg: Message, viewer: Phone, revoke_id: str, kind: str) -> dict:
        view = self._msg_view(msg, viewer)
        key = dict(view["key"])
        key["id"] = revoke_id
        key["_serialized"] = key_string(key)
        return {"id": key, "refId": view["key"], "from": view["from"], "to": view["to"],
                "author": view["author"], "revokeType": kind}

    def _visible(self, device: Device, msg_id: str) -> Message:
        msg = self._messages.get(str(msg_id))
        if msg is None or device.phone not in (msg.sender, *msg.recipients):
            raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
        return msg

    def star_from_device(self, device_id: str, token: str, ids, star: bool) -> dict:
        """A page stars (or unstars) messages: the account's other devices follow."""
        with self._cond:
            device = self._auth(device_id, token)
            msgs = [self._visible(device, i) for i in ids or ()]
            account = self._phones[device.phone]
            for msg in msgs:
                (account.starred.add if star else account.starred.discard)(msg.id)
            self._push_phone(account.phone, "star", lambda a: {
                "ids": [self._msg_view(m, a)["key"]["_serialized"] for m in msgs], "star": star},
                skip=device.id)
            self._cond.notify_all()
            return {"ids": [m.id for m in msgs], "star": star}

    def pin_from_device(self, device_id: str, token: str, msg_id: str, pin: bool,
                        duration: str | None) -> dict:
        """A page pins a message in its chat (both parties see it) or unpins it."""
        with self._cond:
            device = self._auth(device_id, token)
            msg = self._visible(device, msg_id)
            verb = "pin" if pin else "unpin"
            if msg.revoked or msg.type == "reaction":
                raise SandboxError(422, f"{verb}_error", f"The msg {msg_id} not can be pinned")
            now = int(self._clock())
            pinned = msg.pinned_until is not None and msg.pinned_until > now
            if pinned == pin:
                raise SandboxError(409, f"{verb}_error",
                                   f"The msg {msg_id} is already {verb}ned")
            msg.pinned_until = now + PIN_SECONDS.get(duration or "", PIN_SECONDS["SevenDays"]) \
                if pin else None
            for phone in {msg.sender, *msg.recipients}:
                self._push_phone(phone, "pin", lambda a: {"msg": self._msg_view(msg, a)},
                                 skip=device.id)
            self._cond.notify_all()
            return self._msg_view(msg, self._phones[device.phone])

    def get_message_for_device(self, device_id: str, token: str, msg_id: str) -> dict:
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            msg = self._messages.get(msg_id)
            if msg is None or account.phone not in (msg.sender, *msg.recipients) \
                    or not self._device_has(device, msg.id):
                raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
            return self._device_msg_view(device, self._msg_view(msg, account))

    def history(self, device_id: str, token: str, chat_id: str, before: str | None,
                count: int) -> list[dict]:
        """Older messages of a chat (the page asks when its local store runs out)."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chat = account.chats.get(chat_id)
            if chat is None:
                return []
            ids = [m for m in chat.msg_ids if self._device_has(device, m)]
            if before and before in ids:
                ids = ids[: ids.index(before)]
            ids = ids if count < 0 else ids[-count:] if count else []
            return [self._device_msg_view(device, self._msg_view(self._messages[m], account))
                    for m in ids]

    def _require_message(self, msg_id: str) -> Message:
        key = str(msg_id)
        if "_" in key:  # a full key string was given: take its random part
            key = key.split("_")[2]
        msg = self._messages.get(key)
        if msg is None:
            raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
        return msg

    def list_messages(self, to=None, from_=None) -> list[dict]:
        """Control API: messages delivered to / sent by a phone, oldest first."""
        to_digits = (to if is_group_id(to) else normalize_phone(to)) if to else None
        from_digits = normalize_phone(from_) if from_ else None
        with self._cond:
            result = []
            for mid in self._message_order:
                msg = self._messages[mid]
                if to_digits and to_digits != msg.to and to_digits not in msg.recipients:
                    continue
                if from_digits and from_digits != msg.sender:
                    continue
                result.append(self._control_view(msg))
            return result

    def _control_view(self, msg: Message) -> dict:
        sender_view = self._msg_view(msg, self._phones[msg.sender])
        return {
            "id": msg.id,
            "key": sender_view["key"]["_serialized"],  # as the sending session knows it
            "recipientKey": self._recipient_key(msg),  # as a receiving session knows it
            "from": msg.sender,
            "to": msg.to,
            "chatId": msg.to if is_group_id(msg.to) or msg.to.endswith("@newsletter")
            else msg.addressed or user_wid(msg.to),
            "type": msg.type,
            "text": msg.body,
            "caption": msg.caption,
            "filename": msg.filename,
            "mimetype": msg.mimetype,
            "size": msg.size,
            "lat": msg.lat,
            "lng": msg.lng,
            "loc": msg.loc,
            "quotedId": msg.quoted_id,
            "mentions": list(msg.mentions),
            "mentionedIds": list(msg.mention_ids),  # as the sender's client sent them
            "timestamp": msg.t,
            "ack": msg.ack,
            "recipients": list(msg.recipients),
            "revoked": msg.revoked,
            "editedAt": msg.edited_at,
            "forwarded": msg.forwarded,
            "pinnedUntil": self._pinned_until(msg),
            "vcards": [dict(v) for v in msg.vcards] or None,
            "poll": None if msg.type != "poll_creation" else {
                "name": msg.poll_name, "options": list(msg.poll_options),
                "selectableCount": msg.poll_selectable,
                "votes": {p: [msg.poll_options[i] for i in ids] for p, ids in msg.votes.items()}},
            "starredBy": sorted(p for p, a in self._phones.items() if msg.id in a.starred),
            "readBy": sorted(msg.read_by),
            "mediaExpired": msg.expired if msg.type in MEDIA_TYPES else None,
        }

    def _pinned_until(self, msg: Message) -> int | None:
        if msg.pinned_until is None or msg.pinned_until <= self._clock():
            return None
        return msg.pinned_until

    def _recipient_key(self, msg: Message) -> str:
        if is_group_id(msg.to):
            return f"false_{msg.to}_{msg.id}_{self._sender_id(msg, msg.sender)}"
        return f"false_{self._peer_id(msg.sender)}_{msg.id}"

    def _send_result(self, msg: Message, sender: Phone) -> dict:
        view = self._msg_view(msg, sender)
        return {"key": view["key"], "from": view["from"], "to": view["to"], "t": msg.t,
                "ack": msg.ack}

    def _msg_view(self, msg: Message, viewer: Phone) -> dict:
        """The message as the viewer's WhatsApp Web sees it (wa-js 4.6.0 shapes)."""
        from_me = msg.sender == viewer.phone
        sender = self._phones.get(msg.sender)
        if is_group_id(msg.to):
            remote = msg.to
            participant = f"{viewer.lid}@lid" if from_me else self._sender_id(msg, msg.sender)
            frm, to, author = (participant, remote, participant) if from_me else (
                remote, self._sender_id(msg, viewer.phone), participant)
        else:
            # in an @lid chat both sides appear as @lid (from = your @lid, wa-js 4.6.0)
            remote = self._chat_id_for(msg, viewer.phone)
            mine = f"{viewer.lid}@lid" if remote.endswith("@lid") else user_wid(viewer.phone)
            participant, author = None, None
            frm, to = (mine, remote) if from_me else (remote, mine)
        key = {"fromMe": from_me, "remote": remote, "id": msg.id, "participant": participant}
        key["_serialized"] = key_string(key)
        view = {
            "key": key,
            "from": frm,
            "to": to,
            "author": author,
            "type": "revoked" if msg.revoked else msg.type,
            "body": "" if msg.revoked else msg.body,
            "t": msg.t,
            "ack": msg.ack if from_me else 1,
            "notifyName": sender.name if sender else "",
            "self": "out" if from_me else "in",
            "mentionedJidList": list(msg.mention_ids),
            "isForwarded": msg.forwarded,
        }
        if msg.edited_at is not None and not msg.revoked:
            view["editedAt"] = msg.edited_at
        view["star"] = msg.id in viewer.starred
        if msg.type == "vcard" and msg.vcards and not msg.revoked:
            view["vcardFormattedName"] = msg.vcards[0]["displayName"]
        if msg.type == "multi_vcard" and not msg.revoked:
            view["vcardList"] = [dict(v) for v in msg.vcards]
        if msg.type == "poll_creation" and not msg.revoked:
            view["pollName"] = msg.poll_name
            view["pollOptions"] = [{"name": n, "localId": i} for i, n in enumerate(msg.poll_options)]
            view["pollSelectableOptionsCount"] = msg.poll_selectable
        if self._pinned_until(msg):
            view["pinnedUntil"] = msg.pinned_until
        for name in ("caption", "filename", "mimetype", "size", "lat", "lng", "loc"):
            value = getattr(msg, name)
            if value is not None and not msg.revoked:
                view[name] = value
        quoted = self._messages.get(msg.quoted_id) if msg.quoted_id else None
        if quoted is not None:
            quoted_view_key = self._msg_view(quoted, viewer)["key"]
            view["quotedKey"] = quoted_view_key
        if msg.type == "reaction" and quoted is not None:
            view["reactionParentKey"] = view.get("quotedKey")
        return view


def vcards_from_payload(kind: str, payload: dict) -> list[dict]:
    """[{displayName, vcard}] of a contact card message (one, or several for multi_vcard)."""
    if kind == "vcard":
        cards = [{"displayName": payload.get("vcardFormattedName"), "vcard": payload.get("body")}]
    else:
        cards = payload.get("vcardList") or []
    out = []
    for card in cards:
        text = str((card or {}).get("vcard") or "")
        if not text.startswith("BEGIN:VCARD") or "END:VCARD" not in text:
            raise SandboxError(400, "invalid_vcard", "A contact card must be a vCard")
        out.append({"displayName": str(card.get("displayName") or ""), "vcard": text})
    if not out:
        raise SandboxError(400, "invalid_vcard", "No contact card")
    return out


def decode_base64(text) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise SandboxError(400, "invalid_media", "media.data is not base64") from None


def media_file(media) -> tuple[str, bytes, str, str]:
    """(type, bytes, filename, mimetype) of a control-API `media` object; the type from the MIME."""
    if not isinstance(media, dict) or not media.get("data"):
        raise SandboxError(400, "invalid_media", "media needs data (base64), filename, mimetype")
    data = decode_base64(media["data"])
    mimetype = str(media.get("mimetype") or "application/octet-stream")
    if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", mimetype):
        raise SandboxError(400, "invalid_media", f"Not a MIME type: {mimetype!r}")
    major = mimetype.split("/")[0]
    kind = major if major in ("image", "video", "audio") else "document"
    return kind, data, str(media.get("filename") or "file"), mimetype
