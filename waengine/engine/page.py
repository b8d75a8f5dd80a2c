"""The in-page API (bridge.js `ops`) as typed methods: the only Python code that names an op.

`Page(session)` is used from any thread (HTTP handlers, the paced sender): each method runs its
op on the session's worker thread, the one thread that drives the browser, and waits for it.
Page errors arrive as waengine errors (bridge.py translates them).
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class SendOp(str, Enum):
    """The ops a queued send runs; stored by value in the outgoing queue, so never renamed."""

    TEXT = "sendText"
    FILE = "sendFile"
    LOCATION = "sendLocation"
    POLL = "sendPoll"
    CONTACT = "sendContact"


class _Worker:
    """The session's own worker thread, holding its bridge: runs an op at once (queueing it to
    itself would wait forever)."""

    def __init__(self, bridge):
        self._bridge = bridge

    def submit(self, fn, need_connected: bool = True, checked: bool = False) -> Any:
        return fn(self._bridge)


class Page:
    """WhatsApp Web in a session's browser, one method per bridge.js op."""

    def __init__(self, session, need_connected: bool = True, checked: bool = False):
        """`checked`: the caller ran the session's readiness check for these calls already
        (the paced sender, once per attempt)."""
        self._session = session
        self._need_connected = need_connected
        self._checked = checked

    @classmethod
    def in_worker(cls, bridge) -> Page:
        """The page as seen from the session's worker thread (e.g. the catch-up after a
        (re)connect, engine/catchup.py), which runs ops on its bridge directly."""
        return cls(_Worker(bridge))

    def _run(self, op: str, **args) -> Any:
        return self._session.submit(lambda bridge: bridge.call(op, **args),
                                    need_connected=self._need_connected, checked=self._checked)

    # ---- account ----
    def logout(self) -> None:
        """Unlink this device (WhatsApp Web shows a new QR)."""
        self._run("logout")

    def pairing_code(self, phone: str) -> str:
        """The code to type on the phone (phone: digits with country code) instead of a QR."""
        return self._run("pairingCode", phone=phone)

    def takeover(self) -> None:
        """Use WhatsApp in this window again after it was opened in another (stream CONFLICT)."""
        self._run("takeover")

    # ---- messages ----
    def send(self, op: SendOp | str, args: dict, message_id: str | None = None) -> dict:
        """Run a queued send (the outgoing queue stores its op and args); return the message.

        message_id: the WhatsApp id pre-assigned by new_message_id(), so that an attempt whose
        outcome is unknown can be looked up (find_sent) instead of sent a second time."""
        if message_id:
            args = {**args, "messageId": message_id}
        return self._run(SendOp(op).value, **args)

    def new_message_id(self, to: str) -> str:
        """The id a send to `to` will carry, chosen before it is attempted."""
        return self._run("newMessageId", to=to)

    def chat_known(self, to: str) -> bool:
        """Whether the account already has a chat with messages with this person (a reply, not
        a reach-out: engine/reachout.py)."""
        return bool((self._run("chatKnown", to=to) or {}).get("known"))

    def find_sent(self, message_id: str) -> dict | None:
        """A send of ours by its pre-assigned id, or None when WhatsApp never got it."""
        return self._run("findSent", id=message_id)

    def catch_up(self, since: int, per_chat: int,
                 undecryptable_before: int | None = None) -> list[dict]:
        """Incoming messages of every chat active since `since` (WhatsApp time, seconds), the
        newest `per_chat` of each, oldest first; chat messages only (no status posts or
        notifications). Ciphertexts older than `undecryptable_before` come as
        {id, chatId, from, author, timestamp, undecryptable: true}."""
        return self._run("catchUp", since=since, perChat=per_chat,
                         undecryptableBefore=undecryptable_before)

    def reject_call(self, call_id: str) -> dict:
        """{id, rejected}: the incoming call stops ringing (call_not_found, or
        call_is_not_incoming_ring when it already stopped)."""
        return self._run("rejectCall", id=call_id)

    def typing(self, to: str, ms: int) -> None:
        """Show "typing…" in the chat for ms milliseconds (nothing when the chat does not exist)."""
        self._run("typing", to=to, ms=ms)

    def react(self, message_id: str, emoji: str) -> dict:
        """{messageId, emoji, result}; an empty emoji removes the reaction."""
        return self._run("react", id=message_id, emoji=emoji)

    def delete_message(self, message_id: str, for_everyone: bool) -> dict:
        """{id, revoked, deleted}; for everyone only for the account's own messages."""
        return self._run("deleteMessage", id=message_id, forEveryone=for_everyone)

    def edit_message(self, message_id: str, text: str) -> dict:
        """The edited message (own texts, within WhatsApp's edit window)."""
        return self._run("editMessage", id=message_id, text=text)

    def forward_message(self, message_id: str, to: str) -> dict:
        """{id, to, forwarded}: the message sent again to `to`, marked as forwarded."""
        return self._run("forwardMessage", id=message_id, to=to)

    def star_message(self, message_id: str, star: bool) -> dict:
        """{id, star}: starred for this account (its phone and other devices follow)."""
        return self._run("starMessage", id=message_id, star=star)

    def pin_message(self, message_id: str, pin: bool, duration: str) -> dict:
        """{id, pinned, duration}: pinned in its chat for everyone in it, or unpinned."""
        return self._run("pinMessage", id=message_id, pin=pin, duration=duration)

    def get_messages(self, chat_id: str, limit: int) -> list[dict]:
        """The chat's newest `limit` messages, oldest first."""
        return self._run("getMessages", chatId=chat_id, limit=limit)

    def mark_read(self, chat_id: str) -> dict:
        """{chatId, unreadCount} (the count before marking)."""
        return self._run("markRead", chatId=chat_id)

    # ---- media (chunked: see waengine/media.py) ----
    def media_open(self, message_id: str, max_bytes: int) -> dict:
        """Download a media message into the page: {handle, size, mimetype, filename, type}."""
        return self._run("mediaOpen", id=message_id, maxBytes=max_bytes)

    def media_read(self, handle: str, offset: int, length: int) -> str:
        """Base64 of bytes [offset, offset + length) of an opened download."""
        return self._run("mediaRead", handle=handle, offset=offset, length=length)

    def media_close(self, handle: str) -> None:
        self._run("mediaClose", handle=handle)

    # ---- lists ----
    def list_chats(self) -> list[dict]:
        return self._run("listChats")

    def list_contacts(self) -> list[dict]:
        return self._run("listContacts")

    def list_groups(self) -> list[dict]:
        return self._run("groups")

    # ---- contacts and groups ----
    def get_contact(self, contact_id: str) -> dict:
        """A contact, or a number on WhatsApp that is not in the contacts (404 otherwise)."""
        return self._run("getContact", id=contact_id)

    def query_exists(self, number_id: str) -> dict | None:
        """{id, lid, isBusiness} when the number is on WhatsApp, else None."""
        return self._run("queryExists", id=number_id)

    def create_group(self, name: str, participants: list[str]) -> dict:
        return self._run("createGroup", name=name, participants=participants)

    def change_participants(self, group_id: str, add: list[str], remove: list[str]) -> dict:
        return self._run("changeParticipants", groupId=group_id, add=add, remove=remove)

    # ---- chat state, presence, labels ----
    def chat_presence(self, chat_id: str, state: str) -> dict:
        """{chatId, state}: show typing/recording in the chat, or stop (paused)."""
        return self._run("chatPresence", chatId=chat_id, state=state)

    def set_available(self, available: bool) -> dict:
        """{available}: the account shows as online, or offline (last seen)."""
        return self._run("setAvailable", available=available)

    def archive_chat(self, chat_id: str, archive: bool) -> dict:
        """The chat (as list_chats has it), archived or unarchived."""
        return self._run("archiveChat", chatId=chat_id, archive=archive)

    def pin_chat(self, chat_id: str, pin: bool) -> dict:
        """The chat, pinned (at most 3: chat_pin_limit) or unpinned."""
        return self._run("pinChat", chatId=chat_id, pin=pin)

    def mute_chat(self, chat_id: str, mute: bool, duration: int | None = None,
                  until: int | None = None) -> dict:
        """The chat, muted for `duration` seconds or until `until` (unix seconds), or unmuted."""
        return self._run("muteChat", chatId=chat_id, mute=mute, duration=duration, until=until)

    def clear_chat(self, chat_id: str, keep_starred: bool) -> dict:
        """{chatId, cleared, keepStarred}: the chat's messages are gone, the chat stays."""
        return self._run("clearChat", chatId=chat_id, keepStarred=keep_starred)

    def delete_chat(self, chat_id: str) -> dict:
        """{chatId, deleted}: the chat and its messages are gone from the account."""
        return self._run("deleteChat", chatId=chat_id)

    def labels(self) -> list[dict]:
        """The account's labels (a business account; is_not_business otherwise)."""
        return self._run("labels")

    def add_label(self, name: str, color: int | None = None) -> dict:
        return self._run("addLabel", name=name, color=color)

    def change_chat_labels(self, chat_id: str, add: list[str], remove: list[str]) -> dict:
        """The chat with its labels after adding and removing these label ids."""
        return self._run("changeChatLabels", chatId=chat_id, add=add, remove=remove)
    # ---- blocklist, profiles, group administration ----
    def set_blocked(self, contact_id: str, block: bool) -> dict:
        """{id, blocked}: WhatsApp stops delivering a blocked contact's messages."""
        return self._run("blockContact", id=contact_id, block=block)

    def blocklist(self) -> list[str]:
        """The ids the account blocked."""
        return self._run("blocklist")

    def contact_picture(self, contact_id: str) -> dict:
        """{id, url}: url None when the contact shows no photo (404 when not on WhatsApp)."""
        return self._run("contactProfile", id=contact_id, what="picture")

    def contact_about(self, contact_id: str) -> dict:
        """{id, about}: the contact's About text, None when hidden or empty."""
        return self._run("contactProfile", id=contact_id, what="about")

    def my_profile(self) -> dict:
        """{id, name, about, pictureUrl} of the session's own account."""
        return self._run("myProfile")

    def set_my_profile(self, name: str | None = None, about: str | None = None,
                       picture: str | None = None) -> dict:
        """Change the account's name, About and/or photo (picture: a data: URL); the profile."""
        return self._run("setMyProfile", name=name, about=about, picture=picture)

    def update_group(self, group_id: str, subject: str | None = None,
                     description: str | None = None, announce: bool | None = None,
                     restrict: bool | None = None) -> dict:
        """Set what is given, in this order; the group as it is then."""
        return self._run("updateGroup", groupId=group_id, subject=subject,
                         description=description, announce=announce, restrict=restrict)

    def change_admins(self, group_id: str, promote: list[str], demote: list[str]) -> dict:
        return self._run("changeAdmins", groupId=group_id, promote=promote, demote=demote)

    def invite_link(self, group_id: str, revoke: bool = False) -> dict:
        """{groupId, code, link}; revoke makes a new code and the old link stops working."""
        return self._run("inviteLink", groupId=group_id, revoke=revoke)

    def join_group(self, code: str) -> dict:
        """{id, name, pendingApproval} of the group an invite code (or link) opens."""
        return self._run("joinGroup", code=code)

    def leave_group(self, group_id: str) -> dict:
        return self._run("leaveGroup", groupId=group_id)


    # ---- channels (bridge.js listChannels … sendChannel) ----
    def list_channels(self) -> list[dict]:
        return self._run("listChannels")

    def get_channel(self, channel_id: str) -> dict:
        return self._run("getChannel", id=channel_id)

    def create_channel(self, name: str, description: str | None = None,
                       picture: str | None = None) -> dict:
        """`picture`: a data: URL."""
        return self._run("createChannel", name=name, description=description, picture=picture)

    def edit_channel(self, channel_id: str, name: str | None = None,
                     description: str | None = None, picture: str | None = None) -> dict:
        return self._run("editChannel", id=channel_id, name=name, description=description,
                         picture=picture)

    def delete_channel(self, channel_id: str) -> dict:
        return self._run("deleteChannel", id=channel_id)

    def follow_channel(self, channel_id: str, follow: bool) -> dict:
        return self._run("followChannel", id=channel_id, follow=follow)

    def channel_followers(self, channel_id: str, limit: int) -> list[dict]:
        return self._run("channelFollowers", id=channel_id, limit=limit)

    def send_channel(self, post: str, args: dict) -> dict:
        """Post to an owned channel: `post` text|file|poll with the send ops' arguments."""
        return self._run("sendChannel", post=post, **args)

    # ---- status posts (bridge.js postStatus, myStatuses, deleteStatus) ----
    def post_status(self, post: str, **args) -> dict:
        """`post` text ({text, backgroundColor, font}) or image/video ({data, caption})."""
        return self._run("postStatus", post=post, **args)

    def my_statuses(self) -> list[dict]:
        return self._run("myStatuses")

    def delete_status(self, status_id: str) -> dict:
        return self._run("deleteStatus", id=status_id)

    # ---- communities (bridge.js listCommunities … deactivateCommunity) ----
    def list_communities(self) -> list[dict]:
        return self._run("listCommunities")

    def get_community(self, community_id: str) -> dict:
        return self._run("getCommunity", id=community_id)

    def create_community(self, name: str, description: str, groups: list[str]) -> dict:
        return self._run("createCommunity", name=name, description=description, groups=groups)

    def change_community_groups(self, community_id: str, add: list[str],
                                remove: list[str]) -> dict:
        return self._run("changeCommunityGroups", id=community_id, add=add, remove=remove)

    def community_announce(self, community_id: str, text: str) -> dict:
        return self._run("communityAnnounce", id=community_id, text=text)

    def change_community_admins(self, community_id: str, promote: list[str],
                                demote: list[str]) -> dict:
        return self._run("changeCommunityAdmins", id=community_id, promote=promote,
                         demote=demote)

    def deactivate_community(self, community_id: str) -> dict:
        return self._run("deactivateCommunity", id=community_id)


def pairing_code_text(code: str | None) -> str | None:
    """A pairing code as the phone shows it: ABCD-EFGH."""
    if not code:
        return None
    code = code.replace("-", "").upper()
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


def text_args(to: str, text: str, reply_to: str | None = None,
              mentions: list[str] | None = None) -> dict:
    """The stored arguments of a SendOp.TEXT."""
    return {"to": to, "text": text, "replyTo": reply_to, "mentions": list(mentions or ())}


def file_args(to: str, data_url: str, filename: str, mimetype: str, kind: str,
              caption: str | None = None) -> dict:
    """The stored arguments of a SendOp.FILE (data_url: the checked upload as a data: URL)."""
    return {"to": to, "data": data_url, "filename": filename, "mimetype": mimetype, "kind": kind,
            "caption": caption}


def location_args(to: str, latitude: float, longitude: float, name: str | None = None,
                  address: str | None = None) -> dict:
    """The stored arguments of a SendOp.LOCATION."""
    return {"to": to, "latitude": latitude, "longitude": longitude, "name": name,
            "address": address}


def poll_args(to: str, name: str, options: list[str], selectable_count: int = 0) -> dict:
    """The stored arguments of a SendOp.POLL (selectable_count 0: any number of options)."""
    return {"to": to, "name": name, "options": list(options), "selectableCount": selectable_count}


def contact_args(to: str, contacts: list[dict]) -> dict:
    """The stored arguments of a SendOp.CONTACT: contacts as [{id: …@c.us, name or None}]."""
    return {"to": to, "contacts": [{"id": c["id"], "name": c.get("name")} for c in contacts]}
