"""Media: safe names and types, the local store's cap, and how automatic download holds events."""

from __future__ import annotations

import base64
import hashlib
import json
import threading

import pytest

from waengine import engine_of
from waengine.config import ConfigError, load_config
from waengine.errors import NotFound, from_page_error
from waengine.media import (
    LocalMediaStore,
    MediaFile,
    content_disposition,
    object_name,
    safe_filename,
    safe_mimetype,
)

from ..conftest import wait_for

KEY = "false_6281111111111@c.us_3A0123456789ABCDEF01"


@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\evil.exe", "evil.exe"),
    ("a\r\nSet-Cookie: x.txt", "aSet-Cookie: x.txt"),
    ("  ..  ", "media-3A0123456789ABCDEF01.pdf"),
    (None, "media-3A0123456789ABCDEF01.pdf"),
])
def test_file_names_lose_directories_and_control_characters(name, expected):
    assert safe_filename(name, "application/pdf", KEY) == expected


def test_content_disposition_is_an_attachment_with_an_ascii_fallback_and_the_utf8_name():
    assert content_disposition('naïve "quote".txt') == (
        "attachment; filename=\"naive _quote_.txt\"; "
        "filename*=UTF-8''na%C3%AFve%20%22quote%22.txt")
    assert content_disposition("日本.png").startswith('attachment; filename=".png"')


@pytest.mark.parametrize("value, expected", [
    ("image/JPEG", "image/jpeg"), ("audio/ogg; codecs=opus", "audio/ogg"),
    ("text/html\r\nX: y", "application/octet-stream"), (None, "application/octet-stream"),
])
def test_mime_types_are_taken_only_when_they_are_one(value, expected):
    assert safe_mimetype(value) == expected


def media_file(data: bytes, name="f.bin", chunk=4) -> MediaFile:
    chunks = (data[i:i + chunk] for i in range(0, len(data), chunk))
    return MediaFile(size=len(data), mimetype="application/zip", filename=name, type="document",
                     chunks=chunks)


def test_the_local_store_keeps_a_file_once_and_evicts_the_oldest_past_its_cap(tmp_path):
    store = LocalMediaStore(tmp_path, max_total=25, public_url="https://wa.example.com/")
    first = store.put("s1", "m1", media_file(b"a" * 10))
    assert first == {"url": f"https://wa.example.com/media/s1/{object_name('s1', 'm1')}",
                     "mimetype": "application/zip", "size": 10,
                     "sha256": hashlib.sha256(b"a" * 10).hexdigest()}
    assert store.find("s1", "m1") == first
    store.put("s2", "m2", media_file(b"b" * 10))
    store.put("s1", "m3", media_file(b"c" * 10))  # 30 > 25: m1, the oldest, goes
    assert store.find("s1", "m1") is None and store.find("s2", "m2") is not None
    path, meta = store.file("s1", object_name("s1", "m3"))
    assert path.read_bytes() == b"c" * 10 and meta["filename"] == "f.bin"
    with pytest.raises(NotFound):
        store.file("s1", "../s2/" + object_name("s2", "m2"))
    assert not list(tmp_path.glob("*/.part-*"))  # no temporary file left behind


def test_a_failed_download_leaves_no_partial_file(tmp_path):
    def broken():
        yield b"abc"
        raise OSError("page went away")

    store = LocalMediaStore(tmp_path, max_total=100)
    with pytest.raises(OSError):
        store.put("s1", "m1", MediaFile(size=9, mimetype="image/png", filename="x.png",
                                        type="image", chunks=broken()))
    assert store.find("s1", "m1") is None and not list(tmp_path.glob("s1/*"))


@pytest.mark.parametrize("env, message", [
    ({"WAENGINE_MEDIA_STORE": "ftp://x"}, "MEDIA_STORE must be"),
    ({"WAENGINE_MEDIA_CHUNK_BYTES": "10"}, "MEDIA_CHUNK_BYTES must be"),
    ({"WAENGINE_MEDIA_STORE": "local", "WAENGINE_MEDIA_LOCAL_MAX_BYTES": "10"},
     "MEDIA_LOCAL_MAX_BYTES must be at least"),
    ({"WAENGINE_MEDIA_URL_TTL": "0"}, "MEDIA_URL_TTL must be"),
])
def test_bad_media_settings_name_themselves(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"ENV": "testing"}, environ=env)


def connected(client, factory, sid="s1"):
    assert client.post("/sessions", json={"id": sid}).status_code == 201
    bridge = wait_for(lambda: factory.opened and factory.bridge(), message="a browser")
    bridge.state.update(fullReady=True, auth=True, mode="MAIN", qr=None,
                        me={"id": "6280000000000@c.us", "name": "Me"})
    wait_for(lambda: client.get(f"/sessions/{sid}").json["status"] == "CONNECTED")
    return bridge


def page_file(bridge, data: bytes):
    """The page side of a download: mediaOpen, mediaRead (base64 by offset), mediaClose."""
    closed = []
    bridge.handlers.update(
        mediaOpen=lambda id, maxBytes: {"handle": "h1", "size": len(data), "type": "image",
                                        "mimetype": "image/png", "filename": "a.png"},
        mediaRead=lambda handle, offset, length: base64.b64encode(
            data[offset:offset + length]).decode(),
        mediaClose=lambda handle: closed.append(handle))
    return closed


class GatedStore:
    """A store whose put() waits for `gate` (a slow disk or S3), on the download's thread."""

    def __init__(self, store):
        self.store, self.gate = store, threading.Event()

    def find(self, *args):
        return self.store.find(*args)

    def put(self, *args):
        self.gate.wait(5)
        return self.store.put(*args)


def incoming(n: int, type_: str = "image") -> dict:
    return {"id": f"doc:{n}", "type": "message",
            "data": {"id": f"false_6281@c.us_M{n}", "chatId": "6281@c.us", "fromMe": False,
                     "type": type_, "body": "", "timestamp": n, "ack": 1}}


def message_ids(app, sid="s1"):
    return [json.loads(r["body"])["data"]["id"] for r in engine_of(app).events.outbox.since(sid, 0)
            if r["type"] == "message"]


def test_an_incoming_media_event_waits_in_the_page_until_stored_and_keeps_its_place(
        make_app, factory):
    app = make_app(MEDIA_STORE="local", MEDIA_CHUNK_BYTES=1024)
    bridge = connected(app.test_client(), factory)
    data = bytes(range(256)) * 10  # three chunks
    closed = page_file(bridge, data)
    keeper = engine_of(app).media
    keeper.store = gated = GatedStore(keeper.store)
    with bridge.lock:
        bridge.events += [incoming(1), incoming(2, "chat")]
    polls = bridge.polls
    wait_for(lambda: bridge.polls > polls + 5, message="polls while the file is read")
    # While the file is read, neither event is published nor acknowledged to the page.
    assert message_ids(app) == [] and bridge.acked == []
    gated.gate.set()
    wait_for(lambda: message_ids(app) == ["false_6281@c.us_M1", "false_6281@c.us_M2"])
    wait_for(lambda: bridge.acked == ["doc:1", "doc:2"])
    assert closed == ["h1"]
    event = json.loads(engine_of(app).events.outbox.since("s1", 0)[-2]["body"])
    assert event["data"]["media"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert event["data"]["media"]["url"].startswith("/media/s1/")


def test_a_media_event_still_goes_out_when_the_page_cannot_give_the_file(make_app, factory):
    app = make_app(MEDIA_STORE="local")
    bridge = connected(app.test_client(), factory)

    def expired(id, maxBytes):
        raise from_page_error("media_not_found", "gone")  # as the page's errors arrive

    bridge.handlers["mediaOpen"] = expired
    with bridge.lock:
        bridge.events.append(incoming(3))
    wait_for(lambda: message_ids(app) == ["false_6281@c.us_M3"])
    wait_for(lambda: bridge.acked == ["doc:3"])
    event = json.loads(engine_of(app).events.outbox.since("s1", 0)[-1]["body"])
    assert event["data"]["mediaError"] == {"code": "media_expired", "message": "gone"}
    assert "media" not in event["data"]


def test_stored_files_need_a_key_for_their_session_and_go_with_a_purge(make_app, factory):
    app = make_app(MEDIA_STORE="local", API_KEYS=["admin-key-0123456789", "s1-key-0123456789:s1"])
    client = app.test_client()
    admin = {"X-API-Key": "admin-key-0123456789"}
    store = engine_of(app).media_store
    mine = store.put("s1", "m1", media_file(b"mine"))["url"]
    theirs = store.put("s2", "m2", media_file(b"theirs"))["url"]
    scoped = {"X-API-Key": "s1-key-0123456789"}
    assert client.get(mine).status_code == 401
    resp = client.get(mine, headers=scoped)
    assert resp.status_code == 200 and resp.data == b"mine"
    assert client.get(theirs, headers=scoped).status_code == 403
    assert client.get(theirs, headers=admin).data == b"theirs"
    assert client.post("/sessions", json={"id": "s2"}, headers=admin).status_code == 201
    assert client.delete("/sessions/s2?purge=true", headers=admin).status_code == 200
    gone = client.get(theirs, headers=admin)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "not_found"
    assert client.get(mine, headers=admin).status_code == 200


def test_the_route_frees_the_page_copy_once_whether_or_not_the_body_is_read(make_app, factory):
    app = make_app(MEDIA_CHUNK_BYTES=1024)
    client = app.test_client()
    bridge = connected(client, factory)
    data = bytes(range(256)) * 9
    closed = page_file(bridge, data)
    url = f"/sessions/s1/messages/{KEY}/media"
    resp = client.get(url)
    assert resp.data == data and resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="a.png"')
    assert closed == ["h1"]
    head = client.head(url)
    head.close()  # what every WSGI server does with a response, read or not
    assert head.status_code == 200 and head.data == b"" and closed == ["h1", "h1"]
