"""Chromium: flags, the shared chromedriver, launching a browser per session, and reaping it.

Nothing else in waengine knows a Chromium flag. Every flag here has a measured reason
(docs/performance.md).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psutil
import urllib3
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.remote.client_config import ClientConfig

from ..ops import memory
from . import guard

log = logging.getLogger(__name__)
# chromedriver crashes within this many seconds that make /health report it flapping.
DRIVER_CRASH_WINDOW = 600.0
DRIVER_FLAPPING = 3

# Without these Chromium keeps dialling Google's hosts, which this LAN (and CI) refuses.
OFFLINE_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
)
# Measured: only removing processes saves memory (-16 MB, -7 MB, -2 MB per browser).
LEAN_FLAGS = (
    "--renderer-process-limit=1",
    "--enable-features=NetworkServiceInProcess2",
    "--in-process-gpu",
)
BASE_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    # /dev/shm is small in containers; Chromium then crashes tabs under load.
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--password-store=basic",
    "--window-size=1280,900",
)


@lru_cache(maxsize=4)
def chromium_version(binary: str) -> str:
    """Return Chromium's version, e.g. '156.0.8078.108' ('' when it cannot be run)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"(\d+\.\d+\.\d+\.\d+)", out.stdout)
    return match.group(1) if match else ""


def user_agent(binary: str) -> str:
    """A normal desktop user agent: WhatsApp Web refuses 'HeadlessChrome'."""
    major = (chromium_version(binary) or "130").split(".")[0]
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36")


def chrome_options(config: dict, profile: Path) -> webdriver.ChromeOptions:
    opts = webdriver.ChromeOptions()
    opts.binary_location = config["CHROMIUM"]
    flags = list(OFFLINE_FLAGS + LEAN_FLAGS)
    flags += BASE_FLAGS if config["HEADLESS"] else ()
    # Chromium's sandbox cannot start as root; as a normal user it stays on (docs/deployment.md).
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    flags += [f"--user-data-dir={profile}", f"--user-agent={user_agent(config['CHROMIUM'])}"]
    for flag in flags:
        opts.add_argument(flag)
    opts.page_load_strategy = "eager"
    opts.set_capability("unhandledPromptBehavior", "accept")
    return opts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromeDriverService:
    """One chromedriver for the whole gateway; every session is a webdriver.Remote to it.

    Measured: quit 0.1 s instead of 1.9 s and 16 MB less per session than a chromedriver
    per session, and the same code path serves a Selenium Grid (SELENIUM_REMOTE_URL).
    """

    def __init__(self, config: dict, pidfile: Path | None = None):
        self._binary = config["CHROMEDRIVER"]
        self._remote = config["SELENIUM_REMOTE_URL"]
        self._proc: subprocess.Popen | None = None
        self._guard: subprocess.Popen | None = None
        # Children started from this long-lived thread: PR_SET_PDEATHSIG fires when the
        # *thread* that forked them ends, and a session's worker thread ends with its session.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="wa-chromedriver-spawn")
        self._url = self._remote or ""
        self._lock = threading.Lock()
        # A crash of the shared chromedriver is the gateway's fault, not a session's: it is
        # restarted with its own backoff, and sessions compare generations to tell the two apart.
        self.generation = 0
        self.crashes: deque[float] = deque()
        # A SIGKILLed gateway runs no cleanup: the next one reaps this pid's group (sweep).
        self._pidfile = pidfile

    @property
    def url(self) -> str:
        return self.ensure_running()

    def ensure_running(self) -> str:
        """Start chromedriver if it is not running (again, after it died) and return its URL."""
        if self._remote:
            return self._remote
        with self._lock:
            if self._proc and self._proc.poll() is None:
                return self._url
            if self._proc:
                self._backoff_after_crash()
            port = _free_port()
            self._stop_guard()
            # Its own session (process group) so a reaper can tell its children from ours;
            # SIGKILLed when this process dies, and its guard kills the browsers it started.
            self._proc = self._spawner.submit(
                subprocess.Popen,
                [self._binary, f"--port={port}", "--allowed-ips=127.0.0.1", "--log-level=SEVERE"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGKILL),
            ).result()
            self._guard = self._spawner.submit(
                subprocess.Popen,
                [sys.executable, guard.__file__, str(self._proc.pid),
                 str(os.getpid())],
                stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            ).result()
            self.generation += 1
            self._url = f"http://127.0.0.1:{port}"
            record_pid(self._pidfile, self._proc.pid)
            self._wait_ready()
            log.info("chromedriver pid %s on %s", self._proc.pid, self._url)
            return self._url

    def _backoff_after_crash(self) -> None:
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > DRIVER_CRASH_WINDOW:
            self.crashes.popleft()
        delay = min(30.0, 0.25 * 2 ** (len(self.crashes) - 1))
        log.warning("chromedriver exited with %s (%d crash(es) in %.0fs); a new one in %.2fs",
                    self._proc.returncode, len(self.crashes), DRIVER_CRASH_WINDOW, delay)
        time.sleep(delay)  # under the lock: every launch waits for the same new chromedriver

    def live_generation(self) -> int | None:
        """The running chromedriver's generation (None when it is dead or remote)."""
        if self._remote:
            return 0
        proc = self._proc
        return self.generation if proc is not None and proc.poll() is None else None

    def flapping(self) -> str | None:
        """Why chromedriver counts as unhealthy (it keeps dying), or None."""
        now = time.monotonic()
        recent = [t for t in self.crashes if now - t <= DRIVER_CRASH_WINDOW]
        if len(recent) >= DRIVER_FLAPPING:
            return f"chromedriver crashed {len(recent)} times in {DRIVER_CRASH_WINDOW:.0f}s"
        return None

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromedriver exited with {self._proc.returncode}")
            try:
                with urllib.request.urlopen(self._url + "/status", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)  # the port is not open yet; chromedriver starts in ~50 ms
        raise RuntimeError("chromedriver did not become ready")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def stop(self) -> None:
        with self._lock:
            if self._proc and self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    log.warning("chromedriver (pid %s) ignored SIGTERM for 5s: sending SIGKILL",
                                self._proc.pid)
                    self._proc.kill()
                    self._proc.wait(5)
            self._proc = None
            self._stop_guard()
            if self._pidfile is not None:
                self._pidfile.unlink(missing_ok=True)

    def _stop_guard(self) -> None:
        """End the guard of the current chromedriver (it kills what is left of its group)."""
        if self._guard is not None:
            self._guard.terminate()
            try:
                self._guard.wait(5)
            except subprocess.TimeoutExpired:
                self._guard.kill()
                self._guard.wait(5)
            self._guard = None


@dataclass
class BrowserProcess:
    """A running browser: its WebDriver, its profile folder and its main process id."""

    driver: webdriver.Remote
    profile: Path
    pid: int | None

    def quit(self, timeout: float = 10.0) -> None:
        """Quit politely (flushes the profile), then kill whatever of it is still alive."""
        done = threading.Event()

        def _quit():
            try:
                self.driver.quit()
            except Exception as e:  # a dead browser or chromedriver: nothing left to ask
                log.debug("quit of %s failed: %s", self.profile.name, e)
            done.set()

        threading.Thread(target=_quit, name=f"wa-quit-{self.profile.name}", daemon=True).start()
        if not done.wait(timeout):
            log.warning("browser %s did not quit within %.0fs: killing its processes",
                        self.profile.name, timeout)
        reap_profile(self.profile)

    def kill(self) -> int:
        """SIGKILL every process of this browser (a frozen renderer ignores WebDriver timeouts)."""
        return reap_profile(self.profile)


def launch(config: dict, service: ChromeDriverService, profile: Path) -> BrowserProcess:
    """Start a browser on the profile folder (a stale lock of a dead browser is cleared first)."""
    profile.mkdir(parents=True, exist_ok=True)
    reap_profile(profile)
    clear_stale_locks(profile)
    url = service.ensure_running()
    executor = ChromiumRemoteConnection(
        url, vendor_prefix="goog", browser_name="chrome",
        client_config=ClientConfig(url, keep_alive=True, timeout=config["COMMAND_TIMEOUT"] + 30),
    )
    driver = webdriver.Remote(command_executor=executor, options=chrome_options(config, profile))
    return BrowserProcess(driver=driver, profile=profile, pid=_browser_pid(profile))


def profile_processes(profile: Path) -> list[psutil.Process]:
    """Every process started with this profile folder (browser, renderers, crashpad)."""
    needle = str(profile)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or ()
        # Only flags count ("--user-data-dir=...", crashpad's "--database=..."), so a shell or
        # test runner that merely names the folder is never killed.
        if any(part.startswith("--") and needle in part for part in cmd) and proc.pid != os.getpid():
            found.append(proc)
    return found


def _browser_pid(profile: Path) -> int | None:
    for proc in profile_processes(profile):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if not any(part.startswith("--type=") for part in cmd) and "crashpad" not in cmd[0]:
            return proc.pid
    return None


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
    reap_profile(profile)
    shutil.rmtree(profile, ignore_errors=True)


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int):
    """A preexec_fn: the child gets `sig` when the thread that forked it ends (Linux only).

    The C library is loaded here, in the parent: loading it between fork and exec could hang."""
    c = memory.libc() if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if c is not None:
            c.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def is_browser_gone(error: BaseException) -> bool:
    """True when a Selenium error means the browser (or chromedriver) is dead, not a page error."""
    if not isinstance(error, WebDriverException):
        # chromedriver itself died: urllib3's ProtocolError (connection reset mid-answer),
        # MaxRetryError (refused), or a plain connection error
        return isinstance(error, (OSError, ConnectionError, urllib3.exceptions.HTTPError))
    text = (error.msg or "").lower()
    name = type(error).__name__
    return name in ("InvalidSessionIdException", "NoSuchWindowException") or any(
        s in text for s in ("tab crashed", "chrome not reachable", "disconnected",
                            "session deleted", "target window already closed", "no such window")
    )
