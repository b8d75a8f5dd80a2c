"""Status posts (stories), end to end: HTTP, a real Chromium linked to the sandbox, and the
sandbox's phones seeing a status (or not: only contacts do, and only for 24 hours).

The session `st` posts as Satu; Ani saved Satu (she sees Satu's statuses), Budi did not.
"""

from __future__ import annotations

import base64

import pytest
import requests

from ..conftest import error_code, phones, wait_for
from .conftest import Sandbox, linked_gateway
from .test_contacts_groups import png
from .test_messaging import MP4

number = phones(__name__)

SID = "st"
ME, ANI, BUDI = number(1), number(11), number(12)
DAY = 24 * 3600


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ANI, "Ani", contacts=[{"phone": ME, "name": "Satu"}])
    box.phone(BUDI, "Budi")
    box.phone(ME, "Satu", contacts=[{"phone": ANI, "name": "Ani"}, {"phone": BUDI, "name": "Budi"}])
    yield box
    box.post("/_sandbox/clock", offset=0)  # the network's own time again


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("status"), SID, ME) as gateway:
        yield gateway


def seen_by(sandbox: Sandbox, phone: str) -> list[dict]:
    return requests.get(f"{sandbox.url}/_sandbox/phones/{phone}/statuses", timeout=10).json()["data"]


def mine(gw) -> list[dict]:
    resp = gw.get("/status")
    assert resp.status_code == 200, resp.json
    return resp.json["data"]


def post_text(gw, text: str, **extra) -> dict:
    resp = gw.post("/status", json={"text": text, **extra})
    assert resp.status_code == 201, resp.json
    return resp.json


def test_a_text_status_reaches_only_contacts_who_saved_the_account(gw, sandbox):
    status = post_text(gw, "Buka sampai jam 9", backgroundColor="#0275D8", font=2)
    assert status["id"].startswith("true_status@broadcast_") and status["type"] == "chat"
    assert status["text"] == "Buka sampai jam 9"
    assert status["backgroundColor"] == "#0275D8" and status["font"] == 2
    assert status["expiresAt"] == status["timestamp"] + DAY
    assert "Buka sampai jam 9" in [s["text"] for s in seen_by(sandbox, ANI)]
    assert "Buka sampai jam 9" not in [s["text"] for s in seen_by(sandbox, BUDI)]
    assert status["id"] in [s["id"] for s in mine(gw)]


def test_image_and_video_statuses_with_captions(gw, sandbox):
    image = gw.post("/status", json={"media": {"data": base64.b64encode(png()).decode(),
                                               "filename": "promo.png"}, "caption": "Gambar"})
    assert image.status_code == 201, image.json
    assert image.json["type"] == "image" and image.json["caption"] == "Gambar"
    video = gw.post("/status", json={"media": {"data": base64.b64encode(MP4).decode(),
                                               "filename": "promo.mp4"}})
    assert video.status_code == 201, video.json
    assert video.json["type"] == "video"
    types = {s["id"]: s["type"] for s in mine(gw)}
    assert types[image.json["id"]] == "image" and types[video.json["id"]] == "video"
    assert {"image", "video"} <= {s["type"] for s in seen_by(sandbox, ANI)}


def test_the_poster_sees_who_viewed_and_a_non_contact_cannot_view(gw, sandbox):
    status = post_text(gw, "Siapa lihat?")
    bare = status["id"].split("_")[2]
    sandbox.post(f"/_sandbox/statuses/{bare}/view", by=ANI)
    viewers = wait_for(lambda: next(s["viewers"] for s in mine(gw) if s["id"] == status["id"]),
                       message="Ani among the viewers")
    assert [v["id"] for v in viewers] == [f"{ANI}@c.us"] and viewers[0]["viewedAt"]
    refused = requests.post(f"{sandbox.url}/_sandbox/statuses/{bare}/view", json={"by": BUDI},
                            timeout=10)
    assert refused.status_code == 403 and error_code(refused) == "not_a_contact"


def test_a_deleted_status_is_gone_for_everyone(gw, sandbox):
    status = post_text(gw, "Salah ketik")
    deleted = gw.call("delete", f"/status/{status['id']}")
    assert deleted.status_code == 200 and deleted.json == {"id": status["id"], "deleted": True}
    assert status["id"] not in [s["id"] for s in mine(gw)]
    assert "Salah ketik" not in [s["text"] for s in seen_by(sandbox, ANI)]
    again = gw.call("delete", f"/status/{status['id']}")
    assert again.status_code == 404, again.json


def test_a_status_is_gone_after_24_hours(gw, sandbox):
    status = post_text(gw, "Hanya hari ini")
    bare = status["id"].split("_")[2]
    sandbox.post("/_sandbox/clock", advance=DAY - 60)
    assert status["id"] in [s["id"] for s in mine(gw)]
    assert "Hanya hari ini" in [s["text"] for s in seen_by(sandbox, ANI)]
    sandbox.post("/_sandbox/clock", advance=120)  # a day and a minute after it was posted
    assert status["id"] not in [s["id"] for s in mine(gw)]
    assert "Hanya hari ini" not in [s["text"] for s in seen_by(sandbox, ANI)]
    late = requests.post(f"{sandbox.url}/_sandbox/statuses/{bare}/view", json={"by": ANI},
                         timeout=10)
    assert late.status_code == 404 and error_code(late) == "status_not_found"
    gone = gw.call("delete", f"/status/{status['id']}")
    assert gone.status_code == 404, gone.json


def test_bad_status_requests_are_clear_errors(gw):
    colour = gw.post("/status", json={"text": "x", "backgroundColor": "blue"})
    assert colour.status_code == 422, colour.json
    both = gw.post("/status", json={"text": "x", "media": {"data": "AAAA", "filename": "a.png"}})
    assert both.status_code == 422, both.json
    pdf = gw.post("/status", json={"media": {"data": base64.b64encode(b"%PDF-1.4 x").decode(),
                                             "filename": "a.pdf"}})
    assert pdf.status_code == 415, pdf.json
    bad_id = gw.call("delete", "/status/true_123@c.us_ABCDEF")
    assert bad_id.status_code == 422, bad_id.json
