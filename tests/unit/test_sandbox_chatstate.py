"""The sandbox network's chat state, presence and labels (network/chatstate.py), on a fake clock;
and how the gateway words a presence event."""

from __future__ import annotations

import pytest

from waengine.events import translate
from waengine.sandbox.network import Network, Options, SandboxError

from .test_sandbox_network import FakeClock, linked_device, poll

ALICE, BUDI, CITRA, DEWI, EKO = (f"62813100000{n:02d}" for n in range(1, 6))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def net(clock) -> Network:
    return Network(Options(ack_delivered_delay=-1, ack_read_delay=-1), clock=clock,
                   scheduler=clock)


def events_of(net, login, kind, client="page-1"):
    return [e for e in poll(net, login, client=client)["events"] if e["type"] == kind]


def test_pinning_stops_at_three_chats_and_archiving_unpins(net):
    login = linked_device(net, ALICE)
    other = linked_device(net, ALICE, client="page-2")  # another linked device of ALICE
    for peer in (BUDI, CITRA, DEWI, EKO):
        net.send_from_phone(peer, ALICE, "hi")
    auth = (login["device"], login["token"])
    for peer in (BUDI, CITRA, DEWI):
        assert net.chat_action_from_device(*auth, f"{peer}@c.us", "pin", True)["pin"] > 0
    with pytest.raises(SandboxError) as err:
        net.chat_action_from_device(*auth, f"{EKO}@c.us", "pin", True)
    assert (err.value.status, err.value.code) == (409, "pin_limit")
    view = net.chat_action_from_device(*auth, f"{BUDI}@c.us", "archive", True)
    assert view["archive"] is True and view["pin"] == 0
    assert net.chat_action_from_device(*auth, f"{EKO}@c.us", "pin", True)["pin"] > 0
    # the account's state, never the other party's
    assert next(c for c in net.phone_chats(BUDI) if c["id"] == f"{ALICE}@c.us")["archive"] is False
    # the account's other device follows; the acting one is not told what it did
    synced = [e["chat"] for e in events_of(net, other, "chat", client="page-2")]
    assert {"id": f"{BUDI}@c.us", "archive": True} in [
        {"id": c["id"], "archive": c["archive"]} for c in synced]
    assert events_of(net, login, "chat") == []


def test_clear_and_delete_are_the_accounts_own(net):
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "one")
    net.send_from_phone(BUDI, ALICE, "two")
    auth = (login["device"], login["token"])
    net.chat_action_from_device(*auth, f"{BUDI}@c.us", "clear", True)
    mine = next(c for c in net.phone_chats(ALICE) if c["id"] == f"{BUDI}@c.us")
    assert mine["messages"] == 0 and mine["unreadCount"] == 0
    assert next(c for c in net.phone_chats(BUDI) if c["id"] == f"{ALICE}@c.us")["messages"] == 2
    net.chat_action_from_device(*auth, f"{BUDI}@c.us", "delete")
    assert [c for c in net.phone_chats(ALICE) if c["id"] == f"{BUDI}@c.us"] == []
    with pytest.raises(SandboxError) as err:
        net.chat_action_from_device(*auth, f"{BUDI}@c.us", "archive", True)
    assert err.value.code == "chat_not_found"


def test_a_chatstate_reaches_only_a_page_that_subscribed_and_is_not_kept(net):
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "hi")
    poll(net, login)  # the message
    net.phone_presence(BUDI, ALICE, "composing")
    assert events_of(net, login, "presence") == []  # not subscribed: WhatsApp sends nothing
    assert net.subscribe_presence(login["device"], login["token"], "page-1",
                                  [f"{BUDI}@c.us", "123@g.us"]) == [f"{BUDI}@c.us"]
    assert net.phone_presence(BUDI, ALICE, "recording")["devicesTold"] == 1
    (event,) = events_of(net, login, "presence")
    assert event["state"] == "recording" and event["contact"]["id"] == f"{BUDI}@c.us"
    assert event["isOnline"] is True
    # a reload (another client of the same login) starts with no subscriptions
    assert net.hello(login["device"], login["token"], "page-2")["loggedIn"]
    assert net.phone_presence(BUDI, ALICE, "paused")["devicesTold"] == 0


def test_a_page_typing_is_seen_by_the_phone(net):
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "hi")
    net.chatstate_from_device(login["device"], login["token"], f"{BUDI}@c.us", "composing")
    seen = net.phone_presence_view(BUDI)
    assert seen["chatstates"][-1]["from"] == ALICE
    assert seen["chatstates"][-1]["state"] == "composing"
    net.presence_from_device(login["device"], login["token"], False)
    assert ALICE not in net.phone_presence_view(BUDI)["online"]
    with pytest.raises(SandboxError):
        net.chatstate_from_device(login["device"], login["token"], f"{BUDI}@c.us", "dancing")


def test_labels_are_for_business_accounts(net):
    personal = linked_device(net, ALICE)
    with pytest.raises(SandboxError) as err:
        net.add_label_from_device(personal["device"], personal["token"], "VIP", None)
    assert err.value.code == "is_not_business"
    net.upsert_phone(CITRA, "Toko", business=True)
    shop = linked_device(net, CITRA)
    net.send_from_phone(BUDI, CITRA, "order")
    auth = (shop["device"], shop["token"])
    label = net.add_label_from_device(*auth, "VIP", 3)
    assert label == {"id": "1", "name": "VIP", "colorIndex": 3, "count": 0}
    result = net.apply_labels_from_device(*auth, [f"{BUDI}@c.us"], [{"id": "1", "type": "add"}])
    assert result["chats"][0]["labels"] == ["1"] and result["labels"][0]["count"] == 1
    assert net.phone_labels(CITRA)[0]["chats"] == [f"{BUDI}@c.us"]
    with pytest.raises(SandboxError) as err:
        net.apply_labels_from_device(*auth, [f"{BUDI}@c.us"], [{"id": "9", "type": "add"}])
    assert err.value.code == "label_not_found"


def test_a_presence_change_becomes_a_presence_update_in_the_apis_words():
    ((type_, data, dedupe),) = translate("presence.update", {
        "id": "6281@c.us", "isOnline": True, "isGroup": False, "state": "composing",
        "t": 1_800_000_000_123, "participants": []})
    assert type_ == "presence.update" and dedupe is None
    assert data == {"chatId": "6281@c.us", "contactId": "6281@c.us", "state": "typing",
                    "isOnline": True, "timestamp": 1_800_000_000}
    ((_, group, _),) = translate("presence.update", {
        "id": "1@g.us", "isGroup": True, "state": "composing", "t": 5,
        "participants": [{"id": "6281@c.us", "state": "recording"}]})
    assert group["contactId"] is None
    assert group["participants"] == [{"id": "6281@c.us", "state": "recording"}]
