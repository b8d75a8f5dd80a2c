"""The sandbox's key state (network/keystate.py): a page that comes back on an older copy of
its profile gets the messages it cannot decrypt as placeholders, and each again, decrypted, once
its sender answers the retry receipt."""
# ruff: noqa: F811 (pytest fixtures imported from test_sandbox_network)

from __future__ import annotations

import pytest

from waengine.sandbox.network import SandboxError

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


def messages(events: list[dict], kind: str = "message") -> list[tuple[str, str]]:
    return [(e["msg"]["type"], e["msg"]["body"]) for e in events if e["type"] == kind]


def drain(net, login, client="page-1") -> tuple[list[dict], int]:
    """Poll once and acknowledge what came; (events, the highest key index among them)."""
    events = poll(net, login, client=client)["events"]
    if events:
        poll(net, login, ack=events[-1]["seq"], client=client)
    return events, max([e["key"] for e in events if "key" in e], default=0)


def test_each_incoming_message_carries_the_next_key_index_and_acks_advance_the_device(net):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    for text in ("one", "two"):
        net.send_from_phone(BUDI, ALICE, text)
    net.change_security_code(BUDI)  # a notice WhatsApp itself writes: no key index
    events = poll(net, login)["events"]
    assert [e.get("key") for e in events if e["type"] == "message"] == [1, 2, None]
    state = net.get_phone(ALICE)["devices"][0]["keyState"]
    assert (state["keys"], state["ackedKeys"], state["stale"]) == (2, 0, False)
    poll(net, login, ack=events[-1]["seq"])
    assert net.get_phone(ALICE)["devices"][0]["keyState"]["ackedKeys"] == 2


def test_a_page_that_kept_its_key_state_is_not_stale_and_decrypts_the_offline_queue(net):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "seen")
    _, keys = drain(net, login)
    net.send_from_phone(BUDI, ALICE, "while the browser was down")
    # a restart: the profile holds what the page applied (key 1), the queue the rest
    assert net.hello(login["device"], login["token"], "page-2", keys)["loggedIn"]
    again = poll(net, login, client="page-2")["events"]
    assert messages(again) == [("chat", "while the browser was down")]
    assert net.get_phone(ALICE)["devices"][0]["keyState"]["stale"] is False


def test_a_page_on_an_older_profile_gets_placeholders_then_each_message_once_decrypted(net):
    net.upsert_phone(BUDI, "Budi")
    net.upsert_phone(CITRA, "Citra")
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "before the snapshot")
    _, snapshot_keys = drain(net, login)  # the snapshot holds key 1
    net.send_from_phone(BUDI, ALICE, "after the snapshot")
    drain(net, login)  # the old page applied it: the device acknowledged key 2
    net.send_from_phone(BUDI, ALICE, "while no browser ran")
    net.send_from_phone(CITRA, ALICE, "from another sender")

    assert net.hello(login["device"], login["token"], "restored", snapshot_keys)["loggedIn"]
    device = net.get_phone(ALICE)["devices"][0]["keyState"]
    assert device["stale"] is True and len(device["undecrypted"]) == 2
    events = poll(net, login, client="restored")["events"]
    # The acknowledged message is not sent again; the queued ones come as placeholders.
    assert messages(events) == [("ciphertext", ""), ("ciphertext", "")]
    ids = [e["msg"]["key"]["id"] for e in events if e["type"] == "message"]
    # Its history as the restored profile has it: the message acknowledged after the copy is
    # not there (nor can the page look it up), the undecrypted one is a placeholder.
    history = net.history(login["device"], login["token"], f"{BUDI}@c.us", None, 20)
    assert [(m["type"], m["body"]) for m in history] == [
        ("chat", "before the snapshot"), ("ciphertext", "")]
    lost = net.list_messages(to=ALICE)[1]
    assert lost["text"] == "after the snapshot"
    with pytest.raises(SandboxError) as err:
        net.get_message_for_device(login["device"], login["token"], lost["id"])
    assert err.value.status == 404

    answer = net.retry_from_device(login["device"], login["token"], ids + ["UNKNOWN"])
    assert answer == {"answered": ids, "unanswered": []}
    decrypted = poll(net, login, ack=events[-1]["seq"], client="restored")["events"]
    assert messages(decrypted, "decrypt") == [("chat", "while no browser ran"),
                                              ("chat", "from another sender")]
    assert [e["msg"]["key"]["id"] for e in decrypted] == ids
    # a second retry receipt for the same message finds nothing to answer: once only
    assert net.retry_from_device(login["device"], login["token"], ids)["answered"] == []
    # the retry set up fresh sessions: the next messages of those senders decrypt at once
    net.send_from_phone(BUDI, ALICE, "after the retry")
    later = poll(net, login, ack=decrypted[-1]["seq"], client="restored")["events"]
    assert messages(later) == [("chat", "after the retry")]
    assert net.get_phone(ALICE)["devices"][0]["keyState"]["undecrypted"] == []


def test_new_messages_of_a_sender_without_a_fresh_session_are_placeholders_too(net):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "acknowledged by the old page")
    drain(net, login)
    assert net.hello(login["device"], login["token"], "restored", 0)["loggedIn"]
    net.send_from_phone(BUDI, ALICE, "after the restore")
    events = poll(net, login, client="restored")["events"]
    assert messages(events) == [("ciphertext", "")]


def test_an_edit_of_a_message_not_decrypted_yet_comes_with_the_decrypted_message(net):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "one")
    drain(net, login)
    net.send_from_phone(BUDI, ALICE, "first text")
    msg_id = net.list_messages(to=ALICE)[-1]["id"]
    net.edit(msg_id, "edited while no page ran")  # queued before the restored page connects
    assert net.hello(login["device"], login["token"], "restored", 0)["loggedIn"]
    net.edit(msg_id, "edited text")
    events = poll(net, login, client="restored")["events"]
    assert [e["type"] for e in events] == ["message"]  # an edit would show the text
    net.retry_from_device(login["device"], login["token"], [msg_id])
    after = poll(net, login, ack=events[-1]["seq"], client="restored")["events"]
    assert messages(after, "decrypt") == [("chat", "edited text")]


def test_refused_retry_receipts_leave_the_messages_ciphertext(net):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "one")
    drain(net, login)
    assert net.set_retry_receipts(ALICE, True) == {"phone": ALICE, "refuseRetries": True}
    net.send_from_phone(BUDI, ALICE, "never decrypts")
    assert net.hello(login["device"], login["token"], "restored", 0)["loggedIn"]
    events = poll(net, login, client="restored")["events"]
    msg_id = events[-1]["msg"]["key"]["id"]
    answer = net.retry_from_device(login["device"], login["token"], [msg_id])
    assert answer == {"answered": [], "unanswered": [msg_id]}
    after = poll(net, login, ack=events[-1]["seq"], client="restored")["events"]
    assert messages(after, "decrypt") == []
    looked_up = net.get_message_for_device(login["device"], login["token"], msg_id)
    assert (looked_up["type"], looked_up["body"]) == ("ciphertext", "")
    # answered again once the senders answer (a later retry receipt)
    net.set_retry_receipts(ALICE, False)
    assert net.retry_from_device(login["device"], login["token"], [msg_id])["answered"] == [msg_id]


def test_a_ciphertext_that_decrypts_on_its_own_is_not_answered_by_a_retry(net, clock):
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    sent = net.send_ciphertext(BUDI, ALICE, "later", decrypt_after=None)
    assert net.retry_from_device(login["device"], login["token"], [sent["id"]]) == {
        "answered": [], "unanswered": []}


def test_bad_input_is_refused(net):
    net.upsert_phone(ALICE, "Alice")
    login = linked_device(net, ALICE)
    with pytest.raises(SandboxError) as err:
        net.set_retry_receipts(ALICE, "yes")
    assert err.value.status == 400
    with pytest.raises(SandboxError) as err:
        net.retry_from_device(login["device"], login["token"], "not a list")
    assert err.value.status == 400
    with pytest.raises(SandboxError) as err:
        net.hello(login["device"], login["token"], "page-2", "many")
    assert err.value.status == 400
