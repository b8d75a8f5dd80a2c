"""Message actions end to end: delete for everyone, edit, forward, with their events.

HTTP → real Chromium → the sandbox's WPP.chat functions → the sandbox network → the phones.
One linked session serves the module; each test talks to its own peer phones.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "act"
ALICE = number(1)  # the session's phone
BUDI, CITRA, DEWI, EKO = (number(n) for n in range(2, 6))


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    for phone, name in ((BUDI, "Budi"), (CITRA, "Citra"), (DEWI, "Dewi"), (EKO, "Eko")):
        box.phone(phone, name)
    box.phone(ALICE, "Alice", contacts=[{"phone": BUDI, "name": "Budi"},
                                        {"phone": CITRA, "name": "Citra"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("actions"), SID, ALICE) as gateway:
        yield gateway


def send_text(gw, to: str, text: str) -> dict:
    resp = gw.client.post(f"/sessions/{SID}/messages", json={"to": to, "text": text})
    assert resp.status_code == 201, resp.json
    return resp.json


def incoming(gw, sandbox, sender: str, text: str) -> dict:
    """A phone sends the session a text; return it as the session's chat shows it."""
    sandbox.post("/_sandbox/messages", **{"from": sender, "to": ALICE, "text": text})
    return wait_for(lambda: next((m for m in gw.client.get(
        f"/sessions/{SID}/chats/{sender}/messages").json.get("data", []) if m["body"] == text),
        None), message=f"{text!r} in the session")


def on_phone(sandbox, to: str | None = None, sender: str | None = None) -> list[dict]:
    """What the sandbox network holds: messages to / from a phone."""
    query = {"to": to, "from": sender}
    return requests.get(f"{sandbox.url}/_sandbox/messages", params=query, timeout=10).json()["data"]


def events(gw, type_: str) -> list[dict]:
    rows = gw.engine.events.outbox.since(SID, 0, limit=5000)
    return [json.loads(r["body"])["data"] for r in rows if r["type"] == type_]


# ---- delete ----

def test_delete_for_everyone_revokes_it_on_the_phone_and_emits_message_revoked(gw, sandbox):
    sent = send_text(gw, BUDI, "Oops, wrong chat")
    resp = gw.client.delete(f"/sessions/{SID}/messages/{sent['id']}?forEveryone=true")
    assert resp.status_code == 200, resp.json
    assert resp.json == {"id": sent["id"], "revoked": True, "deleted": True}
    phone_copy = next(m for m in on_phone(sandbox, to=BUDI) if m["key"] == sent["id"])
    assert phone_copy["revoked"] is True
    revoked = wait_for(lambda: [e for e in events(gw, "message.revoked") if e["id"] == sent["id"]],
                       message="message.revoked event")
    assert revoked[0]["type"] == "sender_revoke"
    chat = gw.client.get(f"/sessions/{SID}/chats/{BUDI}/messages").json["data"]
    assert next(m for m in chat if m["id"] == sent["id"])["type"] == "revoked"


def test_delete_for_everyone_of_someone_elses_message_is_422_and_keeps_it(gw, sandbox):
    theirs = incoming(gw, sandbox, CITRA, "Not yours to delete")
    resp = gw.client.delete(f"/sessions/{SID}/messages/{theirs['id']}?forEveryone=true")
    assert resp.status_code == 422 and error_code(resp) == "not_own_message"
    chat = gw.client.get(f"/sessions/{SID}/chats/{CITRA}/messages").json["data"]
    assert next(m for m in chat if m["id"] == theirs["id"])["body"] == "Not yours to delete"
    assert not next(m for m in on_phone(sandbox, sender=CITRA) if m["text"] ==
                    "Not yours to delete")["revoked"]


def test_delete_for_me_removes_it_from_the_session_only(gw, sandbox):
    theirs = incoming(gw, sandbox, CITRA, "Delete me here only")
    resp = gw.client.delete(f"/sessions/{SID}/messages/{theirs['id']}")
    assert resp.status_code == 200 and resp.json["revoked"] is False and resp.json["deleted"]
    chat = gw.client.get(f"/sessions/{SID}/chats/{CITRA}/messages").json["data"]
    assert theirs["id"] not in [m["id"] for m in chat]
    assert not next(m for m in on_phone(sandbox, to=ALICE) if m["text"] ==
                    "Delete me here only")["revoked"]


def test_acting_on_an_unknown_message_is_404_and_a_bad_id_422(gw):
    unknown = f"true_{BUDI}@c.us_3EB0AAAAAAAAAAAAAAAA"
    assert gw.client.delete(f"/sessions/{SID}/messages/{unknown}").status_code == 404
    resp = gw.client.patch(f"/sessions/{SID}/messages/{unknown}", json={"text": "x"})
    assert resp.status_code == 404
    resp = gw.client.post(f"/sessions/{SID}/messages/{unknown}/forward", json={"to": CITRA})
    assert resp.status_code == 404
    resp = gw.client.patch(f"/sessions/{SID}/messages/nonsense", json={"text": "x"})
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "messageId"
    sent = send_text(gw, BUDI, "valid id, bad body")
    resp = gw.client.patch(f"/sessions/{SID}/messages/{sent['id']}", json={"text": ""})
    assert resp.status_code == 422 and error_code(resp) == "validation_error"


def test_a_message_is_found_by_its_exact_key_only(gw, sandbox):
    # WhatsApp's getMessageById looks a key up exactly: the right random id under another
    # chat, or with the other direction, is no message (the sandbox no longer matches the id).
    sent = send_text(gw, DEWI, "kunci yang tepat")
    _, chat, random = sent["id"].split("_")
    for wrong in (f"true_{EKO}@c.us_{random}", f"false_{chat}_{random}"):
        resp = gw.client.patch(f"/sessions/{SID}/messages/{wrong}", json={"text": "salah"})
        assert resp.status_code == 404, (wrong, resp.json)
        resp = gw.client.post(f"/sessions/{SID}/messages/{wrong}/reaction", json={"emoji": "👍"})
        assert resp.status_code == 404, (wrong, resp.json)
    resp = gw.client.patch(f"/sessions/{SID}/messages/{sent['id']}", json={"text": "kunci tepat"})
    assert resp.status_code == 200, resp.json


# ---- edit ----

def test_edit_shows_the_new_text_on_the_phone_and_emits_message_edited(gw, sandbox):
    sent = send_text(gw, DEWI, "Meeting at 10")
    resp = gw.client.patch(f"/sessions/{SID}/messages/{sent['id']}", json={"text": "Meeting at 11"})
    assert resp.status_code == 200, resp.json
    assert resp.json["id"] == sent["id"] and resp.json["body"] == "Meeting at 11"
    phone_copy = next(m for m in on_phone(sandbox, to=DEWI) if m["key"] == sent["id"])
    assert phone_copy["text"] == "Meeting at 11" and phone_copy["editedAt"]
    edited = wait_for(lambda: [e for e in events(gw, "message.edited") if e["id"] == sent["id"]],
                      message="message.edited event")
    assert edited[-1]["body"] == "Meeting at 11" and edited[-1]["fromMe"] is True


def test_an_edit_leaves_the_chat_unread(gw, sandbox):
    # wa-js sends an edit like a message: with its default options it marks the chat read
    mine = send_text(gw, CITRA, "pesan untuk diubah")
    incoming(gw, sandbox, CITRA, "belum dibaca")
    resp = gw.client.patch(f"/sessions/{SID}/messages/{mine['id']}", json={"text": "sudah diubah"})
    assert resp.status_code == 200, resp.json
    chats = gw.client.get(f"/sessions/{SID}/chats?refresh=true").json["data"]
    assert next(c for c in chats if c["id"] == f"{CITRA}@c.us")["unreadCount"] >= 1


def test_editing_someone_elses_message_is_422(gw, sandbox):
    theirs = incoming(gw, sandbox, DEWI, "Their words")
    resp = gw.client.patch(f"/sessions/{SID}/messages/{theirs['id']}", json={"text": "Mine now"})
    assert resp.status_code == 422 and error_code(resp) == "not_own_message"
    assert next(m for m in on_phone(sandbox, sender=DEWI) if m["text"] == "Their words")


def test_a_phone_editing_its_message_reaches_the_session_as_message_edited(gw, sandbox):
    theirs = incoming(gw, sandbox, EKO, "See you at 7")
    phone_msg = next(m for m in on_phone(sandbox, sender=EKO) if m["text"] == "See you at 7")
    sandbox.post(f"/_sandbox/messages/{phone_msg['id']}/edit", text="See you at 8")
    edited = wait_for(lambda: [e for e in events(gw, "message.edited") if e["id"] == theirs["id"]],
                      message="message.edited event")
    assert edited[-1]["body"] == "See you at 8" and edited[-1]["fromMe"] is False
    chat = gw.client.get(f"/sessions/{SID}/chats/{EKO}/messages").json["data"]
    assert next(m for m in chat if m["id"] == theirs["id"])["body"] == "See you at 8"


# ---- forward ----

def test_forward_arrives_at_the_other_phone_marked_forwarded(gw, sandbox):
    theirs = incoming(gw, sandbox, BUDI, "Please pass this on")
    resp = gw.client.post(f"/sessions/{SID}/messages/{theirs['id']}/forward", json={"to": EKO})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"id": theirs["id"], "to": f"{EKO}@c.us", "forwarded": True}
    arrived = wait_for(lambda: [m for m in on_phone(sandbox, to=EKO)
                                if m["text"] == "Please pass this on" and m["from"] == ALICE],
                       message="the forward on Eko's phone")
    assert arrived[0]["forwarded"] is True


def test_forward_to_a_number_not_on_whatsapp_is_422(gw, sandbox):
    theirs = incoming(gw, sandbox, BUDI, "Forward me nowhere")
    resp = gw.client.post(f"/sessions/{SID}/messages/{theirs['id']}/forward",
                          json={"to": number(9999999)})
    assert resp.status_code == 422 and error_code(resp) == "recipient_not_on_whatsapp"


# ---- star and pin ----

def test_star_and_unstar_reach_the_account_s_phone(gw, sandbox):
    theirs = incoming(gw, sandbox, CITRA, "Keep this address")
    resp = gw.client.post(f"/sessions/{SID}/messages/{theirs['id']}/star", json={})
    assert resp.status_code == 200 and resp.json == {"id": theirs["id"], "star": True}
    phone_copy = next(m for m in on_phone(sandbox, sender=CITRA) if m["text"] == "Keep this address")
    assert phone_copy["starredBy"] == [ALICE]
    resp = gw.client.post(f"/sessions/{SID}/messages/{theirs['id']}/star", json={"star": False})
    assert resp.status_code == 200 and resp.json["star"] is False
    phone_copy = next(m for m in on_phone(sandbox, sender=CITRA) if m["text"] == "Keep this address")
    assert phone_copy["starredBy"] == []


def test_pin_shows_on_both_phones_for_its_duration_and_twice_is_422(gw, sandbox):
    sent = send_text(gw, CITRA, "Agenda for Monday")
    path = f"/sessions/{SID}/messages/{sent['id']}/pin"
    resp = gw.client.post(path, json={"duration": "OneDay"})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"id": sent["id"], "pinned": True, "duration": "OneDay"}
    phone_copy = next(m for m in on_phone(sandbox, to=CITRA) if m["key"] == sent["id"])
    assert 86400 - 60 <= phone_copy["pinnedUntil"] - phone_copy["timestamp"] <= 86400 + 60
    again = gw.client.post(path, json={})
    assert again.status_code == 422 and error_code(again) == "message_not_pinnable"
    assert gw.client.post(path, json={"duration": "Forever"}).status_code == 422
    resp = gw.client.post(path, json={"pin": False})
    assert resp.status_code == 200 and resp.json["pinned"] is False
    assert next(m for m in on_phone(sandbox, to=CITRA) if m["key"] == sent["id"])[
        "pinnedUntil"] is None


# ---- polls ----

def test_a_poll_reaches_the_phone_and_its_votes_come_back_as_poll_vote(gw, sandbox):
    resp = gw.client.post(f"/sessions/{SID}/messages/poll", json={
        "to": EKO, "name": "Lunch?", "options": ["Nasi goreng", "Sate", "Soto"],
        "selectableCount": 1})
    assert resp.status_code == 201, resp.json
    sent = resp.json
    assert sent["type"] == "poll_creation" and sent["body"] == "Lunch?"
    assert sent["poll"] == {"name": "Lunch?", "options": ["Nasi goreng", "Sate", "Soto"],
                            "selectableCount": 1}
    phone_copy = next(m for m in on_phone(sandbox, to=EKO) if m["key"] == sent["id"])
    assert phone_copy["poll"]["options"] == ["Nasi goreng", "Sate", "Soto"]
    sandbox.post(f"/_sandbox/messages/{phone_copy['id']}/vote", **{"from": EKO, "options": ["Sate"]})
    sandbox.post(f"/_sandbox/messages/{phone_copy['id']}/vote", **{"from": EKO, "options": ["Soto"]})
    votes = wait_for(lambda: (v := [e for e in events(gw, "poll.vote")
                                    if e["messageId"] == sent["id"]]) and len(v) == 2 and v,
                     message="two poll.vote events")
    assert [v["options"] for v in votes] == [["Sate"], ["Soto"]]
    assert votes[0]["voter"] == f"{EKO}@c.us" and votes[0]["chatId"] == f"{EKO}@c.us"
    too_many = requests.post(f"{sandbox.url}/_sandbox/messages/{phone_copy['id']}/vote",
                             json={"from": EKO, "options": ["Sate", "Soto"]}, timeout=10)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "invalid_vote"


def test_a_poll_with_too_few_or_repeated_options_is_422(gw):
    for body in ({"to": EKO, "name": "One?", "options": ["Only"]},
                 {"to": EKO, "name": "Same?", "options": ["A", "A"]},
                 {"to": EKO, "name": "Pick 3", "options": ["A", "B"], "selectableCount": 3}):
        resp = gw.client.post(f"/sessions/{SID}/messages/poll", json=body)
        assert resp.status_code == 422 and error_code(resp) == "validation_error", body


# ---- voice notes and stickers ----

# An Ogg page (27-byte header, one segment) holding an OpusHead packet; a Vorbis one for contrast.
OGG_OPUS = (b"OggS\x00\x02" + bytes(20) + b"\x01\x13" + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00"
            + b"\x00\x00\x00" + b"OggS\x00\x00" + bytes(20) + b"\x01\x10" + b"OpusTags" + bytes(8))
OGG_VORBIS = b"OggS\x00\x02" + bytes(20) + b"\x01\x1e" + b"\x01vorbis" + bytes(23)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + bytes(24)


def upload(gw, kind: str, to: str, filename: str, data: bytes):
    return gw.client.post(f"/sessions/{SID}/messages/{kind}", data={
        "to": to, "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def test_a_voice_note_arrives_as_ptt_ogg_opus(gw, sandbox):
    resp = upload(gw, "voice", DEWI, "note.ogg", OGG_OPUS)
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "ptt" and resp.json["mimetype"].startswith("audio/ogg")
    phone_copy = next(m for m in on_phone(sandbox, to=DEWI) if m["key"] == resp.json["id"])
    assert phone_copy["type"] == "ptt" and phone_copy["size"] == len(OGG_OPUS)
    assert phone_copy["caption"] is None
    media = gw.client.get(f"/sessions/{SID}/messages/{resp.json['id']}/media")
    assert media.status_code == 200 and media.data == OGG_OPUS


def test_a_voice_note_must_be_ogg_opus_and_a_sticker_webp(gw):
    vorbis = upload(gw, "voice", DEWI, "song.ogg", OGG_VORBIS)
    assert vorbis.status_code == 415 and error_code(vorbis) == "unsupported_media_type"
    mp3 = upload(gw, "voice", DEWI, "note.mp3", b"ID3\x03\x00" + bytes(64))
    assert mp3.status_code == 415
    renamed = upload(gw, "sticker", DEWI, "sticker.webp", OGG_OPUS)
    assert renamed.status_code == 415 and "content" in renamed.json["error"]["message"]
    png = upload(gw, "sticker", DEWI, "sticker.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert png.status_code == 415
    big = upload(gw, "sticker", DEWI, "big.webp", WEBP + bytes(1024 * 1024))
    assert big.status_code == 413


def test_a_sticker_arrives_as_a_sticker(gw, sandbox):
    body = {"to": EKO, "media": {"data": base64.b64encode(WEBP).decode(),
                                 "filename": "smile.webp"}}
    resp = gw.client.post(f"/sessions/{SID}/messages/sticker", json=body)
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "sticker" and resp.json["mimetype"] == "image/webp"
    phone_copy = next(m for m in on_phone(sandbox, to=EKO) if m["key"] == resp.json["id"])
    assert phone_copy["type"] == "sticker" and phone_copy["size"] == len(WEBP)


# ---- contact cards ----

def test_a_contact_card_arrives_as_a_vcard_and_several_as_multi_vcard(gw, sandbox):
    resp = gw.client.post(f"/sessions/{SID}/messages/contact", json={
        "to": DEWI, "contacts": [{"id": BUDI, "name": "Budi Santoso"}]})
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "vcard"
    [card] = resp.json["contacts"]
    assert card["name"] == "Budi Santoso" and f"waid={BUDI}:+{BUDI}" in card["vcard"]
    phone_copy = next(m for m in on_phone(sandbox, to=DEWI) if m["key"] == resp.json["id"])
    assert phone_copy["type"] == "vcard" and "FN:Budi Santoso" in phone_copy["vcards"][0]["vcard"]
    resp = gw.client.post(f"/sessions/{SID}/messages/contact", json={
        "to": DEWI, "contacts": [{"id": BUDI}, {"id": f"{CITRA}@c.us", "name": "Citra"}]})
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "multi_vcard"
    assert [c["name"] for c in resp.json["contacts"]] == ["Budi", "Citra"]  # Budi: Alice's book
    phone_copy = next(m for m in on_phone(sandbox, to=DEWI) if m["key"] == resp.json["id"])
    assert [c["displayName"] for c in phone_copy["vcards"]] == ["Budi", "Citra"]


def test_a_contact_card_needs_a_person(gw):
    for contacts in ([], [{"id": "120363000000000001@g.us"}], [{"name": "No number"}]):
        resp = gw.client.post(f"/sessions/{SID}/messages/contact",
                              json={"to": DEWI, "contacts": contacts})
        assert resp.status_code == 422 and error_code(resp) == "validation_error", contacts
