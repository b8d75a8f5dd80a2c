"""Receipts a phone sends: delivered (two grey ticks) when its device has a message, read (blue
ticks) when its user opens the chat. Nothing is acknowledged by itself unless the network was
started with ack delays (Options.ack_delivered_delay / ack_read_delay, for benchmarks and demos):
a test makes its phone deliver or read, as a person would (docs/sandbox.md)."""

from __future__ import annotations

from .model import Message, Phone, SandboxError, is_group_id, normalize_phone


class ReceiptOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def deliver_to_phone(self, phone) -> dict:
        """Control API: the phone is online and has every message sent to it (ack 2)."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            done = [m.id for m in self._received(account, None) if self._deliver_receipt(m, digits)]
            self._cond.notify_all()
            return {"phone": digits, "delivered": done}

    def read_by_phone(self, phone, chat=None) -> dict:
        """Control API: the phone's user opens a chat (or every chat) and reads what is unread:
        a delivery receipt first where none was sent, then a read receipt per message."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            chat_id = self._chat_arg(account, chat) if chat else None
            if chat_id is not None and chat_id not in account.chats:
                raise SandboxError(404, "chat_not_found", f"{digits} has no chat {chat}")
            read = []
            for msg in self._received(account, chat_id):
                self._deliver_receipt(msg, digits)
                if self._read_receipt(msg, digits):
                    read.append(msg.id)
            for state in account.chats.values():
                if chat_id in (None, state.id):
                    state.unread = 0
            self._cond.notify_all()
            return {"phone": digits, "read": read}

    def _chat_arg(self, account: Phone, chat) -> str:
        """A chat as the control API names it: a group id, a phone, or an exact chat id."""
        text = str(chat).strip()
        if is_group_id(text) or text in account.chats:
            return text
        return self._peer_id(normalize_phone(text))

    def _received(self, account: Phone, chat_id: str | None) -> list[Message]:
        """Messages sent to this phone, oldest first (reactions carry no receipts)."""
        out = []
        for mid in self._message_order:
            msg = self._messages[mid]
            if account.phone not in msg.recipients or msg.revoked or msg.type == "reaction":
                continue
            if chat_id is None or self._chat_id_for(msg, account.phone) == chat_id:
                out.append(msg)
        return out

    def _deliver_receipt(self, msg: Message, by: str) -> bool:
        if is_group_id(msg.to):
            if by in msg.delivered_to or by in msg.read_by:
                return False
        elif msg.ack >= 2:
            return False
        return self._set_ack(msg.id, 2, by=by)

    def _read_receipt(self, msg: Message, by: str) -> bool:
        if is_group_id(msg.to):
            if by in msg.read_by:
                return False
        elif msg.ack >= 3:
            return False
        return self._set_ack(msg.id, 3, by=by)

    def _delivered_to_device(self, device, events: list[dict]) -> None:
        """A linked device took these events: its phone has their messages (ack 2), as
        WhatsApp's delivery receipt goes out when any device of the recipient gets one."""
        for event in events:
            if event.get("type") != "message":
                continue
            msg = self._messages.get(str(((event.get("msg") or {}).get("key") or {}).get("id")))
            if msg is not None and device.phone in msg.recipients and msg.type != "reaction":
                self._deliver_receipt(msg, device.phone)
