"""The warm pool (WARM_BROWSERS=k): browsers launched ahead, their page already loaded,
handed to new sessions so create -> SCAN_QR skips the launch.

A warm browser runs on a fresh profile under profiles/.warm/<n>; the session that takes it
gets profiles/<session> as a symlink to that folder, so the login lands where a restart,
a restore or a purge looks for it (processes.py finds browsers under both names). Only a
session without a profile takes one: a profile with a login needs its own browser.
A warm page older than WARM_MAX_AGE is reloaded when taken (an unscanned WhatsApp QR page
goes idle after a few minutes).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from pathlib import Path

from .bridge import Bridge
from .browser import BrowserProcess, launch
from .driver import ChromeDriverService
from .processes import delete_profile

log = logging.getLogger(__name__)
WARM = ".warm"


class WarmPool:
    def __init__(self, config: dict, service: ChromeDriverService, profiles: Path):
        self.config = config
        self.service = service
        self.profiles = profiles
        self.size = int(config["WARM_BROWSERS"])
        self._ready: list[tuple[BrowserProcess, Bridge, float]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def start(self) -> None:
        """Drop warm folders no session adopted (a previous process's), then fill the pool."""
        folder = self.profiles / WARM
        adopted = {p.resolve() for p in self.profiles.iterdir() if p.is_symlink()} \
            if self.profiles.is_dir() else set()
        if folder.is_dir():
            for profile in folder.iterdir():
                if profile.resolve() not in adopted:
                    delete_profile(profile)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._fill, name="wa-warm-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(60)
            if self._thread.is_alive():  # a launch or page load still running
                log.warning("%s did not stop within 60s", self._thread.name)
        with self._lock:
            ready, self._ready = self._ready, []
        for browser, _bridge, _born in ready:
            browser.quit()
            delete_profile(browser.profile)

    def take(self, session_id: str) -> tuple[BrowserProcess, Bridge] | None:
        """A warm browser for a session with no profile yet, now its own; None: launch one."""
        target = self.profiles / session_id
        if target.exists() or target.is_symlink():
            return None
        with self._lock:
            entry = self._ready.pop(0) if self._ready else None
        self._wake.set()
        if entry is None:
            return None
        browser, bridge, born = entry
        target.symlink_to(browser.profile.relative_to(self.profiles))
        if time.monotonic() - born > self.config["WARM_MAX_AGE"]:
            bridge.reload()
        log.info("session %s: took a warm browser (%s)", session_id, browser.profile.name)
        return browser, bridge

    def _fill(self) -> None:
        while not self._stopping.is_set():
            if self.ready >= self.size:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            profile = self.profiles / WARM / uuid.uuid4().hex[:12]
            try:
                browser = launch(self.config, self.service, profile)
            except Exception:
                log.exception("warm pool: launch failed; retrying in 10 s")
                shutil.rmtree(profile, ignore_errors=True)
                self._stopping.wait(10.0)
                continue
            try:
                bridge = Bridge(browser.driver, self.config)
                bridge.open(self.config["WA_URL"])
            except Exception:
                log.exception("warm pool: page load failed; retrying in 10 s")
                browser.quit()
                delete_profile(profile)
                self._stopping.wait(10.0)
                continue
            with self._lock:
                self._ready.append((browser, bridge, time.monotonic()))
