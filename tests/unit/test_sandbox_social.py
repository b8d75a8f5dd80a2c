"""The sandbox network's profile, blocklist and group administration rules: no browser."""

from __future__ import annotations

import base64

import pytest

from waengine.sandbox.network import Network, SandboxError

from .test_sandbox_network import FakeClock

OWNER, ANI, BUDI, CICI = "6283310000001", "6283310000002", "6283310000003", "6283310000004"
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 32).decode()


@pytest.fixture
def net():
    clock = FakeClock()
    network = Network(clock=clock, scheduler=clock)
    for phone in (OWNER, ANI, BUDI, CICI):
        network.upsert_phone(phone, name=phone[-1])
    return network


def refused(code, fn, *args, **kw):
    with pytest.raises(SandboxError) as err:
        fn(*args, **kw)
    assert err.value.code == code, err.value.message
    return err.value


def test_a_blocked_phones_messages_are_never_delivered_and_cannot_be_sent_to(net):
    net.set_blocked(OWNER, ANI, True)
    assert net.blocklist_of(OWNER) == [f"{ANI}@c.us"]
    net.send_from_phone(ANI, OWNER, "halo")
    assert net.get_phone(OWNER)["chats"] == 0  # nothing arrived: no chat either
    net.set_blocked(OWNER, ANI, False)
    net.send_from_phone(ANI, OWNER, "lagi")
    assert net.get_phone(OWNER)["chats"] == 1
    refused("cannot_block_self", net.set_blocked, OWNER, OWNER, True)


def test_a_profile_shows_about_and_a_picture_url_that_changes_with_each_photo(net):
    first = net.set_profile(ANI, about="Sibuk", picture=JPEG)
    second = net.set_profile(ANI, picture="data:image/jpeg;base64," + JPEG)
    assert first["about"] == "Sibuk" and first["picture"] != second["picture"]
    assert net.picture_of(ANI, 2)[1] == "image/jpeg"
    refused("picture_not_found", net.picture_of, ANI, 1)
    refused("invalid_picture", net.set_profile, ANI, picture=base64.b64encode(b"GIF89a").decode())
    refused("invalid_status", net.set_profile, ANI, about="x" * 140)
    assert net.set_profile(ANI, picture="")["picture"] is None


def test_restrict_announce_and_admin_rules_are_the_servers(net):
    gid = net.create_group("Tim", OWNER, [ANI, BUDI])["id"]
    net.set_group_subject(gid, ANI, "Semua boleh")  # no restrict: any member
    net.set_group_property(gid, OWNER, "restrict", True)
    refused("group_you_are_not_admin", net.set_group_subject, gid, ANI, "Tidak")
    refused("group_you_are_not_admin", net.set_group_property, gid, ANI, "announcement", True)
    refused("not_a_participant", net.set_group_description, gid, CICI, "bukan anggota")
    net.set_group_property(gid, OWNER, "announcement", True)
    refused("announcement_group", net.send_from_phone, ANI, gid, "boleh?")
    net.set_group_admins(gid, OWNER, [ANI], promote=True)
    net.send_from_phone(ANI, gid, "sekarang boleh")
    refused("not_authorized", net.set_group_admins, gid, ANI, [OWNER], promote=False)
    refused("group_participant_not_found", net.set_group_admins, gid, OWNER, [CICI], True)
    assert net.get_group(gid)["subject"] == "Semua boleh"


def test_a_revoked_invite_code_joins_nobody_and_leaving_keeps_an_admin(net):
    gid = net.create_group("Tim", ANI, [BUDI])["id"]
    refused("group_you_are_not_admin", net.group_invite_code, gid, BUDI)
    old = net.group_invite_code(gid, ANI)
    assert net.group_invite_code(gid, ANI) == old
    new = net.group_invite_code(gid, ANI, revoke=True)
    refused("item-not-found", net.join_group, old, CICI)
    assert net.join_group(new, CICI)["gid"] == gid
    refused("conflict", net.join_group, new, CICI)
    net.leave_group(gid, ANI)
    members = {p["id"]: p["isAdmin"] for p in net.get_group(gid)["participants"]}
    assert f"{ANI}@c.us" not in members and any(members.values())
