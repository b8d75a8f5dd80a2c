"""The sandbox network's vocabulary: limits, options, ids, and the state it keeps."""

from __future__ import annotations

import base64
import random
import re
import secrets
from collections import deque
from dataclasses import dataclass, field

POLL_TIMEOUT_MAX = 30.0
PAIRING_STALE_AFTER = 90.0  # a QR page that has not polled this long is gone
HISTORY_DELAY_MAX = 60.0  # bound of the history_delay option (seconds)
DEVICE_QUEUE_MAX = 20000  # bound for a device whose page never comes back
EVENTS_PER_POLL = 500
TOMBSTONES_MAX = 1000
# WhatsApp's pin durations (wa-js PinExpiryDurationOption), in seconds
PIN_SECONDS = {"FiveSeconds": 5, "FifteenSeconds": 15, "OneMinute": 60, "OneDay": 86400,
               "SevenDays": 7 * 86400, "ThirtyDays": 30 * 86400}
EDIT_WINDOW = 15 * 60  # WhatsApp lets the sender edit a text for 15 minutes
GROUP_SERVER = "g.us"
MEDIA_TYPES = ("image", "video", "audio", "ptt", "sticker", "document")
MESSAGE_TYPES = ("chat", "location", "reaction", "vcard", "multi_vcard", "poll_creation") \
    + MEDIA_TYPES
POLL_OPTIONS_MAX = 12  # WhatsApp's limit on a poll's options


class SandboxError(Exception):
    """An error with an HTTP status and a stable code, turned into JSON by the app."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Options:
    qr_first_ttl: float = 60.0
    qr_ttl: float = 20.0
    qr_max: int = 6
    link_code_ttl: float = 180.0  # seconds a pairing code is valid (WhatsApp then asks a new one)
    # Receipts come when a phone receives or reads (control API: POST /_sandbox/phones/{phone}
    # /deliver, /read); a delay >= 0 makes every recipient ack by itself (bench/, demos).
    ack_delivered_delay: float = -1.0
    ack_read_delay: float = -1.0
    # Seconds a page waits for a chat's messages (GET /history): WhatsApp Web loads them when
    # a chat is opened, not with the chat list.
    history_delay: float = 0.3
    reload_after_scan: bool = True
    seed_contacts: int = 0
    seed_groups: int = 0
    seed: int = 1
    # What the page costs a browser: light (tests) or field (as WhatsApp Web; weight.py)
    page_weight: str = "light"


OPTION_NAMES = tuple(Options.__dataclass_fields__)




def normalize_phone(value) -> str:
    """Return the digits of a phone number written in any common spelling."""
    text = str(value or "").strip()
    text = re.sub(r"@(c\.us|s\.whatsapp\.net)$", "", text)
    if not re.fullmatch(r"[\d\s+().-]+", text or "x"):
        raise SandboxError(400, "invalid_phone", f"Not a phone number: {value!r}")
    digits = re.sub(r"\D", "", text)
    if not 5 <= len(digits) <= 20:
        raise SandboxError(400, "invalid_phone", f"Not a phone number: {value!r}")
    return digits


def user_wid(phone: str) -> str:
    return f"{phone}@c.us"


def is_group_id(value: str) -> bool:
    return str(value).endswith("@" + GROUP_SERVER)


def new_message_id(prefix: str = "3EB0") -> str:
    """Return a 20-hex-char uppercase message id like WhatsApp Web's."""
    return (prefix + secrets.token_hex(10)).upper()[:20]


def b64_token(nbytes: int) -> str:
    return base64.b64encode(secrets.token_bytes(nbytes)).decode()


ADDRESSING = ("pn", "lid")


def lid_for(phone: str) -> str:
    # Deterministic, 15 digits, never equal to a phone number of the network in practice.
    rng = random.Random("lid:" + phone)
    return str(rng.randrange(10**14, 10**15))




@dataclass
class ChatState:
    id: str  # the chat as this phone sees it: "<peer>@c.us" or "<gid>@g.us"
    t: int = 0
    unread: int = 0
    archive: bool = False
    pin: int = 0
    msg_ids: list = field(default_factory=list)
    mute: int = 0  # muted until (unix seconds); 0 not muted (network/chatstate.py)
    labels: list = field(default_factory=list)  # label ids (business accounts)


@dataclass
class Phone:
    phone: str
    name: str
    lid: str
    business: bool = False
    addressing: str = "pn"  # "lid": other accounts see this one as <lid>@lid (LID migration)
    book: dict = field(default_factory=dict)  # saved contacts: phone -> name
    known: set = field(default_factory=set)  # known, not saved (isMyContact false)
    chats: dict = field(default_factory=dict)  # chat id -> ChatState
    devices: list = field(default_factory=list)  # linked device ids
    seeded: bool = False
    starred: set = field(default_factory=set)  # message ids this account starred
    about: str | None = None  # the "About" text others read (WPP.contact.getStatus)
    picture: bytes | None = None  # the profile photo (JPEG/PNG), served to others by URL
    picture_version: int = 0  # changes with each new photo: a new URL, as on WhatsApp's CDN
    blocked: set = field(default_factory=set)  # phones this account blocked
    wa_update: dict | None = None  # the WhatsApp Web build its pages load next (updates.py)


@dataclass
class Group:
    id: str
    subject: str
    owner: str
    creation: int
    participants: dict  # phone -> "superadmin" | "admin" | "member"
    desc: str = ""
    addressing: str = "pn"  # "lid": members and authors appear as @lid (isLidAddressingMode)
    announce: bool = False  # only admins may send
    restrict: bool = False  # only admins may edit the subject, description and settings
    invite_code: str | None = None  # the current invite link's code (made on first ask)
    # communities.py: "group", or the community's COMMUNITY / LINKED_ANNOUNCEMENT_GROUP /
    # LINKED_SUBGROUP; a community's announcement group and linked groups
    kind: str = "group"
    parent: str | None = None
    announcement: str | None = None
    subgroups: list = field(default_factory=list)


@dataclass
class Message:
    id: str
    sender: str
    to: str  # phone digits or group id
    type: str
    t: int
    body: str = ""
    caption: str | None = None
    filename: str | None = None
    mimetype: str | None = None
    size: int | None = None
    lat: float | None = None
    lng: float | None = None
    loc: str | None = None
    quoted_id: str | None = None
    mentions: list = field(default_factory=list)  # phones
    mention_ids: list = field(default_factory=list)  # the mentioned ids exactly as sent
    addressed: str | None = None  # 1:1: the chat id the sender used ("…@c.us" or "…@lid")
    recipients: list = field(default_factory=list)  # phones that received it
    ack: int = 1
    origin_device: str | None = None
    revoked: bool = False
    read_by: set = field(default_factory=set)
    delivered_to: set = field(default_factory=set)  # group members whose devices have it
    data: bytes | None = None  # a media message's file, as the media server keeps it
    expired: bool = False  # the media server no longer has the file (POST …/expire)
    edited_at: int | None = None  # when the sender last edited the text
    vcards: list = field(default_factory=list)  # contact cards: [{displayName, vcard}]
    poll_name: str | None = None
    poll_options: list = field(default_factory=list)  # option names; localId = index
    poll_selectable: int = 0  # how many options a voter may pick; 0 = any number
    votes: dict = field(default_factory=dict)  # voter phone -> [localId]
    pinned_until: int | None = None  # pinned in its chat (for both parties) until then
    forwarded: bool = False
    subtype: str | None = None  # notifications: gp2 "add"/"remove", e2e "identity", call_log "miss"
    ciphertext: bool = False  # recipients still see type "ciphertext" (not decrypted yet)
    notice_recipients: list = field(default_factory=list)  # gp2: the phones added/removed
    font: int | None = None  # a text status's font (wa-js TextFontStyle 0..5)
    background: int | None = None  # a text status's background colour, ARGB (0xFF0275D8)
    viewed: dict = field(default_factory=dict)  # a status: viewer phone -> when it was seen


@dataclass
class Device:
    id: str
    phone: str
    token: str
    name: str
    linked_at: float
    events: deque = field(default_factory=deque)  # (seq, event) not yet acknowledged
    next_seq: int = 1
    client: str | None = None  # the page currently holding this login
    mode: str = "MAIN"  # its stream mode (streams.py)
    info: str = "NORMAL"
    silent: bool = False  # the socket looks open but nothing flows (streams.py set_silent)
    needs_update: bool = False  # WhatsApp's Stream.needsUpdate: a newer client is out
    # keystate.py: the last key index queued for it, the highest one a page acknowledged,
    # whether a page came back on an older copy of the profile, the senders that set up a
    # fresh session since (a retry receipt answered), and what it could not decrypt yet
    keys: int = 0
    acked_keys: int = 0
    stale: bool = False
    rekeyed: set = field(default_factory=set)
    undecrypted: dict = field(default_factory=dict)  # message id -> sender phone
    key_ids: dict = field(default_factory=dict)  # message id -> its key index (newest kept)
    lost: set = field(default_factory=set)  # acknowledged after the profile copy was taken


@dataclass
class AuthRef:
    ref: str
    static_key: str
    identity_key: str
    secret_key: str
    expires_at: float

    def auth_code(self) -> dict:
        parts = [self.ref, self.static_key, self.identity_key, self.secret_key]
        return {
            "type": "multidevice",
            "ref": self.ref,
            "staticKeyPair": self.static_key,
            "identityKeyPair": self.identity_key,
            "secretKey": self.secret_key,
            "fullCode": ",".join(parts),
        }


@dataclass
class Pairing:
    id: str
    device_name: str
    last_seen: float
    refs: list = field(default_factory=list)  # AuthRef, oldest first
    issued: int = 0  # refs issued since the last (re)start, for qr_max
    idle: bool = False
    linked: dict | None = None
    code: str | None = None
    code_phone: str | None = None
    code_expires_at: float | None = None  # the pairing code is refused from then on
    closed: bool = False

    @property
    def current(self) -> AuthRef | None:
        if self.idle or self.linked or not self.refs:
            return None
        return self.refs[-1]




def key_string(key: dict) -> str:
    text = f"{'true' if key['fromMe'] else 'false'}_{key['remote']}_{key['id']}"
    return text + (f"_{key['participant']}" if key.get("participant") else "")
