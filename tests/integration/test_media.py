"""Incoming media end to end: sandbox phones send files, real Chromium downloads them (wa-js
`chat.downloadMedia`), the gateway streams them over HTTP and, with MEDIA_STORE, keeps them in
a local folder or a real S3 API (moto's server) and puts `media` in the message event.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from contextlib import contextmanager

import pytest
import requests

from waengine import create_app

from ..conftest import moto_s3, phones, wait_for
from .conftest import Gateway, Sandbox, assert_no_browsers

number = phones(__name__)

SID = "media"
ME = number(1)  # the session's phone
ANI, BAYU, CICI = number(2), number(3), number(4)
KIB, MIB = 2**10, 2**20
# Small chunks so a 1.3 MB file is read in several commands; a 5 MiB store cap that three
# 2 MB files overflow; a download cap the 2.5 MB file is over.
CONFIG = {"MEDIA_CHUNK_BYTES": 256 * KIB, "MEDIA_MAX_BYTES": int(2.2 * MIB),
          "MEDIA_LOCAL_MAX_BYTES": 5 * MIB}


@contextmanager
def linked(sandbox: Sandbox, root, phone: str, **config):
    """A gateway with these settings whose session SID is CONNECTED as `phone`."""
    gateway = Gateway(create_app({"ENV": "testing", "DATA_DIR": str(root / "data"),
                                  "WA_URL": sandbox.url + "/", "API_KEYS": [], **config}))
    gateway.engine.start()
    try:
        gateway.link(sandbox, SID, phone)
        yield gateway
    finally:
        gateway.engine.close()
        assert_no_browsers(root)


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    for phone, name in ((ANI, "Ani"), (BAYU, "Bayu"), (CICI, "Cici")):
        box.phone(phone, name)
    box.phone(ME, "Me", contacts=[{"phone": ANI, "name": "Ani"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked(sandbox, tmp_path_factory.mktemp("media"), ME, MEDIA_STORE="local",
                **CONFIG) as gateway:
        yield gateway


def send_file(sandbox: Sandbox, sender: str, data: bytes, filename: str, mimetype: str,
              caption: str | None = None, to: str = ME) -> dict:
    media = {"data": base64.b64encode(data).decode(), "filename": filename, "mimetype": mimetype}
    return sandbox.post("/_sandbox/messages", **{"from": sender, "to": to, "caption": caption,
                                                 "media": media})


def message_event(gw: Gateway, message_id: str, sid: str = SID) -> dict:
    """The `message` event of that message, once the outbox has it."""
    def find():
        for row in gw.engine.events.outbox.since(sid, 0):
            body = json.loads(row["body"])
            if row["type"] == "message" and body["data"]["id"] == message_id:
                return body
        return None
    return wait_for(find, timeout=30, message=f"the message event of {message_id}")


def media_of(gw: Gateway, message_id: str, **kw):
    return gw.client.get(f"/sessions/{SID}/messages/{message_id}/media", **kw)


def test_an_incoming_file_streams_with_its_type_and_a_safe_name(gw, sandbox):
    data = os.urandom(1300 * KIB)  # six chunks of 256 KiB
    sent = send_file(sandbox, ANI, data, "../../Laporan Q3 ü.pdf", "application/pdf")
    message_event(gw, sent["recipientKey"])
    resp = media_of(gw, sent["recipientKey"])
    assert resp.status_code == 200, resp.json
    assert resp.data == data
    assert resp.mimetype == "application/pdf"
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"Laporan Q3 u.pdf\"; "
        "filename*=UTF-8''Laporan%20Q3%20%C3%BC.pdf")


def test_other_commands_run_between_chunks_of_a_download(gw, sandbox):
    data = os.urandom(1024 * KIB)
    sent = send_file(sandbox, ANI, data, "clip.mp4", "video/mp4")
    message_event(gw, sent["recipientKey"])
    resp = media_of(gw, sent["recipientKey"], buffered=False)
    chunks = iter(resp.response)
    first = next(chunks)
    assert 0 < len(first) < len(data)  # the rest is still in the page
    # The session's worker is free between chunks: a page command goes through meanwhile.
    chats = gw.client.get(f"/sessions/{SID}/chats?refresh=true")
    assert chats.status_code == 200 and chats.json["cached"] is False
    assert first + b"".join(chunks) == data
    resp.close()


def test_a_file_the_session_sent_downloads_too(gw, sandbox):
    data = b"%PDF-1.4\n" + os.urandom(40 * KIB) + b"\n%%EOF\n"
    sent = gw.client.post(f"/sessions/{SID}/messages/media", json={
        "to": BAYU, "media": {"data": base64.b64encode(data).decode(), "filename": "out.pdf",
                              "mimetype": "application/pdf"}})
    assert sent.status_code == 201, sent.json
    resp = media_of(gw, sent.json["id"])
    assert resp.status_code == 200, resp.json
    assert resp.data == data and resp.mimetype == "application/pdf"


def test_a_text_message_or_an_unknown_id_has_no_media(gw, sandbox):
    text = sandbox.post("/_sandbox/messages", **{"from": ANI, "to": ME, "text": "no file"})
    message_event(gw, text["recipientKey"])
    resp = media_of(gw, text["recipientKey"])
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    assert resp.json["error"]["details"]["waCode"] == "message_not_contains_media"
    unknown = media_of(gw, f"false_{ANI}@c.us_3A0000000000000000FF")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
    bad = media_of(gw, "not-a-key")
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"


def test_media_expired_on_whatsapp_is_410(gw, sandbox):
    sent = send_file(sandbox, CICI, b"GIF89a" + os.urandom(2000), "old.gif", "image/gif")
    message_event(gw, sent["recipientKey"])
    sandbox.post(f"/_sandbox/messages/{sent['id']}/expire")
    resp = media_of(gw, sent["recipientKey"])
    assert resp.status_code == 410
    assert resp.json["error"]["code"] == "media_expired"


def test_a_file_over_the_cap_is_413_and_its_event_says_why(gw, sandbox):
    sent = send_file(sandbox, CICI, os.urandom(int(2.5 * MIB)), "big.bin",
                     "application/octet-stream")
    event = message_event(gw, sent["recipientKey"])
    assert "media" not in event["data"]
    assert event["data"]["mediaError"]["code"] == "media_too_large"
    resp = media_of(gw, sent["recipientKey"])
    assert resp.status_code == 413 and resp.json["error"]["code"] == "media_too_large"


def test_the_local_store_keeps_each_file_once_and_events_stay_in_order(gw, sandbox):
    data = os.urandom(300 * KIB)
    sent = send_file(sandbox, BAYU, data, "photo.jpg", "image/jpeg", caption="lihat")
    after = sandbox.post("/_sandbox/messages", **{"from": BAYU, "to": ME, "text": "sudah?"})
    event = message_event(gw, sent["recipientKey"])
    message_event(gw, after["recipientKey"])
    media = event["data"]["media"]
    assert media["mimetype"] == "image/jpeg" and media["size"] == len(data)
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert event["data"]["caption"] == "lihat"
    ids = [json.loads(r["body"])["data"]["id"] for r in gw.engine.events.outbox.since(SID, 0)
           if r["type"] == "message"]
    assert ids.index(sent["recipientKey"]) < ids.index(after["recipientKey"])
    assert ids.count(sent["recipientKey"]) == 1
    stored = gw.client.get(media["url"])
    assert stored.status_code == 200 and stored.data == data
    assert stored.mimetype == "image/jpeg"
    assert stored.headers["Content-Disposition"].startswith('attachment; filename="photo.jpg"')
    folder = gw.engine.data_dir / "media" / SID
    assert len([p for p in folder.iterdir() if p.read_bytes() == data]) == 1
    other = gw.client.get(f"/media/other/{media['url'].rsplit('/', 1)[1]}")
    assert other.status_code == 404 and other.json["error"]["code"] == "not_found"


def test_the_local_store_evicts_the_oldest_files_past_its_cap(gw, sandbox):
    urls = []
    for n in range(3):  # 3 x 2 MB > the 5 MiB cap
        sent = send_file(sandbox, ANI, os.urandom(2 * MIB), f"part{n}.bin", "application/zip")
        urls.append(message_event(gw, sent["recipientKey"])["data"]["media"]["url"])
    assert gw.client.get(urls[0]).status_code == 404
    assert [gw.client.get(u).status_code for u in urls[1:]] == [200, 200]
    folder = gw.engine.data_dir / "media"
    assert sum(p.stat().st_size for p in folder.glob("*/*.bin")) <= 5 * MIB


def test_when_storing_fails_the_event_still_goes_out_and_the_file_downloads(gw, sandbox):
    folder = gw.engine.data_dir / "media" / SID
    aside = folder.with_name("aside")
    folder.mkdir(parents=True, exist_ok=True)  # no file stored yet when this test runs first
    folder.rename(aside)
    folder.write_bytes(b"")  # a file where the session's folder should be: storing fails
    try:
        data = os.urandom(50 * KIB)
        sent = send_file(sandbox, CICI, data, "note.txt", "text/plain")
        event = message_event(gw, sent["recipientKey"])
    finally:
        folder.unlink()
        aside.rename(folder)
    assert "media" not in event["data"]
    assert event["data"]["mediaError"]["code"] == "media_store_failed"
    resp = media_of(gw, sent["recipientKey"])
    assert resp.status_code == 200 and resp.data == data


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3 API on a free loopback port (moto's server), with a bucket and credentials."""
    with moto_s3(monkeypatch, "wa-media") as endpoint:
        yield endpoint


@pytest.mark.browser  # its gateway is made in the test, not by a fixture
def test_the_s3_store_keeps_each_file_once_behind_a_presigned_url(sandbox, tmp_path,
                                                                   s3_server):
    import boto3

    with linked(sandbox, tmp_path, CICI, MEDIA_STORE="s3://wa-media/inbox",
                MEDIA_S3_ENDPOINT=s3_server) as gw:
        data = os.urandom(700 * KIB)
        sent = send_file(sandbox, ANI, data, "scan.png", "image/png", to=CICI)
        media = message_event(gw, sent["recipientKey"])["data"]["media"]
        assert media["sha256"] == hashlib.sha256(data).hexdigest()
        assert media["size"] == len(data) and media["mimetype"] == "image/png"
        resp = requests.get(media["url"], timeout=10)  # presigned: no credentials needed
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers["Content-Type"] == "image/png"
        assert requests.get(media["url"].split("?")[0], timeout=10).status_code == 403
        # this test's prefix only: the presigned-link test writes under ttl/ in the same bucket
        listed = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket="wa-media",
                                                                            Prefix="inbox/")
        keys = [o["Key"] for o in listed.get("Contents", ())]
        assert len(keys) == 1 and keys[0].startswith(f"inbox/{SID}/")


def test_a_presigned_s3_link_is_signed_to_expire_after_media_url_ttl(s3_server):
    # Event links are bearer links (anyone holding one reads the file): each is signed (SigV4
    # signs every query parameter but the signature) to die MEDIA_URL_TTL seconds after it
    # was made; S3 refuses it after that. moto checks neither expiry nor signature, so the
    # signed lifetime is what is checked here.
    from urllib.parse import parse_qs, urlsplit

    from waengine.media import MediaFile, S3MediaStore

    store = S3MediaStore("s3://wa-media/ttl", {"MEDIA_URL_TTL": 900,
                                               "MEDIA_S3_ENDPOINT": s3_server})
    data = os.urandom(KIB)
    view = store.put("s1", "true_1@c.us_TTL", MediaFile(size=len(data), mimetype="image/png",
                                                        filename="x.png", type="image",
                                                        chunks=iter([data])))
    signed = parse_qs(urlsplit(view["url"]).query)
    assert signed["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in signed
    assert signed["X-Amz-SignedHeaders"] == ["host"]  # nothing a holder could vary
    assert requests.get(view["url"], timeout=10).content == data
