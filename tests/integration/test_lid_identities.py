"""LID identities kept (docs/sessions.md, "Bad days"): people WhatsApp shows only by `…@lid`
whose phone number the session learns later (they share it, or a lookup names it), on real
Chromium and the sandbox. The gateway stores every pair it learns, so events, send responses and
contact lookups carry both ids from then on, and the phone and the @lid answer as one contact.
"""

from __future__ import annotations

import json

import pytest
import requests

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "lidkept"
ME = number(1)
SHY, QUIET = number(2), number(3)  # keep their numbers private


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ME, "Me")
    for phone, name in ((SHY, "Shy"), (QUIET, "Quiet")):
        box.phone(phone, name)
        box.post(f"/_sandbox/phones/{phone}/number-private", private=True)
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("lidkept"), SID, ME) as gateway:
        yield gateway


def lid_of(sandbox, phone: str) -> str:
    return requests.get(f"{sandbox.url}/_sandbox/phones/{phone}", timeout=10).json()["lid"]


def incoming(gw, sandbox, sender: str, text: str) -> dict:
    sandbox.post("/_sandbox/messages", **{"from": sender, "to": ME, "text": text})

    def find():
        rows = gw.engine.events.outbox.since(SID, 0, limit=5000)
        bodies = [json.loads(r["body"])["data"] for r in rows if r["type"] == "message"]
        return next((b for b in bodies if b["body"] == text), None)
    return wait_for(find, timeout=30, message=f"{text!r} as an event")


def contact(gw, contact_id: str) -> dict:
    resp = gw.client.get(f"/sessions/{SID}/contacts/{contact_id}")
    assert resp.status_code == 200, resp.json
    return resp.json


def test_a_lid_only_person_who_shares_their_number_is_one_contact_by_either_id(gw, sandbox):
    lid, phone = lid_of(sandbox, SHY), f"{SHY}@c.us"
    first = incoming(gw, sandbox, SHY, "siapa ini?")
    assert first["from"] == lid and first["senderIds"] == {"phone": None, "lid": lid}
    assert contact(gw, lid)["phone"] is None  # WhatsApp has not told the number yet

    sandbox.post(f"/_sandbox/phones/{SHY}/share-number", **{"with": ME})
    second = incoming(gw, sandbox, SHY, "ini nomor saya")
    assert second["senderIds"] == {"phone": phone, "lid": lid}
    assert second["chatIds"] == {"phone": phone, "lid": lid}
    by_lid, by_phone = contact(gw, lid), contact(gw, SHY)
    assert (by_lid["phone"], by_lid["lid"]) == (SHY, lid)
    assert (by_phone["phone"], by_phone["lid"]) == (SHY, lid)
    stored = gw.engine.store.execute(
        "SELECT phone, lid, source FROM contact_ids WHERE session = ?", (SID,))
    assert (phone, lid, "message") in {(r["phone"], r["lid"], r["source"]) for r in stored}

    listed = gw.client.get(f"/sessions/{SID}/contacts?refresh=true").json["data"]
    mine = [c for c in listed if c["id"] in (phone, lid)]
    assert [(c["id"], c["lid"]) for c in mine] == [(phone, lid)]  # one contact, not two

    sent = gw.client.post(f"/sessions/{SID}/messages", json={"to": SHY, "text": "salam kenal"})
    assert sent.status_code == 201, sent.json
    assert sent.json["recipientIds"] == {"phone": phone, "lid": lid}


def test_a_lookup_teaches_the_number_and_later_events_and_contacts_carry_it(gw, sandbox):
    lid, phone = lid_of(sandbox, QUIET), f"{QUIET}@c.us"
    first = incoming(gw, sandbox, QUIET, "halo dari lid saja")
    assert first["senderIds"] == {"phone": None, "lid": lid}
    found = gw.client.get(f"/sessions/{SID}/contacts/{QUIET}/exists").json
    assert found["exists"] is True and found["lid"] == lid
    assert contact(gw, lid)["phone"] == QUIET  # from the stored pair
    later = incoming(gw, sandbox, QUIET, "pesan kedua")
    assert later["senderIds"] == {"phone": phone, "lid": lid}
