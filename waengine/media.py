"""Incoming media: read a message's file out of the page in chunks, and keep it (MEDIA_STORE).

A download is three kinds of page command (engine/page.py): open (WhatsApp Web downloads and
decrypts the file into a page-side map), read (one base64 chunk by offset), close. Each is its
own short command on the session's worker queue, so other commands run between chunks and no
multi-MB string ever crosses WebDriver.

With MEDIA_STORE set, `MediaKeeper` stores each incoming media message once, in a local folder
(size-capped, oldest evicted first) or an S3-compatible bucket, and its `message` event carries
`media: {url, mimetype, size, sha256}`. The event is held in the page until then (the session
re-polls it, in order); when storing fails it still goes out, with `mediaError` instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import mimetypes
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .engine.page import Page
from .errors import ConfigError, NotFound, WAEngineError, WhatsAppError
from .store import private_folder

log = logging.getLogger(__name__)

MEDIA_MESSAGE_TYPES = ("image", "video", "audio", "ptt", "sticker", "document")
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]{0,126}/[A-Za-z0-9][\w.+-]{0,126}")
_STORED_NAME = re.compile(r"[0-9a-f]{40}")


@dataclass
class MediaFile:
    """An opened download: what the message says about the file, and its bytes as chunks."""

    size: int
    mimetype: str
    filename: str
    type: str
    chunks: Iterator[bytes]
    close: Callable[[], None] = lambda: None  # frees the page's copy; idempotent


def open_media(page: Page, message_id: str, config: dict) -> MediaFile:
    """Download a media message in the page (404 not media, 410 expired, 413 too large)."""
    info = page.media_open(message_id, int(config["MEDIA_MAX_BYTES"]))
    mimetype = safe_mimetype(info.get("mimetype"))
    size = int(info["size"])
    close = _closer(page, info["handle"])
    return MediaFile(size=size, mimetype=mimetype,
                     filename=safe_filename(info.get("filename"), mimetype, message_id),
                     type=info.get("type") or "document", close=close,
                     chunks=_chunks(page, info["handle"], size, int(config["MEDIA_CHUNK_BYTES"]),
                                    close))


def _closer(page: Page, handle: str) -> Callable[[], None]:
    done = threading.Event()

    def close() -> None:
        if done.is_set():
            return
        done.set()
        try:
            page.media_close(handle)
        except WAEngineError as e:  # a page that went away took the download with it
            log.debug("media close failed: %s", e)
    return close


def _chunks(page: Page, handle: str, size: int, chunk: int, close) -> Iterator[bytes]:
    offset = 0
    try:
        while offset < size:
            data = base64.b64decode(page.media_read(handle, offset, min(chunk, size - offset)))
            if not data:
                raise WhatsAppError("The page returned fewer bytes than the file has",
                                    details={"offset": offset, "size": size})
            offset += len(data)
            yield data
    finally:
        close()


def safe_mimetype(value: str | None) -> str:
    """The message's MIME type when it is one (parameters dropped), else octet-stream."""
    value = (value or "").split(";")[0].strip().lower()
    return value if _MIME.fullmatch(value) else "application/octet-stream"


def safe_filename(name: str | None, mimetype: str, message_id: str) -> str:
    """A file name without directories or control characters; made up from the id if none."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    name = name.strip(" .")[:200]
    if name:
        return name
    random_part = re.sub(r"[^A-Za-z0-9]", "", message_id.split("_")[2 if "_" in message_id else 0])
    return f"media-{random_part[:32] or 'file'}{mimetypes.guess_extension(mimetype) or '.bin'}"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266 / 5987)."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9._()+ -]", "_", fallback).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def object_name(session_id: str, message_id: str) -> str:
    """Where a session's message is stored: a hash, so ids never become paths."""
    return hashlib.sha256(f"{session_id}\0{message_id}".encode()).hexdigest()[:40]


class _Spool:
    """The chunks of a download written to a temporary file, with their size and SHA-256."""

    def __init__(self, media: MediaFile, directory: Path | None = None):
        self.sha = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(prefix=".part-", dir=directory)
        self.path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for data in media.chunks:
                    self.sha.update(data)
                    self.size += len(data)
                    out.write(data)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


# Types a browser runs or renders as a page (scripts, HTML, SVG, XML): a file anyone sent the
# account would run in the gateway's origin. Served as application/octet-stream instead.
ACTIVE_TYPES = re.compile(r"html|xml|svg|javascript|ecmascript|x-shockwave-flash|text/css|"
                          r"^multipart/", re.I)


def served_mimetype(mimetype: str | None) -> str:
    """The Content-Type a media file is served with: its own, unless it is an active type."""
    if not mimetype or ACTIVE_TYPES.search(mimetype):
        return "application/octet-stream"
    return mimetype


class LocalMediaStore:
    """Files under DATA_DIR/media/<session>/, at most `max_total` bytes (oldest go first)."""

    def __init__(self, root: Path, max_total: int, public_url: str = ""):
        self.root = root
        self.max_total = max_total
        self.public_url = public_url.rstrip("/")
        self._lock = threading.Lock()

    def find(self, session_id: str, message_id: str) -> dict | None:
        meta = self._meta(session_id, object_name(session_id, message_id))
        return self._view(session_id, meta) if meta else None

    def put(self, session_id: str, message_id: str, media: MediaFile) -> dict:
        private_folder(self.root)  # media of every session: not for other users of the machine
        folder = private_folder(self.root / session_id)
        name = object_name(session_id, message_id)
        spool = _Spool(media, folder)
        meta = {"name": name, "messageId": message_id, "mimetype": media.mimetype,
                "filename": media.filename, "size": spool.size, "sha256": spool.sha.hexdigest()}
        with self._lock:
            os.replace(spool.path, folder / f"{name}.bin")
            (folder / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
            self._evict(keep=folder / f"{name}.bin")
        return self._view(session_id, meta)

    def forget(self, session_id: str) -> None:
        """Delete a purged session's files."""
        with self._lock:
            shutil.rmtree(self.root / session_id, ignore_errors=True)

    def file(self, session_id: str, name: str) -> tuple[Path, dict]:
        """The stored file and its facts, for GET /media/<session>/<name> (404 otherwise)."""
        meta = self._meta(session_id, name) if _STORED_NAME.fullmatch(name) else None
        path = self.root / session_id / f"{name}.bin"
        if meta is None or not path.is_file():
            raise NotFound("No stored media with this name (evicted, or never stored)")
        return path, meta

    def _meta(self, session_id: str, name: str) -> dict | None:
        try:
            return json.loads((self.root / session_id / f"{name}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def _view(self, session_id: str, meta: dict) -> dict:
        return {"url": f"{self.public_url}/media/{session_id}/{meta['name']}",
                "mimetype": meta["mimetype"], "size": meta["size"], "sha256": meta["sha256"]}

    def _evict(self, keep: Path) -> None:
        files = []
        for path in self.root.glob("*/*.bin"):
            try:
                files.append((path.stat().st_mtime, path.stat().st_size, path))
            except OSError:
                continue  # removed meanwhile (a session purge)
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files, key=lambda f: f[0]):
            if total <= self.max_total:
                return
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            total -= size
            log.info("media store: evicted %s (%d bytes) to stay under %d bytes",
                     path.name, size, self.max_total)


class S3MediaStore:
    """Objects in an S3-compatible bucket (`s3://bucket/prefix`); URLs are presigned GETs."""

    def __init__(self, url: str, config: dict):
        try:
            import boto3  # the s3 extra: only needed with MEDIA_STORE=s3://…
            from botocore.config import Config
        except ImportError:
            raise ConfigError("MEDIA_STORE=s3://… needs boto3: pip install 'waengine[s3]'") from None

        bucket, _, prefix = url[len("s3://"):].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.ttl = int(config["MEDIA_URL_TTL"])
        # Credentials and region come from the standard AWS_* variables (boto3's own chain).
        # Another S3 server (MinIO, Ceph, moto) serves buckets by path, not by host name.
        endpoint = config["MEDIA_S3_ENDPOINT"] or None
        self.client = boto3.client("s3", endpoint_url=endpoint, config=Config(
            signature_version="s3v4", retries={"max_attempts": 3},
            s3={"addressing_style": "path"} if endpoint else {}))

    def _key(self, session_id: str, message_id: str) -> str:
        name = f"{session_id}/{object_name(session_id, message_id)}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def find(self, session_id: str, message_id: str) -> dict | None:
        from botocore.exceptions import ClientError

        key = self._key(session_id, message_id)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return self._view(key, head["ContentType"], head["ContentLength"],
                          head.get("Metadata", {}).get("sha256"))

    def put(self, session_id: str, message_id: str, media: MediaFile) -> dict:
        key = self._key(session_id, message_id)
        spool = _Spool(media)
        try:
            with open(spool.path, "rb") as body:
                self.client.upload_fileobj(body, self.bucket, key, ExtraArgs={
                    "ContentType": media.mimetype,
                    "ContentDisposition": content_disposition(media.filename),
                    "Metadata": {"sha256": spool.sha.hexdigest(),
                                 "message-id": quote(message_id, safe="")}})
        finally:
            spool.discard()
        return self._view(key, media.mimetype, spool.size, spool.sha.hexdigest())

    def _view(self, key: str, mimetype: str, size: int, sha256: str | None) -> dict:
        url = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl)
        return {"url": url, "mimetype": mimetype, "size": size, "sha256": sha256}


def store_from_config(config: dict, data_dir: Path):
    """The MEDIA_STORE backend, or None when automatic download is off."""
    setting = str(config["MEDIA_STORE"] or "")
    if not setting:
        return None
    if setting == "local":
        return LocalMediaStore(data_dir / "media", int(config["MEDIA_LOCAL_MAX_BYTES"]),
                               config["MEDIA_PUBLIC_URL"])
    if setting.startswith("s3://") and len(setting) > len("s3://"):
        return S3MediaStore(setting, config)
    raise ConfigError(f"MEDIA_STORE must be empty, local or s3://bucket/prefix, got {setting!r}")


class MediaKeeper:
    """Automatic download: each incoming media message stored once, then its event published.

    `hold(session, data)` is the engine's hook for an incoming `message` event from the page:
    False means "not yet" (the session leaves it and the events behind it unacknowledged in
    the page and offers them again on the next poll, so order is kept), True means published.
    The download runs on a `wa-media` thread through the session's queue, chunk by chunk.
    """

    DONE_TTL = 600.0  # a finished job the page never offered again (its browser restarted)

    def __init__(self, store, config: dict, publish: Callable[[object, str, dict], None]):
        self.store = store
        self.config = config
        self._publish = publish
        self._jobs: dict[tuple[str, str], float | None] = {}  # None: running; else done at
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=int(config["MEDIA_WORKERS"]),
                                        thread_name_prefix="wa-media")

    @staticmethod
    def wants(data: dict) -> bool:
        return data.get("type") in MEDIA_MESSAGE_TYPES and not data.get("fromMe")

    def hold(self, session, data: dict) -> bool:
        key = (session.id, str(data.get("id")))
        now = time.monotonic()
        with self._lock:
            for old in [k for k, at in self._jobs.items() if at and now - at > self.DONE_TTL]:
                del self._jobs[old]
            if key in self._jobs:
                if self._jobs[key] is None:
                    return False
                del self._jobs[key]
                return True  # the job published it; now the page may forget it
            self._jobs[key] = None
        self._pool.submit(self._keep, session, data, key)
        return False

    def _keep(self, session, data: dict, key: tuple[str, str]) -> None:
        try:
            extra = self._fetch(session, data["id"])
        except Exception as e:  # the event must still go out: whatever failed is in mediaError
            log.exception("media store failed for %s", data.get("id"))
            extra = {"mediaError": {"code": "media_store_failed", "message": str(e)[:300]}}
        try:
            self._publish(session, "message", {**data, **extra})
        finally:
            with self._lock:
                self._jobs[key] = time.monotonic()

    def _fetch(self, session, message_id: str) -> dict:
        found = self.store.find(session.id, message_id)
        if found is not None:
            return {"media": found}  # stored once: a re-delivered event reuses it
        try:
            media = open_media(Page(session), message_id, self.config)
            try:
                return {"media": self.store.put(session.id, message_id, media)}
            finally:
                media.close()
        except WAEngineError as e:  # from the page: expired, too large, session gone, timeout
            log.info("media of %s not stored: %s %s", message_id, e.code, e.message)
            return {"mediaError": {"code": e.code, "message": e.message}}

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
