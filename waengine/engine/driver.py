"""The one chromedriver a gateway runs (every session is a webdriver.Remote to it)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..backoff import backoff
from . import orphan_killer
from .processes import die_with_parent, record_pid

log = logging.getLogger(__name__)
# chromedriver crashes within this many seconds that make /health report it flapping.
DRIVER_CRASH_WINDOW = 600.0
DRIVER_FLAPPING = 3


PORT_ATTEMPTS = 3


class ChromeDriverExited(RuntimeError):
    """chromedriver ended while starting (its port was taken, or the binary is broken)."""


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
            # The port is picked, closed and handed over, so another process may bind it
            # first: chromedriver then exits at once, and a new port is tried.
            for attempt in range(PORT_ATTEMPTS):
                try:
                    self._launch(_free_port())
                    break
                except ChromeDriverExited:
                    if attempt == PORT_ATTEMPTS - 1:
                        raise
                    log.warning("chromedriver could not start on %s; trying another port",
                                self._url)
            log.info("chromedriver pid %s on %s", self._proc.pid, self._url)
            return self._url

    def _launch(self, port: int) -> None:
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
            [sys.executable, orphan_killer.__file__, str(self._proc.pid), str(os.getpid())],
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        ).result()
        self.generation += 1
        self._url = f"http://127.0.0.1:{port}"
        record_pid(self._pidfile, self._proc.pid)
        self._wait_ready()

    def _backoff_after_crash(self) -> None:
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > DRIVER_CRASH_WINDOW:
            self.crashes.popleft()
        delay = backoff(len(self.crashes), 0.25, 30.0)
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
                raise ChromeDriverExited(f"chromedriver exited with {self._proc.returncode}")
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
