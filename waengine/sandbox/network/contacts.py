"""What one phone sees of others: contacts and chats."""

from __future__ import annotations

from .model import (
    ADDRESSING,
    ChatState,
    Group,
    Phone,
    SandboxError,
    is_group_id,
    normalize_phone,
    user_wid,
)


def check_addressing(value) -> str:
    if value not in ADDRESSING:
        raise SandboxError(400, "validation_error",
                           f"addressing must be one of {', '.join(ADDRESSING)}, not {value!r}")
    return value


class ContactOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def _contact_numbers(self, account: Phone) -> list[str]:
        numbers = {n for n in account.book if n in self._phones} | account.known
        numbers.add(account.phone)
        return sorted(numbers)

    def _peer_id(self, number: str) -> str:
        """The id other accounts use for this phone in 1:1 chats (its @lid after migration)."""
        peer = self._phones.get(number)
        if peer is not None and peer.addressing == "lid":
            return peer.lid + "@lid"
        return user_wid(number)

    def _member_id(self, group: Group | None, number: str) -> str:
        """A member as a group shows it: @lid in LID-addressed groups, else the phone id."""
        peer = self._phones.get(number)
        if group is not None and group.addressing == "lid" and peer is not None:
            return peer.lid + "@lid"
        return user_wid(number)

    def _sender_id(self, msg, number: str) -> str:
        """A party of a message (author, voter, reader) as the chat of that message shows it."""
        if is_group_id(msg.to):
            return self._member_id(self._groups.get(msg.to), number)
        return self._peer_id(number)

    def _person(self, value) -> str:
        """The phone digits of `…@c.us`, a phone number, or a known `…@lid`."""
        text = str(value or "").strip()
        if text.endswith("@lid"):
            for account in self._phones.values():
                if account.lid == text[:-4]:
                    return account.phone
            raise SandboxError(404, "lid_not_found", f"Unknown LID {value!r}")
        return normalize_phone(text)

    def _contact_view(self, viewer: Phone, number: str) -> dict:
        peer = self._phones.get(number)
        name = viewer.book.get(number)
        if number == viewer.phone:
            name = None
        if peer is not None and self._number_hidden(viewer, number):  # identities.py
            lid = peer.lid + "@lid"
            return {"id": lid, "name": None, "shortName": None, "pushname": peer.name,
                    "isBusiness": bool(peer.business), "isMyContact": False,
                    "verifiedName": None, "lid": lid, "lidAddressed": False}
        return {
            "id": user_wid(number),
            "name": name,
            "shortName": name.split()[0] if name else None,
            "pushname": peer.name if peer else None,
            "isBusiness": bool(peer and peer.business),
            "isMyContact": name is not None,
            "verifiedName": peer.name if peer and peer.business else None,
            "lid": peer.lid + "@lid" if peer else None,
            # WhatsApp keeps a second contact under the @lid of a LID-addressed account
            "lidAddressed": bool(peer and peer.addressing == "lid" and number != viewer.phone),
        }

    def _chat(self, account: Phone, chat_id: str) -> ChatState:
        chat = account.chats.get(chat_id)
        if chat is None:
            chat = account.chats[chat_id] = ChatState(chat_id, t=int(self._clock()))
        return chat

    def _chat_view(self, viewer: Phone, chat: ChatState) -> dict:
        view = {
            "id": chat.id,
            "t": chat.t,
            "unreadCount": chat.unread,
            "archive": chat.archive,
            "pin": chat.pin,
            "muteExpiration": chat.mute,
            "labels": list(chat.labels),
            "isReadOnly": False,
        }
        if is_group_id(chat.id):
            group = self._groups.get(chat.id)
            view["name"] = group.subject if group else None
            view["groupMetadata"] = self._group_view(group) if group else None
            view["isReadOnly"] = not group or viewer.phone not in group.participants
        else:
            peer = self._person(chat.id) if chat.id.endswith("@lid") else chat.id.split("@")[0]
            view["name"] = viewer.book.get(peer)
        return view

    def _group_view(self, group: Group) -> dict:
        return {
            "id": group.id,
            "subject": group.subject,
            "owner": self._member_id(group, group.owner),
            "creation": group.creation,
            "desc": group.desc,
            "isLidAddressingMode": group.addressing == "lid",
            "announce": group.announce,
            "restrict": group.restrict,
            "participants": [
                {
                    "id": self._member_id(group, p),
                    "isAdmin": role in ("admin", "superadmin"),
                    "isSuperAdmin": role == "superadmin",
                }
                for p, role in group.participants.items()
            ],
        }
