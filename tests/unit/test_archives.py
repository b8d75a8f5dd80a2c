"""A profile archive unpacks only inside its folder, with Python's tarfile filter (3.11.4+)
and with the same rules applied by hand where Python has none (Debian 12's 3.11.2)."""

from __future__ import annotations

import io
import tarfile

import pytest

from waengine.archives import extract_within


def archive(*members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def folder(name):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


def link(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


# Both ways where this Python has the filter; where it has none, the rules by hand are what
# runs, and they are what is tested.
RULES = ["by hand", *(["python's filter"] if hasattr(tarfile, "data_filter") else [])]


@pytest.fixture(params=RULES)
def rules(request, monkeypatch):
    if request.param == "by hand":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)


def unpack(data: bytes, dest):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        extract_within(tar, dest)


def test_a_profile_unpacks_with_owner_permissions(rules, tmp_path):
    unpack(archive(folder("Default"), file("Default/Cookies", b"c", 0o4777),
                   link("Default/link", "Cookies")), tmp_path)
    assert (tmp_path / "Default/Cookies").read_bytes() == b"c"
    assert (tmp_path / "Default/link").resolve() == (tmp_path / "Default/Cookies").resolve()
    assert (tmp_path / "Default/Cookies").stat().st_mode & 0o7000 == 0  # no set-id bits


@pytest.mark.parametrize("bad", [[file("../evil")], [link("x", "../../etc/passwd")]])
def test_nothing_lands_outside_the_folder(rules, tmp_path, bad):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(tarfile.TarError):
        unpack(archive(*bad), dest)
    assert not (tmp_path / "evil").exists() and not (dest / "x").exists()
