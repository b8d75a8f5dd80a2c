"""Messages and chats end to end: HTTP, real Chromium through Selenium, and the sandbox.

One linked session serves the whole module (linking costs a browser start and a QR scan);
each test talks to its own peer phones, so the tests do not depend on each other's chats.
"""

from __future__ import annotations

import base64
import io
from urllib.parse import quote

import pytest
import requests
import segno

from ..conftest import error_code, phones, typed, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "msg"
ALICE = number(1)  # the session's phone
BUDI, CITRA, DEWI, EKO, FAJAR, GITA = (number(n) for n in range(2, 8))
NOBODY = number(9999999)  # not on WhatsApp

PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
OGG = b"OggS\x00\x02" + bytes(58)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)


def png_bytes(text: str = "waengine") -> bytes:
    out = io.BytesIO()
    segno.make(text).save(out, kind="png", scale=4)
    return out.getvalue()


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    for phone, name in ((BUDI, "Budi"), (CITRA, "Citra"), (DEWI, "Dewi"), (EKO, "Eko"),
                        (FAJAR, "Fajar"), (GITA, "Gita")):
        box.phone(phone, name)
    box.phone(ALICE, "Alice", contacts=[{"phone": BUDI, "name": "Budi"},
                                        {"phone": CITRA, "name": "Citra"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("messaging"), SID, ALICE) as gateway:
        yield gateway


def sent_by(sandbox, sender: str) -> list[dict]:
    resp = requests.get(f"{sandbox.url}/_sandbox/messages", params={"from": sender}, timeout=10)
    return resp.json()["data"]


def incoming(gw, sandbox, sender: str, text: str) -> dict:
    """A phone sends the session a text; return the message as the session's chat shows it."""
    sandbox.post("/_sandbox/messages", **{"from": sender, "to": ALICE, "text": text})
    return wait_for(lambda: next((m for m in gw.get(f"/chats/{sender}/messages").json.get(
        "data", []) if m["body"] == text), None), message=f"{text!r} in the session")


# ---- text ----

def test_a_reply_with_mentions_reaches_the_phone_quoting_the_message(gw, sandbox):
    original = incoming(gw, sandbox, BUDI, "Rapat jam berapa?")
    assert original["fromMe"] is False and original["from"] == f"{BUDI}@c.us"
    text = "Jam 3, ajak @Citra"
    resp = gw.post("/messages", json={"to": BUDI, "text": text, "replyTo": original["id"],
                                       "mentions": [typed(CITRA)]})
    assert resp.status_code == 201, resp.json
    msg = resp.json
    assert msg["quotedId"] == original["id"] and msg["mentions"] == [f"{CITRA}@c.us"]
    assert msg["type"] == "chat" and msg["fromMe"] is True and msg["chatId"] == f"{BUDI}@c.us"
    assert msg["ack"] in ("sent", "delivered", "read")
    at_phone = wait_for(lambda: [m for m in sandbox.inbox(BUDI) if m["text"] == text],
                        message="the reply at Budi's phone")[0]
    assert at_phone["quotedId"] == original["id"].split("_")[2]
    assert at_phone["mentions"] == [CITRA]


def message_events(gw) -> list[dict]:
    resp = gw.get("/events/recent", query_string={"limit": 500})
    assert resp.status_code == 200, resp.json
    return [e["data"] for e in resp.json["data"] if e["type"] == "message"]


def test_incoming_messages_reach_events_whether_or_not_they_reply(gw, sandbox):
    # wa-js's MsgModel.prototype.quotedMsgId throws on a message that is not a reply (the
    # sandbox's getter does too): the bridge must never read it for such a message.
    sandbox.post("/_sandbox/messages", **{"from": GITA, "to": ALICE, "text": "Halo, bukan balasan"})
    plain = wait_for(lambda: next((m for m in message_events(gw)
                                   if m["body"] == "Halo, bukan balasan"), None),
                     message="the plain message as an event")
    assert "quotedId" not in plain and plain["from"] == f"{GITA}@c.us"
    bare = plain["id"].split("_")[2]
    sandbox.post("/_sandbox/messages", **{"from": GITA, "to": ALICE, "text": "Ini balasan",
                                         "quotedId": bare})
    reply = wait_for(lambda: next((m for m in message_events(gw) if m["body"] == "Ini balasan"),
                                  None), message="the reply as an event")
    assert reply["quotedId"] == plain["id"]
    listed = gw.get(f"/chats/{GITA}/messages").json["data"]
    assert {m["body"]: m.get("quotedId") for m in listed if m["body"] in (
        "Halo, bukan balasan", "Ini balasan")} == {"Halo, bukan balasan": None,
                                                   "Ini balasan": plain["id"]}


def test_recipients_in_any_common_spelling_reach_the_same_chat(gw, sandbox):
    for spelling in (typed(DEWI), typed(DEWI, "{cc} ({a}) {b}.{c}"), f"{DEWI}@c.us"):
        resp = gw.post("/messages", json={"to": spelling, "text": f"via {spelling}"})
        assert resp.status_code == 201, (spelling, resp.json)
        assert resp.json["to"] == resp.json["chatId"] == f"{DEWI}@c.us"
    wait_for(lambda: len(sandbox.inbox(DEWI)) >= 3, message="three messages at Dewi's phone")


def test_bad_recipients_and_bodies_are_422_with_a_clear_message(gw):
    resp = gw.post("/messages", json={"to": NOBODY, "text": "halo"})
    assert resp.status_code == 422 and error_code(resp) == "recipient_not_on_whatsapp"
    assert NOBODY in resp.json["error"]["message"]
    for body in ({"to": "hello", "text": "x"}, {"to": "0812345", "text": "x"},
                 {"to": "120363000000000001@g.us", "text": "x"}, {"to": BUDI},
                 {"text": "x"}, {"to": BUDI, "text": ""}, {"to": BUDI, "text": "x", "y": 1},
                 {"to": BUDI, "text": "x", "mentions": ["120363000000000001@g.us"]},
                 {"to": BUDI, "text": "x", "replyTo": f"false_{BUDI}@c.us_3EB0AAAAAAAAAAAAAAAA"}):
        resp = gw.post("/messages", json=body)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.json["error"]["message"], body


# ---- media ----

def test_an_image_by_multipart_arrives_with_its_caption(gw, sandbox):
    image = png_bytes()
    resp = gw.post("/messages/media", data={"to": EKO, "caption": "Foto KTP",
                                             "file": (io.BytesIO(image), "ktp.png")},
                content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    msg = resp.json
    assert (msg["type"], msg["caption"], msg["mimetype"], msg["filename"]) == (
        "image", "Foto KTP", "image/png", "ktp.png")
    at_phone = wait_for(lambda: [m for m in sandbox.inbox(EKO) if m["type"] == "image"],
                        message="the image at Eko's phone")[-1]
    assert at_phone["size"] == len(image) and at_phone["caption"] == "Foto KTP"


def test_a_document_by_json_base64_gets_a_clean_file_name(gw, sandbox):
    media = {"data": base64.b64encode(PDF).decode(), "mimetype": "application/pdf",
             "filename": "..\\..\\windows/../etc/Laporan\u202eMei 2025.pdf"}
    resp = gw.post("/messages/media", json={"to": EKO, "media": media})
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "document" and resp.json["filename"] == "LaporanMei 2025.pdf"
    assert resp.json["caption"] == "LaporanMei 2025.pdf"  # WhatsApp's caption without one
    at_phone = wait_for(lambda: [m for m in sandbox.inbox(EKO) if m["type"] == "document"],
                        message="the document at Eko's phone")[-1]
    assert at_phone["filename"] == "LaporanMei 2025.pdf" and at_phone["size"] == len(PDF)


def test_audio_and_video_go_as_what_they_are_and_a_data_url_is_accepted(gw):
    ogg = "data:audio/ogg;base64," + base64.b64encode(OGG).decode()
    resp = gw.post("/messages/media", json={"to": EKO, "media": {"data": ogg,
                                                                   "filename": "voice.ogg"}})
    assert resp.status_code == 201 and resp.json["type"] == "audio", resp.json
    resp = gw.post("/messages/media", data={"to": EKO, "file": (io.BytesIO(MP4), "clip.mp4")},
                content_type="multipart/form-data")
    assert resp.status_code == 201 and resp.json["type"] == "video", resp.json
    assert resp.json["mimetype"] == "video/mp4"


def test_a_file_at_the_16_mb_limit_goes_through_one_byte_more_is_413(gw, sandbox):
    limit = gw.app.config["UPLOAD_MAX_BYTES"]
    big = PDF + bytes(limit - len(PDF))
    resp = gw.post("/messages/media", data={"to": FAJAR, "file": (io.BytesIO(big), "big.pdf")},
                content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    wait_for(lambda: [m for m in sandbox.inbox(FAJAR) if m["size"] == limit],
             message="16 MB at Fajar's phone")
    too_big = big + b"\0"
    resp = gw.post("/messages/media", data={"to": FAJAR, "file": (io.BytesIO(too_big), "b.pdf")},
                content_type="multipart/form-data")
    assert resp.status_code == 413 and error_code(resp) == "payload_too_large"
    assert resp.json["error"]["details"]["limitBytes"] == limit
    media = {"data": base64.b64encode(too_big).decode(), "filename": "b.pdf"}
    resp = gw.post("/messages/media", json={"to": FAJAR, "media": media})
    assert resp.status_code == 413 and error_code(resp) == "payload_too_large"


@pytest.mark.parametrize("name, content, why", [
    ("setup.exe", b"MZ\x90\x00" + bytes(64), "extension not allowed"),
    ("photo.png", PDF, "a PDF named .png"),
    ("report.pdf", png_bytes(), "a PNG named .pdf"),
    ("notes.txt", b"\x00\x01\x02binary\xff\xfe", "binary named .txt"),
    ("archive.docx", b"PK\x03\x04" + bytes(40), "a zip that is no Word file"),
    ("noextension", PDF, "no extension"),
])
def test_a_file_whose_type_is_not_allowed_or_not_what_it_says_is_415(gw, name, content, why):
    resp = gw.post("/messages/media", data={"to": EKO, "file": (io.BytesIO(content), name)},
                content_type="multipart/form-data")
    assert resp.status_code == 415, (why, resp.json)
    assert error_code(resp) == "unsupported_media_type" and resp.json["error"]["message"]


def test_a_declared_type_that_contradicts_the_content_is_415(gw):
    media = {"data": base64.b64encode(PDF).decode(), "filename": "a.pdf", "mimetype": "image/png"}
    resp = gw.post("/messages/media", json={"to": EKO, "media": media})
    assert resp.status_code == 415, resp.json
    resp = gw.post("/messages/media", data=PDF, content_type="application/pdf")
    assert resp.status_code == 415, resp.json


def test_media_requests_missing_a_part_are_422(gw):
    image = png_bytes()
    cases = [
        {"data": {"to": EKO}},  # no file
        {"data": {"file": (io.BytesIO(image), "a.png")}},  # no recipient
        {"data": {"to": EKO, "file": [(io.BytesIO(image), "a.png"), (io.BytesIO(image), "b.png")]}},
        {"data": {"to": EKO, "photo": (io.BytesIO(image), "a.png")}},  # wrong field name
        {"data": {"to": EKO, "file": (io.BytesIO(b""), "a.png")}},  # empty file
        {"json": {"to": EKO}},
        {"json": {"to": EKO, "media": {"data": "bm90IGJhc2U2NA=?=", "filename": "a.png"}}},
        {"json": {"to": EKO, "media": {"data": "aGVsbG8="}}},  # no file name
        {"json": {"to": "nobody", "media": {"data": base64.b64encode(image).decode(),
                                            "filename": "a.png"}}},
    ]
    for case in cases:
        if "data" in case:
            resp = gw.post("/messages/media", data=case["data"],
                        content_type="multipart/form-data")
        else:
            resp = gw.post("/messages/media", json=case["json"])
        assert resp.status_code == 422, (case, resp.json)
        assert error_code(resp) == "validation_error"


# ---- location and reactions ----

def test_a_location_arrives_with_its_name(gw, sandbox):
    resp = gw.post("/messages/location", json={"to": GITA, "latitude": -6.1754,
                                                "longitude": 106.8272, "name": "Monas",
                                                "address": "Jakarta Pusat"})
    assert resp.status_code == 201, resp.json
    assert resp.json["type"] == "location"
    assert resp.json["location"] == {"latitude": -6.1754, "longitude": 106.8272, "name": "Monas",
                                     "address": "Jakarta Pusat"}
    at_phone = wait_for(lambda: [m for m in sandbox.inbox(GITA) if m["type"] == "location"],
                        message="the location at Gita's phone")[-1]
    assert (at_phone["lat"], at_phone["lng"], at_phone["loc"]) == (
        -6.1754, 106.8272, "Monas\nJakarta Pusat")
    for bad in ({"to": GITA, "latitude": 91, "longitude": 0}, {"to": GITA, "latitude": 0},
                {"to": GITA, "latitude": "x", "longitude": 1}):
        assert gw.post("/messages/location", json=bad).status_code == 422, bad


def test_a_reaction_is_sent_and_removed(gw, sandbox):
    original = incoming(gw, sandbox, GITA, "Sudah sampai!")
    resp = gw.post(f"/messages/{original['id']}/reaction", json={"emoji": "👍"})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"messageId": original["id"], "emoji": "👍", "result": "OK"}
    wait_for(lambda: [m for m in sent_by(sandbox, ALICE) if m["type"] == "reaction"
                      and m["text"] == "👍" and m["quotedId"] == original["id"].split("_")[2]],
             message="the reaction at Gita's phone")
    assert gw.post(f"/messages/{original['id']}/reaction", json={"emoji": ""}).status_code == 200
    unknown = f"false_{GITA}@c.us_3EB0000000000000DEAD"
    resp = gw.post(f"/messages/{unknown}/reaction", json={"emoji": "👍"})
    assert resp.status_code == 404, resp.json
    assert gw.post("/messages/not-a-key/reaction", json={"emoji": "👍"}).status_code == 422
    assert gw.post(f"/messages/{original['id']}/reaction", json={"emoji": "ok"}).status_code == 422


# ---- chats ----

def test_chats_are_cached_and_a_new_chat_from_the_phone_invalidates_them(gw, sandbox):
    first = gw.get("/chats?refresh=true").json
    assert first["cached"] is False and first["data"]
    second = gw.get("/chats").json
    assert second == {**first, "cached": True}
    assert set(second["data"][0]) == {"id", "name", "isGroup", "unreadCount", "timestamp",
                                      "archived", "pinned", "muted", "mutedUntil", "labels"}
    newcomer = number(42)
    sandbox.phone(newcomer, "Hadi")
    assert newcomer + "@c.us" not in {c["id"] for c in second["data"]}
    sandbox.post("/_sandbox/messages", **{"from": newcomer, "to": ALICE, "text": "Kenalan dong"})
    fresh = wait_for(lambda: (r := gw.get("/chats").json)["cached"] is False and r,
                     message="the chat list invalidated by the new chat")
    chat = next(c for c in fresh["data"] if c["id"] == newcomer + "@c.us")
    assert chat["unreadCount"] == 1 and chat["isGroup"] is False


def test_history_returns_the_newest_messages_oldest_first_up_to_limit(gw, sandbox):
    for text in ("satu", "dua", "tiga"):
        assert gw.post("/messages", json={"to": CITRA, "text": text}).status_code == 201
    two = gw.get(f"/chats/{CITRA}/messages?limit=2").json["data"]
    assert [m["body"] for m in two] == ["dua", "tiga"]
    assert all(m["fromMe"] and m["chatId"] == f"{CITRA}@c.us" for m in two)
    assert [m["body"] for m in gw.get(f"/chats/{quote(typed(CITRA), safe='')}/messages").json["data"]][-3:] \
        == ["satu", "dua", "tiga"]
    for limit in ("0", "501", "x"):
        assert gw.get(f"/chats/{CITRA}/messages?limit={limit}").status_code == 422, limit
    resp = gw.get(f"/chats/{number(99)}/messages")
    assert resp.status_code == 404 and error_code(resp) == "not_found"


def test_mark_read_sends_blue_ticks_and_clears_the_unread_count(gw, sandbox):
    peer = number(43)
    sandbox.phone(peer, "Indah")
    for text in ("pesan 1", "pesan 2"):
        sandbox.post("/_sandbox/messages", **{"from": peer, "to": ALICE, "text": text})
    unread = wait_for(lambda: next((c["unreadCount"] for c in gw.get("/chats?refresh=true").json[
        "data"] if c["id"] == peer + "@c.us" and c["unreadCount"] == 2), None),
        message="two unread messages")
    assert unread == 2
    resp = gw.post(f"/chats/{peer}/read")
    assert resp.status_code == 200 and resp.json == {"chatId": peer + "@c.us", "unreadCount": 2}
    wait_for(lambda: all(m["ack"] == 3 for m in sent_by(sandbox, peer)), message="blue ticks")
    after = gw.get("/chats").json
    assert after["cached"] is False  # the read invalidated the cached list
    assert next(c for c in after["data"] if c["id"] == peer + "@c.us")["unreadCount"] == 0
    assert gw.post(f"/chats/{number(99)}/read").status_code == 404
