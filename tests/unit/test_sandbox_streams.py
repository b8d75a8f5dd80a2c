"""The sandbox network's stream modes and expiring pairing codes, on a fake clock."""

from __future__ import annotations

import pytest

from waengine.sandbox.network import SandboxError

from .test_sandbox_network import ALICE, BUDI, clock, linked_device, make_network, net  # noqa: F401


def test_a_device_out_of_main_gets_no_events_and_cannot_send(net):  # noqa: F811
    login = linked_device(net, ALICE)
    net.upsert_phone(BUDI, name="Budi")
    assert net.set_mode(ALICE, "offline")["mode"] == "OFFLINE"
    net.send_from_phone(BUDI, ALICE, "while offline")
    answer = net.poll_events(login["device"], login["token"], "page-1", 0, 0)
    assert answer["events"] == [] and answer["stream"] == {"mode": "OFFLINE", "info": "OFFLINE",
                                                           "needsUpdate": False}
    with pytest.raises(SandboxError) as refused:
        net.send_from_device(login["device"], login["token"], {"id": "3EB0" + "A" * 16, "to": BUDI,
                                                               "body": "hi"})
    assert refused.value.code == "stream_not_main"
    net.set_mode(ALICE, "MAIN")
    answer = net.poll_events(login["device"], login["token"], "page-1", 0, 0,
                             stream="OFFLINE:OFFLINE:0")
    assert answer["stream"]["mode"] == "MAIN"
    assert [e["msg"]["body"] for e in answer["events"] if e["type"] == "message"] == [
        "while offline"]


def test_conflict_lasts_until_the_page_takes_over(net):  # noqa: F811
    login = linked_device(net, ALICE)
    net.set_mode(ALICE, "CONFLICT")
    assert net.poll_events(login["device"], login["token"], "page-1", 0, 0)["stream"]["mode"] == (
        "CONFLICT")
    assert net.takeover(login["device"], login["token"], "page-1")["stream"] == {
        "mode": "MAIN", "info": "NORMAL", "needsUpdate": False}


def test_a_socket_reconnecting_under_main_carries_nothing(net):  # noqa: F811
    # WhatsApp keeps the mode MAIN through a short reconnect; the StreamInfo says the socket is down
    login = linked_device(net, ALICE)
    net.upsert_phone(BUDI, name="Budi")
    for name in ("CONNECTING", "OPENING"):
        net.set_mode(ALICE, name)
        net.send_from_phone(BUDI, ALICE, f"while {name}")
        answer = net.poll_events(login["device"], login["token"], "page-1", 0, 0)
        assert answer["events"] == [] and answer["stream"]["mode"] == "MAIN"
        assert answer["stream"]["info"] == name
        with pytest.raises(SandboxError) as refused:
            net.send_from_device(login["device"], login["token"],
                                 {"id": "3EB0" + "B" * 16, "to": BUDI, "body": "hi"})
        assert refused.value.code == "stream_not_main"
    net.set_mode(ALICE, "MAIN")
    answer = net.poll_events(login["device"], login["token"], "page-1", 0, 0)
    assert [e["msg"]["body"] for e in answer["events"] if e["type"] == "message"] == [
        "while CONNECTING", "while OPENING"]


def test_update_available_is_a_flag_of_its_own(net):  # noqa: F811
    login = linked_device(net, ALICE)
    assert net.set_mode(ALICE, "MAIN", needs_update=True)["needsUpdate"] is True
    stream = net.poll_events(login["device"], login["token"], "page-1", 0, 0)["stream"]
    assert stream == {"mode": "MAIN", "info": "NORMAL", "needsUpdate": True}
    assert net.set_mode(ALICE, "DEPRECATED_VERSION")["needsUpdate"] is True
    assert net.set_mode(ALICE, "MAIN")["needsUpdate"] is False


def test_resuming_is_a_syncing_stream_and_unknown_modes_are_refused(net):  # noqa: F811
    linked_device(net, ALICE)
    net.set_mode(ALICE, "RESUMING")
    device = net._devices[net._phones[ALICE].devices[0]]
    assert (device.mode, device.info) == ("SYNCING", "RESUMING")
    with pytest.raises(SandboxError) as bad:
        net.set_mode(ALICE, "NAPPING")
    assert bad.value.code == "invalid_mode"
    net.upsert_phone(BUDI, name="Budi")
    with pytest.raises(SandboxError) as none:
        net.set_mode(BUDI, "OFFLINE")
    assert none.value.code == "no_linked_device"


def test_a_pairing_code_expires_after_its_ttl(make_network, clock):  # noqa: F811
    network = make_network(link_code_ttl=10.0)
    pairing = network.start_pairing("Chrome")["pairing"]
    code = network.pairing_code(pairing, ALICE)
    assert network.poll_pairing(pairing, None, 0, known_code=code)["linkCode"] == code
    clock.advance(11)
    assert network.poll_pairing(pairing, None, 0, known_code=code)["linkCode"] is None
    with pytest.raises(SandboxError) as expired:
        network.link(code=code, phone=ALICE)
    assert (expired.value.status, expired.value.code) == (410, "code_expired")
    fresh = network.pairing_code(pairing, ALICE)
    assert network.link(code=fresh, phone=ALICE)["phone"] == ALICE
