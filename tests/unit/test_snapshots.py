"""Profile snapshots (waengine/snapshots.py) in a folder and in a real S3 API (moto's server):
what is kept, versions and pruning, encryption, and the copy that waits for a quiet profile."""

from __future__ import annotations

import tarfile
import uuid

import pytest

from waengine.config import ConfigError, load_config
from waengine.snapshots import FolderStore, S3Store, Snapshots, Unreadable

from ..conftest import moto_s3

LOGIN = b"login-keys-" * 50


def profile(root):
    """A profile folder shaped like Chromium's: the login and some caches."""
    files = {
        "Local State": b'{"browser": {}}',
        "Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/000003.log": LOGIN,
        "Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/CURRENT": b"MANIFEST-000001\n",
        "Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/LOCK": b"",
        "Default/Local Storage/leveldb/000003.log": b"local-storage",
        "Default/Cache/Cache_Data/data_1": b"x" * 100_000,
        "Default/Code Cache/js/index": b"y" * 1000,
        "GPUCache/data_0": b"z" * 1000,
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def s3_endpoint(monkeypatch):
    with moto_s3(monkeypatch, "wa-snapshots") as endpoint:
        yield endpoint


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    if request.param == "folder":
        return FolderStore(tmp_path / "snapshots")
    # moto keeps its buckets in this process across servers: a prefix of this test's own
    return S3Store(f"s3://wa-snapshots/{uuid.uuid4().hex}",
                   request.getfixturevalue("s3_endpoint"))


def test_a_snapshot_keeps_the_login_and_leaves_the_caches_out(store, tmp_path):
    snapshots = Snapshots(store, "a passphrase of some length", keep=3)
    taken = snapshots.take("s1", profile(tmp_path / "p"))
    assert taken["version"] == 1 and 0 < taken["bytes"] < 10_000
    restored = snapshots.restore_latest("s1", tmp_path / "fresh")
    assert restored["version"] == 1 and restored["record"] is None
    kept = sorted(str(p.relative_to(tmp_path / "fresh")) for p in (tmp_path / "fresh").rglob("*")
                  if p.is_file())
    assert kept == ["Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/000003.log",
                    "Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/CURRENT",
                    "Default/Local Storage/leveldb/000003.log", "Local State"]
    assert (tmp_path / "fresh/Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/"
                       "000003.log").read_bytes() == LOGIN
    assert snapshots.restore_latest("other", tmp_path / "none") is None


def test_versions_grow_and_only_snapshot_keep_of_them_stay(store, tmp_path):
    snapshots = Snapshots(store, None, keep=2)
    folder = profile(tmp_path / "p")
    for n in range(4):
        (folder / "Local State").write_text(f'{{"n": {n}}}')
        snapshots.take("s1", folder)
    assert snapshots.list("s1") == [3, 4]
    assert snapshots.sessions() == ["s1"]
    snapshots.restore_latest("s1", tmp_path / "fresh")
    assert (tmp_path / "fresh/Local State").read_text() == '{"n": 3}'


def test_a_sealed_snapshot_opens_only_with_its_key_and_as_its_own_session(store, tmp_path):
    sealed = Snapshots(store, "correct horse battery staple")
    sealed.take("s1", profile(tmp_path / "p"), record={"id": "s1", "options": {}})
    blob = store.get("s1/0000000001.snap")
    assert LOGIN[:20] not in blob and b"IndexedDB" not in blob
    with pytest.raises(Unreadable, match="does not open"):
        Snapshots(store, "another passphrase").restore_latest("s1", tmp_path / "x")
    with pytest.raises(Unreadable, match="SNAPSHOT_KEY is not set"):
        Snapshots(store, None).restore_latest("s1", tmp_path / "x")
    store.put("s2/0000000001.snap", blob)  # copied under another session's name
    with pytest.raises(Unreadable):
        sealed.restore_latest("s2", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    opened = Snapshots(store, "correct horse battery staple").restore_latest("s1", tmp_path / "y")
    assert opened["record"] == {"id": "s1", "options": {}}


def test_a_plain_snapshot_is_a_gzip_tar(tmp_path):
    store = FolderStore(tmp_path / "snapshots")
    Snapshots(store, None).take("s1", profile(tmp_path / "p"))
    blob = store.get("s1/0000000001.snap")
    (tmp_path / "a.tgz").write_bytes(blob[8:])
    with tarfile.open(tmp_path / "a.tgz") as tar:
        assert "Local State" in tar.getnames()


def test_a_copy_during_which_a_file_changed_is_taken_again(tmp_path, monkeypatch):
    folder = profile(tmp_path / "p")
    log = folder / "Default/IndexedDB/http_127.0.0.1_8090.indexeddb.leveldb/000003.log"
    real_add = tarfile.TarFile.add
    calls = []

    def add(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:  # the browser commits while the first copy runs
            with open(log, "ab") as f:
                f.write(b"-committed")
        return real_add(self, name, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "add", add)
    snapshots = Snapshots(FolderStore(tmp_path / "snapshots"), None)
    snapshots.take("s1", folder)
    assert len(calls) > len({str(c) for c in calls})  # copied twice
    snapshots.restore_latest("s1", tmp_path / "fresh")
    assert (tmp_path / "fresh" / log.relative_to(folder)).read_bytes() == LOGIN + b"-committed"


def test_production_refuses_a_snapshot_store_without_a_key():
    with pytest.raises(ConfigError, match="SNAPSHOT_KEY"):
        load_config({"ENV": "production", "API_KEYS": ["k" * 40], "SNAPSHOT_STORE": "/tmp/x"},
                    environ={})
    config = load_config({"ENV": "development", "SNAPSHOT_STORE": "/tmp/x"}, environ={})
    assert config["SNAPSHOT_KEY"] == "" and config["SNAPSHOT_KEEP"] == 3
