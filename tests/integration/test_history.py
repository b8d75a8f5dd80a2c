"""The stored message history end to end: phones send through the sandbox, the session sends,
edits and deletes through HTTP and real Chromium, a phone reads; GET /sessions/{id}/messages
then pages and searches what the gateway kept, and a purge removes it."""

from __future__ import annotations

import base64

import pytest

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "hist"
ME, RINA, SURYA = number(1), number(2), number(3)
RINA_CHAT, SURYA_CHAT = f"{RINA}@c.us", f"{SURYA}@c.us"
# the smallest PNG: a 1x1 pixel
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(RINA, "Rina")
    box.phone(SURYA, "Surya")
    box.phone(ME, "Me", contacts=[{"phone": RINA, "name": "Rina"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("history"), SID, ME,
                        MEDIA_STORE="local", SEND_MIN_INTERVAL=0.2, SEND_JITTER=0.0) as gateway:
        yield gateway


def history(gw, **query) -> dict:
    resp = gw.get("/messages", query_string=query)
    assert resp.status_code == 200, resp.json
    return resp.json


def every_page(gw, limit: int, **query) -> list[dict]:
    found, before = [], None
    while True:
        page = history(gw, limit=limit, **query, **({"before": before} if before else {}))
        found += page["data"]
        if page["next"] is None:
            return found
        before = page["next"]


def send(gw, to: str, text: str) -> dict:
    resp = gw.post("/messages", json={"to": to, "text": text})
    assert resp.status_code == 201, resp.json
    return resp.json


def test_the_history_keeps_pages_and_searches_what_the_session_saw_and_sent(gw, sandbox):
    sandbox.post("/_sandbox/messages", **{"from": RINA, "to": ME,
                                          "text": "Selamat pagi, kopi sudah siap?"})
    sandbox.post("/_sandbox/messages", **{"from": SURYA, "to": ME, "text": "Harga kopi naik"})
    media = {"data": base64.b64encode(PNG).decode(), "filename": "menu.png",
             "mimetype": "image/png"}
    photo = sandbox.post("/_sandbox/messages", **{"from": SURYA, "to": ME,
                                                  "caption": "Foto KOPI susu", "media": media})
    order = send(gw, RINA, "Terima kasih, saya pesan dua")
    wrong = send(gw, SURYA, "pesan salah kirim")
    resp = gw.client.patch(f"/sessions/{SID}/messages/{order['id']}",
                           json={"text": "Terima kasih, saya pesan tiga"})
    assert resp.status_code == 200, resp.json
    resp = gw.client.delete(f"/sessions/{SID}/messages/{wrong['id']}?forEveryone=true")
    assert resp.status_code == 200 and resp.json["revoked"], resp.json
    sandbox.read(RINA, f"{ME}@c.us")  # Rina opens the chat: delivered, then read

    def settled():
        rows = {m["id"]: m for m in history(gw, limit=500)["data"]}
        mine = rows.get(order["id"])
        done = len(rows) == 5 and mine and mine["ack"] == "read" and "editedAt" in mine \
            and rows.get(wrong["id"], {}).get("type") == "revoked"
        return done and rows
    rows = wait_for(settled, timeout=60, message="5 messages stored, edited, revoked, read")

    every = history(gw, limit=500)["data"]
    assert [m["timestamp"] for m in every] == sorted((m["timestamp"] for m in every),
                                                     reverse=True)
    edited = rows[order["id"]]
    assert edited["body"] == "Terima kasih, saya pesan tiga" and edited["fromMe"] is True
    assert edited["chatId"] == RINA_CHAT
    revoked = rows[wrong["id"]]
    assert revoked["body"] == "" and revoked["revokedAt"] and revoked["chatId"] == SURYA_CHAT

    # q finds words (case and accents ignored), captions included; old text is not found
    found = {m["body"] or m.get("caption") for m in history(gw, q="kopi")["data"]}
    assert found == {"Selamat pagi, kopi sudah siap?", "Harga kopi naik", "Foto KOPI susu"}
    assert [m["id"] for m in history(gw, q="pesan tiga")["data"]] == [order["id"]]
    assert history(gw, q="dua")["data"] == [] and history(gw, q="salah")["data"] == []
    assert {m["body"] for m in history(gw, q="sel*")["data"]} == {
        "Selamat pagi, kopi sudah siap?"}

    # type and chat filter; the image is kept by reference (MEDIA_STORE's URL), not its bytes
    [image] = history(gw, type="image")["data"]
    assert image["caption"] == "Foto KOPI susu" and image["media"]["url"].startswith("/media/")
    assert image["mimetype"] == "image/png" and image["id"].endswith(photo["id"])
    assert "data" not in image["media"]
    assert {m["id"] for m in history(gw, chat=SURYA)["data"]} == {
        m["id"] for m in every if m["chatId"] == SURYA_CHAT} and len(
        history(gw, chat=SURYA)["data"]) == 3
    assert [m["id"] for m in history(gw, chat=RINA, q="kopi")["data"]] == [
        m["id"] for m in every if m["chatId"] == RINA_CHAT and "kopi" in m["body"]]

    # paging is complete and has no duplicates, with and without a search
    paged = every_page(gw, limit=2)
    assert [m["id"] for m in paged] == [m["id"] for m in every]
    assert len({m["id"] for m in every_page(gw, limit=1, q="kopi")}) == 3
    newer = history(gw, after=every[2]["cursor"])["data"]
    assert [m["id"] for m in newer] == [m["id"] for m in every[:2]]

    # bad parameters are refused with the envelope
    resp = gw.get("/messages", query_string={"before": "last tuesday"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error"

    # the session's chat page is still read from WhatsApp Web itself
    chat = gw.get(f"/chats/{RINA}/messages").json["data"]
    assert "Terima kasih, saya pesan tiga" in [m["body"] for m in chat]

    # a purge removes the history with the session
    assert gw.client.delete(f"/sessions/{SID}?purge=true").status_code == 200
    left = gw.engine.store.execute("SELECT COUNT(*) AS n FROM messages WHERE session = ?", (SID,))
    assert left[0]["n"] == 0
    assert gw.get("/messages").status_code == 404
