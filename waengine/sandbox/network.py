"""The simulated WhatsApp network behind the sandbox page.

Pure Python, no Flask. One lock (a Condition) guards everything: the state is small and
the operations are short, and a single Condition lets long-polls wait for "anything new"
without sleep loops. Times come from an injectable clock and delayed work (acks) goes
through an injectable scheduler, so unit tests can run the network on a fake clock.

Vocabulary:
- phone: an account on the network (digits, e.g. "6281234567890").
- device: a linked browser (WhatsApp Web). Its undelivered events stay queued on the
  server until a page holding that login acknowledges them (nothing is lost).
- pairing: a page that shows a QR (refs rotating on the clock) or a pairing code.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

POLL_TIMEOUT_MAX = 30.0
PAIRING_STALE_AFTER = 90.0  # a QR page that has not polled this long is gone
RECENT_MESSAGES_PER_CHAT = 50  # history sync: newest messages per chat
DEVICE_QUEUE_MAX = 20000  # bound for a device whose page never comes back
EVENTS_PER_POLL = 500
TOMBSTONES_MAX = 1000
GROUP_SERVER = "g.us"
MEDIA_TYPES = ("image", "video", "audio", "ptt", "sticker", "document")
MESSAGE_TYPES = ("chat", "location", "reaction", "vcard") + MEDIA_TYPES


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
    ack_delivered_delay: float = 0.3
    ack_read_delay: float = 1.0
    reload_after_scan: bool = True
    seed_contacts: int = 0
    seed_groups: int = 0
    seed: int = 1


OPTION_NAMES = tuple(Options.__dataclass_fields__)


# --------------------------------------------------------------------------- helpers


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


def _b64(nbytes: int) -> str:
    return base64.b64encode(secrets.token_bytes(nbytes)).decode()


def _lid_for(phone: str) -> str:
    # Deterministic, 15 digits, never equal to a phone number of the network in practice.
    rng = random.Random("lid:" + phone)
    return str(rng.randrange(10**14, 10**15))


# --------------------------------------------------------------------------- clock


class ThreadScheduler:
    """Runs callbacks after a delay on one daemon thread (started lazily)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            due = self._clock() + max(0.0, delay)
            heapq.heappush(self._heap, (due, next(self._counter), fn))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-scheduler", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                    not self._heap or self._heap[0][0] > self._clock()
                ):
                    wait = self._heap[0][0] - self._clock() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            fn()


# --------------------------------------------------------------------------- state


@dataclass
class ChatState:
    id: str  # the chat as this phone sees it: "<peer>@c.us" or "<gid>@g.us"
    t: int = 0
    unread: int = 0
    archive: bool = False
    pin: int = 0
    msg_ids: list = field(default_factory=list)


@dataclass
class Phone:
    phone: str
    name: str
    lid: str
    business: bool = False
    book: dict = field(default_factory=dict)  # saved contacts: phone -> name
    known: set = field(default_factory=set)  # known, not saved (isMyContact false)
    chats: dict = field(default_factory=dict)  # chat id -> ChatState
    devices: list = field(default_factory=list)  # linked device ids
    seeded: bool = False


@dataclass
class Group:
    id: str
    subject: str
    owner: str
    creation: int
    participants: dict  # phone -> "superadmin" | "admin" | "member"
    desc: str = ""


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
    recipients: list = field(default_factory=list)  # phones that received it
    ack: int = 1
    origin_device: str | None = None
    revoked: bool = False
    read_by: set = field(default_factory=set)


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
    closed: bool = False

    @property
    def current(self) -> AuthRef | None:
        if self.idle or self.linked or not self.refs:
            return None
        return self.refs[-1]


# --------------------------------------------------------------------------- seeding

FIRST_NAMES = (
    "Ahmad Siti Budi Dewi Agus Putri Rizky Ayu Fajar Intan Joao Maria Lucas Ana Pedro "
    "Juliana Gabriel Fernanda Rafael Camila Aarav Priya Rohan Ananya Vikram Sneha Arjun "
    "Kavya James Emily Oliver Sophie Liam Olivia Noah Charlotte Mohammed Fatima Omar "
    "Layla Yusuf Aisha Wei Mei Jun Lian Hiroshi Yuki Kenji Sakura Carlos Lucia Diego "
    "Valentina Mateo Isabella Lukas Hannah Felix Lena Pierre Chloe Kwame Amara Tunde Zainab"
).split()
LAST_NAMES = (
    "Santoso Wijaya Hidayat Saputra Pratama Kusuma Nugroho Silva Santos Oliveira Souza "
    "Pereira Costa Almeida Sharma Patel Gupta Singh Reddy Iyer Smith Johnson Brown Taylor "
    "Wilson Davies Evans Khan Hassan Rahman Haddad Chen Wang Li Zhang Tanaka Sato Suzuki "
    "Garcia Martinez Lopez Gonzalez Fernandez Muller Schmidt Schneider Fischer Dubois "
    "Moreau Laurent Mensah Okafor Adeyemi Nguyen Tran Kim Park Rossi Romano"
).split()
BUSINESS_NAMES = (
    "Bakery|Coffee|Pharmacy|Motors|Travel|Dental Clinic|Laundry|Catering|Florist|"
    "Electronics|Bookstore|Pet Shop|Auto Repair|Fitness|Salon|Printing"
).split("|")
GROUP_WORDS = (
    "Family|Weekend Hikers|Project Apollo|Class of 2012|Book Club|Football Friday|"
    "Office Lunch|Neighbours|Cycling Crew|Wedding Planning|Study Group|Parents Committee|"
    "Startup Founders|Alumni|Volunteers|Travel Buddies|Band Practice|Garden Club|"
    "Sales Team|Support Shift|Chess Club|Housemates|Reunion|Marketing"
).split("|")
# (country code, first digits choices, total national digits)
NUMBER_PLANS = (
    ("62", ("811", "812", "813", "821", "852", "857", "878"), 10),
    ("55", ("119", "219", "319", "419", "519"), 11),
    ("91", ("98", "97", "96", "90", "88", "70"), 10),
    ("1", ("202", "415", "646", "312", "617"), 10),
    ("44", ("77", "78", "79", "74"), 10),
    ("49", ("151", "160", "170", "176"), 11),
)


def _seed_number(rng: random.Random) -> str:
    country, prefixes, length = rng.choice(NUMBER_PLANS)
    prefix = rng.choice(prefixes)
    rest = "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))
    return country + prefix + rest


def _seed_person(rng: random.Random) -> tuple[str, bool]:
    """Return (name, is_business)."""
    if rng.random() < 0.08:
        return f"{rng.choice(LAST_NAMES)} {rng.choice(BUSINESS_NAMES)}", True
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", False


# --------------------------------------------------------------------------- network


class Network:
    """The whole simulated network. Every public method is thread-safe."""

    def __init__(
        self,
        options: Options | None = None,
        clock: Callable[[], float] = time.time,
        scheduler=None,
    ):
        self.options = options or Options()
        self._clock = clock
        self._scheduler = scheduler or ThreadScheduler()
        self._cond = threading.Condition()
        self._closed = False
        self._reset_state()

    # ----------------------------------------------------------------- lifecycle

    def _reset_state(self) -> None:
        self._generation = getattr(self, "_generation", 0) + 1
        self._phones: dict[str, Phone] = {}
        self._groups: dict[str, Group] = {}
        self._messages: dict[str, Message] = {}
        self._message_order: list[str] = []
        self._devices: dict[str, Device] = {}
        self._tombstones: dict[str, str] = {}  # unlinked device id -> logout reason
        self._pairings: dict[str, Pairing] = {}
        self._refs: dict[str, str] = {}  # every ref ever issued -> pairing id
        self._codes: dict[str, str] = {}  # pairing code -> pairing id
        self._stalls: dict[str, float] = {}
        self._group_counter = itertools.count(1)

    def reset(self) -> None:
        """Forget everything (tests); waiting pages learn their login is gone."""
        with self._cond:
            self._reset_state()
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter and refuse to wait again (server shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        close = getattr(self._scheduler, "close", None)
        if close:
            close()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run fn(under the lock) after delay, unless the network was reset meanwhile."""
        generation = self._generation

        def run():
            with self._cond:
                if self._generation == generation and not self._closed:
                    fn()
                    self._cond.notify_all()

        self._scheduler.call_later(delay, run)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait (lock held) until predicate() or timeout; bounded, wakes on changes."""
        deadline = time.monotonic() + max(0.0, min(timeout, POLL_TIMEOUT_MAX))
        while not self._closed and not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    # ----------------------------------------------------------------- phones

    def upsert_phone(
        self,
        phone,
        name: str | None = None,
        contacts: list | None = None,
        seed_contacts: int | None = None,
        seed_groups: int | None = None,
    ) -> tuple[dict, bool]:
        """Create or update a phone account; return (phone view, created)."""
        digits = normalize_phone(phone)
        book = [(normalize_phone(c.get("phone")), c.get("name")) for c in contacts or []]
        with self._cond:
            created = digits not in self._phones
            account = self._ensure_phone(digits, name)
            if name:
                account.name = str(name)
            for number, contact_name in book:
                if number != digits:
                    account.book[number] = str(contact_name or "+" + number)
                    account.known.discard(number)
            self._seed_once(account, seed_contacts, seed_groups)
            self._cond.notify_all()
            return self._phone_view(account), created

    def get_phone(self, phone) -> dict:
        digits = normalize_phone(phone)
        with self._cond:
            return self._phone_view(self._require_phone(digits))

    def query_exists(self, phone) -> dict | None:
        """Return {wid, biz, lid} for a phone on the network, else None."""
        try:
            digits = normalize_phone(phone)
        except SandboxError:
            return None
        with self._cond:
            account = self._phones.get(digits)
            if not account:
                return None
            return {"wid": user_wid(digits), "biz": account.business, "lid": account.lid + "@lid"}

    def _ensure_phone(self, digits: str, name: str | None = None) -> Phone:
        account = self._phones.get(digits)
        if account is None:
            account = Phone(phone=digits, name=str(name or "+" + digits), lid=_lid_for(digits))
            self._phones[digits] = account
        return account

    def _require_phone(self, digits: str) -> Phone:
        account = self._phones.get(digits)
        if account is None:
            raise SandboxError(404, "phone_not_found", f"No phone {digits} on the network")
        return account

    def _phone_view(self, account: Phone) -> dict:
        groups = [g.id for g in self._groups.values() if account.phone in g.participants]
        return {
            "phone": account.phone,
            "name": account.name,
            "id": user_wid(account.phone),
            "lid": account.lid + "@lid",
            "isBusiness": account.business,
            "contacts": len(self._contact_numbers(account)),
            "savedContacts": len(account.book),
            "groups": groups,
            "chats": len(account.chats),
            "devices": [self._device_view(self._devices[d]) for d in account.devices],
        }

    def _device_view(self, device: Device) -> dict:
        return {
            "id": device.id,
            "name": device.name,
            "phone": device.phone,
            "linkedAt": device.linked_at,
            "pendingEvents": len(device.events),
        }

    # ----------------------------------------------------------------- seeding

    def _seed_once(self, account: Phone, contacts: int | None, groups: int | None) -> None:
        """Give a newly created phone its generated contacts and groups, once."""
        if account.seeded:
            return
        account.seeded = True
        count = self.options.seed_contacts if contacts is None else max(0, int(contacts))
        ngroups = self.options.seed_groups if groups is None else max(0, int(groups))
        if not count and not ngroups:
            return
        rng = random.Random(f"{self.options.seed}:{account.phone}")
        numbers = self._seed_contacts(account, rng, count)
        self._seed_groups(account, rng, numbers, ngroups)

    def _seed_contacts(self, account: Phone, rng: random.Random, count: int) -> list[str]:
        numbers: list[str] = []
        taken = {account.phone}
        while len(numbers) < count:
            number = _seed_number(rng)
            if number in taken:
                continue
            taken.add(number)
            name, business = _seed_person(rng)
            peer = self._phones.get(number)
            if peer is None:
                peer = Phone(number, name, _lid_for(number), business=business, seeded=True)
                self._phones[number] = peer
            if rng.random() < 0.15:
                account.known.add(number)  # chatted once, never saved
            else:
                account.book[number] = self._book_name(rng, peer.name)
            numbers.append(number)
        return numbers

    @staticmethod
    def _book_name(rng: random.Random, pushname: str) -> str:
        # People save contacts under names that differ from the push name now and then.
        roll = rng.random()
        if roll < 0.1:
            return pushname.split()[0]
        if roll < 0.15:
            return pushname + " (work)"
        return pushname

    def _seed_groups(self, account: Phone, rng: random.Random, numbers: list, count: int):
        for index in range(count):
            members = rng.sample(numbers, min(len(numbers), rng.randint(2, 30)))
            own = not members or rng.random() < 0.5
            owner = account.phone if own else members[0]
            subject = rng.choice(GROUP_WORDS)
            if index >= len(GROUP_WORDS) or rng.random() < 0.4:
                subject = f"{subject} {rng.choice(('2024', '2025', 'HQ', 'Jakarta', 'SP', 'II'))}"
            gid = "1203630" + "".join(rng.choice("0123456789") for _ in range(11)) + "@g.us"
            if gid in self._groups:
                continue
            participants = {p: "member" for p in members}
            participants[account.phone] = "member"
            participants[owner] = "superadmin"
            admin = rng.choice(members) if members else owner
            if rng.random() < 0.3 and participants[admin] == "member":
                participants[admin] = "admin"
            creation = int(self._clock()) - rng.randint(86400, 86400 * 900)
            group = Group(gid, subject, owner, creation, participants)
            self._groups[gid] = group
            chat = self._chat(account, gid)
            chat.t = creation

    # ----------------------------------------------------------------- contacts & chats

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
            "participants": [
                {
                    "id": user_wid(p),
                    "isAdmin": role in ("admin", "superadmin"),
                    "isSuperAdmin": role == "superadmin",
                }
                for p, role in group.participants.items()
            ],
        }

    # ----------------------------------------------------------------- pairing (QR)

    def start_pairing(self, device_name: str | None = None) -> dict:
        """A logged-out page starts showing QR codes; return its pairing state."""
        with self._cond:
            self._prune_pairings()
            pairing = Pairing(
                id=secrets.token_hex(8),
                device_name=str(device_name or "Chrome (Linux)"),
                last_seen=self._clock(),
            )
            self._pairings[pairing.id] = pairing
            self._issue_ref(pairing, self.options.qr_first_ttl)
            return self._pairing_view(pairing)

    def poll_pairing(self, pairing_id: str, known_ref: str | None, timeout: float) -> dict:
        """Wait until the QR ref differs from known_ref, the QR goes idle, or a link."""
        with self._cond:
            pairing = self._require_pairing(pairing_id)

            def changed():
                self._advance(pairing)
                current = pairing.current
                return (
                    pairing.linked is not None
                    or pairing.closed
                    or (current.ref if current else None) != known_ref
                )

            deadline = time.monotonic() + max(0.0, min(timeout, POLL_TIMEOUT_MAX))
            while not self._closed and not changed():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Also wake when the current ref expires, so rotation is on time.
                expiry = pairing.current.expires_at - self._clock() if pairing.current else None
                self._cond.wait(min(remaining, expiry + 0.01) if expiry is not None else remaining)
            pairing.last_seen = self._clock()
            return self._pairing_view(pairing)

    def refresh_pairing(self, pairing_id: str) -> dict:
        """conn.refreshQR(): start a new series of refs (also leaves the idle state)."""
        with self._cond:
            pairing = self._require_pairing(pairing_id)
            if pairing.linked is None:
                pairing.idle = False
                pairing.issued = 0
                self._issue_ref(pairing, self.options.qr_first_ttl)
                self._cond.notify_all()
            return self._pairing_view(pairing)

    def close_pairing(self, pairing_id: str) -> None:
        """The page showing this QR went away (pagehide)."""
        with self._cond:
            pairing = self._pairings.get(pairing_id)
            if pairing:
                pairing.closed = True
                self._cond.notify_all()

    def pairing_code(self, pairing_id: str, phone) -> str:
        """conn.genLinkDeviceCodeForPhoneNumber(): an 8-char code the phone can enter."""
        digits = normalize_phone(phone)
        with self._cond:
            pairing = self._require_pairing(pairing_id)
            if pairing.linked:
                raise SandboxError(
                    409, "cannot_get_code_for_already_authenticated", "Already authenticated"
                )
            if pairing.code:
                self._codes.pop(pairing.code, None)
            alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"
            pairing.code = "".join(secrets.choice(alphabet) for _ in range(8))
            pairing.code_phone = digits
            self._codes[pairing.code] = pairing.id
            return pairing.code

    def link(self, qr: str | None = None, code: str | None = None, phone=None) -> dict:
        """A phone scans a QR (or enters a pairing code): link the device showing it."""
        digits = normalize_phone(phone) if phone not in (None, "") else None
        with self._cond:
            pairing = self._pairing_for_code(code) if code else self._pairing_for_qr(qr)
            if code:
                if digits and digits != pairing.code_phone:
                    raise SandboxError(
                        409, "phone_mismatch", "The pairing code was requested for another phone"
                    )
                digits = pairing.code_phone
            if not digits:
                raise SandboxError(400, "invalid_phone", "Missing 'phone'")
            created = digits not in self._phones
            account = self._ensure_phone(digits)
            self._seed_once(account, None, None)
            device = self._new_device(account, pairing.device_name)
            pairing.linked = {
                "device": device.id,
                "token": device.token,
                "phone": digits,
                "name": account.name,
            }
            self._cond.notify_all()
            return {
                "phone": digits,
                "device": device.id,
                "deviceName": device.name,
                "phoneCreated": created,
            }

    def _pairing_for_qr(self, qr) -> Pairing:
        text = str(qr or "").strip()
        ref = text.split(",")[0].strip()
        pairing = self._live_pairing(self._refs.get(ref))
        if pairing is None:
            raise SandboxError(404, "qr_not_found", "No page is showing this QR code")
        self._advance(pairing)
        current = pairing.current
        if current is None or current.ref != ref:
            raise SandboxError(410, "qr_expired", "This QR code expired (the page rotated it)")
        if "," in text and text != current.auth_code()["fullCode"]:
            raise SandboxError(404, "qr_not_found", "QR code does not match the page's keys")
        return pairing

    def _pairing_for_code(self, code) -> Pairing:
        key = re.sub(r"[\s-]", "", str(code)).upper()
        pairing = self._live_pairing(self._codes.get(key))
        if pairing is None or pairing.code != key:
            raise SandboxError(404, "code_not_found", "No page is showing this pairing code")
        return pairing

    def _live_pairing(self, pairing_id: str | None) -> Pairing | None:
        pairing = self._pairings.get(pairing_id) if pairing_id else None
        if pairing is None or pairing.closed or pairing.linked:
            return None
        if self._clock() - pairing.last_seen > PAIRING_STALE_AFTER:
            return None
        return pairing

    def _require_pairing(self, pairing_id: str) -> Pairing:
        pairing = self._pairings.get(pairing_id)
        if pairing is None:
            raise SandboxError(404, "pairing_not_found", "Unknown pairing (page must reload)")
        pairing.last_seen = self._clock()
        return pairing

    def _issue_ref(self, pairing: Pairing, ttl: float, start: float | None = None) -> None:
        ref = AuthRef(
            ref="2@" + _b64(60),
            static_key=_b64(32),
            identity_key=_b64(32),
            secret_key=_b64(32),
            expires_at=(self._clock() if start is None else start) + ttl,
        )
        pairing.refs.append(ref)
        pairing.issued += 1
        self._refs[ref.ref] = pairing.id

    def _advance(self, pairing: Pairing) -> None:
        """Rotate refs that expired on the clock; stop after qr_max refs (idle).

        Rotation follows the timeline (each ref starts when the previous expired), so
        the state only depends on the clock, not on when somebody looked.
        """
        now = self._clock()
        while pairing.current is not None and pairing.current.expires_at <= now:
            if pairing.issued >= self.options.qr_max:
                pairing.idle = True
                self._cond.notify_all()
                break
            self._issue_ref(pairing, self.options.qr_ttl, start=pairing.current.expires_at)

    def _pairing_view(self, pairing: Pairing) -> dict:
        current = pairing.current
        return {
            "pairing": pairing.id,
            "authCode": current.auth_code() if current else None,
            "expiresIn": max(0.0, current.expires_at - self._clock()) if current else None,
            "idle": pairing.idle,
            "linked": pairing.linked,
            "closed": pairing.closed,
        }

    def _prune_pairings(self) -> None:
        now = self._clock()
        for pid, pairing in list(self._pairings.items()):
            if pairing.closed or pairing.linked or now - pairing.last_seen > PAIRING_STALE_AFTER:
                if now - pairing.last_seen > 5:  # let a just-linked page read its result
                    del self._pairings[pid]
                    for ref in pairing.refs:
                        self._refs.pop(ref.ref, None)
                    if pairing.code:
                        self._codes.pop(pairing.code, None)

    # ----------------------------------------------------------------- devices

    def _new_device(self, account: Phone, name: str) -> Device:
        device = Device(
            id="d" + secrets.token_hex(6),
            phone=account.phone,
            token=secrets.token_urlsafe(24),
            name=name,
            linked_at=self._clock(),
        )
        self._devices[device.id] = device
        account.devices.append(device.id)
        return device

    def _auth(self, device_id: str, token: str) -> Device:
        device = self._devices.get(device_id)
        if device is None or not secrets.compare_digest(device.token, str(token or "")):
            reason = self._tombstones.get(device_id, "unknown_device")
            raise SandboxError(401, "device_unlinked", reason)
        return device

    def hello(self, device_id: str, token: str, client: str) -> dict:
        """A page with a stored login connects; it becomes the device's active page."""
        with self._cond:
            try:
                device = self._auth(device_id, token)
            except SandboxError as err:
                return {"loggedIn": False, "reason": err.message}
            device.client = str(client)
            self._cond.notify_all()  # an older page of this login sees the conflict
            return {"loggedIn": True, "me": self._me_view(device)}

    def _me_view(self, device: Device) -> dict:
        account = self._phones[device.phone]
        return {
            "phone": account.phone,
            "name": account.name,
            "id": user_wid(account.phone),
            "lid": account.lid + "@lid",
            "device": device.id,
            "deviceName": device.name,
            "isBusiness": account.business,
        }

    def sync(self, device_id: str, token: str) -> dict:
        """History sync for a freshly loaded page: contacts, chats, recent messages."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chats = sorted(account.chats.values(), key=lambda c: c.t, reverse=True)
            messages = []
            for chat in chats:
                for mid in chat.msg_ids[-RECENT_MESSAGES_PER_CHAT:]:
                    messages.append(self._msg_view(self._messages[mid], account))
            return {
                "me": self._me_view(device),
                "contacts": [
                    self._contact_view(account, n) for n in self._contact_numbers(account)
                ],
                "chats": [self._chat_view(account, c) for c in chats],
                "messages": messages,
            }

    def poll_events(
        self, device_id: str, token: str, client: str, ack: int, timeout: float
    ) -> dict:
        """Drop events up to `ack` (the page emitted them), then wait for newer ones."""
        with self._cond:
            device = self._auth(device_id, token)
            self._drop_acked(device, int(ack or 0))

            def ready():
                # Every event still queued is newer than `ack` (older ones were dropped).
                return device.id not in self._devices or device.client != client or bool(
                    device.events
                )

            self._wait(ready, timeout)
            if device.id not in self._devices:
                reason = self._tombstones.get(device.id, "user_initiated")
                return {"loggedOut": True, "reason": reason, "events": []}
            if device.client != client:
                return {"conflict": True, "events": []}
            batch = itertools.islice(device.events, EVENTS_PER_POLL)
            return {"events": [event for _, event in batch]}

    @staticmethod
    def _drop_acked(device: Device, ack: int) -> None:
        while device.events and device.events[0][0] <= ack:
            device.events.popleft()

    def _push(self, device: Device, kind: str, data: dict) -> None:
        seq = device.next_seq
        device.next_seq += 1
        device.events.append((seq, {"seq": seq, "type": kind, **data}))
        if len(device.events) > DEVICE_QUEUE_MAX:
            device.events.popleft()

    def _push_phone(self, phone: str, kind: str, make: Callable[[Phone], dict], skip=None):
        """Queue an event for every linked device of a phone (built once per phone)."""
        account = self._phones.get(phone)
        if not account or not account.devices:
            return
        data = make(account)
        for device_id in account.devices:
            if device_id != skip:
                self._push(self._devices[device_id], kind, data)

    def logout_device(self, device_id: str, token: str, reason: str = "user_initiated") -> None:
        """The page logs itself out (WPP.conn.logout)."""
        with self._cond:
            device = self._auth(device_id, token)
            self._unlink(device, reason)
            self._cond.notify_all()

    def unlink_phone(self, phone, device_id: str | None = None, reason=None) -> dict:
        """The phone removes its linked device(s) (Settings > Linked devices > Log out)."""
        digits = normalize_phone(phone)
        with self._cond:
            account = self._require_phone(digits)
            targets = [d for d in account.devices if device_id in (None, d)]
            if device_id and not targets:
                raise SandboxError(404, "device_not_found", f"No linked device {device_id}")
            for target in targets:
                self._unlink(self._devices[target], str(reason or "user_initiated"))
            self._cond.notify_all()
            return {"phone": digits, "unlinked": targets}

    def _unlink(self, device: Device, reason: str) -> None:
        self._devices.pop(device.id, None)
        account = self._phones.get(device.phone)
        if account and device.id in account.devices:
            account.devices.remove(device.id)
        self._tombstones[device.id] = reason
        while len(self._tombstones) > TOMBSTONES_MAX:
            self._tombstones.pop(next(iter(self._tombstones)))

    # ----------------------------------------------------------------- messages

    def send_from_phone(self, sender, to, text, quoted_id=None, mentions=None) -> dict:
        """The control API: a (simulated) phone sends a text message."""
        sender_digits = normalize_phone(sender)
        target = self._target(to)
        with self._cond:
            self._ensure_phone(sender_digits)
            self._check_group_sender(target, sender_digits)
            msg = Message(
                id=new_message_id("3A"),
                sender=sender_digits,
                to=target,
                type="chat",
                t=int(self._clock()),
                body=str(text or ""),
                quoted_id=quoted_id or None,
                mentions=[normalize_phone(m) for m in mentions or []],
            )
            self._deliver(msg)
            return self._control_view(msg)

    def send_from_device(self, device_id: str, token: str, payload: dict) -> dict:
        """A page sends a message; idempotent on the message id (safe to retry)."""
        with self._cond:
            device = self._auth(device_id, token)
            msg_id = str(payload.get("id") or "")
            if not re.fullmatch(r"[0-9A-F]{16,32}", msg_id):
                raise SandboxError(400, "invalid_message_id", "Message ids are uppercase hex")
            existing = self._messages.get(msg_id)
            if existing is not None:
                if existing.sender != device.phone:
                    raise SandboxError(409, "message_id_taken", "Message id already used")
                return self._send_result(existing, self._phones[device.phone])
            msg = self._message_from_payload(device, msg_id, payload)
            self._deliver(msg)
            return self._send_result(msg, self._phones[device.phone])

    def _message_from_payload(self, device: Device, msg_id: str, payload: dict) -> Message:
        kind = str(payload.get("type") or "chat")
        if kind not in MESSAGE_TYPES:
            raise SandboxError(400, "invalid_type", f"Unsupported message type {kind!r}")
        target = self._target(payload.get("to"))
        self._check_group_sender(target, device.phone)
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
        msg.mentions = [normalize_phone(m) for m in payload.get("mentions") or []]
        return msg

    def _check_group_sender(self, target: str, sender: str) -> None:
        if not is_group_id(target):
            return
        group = self._groups.get(target)
        if group is None:
            raise SandboxError(404, "group_not_found", f"No group {target}")
        if sender not in group.participants:
            raise SandboxError(403, "not_a_participant", f"{sender} is not in {target}")

    def _target(self, to) -> str:
        text = str(to or "").strip()
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
            if msg.sender not in account.book:
                account.known.add(msg.sender)
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
        return [msg.to] if msg.to in self._phones and msg.to != msg.sender else []

    def _file_message(self, account: Phone, msg: Message, incoming: bool) -> None:
        chat = self._chat(account, self._chat_id_for(msg, account.phone))
        chat.msg_ids.append(msg.id)
        chat.t = msg.t
        if incoming:
            chat.unread += 1

    @staticmethod
    def _chat_id_for(msg: Message, viewer: str) -> str:
        if is_group_id(msg.to):
            return msg.to
        return user_wid(msg.to if msg.sender == viewer else msg.sender)

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
        if delivered is not None and delivered >= 0:
            self._later(delivered, lambda: self._set_ack(msg.id, 2))
        if read is not None and read >= 0:
            self._later(max(read, delivered or 0), lambda: self._set_ack(msg.id, 3))

    def _set_ack(self, msg_id: str, ack: int, by: str | None = None) -> bool:
        """Raise a message's ack and tell the sender's devices (chat.msg_ack_change)."""
        msg = self._messages.get(msg_id)
        if msg is None or msg.revoked:
            return False
        group = is_group_id(msg.to)
        if by is not None and group:
            msg.read_by.add(by)
            # In groups each reader's receipt is an event; the message is READ when all read.
            if msg.ack < 3 and not set(msg.recipients) - msg.read_by:
                msg.ack = 3
        elif msg.ack >= ack:
            return False
        else:
            msg.ack = ack

        def make(account: Phone) -> dict:
            view = self._msg_view(msg, account)
            event = {"ack": ack, "chat": view["key"]["remote"], "ids": [view["key"]["_serialized"]]}
            if group and by:
                event["sender"] = user_wid(by)
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
            self._set_ack(msg.id, 3, by=digits)
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
            msg.revoked = True
            revoke_id = new_message_id("3A")
            for phone in [*msg.recipients, msg.sender]:
                kind = "sender_revoke" if phone == msg.sender else "revoke"
                self._push_phone(phone, "revoke",
                                 lambda a, k=kind: self._revoke_event(msg, a, revoke_id, k))
            self._cond.notify_all()
            return self._control_view(msg)

    def _revoke_event(self, msg: Message, viewer: Phone, revoke_id: str, kind: str) -> dict:
        view = self._msg_view(msg, viewer)
        key = dict(view["key"])
        key["id"] = revoke_id
        key["_serialized"] = _key_string(key)
        return {"id": key, "refId": view["key"], "from": view["from"], "to": view["to"],
                "author": view["author"], "revokeType": kind}

    def get_message_for_device(self, device_id: str, token: str, msg_id: str) -> dict:
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            msg = self._messages.get(msg_id)
            if msg is None or account.phone not in (msg.sender, *msg.recipients):
                raise SandboxError(404, "msg_not_found", f"Message {msg_id} not found")
            return self._msg_view(msg, account)

    def history(self, device_id: str, token: str, chat_id: str, before: str | None,
                count: int) -> list[dict]:
        """Older messages of a chat (the page asks when its local store runs out)."""
        with self._cond:
            device = self._auth(device_id, token)
            account = self._phones[device.phone]
            chat = account.chats.get(chat_id)
            if chat is None:
                return []
            ids = chat.msg_ids
            if before and before in ids:
                ids = ids[: ids.index(before)]
            ids = ids if count < 0 else ids[-count:] if count else []
            return [self._msg_view(self._messages[m], account) for m in ids]

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
            "chatId": msg.to if is_group_id(msg.to) else user_wid(msg.to),
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
            "timestamp": msg.t,
            "ack": msg.ack,
            "recipients": list(msg.recipients),
            "revoked": msg.revoked,
            "readBy": sorted(msg.read_by),
        }

    @staticmethod
    def _recipient_key(msg: Message) -> str:
        if is_group_id(msg.to):
            return f"false_{msg.to}_{msg.id}_{user_wid(msg.sender)}"
        return f"false_{user_wid(msg.sender)}_{msg.id}"

    def _send_result(self, msg: Message, sender: Phone) -> dict:
        view = self._msg_view(msg, sender)
        return {"key": view["key"], "from": view["from"], "to": view["to"], "t": msg.t,
                "ack": msg.ack}

    def _msg_view(self, msg: Message, viewer: Phone) -> dict:
        """The message as the viewer's WhatsApp Web sees it (WPP-SURFACE 4.2/4.4)."""
        from_me = msg.sender == viewer.phone
        sender = self._phones.get(msg.sender)
        if is_group_id(msg.to):
            remote = msg.to
            participant = f"{viewer.lid}@lid" if from_me else user_wid(msg.sender)
            frm, to, author = (participant, remote, participant) if from_me else (
                remote, user_wid(viewer.phone), participant)
        else:
            remote = user_wid(msg.to if from_me else msg.sender)
            participant, author = None, None
            frm, to = user_wid(msg.sender), user_wid(msg.to)
        key = {"fromMe": from_me, "remote": remote, "id": msg.id, "participant": participant}
        key["_serialized"] = _key_string(key)
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
            "mentionedJidList": [user_wid(m) for m in msg.mentions],
        }
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

    # ----------------------------------------------------------------- groups

    def create_group(self, name: str, owner, participants: list, create_missing=False) -> dict:
        """Create a group owned by `owner`; members' devices learn it (a 'chat' event).

        Unknown participants fail with participant_not_exists (as wa-js does), unless
        `create_missing` (the control API, for convenience) puts them on the network.
        """
        owner_digits = normalize_phone(owner)
        members = [normalize_phone(p) for p in participants or []]
        subject = str(name or "").strip()
        if not subject:
            raise SandboxError(400, "invalid_name", "A group needs a name")
        with self._cond:
            self._ensure_phone(owner_digits)
            missing = [p for p in members if p not in self._phones]
            if create_missing:
                for phone in missing:
                    self._ensure_phone(phone)
            elif missing:
                raise SandboxError(404, "participant_not_exists",
                                   f"Participant not exists: {missing[0]}")
            gid = self._new_group_id()
            roles = {p: "member" for p in members if p != owner_digits}
            roles = {owner_digits: "superadmin", **roles}
            group = Group(gid, subject, owner_digits, int(self._clock()), roles)
            self._groups[gid] = group
            for phone in roles:
                self._chat(self._phones[phone], gid)
                self._push_chat(phone, gid)
            self._cond.notify_all()
            result = self._group_view(group)
            result["participantResults"] = {
                user_wid(p): {"wid": user_wid(p), "code": 200, "invite_code": None,
                              "invite_code_exp": None}
                for p in members if p != owner_digits
            }
            return result

    def _new_group_id(self) -> str:
        while True:
            gid = f"1203630{secrets.randbelow(10**11):011d}@g.us"
            if gid not in self._groups:
                return gid

    def _push_chat(self, phone: str, chat_id: str) -> None:
        def make(account: Phone) -> dict:
            return {"chat": self._chat_view(account, self._chat(account, chat_id))}

        self._push_phone(phone, "chat", make)

    def get_group(self, gid: str) -> dict:
        with self._cond:
            return self._group_view(self._require_group(gid))

    def _require_group(self, gid: str) -> Group:
        group = self._groups.get(str(gid))
        if group is None:
            raise SandboxError(404, "group_not_found", f"No group {gid}")
        return group

    def change_participants(self, gid: str, add=(), remove=(), by=None, as_admin=False,
                            create_missing=False) -> dict:
        """Add/remove members; every member's devices get group.participant_changed.

        Returns {"group": view, "results": {wid: code}, "removed": [...]}. `as_admin`
        enforces that `by` is an admin (calls from a page); the control API acts with the
        owner's rights and may put unknown phones on the network (`create_missing`).
        """
        adds = [normalize_phone(p) for p in add or []]
        removes = [normalize_phone(p) for p in remove or []]
        with self._cond:
            group = self._require_group(gid)
            actor = normalize_phone(by) if by else group.owner
            if as_admin and group.participants.get(actor) not in ("admin", "superadmin"):
                raise SandboxError(403, "group_you_are_not_admin", f"You are not admin in {gid}")
            results = {}
            added = []
            for phone in adds:
                if create_missing:
                    self._ensure_phone(phone)
                if phone not in self._phones:
                    results[user_wid(phone)] = 404
                elif phone in group.participants:
                    results[user_wid(phone)] = 409
                else:
                    group.participants[phone] = "member"
                    self._chat(self._phones[phone], gid)
                    added.append(phone)
                    results[user_wid(phone)] = 200
            removed = [p for p in removes if p in group.participants and p != group.owner]
            audience = set(group.participants)
            for phone in removed:
                del group.participants[phone]
            for action, phones in (("add", added), ("remove", removed)):
                if phones:
                    self._announce_participants(group, audience, action, phones, actor)
            self._cond.notify_all()
            return {"group": self._group_view(group), "results": results, "removed": removed}

    def _announce_participants(self, group, audience, action, phones, actor) -> None:
        author = self._phones.get(actor)
        event = {
            "groupId": group.id,
            "action": action,
            "operation": action,
            "participants": [user_wid(p) for p in phones],
            "author": user_wid(actor),
            "authorPushName": author.name if author else None,
        }
        for phone in sorted(audience):
            self._push_phone(phone, "participants", lambda a: {
                "event": event, "chat": self._chat_view(a, self._chat(a, group.id))})

    # ----------------------------------------------------------------- stalls

    def set_stall(self, fn: str, seconds: float) -> dict:
        with self._cond:
            if seconds and seconds > 0:
                self._stalls[str(fn)] = float(seconds)
            else:
                self._stalls.pop(str(fn), None)
            return dict(self._stalls)

    def get_stall(self, fn: str) -> float:
        with self._cond:
            return self._stalls.get(str(fn), 0.0)

    # ----------------------------------------------------------------- device helpers

    def device_phone(self, device_id: str, token: str) -> str:
        with self._cond:
            return self._auth(device_id, token).phone


def _key_string(key: dict) -> str:
    text = f"{'true' if key['fromMe'] else 'false'}_{key['remote']}_{key['id']}"
    return text + (f"_{key['participant']}" if key.get("participant") else "")
