"""What WhatsApp Web receives through `chat.new_message` that is not a chat message.

Status posts (`status@broadcast`), group notifications (`gp2`), security-code changes
(`e2e_notification`), and messages that arrive as `ciphertext` and decrypt later or never.
Real wa-js 4.6.0 emits all of them as `chat.new_message` (it listens to MsgStore "add" and
re-emits a `ciphertext` model on its "change:type"), so the sandbox does too.
"""

from __future__ import annotations

from .model import (
    Message,
    Phone,
    SandboxError,
    key_string,
    new_message_id,
    normalize_phone,
    user_wid,
)

STATUS_CHAT = "status@broadcast"
NOTICE_TYPES = ("gp2", "e2e_notification", "call_log")


class NoticeOps:
    """Part of Network (core.py), which holds the state and the one lock. Listed before
    MessageOps, so its _msg_view and _chat_id_for see these messages first."""

    # ----------------------------------------------------------------- status posts

    def post_status(self, poster, text) -> dict:
        """Control API: a phone posts a text status; its contacts' devices receive it."""
        digits = normalize_phone(poster)
        body = str(text or "").strip()
        if not body:
            raise SandboxError(400, "validation_error", "'text' (the status) is required")
        with self._cond:
            self._require_phone(digits)
            msg = Message(id=new_message_id("3A"), sender=digits, to=STATUS_CHAT, type="chat",
                          t=int(self._clock()), body=body)
            # WhatsApp shows a status to the poster's contacts who saved the poster too.
            poster_book = self._phones[digits].book
            msg.recipients = sorted(p for p, account in self._phones.items()
                                    if p != digits and digits in account.book and p in poster_book)
            self._store_notice(msg, [digits, *msg.recipients], unread=False)
            return {"id": msg.id, "from": digits, "recipients": list(msg.recipients),
                    "timestamp": msg.t}

    # ----------------------------------------------------------------- group notifications

    def _group_notice(self, group, audience, action: str, phones, actor: str) -> None:
        """The gp2 message WhatsApp puts in a group's chat when members are added/removed."""
        msg = Message(id=new_message_id("3A"), sender=actor, to=group.id, type="gp2",
                      t=int(self._clock()), subtype=action)
        msg.notice_recipients = list(phones)
        msg.recipients = sorted(p for p in audience if p != actor)
        self._store_notice(msg, sorted({actor, *audience}), unread=False)

    # ----------------------------------------------------------------- security codes

    def change_security_code(self, phone) -> dict:
        """Control API: the phone reinstalls WhatsApp; everyone with a chat with it sees an
        e2e_notification (subtype "identity") in that chat."""
        digits = normalize_phone(phone)
        with self._cond:
            self._require_phone(digits)
            peers = sorted(p for p, account in self._phones.items()
                           if p != digits and user_wid(digits) in account.chats)
            ids = []
            for peer in peers:
                msg = Message(id=new_message_id("3A"), sender=digits, to=peer,
                              type="e2e_notification", t=int(self._clock()), subtype="identity")
                msg.recipients = [peer]
                self._store_notice(msg, [peer], unread=False)
                ids.append(msg.id)
            return {"phone": digits, "notified": peers, "ids": ids}

    # ----------------------------------------------------------------- ciphertext

    def send_ciphertext(self, sender, to, text, decrypt_after: float | None) -> dict:
        """Control API: a text its recipients' devices cannot decrypt yet: they see type
        "ciphertext" until `decrypt_after` seconds have passed, or forever (None)."""
        result = self.send_from_phone(sender, to, text, ciphertext=True)
        if decrypt_after is not None:
            self._later(max(0.0, float(decrypt_after)), lambda: self._decrypt(result["id"]))
        return result

    def _decrypt(self, msg_id: str) -> None:
        msg = self._messages.get(msg_id)
        if msg is None or not msg.ciphertext:
            return
        msg.ciphertext = False
        for phone in msg.recipients:
            self._push_phone(phone, "decrypt", lambda a: {"msg": self._msg_view(msg, a)})

    # ----------------------------------------------------------------- shared

    def list_messages(self, to=None, from_=None) -> list[dict]:
        """Control API: what people sent; notifications and status posts are not listed."""
        return [m for m in super().list_messages(to, from_)
                if m["type"] not in NOTICE_TYPES and m["to"] != STATUS_CHAT]

    def _store_notice(self, msg: Message, viewers, unread: bool) -> None:
        """Keep the message in each viewer's chat (history shows it) and push it as WhatsApp
        Web receives it; notifications get no receipts."""
        self._messages[msg.id] = msg
        self._message_order.append(msg.id)
        for phone in viewers:
            account = self._phones[phone]
            chat = self._chat(account, self._chat_id_for(msg, phone))
            chat.msg_ids.append(msg.id)
            chat.t = msg.t
            if unread and phone != msg.sender:
                chat.unread += 1
            self._push_phone(phone, "message", lambda a: self._message_event(msg, a))
        self._cond.notify_all()

    def _chat_id_for(self, msg: Message, viewer: str) -> str:
        if msg.to == STATUS_CHAT:
            return STATUS_CHAT
        return super()._chat_id_for(msg, viewer)

    def _msg_view(self, msg: Message, viewer: Phone) -> dict:
        """The view MessageOps builds, with these kinds' own fields (wa-js 4.6.0 MsgModel)."""
        if msg.to == STATUS_CHAT:
            return self._status_view(msg, viewer)
        view = super()._msg_view(msg, viewer)
        if msg.subtype:
            view["subtype"] = msg.subtype
        if msg.type == "gp2":
            view["recipients"] = [user_wid(p) for p in msg.notice_recipients]
        if msg.ciphertext and msg.sender != viewer.phone:
            view.update(type="ciphertext", body="")
            for name in ("caption", "filename", "mimetype", "size", "lat", "lng", "loc"):
                view.pop(name, None)
        return view

    def _status_view(self, msg: Message, viewer: Phone) -> dict:
        # A status is in the viewer's "status@broadcast" chat, its author the poster.
        from_me = msg.sender == viewer.phone
        key = {"fromMe": from_me, "remote": STATUS_CHAT, "id": msg.id,
               "participant": user_wid(msg.sender)}
        key["_serialized"] = key_string(key)
        poster = self._phones.get(msg.sender)
        view = {"key": key, "from": STATUS_CHAT, "to": user_wid(viewer.phone),
                "author": user_wid(msg.sender), "type": "revoked" if msg.revoked else msg.type,
                "body": "" if msg.revoked else msg.body, "t": msg.t,
                "ack": 1, "notifyName": poster.name if poster else "",
                "self": "out" if from_me else "in", "mentionedJidList": [],
                "isForwarded": False, "star": False}
        if msg.font is not None:  # a text status (statuses.py): its look
            view["font"], view["backgroundColor"] = msg.font, msg.background
        for name in ("caption", "filename", "mimetype", "size"):
            if getattr(msg, name) is not None and not msg.revoked:
                view[name] = getattr(msg, name)
        return view
