"""Chats end to end: presence both ways, archive, pin, mute, clear, delete, labels.

HTTP → real Chromium → the sandbox's WPP functions (wa-js 4.6.0 names and shapes) → the
sandbox network → the phones. One linked session (a personal account) serves the module; the
labels test links a second one, a WhatsApp Business account.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "chats"
ALICE = number(1)  # the session's phone
BUDI, CITRA, DEWI, EKO, FAJAR = (number(n) for n in range(2, 7))
BOS = number(10)  # a WhatsApp Business account (second session)
STRANGER = number(99)  # on WhatsApp, never in a chat with the session


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    for phone, name in ((BUDI, "Budi"), (CITRA, "Citra"), (DEWI, "Dewi"), (EKO, "Eko"),
                        (FAJAR, "Fajar"), (STRANGER, "Stranger")):
        box.phone(phone, name)
    box.phone(ALICE, "Alice", contacts=[{"phone": BUDI, "name": "Budi"}])
    box.phone(BOS, "Toko Bos", business=True)
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("chats"), SID, ALICE) as gateway:
        yield gateway


def chat_with(gw, sandbox, sender: str, text: str, sid: str = SID, to: str = ALICE) -> None:
    """A phone writes to the session; wait until the session's chat has the message."""
    sandbox.post("/_sandbox/messages", **{"from": sender, "to": to, "text": text})
    wait_for(lambda: any(m["body"] == text for m in gw.client.get(
        f"/sessions/{sid}/chats/{sender}/messages").json.get("data", [])),
        message=f"{text!r} in the session")


def listed(gw, chat: str, sid: str = SID) -> dict:
    """The chat as GET …/chats lists it (no refresh: a change must have dropped the cache)."""
    resp = gw.client.get(f"/sessions/{sid}/chats")
    assert resp.status_code == 200, resp.json
    return next(c for c in resp.json["data"] if c["id"] == f"{chat}@c.us")


def on_phone(sandbox, phone: str, chat: str) -> dict:
    """The chat as the account's phone sees it (the network's state)."""
    chats = requests.get(f"{sandbox.url}/_sandbox/phones/{phone}/chats", timeout=10).json()["data"]
    return next((c for c in chats if c["id"] == f"{chat}@c.us"), None)


def seen_by(sandbox, phone: str) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/phones/{phone}/presence", timeout=10).json()


def events(gw, type_: str, sid: str = SID) -> list[dict]:
    rows = gw.engine.events.outbox.since(sid, 0, limit=5000)
    return [json.loads(r["body"])["data"] for r in rows if r["type"] == type_]


# ---- presence ----

def test_typing_recording_and_paused_are_seen_by_the_phone(gw, sandbox):
    chat_with(gw, sandbox, BUDI, "Halo, ada stok?")
    for state, wa_state in (("typing", "composing"), ("recording", "recording"),
                            ("paused", "paused")):
        resp = gw.client.post(f"/sessions/{SID}/chats/{BUDI}/presence", json={"state": state})
        assert resp.status_code == 200, resp.json
        assert resp.json == {"chatId": f"{BUDI}@c.us", "state": state}
        latest = [s for s in seen_by(sandbox, BUDI)["chatstates"] if s["from"] == ALICE]
        assert latest and latest[-1]["state"] == wa_state


def test_presence_in_a_chat_that_does_not_exist_is_404(gw, sandbox):
    resp = gw.client.post(f"/sessions/{SID}/chats/{STRANGER}/presence", json={"state": "typing"})
    assert resp.status_code == 404, resp.json
    assert not [s for s in seen_by(sandbox, STRANGER)["chatstates"] if s["from"] == ALICE]
    resp = gw.client.post(f"/sessions/{SID}/chats/{BUDI}/presence", json={"state": "dancing"})
    assert resp.status_code == 422


def test_the_account_goes_offline_and_online(gw, sandbox):
    resp = gw.client.put(f"/sessions/{SID}/presence", json={"available": False})
    assert resp.status_code == 200 and resp.json == {"available": False}
    assert ALICE not in seen_by(sandbox, BUDI)["online"]
    resp = gw.client.put(f"/sessions/{SID}/presence", json={"available": True})
    assert resp.status_code == 200 and resp.json == {"available": True}
    assert ALICE in seen_by(sandbox, BUDI)["online"]
    assert gw.client.put(f"/sessions/{SID}/presence", json={"available": "yes"}).status_code == 422


def test_a_phone_typing_to_the_session_is_a_presence_update_event(gw, sandbox):
    # CITRA's chat starts after WhatsApp Web loaded: nothing subscribed her presence then.
    chat_with(gw, sandbox, CITRA, "Pesanan saya sudah dikirim?")
    citra = f"{CITRA}@c.us"

    def typed(state):
        return [e for e in events(gw, "presence.update")
                if e["contactId"] == citra and e["state"] == state]

    def tell(state):
        return sandbox.post(f"/_sandbox/phones/{CITRA}/presence", to=ALICE, state=state)

    # the subscription is made as the chat appears; the phone keeps typing until it is seen
    wait_for(lambda: tell("composing") and typed("typing"), message="presence.update typing")
    event = typed("typing")[-1]
    assert event["chatId"] == citra and event["isOnline"] is True
    assert abs(event["timestamp"] - time.time()) < 60
    tell("recording")
    wait_for(lambda: typed("recording"), message="presence.update recording")
    tell("paused")  # stopped typing, still online: WhatsApp's chatstate becomes available
    wait_for(lambda: typed("available"), message="presence.update available")


# ---- archive, pin, mute ----

def test_archive_pin_and_mute_show_in_the_chat_list_and_on_the_phone(gw, sandbox):
    chat_with(gw, sandbox, DEWI, "Jadi ketemu besok?")
    base = f"/sessions/{SID}/chats/{DEWI}"
    gw.client.get(f"/sessions/{SID}/chats")  # cached now: each change must drop it

    resp = gw.client.post(f"{base}/pin", json={"pin": True})
    assert resp.status_code == 200, resp.json
    assert resp.json["pinned"] is True and listed(gw, DEWI)["pinned"] is True
    assert on_phone(sandbox, ALICE, DEWI)["pin"] > 0

    resp = gw.client.post(f"{base}/archive", json={})  # archive: true by default
    assert resp.status_code == 200, resp.json
    assert listed(gw, DEWI)["archived"] is True
    assert listed(gw, DEWI)["pinned"] is False  # WhatsApp unpins what it archives
    assert on_phone(sandbox, ALICE, DEWI)["archive"] is True
    assert gw.client.post(f"{base}/archive", json={"archive": True}).status_code == 200  # again
    assert gw.client.post(f"{base}/archive", json={"archive": False}).json["archived"] is False
    assert on_phone(sandbox, ALICE, DEWI)["archive"] is False

    resp = gw.client.post(f"{base}/mute", json={"duration": 3600})
    assert resp.status_code == 200, resp.json
    until = listed(gw, DEWI)["mutedUntil"]
    assert listed(gw, DEWI)["muted"] is True and abs(until - (time.time() + 3600)) < 120
    assert on_phone(sandbox, ALICE, DEWI)["muteExpiration"] == until
    later = int(time.time()) + 8 * 3600
    assert gw.client.post(f"{base}/mute", json={"until": later}).json["mutedUntil"] == later
    resp = gw.client.post(f"{base}/mute", json={"mute": False})
    assert resp.status_code == 200 and resp.json["muted"] is False
    assert listed(gw, DEWI)["mutedUntil"] is None
    assert on_phone(sandbox, ALICE, DEWI)["muteExpiration"] == 0
    # nothing on the phone says the other party saw any of it
    assert on_phone(sandbox, DEWI, ALICE)["archive"] is False


def test_mute_needs_one_time_in_the_future(gw, sandbox):
    chat_with(gw, sandbox, DEWI, "Oke")
    base = f"/sessions/{SID}/chats/{DEWI}/mute"
    for body in ({}, {"duration": 60, "until": 2000000000}, {"mute": False, "duration": 5},
                 {"duration": 0}, {"duration": "60"}):
        resp = gw.client.post(base, json=body)
        assert resp.status_code == 422, (body, resp.json)
    resp = gw.client.post(base, json={"until": int(time.time()) - 3600})  # WhatsApp refuses
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["details"]["waCode"] == "negative_time_mute"


def test_a_fourth_pinned_chat_is_refused(gw, sandbox):
    for phone in (BUDI, CITRA, EKO, FAJAR):
        chat_with(gw, sandbox, phone, f"pin me {phone}")
    try:
        for phone in (BUDI, CITRA, EKO):
            resp = gw.client.post(f"/sessions/{SID}/chats/{phone}/pin", json={})
            assert resp.status_code == 200, resp.json
        resp = gw.client.post(f"/sessions/{SID}/chats/{FAJAR}/pin", json={"pin": True})
        assert resp.status_code == 422, resp.json
        assert error_code(resp) == "chat_pin_limit"
        assert listed(gw, FAJAR)["pinned"] is False
        assert on_phone(sandbox, ALICE, FAJAR)["pin"] == 0
    finally:
        for phone in (BUDI, CITRA, EKO):
            assert gw.client.post(f"/sessions/{SID}/chats/{phone}/pin",
                                  json={"pin": False}).status_code == 200
    assert gw.client.post(f"/sessions/{SID}/chats/{FAJAR}/pin", json={}).json["pinned"] is True
    assert gw.client.post(f"/sessions/{SID}/chats/{FAJAR}/pin",
                          json={"pin": False}).json["pinned"] is False


# ---- clear and delete ----

def test_clear_empties_the_chat_and_delete_removes_it(gw, sandbox):
    chat_with(gw, sandbox, EKO, "Satu")
    chat_with(gw, sandbox, EKO, "Dua")
    base = f"/sessions/{SID}/chats/{EKO}"
    resp = gw.client.post(f"{base}/clear", json={})
    assert resp.status_code == 200, resp.json
    assert resp.json == {"chatId": f"{EKO}@c.us", "cleared": True, "keepStarred": True}
    assert gw.client.get(f"{base}/messages").json["data"] == []
    assert listed(gw, EKO)["id"] == f"{EKO}@c.us"  # the chat stays
    assert on_phone(sandbox, ALICE, EKO)["messages"] == 0
    assert on_phone(sandbox, EKO, ALICE)["messages"] > 0  # EKO keeps his copy

    resp = gw.client.delete(base)
    assert resp.status_code == 200, resp.json
    assert resp.json == {"chatId": f"{EKO}@c.us", "deleted": True}
    ids = [c["id"] for c in gw.client.get(f"/sessions/{SID}/chats").json["data"]]
    assert f"{EKO}@c.us" not in ids
    assert on_phone(sandbox, ALICE, EKO) is None
    assert gw.client.delete(base).status_code == 404  # WhatsApp would make it anew: refused
    chat_with(gw, sandbox, EKO, "Halo lagi")  # a new message starts the chat again
    assert gw.client.get(f"{base}/messages").json["data"][-1]["body"] == "Halo lagi"


def test_every_chat_route_answers_404_for_a_chat_that_does_not_exist(gw):
    base = f"/sessions/{SID}/chats/{STRANGER}"
    for method, path, body in (("post", "/archive", {}), ("post", "/pin", {}),
                               ("post", "/mute", {"duration": 60}), ("post", "/clear", {}),
                               ("delete", "", None), ("post", "/presence", {"state": "paused"})):
        resp = getattr(gw.client, method)(base + path, json=body)
        assert resp.status_code == 404, (path, resp.json)
        assert error_code(resp) == "not_found"
    assert gw.client.post(f"/sessions/{SID}/chats/not-an-id/archive", json={}).status_code == 422
    assert gw.client.post("/sessions/nope/chats/123456789/archive", json={}).status_code == 404


# ---- labels ----

def test_labels_on_a_personal_account_are_422(gw, sandbox):
    chat_with(gw, sandbox, BUDI, "Labels?")
    for resp in (gw.client.get(f"/sessions/{SID}/labels"),
                 gw.client.post(f"/sessions/{SID}/labels", json={"name": "VIP"}),
                 gw.client.put(f"/sessions/{SID}/chats/{BUDI}/labels", json={"add": ["1"]})):
        assert resp.status_code == 422, resp.json
        assert error_code(resp) == "not_business_account"


def test_a_business_account_creates_labels_and_labels_chats(gw, sandbox):
    gw.link(sandbox, "toko", BOS)
    try:
        chat_with(gw, sandbox, BUDI, "Mau pesan 2", sid="toko", to=BOS)
        assert gw.client.get("/sessions/toko/labels").json == {"data": []}
        resp = gw.client.post("/sessions/toko/labels", json={"name": "Pelanggan baru"})
        assert resp.status_code == 201, resp.json
        label = resp.json
        assert label["name"] == "Pelanggan baru" and label["color"].startswith("#")
        assert label["count"] == 0
        vip = gw.client.post("/sessions/toko/labels", json={"name": "VIP", "color": 3}).json
        assert vip["colorIndex"] == 3 and vip["id"] != label["id"]
        names = [x["name"] for x in gw.client.get("/sessions/toko/labels").json["data"]]
        assert names == ["Pelanggan baru", "VIP"]

        resp = gw.client.put(f"/sessions/toko/chats/{BUDI}/labels",
                             json={"add": [label["id"], vip["id"]]})
        assert resp.status_code == 200, resp.json
        assert sorted(resp.json["labels"]) == sorted([label["id"], vip["id"]])
        assert sorted(listed(gw, BUDI, "toko")["labels"]) == sorted([label["id"], vip["id"]])
        phone_labels = requests.get(f"{sandbox.url}/_sandbox/phones/{BOS}/labels",
                                    timeout=10).json()["data"]
        assert [x["chats"] for x in phone_labels] == [[f"{BUDI}@c.us"], [f"{BUDI}@c.us"]]
        counted = {x["id"]: x["count"] for x in gw.client.get("/sessions/toko/labels").json["data"]}
        assert counted == {label["id"]: 1, vip["id"]: 1}

        resp = gw.client.put(f"/sessions/toko/chats/{BUDI}/labels", json={"remove": [vip["id"]]})
        assert resp.status_code == 200 and resp.json["labels"] == [label["id"]]
        resp = gw.client.put(f"/sessions/toko/chats/{BUDI}/labels", json={"add": ["999"]})
        assert resp.status_code == 404 and error_code(resp) == "not_found"
        resp = gw.client.put(f"/sessions/toko/chats/{STRANGER}/labels", json={"add": ["1"]})
        assert resp.status_code == 404
        assert gw.client.put(f"/sessions/toko/chats/{BUDI}/labels", json={}).status_code == 422
        # labelColor 0 means "choose one" to wa-js: the first palette colour is asked by its value
        first = gw.client.post("/sessions/toko/labels", json={"name": "Utama", "color": 0})
        assert first.status_code == 201 and first.json["colorIndex"] == 0, first.json
    finally:
        assert gw.client.delete("/sessions/toko").status_code == 200
