"""Channels (WhatsApp's newsletters): one-to-many posts from an owner and its admins.

WhatsApp's rules, enforced here whatever the page checked first: only the owner and the
channel's admins post, edit and list followers; only the owner deletes; posts are text,
image, video or a poll; followers see the channel, never who posted (no sender contact).
A channel's chat id is `<digits>@newsletter` for everyone.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

from .messages import media_file
from .model import (
    Message,
    Phone,
    SandboxError,
    key_string,
    new_message_id,
    normalize_phone,
    user_wid,
)

CHANNEL_SERVER = "newsletter"
CHANNEL_NAME_MAX = 100  # WhatsApp's limit on a channel's name
CHANNEL_DESCRIPTION_MAX = 2048
CHANNEL_POST_TYPES = ("chat", "image", "video", "poll_creation")  # wa-js sendRawMessage's list


def is_channel_id(value) -> bool:
    return str(value).endswith("@" + CHANNEL_SERVER)


@dataclass
class Channel:
    id: str
    name: str
    owner: str
    creation: int
    description: str = ""
    invite_code: str = ""
    picture: bytes | None = None
    admins: set = field(default_factory=set)  # phones besides the owner
    followers: dict = field(default_factory=dict)  # phone -> when it followed
    posts: list = field(default_factory=list)  # message ids, oldest first
    views: dict = field(default_factory=dict)  # message id -> phones that saw it
    reactions: dict = field(default_factory=dict)  # message id -> {phone: emoji}

    def role(self, phone: str) -> str:
        """WhatsApp's membership type (NewsletterMembershipType) of a phone."""
        if phone == self.owner:
            return "owner"
        if phone in self.admins:
            return "admin"
        return "subscriber" if phone in self.followers else "guest"


class ChannelOps:
    """Part of Network (core.py), which holds the state and the one lock. Listed first, so
    its _chat_view, _msg_view, _chat_id_for, _recipients and _message_event see channel
    chats and posts before ContactOps, NoticeOps and MessageOps do."""

    # ----------------------------------------------------------------- channels

    def create_channel(self, owner, name, description=None, picture=None) -> dict:
        digits = normalize_phone(owner)
        title = _name(name)
        with self._cond:
            self._ensure_phone(digits)
            cid = self._new_channel_id()
            channel = Channel(cid, title, digits, int(self._clock()),
                              description=_description(description),
                              invite_code=secrets.token_urlsafe(16)[:22],
                              picture=_picture(picture))
            self._channels[cid] = channel
            self._chat(self._phones[digits], cid).t = channel.creation
            self._push_channel_chat(digits, channel)
            self._cond.notify_all()
            return self._channel_view(channel, digits)

    def _new_channel_id(self) -> str:
        while True:
            cid = f"120363{secrets.randbelow(10**12):012d}@{CHANNEL_SERVER}"
            if cid not in self._channels:
                return cid

    def _require_channel(self, cid) -> Channel:
        channel = self._channels.get(str(cid))
        if channel is None:
            raise SandboxError(404, "newsletter_not_found", f"No channel {cid}")
        return channel

    def _require_channel_admin(self, channel: Channel, phone: str) -> None:
        if channel.role(phone) not in ("owner", "admin"):
            raise SandboxError(403, "not_newsletter_admin",
                               f"Only the owner and admins of {channel.id} may do this")

    def get_channel(self, cid, viewer=None) -> dict:
        with self._cond:
            channel = self._require_channel(cid)
            return self._channel_view(channel, normalize_phone(viewer) if viewer else None)

    def edit_channel(self, cid, by, name=None, description=None, picture=None) -> dict:
        digits = normalize_phone(by)
        with self._cond:
            channel = self._require_channel(cid)
            self._require_channel_admin(channel, digits)
            if name is not None:
                channel.name = _name(name)
            if description is not None:
                channel.description = _description(description)
            if picture is not None:
                channel.picture = _picture(picture) if picture else None
            for phone in self._channel_audience(channel):
                self._push_channel_chat(phone, channel)
            self._cond.notify_all()
            return self._channel_view(channel, digits)

    def delete_channel(self, cid, by) -> dict:
        digits = normalize_phone(by)
        with self._cond:
            channel = self._require_channel(cid)
            if channel.role(digits) != "owner":
                raise SandboxError(403, "not_newsletter_owner",
                                   f"Only the owner of {channel.id} may delete it")
            audience = self._channel_audience(channel)
            del self._channels[channel.id]
            for phone in audience:
                self._drop_channel_chat(phone, channel.id)
            self._cond.notify_all()
            return {"id": channel.id, "deleted": True}

    def follow_channel(self, cid, by, follow: bool = True) -> dict:
        """Follow (or unfollow) a channel; the owner and admins stay (WhatsApp answers as if
        done: wa-js's unfollow turns its 400 into true)."""
        digits = normalize_phone(by)
        with self._cond:
            self._require_phone(digits)
            channel = self._require_channel(cid)
            role = channel.role(digits)
            if follow and role == "guest":
                channel.followers[digits] = int(self._clock())
                self._chat(self._phones[digits], channel.id).t = int(self._clock())
                self._push_channel_chat(digits, channel)
            elif not follow and role == "subscriber":
                del channel.followers[digits]
                self._drop_channel_chat(digits, channel.id)
            self._cond.notify_all()
            return self._channel_view(channel, digits)

    def set_channel_admin(self, cid, phone, admin: bool) -> dict:
        """Control API: the owner makes a follower an admin (or no longer one)."""
        digits = normalize_phone(phone)
        with self._cond:
            channel = self._require_channel(cid)
            self._require_phone(digits)
            if digits == channel.owner:
                raise SandboxError(409, "newsletter_owner", "The owner is always an admin")
            if admin:
                channel.admins.add(digits)
                channel.followers.pop(digits, None)
                self._chat(self._phones[digits], channel.id)
            else:
                channel.admins.discard(digits)
                channel.followers[digits] = int(self._clock())
            self._push_channel_chat(digits, channel)
            self._cond.notify_all()
            return self._channel_view(channel, digits)

    def channel_followers(self, cid, by) -> list[dict]:
        digits = normalize_phone(by)
        with self._cond:
            channel = self._require_channel(cid)
            self._require_channel_admin(channel, digits)
            people = [(channel.owner, "owner", channel.creation),
                      *((p, "admin", channel.creation) for p in sorted(channel.admins)),
                      *((p, "subscriber", t) for p, t in channel.followers.items())]
            return [{"id": user_wid(p), "role": role, "followTime": t,
                     "displayName": self._phones[p].name} for p, role, t in people]

    def channel_chat(self, cid, phone) -> dict | None:
        """The channel's chat as the phone's WhatsApp Web lists it (None: not followed)."""
        with self._cond:
            account = self._require_phone(normalize_phone(phone))
            chat = account.chats.get(str(cid))
            return self._chat_view(account, chat) if chat is not None else None

    def channels_of(self, phone) -> list[dict]:
        digits = normalize_phone(phone)
        with self._cond:
            return [self._channel_view(c, digits) for c in self._channels.values()
                    if c.role(digits) != "guest"]

    # ----------------------------------------------------------------- posts

    def post_to_channel(self, cid, by, text=None, media=None, caption=None, poll=None) -> dict:
        """Control API: the owner (or an admin) posts from its phone; followers receive it."""
        digits = normalize_phone(by)
        with self._cond:
            channel = self._require_channel(cid)
            self._require_channel_admin(channel, digits)
            msg = Message(id=new_message_id("3A"), sender=digits, to=channel.id, type="chat",
                          t=int(self._clock()), body=str(text or ""))
            if media is not None:
                msg.type, msg.data, msg.filename, msg.mimetype = media_file(media)
                msg.size, msg.body, msg.caption = len(msg.data), "", str(caption or text or "") or None
            elif poll is not None:
                msg.type = "poll_creation"
                self._poll_from_payload(msg, {"pollName": (poll or {}).get("name"),
                                              "pollOptions": (poll or {}).get("options"),
                                              "pollSelectableOptionsCount":
                                                  (poll or {}).get("selectableCount")})
            elif not msg.body.strip():
                raise SandboxError(400, "validation_error", "Give 'text', 'media' or 'poll'")
            self._check_channel_post(channel.id, digits, msg.type)
            self._deliver(msg)
            return self._control_view(msg)

    def _check_channel_post(self, cid: str, sender: str, kind: str) -> None:
        channel = self._require_channel(cid)
        self._require_channel_admin(channel, sender)
        if kind not in CHANNEL_POST_TYPES:
            raise SandboxError(400, "type_not_valid_for_newsletter",
                               f"Channels take {', '.join(CHANNEL_POST_TYPES)}, not {kind}")

    def view_channel_post(self, msg_id, by, emoji=None) -> dict:
        """Control API: a follower sees a post (a view) and, with `emoji`, reacts ('' takes
        the reaction back). Channels count views and reactions; they never say who."""
        digits = normalize_phone(by)
        with self._cond:
            msg = self._require_message(msg_id)
            channel = self._channels.get(msg.to)
            if channel is None or channel.role(digits) == "guest":
                raise SandboxError(404, "msg_not_found", f"{digits} cannot see {msg_id}")
            channel.views.setdefault(msg.id, set()).add(digits)
            if emoji is not None:
                reactions = channel.reactions.setdefault(msg.id, {})
                if emoji:
                    reactions[digits] = str(emoji)
                else:
                    reactions.pop(digits, None)
            return self._post_counts(channel, msg.id)

    @staticmethod
    def _post_counts(channel: Channel, msg_id: str) -> dict:
        counts: dict[str, int] = {}
        for emoji in channel.reactions.get(msg_id, {}).values():
            counts[emoji] = counts.get(emoji, 0) + 1
        return {"id": msg_id, "views": len(channel.views.get(msg_id, ())), "reactions": counts}

    # ----------------------------------------------------------------- views and hooks

    def _channel_audience(self, channel: Channel) -> list[str]:
        return [channel.owner, *sorted(channel.admins), *channel.followers]

    def _channel_view(self, channel: Channel, viewer: str | None) -> dict:
        return {
            "id": channel.id,
            "name": channel.name,
            "description": channel.description or None,
            "inviteCode": channel.invite_code,
            "creationTime": channel.creation,
            "subscribersCount": len(channel.followers) + len(channel.admins) + 1,
            "membershipType": channel.role(viewer) if viewer else None,
            "hasPicture": channel.picture is not None,
        }

    def _push_channel_chat(self, phone: str, channel: Channel) -> None:
        self._push_phone(phone, "chat", lambda a: {
            "chat": self._chat_view(a, self._chat(a, channel.id))})

    def _drop_channel_chat(self, phone: str, cid: str) -> None:
        account = self._phones.get(phone)
        if account is not None:
            account.chats.pop(cid, None)
        self._push_phone(phone, "chat_gone", lambda a: {"id": cid})

    def _chat_view(self, viewer: Phone, chat) -> dict:
        if not is_channel_id(chat.id):
            return super()._chat_view(viewer, chat)
        channel = self._channels.get(chat.id)
        view = {"id": chat.id, "t": chat.t, "unreadCount": chat.unread, "archive": False,
                "pin": 0, "muteExpiration": chat.mute, "labels": [],
                "name": channel.name if channel else None,
                "isReadOnly": not channel or channel.role(viewer.phone) not in ("owner", "admin")}
        if channel is not None:
            view["newsletterMetadata"] = self._channel_view(channel, viewer.phone)
        return view

    def _chat_id_for(self, msg: Message, viewer: str) -> str:
        if is_channel_id(msg.to):
            return msg.to
        return super()._chat_id_for(msg, viewer)

    def _recipients(self, msg: Message) -> list[str]:
        if not is_channel_id(msg.to):
            return super()._recipients(msg)
        channel = self._channels.get(msg.to)
        if channel is not None and msg.id not in channel.posts:
            channel.posts.append(msg.id)
        return [p for p in self._channel_audience(channel) if p != msg.sender] if channel else []

    def _message_event(self, msg: Message, viewer: Phone) -> dict:
        if not is_channel_id(msg.to):
            return super()._message_event(msg, viewer)
        data = {"msg": self._msg_view(msg, viewer)}  # a channel never shows who posted
        chat = viewer.chats.get(msg.to)
        if chat is not None:
            data["chat"] = self._chat_view(viewer, chat)
        return data

    def _recipient_key(self, msg: Message) -> str:
        if is_channel_id(msg.to):
            return f"false_{msg.to}_{msg.id}"
        return super()._recipient_key(msg)

    def _msg_view(self, msg: Message, viewer: Phone) -> dict:
        view = super()._msg_view(msg, viewer)
        if not is_channel_id(msg.to):
            return view
        from_me = msg.sender == viewer.phone
        key = {"fromMe": from_me, "remote": msg.to, "id": msg.id, "participant": None}
        key["_serialized"] = key_string(key)
        mine = user_wid(viewer.phone)
        channel = self._channels.get(msg.to)
        view.update(key=key, author=None, notifyName=channel.name if channel else "",
                    **{"from": mine if from_me else msg.to, "to": msg.to if from_me else mine})
        return view


def _name(value) -> str:
    text = str(value or "").strip()
    if not text:
        raise SandboxError(400, "invalid_name", "A channel needs a name")
    if len(text) > CHANNEL_NAME_MAX:
        raise SandboxError(400, "invalid_name", f"A channel's name is at most {CHANNEL_NAME_MAX} characters")
    return text


def _description(value) -> str:
    text = str(value or "")
    if len(text) > CHANNEL_DESCRIPTION_MAX:
        raise SandboxError(400, "invalid_description",
                           f"A channel's description is at most {CHANNEL_DESCRIPTION_MAX} characters")
    return text


def _picture(value) -> bytes | None:
    """A picture as base64 or a data: URL (what wa-js hands WhatsApp), or nothing."""
    if not value:
        return None
    text = str(value)
    text = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    if not re.fullmatch(r"[A-Za-z0-9+/\s]+={0,2}\s*", text):
        raise SandboxError(400, "invalid_picture", "The picture must be base64 or a data: URL")
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError) as err:
        raise SandboxError(400, "invalid_picture", "The picture is not valid base64") from err
