"""What one phone sees of others: contacts and chats."""

from __future__ import annotations

from .model import (
    ChatState,
    Group,
    Phone,
    is_group_id,
    user_wid,
)


class ContactOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def _contact_numbers(self, account: Phone) -> list[str]:
        numbers = {n for n in account.book if n in self._phones} | account.known
        numbers.add(account.phone)
        return sorted(numbers)

    def _contact_view(self, viewer: Phone, number: str) -> dict:
        peer = self._phones.get(number)
        name = viewer.book.get(number)
        if number == viewer.phone:
            name = None
        return {
            "id": user_wid(number),
            "name": name,
            "shortName": name.split()[0] if name else None,
            "pushname": peer.name if peer else None,
            "isBusiness": bool(peer and peer.business),
            "isMyContact": name is not None,
            "verifiedName": peer.name if peer and peer.business else None,
            "lid": peer.lid + "@lid" if peer else None,
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
            "isReadOnly": False,
        }
        if is_group_id(chat.id):
            group = self._groups.get(chat.id)
            view["name"] = group.subject if group else None
            view["groupMetadata"] = self._group_view(group) if group else None
            view["isReadOnly"] = not group or viewer.phone not in group.participants
        else:
            view["name"] = viewer.book.get(chat.id.split("@")[0])
        return view

    def _group_view(self, group: Group) -> dict:
        return {
            "id": group.id,
            "subject": group.subject,
            "owner": user_wid(group.owner),
            "creation": group.creation,
            "desc": group.desc,
            "announce": group.announce,
            "restrict": group.restrict,
            "participants": [
                {
                    "id": user_wid(p),
                    "isAdmin": role in ("admin", "superadmin"),
                    "isSuperAdmin": role == "superadmin",
                }
                for p, role in group.participants.items()
            ],
        }
