"""Media uploads: read in memory with a size bound, check extension AND content, clean the name.

The rules (the seed's multer settings, done properly):
- One file per request, at most UPLOAD_MAX_BYTES (16 MB). A declared Content-Length above
  the bound is refused (413) before a byte of the body is read; without one, reading stops
  at the bound. Files never touch the disk: multipart parts go to a bounded BytesIO instead
  of werkzeug's spooled temporary file, and nothing from the client names a file anywhere.
- The extension must be in UPLOAD_TYPES and the bytes must be that type (415 otherwise).
  Strong magic numbers decide for images, PDF, audio and video. Formats with weak or shared
  magic are checked by structure:
  * doc/xls are OLE2 compound files (one shared signature, also used by .msi, .ppt, .msg):
    a .doc must contain the "WordDocument" stream, an .xls a "Workbook"/"Book" stream and no
    "WordDocument" (directory entry names are UTF-16LE in the file).
  * docx/xlsx are zip files: read the zip's central directory (in memory, nothing is
    extracted) and require [Content_Types].xml plus word/document.xml or xl/workbook.xml.
  * txt has no magic at all: UTF-16 with a BOM, or UTF-8/8-bit text without control
    characters (every binary format above has some in its header), and not a PDF, RTF or
    PostScript file (text formats of their own).
- A declared MIME type (JSON `mimetype`, a multipart part's Content-Type) that contradicts the
  content is 415 as well; generic ones (application/octet-stream, none) are fine. What is sent
  to WhatsApp is always the canonical type of the checked content.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass

import filetype
from filetype.types.audio import Mp3
from filetype.types.video import Mp4
from flask import current_app

from .config import ConfigError
from .errors import PayloadTooLarge, UnsupportedMediaType, ValidationError

MB = 2**20
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers, `to` and `caption` around the file
JSON_OVERHEAD = 64 * 1024
MAX_FORM_PARTS = 16
FILENAME_MAX = 120


@dataclass(frozen=True)
class FileType:
    ext: str
    mimetype: str
    kind: str  # how WhatsApp sends it: image, video, audio or document


# GIF and BMP go as documents: WhatsApp turns GIFs into videos and shows no BMP inline, so a
# document keeps the file as it was sent.
TYPES = {t.ext: t for t in (
    FileType("jpg", "image/jpeg", "image"),
    FileType("png", "image/png", "image"),
    FileType("webp", "image/webp", "image"),
    FileType("gif", "image/gif", "document"),
    FileType("bmp", "image/bmp", "document"),
    FileType("pdf", "application/pdf", "document"),
    FileType("doc", "application/msword", "document"),
    FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "document"),
    FileType("xls", "application/vnd.ms-excel", "document"),
    FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "document"),
    FileType("txt", "text/plain", "document"),
    FileType("mp3", "audio/mpeg", "audio"),
    FileType("ogg", "audio/ogg", "audio"),
    FileType("mp4", "video/mp4", "video"),
)}
EXT_ALIASES = {"jpeg": "jpg"}
SUPPORTED = tuple(TYPES) + tuple(EXT_ALIASES)
# Other spellings of the canonical MIME types that clients send.
MIME_ALIASES = {
    "image/jpg": "jpg", "image/pjpeg": "jpg", "image/x-png": "png", "image/x-bmp": "bmp",
    "image/x-ms-bmp": "bmp", "application/x-pdf": "pdf", "application/vnd.msword": "doc",
    "application/excel": "xls", "application/x-excel": "xls", "application/x-msexcel": "xls",
    "audio/mp3": "mp3", "audio/mpeg3": "mp3", "audio/x-mpeg-3": "mp3", "application/ogg": "ogg",
    "audio/opus": "ogg", "audio/vorbis": "ogg", "application/mp4": "mp4",
}
GENERIC_MIME = ("", "application/octet-stream", "binary/octet-stream")

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BMP_DIB_SIZES = (12, 40, 52, 56, 64, 108, 124)
_MP3, _MP4 = Mp3(), Mp4()


def _ole_has(data: bytes, name: str) -> bool:
    # Directory entries hold the stream name in UTF-16LE, NUL-terminated.
    return (name.encode("utf-16-le") + b"\x00\x00") in data


def _zip_names(data: bytes) -> set[str]:
    if not data.startswith(b"PK\x03\x04"):
        return set()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return set()


# Text-only formats with an ASCII signature: a .txt must not be one of them. (Binary formats
# need no list: their headers hold NUL or control bytes, which text never has.)
_TEXT_FORMATS = (b"%PDF-", b"{\\rtf", b"%!PS")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")  # tab, CR, LF, FF, ESC are text


def _is_text(data: bytes) -> bool:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                data[len(bom):].decode(codec)
                return True
            except UnicodeDecodeError:
                return False
    if data.lstrip().startswith(_TEXT_FORMATS):
        return False
    # UTF-8 or 8-bit text (latin-1, cp1252...): no control characters is all one can ask
    return _CONTROL_BYTES.search(data) is None


MATCHERS = {
    "jpg": lambda d: d[:3] == b"\xff\xd8\xff",
    "png": lambda d: d[:8] == b"\x89PNG\r\n\x1a\n",
    "gif": lambda d: d[:6] in (b"GIF87a", b"GIF89a"),
    "bmp": lambda d: (d[:2] == b"BM" and len(d) >= 26
                      and int.from_bytes(d[14:18], "little") in _BMP_DIB_SIZES),
    "webp": lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
    "pdf": lambda d: b"%PDF-" in d[:1024],  # readers accept up to 1 KB of junk before it
    "doc": lambda d: d[:8] == OLE2 and _ole_has(d, "WordDocument"),
    "xls": lambda d: (d[:8] == OLE2 and not _ole_has(d, "WordDocument")
                      and (_ole_has(d, "Workbook") or _ole_has(d, "Book"))),
    "docx": lambda d: {"[Content_Types].xml", "word/document.xml"} <= _zip_names(d),
    "xlsx": lambda d: {"[Content_Types].xml", "xl/workbook.xml"} <= _zip_names(d),
    "txt": _is_text,
    "mp3": lambda d: bool(_MP3.match(d[:8192])),
    "ogg": lambda d: d[:4] == b"OggS",
    "mp4": lambda d: bool(_MP4.match(d[:8192])),
}


def describe(data: bytes) -> str:
    """What the content looks like, for error messages."""
    for ext in ("docx", "xlsx", "doc", "xls"):
        if MATCHERS[ext](data):
            return ext
    if data[:8] == OLE2:
        return "an OLE2 compound file (not Word or Excel)"
    kind = filetype.guess(data)
    if kind is not None:
        return kind.extension
    return "text" if _is_text(data) else "unknown binary data"


def extension_of(filename: str) -> str:
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    return EXT_ALIASES.get(ext, ext)


def safe_filename(name: str | None) -> str:
    """The client's file name without paths, control or reserved characters; at most 120 chars."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]  # a path from any OS: keep the last part only
    # Cc and Cf: control characters and invisible formatting (e.g. U+202E, which makes
    # "photo\u202egnp.exe" display as "photoexe.png")
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip().rstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem.strip(" .")  # no hidden files (".bashrc"), no "name ..pdf"
    if not stem.strip("._ "):
        stem = "file"
    ext = ext.strip()[:16]
    stem = stem[:FILENAME_MAX - len(ext) - 1].rstrip(" .")
    return f"{stem}.{ext}" if ext else stem


def check_file(filename: str | None, data: bytes, declared_mime: str | None,
               allowed: tuple[str, ...]) -> tuple[str, FileType]:
    """Return (clean file name, its type) or raise 415/422: extension, content and MIME agree."""
    name = safe_filename(filename)
    if not data:
        raise ValidationError("The file is empty", details={"field": "file"})
    ext = extension_of(name)
    if ext not in {EXT_ALIASES.get(a, a) for a in allowed} or ext not in TYPES:
        shown = ", ".join(allowed)
        raise UnsupportedMediaType(
            f"{name!r}: files of type .{ext or '(none)'} are not accepted; allowed: {shown}",
            details={"filename": name, "extension": ext, "allowed": list(allowed)})
    file_type = TYPES[ext]
    if not MATCHERS[ext](data):
        raise UnsupportedMediaType(
            f"{name!r} is named .{ext} but its content is {describe(data)}",
            details={"filename": name, "extension": ext, "detected": describe(data)})
    declared = (declared_mime or "").split(";")[0].strip().lower()
    if not _mime_fits(declared, file_type):
        raise UnsupportedMediaType(
            f"{name!r} is a {file_type.mimetype} file, not {declared}",
            details={"filename": name, "declared": declared, "detected": file_type.mimetype})
    return name, file_type


def _mime_fits(declared: str, file_type: FileType) -> bool:
    if declared in GENERIC_MIME or declared == file_type.mimetype:
        return True
    named = MIME_ALIASES.get(declared) or _CANONICAL.get(declared)
    if named:  # a type we know by name: it has to be this one
        return named == file_type.ext
    if file_type.ext in ("docx", "xlsx") and declared in ("application/zip",
                                                           "application/x-zip-compressed"):
        return True
    # image/x-foo for a PNG, text/csv for a .txt: a client's spelling of the same family
    major = declared.partition("/")[0]
    return major in ("image", "audio", "video", "text") and \
        major == file_type.mimetype.partition("/")[0]


_CANONICAL = {t.mimetype: t.ext for t in TYPES.values()}


# --------------------------------------------------------------------------- requests


@dataclass
class Media:
    fields: dict
    filename: str
    file_type: FileType
    data: bytes

    @property
    def mimetype(self) -> str:
        return self.file_type.mimetype

    def data_url(self) -> str:
        return f"data:{self.mimetype};base64," + base64.b64encode(self.data).decode("ascii")


class _BoundedBuffer(io.BytesIO):
    """An in-memory file for a multipart part that refuses to grow past the upload limit."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, chunk) -> int:
        if self.tell() + len(chunk) > self.limit:
            raise too_large(self.limit)
        return super().write(chunk)


class InMemoryUploads:
    """Request mixin: multipart file parts go to a bounded BytesIO, never to a temporary file."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return _BoundedBuffer(int(current_app.config["UPLOAD_MAX_BYTES"]))


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than {limit / MB:g} MB",
                           details={"limitBytes": limit})


def _refuse_long_body(request, allowed: int, limit: int) -> None:
    """413 from the Content-Length header alone; and make the reader stop at the bound."""
    if request.content_length is not None and request.content_length > allowed:
        raise too_large(limit)
    request.max_content_length = allowed


def _load(schema, data: dict, location: str) -> dict:
    from marshmallow import ValidationError as SchemaError

    try:
        return schema.load(data)
    except SchemaError as e:
        raise ValidationError(details={location: e.messages}) from None


STICKER_MAX_BYTES = 1 * MB  # WhatsApp Web's upload limit for stickers (wa-js, the sandbox)


def is_ogg_opus(data: bytes) -> bool:
    """An Ogg stream whose first packet is an Opus header: what WhatsApp plays as a voice note
    (an Ogg/Vorbis file is a valid .ogg but not a voice note)."""
    if len(data) < 28 or data[:4] != b"OggS":
        return False
    start = 27 + data[26]  # the page header, then its segment table
    return data[start:start + 8] == b"OpusHead"


def read_voice(request, config: dict, form_schema, json_schema) -> Media:
    """A voice note upload: an .ogg file whose content is Ogg/Opus (415 otherwise)."""
    media = read_media(request, config, form_schema, json_schema, allowed=("ogg",))
    if not is_ogg_opus(media.data):
        raise UnsupportedMediaType(
            f"{media.filename!r} is Ogg but not Opus: voice notes must be Ogg/Opus",
            details={"filename": media.filename, "detected": "ogg (not opus)"})
    return media


def read_sticker(request, config: dict, form_schema, json_schema) -> Media:
    """A sticker upload: a .webp file whose content is WebP, at most 1 MB (413 otherwise)."""
    media = read_media(request, config, form_schema, json_schema, allowed=("webp",))
    if len(media.data) > STICKER_MAX_BYTES:
        raise too_large(STICKER_MAX_BYTES)
    return media


def read_media(request, config: dict, form_schema, json_schema,
               allowed: tuple[str, ...] | None = None) -> Media:
    """Read the one file of a media request (multipart or JSON base64) and check it against
    `allowed` extensions (by default UPLOAD_TYPES)."""
    limit = int(config["UPLOAD_MAX_BYTES"])
    if request.mimetype == "multipart/form-data":
        fields, filename, data, declared = _from_form(request, limit, form_schema)
    elif request.is_json:
        fields, filename, data, declared = _from_json(request, limit, json_schema)
    else:
        raise UnsupportedMediaType(
            "Send the file as multipart/form-data (field 'file') or as JSON with base64 "
            "'media.data'", details={"contentType": request.mimetype})
    if len(data) > limit:
        raise too_large(limit)
    name, file_type = check_file(filename, data, declared,
                                 tuple(allowed or config["UPLOAD_TYPES"]))
    return Media(fields, name, file_type, data)


def _from_form(request, limit: int, schema):
    _refuse_long_body(request, limit + FORM_OVERHEAD, limit)
    request.max_form_parts = MAX_FORM_PARTS
    files = list(request.files.items(multi=True))
    if len(files) != 1 or files[0][0] != "file":
        raise ValidationError("Send exactly one file, in the form field 'file'",
                              details={"form": {"file": ["Exactly one file is required."]}})
    storage = files[0][1]
    stream = storage.stream
    data = stream.getvalue() if isinstance(stream, io.BytesIO) else storage.read()
    fields = _load(schema, request.form.to_dict(), "form")
    return fields, storage.filename, data, storage.mimetype


_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*);base64,", re.I)


def _from_json(request, limit: int, schema):
    _refuse_long_body(request, 4 * math.ceil(limit / 3) + JSON_OVERHEAD, limit)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object")
    fields = _load(schema, body, "json")
    filename, data, declared = _decode(fields.pop("media"), limit)
    return fields, filename, data, declared


def media_file(media: dict, limit: int, allowed: tuple[str, ...]) -> Media:
    """A file given inside a JSON body ({data: base64 or a data: URL, filename, mimetype?}),
    checked as an upload (e.g. a channel's picture)."""
    filename, data, declared = _decode(media, limit)
    name, file_type = check_file(filename, data, declared, allowed)
    return Media({}, name, file_type, data)


def _decode(media: dict, limit: int) -> tuple[str, bytes, str]:
    text = media["data"]
    prefix = _DATA_URL.match(text[:256])
    declared = media.get("mimetype") or (prefix.group(1) if prefix else "")
    if prefix:
        text = text[prefix.end():]
    text = "".join(text.split())  # line breaks are common in base64 from tools
    if len(text) // 4 * 3 - text[-2:].count("=") > limit:
        raise too_large(limit)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        details = {"json": {"media": {"data": ["Not valid base64."]}}}
        raise ValidationError("media.data is not valid base64", details=details) from None
    return media["filename"], data, declared


def init_app(app) -> None:
    """Check the upload settings and keep uploaded files in memory for this app's requests."""
    unknown = [t for t in app.config["UPLOAD_TYPES"] if t not in SUPPORTED]
    if unknown:
        raise ConfigError(f"UPLOAD_TYPES: unsupported {', '.join(unknown)}; "
                          f"supported: {', '.join(SUPPORTED)}")
    if int(app.config["UPLOAD_MAX_BYTES"]) < 1:
        raise ConfigError("UPLOAD_MAX_BYTES must be at least 1")
    if not issubclass(app.request_class, InMemoryUploads):
        app.request_class = type("Request", (InMemoryUploads, app.request_class), {})
