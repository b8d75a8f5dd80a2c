"""Uploads: extension AND content checks per type, clean file names, the size bound enforced
before the body is read, nothing on disk, and what reaches the page (a fake browser)."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
import segno

from waengine.errors import UnsupportedMediaType, ValidationError
from waengine.uploads import SUPPORTED, check_file, safe_filename

from ..conftest import wait_for

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def ole(*streams: str) -> bytes:
    """An OLE2 compound file with directory entries of these stream names (UTF-16LE, NUL)."""
    entries = b"".join(name.encode("utf-16-le") + b"\0\0" + bytes(126 - 2 * len(name))
                       for name in ("Root Entry", *streams))
    return OLE + bytes(512) + entries


def ooxml(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in ("[Content_Types].xml", "_rels/.rels", "docProps/app.xml", *names):
            z.writestr(name, "<x/>")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    segno.make("hi").save(out, kind="png")
    return out.getvalue()


BMP = b"BM" + (70).to_bytes(4, "little") + bytes(8) + (40).to_bytes(4, "little") + bytes(60)
GOOD = {
    "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "image/jpeg", "image"),
    "photo.JPEG": (b"\xff\xd8\xff\xe1" + bytes(64), "image/jpeg", "image"),
    "qr.png": (png(), "image/png", "image"),
    "anim.gif": (b"GIF89a" + bytes(64), "image/gif", "document"),
    "scan.bmp": (BMP, "image/bmp", "document"),
    "sticker.webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64), "image/webp", "image"),
    "report.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(64), "application/pdf", "document"),
    "letter.doc": (ole("WordDocument", "1Table"), "application/msword", "document"),
    "sheet.xls": (ole("Workbook"), "application/vnd.ms-excel", "document"),
    "old.xls": (ole("Book"), "application/vnd.ms-excel", "document"),
    "letter.docx": (ooxml("word/document.xml"), "application/vnd.openxmlformats-officedocument"
                    ".wordprocessingml.document", "document"),
    "sheet.xlsx": (ooxml("xl/workbook.xml", "xl/worksheets/sheet1.xml"),
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   "document"),
    "notes.txt": ("Halo semua 👋\r\nRapat jam 3.\n".encode(), "text/plain", "document"),
    "bmw.txt": (b"BMW service report\n", "text/plain", "document"),
    "latin.txt": ("Café crème\n".encode("cp1252"), "text/plain", "document"),
    "wide.txt": ("\ufeffSelamat pagi".encode("utf-16-le"), "text/plain", "document"),
    "song.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64), "audio/mpeg", "audio"),
    "voice.ogg": (b"OggS\x00\x02" + bytes(64), "audio/ogg", "audio"),
    "clip.mp4": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64), "video/mp4",
                 "video"),
}


@pytest.mark.parametrize("name", GOOD)
def test_every_allowed_type_is_accepted_by_extension_and_content(name):
    content, mimetype, kind = GOOD[name]
    clean, file_type = check_file(name, content, None, SUPPORTED)
    assert clean == name and (file_type.mimetype, file_type.kind) == (mimetype, kind)


@pytest.mark.parametrize("name, content", [
    ("letter.xls", ole("WordDocument", "Workbook")),  # a Word file named .xls
    ("sheet.doc", ole("Workbook")),
    ("setup.doc", ole("SummaryInformation")),  # an OLE file that is neither (.msi, .msg...)
    ("letter.xlsx", ooxml("word/document.xml")),
    ("archive.docx", ooxml("other/thing.xml")),
    ("broken.docx", b"PK\x03\x04" + bytes(100)),
    ("notes.txt", b"plain\x00text"),
    ("notes.txt", png()),
    ("notes.txt", b"%PDF-1.4\n"),
    ("bmw.bmp", b"BMW service report\n"),
    ("photo.jpg", png()),
    ("photo.png", GOOD["photo.jpg"][0]),
    ("clip.mp4", GOOD["voice.ogg"][0]),
    ("setup.exe", b"MZ\x90\x00" + bytes(64)),
    ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ("page.html", b"<html></html>"),
    ("archive.zip", ooxml()),
    ("README", b"text without an extension"),
])
def test_a_type_not_allowed_or_content_that_is_another_type_is_415(name, content):
    with pytest.raises(UnsupportedMediaType) as raised:
        check_file(name, content, None, SUPPORTED)
    assert raised.value.status == 415 and raised.value.message


def test_the_allow_list_comes_from_the_config():
    with pytest.raises(UnsupportedMediaType):
        check_file("report.pdf", GOOD["report.pdf"][0], None, ("jpg", "png"))
    assert check_file("a.jpeg", GOOD["photo.jpg"][0], None, ("jpeg",))[1].ext == "jpg"


@pytest.mark.parametrize("declared, ok", [
    ("", True), ("application/octet-stream", True), ("image/png", True),
    ("image/png; charset=binary", True), ("image/x-png", True), ("image/jpeg", False),
    ("application/pdf", False), ("text/plain", False),
])
def test_a_declared_mime_type_must_not_contradict_the_content(declared, ok):
    if ok:
        assert check_file("a.png", png(), declared, SUPPORTED)[1].mimetype == "image/png"
    else:
        with pytest.raises(UnsupportedMediaType):
            check_file("a.png", png(), declared, SUPPORTED)


def test_declared_spellings_of_the_same_type_are_accepted():
    assert check_file("a.jpg", GOOD["photo.jpg"][0], "image/jpg", SUPPORTED)
    assert check_file("a.txt", b"a,b\n", "text/csv", SUPPORTED)
    assert check_file("a.docx", GOOD["letter.docx"][0], "application/zip", SUPPORTED)
    assert check_file("a.mp3", GOOD["song.mp3"][0], "audio/mp3", SUPPORTED)
    with pytest.raises(UnsupportedMediaType):
        check_file("a.ogg", GOOD["voice.ogg"][0], "audio/mpeg", SUPPORTED)


def test_an_empty_file_is_422():
    with pytest.raises(ValidationError):
        check_file("a.png", b"", None, SUPPORTED)


@pytest.mark.parametrize("raw, clean", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\budi\\Desktop\\scan.pdf", "scan.pdf"),
    ("photo\u202egnp.exe", "photognp.exe"),  # right-to-left override removed
    ("null\x00byte\n.pdf", "nullbyte.pdf"),
    ("  .hidden.pdf. ", "hidden.pdf"),
    ('a<b>c:d"e|f?g*.pdf', "a_b_c_d_e_f_g_.pdf"),
    ("laporan   bulan  Mei.pdf", "laporan bulan Mei.pdf"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("写真.jpg", "写真.jpg"),
    (".pdf", "file.pdf"),
    ("", "file"),
    (None, "file"),
    ("/", "file"),
    ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
])
def test_file_names_lose_paths_and_unsafe_characters(raw, clean):
    assert safe_filename(raw) == clean
    assert len(safe_filename(raw)) <= 120


# ---- through HTTP, with a fake browser ----

class CountingStream(io.BytesIO):
    """A request body that records how much of it the server read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.consumed = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk

    def readline(self, size=-1):
        chunk = super().readline(size)
        self.consumed += len(chunk)
        return chunk


def multipart(fields: dict, files: list[tuple[str, str, bytes]], boundary="b0undary") -> bytes:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  f"{value}\r\n".encode())
    for field, filename, content in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                  f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                  .encode() + content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


@pytest.fixture
def limit():
    return 64 * 1024


@pytest.fixture
def app(make_app, limit):
    return make_app(UPLOAD_MAX_BYTES=limit)


@pytest.fixture
def sent(client, factory):
    """A CONNECTED session s1 whose page records the sendFile calls it gets."""
    calls = []

    def on_open(bridge):
        bridge.state.update(fullReady=True, auth=True, mode="MAIN",
                            me={"id": "6281100000001@c.us", "name": "A"})

        def send_file(**args):
            calls.append(args)
            return {"id": "true_6281@c.us_3EB0AA", "chatId": "6281@c.us", "fromMe": True,
                    "type": args["kind"], "ack": 1, "filename": args["filename"],
                    "mimetype": args["mimetype"], "caption": args["caption"] or args["filename"]}

        bridge.handlers["sendFile"] = send_file

    factory.on_open = on_open
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: client.get("/sessions/s1").json["status"] == "CONNECTED")
    return calls


def upload(client, body: bytes, content_length=None, **environ):
    stream = CountingStream(body)
    resp = client.post("/sessions/s1/messages/media", input_stream=stream,
                       content_type="multipart/form-data; boundary=b0undary",
                       content_length=len(body) if content_length is None else content_length,
                       environ_overrides=environ)
    return resp, stream


def test_the_page_gets_a_data_url_of_the_checked_type_and_a_clean_name(client, sent):
    pdf = GOOD["report.pdf"][0]
    resp, _ = upload(client, multipart({"to": "+62 811 2345 678", "caption": "Mei"},
                                       [("file", "..\\laporan\u202e.pdf", pdf)]))
    assert resp.status_code == 201, resp.json
    assert sent == [{"to": "628112345678@c.us", "caption": "Mei", "filename": "laporan.pdf",
                     "mimetype": "application/pdf", "kind": "document",
                     "data": "data:application/pdf;base64," + base64.b64encode(pdf).decode(),
                     # chosen before the send, so a crash mid-send is looked up, not resent
                     "messageId": "true_628112345678@c.us_3EB00000000000000001"}]
    assert resp.json["type"] == "document" and resp.json["filename"] == "laporan.pdf"


def test_json_takes_base64_with_line_breaks_or_a_data_url(client, sent):
    data = base64.encodebytes(png()).decode()  # 76-column lines
    for encoded in (data, "data:image/png;base64," + data.replace("\n", "")):
        resp = client.post("/sessions/s1/messages/media",
                           json={"to": "6281234", "media": {"data": encoded, "filename": "q.png"}})
        assert resp.status_code == 201, resp.json
    assert [c["mimetype"] for c in sent] == ["image/png", "image/png"]
    assert base64.b64decode(sent[0]["data"].split(",", 1)[1]) == png()


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(client, sent, limit):
    body = multipart({"to": "6281234"}, [("file", "a.pdf", b"%PDF-" + bytes(limit))])
    resp, stream = upload(client, body)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "payload_too_large"
    assert resp.json["error"]["details"] == {"limitBytes": limit}
    assert stream.consumed == 0 and sent == []


def test_a_body_without_length_stops_being_read_at_the_limit(client, sent, limit):
    body = multipart({"to": "6281234"}, [("file", "a.pdf", b"%PDF-" + bytes(20 * limit))])
    stream = CountingStream(body)
    resp = client.post("/sessions/s1/messages/media", input_stream=stream,
                       content_type="multipart/form-data; boundary=b0undary",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413, resp.json
    assert stream.consumed <= 2 * limit + 128 * 1024 and sent == []


def test_a_file_one_byte_over_the_limit_is_413_and_at_the_limit_goes(client, sent, limit):
    pdf = b"%PDF-" + bytes(limit - 5)
    resp, _ = upload(client, multipart({"to": "6281234"}, [("file", "a.pdf", pdf)]))
    assert resp.status_code == 201, resp.json
    resp, _ = upload(client, multipart({"to": "6281234"}, [("file", "a.pdf", pdf + b"\0")]))
    assert resp.status_code == 413
    media = {"data": base64.b64encode(pdf + b"\0").decode(), "filename": "a.pdf"}
    resp = client.post("/sessions/s1/messages/media", json={"to": "6281234", "media": media})
    assert resp.status_code == 413 and resp.json["error"]["details"] == {"limitBytes": limit}


def test_uploads_never_touch_the_disk(app, client, sent, monkeypatch):
    import werkzeug.formparser

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload went to a temporary file")

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", no_disk)
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 4 * 2**20)
    big = b"%PDF-" + bytes(2 * 2**20)  # werkzeug spools a body over 500 KB to a temporary file
    resp, _ = upload(client, multipart({"to": "6281234"}, [("file", "a.pdf", big)]))
    assert resp.status_code == 201, resp.json
    assert len(base64.b64decode(sent[0]["data"].split(",", 1)[1])) == len(big)


def test_a_session_that_is_not_connected_refuses_before_reading_the_body(client, factory):
    factory.on_open = lambda bridge: bridge.state.update(fullReady=True, auth=False, mode="QR",
                                                         qr="ref,a,b,c")
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: client.get("/sessions/s1").json["status"] == "SCAN_QR")
    resp, stream = upload(client, multipart({"to": "6281234"}, [("file", "a.pdf", b"%PDF-1")]))
    assert resp.status_code == 409 and stream.consumed == 0


@pytest.mark.parametrize("fields, files, code", [
    ({"to": "6281234"}, [], 422),
    ({}, [("file", "a.pdf", b"%PDF-1")], 422),
    ({"to": "6281234"}, [("file", "a.pdf", b"%PDF-1"), ("file", "b.pdf", b"%PDF-1")], 422),
    ({"to": "6281234"}, [("document", "a.pdf", b"%PDF-1")], 422),
    ({"to": "6281234", "extra": "x"}, [("file", "a.pdf", b"%PDF-1")], 422),
    ({"to": "6281234", "caption": "x" * 5000}, [("file", "a.pdf", b"%PDF-1")], 422),
    ({"to": "not a number"}, [("file", "a.pdf", b"%PDF-1")], 422),
    ({"to": "6281234"}, [("file", "a.pdf", b"")], 422),
    ({"to": "6281234"}, [("file", "a.exe", b"MZ")], 415),
    ({"to": "6281234"}, [("file", "a.pdf", b"\x89PNG\r\n\x1a\n")], 415),
])
def test_bad_multipart_requests_get_the_error_envelope(client, sent, fields, files, code):
    resp, _ = upload(client, multipart(fields, files))
    assert resp.status_code == code, resp.json
    assert set(resp.json["error"]) == {"code", "message", "details"}
    assert sent == []


@pytest.mark.parametrize("body, code", [
    ({"to": "6281234"}, 422),
    ({"to": "6281234", "media": {"data": "%%%", "filename": "a.pdf"}}, 422),
    ({"to": "6281234", "media": {"data": "JVBERi0x"}}, 422),
    ({"to": "6281234", "media": {"data": "JVBERi0x", "filename": "a.pdf", "size": 1}}, 422),
    ({"to": "6281234", "media": {"data": "JVBERi0x", "filename": "a.pdf"}, "x": 1}, 422),
    ({"to": "6281234", "media": "JVBERi0x"}, 422),
    ({"to": "6281234", "media": {"data": "JVBERi0x", "filename": "a.png"}}, 415),
    ({"to": "6281234", "media": {"data": "JVBERi0x", "filename": "a.pdf",
                                 "mimetype": "image/gif"}}, 415),
])
def test_bad_json_requests_get_the_error_envelope(client, sent, body, code):
    resp = client.post("/sessions/s1/messages/media", json=body)
    assert resp.status_code == code, resp.json
    assert sent == []


def test_a_body_that_is_neither_multipart_nor_json_is_415(client, sent):
    resp = client.post("/sessions/s1/messages/media", data=b"%PDF-1",
                       content_type="application/pdf")
    assert resp.status_code == 415 and resp.json["error"]["code"] == "unsupported_media_type"


def test_upload_settings_are_checked_when_the_app_is_built(make_app):
    from waengine.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="UPLOAD_TYPES"):
        make_app(UPLOAD_TYPES=["pdf", "exe"])
    with pytest.raises(ConfigError, match="UPLOAD_MAX_BYTES"):
        make_app(UPLOAD_MAX_BYTES=0)
    config = load_config({"ENV": "testing"}, environ={"WAENGINE_UPLOAD_TYPES": "pdf, png",
                                                       "WAENGINE_UPLOAD_MAX_BYTES": "1048576"})
    assert config["UPLOAD_TYPES"] == ["pdf", "png"] and config["UPLOAD_MAX_BYTES"] == 2**20


def test_only_ogg_with_an_opus_stream_is_a_voice_note():
    from waengine.uploads import is_ogg_opus

    page = b"OggS\x00\x02" + bytes(20)
    assert is_ogg_opus(page + b"\x01\x13OpusHead" + bytes(11))
    assert is_ogg_opus(page + b"\x02\x13\x01" + b"OpusHead" + bytes(11))  # two segments
    assert not is_ogg_opus(page + b"\x01\x1e\x01vorbis" + bytes(23))
    assert not is_ogg_opus(b"ID3\x03" + bytes(64)) and not is_ogg_opus(b"OggS")
