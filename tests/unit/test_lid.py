"""@lid addressing without a browser: the sandbox network's exact ids, replyTo keys, senderIds."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from waengine import shapes
from waengine.api.schemas import TextMessageIn
from waengine.sandbox.network import Network, Options, SandboxError

from .test_sandbox_network import FakeClock, linked_device, poll

ANA, LINA, PUTRI, RAKA = "6282500000001", "6282500000002", "6282600000001", "6282600000002"


@pytest.fixture
def net() -> Network:
    clock = FakeClock()
    return Network(Options(), clock=clock, scheduler=clock)


def messages_at(net, login) -> list[dict]:
    return [e["msg"] for e in poll(net, login)["events"] if e["type"] == "message"]


def test_others_see_a_lid_addressed_phone_by_its_lid(net):
    net.upsert_phone(ANA, "Ana")
    lina = net.upsert_phone(LINA, "Lina", addressing="lid")[0]
    assert lina["addressing"] == "lid"
    login = linked_device(net, ANA)
    net.send_from_phone(LINA, ANA, "halo")
    [msg] = messages_at(net, login)
    assert msg["key"]["remote"] == lina["lid"] and msg["from"] == lina["lid"]
    assert msg["to"] == net.get_phone(ANA)["lid"]  # your @lid in an @lid chat
    contacts = {c["id"]: c for c in net.sync(login["device"], login["token"])["contacts"]}
    assert contacts[f"{LINA}@c.us"]["lidAddressed"] is True


def test_addressing_must_be_pn_or_lid(net):
    with pytest.raises(SandboxError) as err:
        net.upsert_phone(LINA, "Lina", addressing="email")
    assert err.value.status == 400


def test_a_phone_id_and_a_lid_are_two_chats(net):
    net.upsert_phone(ANA, "Ana")
    lid = net.upsert_phone(LINA, "Lina", addressing="lid")[0]["lid"]
    login = linked_device(net, ANA)
    net.send_from_phone(LINA, ANA, "halo")
    by_phone = net.send_from_device(login["device"], login["token"],
                                    {"id": "3EB0AAAAAAAAAAAAAAAA", "to": f"{LINA}@c.us", "body": "a"})
    by_lid = net.send_from_device(login["device"], login["token"],
                                  {"id": "3EB0BBBBBBBBBBBBBBBB", "to": lid, "body": "b"})
    assert by_phone["key"]["remote"] == f"{LINA}@c.us" and by_lid["key"]["remote"] == lid
    chats = {c["id"] for c in net.sync(login["device"], login["token"])["chats"]}
    assert chats == {f"{LINA}@c.us", lid}


def test_a_lid_group_lists_members_and_authors_by_lid_and_takes_only_lid_mentions(net):
    for phone in (ANA, PUTRI, RAKA):
        net.upsert_phone(phone, phone)
    group = net.create_group("G", PUTRI, [ANA, RAKA], addressing="lid")
    putri, raka = net.get_phone(PUTRI)["lid"], net.get_phone(RAKA)["lid"]
    assert group["isLidAddressingMode"] is True
    assert {p["id"] for p in group["participants"]} == {
        putri, raka, net.get_phone(ANA)["lid"]}
    login = linked_device(net, ANA)
    net.send_from_phone(PUTRI, group["id"], "rapat", mentions=[RAKA])
    msg = messages_at(net, login)[-1]
    assert msg["author"] == putri and msg["key"]["participant"] == putri
    assert msg["mentionedJidList"] == [raka]
    by_phone = net.send_from_device(login["device"], login["token"], {
        "id": "3EB0CCCCCCCCCCCCCCCC", "to": group["id"], "body": "x", "mentions": [f"{RAKA}@c.us"]})
    by_lid = net.send_from_device(login["device"], login["token"], {
        "id": "3EB0DDDDDDDDDDDDDDDD", "to": group["id"], "body": "y", "mentions": [raka]})
    views = {m["id"]: m for m in net.list_messages(from_=ANA)}
    assert views["3EB0CCCCCCCCCCCCCCCC"]["mentions"] == []  # a phone id names no member here
    assert views["3EB0DDDDDDDDDDDDDDDD"]["mentions"] == [RAKA]
    assert by_phone["key"]["participant"] == by_lid["key"]["participant"]


@pytest.mark.parametrize("key", [
    "true_6281234567890@c.us_3EB0F435D95D32C4C638",
    "false_123456789012345@lid_3A169E0FD4BC6E92212F",
    "false_120363000000000001@g.us_3A169E0FD4BC6E92212F_123456789012345@lid",
    "true_120363000000000001@g.us_3EB0F435D95D32C4C638_98765432109876@lid",
])
def test_reply_to_takes_full_message_keys(key):
    assert TextMessageIn().load({"to": "6281234567890", "text": "x", "replyTo": key})["replyTo"] == key


@pytest.mark.parametrize("bare", ["3EB0F435D95D32C4C638", "6281234567890@c.us_3EB0F435D95D32C4C638",
                                  "yes_6281234567890@c.us_3EB0F435D95D32C4C638"])
def test_a_bare_reply_to_is_refused_saying_what_a_key_looks_like(bare):
    with pytest.raises(ValidationError) as err:
        TextMessageIn().load({"to": "6281234567890", "text": "x", "replyTo": bare})
    [message] = err.value.messages["replyTo"]
    assert "full message key" in message and "true_<chat>_<id>" in message


def test_sender_ids_take_what_the_page_resolved_and_fall_back_to_the_message():
    msg = {"from": "123456789012345@lid", "author": None, "sender": None,
           "senderIds": {"phone": "6282500000002@c.us", "lid": "123456789012345@lid"}}
    assert shapes.sender_ids(msg) == {"phone": "6282500000002@c.us", "lid": "123456789012345@lid"}
    unresolved = {**msg, "senderIds": {"phone": None, "lid": None}}
    assert shapes.sender_ids(unresolved) == {"phone": None, "lid": "123456789012345@lid"}
