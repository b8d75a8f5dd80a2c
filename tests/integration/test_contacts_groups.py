"""Contacts, the account's own profile and group administration, end to end: HTTP, a real
Chromium linked to the sandbox, and the sandbox's phones seeing (or not seeing) the effect.

Two linked sessions serve the module: `cg` (the group admin) and `cg2` (joins by invite link).
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID, SID2 = "cg", "cg2"
ME, ME2 = number(1), number(2)
ANI, BUDI, CICI = number(11), number(12), number(13)
NOBODY = number(9999999)


def png(width: int = 8, height: int = 8, rgb=(200, 30, 60)) -> bytes:
    """A real PNG (the page decodes it and re-encodes a JPEG, as wa-js does)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


ANI_PICTURE = png(rgb=(10, 200, 10))


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ANI, "Ani", about="Di kantor", picture=base64.b64encode(ANI_PICTURE).decode())
    box.phone(BUDI, "Budi")
    box.phone(CICI, "Cici")
    box.phone(ME2, "Dua")
    box.phone(ME, "Satu", contacts=[{"phone": ANI, "name": "Ani"}, {"phone": BUDI, "name": "Budi"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("contacts_groups"), SID, ME) as gateway:
        gateway.link(sandbox, SID2, ME2)
        yield gateway


def texts(gw, chat: str) -> list[str]:
    resp = gw.call("get", f"/chats/{chat}/messages")
    return [m["body"] for m in resp.json["data"]] if resp.status_code == 200 else []


def sandbox_group(sandbox: Sandbox, gid: str) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/groups/{gid}", timeout=10).json()


def roles(group: dict) -> dict:
    return {p["id"]: p["isAdmin"] for p in group["participants"]}


# ---- blocklist ----

def test_a_blocked_contact_is_not_delivered_and_cannot_be_messaged_until_unblocked(gw, sandbox):
    sandbox.post("/_sandbox/messages", **{"from": ANI, "to": ME, "text": "sebelum blokir"})
    wait_for(lambda: "sebelum blokir" in texts(gw, f"{ANI}@c.us"), message="first message")

    blocked = gw.call("post", f"/contacts/{ANI}/block")
    assert blocked.status_code == 200, blocked.json
    assert blocked.json == {"id": f"{ANI}@c.us", "blocked": True}
    assert gw.call("get", "/blocklist").json == {"data": [f"{ANI}@c.us"]}
    assert requests.get(f"{sandbox.url}/_sandbox/phones/{ME}", timeout=10).json()["blocked"] == [
        f"{ANI}@c.us"]

    sandbox.post("/_sandbox/messages", **{"from": ANI, "to": ME, "text": "saat diblokir"})
    refused = gw.call("post", "/messages", json={"to": ANI, "text": "ke yang diblokir"})
    assert refused.status_code == 422 and error_code(refused) == "recipient_blocked"
    assert "ke yang diblokir" not in [m["text"] for m in sandbox.inbox(ANI)]

    unblocked = gw.call("delete", f"/contacts/{ANI}/block")
    assert unblocked.json == {"id": f"{ANI}@c.us", "blocked": False}
    assert gw.call("get", "/blocklist").json == {"data": []}
    sandbox.post("/_sandbox/messages", **{"from": ANI, "to": ME, "text": "setelah buka blokir"})
    # Messages arrive in order: once the later one is here, the blocked one never will be.
    wait_for(lambda: "setelah buka blokir" in texts(gw, f"{ANI}@c.us"), message="after unblock")
    assert "saat diblokir" not in texts(gw, f"{ANI}@c.us")
    sent = gw.call("post", "/messages", json={"to": ANI, "text": "halo lagi"})
    assert sent.status_code in (201, 202), sent.json
    wait_for(lambda: "halo lagi" in [m["text"] for m in sandbox.inbox(ANI)], message="delivered")


def test_blocking_a_group_id_or_garbage_is_refused(gw):
    assert gw.call("post", "/contacts/120363000000000001@g.us/block").status_code == 422
    assert gw.call("post", "/contacts/not-a-number/block").status_code == 422


# ---- what contacts show ----

def test_a_contacts_profile_picture_url_serves_its_photo_and_none_is_null(gw):
    ani = gw.call("get", f"/contacts/{ANI}/profile-picture")
    assert ani.status_code == 200 and ani.json["id"] == f"{ANI}@c.us"
    photo = requests.get(ani.json["url"], timeout=10)
    assert photo.status_code == 200 and photo.content == ANI_PICTURE
    budi = gw.call("get", f"/contacts/{BUDI}/profile-picture")
    assert budi.json == {"id": f"{BUDI}@c.us", "url": None}
    nobody = gw.call("get", f"/contacts/{NOBODY}/profile-picture")
    assert nobody.status_code == 404 and error_code(nobody) == "not_found"


def test_a_contacts_about_text_is_read_and_null_when_empty(gw):
    assert gw.call("get", f"/contacts/{ANI}/about").json == {"id": f"{ANI}@c.us",
                                                               "about": "Di kantor"}
    assert gw.call("get", f"/contacts/{BUDI}/about").json == {"id": f"{BUDI}@c.us",
                                                                "about": None}
    assert gw.call("get", f"/contacts/{NOBODY}/about").status_code == 404


# ---- the account's own profile ----

def test_the_own_name_and_about_change_and_phones_see_them(gw, sandbox):
    before = gw.call("get", "/profile").json
    assert before["id"] == f"{ME}@c.us" and before["name"] == "Satu"
    changed = gw.call("patch", "/profile", json={"name": "Satu Baru", "about": "Sibuk"})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Satu Baru" and changed.json["about"] == "Sibuk"
    phone = requests.get(f"{sandbox.url}/_sandbox/phones/{ME}", timeout=10).json()
    assert (phone["name"], phone["about"]) == ("Satu Baru", "Sibuk")
    # Another account reads the new About through WhatsApp, as any contact would.
    seen = gw.call("get", f"/contacts/{ME}/about", sid=SID2).json
    assert seen["about"] == "Sibuk"
    wait_for(lambda: (gw.session(SID).get("me") or {}).get("name") == "Satu Baru",
             message="the session's me.name")
    assert gw.call("patch", "/profile", json={}).status_code == 422
    assert gw.call("patch", "/profile", json={"name": "x" * 26}).status_code == 422


def test_the_own_photo_is_set_from_an_upload_and_others_see_it(gw, sandbox):
    upload = {"media": {"data": base64.b64encode(png(rgb=(0, 0, 250))).decode(),
                        "filename": "me.png"}}
    resp = gw.call("put", "/profile/picture", json=upload)
    assert resp.status_code == 200, resp.json
    assert resp.json["pictureUrl"]
    seen = gw.call("get", f"/contacts/{ME}/profile-picture", sid=SID2).json
    photo = requests.get(seen["url"], timeout=10)
    assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"  # re-encoded JPEG
    not_image = {"media": {"data": base64.b64encode(b"hello, not a picture").decode(),
                           "filename": "me.png"}}
    refused = gw.call("put", "/profile/picture", json=not_image)
    assert refused.status_code == 415, refused.json
    pdf = gw.call("put", "/profile/picture", data={"file": (
        __import__("io").BytesIO(b"%PDF-1.4\n%%EOF\n"), "me.pdf")},
        content_type="multipart/form-data")
    assert pdf.status_code == 415, pdf.json


# ---- groups ----

@pytest.fixture(scope="module")
def group(gw) -> str:
    created = gw.call("post", "/groups", json={"name": "Tim Satu", "participants": [ANI, BUDI]})
    assert created.status_code == 201, created.json
    return created.json["id"]


def test_subject_description_and_settings_are_seen_by_member_phones(gw, sandbox, group):
    resp = gw.call("patch", f"/groups/{group}", json={
        "subject": "Tim Baru", "description": "Rapat tiap Senin",
        "settings": {"announce": True, "restrict": True}})
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "Tim Baru" and resp.json["description"] == "Rapat tiap Senin"
    assert resp.json["settings"] == {"announce": True, "restrict": True}
    seen = sandbox_group(sandbox, group)
    assert (seen["subject"], seen["desc"], seen["announce"], seen["restrict"]) == (
        "Tim Baru", "Rapat tiap Senin", True, True)
    listed = gw.call("get", "/groups?refresh=true").json["data"]
    assert next(g for g in listed if g["id"] == group)["name"] == "Tim Baru"

    # announce: a member who is not an admin cannot send to the group; the admin can
    refused = requests.post(f"{sandbox.url}/_sandbox/messages", timeout=10,
                            json={"from": ANI, "to": group, "text": "boleh bicara?"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "announcement_group"
    sent = gw.call("post", "/messages", json={"to": group, "text": "pengumuman"})
    assert sent.status_code in (201, 202), sent.json
    wait_for(lambda: "pengumuman" in [m["text"] for m in sandbox.inbox(ANI)], message="announce")

    opened = gw.call("patch", f"/groups/{group}", json={"settings": {"announce": False}})
    assert opened.json["settings"] == {"announce": False, "restrict": True}
    assert requests.post(f"{sandbox.url}/_sandbox/messages", timeout=10, json={
        "from": ANI, "to": group, "text": "terima kasih"}).status_code == 201
    assert gw.call("patch", f"/groups/{group}", json={}).status_code == 422
    assert gw.call("patch", f"/groups/{group}", json={"settings": {}}).status_code == 422


def test_promote_and_demote_are_seen_by_member_phones(gw, sandbox, group):
    promoted = gw.call("post", f"/groups/{group}/admins", json={"promote": [ANI]})
    assert promoted.status_code == 200, promoted.json
    assert roles(sandbox_group(sandbox, group))[f"{ANI}@c.us"] is True
    again = gw.call("post", f"/groups/{group}/admins", json={"promote": [ANI]})
    assert again.status_code == 200 and again.json == promoted.json  # already one: unchanged
    demoted = gw.call("post", f"/groups/{group}/admins", json={"demote": [ANI]})
    assert demoted.status_code == 200, demoted.json
    assert roles(sandbox_group(sandbox, group))[f"{ANI}@c.us"] is False
    owner = gw.call("post", f"/groups/{group}/admins", json={"demote": [ME]})
    assert owner.status_code == 403 and error_code(owner) == "group_change_not_allowed"
    stranger = gw.call("post", f"/groups/{group}/admins", json={"promote": [CICI]})
    assert stranger.status_code == 404, stranger.json
    assert gw.call("post", f"/groups/{group}/admins", json={}).status_code == 422


def test_a_non_admin_gets_403_and_an_unknown_group_404(gw, sandbox):
    theirs = sandbox.post("/_sandbox/groups", name="Grup Budi", owner=BUDI,
                          participants=[ME])["id"]
    wait_for(lambda: any(g["id"] == theirs for g in
                         gw.call("get", "/groups?refresh=true").json["data"]),
             message="the session sees Budi's group")
    sandbox.post(f"/_sandbox/phones/{BUDI}/groups/{theirs}/restrict", value=True)
    wait_for(lambda: next(g for g in gw.call("get", "/groups?refresh=true").json["data"]
                          if g["id"] == theirs)["settings"]["restrict"], message="restrict")
    for body in ({"subject": "Punyaku"}, {"settings": {"restrict": False}},
                 {"settings": {"announce": True}}):
        resp = gw.call("patch", f"/groups/{theirs}", json=body)
        assert resp.status_code == 403 and error_code(resp) == "not_group_admin", (body, resp.json)
    assert sandbox_group(sandbox, theirs)["subject"] == "Grup Budi"
    assert gw.call("get", f"/groups/{theirs}/invite-link").status_code == 403
    assert gw.call("post", f"/groups/{theirs}/admins", json={"promote": [ME]}).status_code == 403
    unknown = "120363099999999999@g.us"
    assert gw.call("patch", f"/groups/{unknown}", json={"subject": "x"}).status_code == 404
    assert gw.call("get", f"/groups/{unknown}/invite-link").status_code == 404
    assert gw.call("post", f"/groups/{unknown}/leave").status_code == 404


def test_invite_links_join_revoke_and_leave(gw, sandbox, group):
    first = gw.call("get", f"/groups/{group}/invite-link")
    assert first.status_code == 200, first.json
    assert first.json["link"] == "https://chat.whatsapp.com/" + first.json["code"]
    assert gw.call("get", f"/groups/{group}/invite-link").json == first.json  # stable

    joined = gw.call("post", "/groups/join", sid=SID2, json={"link": first.json["link"]})
    assert joined.status_code == 200, joined.json
    assert joined.json == {"id": group, "name": "Tim Baru", "pendingApproval": False}
    assert f"{ME2}@c.us" in roles(sandbox_group(sandbox, group))
    wait_for(lambda: any(g["id"] == group for g in
                         gw.call("get", "/groups?refresh=true", sid=SID2).json["data"]),
             message="the joined group in the second session's list")
    twice = gw.call("post", "/groups/join", sid=SID2, json={"link": first.json["code"]})
    assert twice.status_code == 409 and error_code(twice) == "already_group_member"

    left = gw.call("post", f"/groups/{group}/leave", sid=SID2)
    assert left.status_code == 200 and left.json == {"id": group, "left": True}
    assert f"{ME2}@c.us" not in roles(sandbox_group(sandbox, group))
    assert all(g["id"] != group for g in
               gw.call("get", "/groups?refresh=true", sid=SID2).json["data"])
    again = gw.call("post", f"/groups/{group}/leave", sid=SID2)
    assert again.status_code == 409 and error_code(again) == "not_group_member"

    revoked = gw.call("post", f"/groups/{group}/invite-link/revoke")
    assert revoked.status_code == 200 and revoked.json["code"] != first.json["code"]
    old = gw.call("post", "/groups/join", sid=SID2, json={"link": first.json["link"]})
    assert old.status_code == 404 and error_code(old) == "invalid_invite_link"
    new = gw.call("post", "/groups/join", sid=SID2, json={"link": revoked.json["link"]})
    assert new.status_code == 200 and new.json["id"] == group
    assert gw.call("post", "/groups/join", sid=SID2,
                json={"link": "https://example.com/x"}).status_code == 422
