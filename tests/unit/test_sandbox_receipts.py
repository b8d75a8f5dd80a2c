"""The sandbox network's history, offline queue and receipts, on a fake clock."""
# ruff: noqa: F811 (pytest fixtures imported from test_sandbox_network)

from __future__ import annotations

import threading

import pytest

from waengine.sandbox.network import SandboxError

from ..conftest import wait_for
from .test_sandbox_network import (  # noqa: F401 (fixtures)
    ALICE,
    BUDI,
    CITRA,
    clock,
    linked_device,
    make_network,
    net,
    poll,
)


def send(net, login, msg_id: str, to: str, body: str = "hi") -> None:
    net.send_from_device(login["device"], login["token"],
                         {"id": msg_id, "to": to, "type": "chat", "body": body})


def test_a_new_page_gets_the_chat_list_first_and_messages_when_it_reads_a_chat(net):
    net.upsert_phone(ALICE, "Alice")
    net.upsert_phone(BUDI, "Budi")
    for text in ("one", "two", "three"):
        net.send_from_phone(BUDI, ALICE, text)
    login = linked_device(net, ALICE)
    synced = net.sync(login["device"], login["token"])
    assert "messages" not in synced
    assert [(c["id"], c["unreadCount"]) for c in synced["chats"]] == [(f"{BUDI}@c.us", 3)]
    history = net.history(login["device"], login["token"], f"{BUDI}@c.us", None, 2)
    assert [m["body"] for m in history] == ["two", "three"]
    older = net.history(login["device"], login["token"], f"{BUDI}@c.us",
                        history[0]["key"]["id"], 20)
    assert [m["body"] for m in older] == ["one"]


def test_an_acknowledged_event_is_never_sent_again_and_the_offline_queue_is(net):
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "seen by the first page")
    first = poll(net, login)["events"]
    assert [e["msg"]["body"] for e in first if e["type"] == "message"] == [
        "seen by the first page"]
    poll(net, login, ack=first[-1]["seq"])  # the page acknowledges, then dies
    net.send_from_phone(BUDI, ALICE, "while no page ran")
    assert net.hello(login["device"], login["token"], "page-2")["loggedIn"]
    again = poll(net, login, client="page-2")["events"]
    assert [e["msg"]["body"] for e in again if e["type"] == "message"] == ["while no page ran"]
    phone = net.get_phone(ALICE)
    assert phone["devices"][0]["pendingEvents"] == len(again)


def test_receipts_come_when_the_phone_delivers_and_reads_never_by_themselves(net, clock):
    alice = linked_device(net, ALICE)
    net.upsert_phone(BUDI, "Budi")
    send(net, alice, "3EB0000000000000A001", BUDI, "first")
    send(net, alice, "3EB0000000000000A002", BUDI, "second")
    clock.advance(3600)
    assert poll(net, alice)["events"] == []
    assert net.deliver_to_phone(BUDI) == {"phone": BUDI, "delivered": [
        "3EB0000000000000A001", "3EB0000000000000A002"]}
    assert net.deliver_to_phone(BUDI)["delivered"] == []
    read = net.read_by_phone(BUDI, chat=ALICE)
    assert read == {"phone": BUDI, "read": ["3EB0000000000000A001", "3EB0000000000000A002"]}
    assert net.read_by_phone(BUDI)["read"] == []
    acks = [(e["ack"], e["ids"][0].rsplit("_", 1)[1]) for e in poll(net, alice)["events"]]
    assert acks == [(2, "3EB0000000000000A001"), (2, "3EB0000000000000A002"),
                    (3, "3EB0000000000000A001"), (3, "3EB0000000000000A002")]
    assert net.get_phone(BUDI)["chats"] == 1
    with pytest.raises(SandboxError) as err:
        net.read_by_phone(BUDI, chat=CITRA)
    assert (err.value.status, err.value.code) == (404, "chat_not_found")


def test_a_read_without_delivery_sends_both_receipts_and_a_group_counts_each_member(net):
    alice = linked_device(net, ALICE)
    net.upsert_phone(BUDI, "Budi")
    net.upsert_phone(CITRA, "Citra")
    group = net.create_group("Team", ALICE, [BUDI, CITRA])
    send(net, alice, "3EB0000000000000B001", BUDI, "direct")
    send(net, alice, "3EB0000000000000B002", group["id"], "to all")
    seen = poll(net, alice)["events"]
    after = seen[-1]["seq"] if seen else 0
    net.read_receipt("3EB0000000000000B001", BUDI)
    net.read_by_phone(BUDI, chat=group["id"])
    events = poll(net, alice, ack=after)["events"]
    acks = [(e["ack"], e["ids"][0].split("_")[2], e.get("sender")) for e in events
            if e["type"] == "ack"]
    budi_in_group = f"{BUDI}@c.us"
    assert acks == [(2, "3EB0000000000000B001", None), (3, "3EB0000000000000B001", None),
                    (2, "3EB0000000000000B002", budi_in_group),
                    (3, "3EB0000000000000B002", budi_in_group)]
    listed = {m["id"]: m for m in net.list_messages(from_=ALICE)}
    assert listed["3EB0000000000000B002"]["ack"] == 1  # Citra has not read it
    net.read_by_phone(CITRA)
    assert net.list_messages(from_=ALICE)[-1]["ack"] == 3


def test_a_linked_device_that_takes_a_message_delivers_it_to_its_phone(net):
    alice = linked_device(net, ALICE)
    budi = linked_device(net, BUDI, client="budi-page")
    send(net, alice, "3EB0000000000000C001", BUDI)
    assert poll(net, alice)["events"] == []
    got = poll(net, budi, client="budi-page")["events"]
    assert [e["type"] for e in got] == ["message"]
    assert poll(net, alice)["events"] == []  # not acknowledged by Budi's page yet
    poll(net, budi, ack=got[-1]["seq"], client="budi-page")
    assert [e["ack"] for e in poll(net, alice)["events"]] == [2]


def test_a_silent_socket_looks_open_but_nothing_flows_until_it_speaks_again(net):
    alice = linked_device(net, ALICE)
    net.upsert_phone(BUDI, "Budi")
    assert net.set_silent(ALICE, True) == {"phone": ALICE, "silent": True,
                                           "devices": [alice["device"]]}
    net.send_from_phone(BUDI, ALICE, "into the void")
    answer = poll(net, alice)
    assert answer["events"] == []
    assert answer["stream"] == {"mode": "MAIN", "info": "NORMAL", "needsUpdate": False}
    assert net.get_phone(ALICE)["devices"][0]["silent"] is True
    result = {}
    sender = threading.Thread(target=lambda: result.update(net.send_from_device(
        alice["device"], alice["token"],
        {"id": "3EB0000000000000D001", "to": BUDI, "type": "chat", "body": "held"})))
    sender.start()
    wait_for(lambda: sender.is_alive(), message="the send is held")
    assert net.list_messages(from_=ALICE) == []  # the server has not taken it
    net.set_silent(ALICE, False)
    sender.join(10)
    assert result["ack"] == 1 and [m["text"] for m in net.list_messages(from_=ALICE)] == ["held"]
    assert [e["msg"]["body"] for e in poll(net, alice)["events"]] == ["into the void"]
    with pytest.raises(SandboxError) as err:
        net.set_silent(ALICE, "yes")
    assert err.value.code == "validation_error"
