"""Channels (WhatsApp's newsletters), end to end: HTTP, a real Chromium linked to the sandbox,
and the sandbox's network seeing (or refusing) each change.

Two linked sessions serve the module: `ch` (owns channels) and `ch2` (follows them); Ani is a
phone on the network with a channel of her own.
"""

from __future__ import annotations

import base64

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway
from .test_contacts_groups import png

number = phones(__name__)

SID, SID2 = "ch", "ch2"
ME, ME2, ANI = number(1), number(2), number(11)


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ANI, "Ani")
    box.phone(ME2, "Dua")
    box.phone(ME, "Satu")
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("channels"), SID, ME) as gateway:
        gateway.link(sandbox, SID2, ME2)
        yield gateway


def at_sandbox(sandbox: Sandbox, cid: str) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/channels/{cid}", timeout=10).json()


def events(gw, sid: str, kind: str) -> list[dict]:
    resp = gw.call("get", "/events/recent", sid=sid, query_string={"limit": 500})
    assert resp.status_code == 200, resp.json
    return [e["data"] for e in resp.json["data"] if e["type"] == kind]


def channel_ids(gw, sid: str) -> list[str]:
    resp = gw.call("get", "/channels", sid=sid)
    assert resp.status_code == 200, resp.json
    return [c["id"] for c in resp.json["data"]]


def create(gw, name: str, **body) -> dict:
    resp = gw.post("/channels", json={"name": name, **body})
    assert resp.status_code == 201, resp.json
    return resp.json


def test_a_created_channel_is_owned_listed_and_on_the_network(gw, sandbox):
    made = create(gw, "Promo Harian", description="Diskon tiap hari")
    assert made["id"].endswith("@newsletter") and made["role"] == "owner"
    assert made["name"] == "Promo Harian" and made["description"] == "Diskon tiap hari"
    assert made["inviteLink"] == f"https://whatsapp.com/channel/{made['inviteCode']}"
    on_network = at_sandbox(sandbox, made["id"])
    assert on_network["name"] == "Promo Harian" and on_network["description"] == "Diskon tiap hari"
    assert made["id"] in channel_ids(gw, SID)
    got = gw.get(f"/channels/{made['id']}")
    assert got.status_code == 200 and got.json["name"] == "Promo Harian"
    # a channel is never one of the account's chats
    assert made["id"] not in [c["id"] for c in gw.get("/chats").json["data"]]


def test_the_owner_edits_name_description_and_picture(gw, sandbox):
    cid = create(gw, "Lama")["id"]
    picture = {"data": base64.b64encode(png()).decode(), "filename": "logo.png"}
    resp = gw.call("patch", f"/channels/{cid}",
                   json={"name": "Baru", "description": "Deskripsi baru", "picture": picture})
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "Baru" and resp.json["description"] == "Deskripsi baru"
    on_network = at_sandbox(sandbox, cid)
    assert on_network["name"] == "Baru" and on_network["hasPicture"] is True
    # a picture that is no image is refused before WhatsApp is asked
    bad = gw.call("patch", f"/channels/{cid}",
                  json={"picture": {"data": base64.b64encode(b"%PDF-1.4 x").decode(),
                                    "filename": "a.pdf"}})
    assert bad.status_code == 415, bad.json


def test_posts_reach_followers_as_channel_message_events_never_as_messages(gw, sandbox):
    cid = create(gw, "Kabar")["id"]
    follow = gw.call("post", f"/channels/{cid}/follow", sid=SID2)
    assert follow.status_code == 200, follow.json
    assert follow.json["following"] is True and follow.json["channel"]["role"] == "subscriber"
    assert cid in channel_ids(gw, SID2)

    text = gw.post(f"/channels/{cid}/messages", json={"text": "Halo pengikut"})
    assert text.status_code == 201, text.json
    assert text.json["chatId"] == cid and text.json["fromMe"] is True
    image = gw.post(f"/channels/{cid}/messages", json={
        "media": {"data": base64.b64encode(png()).decode(), "filename": "promo.png"},
        "caption": "Promo gambar"})
    assert image.status_code == 201, image.json
    assert image.json["type"] == "image"
    poll = gw.post(f"/channels/{cid}/messages", json={
        "poll": {"name": "Pilih jam", "options": ["Pagi", "Sore"]}})
    assert poll.status_code == 201, poll.json
    assert poll.json["type"] == "poll_creation"

    posts = wait_for(lambda: len(got := [e for e in events(gw, SID2, "channel.message")
                                         if e["chatId"] == cid]) == 3 and got,
                     message="three channel.message events at the follower")
    assert sorted(p["type"] for p in posts) == ["chat", "image", "poll_creation"]
    assert {p["body"] for p in posts} >= {"Halo pengikut", "Pilih jam"}
    assert not [e for e in events(gw, SID2, "message") if e["chatId"] == cid]
    followers = gw.get(f"/channels/{cid}/followers")
    assert followers.status_code == 200, followers.json
    assert {(f["id"], f["role"]) for f in followers.json["data"]} == {
        (f"{ME}@c.us", "owner"), (f"{ME2}@c.us", "subscriber")}


def test_a_follower_may_not_post_edit_delete_or_list_followers(gw, sandbox):
    cid = sandbox.post("/_sandbox/channels", owner=ANI, name="Toko Ani")["id"]
    assert gw.post(f"/channels/{cid}/follow").status_code == 200
    sandbox.post(f"/_sandbox/channels/{cid}/posts", **{"from": ANI, "text": "Buka jam 8"})
    post = wait_for(lambda: next((e for e in events(gw, SID, "channel.message")
                                  if e["body"] == "Buka jam 8"), None),
                    message="Ani's post as a channel.message event")
    assert post["chatId"] == cid and post["fromMe"] is False

    refused = gw.post(f"/channels/{cid}/messages", json={"text": "bukan pemilik"})
    assert refused.status_code == 403 and error_code(refused) == "not_channel_admin"
    edit = gw.call("patch", f"/channels/{cid}", json={"name": "Diambil alih"})
    assert edit.status_code == 403 and error_code(edit) == "not_channel_admin"
    delete = gw.call("delete", f"/channels/{cid}")
    assert delete.status_code == 403 and error_code(delete) == "not_channel_owner"
    listing = gw.get(f"/channels/{cid}/followers")
    assert listing.status_code == 403 and error_code(listing) == "not_channel_admin"
    assert at_sandbox(sandbox, cid)["name"] == "Toko Ani"
    assert not [m for m in requests.get(f"{sandbox.url}/_sandbox/messages",
                                        params={"from": ME}, timeout=10).json()["data"]
                if m["text"] == "bukan pemilik"]

    # the owner makes the account an admin: it may post from then on
    sandbox.post(f"/_sandbox/channels/{cid}/admin", phone=ME, admin=True)
    wait_for(lambda: gw.get(f"/channels/{cid}").json.get("role") == "admin",
             message="the account an admin of Ani's channel")
    assert gw.post(f"/channels/{cid}/messages", json={"text": "dari admin"}).status_code == 201


def test_a_channel_takes_texts_images_videos_and_polls_only(gw):
    cid = create(gw, "Berkas")["id"]
    pdf = gw.post(f"/channels/{cid}/messages", json={
        "media": {"data": base64.b64encode(b"%PDF-1.4 x").decode(), "filename": "a.pdf"}})
    assert pdf.status_code == 415, pdf.json
    both = gw.post(f"/channels/{cid}/messages", json={"text": "a", "poll": {
        "name": "b", "options": ["x", "y"]}})
    assert both.status_code == 422, both.json


def test_unknown_and_malformed_channels_are_clear_errors(gw):
    missing = gw.get("/channels/120363000000000001@newsletter")
    assert missing.status_code == 404 and error_code(missing) == "channel_not_found"
    post = gw.post("/channels/120363000000000001@newsletter/messages", json={"text": "x"})
    assert post.status_code == 404 and error_code(post) == "channel_not_found"
    bad = gw.get("/channels/12345@g.us")
    assert bad.status_code == 422, bad.json


def test_unfollow_and_delete_take_the_channel_off_the_lists(gw, sandbox):
    cid = create(gw, "Sementara")["id"]
    assert gw.call("post", f"/channels/{cid}/follow", sid=SID2).status_code == 200
    unfollowed = gw.call("post", f"/channels/{cid}/unfollow", sid=SID2)
    assert unfollowed.status_code == 200 and unfollowed.json["following"] is False
    assert cid not in channel_ids(gw, SID2)
    assert gw.call("post", f"/channels/{cid}/follow", sid=SID2).status_code == 200

    deleted = gw.call("delete", f"/channels/{cid}")
    assert deleted.status_code == 200 and deleted.json == {"id": cid, "deleted": True}
    assert cid not in channel_ids(gw, SID)
    wait_for(lambda: cid not in channel_ids(gw, SID2), message="the deleted channel gone at ch2")
    gone = requests.get(f"{sandbox.url}/_sandbox/channels/{cid}", timeout=10)
    assert gone.status_code == 404
