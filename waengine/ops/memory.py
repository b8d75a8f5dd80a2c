"""Memory of the gateway's processes, measured one way everywhere.

`/sessions`, `/performance`, `/metrics`, the watchdog and the bench all read these functions,
so they cannot disagree. A browser is every process whose command line names its profile folder
(renderers and utilities included); PSS is its fair share of pages shared between processes
(summing RSS counts them about five times).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache
from pathlib import Path

import psutil

KINDS = ("rssMb", "pssMb", "ussMb")


@lru_cache(maxsize=1)
def libc() -> ctypes.CDLL | None:
    """The C library (glibc for malloc_trim and mallinfo2); None where it cannot be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


# glibc's mallopt parameter (malloc.h): the most malloc arenas threads may spread over.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Keep the worker's threads on `count` malloc arenas instead of glibc's 8 per core.

    Each of the worker's threads (request threads, one per session, the event loop) would
    otherwise get an arena of its own, and memory freed in one arena is not reused by
    another: the worker's heap held three times what it used after an hour of traffic
    (docs/performance.md "The worker's heap"). Python allocates under the GIL, so the threads
    hardly contend for the two. MALLOC_ARENA_MAX in the environment still wins; call before
    the threads start. True if applied.
    """
    c = libc()
    if os.environ.get("MALLOC_ARENA_MAX") or c is None or not hasattr(c, "mallopt"):
        return False
    return bool(c.mallopt(M_ARENA_MAX, count))


def _mb(value: float) -> float:
    return round(value / 2**20, 1)


def process_memory(pid: int | None) -> dict | None:
    """rssMb, pssMb and ussMb of one process (None when there is none or it is gone)."""
    if not pid:
        return None
    try:
        mem = psutil.Process(pid).memory_full_info()
    except psutil.Error:
        return None
    return {"rssMb": _mb(mem.rss), "pssMb": _mb(getattr(mem, "pss", mem.rss)),
            "ussMb": _mb(mem.uss)}


def browsers_memory(profiles_dir: Path, only: str | None = None) -> dict[str, dict]:
    """rssMb, pssMb, ussMb and processes of every browser under profiles_dir, by profile name.

    One walk of the process table for all sessions; `only` keeps one profile's entry.
    """
    prefix = str(profiles_dir).rstrip("/") + "/"
    aliases = _warm_aliases(profiles_dir)
    found: dict[str, dict] = {}
    for proc in psutil.process_iter(["cmdline"]):
        name = _profile_of(proc.info["cmdline"] or (), prefix, aliases)
        if not name or (only is not None and name != only) or proc.pid == os.getpid():
            continue
        try:
            mem = proc.memory_full_info()
        except psutil.Error:
            continue
        entry = found.setdefault(name, {"rssMb": 0.0, "pssMb": 0.0, "ussMb": 0.0,
                                        "processes": 0})
        entry["rssMb"] += mem.rss
        entry["pssMb"] += getattr(mem, "pss", mem.rss)
        entry["ussMb"] += mem.uss
        entry["processes"] += 1
    for entry in found.values():
        for key in KINDS:
            entry[key] = _mb(entry[key])
    return found


def _warm_aliases(profiles_dir: Path) -> dict[str, str]:
    """`.warm/<n>` -> session name: a warm browser handed to a session runs on .warm/<n>, and
    its session's profile is a symlink there (engine/warm.py)."""
    if not profiles_dir.is_dir():
        return {}
    root = profiles_dir.resolve()
    aliases = {}
    for path in profiles_dir.iterdir():
        if path.is_symlink():
            try:
                aliases[str(path.resolve().relative_to(root))] = path.name
            except ValueError:  # a link out of the profiles folder is no warm browser's
                continue
    return aliases


def _profile_of(cmdline, prefix: str, aliases: dict[str, str] | None = None) -> str | None:
    for part in cmdline:
        if part.startswith("--") and prefix in part:
            rest = part.split(prefix, 1)[1].split("/")
            if rest[0] == ".warm" and len(rest) > 1:  # a warm browser: its session, if taken
                return (aliases or {}).get(f".warm/{rest[1]}", f".warm/{rest[1]}")
            return rest[0] or None
    return None
