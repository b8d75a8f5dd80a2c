"""Unpacking a profile archive (a snapshot, a move between nodes) without leaving its folder.

Python's tarfile "data" filter (3.11.4 and later; Debian 12 ships 3.11.2) refuses absolute
paths, `..`, links that point outside and device files, and drops set-id bits. Where Python
has no filter the same rules are applied here before extracting: only folders, regular files
and links that stay inside the destination are extracted, with permissions the owner's.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable
from pathlib import Path


def extract_within(tar: tarfile.TarFile, dest: Path,
                   members: Iterable[tarfile.TarInfo] | None = None) -> None:
    chosen = list(tar.getmembers() if members is None else members)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=chosen, filter="data")
        return
    root = dest.resolve()
    safe = []
    for member in chosen:
        if not (member.isfile() or member.isdir() or member.issym()):
            raise tarfile.TarError(f"the archive holds a special file: {member.name!r}")
        _inside(root, root / member.name, member.name)
        if member.issym():
            _inside(root, (root / member.name).parent / member.linkname, member.name)
        member.mode &= 0o755  # no set-id bits, nothing writable by others
        member.uid, member.gid = os.getuid(), os.getgid()  # owned by the user running this
        member.uname = member.gname = ""
        safe.append(member)
    tar.extractall(dest, members=safe, numeric_owner=False)


def _inside(root: Path, path: Path, name: str) -> None:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise tarfile.TarError(f"the archive names a path outside its folder: {name!r}")
