"""Communities, end to end: HTTP, real Chromium linked to the sandbox, and the sandbox's
network seeing (or refusing) each change.

`cm` (Satu) creates communities; `cm2` (Dua) is a member through a linked group; Ani is a
phone on the network.
"""

from __future__ import annotations

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID, SID2 = "cm", "cm2"
ME, ME2, ANI = number(1), number(2), number(11)


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ANI, "Ani")
    box.phone(ME2, "Dua")
    box.phone(ME, "Satu", contacts=[{"phone": ANI, "name": "Ani"}, {"phone": ME2, "name": "Dua"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("communities"), SID, ME) as gateway:
        gateway.link(sandbox, SID2, ME2)
        yield gateway


def at_sandbox(sandbox: Sandbox, cid: str) -> requests.Response:
    return requests.get(f"{sandbox.url}/_sandbox/communities/{cid}", timeout=10)


def new_group(gw, name: str) -> str:
    resp = gw.post("/groups", json={"name": name, "participants": [ME2, ANI]})
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def create(gw, name: str, groups: list[str]) -> dict:
    resp = gw.post("/communities", json={"name": name, "description": "Pelanggan", "groups": groups})
    assert resp.status_code == 201, resp.json
    return resp.json


def roles(community: dict) -> dict:
    return {p["id"]: p["isAdmin"] for p in community["participants"]}


def test_a_community_links_the_groups_its_creator_administers(gw, sandbox):
    mine = new_group(gw, "Toko Pusat")
    theirs = sandbox.post("/_sandbox/groups", owner=ANI, name="Grup Ani", participants=[ME])["id"]
    made = create(gw, "Komunitas Toko", [mine, theirs])
    assert made["name"] == "Komunitas Toko" and made["description"] == "Pelanggan"
    assert made["groups"] == [mine] and made["announcementGroup"]
    assert made["failedGroups"] == [{"jid": theirs, "error": "403"}]
    assert roles(made)[f"{ME}@c.us"] is True and roles(made)[f"{ME2}@c.us"] is False
    on_network = at_sandbox(sandbox, made["id"]).json()
    assert on_network["subgroups"] == [mine] and on_network["groupType"] == "COMMUNITY"
    assert made["id"] in [c["id"] for c in gw.get("/communities").json["data"]]
    got = gw.get(f"/communities/{made['id']}")
    assert got.status_code == 200 and got.json["groups"] == [mine]
    # the member sees the community too (through the group linked to it)
    wait_for(lambda: made["id"] in [c["id"] for c in
                                    gw.call("get", "/communities", sid=SID2).json["data"]],
             message="the community at cm2")


def test_the_announcement_group_is_its_admins_only(gw, sandbox):
    made = create(gw, "Pengumuman", [new_group(gw, "Cabang")])
    announce = made["announcementGroup"]
    sent = gw.post(f"/communities/{made['id']}/announcements", json={"text": "Libur besok"})
    assert sent.status_code == 201, sent.json
    assert sent.json["chatId"] == announce
    wait_for(lambda: "Libur besok" in [m["text"] for m in sandbox.inbox(ANI)],
             message="the announcement at Ani's phone")
    wait_for(lambda: any(e["type"] == "message" and e["data"]["chatId"] == announce
                         for e in gw.call("get", "/events/recent", sid=SID2,
                                          query_string={"limit": 500}).json["data"]),
             message="the announcement as a message at cm2")

    member = gw.call("post", f"/communities/{made['id']}/announcements", sid=SID2,
                     json={"text": "bukan admin"})
    assert member.status_code == 403 and error_code(member) == "not_community_admin"
    phone = requests.post(f"{sandbox.url}/_sandbox/messages", timeout=10,
                          json={"from": ANI, "to": announce, "text": "dari Ani"})
    assert phone.status_code == 403 and phone.json()["error"]["code"] == "announcement_group"

    promoted = gw.post(f"/communities/{made['id']}/admins", json={"promote": [ME2]})
    assert promoted.status_code == 200, promoted.json
    assert roles(promoted.json)[f"{ME2}@c.us"] is True
    wait_for(lambda: gw.call("post", f"/communities/{made['id']}/announcements", sid=SID2,
                             json={"text": "dari admin baru"}).status_code == 201,
             message="the new admin announces")


def test_groups_are_linked_and_unlinked_and_stay_groups(gw, sandbox):
    made = create(gw, "Gabungan", [])
    extra = new_group(gw, "Tambahan")
    added = gw.post(f"/communities/{made['id']}/groups", json={"add": [extra]})
    assert added.status_code == 200 and added.json["groups"] == [extra], added.json
    assert at_sandbox(sandbox, made["id"]).json()["subgroups"] == [extra]
    removed = gw.post(f"/communities/{made['id']}/groups", json={"remove": [extra]})
    assert removed.status_code == 200 and removed.json["groups"] == [], removed.json
    assert extra in [g["id"] for g in gw.get("/groups", query_string={"refresh": "true"}).json["data"]]
    member = gw.call("post", f"/communities/{made['id']}/groups", sid=SID2, json={"add": [extra]})
    assert member.status_code in (403, 404), member.json


def test_only_the_creator_deactivates_and_the_groups_stay(gw, sandbox):
    linked = new_group(gw, "Tetap Ada")
    made = create(gw, "Sementara", [linked])
    wait_for(lambda: gw.call("get", f"/communities/{made['id']}", sid=SID2).status_code == 200,
             message="the community at cm2")
    refused = gw.call("post", f"/communities/{made['id']}/deactivate", sid=SID2)
    assert refused.status_code == 403 and error_code(refused) == "not_community_owner"
    done = gw.post(f"/communities/{made['id']}/deactivate")
    assert done.status_code == 200 and done.json == {"id": made["id"], "deactivated": True}
    assert made["id"] not in [c["id"] for c in gw.get("/communities").json["data"]]
    assert at_sandbox(sandbox, made["id"]).status_code == 404
    assert linked in [g["id"] for g in gw.get("/groups", query_string={"refresh": "true"}).json["data"]]


def test_unknown_and_malformed_communities_are_clear_errors(gw):
    missing = gw.get("/communities/120363000000000009@g.us")
    assert missing.status_code == 404 and error_code(missing) == "community_not_found"
    group = new_group(gw, "Bukan komunitas")
    plain = gw.post(f"/communities/{group}/announcements", json={"text": "x"})
    assert plain.status_code == 404 and error_code(plain) == "community_not_found"
    bad = gw.get("/communities/123@newsletter")
    assert bad.status_code == 422, bad.json
