"""Browser processes by profile folder: finding and killing them, and sweeping what a dead
gateway left (its browsers and its recorded chromedriver). Measuring them is ops/memory.py's."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

from ..libc import libc

log = logging.getLogger(__name__)


def _names(part: str, needles: tuple[str, ...]) -> bool:
    """A flag naming the folder or something in it ("profiles/s1" is not "profiles/s10")."""
    return part.startswith("--") and any(
        part.endswith(needle) or needle + "/" in part for needle in needles)


def profile_processes(profile: Path) -> list[psutil.Process]:
    """Every process started with this profile folder (browser, renderers, crashpad).

    A profile that is a symlink (a warm browser handed to its session, engine/warm.py) is
    found under both names: the browser launched on the target, a relaunch on the link.
    """
    needles = (str(profile),)
    if profile.is_symlink():
        needles += (str(profile.resolve()),)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or ()
        # Only flags count ("--user-data-dir=...", crashpad's "--database=..."), so a shell or
        # test runner that merely names the folder is never killed.
        if any(_names(part, needles) for part in cmd) and proc.pid != os.getpid():
            found.append(proc)
    return found


def wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until the processes are gone or zombies: the re-parented ones are init's to reap,
    and some inits reap only every few seconds (psutil.wait_procs would wait that long)."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        while time.monotonic() < deadline:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.01)


def kill_all(procs: list[psutil.Process], timeout: float = 5.0) -> int:
    """SIGKILL the processes and wait until they are dead; return how many there were."""
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    wait_dead(procs, timeout)
    return len(procs)


def reap_profile(profile: Path, timeout: float = 5.0) -> int:
    """Kill every process of this profile and wait for them; return how many there were."""
    return kill_all(profile_processes(profile), timeout)


def sweep(profiles_dir: Path, pidfile: Path | None = None) -> int:
    """Kill browsers left over by a dead gateway process (every one names its profile folder).

    With a pidfile, first the recorded chromedriver's process group: chromedriver names no
    profile, and without this it would outlive a SIGKILLed gateway forever.
    """
    recorded = reap_recorded(pidfile) if pidfile is not None else 0
    killed = reap_profile(profiles_dir) if profiles_dir.exists() else 0
    if killed:
        log.warning("reaped %d orphaned browser processes under %s", killed, profiles_dir)
    return recorded + killed


def record_pid(pidfile: Path | None, pid: int) -> None:
    """Write 'pid create_time' so a successor can tell our chromedriver from a reused pid."""
    if pidfile is None:
        return
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{pid} {created}\n", encoding="utf-8")


def reap_recorded(pidfile: Path, timeout: float = 5.0) -> int:
    """Kill the process group of a chromedriver recorded by a process that is gone."""
    try:
        pid_text, created_text = pidfile.read_text(encoding="utf-8").split()
        pid, created = int(pid_text), float(created_text)
    except (OSError, ValueError):
        return 0
    pidfile.unlink(missing_ok=True)
    try:
        leader = psutil.Process(pid)
        if abs(leader.create_time() - created) > 1 or "chromedriver" not in leader.name():
            return 0  # the pid was reused by something else: not ours to kill
    except psutil.Error:
        leader = None
    # Chromium keeps chromedriver's process group (start_new_session) even once re-parented,
    # so the group is found even when the leader itself already died.
    procs = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.pid != os.getpid() and os.getpgid(proc.pid) == pid:
                procs.append(proc)
        except (OSError, psutil.Error):
            continue
    if leader is not None and leader not in procs:
        procs.append(leader)
    kill_all(procs, timeout)
    if procs:
        log.warning("reaped %d process(es) of the chromedriver (pid %s) a dead gateway left",
                    len(procs), pid)
    return len(procs)


def clear_stale_locks(profile: Path) -> None:
    """Remove Singleton* files left by a browser that is gone (they block a relaunch)."""
    for name in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
        path = profile / name
        if path.is_symlink() or path.exists():
            path.unlink(missing_ok=True)


def clear_orphaned_locks(profile: Path) -> bool:
    """Remove Singleton* files of a profile no live process uses; True if any were removed."""
    names = ("SingletonLock", "SingletonSocket", "SingletonCookie")
    if not any((profile / n).is_symlink() or (profile / n).exists() for n in names):
        return False
    if profile_processes(profile):
        return False
    clear_stale_locks(profile)
    return True


def delete_profile(profile: Path) -> None:
    target = profile.resolve() if profile.is_symlink() else profile
    reap_profile(profile)
    if target != profile:
        profile.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int):
    """A preexec_fn: the child gets `sig` when the thread that forked it ends (Linux only).

    The C library is loaded here, in the parent: loading it between fork and exec could hang."""
    c = libc() if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if c is not None:
            c.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec
