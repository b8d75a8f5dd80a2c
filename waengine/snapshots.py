"""Profile snapshots: what a session's Chromium profile needs to stay linked, compressed,
encrypted and versioned in S3 (`s3://bucket/prefix`) or a folder (a shared mount).

What is kept: WhatsApp Web keeps its login (keys, device identity) in the origin's IndexedDB
and Local Storage; `Local State` and the cookies come along (a few KiB). Everything else of the
profile is caches Chromium rebuilds (HTTP cache, code cache, GPU and shader caches, service
worker script cache) and is left out: docs/cluster.md gives the sizes measured.

Consistency: a snapshot of a running browser is a copy the copier checks afterwards: every file
kept is stat'ed before and after the copy, and a copy during which any of them changed (a
LevelDB compaction, a write) is thrown away and taken again. What is kept is then the folder as
it was at one moment, which is what a browser killed at that moment leaves behind; IndexedDB
commits the login with 'strict' durability and LevelDB recovers from such a state (the gateway
relies on the same after a SIGKILL). At a graceful stop the snapshot is taken after the
browser quit, from a closed profile.

The file: `WASNAP1`, one flag byte (0 plain, 1 AES-256-GCM), then for AES the scrypt salt (16
bytes) and the nonce (12), then the gzip'd tar (sealed). The key is scrypt of SNAPSHOT_KEY and
the salt; the session id and version are the associated data, so a snapshot does not open as
another session's or another version's.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .archives import extract_within
from .errors import ConfigError

log = logging.getLogger(__name__)

MAGIC = b"WASNAP1"
PLAIN, SEALED = 0, 1
# Paths of a profile (user-data-dir) a snapshot keeps; folders are kept whole.
KEPT = ("Local State", "Default/IndexedDB", "Default/Local Storage", "Default/Cookies",
        "Default/Cookies-journal")
# Inside those: lock files of the running browser, never of use to another.
SKIPPED = {"LOCK", "lockfile"}
# The session's registry row rides along in the archive (backup/restore to a new box).
RECORD = "waengine-session.json"
COPY_TRIES = 8
NAME = re.compile(r"^(\d{10})\.snap$")


class SnapshotError(Exception):
    pass


class SnapshotBusy(SnapshotError):
    """The profile kept changing during every copy."""


class Unreadable(SnapshotError):
    """A snapshot that does not open: another key, no key, or damaged."""


# ---- where the files go ----
class FolderStore:
    """Files under a folder (a shared mount in a cluster): <root>/<session>/<version>.snap."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)  # a reader sees the whole file or none

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def names(self, folder: str) -> list[str]:
        path = self.root / folder
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) \
            if self.root.is_dir() else []

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    """Objects in an S3-compatible bucket: <prefix>/<session>/<version>.snap."""

    def __init__(self, url: str, endpoint: str | None = None):
        try:
            import boto3  # the s3 extra: only needed with SNAPSHOT_STORE=s3://…
            from botocore.config import Config
        except ImportError:
            raise ConfigError("SNAPSHOT_STORE=s3://… needs boto3: pip install 'waengine[s3]'") \
                from None
        bucket, _, prefix = url[len("s3://"):].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        # Credentials and region come from the standard AWS_* variables (boto3's own chain).
        self.client = boto3.client("s3", endpoint_url=endpoint or None, config=Config(
            signature_version="s3v4", retries={"max_attempts": 3},
            s3={"addressing_style": "path"} if endpoint else {}))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def _list(self, prefix: str, delimiter: bool) -> list[str]:
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix), **({"Delimiter": "/"} if delimiter
                                                              else {}))
        for page in pages:
            if delimiter:
                found += [p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                          for p in page.get("CommonPrefixes", ())]
            else:
                found += [o["Key"].rsplit("/", 1)[-1] for o in page.get("Contents", ())]
        return sorted(found)

    def names(self, folder: str) -> list[str]:
        return self._list(f"{folder}/", False)

    def folders(self) -> list[str]:
        return self._list("", True)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(where: str, config: dict | None = None):
    if where.startswith("s3://"):
        return S3Store(where, (config or {}).get("SNAPSHOT_S3_ENDPOINT") or None)
    return FolderStore(where)


# ---- the archive ----
def kept_files(profile: Path) -> list[Path]:
    """The profile's files a snapshot keeps (paths relative to the profile)."""
    found = []
    for name in KEPT:
        path = profile / name
        if path.is_file():
            found.append(Path(name))
        elif path.is_dir():
            for root, _dirs, files in os.walk(path):
                found += [Path(root, f).relative_to(profile) for f in sorted(files)
                          if f not in SKIPPED]
    return sorted(found)


def _stat(profile: Path, files: list[Path]) -> dict:
    state = {}
    for rel in files:
        try:
            st = (profile / rel).stat()
        except FileNotFoundError:
            continue
        state[str(rel)] = (st.st_size, st.st_mtime_ns)
    return state


def capture(profile: Path, record: dict | None = None) -> bytes:
    """The kept files as a gzip'd tar, copied while none of them changed (SnapshotBusy if
    they kept changing)."""
    for attempt in range(COPY_TRIES):
        files = kept_files(profile)
        before = _stat(profile, files)
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:
            try:
                for rel in files:
                    tar.add(profile / rel, arcname=str(rel), recursive=False)
            except OSError:  # removed (a compaction) or truncated while copying: again
                time.sleep(0.1 * (attempt + 1))
                continue
            if record is not None:
                body = json.dumps(record).encode()
                info = tarfile.TarInfo(RECORD)
                info.size, info.mtime = len(body), int(time.time())
                tar.addfile(info, io.BytesIO(body))
        if kept_files(profile) == files and _stat(profile, files) == before:
            return buffer.getvalue()
        time.sleep(0.1 * (attempt + 1))  # the browser is writing: a quieter moment
    raise SnapshotBusy(f"{profile} kept changing during {COPY_TRIES} copies")


def unpack(archive: bytes, profile: Path) -> dict | None:
    """Replace the profile folder with the archive's files (the caller made sure no browser
    runs on it); return the session record it carried, if any."""
    parent = profile.parent
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{profile.name}.restore-", dir=parent))
    record = None
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = []
            for member in tar.getmembers():
                if member.name == RECORD:
                    record = json.loads(tar.extractfile(member).read())
                else:
                    members.append(member)
            extract_within(tar, fresh, members)  # no path leaves `fresh`
        os.chmod(fresh, 0o700)
        old = parent / f".{profile.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        if profile.exists():
            profile.rename(old)
        fresh.rename(profile)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return record


# ---- sealing ----
class Sealing:
    """AES-256-GCM with a key derived (scrypt) from SNAPSHOT_KEY; plain without a key."""

    def __init__(self, passphrase: str | None):
        self.passphrase = passphrase.encode() if passphrase else None
        self._keys: dict[bytes, bytes] = {}
        self._salt = os.urandom(16)  # one per process: one scrypt per process, not per file
        self._lock = threading.Lock()

    def _key(self, salt: bytes) -> bytes:
        with self._lock:
            if salt not in self._keys:
                self._keys[salt] = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(
                    self.passphrase)
            return self._keys[salt]

    def seal(self, data: bytes, context: bytes) -> bytes:
        if self.passphrase is None:
            return MAGIC + bytes([PLAIN]) + data
        nonce = os.urandom(12)
        return (MAGIC + bytes([SEALED]) + self._salt + nonce
                + AESGCM(self._key(self._salt)).encrypt(nonce, data, context))

    def open(self, blob: bytes, context: bytes) -> bytes:
        if not blob.startswith(MAGIC) or len(blob) <= len(MAGIC):
            raise Unreadable("not a waengine snapshot")
        kind, body = blob[len(MAGIC)], blob[len(MAGIC) + 1:]
        if kind == PLAIN:
            return body
        if self.passphrase is None:
            raise Unreadable("the snapshot is encrypted and SNAPSHOT_KEY is not set")
        salt, nonce, sealed = body[:16], body[16:28], body[28:]
        try:
            return AESGCM(self._key(salt)).decrypt(nonce, sealed, context)
        except InvalidTag:
            raise Unreadable("the snapshot does not open with this SNAPSHOT_KEY "
                             "(another key, or a damaged file)") from None


def warn_unencrypted(config: dict) -> None:
    """Development without SNAPSHOT_KEY stores logins in the clear: say so (production
    refuses to start, config.py)."""
    if config.get("SNAPSHOT_STORE") and not config.get("SNAPSHOT_KEY"):
        log.warning("SNAPSHOT_KEY is not set: profile snapshots (WhatsApp logins) are stored "
                    "unencrypted in %s", config["SNAPSHOT_STORE"])


class Snapshots:
    """Versioned snapshots of session profiles in one store."""

    def __init__(self, store, passphrase: str | None, keep: int = 3):
        self.store = store
        self.sealing = Sealing(passphrase)
        self.keep = max(1, int(keep))
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict, where: str | None = None) -> Snapshots | None:
        where = where or config.get("SNAPSHOT_STORE")
        if not where:
            return None
        return cls(open_store(str(where), config), config.get("SNAPSHOT_KEY") or None,
                   int(config.get("SNAPSHOT_KEEP") or 3))

    @staticmethod
    def _context(session_id: str, version: int) -> bytes:
        return f"waengine snapshot {session_id} {version}".encode()

    def list(self, session_id: str) -> list[int]:
        """The session's versions, oldest first."""
        return [int(m.group(1)) for name in self.store.names(session_id)
                if (m := NAME.match(name))]

    def sessions(self) -> list[str]:
        return [name for name in self.store.folders() if self.list(name)]

    def take(self, session_id: str, profile: Path, record: dict | None = None) -> dict:
        """Snapshot the profile as the next version: {version, bytes, seconds}."""
        started = time.monotonic()
        archive = capture(Path(profile), record)
        with self._lock:  # one writer per process; the lease makes it one per cluster
            versions = self.list(session_id)
            version = (versions[-1] + 1) if versions else 1
            blob = self.sealing.seal(archive, self._context(session_id, version))
            self.store.put(f"{session_id}/{version:010d}.snap", blob)
            self.prune(session_id)
        seconds = round(time.monotonic() - started, 3)
        log.info("session %s: snapshot %d (%d bytes, %.2fs)", session_id, version, len(blob),
                 seconds)
        return {"version": version, "bytes": len(blob), "seconds": seconds}

    def prune(self, session_id: str) -> list[int]:
        """Delete all but the newest SNAPSHOT_KEEP versions; the versions deleted."""
        versions = self.list(session_id)
        dropped = versions[:-self.keep]
        for version in dropped:
            self.store.delete(f"{session_id}/{version:010d}.snap")
        return dropped

    def restore_latest(self, session_id: str, profile: Path) -> dict | None:
        """Replace the profile with the newest snapshot; {version, bytes, seconds, record}
        or None when the session has none."""
        versions = self.list(session_id)
        if not versions:
            return None
        return self.restore(session_id, versions[-1], profile)

    def restore(self, session_id: str, version: int, profile: Path) -> dict:
        started = time.monotonic()
        blob = self.store.get(f"{session_id}/{version:010d}.snap")
        record = unpack(self.sealing.open(blob, self._context(session_id, version)),
                        Path(profile))
        seconds = round(time.monotonic() - started, 3)
        log.info("session %s: profile restored from snapshot %d (%.2fs)", session_id, version,
                 seconds)
        return {"version": version, "bytes": len(blob), "seconds": seconds, "record": record}

    def forget(self, session_id: str) -> None:
        """Delete every version (the session was purged)."""
        for version in self.list(session_id):
            self.store.delete(f"{session_id}/{version:010d}.snap")


# Seconds between two looks at the sessions (a snapshot follows a link within this).
CHECK_INTERVAL = 2.0


class Snapshotter:
    """Takes the snapshots of the sessions this node runs: once a session is CONNECTED (after
    a link, a restart or a takeover), every SNAPSHOT_INTERVAL while it stays so, and after
    each graceful stop (`stopped`, from a closed profile). Each is a `session.snapshot` event.
    """

    def __init__(self, engine, snapshots: Snapshots):
        self.engine = engine
        self.snapshots = snapshots
        self.interval = float(engine.config["SNAPSHOT_INTERVAL"])
        self._taken: dict[str, float] = {}  # session -> monotonic time of its last snapshot
        self._due: set[str] = set()  # left CONNECTED since: the next CONNECTED takes one
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wa-snapshots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL):
            try:
                self.check()
            except Exception:  # a store outage or a bug: the next look tries again
                log.exception("snapshot check failed")

    def check(self) -> None:
        from .vocabulary import Status

        now = time.monotonic()
        for session in self.engine.manager.list():
            if session.status != Status.CONNECTED or not session.running:
                self._due.add(session.id)
                continue
            if session.detail is not None:  # the stream is not up yet
                continue
            last = self._taken.get(session.id)
            if last is None or session.id in self._due or now - last >= self.interval:
                self.take(session)

    def stopped(self, session) -> None:
        """A graceful stop: the browser quit, the profile is closed and complete."""
        if session.me and not session.running:
            self.take(session)

    def take(self, session) -> dict | None:
        engine = self.engine
        if engine.leases.fencing and not _owned(engine, session.id):
            return None  # another node's session now: its snapshots are that node's
        profile = engine.profiles / session.id
        if not (profile / "Default").is_dir():
            return None  # never launched here
        try:
            taken = self.snapshots.take(session.id, profile,
                                        record=session_record(engine.store, session.id))
        except Exception as e:  # SnapshotBusy, the store unreachable: the next look again
            log.warning("session %s: snapshot failed: %s", session.id, e)
            return None
        self._taken[session.id] = time.monotonic()
        self._due.discard(session.id)
        engine._publish(session, "session.snapshot",
                        {"version": taken["version"], "bytes": taken["bytes"]})
        return taken


def _owned(engine, session_id: str) -> bool:
    """This node holds the session's lease at the epoch it claimed (a node paused past its
    lease must not write a snapshot over the new owner's)."""
    held = engine.store.held.get(session_id)
    owner = engine.leases.owner(session_id)
    return held is not None and owner is not None and owner["node"] == engine.leases.node_id \
        and owner["epoch"] == held


def session_record(store, session_id: str) -> dict | None:
    """The session's registry row, for a restore on another box (the archive is sealed with
    the snapshot; the store seals the options again when the row is written back)."""
    row = store.get_session(session_id)
    if row is None:
        return None
    return {"id": row["id"], "createdAt": row["created_at"], "options": row["options"],
            "desired": row["desired"], "meId": row.get("me_id"), "meName": row.get("me_name")}
