"""The API's shapes (docs/api.md) from the bridge's JSON: plain fields, named acks, no raw models."""

import pytest

from waengine import shapes

RAW_MESSAGE = {
    "id": "true_6281@c.us_3EB0AA", "chatId": "6281@c.us", "fromMe": True, "from": "6280@c.us",
    "to": "6281@c.us", "author": None, "type": "chat", "subtype": None, "body": "halo",
    "caption": None, "timestamp": 1700000000, "ack": 2, "mimetype": None, "filename": None,
    "size": None, "lat": None, "lng": None, "quotedId": None, "mentions": [],
    "notifyName": "Alice", "isGroupMsg": False, "sender": None,
}


def test_a_text_message_has_the_api_fields_and_nothing_raw():
    assert shapes.message(RAW_MESSAGE) == {
        "id": "true_6281@c.us_3EB0AA", "chatId": "6281@c.us", "from": "6280@c.us",
        "to": "6281@c.us", "fromMe": True, "type": "chat", "body": "halo",
        "timestamp": 1700000000, "ack": "delivered",
        "senderIds": {"phone": "6280@c.us", "lid": None}}


@pytest.mark.parametrize("raw, name", [
    (-7, "failed"), (-1, "failed"), (0, "pending"), (1, "sent"), (2, "delivered"), (3, "read"),
    (4, "read"), (5, "read"), (None, "pending"), ("x", "pending"),
])
def test_acks_are_named(raw, name):
    assert shapes.ack_name(raw) == name
    assert shapes.message({**RAW_MESSAGE, "ack": raw})["ack"] in (
        "pending", "sent", "delivered", "read", "failed")


def test_media_replies_mentions_and_locations_carry_their_optional_fields():
    media = shapes.message({**RAW_MESSAGE, "type": "document", "body": "Mei",
                            "caption": "Mei", "mimetype": "application/pdf",
                            "filename": "mei.pdf", "size": 1234, "quotedId": "false_x_1",
                            "mentions": ["6282@c.us"]})
    assert {k: media[k] for k in ("caption", "mimetype", "filename", "size", "quotedId",
                                  "mentions")} == {
        "caption": "Mei", "mimetype": "application/pdf", "filename": "mei.pdf", "size": 1234,
        "quotedId": "false_x_1", "mentions": ["6282@c.us"]}
    place = shapes.message({**RAW_MESSAGE, "type": "location", "body": "Monas\nJakarta",
                            "lat": -6.17, "lng": 106.82})
    assert place["location"] == {"latitude": -6.17, "longitude": 106.82, "name": "Monas",
                                 "address": "Jakarta"}
    bare = shapes.message({**RAW_MESSAGE, "type": "location", "body": "", "lat": 1, "lng": 2})
    assert bare["location"] == {"latitude": 1, "longitude": 2, "name": None, "address": None}


def test_an_incoming_group_message_names_its_sender():
    msg = shapes.message({**RAW_MESSAGE, "fromMe": False, "author": "6283@c.us",
                          "sender": {"id": "6283@c.us", "pushname": "Citra", "name": None,
                                     "isMyContact": False}})
    assert msg["author"] == "6283@c.us"
    assert msg["sender"] == {"id": "6283@c.us", "pushname": "Citra", "name": None}


def test_a_contact_is_exactly_the_api_fields():
    raw = {"id": "6281@c.us", "phone": "6281", "name": "Budi", "shortName": "Budi",
           "pushname": "Budi S", "isMyContact": True, "isBusiness": None}
    assert shapes.contact(raw) == {"id": "6281@c.us", "phone": "6281", "lid": None,
                                   "name": "Budi", "pushname": "Budi S", "isMyContact": True,
                                   "isBusiness": False}
    both = shapes.contact({**raw, "lid": "123456789012345@lid"})
    assert both["id"] == "6281@c.us" and both["lid"] == "123456789012345@lid"


def test_a_group_has_participants_with_admin_flags_and_an_iso_creation_time():
    raw = {"id": "1203@g.us", "name": "Tim", "owner": "6281@c.us", "creation": 1700000000,
           "participants": [{"id": "6281@c.us", "isAdmin": True, "isSuperAdmin": True},
                            {"id": "6282@c.us", "isAdmin": False, "isSuperAdmin": False}]}
    assert shapes.group(raw) == {
        "id": "1203@g.us", "name": "Tim", "owner": "6281@c.us", "createdAt": "2023-11-14T22:13:20Z",
        "participants": [{"id": "6281@c.us", "isAdmin": True, "isSuperAdmin": True},
                         {"id": "6282@c.us", "isAdmin": False, "isSuperAdmin": False}]}
    results = {"6282@c.us": {"code": 200, "message": "OK"}}
    assert shapes.group({**raw, "results": results})["results"] == results
    assert shapes.group({"id": "1@g.us"}) == {"id": "1@g.us", "name": None, "participants": [],
                                              "owner": None, "createdAt": None}


def test_a_chat_is_plain():
    assert shapes.chat({"id": "6281@c.us", "name": None, "isGroup": False, "unreadCount": None,
                        "timestamp": 1700000000, "archived": False, "pinned": 0}) == {
        "id": "6281@c.us", "name": None, "isGroup": False, "unreadCount": 0,
        "timestamp": 1700000000, "archived": False, "pinned": False, "muted": False,
        "mutedUntil": None, "labels": []}
    assert shapes.chat({"id": "6281@c.us", "mutedUntil": 1900000000, "labels": [3]})[
        "muted"] is True
    assert shapes.chat({"id": "6281@c.us", "labels": [3]})["labels"] == ["3"]


def test_sender_ids_give_the_phone_and_the_lid_where_whatsapp_gives_both():
    from waengine.shapes import sender_ids

    lid_chat = {"from": "12345678901234@lid", "sender": {"id": "6281111@c.us"}}
    assert sender_ids(lid_chat) == {"phone": "6281111@c.us", "lid": "12345678901234@lid"}
    group = {"from": "1203630001@g.us", "author": "999@lid", "sender": {"id": "999@lid"}}
    assert sender_ids(group) == {"phone": None, "lid": "999@lid"}
    plain = {"from": "6281111@c.us", "sender": None}
    assert sender_ids(plain) == {"phone": "6281111@c.us", "lid": None}
