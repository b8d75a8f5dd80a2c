"""Chromium per session: launching it on its profile through the shared chromedriver.

The rest lives beside it, by concern: flags.py (the command line), driver.py (the shared
chromedriver), processes.py (finding and reaping browser processes; ops/memory.py measures
them). Import each name from the module that defines it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil
import urllib3
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.remote.client_config import ClientConfig

from . import channel as channels
from .driver import ChromeDriverService
from .flags import chrome_options
from .processes import clear_stale_locks, profile_processes, reap_profile

log = logging.getLogger(__name__)


@dataclass
class BrowserProcess:
    """A running browser: its WebDriver, its profile folder and its main process id."""

    driver: webdriver.Remote
    profile: Path
    pid: int | None
    # The DevTools connection answering the proxy's password (engine/proxy.py), if any.
    proxy_auth: object | None = None

    def quit(self, timeout: float = 10.0) -> None:
        """Quit politely (flushes the profile), then kill whatever of it is still alive."""
        done = threading.Event()
        if self.proxy_auth is not None:
            channels.hub().close(self.proxy_auth)

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


def launch(config: dict, service: ChromeDriverService, profile: Path,
           proxy_server: str | None = None) -> BrowserProcess:
    """Start a browser on the profile folder (a stale lock of a dead browser is cleared first)."""
    profile.mkdir(mode=0o700, parents=True, exist_ok=True)  # the WhatsApp login
    reap_profile(profile)
    clear_stale_locks(profile)
    url = service.ensure_running()
    executor = ChromiumRemoteConnection(
        url, vendor_prefix="goog", browser_name="chrome",
        client_config=ClientConfig(url, keep_alive=True, timeout=config["COMMAND_TIMEOUT"] + 30),
    )
    driver = webdriver.Remote(command_executor=executor, options=chrome_options(config, profile,
                                                                    proxy_server))
    return BrowserProcess(driver=driver, profile=profile, pid=_browser_pid(profile))


def _browser_pid(profile: Path) -> int | None:
    for proc in profile_processes(profile):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if not any(part.startswith("--type=") for part in cmd) and "crashpad" not in cmd[0]:
            return proc.pid
    return None


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
