"""The sandbox's reach-out limits on a fake clock: a budget of new contacts, the timelock
(error 463) that follows, replies that still go, and number lookups past their rate."""

from __future__ import annotations

import pytest

from waengine.sandbox.network import SandboxError

from .test_sandbox_network import FakeClock, linked_device

ME, FRIEND = "6281310000001", "6281310000002"
NEW = [f"62813100001{i:02d}" for i in range(10)]


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def net(clock):
    from waengine.sandbox.network import Network, Options

    network = Network(Options(), clock=clock, scheduler=clock)
    for phone in (ME, FRIEND, *NEW):
        network.upsert_phone(phone, phone[-3:])
    return network


def send(net, login, to: str, text: str = "hi") -> dict:
    import uuid

    return net.send_from_device(login["device"], login["token"],
                                {"id": uuid.uuid4().hex[:20].upper(), "to": f"{to}@c.us",
                                 "type": "chat", "body": text})


def refused(net, login, to: str) -> SandboxError:
    with pytest.raises(SandboxError) as err:
        send(net, login, to)
    return err.value


def test_past_the_budget_new_contacts_are_refused_with_463_and_a_timelock_replies_go(net, clock):
    me = linked_device(net, ME)
    net.send_from_phone(FRIEND, ME, "halo")  # an existing chat
    net.set_reach_out(ME, {"newContacts": 2, "window": 3600, "timelockSeconds": 600})
    send(net, me, NEW[0])
    send(net, me, NEW[1])
    send(net, me, NEW[0], "again")  # a follow-up in a chat the first message opened
    err = refused(net, me, NEW[2])
    assert (err.status, err.code) == (409, "ERROR_UNKNOWN")  # the page resolves ERROR_UNKNOWN
    assert err.extra["nack"] == 463
    lock = err.extra["reachoutTimelock"]
    assert lock["isActive"] and lock["timeEnforcementEnds"] >= clock.now + 600
    send(net, me, FRIEND, "reply")  # replies are never counted nor refused
    assert refused(net, me, NEW[3]).extra["nack"] == 463
    view = net.get_reach_out(ME)
    assert view["refused"] == 2 and view["used"] == 2 and view["timelock"]["isActive"]

    clock.advance(601)  # the timelock is over: the budget starts afresh
    send(net, me, NEW[2])
    assert net.get_reach_out(ME)["timelock"]["isActive"] is False


def test_a_timelock_set_outright_ends_when_said_or_when_lifted(net, clock):
    me = linked_device(net, ME)
    net.set_reach_out(ME, {"until": clock.now + 30})
    assert refused(net, me, NEW[4]).extra["reachoutTimelock"]["timeEnforcementEnds"] == int(
        clock.now + 30)
    net.set_reach_out(ME, {"until": None})
    send(net, me, NEW[4])


def test_lookups_past_their_rate_are_refused_and_start_the_timelock(net, clock):
    me = linked_device(net, ME)
    net.set_reach_out(ME, {"lookups": 2, "lookupWindow": 60, "timelockSeconds": 300})
    for phone in NEW[:2]:
        assert net.query_exists_for_device(me["device"], me["token"], phone)["wid"]
    with pytest.raises(SandboxError) as err:
        net.query_exists_for_device(me["device"], me["token"], NEW[2])
    assert (err.value.status, err.value.code) == (429, "rate-overlimit")
    assert refused(net, me, NEW[5]).extra["nack"] == 463  # the same timelock
    clock.advance(301)
    assert net.query_exists_for_device(me["device"], me["token"], NEW[2])["wid"]


def test_bad_limits_are_refused(net):
    for bad in ({"newContacts": -1}, {"newContacts": 1.5}, {"window": 0},
                {"timelockSeconds": "x"}, {"until": "soon"}):
        with pytest.raises(SandboxError) as err:
            net.set_reach_out(ME, bad)
        assert err.value.status == 400


def test_a_private_number_is_known_by_its_lid_until_shared_or_looked_up(net):
    linked_device(net, ME)
    other = linked_device(net, FRIEND, client="page-2")
    shy = NEW[9]
    lid = net.get_phone(shy)["lid"]
    view = net.set_number_private(shy, True)
    assert view["numberPrivate"] is True and view["knownTo"] == []
    net.send_from_phone(shy, ME, "halo")
    me_account = net._phones[ME]
    assert net._contact_view(me_account, shy)["id"] == lid  # only the @lid
    assert net._contact_view(me_account, shy)["lid"] == lid
    assert net.share_number(shy, ME)["knownTo"] == [ME]
    shared = net._contact_view(me_account, shy)
    assert shared["id"] == f"{shy}@c.us" and shared["lid"] == lid
    assert net._contact_view(net._phones[FRIEND], shy)["id"] == lid  # others still do not
    assert net.query_exists_for_device(other["device"], other["token"], shy)["lid"] == lid
    assert net._contact_view(net._phones[FRIEND], shy)["id"] == f"{shy}@c.us"  # looked up
