"""Generated contacts and groups for new phones (--seed-contacts, --seed-groups)."""

from __future__ import annotations

import random

from .model import (
    Group,
    Phone,
    lid_for,
)

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




class SeedOps:
    """Part of Network (core.py), which holds the state and the one lock."""

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
                peer = Phone(number, name, lid_for(number), business=business, seeded=True)
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
