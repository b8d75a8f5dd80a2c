"""Memory of the gateway's processes, measured one way everywhere.

`/sessions`, `/performance`, `/metrics`, the watchdog and the bench all read these functions,
so they cannot disagree. A browser is every process whose command line names its profile folder
(renderers and utilities included); PSS is its fair share of pages shared between processes
(summing RSS counts them about five times).
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from ..libc import libc

KINDS = ("rssMb", "pssMb", "ussMb")


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


def _full(proc: psutil.Process) -> tuple[int, int, int]:
    """(rss, pss, uss) in bytes from smaps_rollup (PSS is RSS where the kernel has none)."""
    mem = proc.memory_full_info()
    return mem.rss, getattr(mem, "pss", mem.rss), mem.uss


def process_memory(pid: int | None) -> dict | None:
    """rssMb, pssMb and ussMb of one process (None when there is none or it is gone)."""
    if not pid:
        return None
    try:
        sizes = _full(psutil.Process(pid))
    except psutil.Error:
        return None
    return {key: _mb(value) for key, value in zip(KINDS, sizes)}


class PssMeter:
    """PSS and USS of many processes, without reading every one's smaps_rollup every pass.

    RSS is cheap (statm, 10 µs); PSS and USS need smaps_rollup, where the kernel walks the
    process's page tables: 1.6 ms of CPU per Chromium process, so a pass over 100 sessions'
    665 processes took a second of CPU (docs/performance.md "The watchdog's walk"). A meter
    reads RSS every pass and smaps_rollup for: a process it has not measured yet, one whose
    RSS moved more than `moved_mb` since it was measured, and, round robin, the 1/`passes`
    of the others measured longest ago. In between, PSS and USS are the measured values
    moved by the RSS change: growth shows at once, a shift in how pages are shared within
    `passes` passes. One meter per caller thread (the watchdog's).
    """

    def __init__(self, passes: int = 4, moved_mb: float = 8.0):
        self.passes = max(1, passes)
        self.moved = moved_mb * 2**20
        self._known: dict[tuple[int, float], tuple[int, int, int, int]] = {}
        self._pass = 0
        self.measured = 0  # smaps_rollup reads in the last pass (for tests and the bench)

    def read(self, procs: list[psutil.Process]) -> dict[int, tuple[int, int, int]]:
        """(rss, pss, uss) in bytes by pid, for the processes still alive."""
        self._pass += 1
        rss: dict[tuple[int, float], tuple[psutil.Process, int]] = {}
        for proc in procs:
            try:
                rss[(proc.pid, proc.create_time())] = (proc, proc.memory_info().rss)
            except psutil.Error:
                continue
        known = self._known
        for key in [k for k in known if k not in rss]:
            del known[key]  # gone: a pid reused later is a new process (create_time differs)
        due = {k for k, (_, now) in rss.items()
               if k not in known or abs(now - known[k][0]) > self.moved}
        oldest = sorted((known[k][3], k) for k in rss if k not in due)
        due.update(k for _, k in oldest[:-(-len(rss) // self.passes)])
        out: dict[int, tuple[int, int, int]] = {}
        for key, (proc, now) in rss.items():
            if key in due:
                try:
                    out[key[0]] = _full(proc)
                except psutil.Error:
                    continue
                known[key] = (*out[key[0]], self._pass)
            else:
                then, pss, uss, _ = known[key]
                out[key[0]] = (now, max(0, pss + now - then), max(0, uss + now - then))
        self.measured = len(due)
        return out


def browsers_memory(profiles_dir: Path, only: str | None = None,
                    meter: PssMeter | None = None) -> dict[str, dict]:
    """rssMb, pssMb, ussMb and processes of every browser under profiles_dir, by profile name.

    One walk of the process table for all sessions; `only` keeps one profile's entry. Every
    process's smaps_rollup is read, unless a `meter` says which need it this pass.
    """
    prefix = str(profiles_dir).rstrip("/") + "/"
    aliases = _warm_aliases(profiles_dir)
    mine = os.getpid()
    named: list[tuple[str, psutil.Process]] = []
    for proc in psutil.process_iter(["cmdline"]):
        name = _profile_of(proc.info["cmdline"] or (), prefix, aliases)
        if name and (only is None or name == only) and proc.pid != mine:
            named.append((name, proc))
    if meter is not None:
        sizes = meter.read([proc for _, proc in named])
    else:
        sizes = {}
        for _, proc in named:
            try:
                sizes[proc.pid] = _full(proc)
            except psutil.Error:
                continue
    found: dict[str, dict] = {}
    for name, proc in named:
        if proc.pid not in sizes:
            continue
        rss, pss, uss = sizes[proc.pid]
        entry = found.setdefault(name, {"rssMb": 0.0, "pssMb": 0.0, "ussMb": 0.0,
                                        "processes": 0})
        entry["rssMb"] += rss
        entry["pssMb"] += pss
        entry["ussMb"] += uss
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
