"""@lid addressing end to end: sandbox phones and groups WhatsApp has moved to LIDs, a real
Chromium session, and the gateway's phone <-> @lid resolution (contact.getPnLidEntry).

The sandbox keeps ids exact, as WhatsApp Web does: a phone id does not find a person's @lid chat
or contact. One linked session serves the module; each test talks to phones of its own.
"""

from __future__ import annotations

import json

import pytest
import requests

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "lid"
ANA = number(1)  # the session's phone
LINA, MIRA, NINA, OKTA = (number(n) for n in range(2, 6))  # LID-addressed
PUTRI, RAKA = number(1001), number(1002)  # LID group owner and member
SARI = number(1003)  # phone-number addressed, for the replies
TARI = number(1004)  # phone-number addressed until WhatsApp moves her to a LID


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    for phone, name in ((LINA, "Lina"), (MIRA, "Mira"), (NINA, "Nina"), (OKTA, "Okta"),
                        (PUTRI, "Putri"), (RAKA, "Raka")):
        box.phone(phone, name, addressing="lid")
    box.phone(SARI, "Sari")
    box.phone(TARI, "Tari")
    box.phone(ANA, "Ana")
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("lid"), SID, ANA) as gateway:
        yield gateway


def lid_of(sandbox, phone: str) -> str:
    return requests.get(f"{sandbox.url}/_sandbox/phones/{phone}", timeout=10).json()["lid"]


def event(gw, kind: str, match) -> dict:
    """The first outbox event of that type whose data matches: what webhooks and SSE carry."""
    def find():
        rows = gw.engine.events.outbox.since(SID, 0, limit=5000)
        bodies = [json.loads(r["body"]) for r in rows if r["type"] == kind]
        return next((b["data"] for b in bodies if match(b["data"])), None)
    return wait_for(find, timeout=20, message=f"{kind} event")


def sent_by_session(sandbox, text: str) -> dict:
    def find():
        resp = requests.get(f"{sandbox.url}/_sandbox/messages", params={"from": ANA}, timeout=10)
        return next((m for m in resp.json()["data"] if m["text"] == text), None)
    return wait_for(find, message=f"{text!r} at the network")


def incoming(gw, sandbox, sender: str, text: str) -> dict:
    sandbox.post("/_sandbox/messages", **{"from": sender, "to": ANA, "text": text})
    return event(gw, "message", lambda d: d["body"] == text)


def test_a_lid_addressed_phone_is_a_lid_chat_and_its_message_carries_both_ids(gw, sandbox):
    lid = lid_of(sandbox, LINA)
    msg = incoming(gw, sandbox, LINA, "halo dari lid")
    assert msg["chatId"] == lid and msg["from"] == lid
    assert msg["senderIds"] == {"phone": f"{LINA}@c.us", "lid": lid}
    listed = gw.client.get(f"/sessions/{SID}/chats/{lid}/messages").json["data"]
    mine = next(m for m in listed if m["body"] == "halo dari lid")
    assert mine["senderIds"] == {"phone": f"{LINA}@c.us", "lid": lid}


def test_a_send_to_the_phone_number_lands_in_the_persons_lid_chat(gw, sandbox):
    lid = lid_of(sandbox, MIRA)
    incoming(gw, sandbox, MIRA, "mira bertanya")
    resp = gw.client.post(f"/sessions/{SID}/messages", json={"to": MIRA, "text": "ana menjawab"})
    assert resp.status_code == 201, resp.json
    at_network = sent_by_session(sandbox, "ana menjawab")
    assert at_network["chatId"] == lid  # the chat the session's WhatsApp files it under
    chats = gw.client.get(f"/sessions/{SID}/chats?refresh=true").json["data"]
    ids = {c["id"] for c in chats}
    assert lid in ids and f"{MIRA}@c.us" not in ids  # one chat with Mira, not two
    sent = resp.json
    assert sent["chatId"] == lid and sent["from"] == lid_of(sandbox, ANA)  # your @lid in @lid chats
    assert sent["senderIds"] == {"phone": f"{ANA}@c.us", "lid": lid_of(sandbox, ANA)}


def test_exists_gives_the_numbers_lid(gw, sandbox):
    resp = gw.client.get(f"/sessions/{SID}/contacts/{NINA}/exists")
    assert resp.status_code == 200
    assert resp.json["exists"] is True and resp.json["id"] == f"{NINA}@c.us"
    assert resp.json["lid"] == lid_of(sandbox, NINA)
    missing = gw.client.get(f"/sessions/{SID}/contacts/{number(9999999)}/exists").json
    assert missing == {"exists": False, "id": None, "lid": None, "isBusiness": False}


def test_a_lid_group_shows_authors_by_lid_and_mentions_by_phone_become_lid_mentions(gw, sandbox):
    group = sandbox.post("/_sandbox/groups", name="Grup LID", owner=PUTRI,
                         participants=[ANA, RAKA], addressing="lid")
    gid = group["id"]
    putri, raka = lid_of(sandbox, PUTRI), lid_of(sandbox, RAKA)
    assert group["isLidAddressingMode"] is True and group["owner"] == putri
    sandbox.post("/_sandbox/messages", **{"from": PUTRI, "to": gid, "text": "rapat jam 3"})
    msg = event(gw, "message", lambda d: d["body"] == "rapat jam 3")
    assert msg["chatId"] == gid and msg["author"] == putri
    assert msg["senderIds"] == {"phone": f"{PUTRI}@c.us", "lid": putri}
    resp = gw.client.post(f"/sessions/{SID}/messages",
                          json={"to": gid, "text": "siap, Raka ikut", "mentions": [RAKA]})
    assert resp.status_code == 201, resp.json
    at_network = sent_by_session(sandbox, "siap, Raka ikut")
    assert at_network["mentionedIds"] == [raka]  # the id the group knows Raka by
    assert at_network["mentions"] == [RAKA]  # so it really mentions Raka


def test_reply_to_takes_a_full_key_and_the_phone_sees_the_quote(gw, sandbox):
    original = incoming(gw, sandbox, SARI, "boleh dibalas?")
    bare = original["id"].split("_")[2]
    resp = gw.client.post(f"/sessions/{SID}/messages",
                          json={"to": SARI, "text": "ya", "replyTo": bare})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "validation_error"
    assert "full message key" in json.dumps(resp.json)
    resp = gw.client.post(f"/sessions/{SID}/messages",
                          json={"to": SARI, "text": "tentu", "replyTo": original["id"]})
    assert resp.status_code == 201, resp.json
    assert sent_by_session(sandbox, "tentu")["quotedId"] == bare


def test_a_reply_in_a_lid_chat_quotes_the_lid_message(gw, sandbox):
    original = incoming(gw, sandbox, OKTA, "pesan di chat lid")
    assert original["id"].startswith(f"false_{lid_of(sandbox, OKTA)}_")
    resp = gw.client.post(f"/sessions/{SID}/messages",
                          json={"to": OKTA, "text": "balasan lid", "replyTo": original["id"]})
    assert resp.status_code == 201, resp.json
    at_network = sent_by_session(sandbox, "balasan lid")
    assert at_network["quotedId"] == original["id"].split("_")[2]
    assert at_network["chatId"] == lid_of(sandbox, OKTA)


def test_a_send_follows_the_persons_chat_when_whatsapp_moves_it_to_lid(gw, sandbox):
    # The first send opens Tari's chat under her phone id; then WhatsApp moves her to a LID
    # and her next message opens her @lid chat. WhatsApp's chat.find now answers that chat for
    # her phone id, so a send whose pre-assigned id names the phone-id chat would be refused
    # (message_key_remote_id_is_not_same_of_chat).
    first = gw.client.post(f"/sessions/{SID}/messages", json={"to": TARI, "text": "halo tari"})
    assert first.status_code == 201, first.json
    assert first.json["chatId"] == f"{TARI}@c.us"
    sandbox.phone(TARI, "Tari", addressing="lid")
    lid = lid_of(sandbox, TARI)
    assert incoming(gw, sandbox, TARI, "tari sekarang lid")["chatId"] == lid
    second = gw.client.post(f"/sessions/{SID}/messages", json={"to": TARI, "text": "masih tersambung"})
    assert second.status_code == 201, second.json
    assert second.json["chatId"] == lid and second.json["id"].startswith(f"true_{lid}_")
    assert sent_by_session(sandbox, "masih tersambung")["chatId"] == lid
